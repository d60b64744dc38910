"""``terrmap export``: every kind from the demo data and from given files."""

import html

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from terrmap.cli import EXPORT_FILES, main
from terrmap.core.plan import Plan
from terrmap.demo import demo_workspace
from terrmap.io.exports import read_assignment


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", str(out), "--accounts", "300", "--territories", "4", "--seed", "5"]) == 0
    return out


def _files(demo_dir):
    return [
        "--accounts",
        str(demo_dir / "accounts.csv"),
        "--territories",
        str(demo_dir / "territories.geojson"),
        "--reps",
        str(demo_dir / "reps.csv"),
    ]


class TestExport:
    def test_all_kinds_from_files(self, demo_dir, tmp_path, capsys):
        assert main(["export", "all", "--out", str(tmp_path), *_files(demo_dir)]) == 0
        printed = capsys.readouterr().out.splitlines()
        assert [line.split(":")[0] for line in printed] == list(EXPORT_FILES)
        assert len(pd.read_csv(tmp_path / "assignment.csv")) == 300
        shapes = gpd.read_file(tmp_path / "territories.gpkg")
        assert len(shapes) == 4 and shapes.geometry.is_valid.all()
        assert len(gpd.read_file(tmp_path / "territories.geojson")) == 4
        assert set(pd.read_excel(tmp_path / "territories.xlsx", sheet_name=None)) == {
            "Summary",
            "Accounts",
            "Reps",
            "Changes",
        }
        assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")

    def test_assignment_round_trip_through_the_cli(self, demo_dir, tmp_path):
        from terrmap.demo import read_demo
        from terrmap.geo.workspace import build_workspace

        data = read_demo(demo_dir)
        workspace = build_workspace(data.accounts, data.territories, data.reps)
        first = workspace.context.territory_ids[0]
        moved = workspace.initial_plan.reassign(workspace.context.account_ids[:20], first)
        from terrmap.io.exports import assignment_csv, write_export

        plan_file = write_export(assignment_csv(moved, workspace), tmp_path / "moved.csv")
        out = tmp_path / "again.csv"
        argv = ["export", "csv", "--out", str(out), "--assignment", str(plan_file)]
        assert main([*argv, *_files(demo_dir)]) == 0
        again = Plan.from_assignment(
            workspace.context, read_assignment(out, workspace.initial_plan)
        )
        assert np.array_equal(again.codes, moved.codes)

    def test_report_from_demo_data_with_a_mix(self, tmp_path):
        out = tmp_path / "report.html"
        argv = ["export", "html", "--out", str(out), "--measure", "revenue=2,workload_hours=1"]
        assert main([*argv, "--tolerance", "15"]) == 0
        text = out.read_text()
        assert "Weighted mix: Revenue ×2, Workload (h) ×1" in text
        assert "±15%" in text
        assert html.escape(demo_workspace().name) in text  # "&" escaped

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["export", "csv", "--out", "X", "--measure", "bogus"], "bogus"),
            (["export", "csv", "--out", "X", "--measure", "revenue=abc"], "abc"),
            (["export", "csv", "--out", "X", "--accounts", "nowhere.csv"], "--territories"),
            (["export", "csv", "--out", "X", "--reps", "r.csv"], "--accounts"),
            (["export", "all", "--out", "missing-folder"], "not a folder"),
            (["export", "csv", "--out", "no/such/dir/x.csv"], "does not exist"),
            (["export", "csv", "--out", "X", "--assignment", "none.csv"], "none.csv"),
        ],
    )
    def test_errors_are_one_line(self, argv, message, capsys, monkeypatch, tmp_path):
        monkeypatch.chdir(tmp_path)
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and err.startswith("terrmap export:")

    def test_unknown_territory_in_assignment(self, demo_dir, tmp_path, capsys):
        bad = tmp_path / "bad.csv"
        bad.write_text("account_id,name,lat,lon,territory_id\nA-1,x,42.0,-72.0,Atlantis\n")
        argv = ["export", "csv", "--out", str(tmp_path / "o.csv"), "--assignment", str(bad)]
        assert main(argv) == 2
        assert "A-1" in capsys.readouterr().err
