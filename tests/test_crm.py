"""CRM write-back: Salesforce Territory Management and HubSpot files, full and delta.

The files are parsed with the column names the CRMs document (Salesforce
object reference: Territory2, ObjectTerritory2Association,
UserTerritory2Association; HubSpot's company import: Record ID, Company
name, Company owner) and read back into the same plan.
"""

import csv
import io
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrmap.core.plan import Plan
from terrmap.geo.workspace import build_workspace
from terrmap.io.crm import (
    changed_accounts,
    crm_files,
    developer_names,
    hubspot_files,
    owners_of,
    read_hubspot,
    read_owners,
    read_salesforce,
    read_salesforce_ids,
    salesforce_files,
)
from terrmap.io.exports import assignment_csv

MODEL = "0MA5g000000CaFeGAK"
TYPE = "0M55g000000AbCdCAK"


@pytest.fixture
def workspace(grid_accounts, grid_territories, grid_reps):
    """The 2x2 grid; South and North regions; one hostile account name."""
    accounts = grid_accounts.copy()
    accounts.loc["ACC-g", "name"] = '=HYPERLINK("http://x","y")'
    accounts.loc["ACC-h", "name"] = "+1-555"
    territories = grid_territories.copy()
    territories["region"] = ["South", "South", "North", "North"]
    return build_workspace(accounts, territories, grid_reps, name="Grid")


@pytest.fixture
def plan(workspace):
    """NE takes account c; account e is released to white space."""
    return workspace.initial_plan.reassign(["ACC-c"], "NE").reassign(["ACC-e"], None)


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _header(data: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(data.decode("utf-8"))))


