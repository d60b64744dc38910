"""Territory definition files from the command line; next month's CRM export applied to one."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from terrmap.cli import main
from terrmap.demo import DemoData, generate, write_demo


@pytest.fixture(scope="module")
def month_one(tmp_path_factory):
    out = tmp_path_factory.mktemp("month1")
    data = generate(400, 4, seed=9)
    write_demo(data, out)
    return out, data


@pytest.fixture(scope="module")
def month_two(tmp_path_factory, month_one):
    """Next month's CRM export: 25 accounts gone, 30 new ones, 10 with new revenue."""
    _, data = month_one
    rng = np.random.default_rng(3)
    accounts = data.accounts.copy()
    gone = accounts.index[rng.choice(len(accounts), 25, replace=False)]
    accounts = accounts.drop(index=gone)
    changed = accounts.index[:10]
    accounts.loc[changed, "revenue"] = accounts.loc[changed, "revenue"] + 1234.0
    fresh = generate(30, 4, seed=21).accounts
    fresh.index = pd.Index([f"NEW-{i:03d}" for i in range(30)], name=accounts.index.name)
    accounts = pd.concat([accounts, fresh])
    out = tmp_path_factory.mktemp("month2")
    write_demo(DemoData(accounts=accounts, territories=data.territories, reps=data.reps), out)
    return out, accounts, gone, changed


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def _files(folder, *, reps=True):
    files = ["--territories", str(folder / "territories.geojson")]
    return files + (["--reps", str(folder / "reps.csv")] if reps else [])


def test_definition_export_and_metrics_equal_point_in_polygon(month_one, tmp_path, capsys):
    folder, data = month_one
    plan_file = tmp_path / "plan.json"
    accounts = str(folder / "accounts.csv")
    code = main(
        ["export", "definition", "--out", str(plan_file), "--accounts", accounts, *_files(folder)]
    )
    assert code == 0
    capsys.readouterr()
    saved = json.loads(plan_file.read_text())
    assert saved["units"]["kind"] == "uploaded"
    assert saved["unit_territory"] == {t: t for t in data.territories.index}
    assert [t["id"] for t in saved["territories"]] == list(data.territories.index)

    assert main(["metrics", accounts, *_files(folder), "--format", "json"]) == 0
    plain = _json(capsys)
    code = main(
        ["metrics", accounts, "--definition", str(plan_file), *_files(folder), "--format", "json"]
    )
    assert code == 0
    defined = _json(capsys)
    assert defined["territories"] == plain["territories"]
    assert defined["unassigned"] == plain["unassigned"]


