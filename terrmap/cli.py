"""Command-line interface: ``terrmap app | demo | check | metrics | balance | export``.

Used by people automating territory work and by acceptance checks, so every
failure is one clear line on stderr (never a traceback) and exit codes are
stable: 0 success, 1 some input rows rejected (``check``) or some band not
met (``balance``, the proposal is written all the same), 2 unusable input,
3 an internal error (a bug in terrmap, not a problem with the input).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["main"]

log = logging.getLogger("terrmap")

EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE, EXIT_INTERNAL = 0, 1, 2, 3

#: Streamlit options ``terrmap app`` passes before the user's own (which win):
#: the settings of ``.streamlit/config.toml``, which an installed package lacks.
APP_OPTIONS: tuple[str, ...] = (
    "--server.maxUploadSize=200",
    "--browser.gatherUsageStats=false",
    "--client.toolbarMode=minimal",
)

#: Measures whose balance ``metrics`` reports.
BALANCE_MEASURES = ("revenue", "net_profit", "workload_hours", "travel_hours", "accounts")


class CliError(Exception):
    """A failure to report as one line on stderr."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="terrmap", description="Sales-territory mapping: data checks and figures."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser(
        "app",
        help="start the web app (further arguments go to `streamlit run`, e.g. --server.port 8600)",
    )

    demo = sub.add_parser(
        "demo", help="write a generated demo data set (accounts, territories, reps)"
    )
    demo.add_argument("outdir", type=Path)
    demo.add_argument(
        "--accounts", type=int, default=3000, help="number of accounts (default 3000)"
    )
    demo.add_argument(
        "--territories", type=int, default=10, help="number of territories (default 10)"
    )
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--region", default=None, help="region of real geography (see terrmap.demo.regions())"
    )

    check = sub.add_parser("check", help="validate an accounts file and list every rejected row")
    check.add_argument("accounts", type=Path)
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--mapping",
        type=Path,
        help="JSON file {canonical column: file column} overriding the guess",
    )
    _add_number_options(check)

    metrics = sub.add_parser(
        "metrics", help="per-territory figures of accounts over territory polygons"
    )
    metrics.add_argument("accounts", type=Path)
    metrics.add_argument(
        "--territories", type=Path, default=None, help="territory polygons (or give --definition)"
    )
    metrics.add_argument(
        "--territory-field", default=None, help="territory property naming the territory"
    )
    metrics.add_argument("--reps", type=Path, default=None)
    _add_unit_arguments(metrics)
    metrics.add_argument(
        "--previous",
        type=Path,
        default=None,
        help="last month's accounts file: report what the new file changed per territory "
        "(needs --definition)",
    )
    metrics.add_argument(
        "--mapping", type=Path, help="JSON file {canonical column: file column} for the accounts"
    )
    _add_number_options(metrics)
    metrics.add_argument(
        "--assignment",
        type=Path,
        default=None,
        help="assignment CSV (as written by 'balance' or 'export csv') instead of the polygons",
    )
    metrics.add_argument("--format", choices=("table", "csv", "json"), default="table")
    metrics.add_argument(
        "--tolerance",
        type=float,
        default=10.0,
        help="balance band around the mean, in %% (default 10)",
    )
    _add_export_parser(sub)
    _add_users_parser(sub)
    _add_balance_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    logging.basicConfig(level=logging.WARNING, format="terrmap: %(message)s")
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "app":
        return run_app(extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        commands = {
            "demo": _demo,
            "check": _check,
            "metrics": _metrics,
            "export": _export,
            "users": _users,
            "balance": _balance,
        }
        return commands[args.command](args)
    except CliError as error:
        print(f"terrmap {args.command}: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    except (ValueError, OSError) as error:
        # What the loaders raise for input they cannot use (they name the value).
        print(f"terrmap {args.command}: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    except Exception as error:  # noqa: BLE001 - the CLI promises one line, never a traceback
        log.debug("internal error", exc_info=True)
        print(
            f"terrmap {args.command}: internal error, a bug in terrmap (please report it; "
            f"your input is not at fault): {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def app_script() -> Path:
    """Return the Streamlit entry script: inside the installed package, or the checkout's.

    A wheel carries ``app.py`` and ``pages/`` as ``terrmap/_app`` (see
    ``pyproject.toml``); an editable install runs the repository's ``app.py``.

    Returns
    -------
    pathlib.Path
        Path of ``app.py``.

    Raises
    ------
    FileNotFoundError
        When neither exists (a broken installation).
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "_app" / "app.py", package.parent / "app.py"):
        if candidate.is_file() and (candidate.parent / "pages").is_dir():
            return candidate
    raise FileNotFoundError(
        f"terrmap's app.py is missing from {package / '_app'} and {package.parent}: "
        "this installation is incomplete; reinstall the package"
    )


def run_app(streamlit_args: Sequence[str]) -> int:
    """Start the web app with ``streamlit run``; return its exit code.

    Parameters
    ----------
    streamlit_args : sequence of str
        Extra arguments for ``streamlit run`` (they override :data:`APP_OPTIONS`).

    Returns
    -------
    int
        Exit code (on POSIX the process becomes Streamlit and does not return).
    """
    try:
        script = app_script()
    except FileNotFoundError as error:
        print(f"terrmap app: {error}", file=sys.stderr)
        return EXIT_INTERNAL
    command = [sys.executable, "-m", "streamlit", "run", str(script), *APP_OPTIONS]
    command += list(streamlit_args)
    if os.name == "posix":
        # Become Streamlit, so signals (Ctrl-C, a service manager's TERM) reach it.
        os.execv(sys.executable, command)
    return subprocess.call(command)


#: Keys of a mapping JSON file that state the number format, not a column.
NUMBER_KEYS = ("number_format", "currency", "rates")


def _add_number_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--number-format",
        default=None,
        help="the accounts file's number format, e.g. '1.234,56' or '1,234.56' "
        "(default: decided per column from its values)",
    )
    parser.add_argument(
        "--currency", default=None, help="ISO code of the amounts' currency, e.g. EUR"
    )
    parser.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="CODE=RATE",
        help="exchange rate into the data set's currency for amounts in another one, "
        "e.g. GBP=1.17 (repeatable)",
    )


def _read_mapping(path: Path | None) -> tuple[dict[str, str] | None, dict]:
    """Read a mapping JSON file: the column mapping and the number keys it states."""
    if path is None:
        return None, {}
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CliError(f"{path}: cannot read the column mapping: {error}") from None
    if not isinstance(mapping, dict):
        raise CliError(f"{path}: the mapping must be a JSON object of column names")
    stated = {key: mapping.pop(key) for key in NUMBER_KEYS if key in mapping}
    if not all(isinstance(v, str) for v in mapping.values()):
        raise CliError(f"{path}: the mapping must be a JSON object of column names")
    return mapping, stated


def _number_options(args, stated: dict):
    """Combine the mapping file's number keys with the command-line options (which win)."""
    from terrmap.io.loaders import NumberOptions

    rates = dict(stated.get("rates") or {})
    for item in getattr(args, "rate", []):
        code, _, value = item.partition("=")
        try:
            rates[code.strip().upper()] = float(value)
        except ValueError:
            raise CliError(f"--rate {item!r}: expected CODE=RATE, e.g. GBP=1.17") from None
    return NumberOptions(
        number_format=getattr(args, "number_format", None) or stated.get("number_format"),
        currency=getattr(args, "currency", None) or stated.get("currency"),
        rates=rates or None,
    )


def _demo(args) -> int:
    from terrmap.demo import generate, write_demo

    if args.accounts < 1 or args.territories < 1:
        raise CliError("--accounts and --territories must be at least 1")
    options = {} if args.region is None else {"region": args.region}
    data = generate(args.accounts, args.territories, seed=args.seed, **options)
    written = write_demo(data, args.outdir)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return EXIT_OK


def _load_accounts(args):
    from terrmap.io.loaders import load_accounts

    path = args.accounts
    if not path.exists():
        raise CliError(f"{path}: no such file")
    mapping, stated = _read_mapping(args.mapping)
    return load_accounts(path, mapping=mapping, numbers=_number_options(args, stated))


def _check(args) -> int:
    load = _load_accounts(args)
    rejected = [
        {
            "line": int(row.line),
            "id": None if pd.isna(row.id) else str(row.id),
            "reason": str(row.reason),
        }
        for row in load.rejected.itertuples(index=False)
    ]
    if args.format == "json":
        print(
            json.dumps(
                {
                    "rows": int(load.rows),
                    "good": len(load.accounts),
                    "rejected": rejected,
                    "currency": load.currency,
                    "number_formats": load.number_formats,
                    "warnings": list(load.warnings),
                },
                indent=2,
            )
        )
    else:
        print(
            f"{args.accounts}: {load.rows} rows, {len(load.accounts)} good, {len(rejected)} rejected"
        )
        if load.number_formats or load.currency:
            formats = ", ".join(f"{c} {f}" for c, f in load.number_formats.items())
            print(f"  amounts in {load.currency or 'no stated currency'}; read as: {formats}")
        for row in rejected:
            ident = f" ({row['id']})" if row["id"] else ""
            print(f"  line {row['line']}{ident}: {row['reason']}")
    return EXIT_REJECTED if rejected else EXIT_OK


def build_plan(accounts: pd.DataFrame, territories, reps: pd.DataFrame | None = None):
    """Assign accounts to territory polygons and return the plan and assignment result.

    Parameters
    ----------
    accounts : pandas.DataFrame
        Canonical accounts frame.
    territories : geopandas.GeoDataFrame
        Canonical territories frame.
    reps : pandas.DataFrame, optional
        Canonical reps frame.

    Returns
    -------
    tuple
        ``(plan, assignment_result)``.
    """
    from terrmap.core.context import Context
    from terrmap.core.plan import Plan
    from terrmap.geo.assign import assign_accounts

    result = assign_accounts(accounts, territories)
    context = Context.build(accounts, territories, reps)
    return Plan.from_assignment(context, result.assignment), result


def _clean(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value


def _add_unit_arguments(parser) -> None:
    parser.add_argument(
        "--definition",
        type=Path,
        default=None,
        help="territory definition (JSON, from 'terrmap export definition') to apply",
    )
    parser.add_argument(
        "--units",
        type=Path,
        default=None,
        help="unit polygons (any GIS file) territories are made of",
    )
    parser.add_argument("--unit-id", default=None, help="field of --units holding the unit id")
    parser.add_argument(
        "--h3", type=int, default=None, metavar="RES", help="H3 cells of this resolution as units"
    )


def _unit_workspace(args, accounts: pd.DataFrame, territories, reps, *, default_units: bool):
    """Workspace of ``accounts`` on the units the arguments name (None: no units)."""
    from terrmap.geo.units import h3_units, read_units, territory_units
    from terrmap.geo.workspace import build_workspace
    from terrmap.io.definition import read_definition, unit_layer_for

    name = args.accounts.name
    if args.units is not None and args.h3 is not None:
        raise CliError("give either --units or --h3, not both")
    if args.units is not None and not args.units.exists():
        raise CliError(f"{args.units}: no such file")
    if args.definition is not None:
        definition = read_definition(args.definition)
        units = unit_layer_for(definition, accounts, territories=territories, units_file=args.units)
        return build_workspace(
            accounts, territories, reps, name=name, units=units, definition=definition
        )
    if args.units is not None:
        if args.unit_id is None:
            raise CliError("--units needs --unit-id (the field holding the unit id)")
        units = read_units(args.units, args.unit_id)
    elif args.h3 is not None:
        units = h3_units(accounts["lon"], accounts["lat"], args.h3)
    elif default_units and territories is not None:
        units = territory_units(territories)
    else:
        return None
    return build_workspace(accounts, territories, reps, name=name, units=units)


def _load_territories_and_reps(args):
    """Load the ``--territories`` file and the optional ``--reps`` file of a command."""
    from terrmap.io.loaders import load_reps, load_territories

    territories = None
    if args.territories is not None:
        if not args.territories.exists():
            raise CliError(f"{args.territories}: no such file")
        territories = load_territories(args.territories, id_field=args.territory_field).territories
    elif args.definition is None:
        raise CliError("give --territories or --definition")
    reps = None
    if args.reps is not None:
        if not args.reps.exists():
            raise CliError(f"{args.reps}: no such file")
        reps = load_reps(args.reps).reps
    return territories, reps


def _metrics(args) -> int:
    from terrmap.core.balance import balance
    from terrmap.io.safe import to_csv_bytes

    load = _load_accounts(args)
    territories, reps = _load_territories_and_reps(args)
    if len(load.rejected):
        print(
            f"terrmap metrics: {len(load.rejected)} of {load.rows} account rows rejected "
            f"(run 'terrmap check {args.accounts}' for the list)",
            file=sys.stderr,
        )
    workspace = _unit_workspace(args, load.accounts, territories, reps, default_units=False)
    if workspace is None:
        plan, result = build_plan(load.accounts, territories, reps)
    else:
        plan, result = workspace.initial_plan, workspace.assignment
        for note in workspace.notes:
            print(f"terrmap metrics: {note}", file=sys.stderr)
    if args.assignment is not None:
        plan = _read_assignment_file(args.assignment, plan)
    reimport = _reimported(args, workspace, load.accounts)
    if len(result.overlaps):
        pairs = ", ".join(
            f"{a}/{b}"
            for a, b in result.overlaps[["territory_a", "territory_b"]].itertuples(index=False)
        )
        print(f"terrmap metrics: overlapping territories: {pairs}", file=sys.stderr)
    figures = plan.metrics()
    unassigned = figures.attrs["unassigned"]
    table = figures.rename(columns={"rep_id": "rep"}).drop(columns=["name"])
    table.index.name = "territory"
    if args.format == "csv":
        out = table.copy()
        out.loc["(unassigned)"] = unassigned.rename({"rep_id": "rep"}).drop("name")
        sys.stdout.write(to_csv_bytes(out, index=True).decode("utf-8"))
        return EXIT_OK
    if args.format == "table":
        shown = table[
            ["rep", "accounts", "revenue", "cost", "net_profit", "travel_km", "workload_hours"]
        ].copy()
        shown.loc["(unassigned)"] = [
            None,
            unassigned["accounts"],
            unassigned["revenue"],
            unassigned["cost"],
            unassigned["net_profit"],
            0.0,
            0.0,
        ]
        with pd.option_context(
            "display.width", 200, "display.max_rows", 500, "display.float_format", "{:,.0f}".format
        ):
            print(shown.to_string())
            if reimport is not None:
                print(f"\nChanges against {args.previous.name}:")
                print(reimport.report.to_string())
                if len(reimport.lost_exceptions):
                    lost = ", ".join(reimport.lost_exceptions)
                    print(f"Exceptions whose account is gone: {lost}")
        return EXIT_OK
    records = []
    for territory, row in table.iterrows():
        records.append({"territory": str(territory), **{k: _clean(v) for k, v in row.items()}})
    unassigned_record = {
        k: _clean(v) for k, v in unassigned.rename({"rep_id": "rep"}).drop("name").items()
    }
    balances = {}
    for measure in BALANCE_MEASURES:
        stats = balance(table[measure].astype(float), tolerance_pct=args.tolerance)
        balances[measure] = {
            **{k: _clean(v) if not isinstance(v, list) else v for k, v in stats.as_dict().items()},
            "deviation_pct": {str(t): _clean(v) for t, v in stats.deviation_pct.items()},
        }
    payload = {
        "territories": records,
        "unassigned": unassigned_record,
        "balance": balances,
        "rejected_rows": len(load.rejected),
        "overlaps": [
            {k: _clean(v) for k, v in row.items()}
            for row in result.overlaps.to_dict(orient="records")
        ],
    }
    if reimport is not None:
        payload["reimport"] = {
            "territories": {
                str(t): {k: int(v) for k, v in row.items()} for t, row in reimport.report.iterrows()
            },
            "lost_exceptions": list(reimport.lost_exceptions),
            "outside": list(reimport.outside),
        }
    print(json.dumps(payload, indent=2))
    return EXIT_OK


def _reimported(args, workspace, accounts: pd.DataFrame):
    """Report the changes against ``--previous`` (None without it)."""
    from terrmap.geo.workspace import build_workspace
    from terrmap.io.definition import read_definition, reimport

    if args.previous is None:
        return None
    if workspace is None or args.definition is None:
        raise CliError("--previous needs --definition")
    previous = _load_accounts(argparse.Namespace(**{**vars(args), "accounts": args.previous}))
    previous = previous.accounts
    before = build_workspace(
        previous,
        workspace.territories,
        workspace.reps,
        units=_units_for(workspace, previous),
        definition=read_definition(args.definition),
    )
    return reimport(before.initial_plan, before, accounts)


def _units_for(workspace, accounts: pd.DataFrame):
    from terrmap.io.definition import unit_layer_for

    if workspace.units.kind != "h3":
        return workspace.units
    return unit_layer_for(workspace.initial_plan.definition(), accounts)


#: File written for each export kind by ``terrmap export all``.
EXPORT_FILES = {
    "csv": "assignment.csv",
    "geojson": "territories.geojson",
    "gpkg": "territories.gpkg",
    "xlsx": "territories.xlsx",
    "html": "report.html",
}


def _add_export_parser(sub) -> None:
    export = sub.add_parser(
        "export",
        help="write the assignment CSV, territory GeoJSON/GeoPackage, Excel workbook or report",
        description="Exports of the embedded demo data, or of the given files.",
    )
    export.add_argument("kind", choices=(*EXPORT_FILES, "definition", "all", "crm"))
    export.add_argument(
        "--out", type=Path, required=True, help="file to write (a folder for 'all' and 'crm')"
    )
    export.add_argument("--accounts", type=Path, default=None, help="accounts file (default: demo)")
    export.add_argument("--territories", type=Path, default=None)
    export.add_argument("--territory-field", default=None)
    export.add_argument("--reps", type=Path, default=None)
    export.add_argument(
        "--mapping", type=Path, help="JSON file {canonical column: file column} for the accounts"
    )
    _add_number_options(export)
    export.add_argument(
        "--assignment",
        type=Path,
        default=None,
        help="assignment CSV (as exported) to use instead of the territory polygons",
    )
    _add_unit_arguments(export)
    export.add_argument(
        "--plan",
        choices=("published", "initial"),
        default="published",
        help="without --accounts: the plan in force in TERRMAP_DB if one is published "
        "(default), else the data's starting plan",
    )
    export.add_argument(
        "--measure",
        default="revenue",
        help="measure the report judges balance on, or a mix such as revenue=1,workload_hours=1",
    )
    export.add_argument(
        "--tolerance",
        type=float,
        default=10.0,
        help="balance band around the mean, in %% (default 10)",
    )
    crm = export.add_argument_group("crm", "write-back files for a CRM (kind 'crm')")
    crm.add_argument("--target", choices=("salesforce", "hubspot"), help="the CRM")
    crm.add_argument(
        "--since",
        type=Path,
        default=None,
        help="assignment CSV of the previous publication: the delta files hold what changed",
    )
    crm.add_argument("--sf-model-id", default=None, help="Salesforce Territory2Model id")
    crm.add_argument("--sf-type-id", default=None, help="Salesforce Territory2Type id")
    crm.add_argument(
        "--sf-territory-ids",
        type=Path,
        default=None,
        help="Data Loader export of Territory2 (Id, DeveloperName) once the territories exist",
    )
    crm.add_argument(
        "--user-ids",
        type=Path,
        default=None,
        help="CSV rep_id,user: the rep's Salesforce User Id or HubSpot user email",
    )


def _export_workspace(args):
    from terrmap.demo import demo_workspace
    from terrmap.geo.workspace import build_workspace

    if args.accounts is None:
        given = (args.territories, args.reps, args.definition, args.units, args.h3)
        if any(g is not None for g in given):
            raise CliError("--territories, --reps and the unit options need --accounts")
        return demo_workspace()
    if args.territories is None and args.definition is None:
        raise CliError("--accounts needs --territories or --definition")
    load = _load_accounts(args)
    territories, reps = _load_territories_and_reps(args)
    workspace = _unit_workspace(
        args, load.accounts, territories, reps, default_units=args.kind == "definition"
    )
    if workspace is not None:
        return workspace
    return build_workspace(load.accounts, territories, reps, name=args.accounts.name)


def _parse_measure(text: str):
    from terrmap.core.metrics import MEASURES

    if "=" not in text:
        if text not in MEASURES:
            raise CliError(f"unknown measure {text!r}; choose from {', '.join(MEASURES)}")
        return text
    weights = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in MEASURES:
            raise CliError(
                f"unknown measure {name!r} in {text!r}; choose from {', '.join(MEASURES)}"
            )
        try:
            weights[name] = float(weight)
        except ValueError:
            raise CliError(f"weight of {name!r} is not a number: {weight!r}") from None
    return weights


def _export(args) -> int:
    from terrmap.core.plan import Plan
    from terrmap.io import exports
    from terrmap.io.definition import apply_assignment, definition_json
    from terrmap.io.report import report_html

    measure = _parse_measure(args.measure)
    published = _published(args)
    if published is not None:
        workspace, plan = published.workspace, published.plan
        print(
            f"plan in force: {published.publication.scenario_name!r} version "
            f"{published.publication.version}, from {published.publication.effective_date}",
            file=sys.stderr,
        )
    else:
        workspace = _export_workspace(args)
        plan = workspace.initial_plan
    if args.assignment is not None:
        if not args.assignment.exists():
            raise CliError(f"{args.assignment}: no such file")
        assignment = exports.read_assignment(args.assignment, plan)
        if plan.layout is not None:
            plan = apply_assignment(plan, assignment)
        else:
            plan = Plan.from_assignment(workspace.context, assignment)
    if args.kind == "definition" and plan.layout is None:
        raise CliError("this data has no units to define territories by; give --territories")
    writers = {
        "csv": lambda: exports.assignment_csv(plan, workspace),
        "geojson": lambda: exports.territories_geojson(plan, workspace),
        "gpkg": lambda: exports.territories_gpkg(plan, workspace),
        "xlsx": lambda: exports.workbook_xlsx(plan, workspace),
        "html": lambda: report_html(plan, workspace, measure=measure, tolerance_pct=args.tolerance),
        "definition": lambda: definition_json(plan),
    }
    if args.kind == "crm":
        return _export_crm(args, plan, workspace, published)
    if args.kind == "all":
        if not args.out.is_dir():
            raise CliError(f"{args.out}: not a folder (export all writes one file per kind)")
        targets = {kind: args.out / name for kind, name in EXPORT_FILES.items()}
    else:
        targets = {args.kind: args.out}
    for kind, target in targets.items():
        path = exports.write_export(writers[kind](), target)
        print(f"{kind}: {path}")
    return EXIT_OK


def _published(args):
    """Open the plan in force (a PublishedPlan) when the export should use it, else ``None``."""
    if args.plan != "published" or args.accounts is not None or args.assignment is not None:
        return None
    from terrmap.store.database import database_location
    from terrmap.store.published import plan_in_force
    from terrmap.store.scenarios import ScenarioStore

    _, path = database_location()
    if path is not None and not path.exists():
        return None  # no database: nothing was ever published
    return plan_in_force(ScenarioStore())


def _previous_owners(store_plan):
    """Read the owners at the publication before the plan in force (``None``: the first)."""
    from terrmap.io.crm import owners_of
    from terrmap.store.published import open_publication, publication_before
    from terrmap.store.scenarios import ScenarioStore

    store = ScenarioStore()
    before = publication_before(store, store_plan.publication)
    if before is None:
        return None
    opened = open_publication(store, before)
    return owners_of(opened.plan, opened.workspace)


def _export_crm(args, plan, workspace, published=None) -> int:
    from terrmap.io import crm, exports

    if args.target is None:
        raise CliError("export crm needs --target salesforce or --target hubspot")
    if not args.out.is_dir():
        raise CliError(f"{args.out}: not a folder (export crm writes several files)")
    for option in ("since", "sf_territory_ids", "user_ids"):
        path = getattr(args, option)
        if path is not None and not path.exists():
            raise CliError(f"{path}: no such file")
    if args.since is not None:
        previous = crm.read_owners(args.since)
    elif published is not None:
        previous = _previous_owners(published)
    else:
        previous = None
    options = {}
    if args.user_ids is not None:
        options["user_ids"] = _read_user_ids(args.user_ids)
    if args.target == "salesforce":
        options["model_id"] = args.sf_model_id
        options["type_id"] = args.sf_type_id
        if args.sf_territory_ids is not None:
            options["territory_ids"] = crm.read_salesforce_ids(args.sf_territory_ids)
    elif args.sf_model_id or args.sf_type_id or args.sf_territory_ids:
        raise CliError("--sf-* options are for --target salesforce")
    files = crm.crm_files(plan, workspace, args.target, previous=previous, **options)
    for file in files.values():
        path = exports.write_export(file.data, args.out / file.name)
        print(f"{file.name}: {file.rows} row(s) -> {path}")
    return EXIT_OK


def _read_user_ids(path: Path) -> dict[str, str]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns[:2]) != ["rep_id", "user"]:
        raise CliError(f"{path}: expected the columns rep_id,user; found {list(frame.columns)}")
    return dict(zip(frame["rep_id"].str.strip(), frame["user"].str.strip(), strict=True))


def _add_users_parser(sub) -> None:
    from terrmap.playbook.roles import ROLES

    users = sub.add_parser(
        "users",
        help="manage the local user file (sign-in without an identity provider)",
        description="The user file is TERRMAP_USERS unless --file names another.",
    )
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add",
        help="add or replace a user; the password is read from standard input",
        description="Reads the password from standard input (asked twice on a terminal).",
    )
    add.add_argument("name", help="username (the email address for OIDC sign-in)")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--rep", default=None, help="rep id of the user (required for --role rep)")
    add.add_argument("--display-name", default=None, help="name shown and signed on changes")
    add.add_argument("--file", type=Path, default=None, help="user file (default: TERRMAP_USERS)")
    add.add_argument(
        "--no-password",
        action="store_true",
        help="no password: the user signs in through the identity provider (OIDC) only",
    )
    listing = actions.add_parser("list", help="list the users (never the hashes)")
    listing.add_argument("--file", type=Path, default=None)


def _users_file(args) -> Path:
    from terrmap.store.users import USERS_ENV, users_path

    path = args.file or users_path()
    if path is None:
        raise CliError(f"no user file: pass --file or set {USERS_ENV}")
    return path


def _read_password() -> str:
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise CliError("the passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        raise CliError("no password on standard input")
    return line.rstrip("\r\n")


def _users(args) -> int:
    from terrmap.store.users import add_user, load_users

    path = _users_file(args)
    if args.action == "list":
        for record in load_users(path).values():
            user = record.user
            how = "password" if record.password_hash else "identity provider"
            fields = (user.username, user.display_name, user.role, user.rep_id or "-", how)
            print("\t".join(fields))
        return EXIT_OK
    password = None if args.no_password else _read_password()
    user = add_user(
        path,
        args.name,
        role=args.role,
        password=password,
        display_name=args.display_name,
        rep_id=args.rep,
    )
    print(f"{user.username} ({user.role}) written to {path}")
    return EXIT_OK


def _read_assignment_file(path: Path, plan):
    from terrmap.core.plan import Plan
    from terrmap.io.definition import apply_assignment
    from terrmap.io.exports import read_assignment

    if not path.exists():
        raise CliError(f"{path}: no such file")
    assignment = read_assignment(path, plan)
    if plan.layout is not None:
        # On units, an account placed elsewhere is a named-account exception.
        return apply_assignment(plan, assignment)
    return Plan.from_assignment(plan.context, assignment)


def _add_balance_parser(sub) -> None:
    balance = sub.add_parser(
        "balance",
        help="propose territories balanced on one or more measures, in one piece, within range",
        description=(
            "Writes the proposed assignment CSV and prints a summary. Exit 0: every band met; "
            "1: proposal written but some band not met (the reason is printed); 2: unusable input."
        ),
    )
    balance.add_argument("accounts", type=Path)
    balance.add_argument("--territories", type=Path, required=True)
    balance.add_argument("--territory-field", default=None)
    balance.add_argument("--reps", type=Path, default=None)
    balance.add_argument(
        "--mapping", type=Path, help="JSON file {canonical column: file column} for the accounts"
    )
    _add_number_options(balance)
    balance.add_argument(
        "--assignment", type=Path, default=None, help="start from this assignment CSV"
    )
    balance.add_argument(
        "--measure",
        action="append",
        default=None,
        metavar="NAME[:PCT]",
        help="measure and band in %% (default revenue:5); repeat for several",
    )
    balance.add_argument("--max-km", type=float, default=None, help="driving limit from home, km")
    balance.add_argument(
        "--travel-slack", type=float, default=10.0, help="team travel may grow by this %% (10)"
    )
    balance.add_argument("--disruption", type=float, default=1.0, help="disruption weight (1)")
    balance.add_argument(
        "--lock-territory", action="append", default=[], metavar="NAME", help="id or name"
    )
    balance.add_argument("--lock-account", action="append", default=[], metavar="ID")
    balance.add_argument(
        "--greenfield",
        type=int,
        default=None,
        metavar="K",
        help=(
            "rebuild the map from scratch with K territories: today's home bases, plus open "
            "seats where revenue per rep is highest when K is larger than today's number"
        ),
    )
    balance.add_argument(
        "--split",
        action="append",
        default=[],
        metavar="NAME[:COUNT]",
        help="add COUNT territories (default 1) inside this one and rebuild them together (repeat)",
    )
    balance.add_argument("--seed", type=int, default=0, help="seed for placing new home bases")
    balance.add_argument(
        "--greenfield-territory",
        action="append",
        default=[],
        metavar="NAME",
        help="rebuild only these territories from scratch (repeat)",
    )
    balance.add_argument("--out", type=Path, required=True, help="assignment CSV to write")
    balance.add_argument("--format", choices=("text", "json"), default="text")


def _balance(args) -> int:
    from terrmap.core.plan import History
    from terrmap.geo.workspace import build_workspace
    from terrmap.io import exports
    from terrmap.playbook.optimise import design, greenfield_territories, parse_bands
    from terrmap.playbook.optimise.split import greenfield_k, split_territory

    bands = parse_bands(args.measure or ["revenue:5"])
    load = _load_accounts(args)
    if len(load.accounts) == 0:
        raise CliError(f"{args.accounts}: no usable account rows")
    territories, reps = _load_territories_and_reps(args)
    workspace = build_workspace(load.accounts, territories, reps, name=args.accounts.name)
    plan = workspace.initial_plan
    if args.assignment is not None:
        plan = _read_assignment_file(args.assignment, plan)
    options = {
        "max_km": args.max_km,
        "travel_slack_pct": args.travel_slack,
        "locked_territories": args.lock_territory,
        "locked_accounts": args.lock_account,
    }
    k = workspace.context.n_territories
    modes = sum(
        bool(x) for x in (args.greenfield is not None, args.greenfield_territory, args.split)
    )
    if modes > 1:
        raise CliError("give one of --greenfield, --greenfield-territory and --split")
    rng = np.random.default_rng(args.seed)
    history = History.start(plan)
    try:
        if args.greenfield is not None:
            workspace, _, result = greenfield_k(
                workspace, history, args.greenfield, bands, rng=rng, **options
            )
        elif args.split:
            result = None
            for text in args.split:
                name, _, count = text.rpartition(":") if ":" in text else (text, "", "1")
                if not count.strip().isdigit():
                    raise CliError(f"--split {text!r}: COUNT must be a whole number")
                workspace, history, result = split_territory(
                    workspace, history, name, int(count), bands, rng=rng, **options
                )
                history = (
                    history.push(result.plan) if result.plan is not history.current else history
                )
        elif args.greenfield_territory:
            result = greenfield_territories(plan, list(args.greenfield_territory), bands, **options)
        else:
            result = design(plan, bands, disruption_weight=args.disruption, **options)
    except ValueError as error:
        raise CliError(str(error)) from None
    exports.write_export(exports.assignment_csv(result.plan, workspace), args.out)
    added = workspace.context.territory_ids[k:]
    summary = result.summary()
    payload = {
        key: summary[key]
        for key in (
            "feasible",
            "bands",
            "moved_accounts",
            "moved_revenue",
            "travel_km_before",
            "travel_km_after",
            "max_km_to_home_before",
            "max_km_to_home",
            "pieces",
            "reasons",
            "options",
            "worsened",
        )
    }
    payload["out"] = str(args.out)
    payload["added_territories"] = [
        {
            "territory_id": str(t),
            "name": str(workspace.context.territory_names[k + j]),
            "home_lon": float(workspace.context.home_lon[k + j]),
            "home_lat": float(workspace.context.home_lat[k + j]),
        }
        for j, t in enumerate(added)
    ]
    if args.format == "json":
        print(json.dumps(payload, indent=2, default=_clean))
    else:
        print(result.message())
        print(
            f"moved: {result.moved_accounts:,} accounts, {result.moved_revenue:,.0f} revenue; "
            f"team travel {summary['travel_km_before']:,.0f} -> {summary['travel_km_after']:,.0f}"
            f" km/yr; farthest account {summary['max_km_to_home']:,.0f} km from home "
            f"(was {summary['max_km_to_home_before']:,.0f}); pieces per territory "
            + ", ".join(f"{name} {count}" for name, count in summary["pieces"].items())
        )
        for option in result.options:
            print(f"option: {option.text}")
        for seat in payload["added_territories"]:
            print(
                f"added territory: {seat['territory_id']} {seat['name']} (open seat at "
                f"{seat['home_lat']:.4f}, {seat['home_lon']:.4f})"
            )
        print(f"assignment: {args.out}")
    if not result.feasible:
        print(f"terrmap balance: {' '.join(result.reasons)}", file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