class TestSalesforceFiles:
    def test_documented_headers(self, plan, workspace):
        files = salesforce_files(plan, workspace, model_id=MODEL, type_id=TYPE)
        assert _header(files["Territory2.csv"].data) == [
            "DeveloperName",
            "Name",
            "Territory2ModelId",
            "Territory2TypeId",
            "ParentTerritory2Id",
        ]
        for name in ("ObjectTerritory2Association.csv", "ObjectTerritory2Association_delta.csv"):
            assert _header(files[name].data) == ["ObjectId", "Territory2Id", "AssociationCause"]
        for name in ("UserTerritory2Association.csv", "UserTerritory2Association_delta.csv"):
            assert _header(files[name].data) == ["UserId", "Territory2Id", "RoleInTerritory2"]

    def test_hierarchy_regions_then_territories(self, plan, workspace):
        rows = _rows(
            salesforce_files(plan, workspace, model_id=MODEL, type_id=TYPE)["Territory2.csv"].data
        )
        by_name = {row["DeveloperName"]: row for row in rows}
        assert [row["DeveloperName"] for row in rows] == [
            "Region_South",
            "Region_North",
            "SW",
            "SE",
            "NW",
            "NE",
        ]
        assert by_name["Region_South"]["ParentTerritory2Id"] == ""
        assert by_name["NE"]["ParentTerritory2Id"] == "Region_North"
        assert by_name["SW"]["ParentTerritory2Id"] == "Region_South"
        assert by_name["NE"]["Name"] == "North-East"
        assert {row["Territory2ModelId"] for row in rows} == {MODEL}
        assert {row["Territory2TypeId"] for row in rows} == {TYPE}

    def test_every_assigned_account_once_manual_cause(self, plan, workspace):
        rows = _rows(salesforce_files(plan, workspace)["ObjectTerritory2Association.csv"].data)
        pairs = {row["ObjectId"]: row["Territory2Id"] for row in rows}
        assert len(rows) == 7  # ACC-e is white space
        assert pairs["ACC-c"] == "NE"
        assert "ACC-e" not in pairs
        assert {row["AssociationCause"] for row in rows} == {"Territory2Manual"}

    def test_users_one_per_territory_with_rep(self, plan, workspace):
        rows = _rows(
            salesforce_files(plan, workspace, user_ids={"R4": "0055g00000AbCdEAAZ"})[
                "UserTerritory2Association.csv"
            ].data
        )
        assert {(r["UserId"], r["Territory2Id"]) for r in rows} == {
            ("R1", "SW"),
            ("R2", "SE"),
            ("R3", "NW"),
            ("0055g00000AbCdEAAZ", "NE"),
        }
        assert {r["RoleInTerritory2"] for r in rows} == {"Owner"}

    def test_known_ids_replace_developer_names(self, plan, workspace):
        ids = {
            "Region_North": "0MI5g0000000001AAA",
            "NE": "0MI5g0000000002AAA",
            "SE": "0MI5g0000000003AAA",
        }
        files = salesforce_files(plan, workspace, territory_ids=ids)
        territories = {r["DeveloperName"]: r for r in _rows(files["Territory2.csv"].data)}
        assert territories["NE"]["ParentTerritory2Id"] == ids["Region_North"]
        assert territories["SW"]["ParentTerritory2Id"] == "Region_South"
        links = {
            r["ObjectId"]: r["Territory2Id"]
            for r in _rows(files["ObjectTerritory2Association.csv"].data)
        }
        assert links["ACC-c"] == ids["NE"]
        assert links["ACC-d"] == ids["SE"]
        assert links["ACC-a"] == "SW"

    def test_round_trip_gives_the_same_plan(self, plan, workspace):
        ids = {"NE": "0MI5g0000000002AAA", "Region_South": "0MI5g0000000009AAA"}
        files = salesforce_files(plan, workspace, model_id=MODEL, type_id=TYPE, territory_ids=ids)
        assignment = read_salesforce(
            files["Territory2.csv"].data,
            files["ObjectTerritory2Association.csv"].data,
            workspace.initial_plan,
            territory_ids=ids,
        )
        again = Plan.from_assignment(workspace.context, assignment)
        assert np.array_equal(again.codes, plan.codes)

    def test_salesforce_id_export_is_read(self):
        data = b"Id,DeveloperName,Name\n0MI5g0000000002AAA,NE,North-East\n"
        assert read_salesforce_ids(data) == {"NE": "0MI5g0000000002AAA"}
        with pytest.raises(ValueError, match=r"line 2: 'NE' is not a Salesforce id"):
            read_salesforce_ids(b"Id,DeveloperName\nNE,NE\n")
        with pytest.raises(ValueError, match=r"missing column\(s\) \['DeveloperName'\]"):
            read_salesforce_ids(b"Id\n0MI5g0000000002AAA\n")

    @pytest.mark.parametrize(
        ("option", "value", "message"),
        [
            ("model_id", "not an id", "model_id 'not an id' is not a Salesforce id"),
            ("type_id", "0M5", "type_id '0M5' is not a Salesforce id"),
            ("role", "Boss", "role 'Boss' is not one of"),
            ("territory_ids", {"NE": "x"}, "Territory2 id 'x' of 'NE'"),
        ],
    )
    def test_bad_options_named(self, plan, workspace, option, value, message):
        with pytest.raises(ValueError, match=re.escape(message)):
            salesforce_files(plan, workspace, **{option: value})

    def test_reader_rejects_unknown_territory(self, plan, workspace):
        files = salesforce_files(plan, workspace)
        links = files["ObjectTerritory2Association.csv"].data.replace(b",NE,", b",XX,")
        with pytest.raises(ValueError, match="names territory 'XX'"):
            read_salesforce(files["Territory2.csv"].data, links, plan)

    def test_reader_rejects_missing_documented_column(self, plan, workspace):
        files = salesforce_files(plan, workspace)
        links = files["ObjectTerritory2Association.csv"].data.replace(b"AssociationCause", b"Cause")
        with pytest.raises(ValueError, match=r"missing column\(s\) \['AssociationCause'\]"):
            read_salesforce(files["Territory2.csv"].data, links, plan)