def test_next_month_applied_to_a_saved_plan(month_one, month_two, tmp_path, capsys):
    folder, data = month_one
    folder2, accounts2, gone, changed = month_two
    accounts = str(folder / "accounts.csv")
    # a manager moves two named accounts (exceptions) and saves the definition
    assert main(["export", "csv", "--out", str(tmp_path / "a.csv"), "--accounts", accounts,
                 *_files(folder)]) == 0  # fmt: skip
    assignment = pd.read_csv(tmp_path / "a.csv", dtype={"account_id": str})
    kept_id = next(a for a in assignment["account_id"] if a not in set(gone))
    lost_id = gone[0]
    for account in (kept_id, lost_id):
        row = assignment["account_id"] == account
        current = assignment.loc[row, "territory_id"].iloc[0]
        other = next(t for t in data.territories.index if t != current)
        assignment.loc[row, "territory_id"] = other
    assignment.to_csv(tmp_path / "moved.csv", index=False)
    target_of_kept = assignment.set_index("account_id").loc[kept_id, "territory_id"]
    plan_file = tmp_path / "plan.json"
    code = main(["export", "definition", "--out", str(plan_file), "--accounts", accounts,
                 *_files(folder), "--assignment", str(tmp_path / "moved.csv")])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    saved = json.loads(plan_file.read_text())
    assert saved["exceptions"] == {
        kept_id: target_of_kept,
        lost_id: assignment.set_index("account_id").loc[lost_id, "territory_id"],
    }

    # next month's file applied to the saved plan
    code = main(["metrics", str(folder2 / "accounts.csv"), "--definition", str(plan_file),
                 *_files(folder), "--previous", accounts, "--format", "json"])  # fmt: skip
    assert code == 0
    out = _json(capsys)
    report = out["reimport"]["territories"]

    # expected, independently: new accounts by the polygon holding them
    polygons = data.territories.geometry
    new = accounts2.loc[accounts2.index.str.startswith("NEW-")]
    expected_added: dict[str, int] = {}
    for lon, lat in zip(new["lon"], new["lat"], strict=True):
        holder = [t for t, g in polygons.items() if shapely.intersects_xy(g, lon, lat)]
        key = holder[0] if holder else "(white space)"
        expected_added[key] = expected_added.get(key, 0) + 1
    assert {t: r["added"] for t, r in report.items() if r["added"]} == expected_added
    assert sum(r["removed"] for r in report.values()) == len(gone)
    assert sum(r["changed"] for r in report.values()) == len(changed)
    assert out["reimport"]["lost_exceptions"] == [lost_id]

    # the kept exception still holds its account
    figures = {t["territory"]: t for t in out["territories"]}
    total = sum(t["accounts"] for t in figures.values()) + out["unassigned"]["accounts"]
    assert total == len(accounts2)


def test_h3_definition_round_trip(month_one, tmp_path, capsys):
    folder, _ = month_one
    accounts = str(folder / "accounts.csv")
    plan_file = tmp_path / "h3.json"
    code = main(["export", "definition", "--out", str(plan_file), "--accounts", accounts,
                 *_files(folder), "--h3", "5"])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    saved = json.loads(plan_file.read_text())
    assert saved["units"] == {"kind": "h3", "resolution": 5}
    # the definition alone (no territory polygons) gives the same figures
    assert main(["metrics", accounts, "--definition", str(plan_file), "--format", "json"]) == 0
    alone = _json(capsys)
    code = main(["metrics", accounts, "--territories", str(folder / "territories.geojson"),
                 "--h3", "5", "--format", "json"])  # fmt: skip
    assert code == 0
    with_polygons = _json(capsys)
    counts = {t["territory"]: t["accounts"] for t in alone["territories"]}
    assert counts == {t["territory"]: t["accounts"] for t in with_polygons["territories"]}


class TestBadInput:
    def test_not_a_definition(self, month_one, tmp_path, capsys):
        folder, _ = month_one
        bad = tmp_path / "bad.json"
        bad.write_text('{"units": 1,\n "x": }')
        code = main(["metrics", str(folder / "accounts.csv"), "--definition", str(bad)])
        assert code == 2
        assert "line 2" in capsys.readouterr().err

    def test_uploaded_units_need_their_file(self, month_one, tmp_path, capsys):
        folder, data = month_one
        units = tmp_path / "zones.gpkg"
        gpd.GeoDataFrame(
            {"zone": ["Z1"]}, geometry=[data.territories.geometry.iloc[0]], crs="EPSG:4326"
        ).to_file(units)
        plan_file = tmp_path / "zones.json"
        accounts = str(folder / "accounts.csv")
        code = main(["export", "definition", "--out", str(plan_file), "--accounts", accounts,
                     *_files(folder), "--units", str(units), "--unit-id", "zone"])  # fmt: skip
        assert code == 0
        capsys.readouterr()
        assert main(["metrics", accounts, "--definition", str(plan_file)]) == 2
        assert "'zone'" in capsys.readouterr().err

    def test_metrics_needs_territories_or_definition(self, month_one, capsys):
        folder, _ = month_one
        assert main(["metrics", str(folder / "accounts.csv")]) == 2
        assert "--territories or --definition" in capsys.readouterr().err
