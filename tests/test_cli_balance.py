"""``terrmap balance``: proposal written, summary printed, exit codes 0 / 1 / 2."""

import json

import pandas as pd
import pytest

from terrmap.cli import main

SUMMARY_KEYS = {
    "feasible",
    "bands",
    "moved_accounts",
    "moved_revenue",
    "travel_km_before",
    "travel_km_after",
    "max_km_to_home",
    "pieces",
}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", str(out), "--accounts", "400", "--territories", "4", "--seed", "3"]) == 0
    return out


def _args(demo_dir, *extra):
    return [
        "balance",
        str(demo_dir / "accounts.csv"),
        "--territories",
        str(demo_dir / "territories.geojson"),
        "--reps",
        str(demo_dir / "reps.csv"),
        *extra,
    ]


def _metrics(demo_dir, assignment, capsys):
    args = _args(demo_dir, "--assignment", str(assignment), "--format", "json")
    args[0] = "metrics"
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


class TestBalance:
    def test_unmet_band_exits_one_with_reason_and_file(self, demo_dir, tmp_path, capsys):
        out = tmp_path / "assignment.csv"
        code = main(
            _args(
                demo_dir,
                "--measure",
                "revenue:5",
                "--measure",
                "workload_hours:10",
                "--max-km",
                "250",
                "--out",
                str(out),
                "--format",
                "json",
            )
        )
        captured = capsys.readouterr()
        assert code == 1
        summary = json.loads(captured.out)
        assert SUMMARY_KEYS <= set(summary)
        assert summary["feasible"] is False
        assert set(summary["bands"]) == {"revenue", "workload_hours"}
        assert "New York Metro" in captured.err
        assert summary["options"]
        # the file is the one `metrics --assignment` reads back, with the same figures
        figures = _metrics(demo_dir, out, capsys)
        travel = sum(row["travel_km"] for row in figures["territories"])
        assert travel == pytest.approx(summary["travel_km_after"])
        before = pd.read_csv(demo_dir / "accounts.csv")
        written = pd.read_csv(out)
        assert len(written) == len(before) and written["account_id"].is_unique

    def test_met_band_exits_zero(self, demo_dir, tmp_path, capsys):
        out = tmp_path / "wide.csv"
        # a band wide enough to hold today's plan: met without a move
        code = main(_args(demo_dir, "--measure", "accounts:500", "--out", str(out)))
        text = capsys.readouterr().out
        assert code == 0
        assert "Every band met" in text and "pieces per territory" in text
        assert out.exists()

    def test_greenfield_all_territories(self, demo_dir, tmp_path, capsys):
        out = tmp_path / "green.csv"
        code = main(
            _args(
                demo_dir,
                "--greenfield",
                "4",
                "--measure",
                "accounts:10",
                "--out",
                str(out),
                "--format",
                "json",
            )
        )
        assert code in (0, 1)
        summary = json.loads(capsys.readouterr().out)
        assert summary["moved_accounts"] > 0
        assert set(pd.read_csv(out)["territory_id"].dropna()) <= {"T01", "T02", "T03", "T04"}

    def test_split_adds_territories_and_writes_them_in_the_assignment(
        self, demo_dir, tmp_path, capsys
    ):
        accounts = pd.read_csv(demo_dir / "accounts.csv")
        out = tmp_path / "split.csv"
        code = main(_args(demo_dir, "--split", "T01:2", "--out", str(out), "--format", "json"))
        assert code in (0, 1)
        summary = json.loads(capsys.readouterr().out)
        added = [seat["territory_id"] for seat in summary["added_territories"]]
        assert len(added) == 2
        written = pd.read_csv(out)
        # every account once, some in each new territory, none elsewhere than before or T01's
        assert sorted(written["account_id"]) == sorted(accounts["account_id"])
        assert set(added) <= set(written["territory_id"])
        assert set(summary["pieces"]) >= {seat["name"] for seat in summary["added_territories"]}

    def test_greenfield_with_more_territories_adds_open_seats(self, demo_dir, tmp_path, capsys):
        out = tmp_path / "g6.csv"
        code = main(_args(demo_dir, "--greenfield", "6", "--out", str(out), "--format", "json"))
        assert code in (0, 1)
        summary = json.loads(capsys.readouterr().out)
        assert len(summary["added_territories"]) == 2
        assert pd.read_csv(out)["territory_id"].nunique() == 6

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--measure", "height:5"], "unknown measure 'height'"),
            (["--measure", "revenue:abc"], "tolerance 'abc'"),
            (["--lock-territory", "Atlantis"], "Atlantis"),
            (["--max-km", "-1"], "max_km"),
            (["--greenfield", "3"], "there are 4 today"),
            (["--split", "Atlantis"], "Atlantis"),
            (["--split", "T01:two"], "COUNT must be a whole number"),
        ],
    )
    def test_unusable_input_exits_two_in_one_line(self, demo_dir, tmp_path, capsys, extra, message):
        code = main(_args(demo_dir, *extra, "--out", str(tmp_path / "x.csv")))
        err = capsys.readouterr().err
        assert code == 2
        assert message in err and err.count("\n") == 1
        assert not (tmp_path / "x.csv").exists()

    def test_missing_accounts_file(self, demo_dir, tmp_path, capsys):
        args = _args(demo_dir, "--out", str(tmp_path / "x.csv"))
        args[1] = str(tmp_path / "nope.csv")
        assert main(args) == 2
        assert "no such file" in capsys.readouterr().err