class TestDeltaFiles:
    def test_without_previous_delta_is_full(self, plan, workspace):
        files = salesforce_files(plan, workspace)
        assert files["ObjectTerritory2Association_delta.csv"].data == (
            files["ObjectTerritory2Association.csv"].data
        )
        assert "ObjectTerritory2Association_remove.csv" not in files

    def test_delta_holds_only_moved_accounts(self, plan, workspace):
        previous = owners_of(workspace.initial_plan, workspace)
        files = salesforce_files(plan, workspace, previous=previous)
        delta = _rows(files["ObjectTerritory2Association_delta.csv"].data)
        assert [(r["ObjectId"], r["Territory2Id"]) for r in delta] == [("ACC-c", "NE")]
        remove = _rows(files["ObjectTerritory2Association_remove.csv"].data)
        assert {(r["ObjectId"], r["Territory2Id"]) for r in remove} == {
            ("ACC-c", "SE"),
            ("ACC-e", "NW"),
        }
        assert _rows(files["UserTerritory2Association_delta.csv"].data) == []

    def test_rep_swap_is_an_owner_change(self, workspace):
        from terrmap.geo.workspace import with_territory_reps

        swapped = with_territory_reps(workspace, {"NE": "R1"})
        plan = swapped.initial_plan
        previous = owners_of(workspace.initial_plan, workspace)
        files = salesforce_files(plan, swapped, previous=previous)
        delta = _rows(files["ObjectTerritory2Association_delta.csv"].data)
        assert sorted(r["ObjectId"] for r in delta) == ["ACC-g", "ACC-h"]
        users = _rows(files["UserTerritory2Association_delta.csv"].data)
        assert [(r["UserId"], r["Territory2Id"]) for r in users] == [("R1", "NE")]
        hub = _rows(
            hubspot_files(plan, swapped, previous=previous)["hubspot_companies_delta.csv"].data
        )
        assert [(r["Record ID"], r["Company owner"]) for r in hub] == [
            ("ACC-g", "Ann"),
            ("ACC-h", "Ann"),
        ]

    def test_previous_read_from_an_assignment_csv(self, plan, workspace):
        previous = read_owners(assignment_csv(workspace.initial_plan, workspace))
        assert sorted(changed_accounts(owners_of(plan, workspace), previous)) == ["ACC-c", "ACC-e"]

    def test_account_new_since_previous_counts_as_changed(self, plan, workspace):
        previous = owners_of(workspace.initial_plan, workspace).drop(index=["ACC-a"])
        assert sorted(changed_accounts(owners_of(plan, workspace), previous)) == [
            "ACC-a",
            "ACC-c",
            "ACC-e",
        ]

    def test_read_owners_names_bad_input(self):
        with pytest.raises(ValueError, match=r"missing column\(s\) \['rep_id'\]"):
            read_owners(b"account_id,territory_id\nA,T\n")
        with pytest.raises(ValueError, match="account id 'A' listed twice"):
            read_owners(b"account_id,territory_id,rep_id\nA,T,R\nA,T,R\n")
        with pytest.raises(ValueError, match="empty account_id at line 3"):
            read_owners(b"account_id,territory_id,rep_id\nA,T,R\n,T,R\n")

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        moves=st.lists(
            st.tuples(
                st.sets(st.sampled_from([f"ACC-{c}" for c in "abcdefgh"]), min_size=1),
                st.sampled_from(["SW", "SE", "NW", "NE", None]),
            ),
            max_size=6,
        )
    )
    def test_delta_is_exactly_the_accounts_that_moved(self, workspace, moves):
        before = workspace.initial_plan
        after = before
        for accounts, target in moves:
            after = after.reassign(sorted(accounts), target)
        expected = {
            a
            for a in before.context.account_ids
            if not (pd.isna(before.assignment[a]) and pd.isna(after.assignment[a]))
            and (before.assignment[a] != after.assignment[a]) is not False
        }
        files = hubspot_files(after, workspace, previous=owners_of(before, workspace))
        delta = {r["Record ID"] for r in _rows(files["hubspot_companies_delta.csv"].data)}
        assert delta == expected
        # Applying the delta to the previous owners gives the full file.
        full = {
            r["Record ID"]: r["Company owner"] for r in _rows(files["hubspot_companies.csv"].data)
        }
        old = {
            r["Record ID"]: r["Company owner"]
            for r in _rows(hubspot_files(before, workspace)["hubspot_companies.csv"].data)
        }
        old.update(
            {
                r["Record ID"]: r["Company owner"]
                for r in _rows(files["hubspot_companies_delta.csv"].data)
            }
        )
        assert old == full


class TestHubspotFiles:
    def test_documented_headers_and_owner_names(self, plan, workspace):
        files = hubspot_files(plan, workspace)
        data = files["hubspot_companies.csv"].data
        assert _header(data) == ["Record ID", "Company name", "Company owner"]
        rows = {r["Record ID"]: r for r in _rows(data)}
        assert rows["ACC-c"]["Company owner"] == "Di"
        assert rows["ACC-a"]["Company owner"] == "Ann"
        assert rows["ACC-e"]["Company owner"] == ""
        assert rows["ACC-a"]["Company name"] == "a"

    def test_owner_emails(self, plan, workspace):
        files = hubspot_files(plan, workspace, user_ids={"R4": "di@example.com"})
        rows = {r["Record ID"]: r for r in _rows(files["hubspot_companies.csv"].data)}
        assert rows["ACC-c"]["Company owner"] == "di@example.com"

    def test_two_reps_one_owner_refused(self, plan, workspace):
        with pytest.raises(ValueError, match="reps 'R1' and 'R2' have the same CRM owner 'Ann'"):
            hubspot_files(plan, workspace, user_ids={"R2": "Ann"})

    def test_round_trip_gives_the_same_plan(self, plan, workspace):
        data = hubspot_files(plan, workspace)["hubspot_companies.csv"].data
        assignment = read_hubspot(data, workspace.initial_plan, workspace)
        again = Plan.from_assignment(workspace.context, assignment)
        assert np.array_equal(again.codes, plan.codes)

    def test_round_trip_with_emails(self, plan, workspace):
        emails = {"R1": "ann@example.com", "R4": "di@example.com"}
        data = hubspot_files(plan, workspace, user_ids=emails)["hubspot_companies.csv"].data
        again = Plan.from_assignment(
            workspace.context, read_hubspot(data, plan, workspace, user_ids=emails)
        )
        assert np.array_equal(again.codes, plan.codes)

    def test_reader_names_unknown_record(self, plan, workspace):
        with pytest.raises(ValueError, match="unknown Record ID 'X9'"):
            read_hubspot(b"Record ID,Company name,Company owner\nX9,x,Ann\n", plan, workspace)

    def test_reader_names_owner_without_territory(self, plan, workspace):
        with pytest.raises(ValueError, match="owner 'Zed' \\(rep 'Zed'\\) holds no territory"):
            read_hubspot(b"Record ID,Company name,Company owner\nACC-a,a,Zed\n", plan, workspace)


