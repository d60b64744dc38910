"""The Import page driven headless by ``AppTest``: uploads, mapping, rejected rows, "Use this data".

``AppTest`` (Streamlit 1.67) uploads files through ``file_uploader(...).upload``,
so these tests go through the real upload path, not a prepared result. What
they cannot see: the rendering in a browser (escaping as displayed, the
progress bar moving), which ``tests/browser/test_import_browser.py`` covers.

The page runs inside the real ``app.py`` (``open_app_page`` in conftest).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from terrmap.io.importing import NO_TERRITORIES, escape_markdown

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
IMPORT_PAGE = "pages/import_data.py"
SALESFORCE = ROOT / "tests" / "fixtures" / "salesforce_accounts.csv"
TIMEOUT_S = 30
NONE = "(none)"


@pytest.fixture
def at(open_app_page) -> AppTest:
    """The Import page after its first run in a fresh session (demo data loaded)."""
    return open_app_page(IMPORT_PAGE)


def boston_territories() -> bytes:
    """Two boxes: "Boston" holds the Cambridge and Boston accounts, "North" the Nashua one."""
    return (
        gpd.GeoDataFrame(
            {"territory": ["Boston", "North"]},
            geometry=[shapely.box(-71.2, 42.2, -70.9, 42.5), shapely.box(-72, 42.5, -71.2, 43)],
            crs="EPSG:4326",
        )
        .to_json()
        .encode()
    )


def upload(at: AppTest, kind: str, name: str, data: bytes) -> AppTest:
    at.file_uploader(key=f"import_file_{kind}").upload(name, data)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload_salesforce(at: AppTest, territories: bool = True) -> AppTest:
    at.file_uploader(key="import_file_accounts").upload(SALESFORCE.name, SALESFORCE.read_bytes())
    if territories:
        at.file_uploader(key="import_file_territories").upload(
            "territories.geojson", boston_territories()
        )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def summary(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def has_use_button(at: AppTest) -> bool:
    return any(button.key == "import_use" for button in at.button)


def mapping(at: AppTest, kind: str, field: str):
    return at.selectbox(key=f"import_map_{kind}_{field}")


class TestBeforeUpload:
    def test_asks_for_an_accounts_file(self, at):
        assert [info.value for info in at.info] == ["Upload an accounts file to begin."]
        assert not has_use_button(at)
        assert not at.metric

    def test_uploaders_accept_the_loaders_formats(self, at):
        types = {u.key: u.allowed_type for u in at.file_uploader}
        assert ".csv" in types["import_file_accounts"] and ".xlsx" in types["import_file_accounts"]
        assert ".zip" in types["import_file_territories"]
        assert ".shp" not in types["import_file_territories"]
        assert ".geojson" not in types["import_file_reps"]


class TestUpload:
    def test_summary_rejected_rows_and_guessed_mapping(self, at):
        upload_salesforce(at)
        assert summary(at) == {
            "Accounts loaded": "3",
            "Rows rejected": "10",
            "Territories": "2",
            "Accounts in no territory": "0",
            "Overlapping territory pairs": "0",
        }
        rejected = at.dataframe[0].value
        assert rejected["line"].tolist() == [6, 7, 8, 9, 10, 12, 13, 14, 15, 16]
        assert rejected["reason"].iloc[0] == "unknown ZIP '00000'"
        assert at.download_button(key="import_rejected_csv")
        assert mapping(at, "accounts", "revenue").value == "Annual Revenue"
        assert mapping(at, "accounts", "cost_to_serve").value == NONE
        assert "Annual Revenue" in mapping(at, "accounts", "revenue").options
        assert at.status[0].label.startswith("Files loaded")

    def test_working_plan_is_untouched_until_the_button(self, at):
        workspace, history = at.session_state["workspace"], at.session_state["history"]
        upload_salesforce(at)
        assert at.session_state["workspace"] is workspace
        assert at.session_state["history"] is history
        assert "Demo data" in " ".join(c.value for c in at.sidebar.caption)

    def test_use_this_data_makes_it_the_working_plan(self, at):
        upload_salesforce(at)
        prepared = at.session_state["import_result"][1].workspace
        at.button(key="import_use").click().run()
        assert not at.exception
        assert at.session_state["workspace"] is prepared
        assert "3 accounts · 2 territories" in " ".join(c.value for c in at.sidebar.caption)
        assert at.button(key="undo").disabled  # a fresh history
        assert at.button(key="import_use").disabled
        assert at.success[0].value.startswith("This data is now your working plan")

    def test_unrelated_reruns_do_not_reload(self, at):
        upload_salesforce(at)
        result = at.session_state["import_result"][1]
        at.slider(key="tolerance_pct").set_value(20).run()
        assert at.session_state["import_result"][1] is result


class TestMapping:
    def test_a_correction_reloads(self, at):
        upload_salesforce(at)
        mapping(at, "accounts", "revenue").set_value(NONE).run()
        assert not at.exception
        # Zeta's unreadable revenue ("n/a") no longer rejects it.
        assert summary(at)["Accounts loaded"] == "4"
        assert mapping(at, "accounts", "revenue").value == NONE
        assert escape_markdown("no revenue column: revenue set to 0") in at.warning[0].value

    def test_a_column_serves_one_field(self, at):
        upload_salesforce(at)
        mapping(at, "accounts", "name").set_value("Account ID").run()
        assert mapping(at, "accounts", "name").value == "Account ID"
        assert mapping(at, "accounts", "account_id").value == NONE
        at.button(key="import_reset_accounts").click().run()
        assert mapping(at, "accounts", "name").value == "Account Name"
        assert mapping(at, "accounts", "account_id").value == "Account ID"


class TestProblems:
    def test_unusable_file_shows_its_error_and_the_plan_stays(self, at):
        workspace = at.session_state["workspace"]
        upload(at, "accounts", "crm.csv", b"Company,Northing,Easting\nAcme,42.36,-71.09\n")
        (error,) = at.error
        assert error.value == escape_markdown(
            "crm.csv: no column gives a location (latitude/longitude or ZIP); "
            "columns are: Company, Northing, Easting"
        )
        assert not has_use_button(at)
        assert at.session_state["workspace"] is workspace
        assert at.status[0].label.startswith("The files cannot be used")

    def test_the_mapping_fixes_an_unusable_file(self, at):
        data = b"Company,Northing,Easting,Rep\nAcme,42.36,-71.09,Ann\nBeta,42.37,-71.05,Bob\n"
        upload(at, "accounts", "crm.csv", data)
        assert mapping(at, "accounts", "lat").options == [
            NONE,
            "Company",
            "Northing",
            "Easting",
            "Rep",
        ]
        mapping(at, "accounts", "lat").set_value("Northing").run()
        mapping(at, "accounts", "lon").set_value("Easting").run()
        assert not at.error
        assert summary(at)["Accounts loaded"] == "2"
        assert summary(at)["Territories"] == "2"  # one per owner
        assert has_use_button(at)

    def test_accounts_alone_need_an_owner(self, at):
        upload(at, "accounts", "crm.csv", b"id,name,zip\nA1,Acme,02139\n")
        assert [e.value for e in at.error] == [escape_markdown(NO_TERRITORIES)]
        assert not has_use_button(at)
        assert summary(at)["Accounts loaded"] == "1"
        assert summary(at)["Territories"] == "–"

    def test_accounts_alone_with_owners_draw_territories(self, at):
        upload_salesforce(at, territories=False)
        assert summary(at)["Territories"] == "2"
        assert any("one territory per account owner" in c.value for c in at.caption)
        assert has_use_button(at)

    def test_file_text_is_escaped(self, at):
        upload(at, "accounts", "x.csv", b"**bold**,<script>alert(1)</script>,$x$\n1,2,3\n")
        message = at.error[0].value
        assert r"\*\*bold\*\*" in message and r"\<script\>" in message and r"\$x\$" in message
        assert "**bold**" not in message and "<script>" not in message
        # Options are plain text, not markdown: they show the names as they are.
        assert "**bold**" in mapping(at, "accounts", "name").options


class TestNumbersAndCurrency:
    """Issue 11: the page shows the file's currency and lets the user state the format."""

    MIXED = (
        b"Account ID,Zip,Owner,Annual Revenue\n"
        b'A1,02139,Ana,"1.234,50 \xe2\x82\xac"\n'
        b'A2,02110,Bo,"1,234.50 \xe2\x82\xac"\n'
        b'A3,02139,Ana,"7,25 \xe2\x82\xac"\n'
        b"A4,02110,Bo,3.5\n"
    )

    def test_mixed_column_is_refused_until_the_format_is_stated(self, at):
        upload(at, "accounts", "crm.csv", self.MIXED)
        assert at.error, "a column mixing formats must be refused"
        assert "Annual Revenue" in at.error[0].value and "mixes number formats" in at.error[0].value
        at.selectbox(key="import_number_format").set_value("1.234,56").run()
        assert not at.exception
        assert not at.error
        rejected = at.dataframe[0].value
        assert rejected["line"].tolist() == [3, 5]  # the rows not in the stated format
        captions = " ".join(c.value for c in at.caption)
        assert "Amounts in EUR" in captions

    def test_currency_and_rates(self, at):
        data = b"Account ID,Zip,Owner,Revenue\nA1,02139,Ana,\xc2\xa3100\nA2,02110,Bo,$50\nA3,02139,Ana,$60\n"
        upload(at, "accounts", "crm.csv", data)
        assert at.dataframe[0].value["line"].tolist() == [2]  # pounds in a dollar data set
        at.text_input(key="import_rates").input("GBP=1.25").run()
        assert at.metric[1].value == "0"
        preview = at.dataframe[0].value
        assert preview["Revenue"].sum() == pytest.approx(235.0)

    def test_bad_rate_is_named(self, at):
        upload(at, "accounts", "crm.csv", self.MIXED)
        at.text_input(key="import_rates").input("GBP").run()
        assert escape_markdown("write CODE=RATE") in at.error[0].value
