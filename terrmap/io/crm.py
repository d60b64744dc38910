"""Write-back to the CRM: the files that load a plan into Salesforce and HubSpot.

Every function here is pure: a :class:`~terrmap.core.plan.Plan`, the
:class:`~terrmap.geo.workspace.Workspace` it was made from and, optionally,
the owners of the previous publication go in; named CSV files (bytes) come
out. Each target gets a *full* file (every account) and a *delta* file (only
the accounts whose territory or owner changed since the previous
publication; every account when there is none).

Salesforce Enterprise Territory Management (Data Loader CSVs, the objects'
API field names as headers)
    ``Territory2.csv``
        ``DeveloperName, Name, Territory2ModelId, Territory2TypeId,
        ParentTerritory2Id``: one parent territory per region of the
        territories file, then every territory under its region.
    ``ObjectTerritory2Association.csv`` (and ``..._delta.csv``)
        ``ObjectId, Territory2Id, AssociationCause``: account to territory,
        ``AssociationCause`` = ``Territory2Manual``.
    ``ObjectTerritory2Association_remove.csv`` (with a previous publication)
        ``ObjectId, Territory2Id``: the associations the delta replaces; look
        up their ``Id`` in Salesforce and delete them with Data Loader.
    ``UserTerritory2Association.csv`` (and ``..._delta.csv``)
        ``UserId, Territory2Id, RoleInTerritory2``: each territory's rep.

    Salesforce makes the record ids when ``Territory2.csv`` is inserted, and
    Data Loader takes ids, not names, in reference columns. Until the ids are
    known (``territory_ids``: ``DeveloperName`` -> ``Id``, e.g. a Data Loader
    export of ``Territory2`` with the columns ``Id, DeveloperName``), the
    reference cells hold the ``DeveloperName``; load ``Territory2.csv``,
    export the ids, and write the files again with them. ``ObjectId`` is the
    account id (the Salesforce Account Id when the accounts came from
    Salesforce); ``UserId`` is the rep id unless ``user_ids`` maps it.

HubSpot (company import, "update existing records" by Record ID)
    ``hubspot_companies.csv`` (and ``..._delta.csv``): ``Record ID,
    Company name, Company owner``. HubSpot matches the owner column by the
    user's name or email address: the rep's email from ``user_ids`` if given,
    else the rep's name from the reps file, else the rep id. HubSpot skips
    empty cells, so an account released to white space keeps its owner there.

Every text cell is written so that a spreadsheet opens it as text, never as
a formula (:func:`terrmap.io.safe.to_csv_bytes`). The readers :func:`read_salesforce` and
:func:`read_hubspot` load the files back into an assignment of the plan's
accounts, which is how the tests prove the files say what the plan says.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from terrmap.core.plan import Plan
from terrmap.core.schema import ACCOUNT_ID, REP_ID, TERRITORY_ID
from terrmap.geo.workspace import Workspace
from terrmap.io.exports import assignment_frame
from terrmap.io.loaders import Source
from terrmap.io.safe import FORMULA_STARTS, to_csv_bytes

__all__ = [
    "CRM_TARGETS",
    "HUBSPOT_COLUMNS",
    "OBJECT_ASSOCIATION_COLUMNS",
    "TERRITORY2_COLUMNS",
    "USER_ASSOCIATION_COLUMNS",
    "CrmFile",
    "changed_accounts",
    "crm_files",
    "crm_zip",
    "developer_names",
    "hubspot_files",
    "is_salesforce_id",
    "owners_of",
    "read_hubspot",
    "read_owners",
    "read_salesforce",
    "read_salesforce_ids",
    "salesforce_files",
]

#: Write-back targets.
CRM_TARGETS: tuple[str, ...] = ("salesforce", "hubspot")

TERRITORY2_COLUMNS: tuple[str, ...] = (
    "DeveloperName",
    "Name",
    "Territory2ModelId",
    "Territory2TypeId",
    "ParentTerritory2Id",
)
OBJECT_ASSOCIATION_COLUMNS: tuple[str, ...] = ("ObjectId", "Territory2Id", "AssociationCause")
USER_ASSOCIATION_COLUMNS: tuple[str, ...] = ("UserId", "Territory2Id", "RoleInTerritory2")
HUBSPOT_COLUMNS: tuple[str, ...] = ("Record ID", "Company name", "Company owner")

#: ``AssociationCause`` of an association made by hand (or by the API).
MANUAL_ASSOCIATION = "Territory2Manual"
#: ``RoleInTerritory2`` values Salesforce ships with.
ROLES_IN_TERRITORY: tuple[str, ...] = ("Owner", "Administrator", "Sales Rep")

#: Salesforce record ids: 15 or 18 letters and digits.
_SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_DEVELOPER_NAME_MAX = 80
_NAME_MAX = 80


@dataclass(frozen=True)
class CrmFile:
    """One write-back file.

    Attributes
    ----------
    name : str
        File name (e.g. ``"Territory2.csv"``).
    data : bytes
        UTF-8 CSV.
    rows : int
        Data rows (without the header).
    description : str
        What to do with it, for the page and the CLI.
    """

    name: str
    data: bytes
    rows: int
    description: str


# --------------------------------------------------------------------------- owners


def owners_of(plan: Plan, workspace: Workspace) -> pd.DataFrame:
    """Territory and owner (rep) of every account of a plan.

    Parameters
    ----------
    plan, workspace : Plan, Workspace
        The plan and the data it was made from.

    Returns
    -------
    pandas.DataFrame
        Indexed by account id: ``territory_id`` and ``rep_id`` (``None`` for
        white space and territories without a rep).
    """
    frame = assignment_frame(plan, workspace)
    return frame.set_index(ACCOUNT_ID)[[TERRITORY_ID, REP_ID]]


def read_owners(source: Source) -> pd.DataFrame:
    """Read the owners of a previous publication from an assignment CSV.

    Parameters
    ----------
    source : path, bytes or binary file-like
        A file written by :func:`terrmap.io.exports.assignment_csv` (columns
        ``account_id``, ``territory_id`` and ``rep_id`` are used).

    Returns
    -------
    pandas.DataFrame
        As :func:`owners_of`.

    Raises
    ------
    ValueError
        If a column is missing or an account id is repeated or empty.
    """
    frame = _read_csv(source, "assignment file")
    _require(frame, (ACCOUNT_ID, TERRITORY_ID, REP_ID), "assignment file")
    ids = frame[ACCOUNT_ID].str.strip()
    empty = np.flatnonzero(ids.eq("").to_numpy())
    if len(empty):
        raise ValueError(f"assignment file: empty account_id at line {int(empty[0]) + 2}")
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise ValueError(f"assignment file: account id {repeated.iloc[0]!r} listed twice")
    owners = frame[[TERRITORY_ID, REP_ID]].apply(lambda column: column.str.strip())
    owners = owners.mask(owners.eq(""), None).astype(object)
    owners.index = pd.Index(ids, name=ACCOUNT_ID)
    return owners


def changed_accounts(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.Index:
    """Accounts whose territory or owner differs from the previous publication.

    Parameters
    ----------
    current : pandas.DataFrame
        Owners now (:func:`owners_of`).
    previous : pandas.DataFrame or None
        Owners at the previous publication (:func:`owners_of` or
        :func:`read_owners`); ``None``: nothing was published, every account
        counts as changed.

    Returns
    -------
    pandas.Index
        Account ids of ``current``, in its order. An account the previous
        publication did not list counts as changed.
    """
    if previous is None:
        return current.index
    before = previous.reindex(current.index)
    differs = np.zeros(len(current), dtype=bool)
    for column in (TERRITORY_ID, REP_ID):
        now = current[column].astype(object).where(current[column].notna(), None)
        then = before[column].astype(object).where(before[column].notna(), None)
        differs |= (now.to_numpy() != then.to_numpy()) & ~(now.isna() & then.isna()).to_numpy()
    differs |= ~current.index.isin(previous.index)
    return current.index[differs]


# --------------------------------------------------------------------------- Salesforce


def developer_names(labels: pd.Series) -> pd.Series:
    """Salesforce ``DeveloperName`` values for labels, unique.

    A ``DeveloperName`` starts with a letter, holds letters, digits and single
    underscores, does not end with an underscore and has at most 80
    characters. Accents are dropped (``Zürich`` -> ``Zurich``); a clash gets
    ``_2``, ``_3``, ... appended.

    Parameters
    ----------
    labels : pandas.Series
        Territory ids or names.

    Returns
    -------
    pandas.Series
        Same index, one unique ``DeveloperName`` per label.
    """
    taken: set[str] = set()
    out = []
    for label in labels.astype(str):
        ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
        name = re.sub(r"[^A-Za-z0-9]+", "_", ascii_text).strip("_")
        if not name or not name[0].isalpha():
            name = f"T_{name}".rstrip("_")
        name = name[:_DEVELOPER_NAME_MAX].rstrip("_")
        unique, counter = name, 2
        while unique.lower() in taken:
            suffix = f"_{counter}"
            unique = name[: _DEVELOPER_NAME_MAX - len(suffix)].rstrip("_") + suffix
            counter += 1
        taken.add(unique.lower())
        out.append(unique)
    return pd.Series(out, index=labels.index, dtype=object)


def is_salesforce_id(value: str) -> bool:
    """Whether a text has the shape of a Salesforce record id (15 or 18 letters and digits)."""
    return _SALESFORCE_ID.fullmatch(str(value)) is not None


def salesforce_files(
    plan: Plan,
    workspace: Workspace,
    *,
    model_id: str | None = None,
    type_id: str | None = None,
    previous: pd.DataFrame | None = None,
    territory_ids: Mapping[str, str] | None = None,
    user_ids: Mapping[str, str] | None = None,
    role: str = "Owner",
) -> dict[str, CrmFile]:
    """Make the Data Loader files that load a plan into Salesforce Territory Management.

    Parameters
    ----------
    plan, workspace : Plan, Workspace
        The plan (the published one) and the data it was made from.
    model_id, type_id : str, optional
        Salesforce ids of the territory model and territory type the
        territories go into (``Territory2ModelId``, ``Territory2TypeId``);
        empty cells when omitted (fill them in Data Loader's mapping).
    previous : pandas.DataFrame, optional
        Owners at the previous publication (:func:`owners_of` /
        :func:`read_owners`); the delta files hold what changed since.
    territory_ids : mapping, optional
        ``DeveloperName`` -> Salesforce ``Territory2`` id, once known.
    user_ids : mapping, optional
        Rep id -> Salesforce ``User`` id.
    role : str
        ``RoleInTerritory2`` of each territory's rep.

    Returns
    -------
    dict
        File name -> :class:`CrmFile`, see the module docstring.

    Raises
    ------
    ValueError
        For a malformed Salesforce id (naming it) or an unknown role.
    """
    for label, value in (("model_id", model_id), ("type_id", type_id)):
        if value is not None and not is_salesforce_id(value):
            raise ValueError(
                f"{label} {value!r} is not a Salesforce id (15 or 18 letters and digits)"
            )
    bad_ids = {k: v for k, v in (territory_ids or {}).items() if not is_salesforce_id(v)}
    if bad_ids:
        name, value = next(iter(bad_ids.items()))
        raise ValueError(f"Territory2 id {value!r} of {name!r} is not a Salesforce id")
    if role not in ROLES_IN_TERRITORY:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES_IN_TERRITORY)}")
    territory_ids = dict(territory_ids or {})
    user_ids = dict(user_ids or {})
    hierarchy = _hierarchy(plan, workspace)
    reference = hierarchy["DeveloperName"].map(lambda d: territory_ids.get(d, d))
    territory2 = pd.DataFrame(
        {
            "DeveloperName": hierarchy["DeveloperName"],
            "Name": hierarchy["Name"],
            "Territory2ModelId": model_id or "",
            "Territory2TypeId": type_id or "",
            "ParentTerritory2Id": hierarchy["parent"].map(
                lambda p: "" if p is None else territory_ids.get(p, p)
            ),
        },
        columns=list(TERRITORY2_COLUMNS),
    )
    owners = owners_of(plan, workspace)
    territory_reference = reference[hierarchy[TERRITORY_ID].notna()]
    territory_reference.index = hierarchy.loc[territory_reference.index, TERRITORY_ID]
    accounts = _object_associations(owners, territory_reference)
    changed = changed_accounts(owners, previous)
    users = _user_associations(plan, territory_reference, user_ids, role)
    files = [
        CrmFile(
            "Territory2.csv",
            to_csv_bytes(territory2),
            len(territory2),
            "Insert first (Territory2): one parent per region, then the territories. "
            "Then export Id and DeveloperName and pass them to rewrite the id columns.",
        ),
        CrmFile(
            "ObjectTerritory2Association.csv",
            to_csv_bytes(accounts),
            len(accounts),
            "Insert (ObjectTerritory2Association): every account in its territory.",
        ),
    ]
    delta = accounts[accounts["ObjectId"].isin(changed)]
    files.append(
        CrmFile(
            "ObjectTerritory2Association_delta.csv",
            to_csv_bytes(delta),
            len(delta),
            "Insert (ObjectTerritory2Association): only the accounts whose territory or "
            "owner changed since the previous publication.",
        )
    )
    if previous is not None:
        before = previous.reindex(changed)
        before = before[before[TERRITORY_ID].notna()]
        known = before[TERRITORY_ID].isin(territory_reference.index)
        remove = pd.DataFrame(
            {
                "ObjectId": before.index[known].astype(str),
                "Territory2Id": before.loc[known, TERRITORY_ID].map(territory_reference).to_numpy(),
            },
            columns=["ObjectId", "Territory2Id"],
        )
        files.append(
            CrmFile(
                "ObjectTerritory2Association_remove.csv",
                to_csv_bytes(remove),
                len(remove),
                "Delete: the previous associations the delta replaces (look up their Id).",
            )
        )
    users_changed = _territories_with_new_rep(plan, previous)
    files.append(
        CrmFile(
            "UserTerritory2Association.csv",
            to_csv_bytes(users),
            len(users),
            "Insert (UserTerritory2Association): each territory's rep.",
        )
    )
    users_delta = users[
        users["Territory2Id"].isin(territory_reference.reindex(users_changed).dropna())
    ]
    files.append(
        CrmFile(
            "UserTerritory2Association_delta.csv",
            to_csv_bytes(users_delta),
            len(users_delta),
            "Insert (UserTerritory2Association): only territories whose rep changed.",
        )
    )
    return {file.name: file for file in files}


def read_salesforce_ids(source: Source) -> dict[str, str]:
    """Read ``DeveloperName`` -> ``Id`` from a Data Loader export of ``Territory2``.

    Parameters
    ----------
    source : path, bytes or binary file-like
        CSV with (at least) the columns ``Id`` and ``DeveloperName``.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If a column is missing or an ``Id`` is not a Salesforce id.
    """
    frame = _read_csv(source, "Territory2 export")
    _require(frame, ("Id", "DeveloperName"), "Territory2 export")
    bad = frame.loc[~frame["Id"].str.fullmatch(_SALESFORCE_ID), "Id"]
    if len(bad):
        line = int(bad.index[0]) + 2
        raise ValueError(f"Territory2 export, line {line}: {bad.iloc[0]!r} is not a Salesforce id")
    return dict(zip(frame["DeveloperName"], frame["Id"], strict=True))


def read_salesforce(
    territory2: Source,
    associations: Source,
    plan: Plan,
    *,
    territory_ids: Mapping[str, str] | None = None,
) -> pd.Series:
    """Read ``Territory2.csv`` and ``ObjectTerritory2Association.csv`` back as an assignment.

    Parameters
    ----------
    territory2, associations : path, bytes or binary file-like
        The files as written by :func:`salesforce_files`.
    plan : Plan
        Any plan over the accounts and territories the files refer to.
    territory_ids : mapping, optional
        The ``DeveloperName`` -> ``Id`` mapping the files were written with.

    Returns
    -------
    pandas.Series
        Territory id per account id of the plan's context (``<NA>`` for
        accounts in no association); pass it to
        :meth:`terrmap.core.plan.Plan.from_assignment`.

    Raises
    ------
    ValueError
        If a documented column is missing, or an association names an
        unknown territory or account, or a cause other than ``Territory2Manual``.
    """
    territories = _read_csv(territory2, "Territory2 file")
    _require(territories, TERRITORY2_COLUMNS, "Territory2 file")
    links = _read_csv(associations, "ObjectTerritory2Association file")
    _require(links, OBJECT_ASSOCIATION_COLUMNS, "ObjectTerritory2Association file")
    context = plan.context
    ours = developer_names(pd.Series(context.territory_ids, index=context.territory_ids))
    by_developer_name = pd.Series(ours.index, index=ours.to_numpy())
    mapping = dict(territory_ids or {})
    by_reference = {mapping.get(d, d): d for d in by_developer_name.index}
    listed = set(_uncell(territories["DeveloperName"]))
    causes = set(links["AssociationCause"]) - {MANUAL_ASSOCIATION}
    if causes:
        raise ValueError(f"ObjectTerritory2Association file: AssociationCause {sorted(causes)}")
    references = _uncell(links["Territory2Id"])
    developer = references.map(by_reference)
    unknown = references[developer.isna() | ~developer.isin(listed)]
    if len(unknown):
        raise ValueError(
            f"ObjectTerritory2Association file names territory {unknown.iloc[0]!r}, "
            "which is not in the Territory2 file or not a territory of the plan"
        )
    objects = _uncell(links["ObjectId"])
    missing = objects[~objects.isin(context.account_ids)]
    if len(missing):
        raise ValueError(
            f"ObjectTerritory2Association file names unknown account {missing.iloc[0]!r}"
        )
    assignment = pd.Series(
        developer.map(by_developer_name).to_numpy(), index=objects.to_numpy(), dtype="string"
    )
    if assignment.index.has_duplicates:
        twice = assignment.index[assignment.index.duplicated()][0]
        raise ValueError(f"ObjectTerritory2Association file: account {twice!r} listed twice")
    return assignment.reindex(context.account_ids).rename(TERRITORY_ID)


# --------------------------------------------------------------------------- HubSpot


def hubspot_files(
    plan: Plan,
    workspace: Workspace,
    *,
    previous: pd.DataFrame | None = None,
    user_ids: Mapping[str, str] | None = None,
) -> dict[str, CrmFile]:
    """HubSpot company import files that set each company's owner to the plan's rep.

    Parameters
    ----------
    plan, workspace : Plan, Workspace
        The plan (the published one) and the data it was made from (account
        ids are HubSpot Record IDs).
    previous : pandas.DataFrame, optional
        Owners at the previous publication; the delta holds what changed since.
    user_ids : mapping, optional
        Rep id -> the HubSpot user's email address (else the rep's name).

    Returns
    -------
    dict
        ``hubspot_companies.csv`` and ``hubspot_companies_delta.csv``.
    """
    owners = owners_of(plan, workspace)
    names = assignment_frame(plan, workspace).set_index(ACCOUNT_ID)["name"]
    labels = _owner_labels(workspace, user_ids)
    rep = owners[REP_ID]
    frame = pd.DataFrame(
        {
            "Record ID": owners.index.astype(str),
            "Company name": names.reindex(owners.index).fillna("").astype(str).to_numpy(),
            "Company owner": rep.map(lambda r: "" if r is None else labels.get(r, r)).to_numpy(),
        },
        columns=list(HUBSPOT_COLUMNS),
    )
    changed = changed_accounts(owners, previous)
    delta = frame[frame["Record ID"].isin(changed)]
    return {
        "hubspot_companies.csv": CrmFile(
            "hubspot_companies.csv",
            to_csv_bytes(frame),
            len(frame),
            "Import > Companies > update existing companies by Record ID: every company's owner.",
        ),
        "hubspot_companies_delta.csv": CrmFile(
            "hubspot_companies_delta.csv",
            to_csv_bytes(delta),
            len(delta),
            "The same import with only the companies whose territory or owner changed.",
        ),
    }


def read_hubspot(
    source: Source,
    plan: Plan,
    workspace: Workspace,
    *,
    user_ids: Mapping[str, str] | None = None,
) -> pd.Series:
    """Read a HubSpot company owner file back as an assignment.

    An owner is turned back into the territory that rep holds, so the reps
    must hold one territory each.

    Parameters
    ----------
    source : path, bytes or binary file-like
        A file written by :func:`hubspot_files`.
    plan : Plan
        Any plan over the accounts the file refers to.
    workspace : Workspace
        Its data (rep names).
    user_ids : mapping, optional
        The mapping the file was written with.

    Returns
    -------
    pandas.Series
        Territory id per account id (``<NA>`` without an owner).

    Raises
    ------
    ValueError
        If a column is missing, a record or an owner is unknown, or an owner
        holds more than one territory.
    """
    frame = _read_csv(source, "HubSpot file")
    _require(frame, HUBSPOT_COLUMNS, "HubSpot file")
    context = plan.context
    records = _uncell(frame["Record ID"])
    unknown = records[~records.isin(context.account_ids)]
    if len(unknown):
        raise ValueError(f"HubSpot file names unknown Record ID {unknown.iloc[0]!r}")
    labels = _owner_labels(workspace, user_ids)
    rep_of_label = {label: rep for rep, label in labels.items()}
    reps = pd.Series(context.territory_reps, index=context.territory_ids, dtype=object)
    held = reps.dropna().astype(str)
    owners = _uncell(frame["Company owner"])
    assignment = pd.Series(pd.NA, index=records.to_numpy(), dtype="string")
    for label in owners[owners.ne("")].unique():
        rep = rep_of_label.get(label, label)
        territories = held.index[held.eq(rep)]
        if len(territories) != 1:
            what = "no territory" if not len(territories) else f"{len(territories)} territories"
            raise ValueError(f"HubSpot owner {label!r} (rep {rep!r}) holds {what}")
        assignment[owners.eq(label).to_numpy()] = territories[0]
    return assignment.reindex(context.account_ids).rename(TERRITORY_ID)


# --------------------------------------------------------------------------- both


def crm_files(
    plan: Plan,
    workspace: Workspace,
    target: str,
    *,
    previous: pd.DataFrame | None = None,
    **options,
) -> dict[str, CrmFile]:
    """Write-back files for one CRM.

    Parameters
    ----------
    plan, workspace, previous
        See :func:`salesforce_files`.
    target : {"salesforce", "hubspot"}
        The CRM.
    **options
        Passed to :func:`salesforce_files` or :func:`hubspot_files`.

    Returns
    -------
    dict
        File name -> :class:`CrmFile`.
    """
    if target == "salesforce":
        return salesforce_files(plan, workspace, previous=previous, **options)
    if target == "hubspot":
        return hubspot_files(plan, workspace, previous=previous, **options)
    raise ValueError(f"unknown CRM {target!r}; choose from {', '.join(CRM_TARGETS)}")


def crm_zip(files: Mapping[str, CrmFile]) -> bytes:
    """Pack write-back files into one ZIP archive (with a ``README.txt`` of what each is for).

    Parameters
    ----------
    files : mapping
        File name -> :class:`CrmFile`, as :func:`crm_files` returns.

    Returns
    -------
    bytes
        The archive; its files are the given ones, byte for byte.
    """
    buffer = io.BytesIO()
    readme = "\n".join(f"{f.name} ({f.rows} rows): {f.description}" for f in files.values())
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files.values():
            archive.writestr(file.name, file.data)
        archive.writestr("README.txt", readme + "\n")
    return buffer.getvalue()


# --------------------------------------------------------------------------- helpers


def _hierarchy(plan: Plan, workspace: Workspace) -> pd.DataFrame:
    """Regions (parents) then territories: DeveloperName, Name, parent, territory_id."""
    context = plan.context
    territory_ids = pd.Index(context.territory_ids.astype(str))
    names = pd.Series(context.territory_names, index=territory_ids, dtype=object).astype(str)
    region = pd.Series(None, index=territory_ids, dtype=object)
    if "region" in workspace.territories.columns:
        found = workspace.territories["region"].copy()
        found.index = found.index.astype(str)
        found = found.reindex(territory_ids)
        region = found.where(found.notna() & found.astype(str).str.strip().ne(""), None)
    regions = pd.unique(region.dropna().astype(str).to_numpy())
    labels = pd.Series([f"Region {r}" for r in regions] + list(territory_ids), dtype=object)
    developer = developer_names(labels).to_numpy()
    region_developer = dict(zip(regions, developer[: len(regions)], strict=True))
    return pd.DataFrame(
        {
            "DeveloperName": developer,
            "Name": [str(r)[:_NAME_MAX] for r in regions]
            + [n[:_NAME_MAX] for n in names.to_numpy()],
            "parent": [None] * len(regions)
            + [None if pd.isna(r) else region_developer[str(r)] for r in region.to_numpy()],
            TERRITORY_ID: [None] * len(regions) + list(territory_ids),
        }
    )


def _object_associations(owners: pd.DataFrame, reference: pd.Series) -> pd.DataFrame:
    held = owners[owners[TERRITORY_ID].notna()]
    return pd.DataFrame(
        {
            "ObjectId": held.index.astype(str),
            "Territory2Id": held[TERRITORY_ID].map(reference).to_numpy(),
            "AssociationCause": MANUAL_ASSOCIATION,
        },
        columns=list(OBJECT_ASSOCIATION_COLUMNS),
    )


def _user_associations(
    plan: Plan, reference: pd.Series, user_ids: Mapping[str, str], role: str
) -> pd.DataFrame:
    reps = pd.Series(plan.context.territory_reps, index=reference.index, dtype=object)
    reps = reps[reps.notna()].astype(str)
    return pd.DataFrame(
        {
            "UserId": reps.map(lambda r: user_ids.get(r, r)).to_numpy(),
            "Territory2Id": reference.reindex(reps.index).to_numpy(),
            "RoleInTerritory2": role,
        },
        columns=list(USER_ASSOCIATION_COLUMNS),
    )


def _territories_with_new_rep(plan: Plan, previous: pd.DataFrame | None) -> pd.Index:
    territory_ids = pd.Index(plan.context.territory_ids.astype(str))
    if previous is None:
        return territory_ids
    now = pd.Series(plan.context.territory_reps, index=territory_ids, dtype=object)
    held = previous.dropna(subset=[TERRITORY_ID])
    # A territory's rep at the previous publication: the owner its accounts had.
    then = held.groupby(TERRITORY_ID)[REP_ID].first().reindex(territory_ids)
    same = [
        (a is None or pd.isna(a)) and (b is None or pd.isna(b)) or a == b
        for a, b in zip(now.to_numpy(), then.to_numpy(), strict=True)
    ]
    return territory_ids[~np.asarray(same, dtype=bool)]


def _owner_labels(workspace: Workspace, user_ids: Mapping[str, str] | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    reps = workspace.reps
    if reps is not None and "name" in reps.columns:
        for rep, name in reps["name"].items():
            if pd.notna(name) and str(name).strip():
                labels[str(rep)] = str(name).strip()
    labels.update({str(k): str(v) for k, v in (user_ids or {}).items()})
    seen: dict[str, str] = {}
    for rep, label in labels.items():
        if label in seen:
            raise ValueError(f"reps {seen[label]!r} and {rep!r} have the same CRM owner {label!r}")
        seen[label] = rep
    return labels


def _uncell(column: pd.Series) -> pd.Series:
    # Undo to_csv_bytes's leading "'" on text read back from a written file.
    text = column.astype(str)
    escaped = text.str.startswith("'") & text.str[1:2].isin(list(FORMULA_STARTS))
    return text.where(~escaped, text.str[1:])


def _read_csv(source: Source, what: str) -> pd.DataFrame:
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    try:
        return pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{what}: cannot read it as CSV: {error}") from None


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; found {list(frame.columns)}")