class TestFormulaInjection:
    def test_cells_that_start_a_formula_are_text(self, plan, workspace):
        data = hubspot_files(plan, workspace)["hubspot_companies.csv"].data
        rows = {r["Record ID"]: r for r in _rows(data)}
        assert rows["ACC-g"]["Company name"] == '\'=HYPERLINK("http://x","y")'
        assert rows["ACC-h"]["Company name"] == "'+1-555"
        for row in _rows(data):
            for value in row.values():
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))

    def test_hostile_territory_name(self, grid_accounts, grid_territories, grid_reps):
        territories = grid_territories.copy()
        territories.loc["NE", "name"] = "@SUM(1+1)*cmd|' /C calc'!A0"
        ws = build_workspace(grid_accounts, territories, grid_reps)
        rows = _rows(salesforce_files(ws.initial_plan, ws)["Territory2.csv"].data)
        names = {r["DeveloperName"]: r["Name"] for r in rows}
        assert names["NE"] == "'@SUM(1+1)*cmd|' /C calc'!A0"


class TestDeveloperNames:
    def test_rules(self):
        names = developer_names(
            pd.Series(["North-East", "Zürich  Metro", "3rd area", "a__b_", "North East", "x" * 90])
        ).tolist()
        assert names[:5] == ["North_East", "Zurich_Metro", "T_3rd_area", "a_b", "North_East_2"]
        assert len(names[5]) == 80
        for name in names:
            assert re.fullmatch(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*", name)
            assert not name.endswith("_")

    @given(st.lists(st.text(max_size=100), max_size=20))
    def test_always_valid_and_unique(self, labels):
        names = developer_names(pd.Series(labels, dtype=object)).tolist()
        assert len({n.lower() for n in names}) == len(names)
        for name in names:
            assert 1 <= len(name) <= 80
            assert re.fullmatch(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*", name), name
            assert not name.endswith("_")


def test_crm_files_dispatch(plan, workspace):
    assert set(crm_files(plan, workspace, "hubspot")) == {
        "hubspot_companies.csv",
        "hubspot_companies_delta.csv",
    }
    assert "Territory2.csv" in crm_files(plan, workspace, "salesforce")
    with pytest.raises(ValueError, match="unknown CRM 'zoho'"):
        crm_files(plan, workspace, "zoho")


def test_inputs_not_mutated(plan, workspace):
    previous = owners_of(workspace.initial_plan, workspace)
    kept = previous.copy()
    accounts = workspace.accounts.copy()
    salesforce_files(plan, workspace, previous=previous)
    hubspot_files(plan, workspace, previous=previous)
    pd.testing.assert_frame_equal(previous, kept)
    pd.testing.assert_frame_equal(workspace.accounts, accounts)


def test_zip_holds_the_files_byte_for_byte(plan, workspace):
    import zipfile

    from terrmap.io.crm import crm_zip

    files = salesforce_files(plan, workspace)
    archive = zipfile.ZipFile(io.BytesIO(crm_zip(files)))
    assert sorted(archive.namelist()) == sorted([*files, "README.txt"])
    for name, file in files.items():
        assert archive.read(name) == file.data
    readme = archive.read("README.txt").decode()
    assert "ObjectTerritory2Association.csv (7 rows)" in readme


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0MA5g000000CaFe", True),
        ("0MA5g000000CaFeGAK", True),
        ("0MA5g000000CaFeGAK\n", False),
        ("0MA5g000000CaF", False),
        ("0MA5g000000CaFe-AK", False),
    ],
)
def test_salesforce_id_shape(value, ok):
    from terrmap.io.crm import is_salesforce_id

    assert is_salesforce_id(value) is ok
