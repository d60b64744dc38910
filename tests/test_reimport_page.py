"""Re-import on the Import page: next month's CRM export applied to the plan in force (``AppTest``).

The demo plan is a territory definition on counties with named-account
exceptions. A manager moves a county, then loads next month's export: new
accounts fall in the territory of their county, removed ones are gone,
figures are the new file's, exceptions stay, and the report says so before
anything changes.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

IMPORT_PAGE = "pages/import_data.py"
NEXT_EXPORT = "Next export of the current plan's accounts (re-import)"
SAN_FRANCISCO = (37.7897, -122.3942)  # far from every county of the demo


@pytest.fixture
def month(open_app_page):
    """The Import page on the demo after a county move, and next month's export."""
    at = open_app_page(IMPORT_PAGE)
    plan = at.session_state["history"].current
    units = plan.unit_assignment
    county = units[units.notna() & (units != "T01")].index[0]
    moved = plan.reassign_units([county], "T01", author="Ann")
    at.session_state["history"] = at.session_state["history"].push(moved)
    accounts = at.session_state["workspace"].accounts
    placed = moved.placed_by.fillna("outside")
    in_county = moved.account_unit.index[
        ((moved.account_unit.fillna("") == county) & (placed == "unit")).to_numpy()
    ]
    exceptions = moved.exceptions
    gone_exception = exceptions.index[0]
    removed = [gone_exception, *accounts.index[(placed == "unit").to_numpy()][:10]]
    columns = ["name", "lat", "lon", "revenue", "cost_to_serve", "visits_per_year"]
    nxt = accounts.drop(index=removed)[columns]
    nxt.loc[in_county[0], "revenue"] = accounts.loc[in_county[0], "revenue"] * 2 + 1
    template = accounts.loc[in_county[1]]
    nxt.loc["NEW-1"] = ["New neighbour", template["lat"], template["lon"], 5_000.0, 900.0, 4.0]
    nxt.loc["NEW-2"] = ["Far away", *SAN_FRANCISCO, 7_000.0, 1_200.0, 2.0]
    nxt.index.name = "account_id"
    buffer = io.StringIO()
    nxt.to_csv(buffer)
    return {
        "at": at,
        "plan": moved,
        "csv": buffer.getvalue().encode(),
        "removed": removed,
        "gone_exception": gone_exception,
        "changed": in_county[0],
        "new_revenue": nxt.loc[in_county[0], "revenue"],
    }


def _reimport(at: AppTest, csv: bytes) -> AppTest:
    at.file_uploader(key="import_file_accounts").upload("crm_next_month.csv", csv)
    at.run()
    at.radio(key="import_mode").set_value(NEXT_EXPORT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_report_before_anything_changes(month):
    at, plan = month["at"], month["plan"]
    workspace = at.session_state["workspace"]
    _reimport(at, month["csv"])
    assert _metrics(at) == {
        "Accounts added": "2",
        "Accounts removed": "11",
        "Accounts changed": "1",
        "Exceptions kept": str(len(plan.exceptions) - 1),
        "Lost exceptions": "1",
    }
    report = at.dataframe[0].value
    assert report.loc["T01", "added"] == 1  # the new neighbour, in the moved county
    assert report.loc["(white space)", "added"] == 1  # San Francisco
    assert report["removed"].sum() == 11
    lost = next(e for e in at.expander if e.label.startswith("Exceptions whose account is gone"))
    assert lost.dataframe[0].value.index.tolist() == [month["gone_exception"]]
    # nothing changed yet
    assert at.session_state["workspace"] is workspace
    assert at.session_state["history"].current is plan


def test_apply_places_new_accounts_and_keeps_exceptions(month):
    at, plan = month["at"], month["plan"]
    _reimport(at, month["csv"])
    at.button(key="import_reimport_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    new_plan = at.session_state["history"].current
    workspace = at.session_state["workspace"]
    assert new_plan is workspace.initial_plan
    assert new_plan.assignment["NEW-1"] == "T01"
    assert pd.isna(new_plan.assignment["NEW-2"])
    assert not set(month["removed"]) & set(new_plan.context.account_ids)
    # the moved county stays moved, every excepted account that is still there keeps its territory
    pd.testing.assert_series_equal(new_plan.unit_assignment, plan.unit_assignment)
    kept = plan.exceptions.drop(month["gone_exception"])
    pd.testing.assert_series_equal(new_plan.exceptions.sort_index(), kept.sort_index())
    assert workspace.accounts.loc[month["changed"], "revenue"] == month["new_revenue"]
    figures = new_plan.metrics()
    assert figures["revenue"].sum() + figures.attrs["unassigned"]["revenue"] == pytest.approx(
        workspace.accounts["revenue"].sum()
    )
    assert at.button(key="import_reimport_apply").disabled
    assert at.success[0].value.startswith("The plan now holds the new accounts")


def test_a_plan_of_accounts_is_not_offered_a_reimport(open_app_page):
    at = open_app_page(IMPORT_PAGE)
    from terrmap.core.plan import History, Plan

    workspace = at.session_state["workspace"]
    plain = Plan.from_assignment(workspace.context, workspace.initial_plan.assignment)
    at.session_state["history"] = History.start(plain)
    at.file_uploader(key="import_file_accounts").upload(
        "crm.csv", b"id,name,lat,lon,owner\nA1,Acme,42.36,-71.09,Ana\n"
    )
    at.run()
    assert not at.exception
    assert not any(radio.key == "import_mode" for radio in at.radio)
