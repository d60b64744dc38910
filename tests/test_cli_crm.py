"""``terrmap export crm``: Salesforce and HubSpot write-back files from the command line."""

import pandas as pd
import pytest

from terrmap.cli import main
from terrmap.core.plan import Plan
from terrmap.demo import demo_workspace
from terrmap.io.crm import read_hubspot, read_salesforce
from terrmap.io.exports import assignment_csv, write_export


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The demo plan as published before, and a new plan moving five accounts to T01."""
    folder = tmp_path_factory.mktemp("crm")
    ws = demo_workspace()
    before = ws.initial_plan
    moved = list(before.assignment[before.assignment.eq("T02").fillna(False)].index[:5])
    after = before.reassign(moved, "T01")
    write_export(assignment_csv(before, ws), folder / "before.csv")
    write_export(assignment_csv(after, ws), folder / "after.csv")
    return folder, ws, after, moved


def test_salesforce_full_and_delta(published, tmp_path, capsys):
    folder, ws, after, moved = published
    code = main(
        [
            "export", "crm", "--target", "salesforce", "--out", str(tmp_path),
            "--assignment", str(folder / "after.csv"), "--since", str(folder / "before.csv"),
            "--sf-model-id", "0MA5g000000CaFeGAK", "--sf-type-id", "0M55g000000AbCdCAK",
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "ObjectTerritory2Association_delta.csv: 5 row(s)" in printed
    delta = pd.read_csv(tmp_path / "ObjectTerritory2Association_delta.csv", dtype=str)
    assert sorted(delta["ObjectId"]) == sorted(moved)
    assert set(delta["Territory2Id"]) == {"T01"}
    remove = pd.read_csv(tmp_path / "ObjectTerritory2Association_remove.csv", dtype=str)
    assert set(remove["Territory2Id"]) == {"T02"}
    territories = pd.read_csv(tmp_path / "Territory2.csv", dtype=str)
    assert set(territories["Territory2ModelId"]) == {"0MA5g000000CaFeGAK"}
    again = read_salesforce(
        tmp_path / "Territory2.csv", tmp_path / "ObjectTerritory2Association.csv", ws.initial_plan
    )
    assert Plan.from_assignment(ws.context, again).assignment.equals(after.assignment)


def test_salesforce_ids_rewrite_references(published, tmp_path):
    folder, ws, after, moved = published
    ids = tmp_path / "territory2_export.csv"
    ids.write_text("Id,DeveloperName\n0MI5g0000000001AAA,T01\n0MI5g0000000007AAA,Region_North\n")
    out = tmp_path / "out"
    out.mkdir()
    code = main(
        [
            "export", "crm", "--target", "salesforce", "--out", str(out),
            "--assignment", str(folder / "after.csv"), "--sf-territory-ids", str(ids),
        ]
    )  # fmt: skip
    assert code == 0
    links = pd.read_csv(out / "ObjectTerritory2Association.csv", dtype=str).set_index("ObjectId")
    assert links.loc[moved[0], "Territory2Id"] == "0MI5g0000000001AAA"
    territories = pd.read_csv(out / "Territory2.csv", dtype=str).set_index("DeveloperName")
    assert territories.loc["T01", "ParentTerritory2Id"] == "0MI5g0000000007AAA"


def test_hubspot_with_owner_emails(published, tmp_path):
    folder, ws, after, moved = published
    users = tmp_path / "users.csv"
    users.write_text("rep_id,user\nR01,james@example.com\n")
    out = tmp_path / "out"
    out.mkdir()
    code = main(
        [
            "export", "crm", "--target", "hubspot", "--out", str(out),
            "--assignment", str(folder / "after.csv"), "--since", str(folder / "before.csv"),
            "--user-ids", str(users),
        ]
    )  # fmt: skip
    assert code == 0
    delta = pd.read_csv(out / "hubspot_companies_delta.csv", dtype=str)
    assert list(delta.columns) == ["Record ID", "Company name", "Company owner"]
    assert sorted(delta["Record ID"]) == sorted(moved)
    assert set(delta["Company owner"]) == {"james@example.com"}
    again = read_hubspot(
        out / "hubspot_companies.csv", ws.initial_plan, ws, user_ids={"R01": "james@example.com"}
    )
    assert Plan.from_assignment(ws.context, again).assignment.equals(after.assignment)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "export crm needs --target"),
        (["--target", "hubspot", "--sf-model-id", "0MA5g000000CaFeGAK"], "--sf-* options"),
        (["--target", "salesforce", "--sf-model-id", "nope"], "model_id 'nope' is not"),
        (["--target", "hubspot", "--since", "missing.csv"], "missing.csv: no such file"),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, extra, message):
    assert main(["export", "crm", "--out", str(tmp_path), *extra]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


def test_out_must_be_a_folder(tmp_path, capsys):
    target = tmp_path / "file.csv"
    target.write_text("")
    assert main(["export", "crm", "--target", "hubspot", "--out", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_export_uses_the_plan_in_force_and_the_publication_before(tmp_path, monkeypatch, capsys):
    from terrmap.store.scenarios import ScenarioStore

    database = tmp_path / "team.sqlite"
    monkeypatch.setenv("TERRMAP_DB", str(database))
    ws = demo_workspace()
    store = ScenarioStore(str(database))
    dataset = store.save_dataset(ws)
    first = list(
        ws.initial_plan.assignment[ws.initial_plan.assignment.eq("T02").fillna(False)].index[:3]
    )
    second = list(
        ws.initial_plan.assignment[ws.initial_plan.assignment.eq("T03").fillna(False)].index[:2]
    )

    def publish(plan, name, day):
        info = store.save(plan, name=name, dataset_id=dataset, author="ann")
        store.propose(info.scenario_id, "ann")
        store.review(info.scenario_id, "lou", "approve")
        store.publish(info.scenario_id, "lou", day)

    one = ws.initial_plan.reassign(first, "T01")
    publish(one, "first", "2026-01-01")
    publish(one.reassign(second, "T01"), "second", "2026-02-01")

    out = tmp_path / "out"
    out.mkdir()
    assert main(["export", "crm", "--target", "hubspot", "--out", str(out)]) == 0
    assert "plan in force: 'second' version 1" in capsys.readouterr().err
    full = pd.read_csv(out / "hubspot_companies.csv", dtype=str).set_index("Record ID")
    assert set(full.loc[first + second, "Company owner"]) == {"James Gallagher"}
    delta = pd.read_csv(out / "hubspot_companies_delta.csv", dtype=str)
    assert sorted(delta["Record ID"]) == sorted(second)

    csv = tmp_path / "plan.csv"
    assert main(["export", "csv", "--out", str(csv)]) == 0
    again = pd.read_csv(csv, dtype=str).set_index("account_id")
    assert set(again.loc[first + second, "territory_id"]) == {"T01"}
    assert main(["export", "csv", "--out", str(csv), "--plan", "initial"]) == 0
    initial = pd.read_csv(csv, dtype=str).set_index("account_id")
    assert set(initial.loc[second, "territory_id"]) == {"T03"}
