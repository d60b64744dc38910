import json

import geopandas as gpd
import pandas as pd
import pytest

from terrmap.cli import main
from terrmap.demo import generate

FIXTURES = "tests/fixtures"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", str(out), "--accounts", "400", "--territories", "4", "--seed", "3"]) == 0
    return out


class TestDemo:
    def test_writes_three_files(self, demo_dir):
        assert {p.name for p in demo_dir.iterdir()} >= {
            "accounts.csv",
            "reps.csv",
            "territories.geojson",
        }
        assert len(pd.read_csv(demo_dir / "accounts.csv")) == 400

    def test_bad_size_is_one_line(self, tmp_path, capsys):
        assert main(["demo", str(tmp_path), "--accounts", "0"]) == 2
        assert capsys.readouterr().err.count("\n") == 1


class TestCheck:
    def test_clean_file_exits_zero(self, demo_dir, capsys):
        assert main(["check", str(demo_dir / "accounts.csv"), "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert {k: report[k] for k in ("rows", "good", "rejected")} == {
            "rows": 400,
            "good": 400,
            "rejected": [],
        }
        assert report["currency"] is None and report["warnings"] == []

    def test_dirty_salesforce_export(self, capsys):
        assert main(["check", f"{FIXTURES}/salesforce_accounts.csv", "--format", "json"]) == 1
        report = json.loads(capsys.readouterr().out)
        assert report["rows"] == report["good"] + len(report["rejected"])
        by_line = {r["line"]: r for r in report["rejected"]}
        assert "ZIP" in by_line[6]["reason"] and by_line[6]["id"] == "001D"
        assert "latitude" in by_line[7]["reason"]
        assert "duplicate" in by_line[9]["reason"]
        assert by_line[10]["id"] is None

    def test_unusable_file_exits_two_with_one_line(self, tmp_path, capsys):
        empty = tmp_path / "empty.csv"
        empty.write_text("")
        assert main(["check", str(empty)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err

    def test_missing_file(self, tmp_path, capsys):
        assert main(["check", str(tmp_path / "nope.csv")]) == 2
        assert "no such file" in capsys.readouterr().err

    @pytest.mark.parametrize("bug", [RuntimeError("boom"), KeyError("column"), TypeError("x")])
    def test_internal_error_exits_three_and_says_it_is_a_bug(
        self, demo_dir, capsys, monkeypatch, bug
    ):
        import terrmap.io.loaders

        def broken(*args, **kwargs):
            raise bug

        monkeypatch.setattr(terrmap.io.loaders, "load_accounts", broken)
        assert main(["check", str(demo_dir / "accounts.csv")]) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "internal error, a bug in terrmap" in err and "input is not at fault" in err


class TestMetrics:
    def test_json_matches_core_library(self, demo_dir, capsys):
        code = main(
            [
                "metrics",
                str(demo_dir / "accounts.csv"),
                "--territories",
                str(demo_dir / "territories.geojson"),
                "--reps",
                str(demo_dir / "reps.csv"),
                "--format",
                "json",
            ]
        )
        assert code == 0
        payload = json.loads(capsys.readouterr().out)
        # Independent expectation: the written files, a geopandas point-in-polygon
        # join and a pandas groupby (no terrmap code).
        accounts = pd.read_csv(demo_dir / "accounts.csv").set_index("account_id")
        territories = gpd.read_file(demo_dir / "territories.geojson").set_index("territory_id")
        points = gpd.GeoDataFrame(
            accounts, geometry=gpd.points_from_xy(accounts["lon"], accounts["lat"]), crs=4326
        )
        joined = gpd.sjoin(points, territories[["geometry"]], predicate="within")
        assert not joined.index.has_duplicates
        assignment = joined["territory_id"].reindex(accounts.index)
        revenue = accounts["revenue"].groupby(assignment).sum()
        cost = accounts["cost_to_serve"].groupby(assignment).sum()
        rows = {r["territory"]: r for r in payload["territories"]}
        assert set(rows) == set(territories.index)
        for territory, row in rows.items():
            assert row["revenue"] == pytest.approx(revenue.get(territory, 0.0))
            assert row["net_profit"] == pytest.approx(
                revenue.get(territory, 0.0) - cost.get(territory, 0.0)
            )
            assert row["accounts"] == int((assignment == territory).sum())
            for key in ("rep", "cost", "travel_km", "travel_hours", "workload_hours"):
                assert key in row
        assert sum(r["accounts"] for r in rows.values()) + payload["unassigned"]["accounts"] == 400
        assert set(payload["balance"]["revenue"]) >= {
            "mean",
            "max_over_mean",
            "min_over_mean",
            "cv",
            "gini",
        }

    @pytest.mark.parametrize("fmt", ["table", "csv"])
    def test_other_formats(self, demo_dir, capsys, fmt):
        args = [
            "metrics",
            str(demo_dir / "accounts.csv"),
            "--territories",
            str(demo_dir / "territories.geojson"),
        ]
        assert main([*args, "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "T01" in out and "(unassigned)" in out

    def test_territory_field_names_the_territories(self, demo_dir, capsys):
        args = [
            "metrics",
            str(demo_dir / "accounts.csv"),
            "--territories",
            str(demo_dir / "territories.geojson"),
        ]
        assert main([*args, "--territory-field", "name", "--format", "json"]) == 0
        names = {r["territory"] for r in json.loads(capsys.readouterr().out)["territories"]}
        assert names == set(generate(400, 4, seed=3).territories["name"])

    def test_bad_territories_file(self, demo_dir, tmp_path, capsys):
        bad = tmp_path / "t.geojson"
        bad.write_text("{not json")
        assert main(["metrics", str(demo_dir / "accounts.csv"), "--territories", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
