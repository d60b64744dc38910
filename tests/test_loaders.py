import csv
import io
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon, box

from terrmap.core import schema
from terrmap.geo.zipgeo import zip_table
from terrmap.io.loaders import (
    AccountsLoad,
    UnusableFileError,
    load_accounts,
    load_reps,
    load_territories,
)

FIXTURES = Path(__file__).parent / "fixtures"


def centroid(zip_code):
    row = zip_table(standard_only=False).set_index("zip").loc[zip_code]
    return row["lat"], row["lon"]


def rejected_rows(load):
    return [tuple(row) for row in load.rejected.itertuples(index=False)]


def csv_bytes(*lines, end="\n"):
    return (end.join(lines) + end).encode("utf-8")


class Upload(io.BytesIO):
    """What Streamlit's file_uploader hands over: bytes with a name."""

    def __init__(self, data, name):
        super().__init__(data)
        self.name = name


# ---------------------------------------------------------------------------
# Accounts from CRM exports


@pytest.fixture(scope="module")
def salesforce():
    """tests/fixtures/salesforce_accounts.csv, a dirty Salesforce report export (CRLF).

    line 1  header (Account ID, Account Name, Billing ..., Annual Revenue, ...)
    line 2  001A "Acme, Inc."  coordinates, $1,234.50, tier A
    line 3-4 001B  "  Beta LLC  ", street spans two lines, ZIP+4, no coordinates
    line 5  001C  ZIP 3060 (lost its zero), revenue (500.00)
    line 6  001D  ZIP 00000                 -> rejected
    line 7  001E  latitude 123              -> rejected
    line 8  001F  revenue n/a               -> rejected
    line 9  001A  again                     -> rejected (duplicate)
    line 10 (no id)                         -> rejected
    line 11 blank
    line 12 001G  no coordinates, no ZIP    -> rejected
    line 13 001H  0,0 + ZIP, tier Gold      -> rejected
    line 14 001I  longitude -200            -> rejected
    line 15 001J  unquoted comma in name    -> rejected (14 fields)
    line 16 001K  0,0 and no ZIP            -> rejected
    """
    return load_accounts(FIXTURES / "salesforce_accounts.csv")


class TestSalesforceExport:
    def test_good_rows_load(self, salesforce):
        assert salesforce.accounts.index.tolist() == ["001A", "001B", "001C"]

    def test_every_rejected_row_with_line_id_and_reason(self, salesforce):
        assert rejected_rows(salesforce) == [
            (6, "001D", "unknown ZIP '00000'"),
            (7, "001E", "latitude out of range: 123 (must be -90 to 90)"),
            (8, "001F", "Annual Revenue is not a number: 'n/a'"),
            (9, "001A", "duplicate id '001A' (first on line 2)"),
            (10, None, "missing id"),
            (12, "001G", "no location: no coordinates and no ZIP"),
            (13, "001H", "unknown tier 'Gold' (expected A, B or C)"),
            (14, "001I", "longitude out of range: -200 (must be -180 to 180)"),
            (15, "001J", "has 14 fields but the header has 13 (an unquoted comma in a value?)"),
            (16, "001K", "no location: coordinates are 0, 0 and no ZIP"),
        ]

    def test_nothing_is_dropped_silently(self, salesforce):
        assert salesforce.rows == 13
        assert len(salesforce.accounts) + len(salesforce.rejected) == salesforce.rows

    def test_canonical_schema(self, salesforce):
        accounts = salesforce.accounts
        assert tuple(accounts.columns) == schema.ACCOUNT_COLUMNS
        assert accounts.index.name == schema.ACCOUNT_ID
        assert pd.api.types.is_string_dtype(accounts.index.dtype)
        for column in schema.NUMERIC_ACCOUNT_COLUMNS:
            assert accounts[column].dtype == np.float64, column
        assert accounts["is_new"].dtype == bool

    def test_text_kept_verbatim_but_stripped(self, salesforce):
        assert salesforce.accounts["name"].tolist() == ["Acme, Inc.", "Beta LLC", "Gamma Co"]

    def test_currency_values(self, salesforce):
        assert salesforce.accounts["revenue"].tolist() == [1234.5, 65000.0, -500.0]

    def test_negative_revenue_loads_with_a_warning(self, salesforce):
        assert "1 account with negative revenue (loaded as given)" in salesforce.warnings

    def test_coordinates_win_over_zip(self, salesforce):
        acme = salesforce.accounts.loc["001A"]
        assert (acme["lat"], acme["lon"]) == (42.3601, -71.0942)
        assert acme["location_source"] == "coordinates"
        assert acme["postal_code"] == "02139"

    def test_zip_plus_four_and_lost_zero_are_placed_at_the_centroid(self, salesforce):
        accounts = salesforce.accounts
        assert accounts.loc[["001B", "001C"], "postal_code"].tolist() == ["02110", "03060"]
        assert accounts.loc[["001B", "001C"], "location_source"].tolist() == ["zip", "zip"]
        assert tuple(accounts.loc["001B", ["lat", "lon"]]) == pytest.approx(centroid("02110"))
        assert tuple(accounts.loc["001C", ["lat", "lon"]]) == pytest.approx(centroid("03060"))

    def test_tier_implies_visits_and_defaults_fill_the_rest(self, salesforce):
        accounts = salesforce.accounts
        assert accounts["tier"].iloc[:2].tolist() == ["A", "B"]
        assert pd.isna(accounts.loc["001C", "tier"])
        assert accounts["visits_per_year"].tolist() == [12.0, 4.0, 4.0]
        assert accounts.loc["001C", "industry"] == "Unknown"
        assert (accounts["stage"] == "customer").all()
        assert (accounts["cost_to_serve"] == 0).all()
        assert accounts["revenue_last_year"].isna().all()
        assert accounts["owner"].tolist() == ["Ana Diaz", "Ben Ode", "Ana Diaz"]

    def test_mapping_and_source_columns(self, salesforce):
        assert salesforce.mapping["postal_code"] == "Billing Zip/Postal Code"
        assert "Type" not in salesforce.mapping.values()
        assert salesforce.source_columns[:2] == ("Account ID", "Account Name")
        assert isinstance(salesforce, AccountsLoad)

    def test_result_is_frozen(self, salesforce):
        with pytest.raises(AttributeError):
            salesforce.rows = 0

    def test_explicit_mapping_reads_salesforce_type_as_stage(self):
        load = load_accounts(FIXTURES / "salesforce_accounts.csv", {"stage": "Type"})
        assert load.accounts["stage"].tolist() == ["customer", "lead", "customer"]
        assert rejected_rows(load)[0] == (
            6,
            "001D",
            "unknown ZIP '00000'; unknown stage 'Other' (expected lead, opportunity or customer)",
        )


@pytest.fixture(scope="module")
def hubspot():
    """tests/fixtures/hubspot_companies.csv: a HubSpot company export with a UTF-8 BOM.

    5001 ZIP+4, "65000 USD", marketingqualifiedlead     5002 ZIP 2139, "$1,200,000.00"
    5003 blank revenue, Evangelist                       5004 "1.2M", opportunity
    5005 stage "Other"     -> rejected (line 6)          5006 ZIP "SW1A 1AA" -> rejected (line 7)
    5007 "Müller & Söhne, GmbH", blank stage
    """
    return load_accounts(FIXTURES / "hubspot_companies.csv")


class TestHubSpotExport:
    def test_bom_does_not_hide_the_first_column(self, hubspot):
        assert hubspot.source_columns[0] == "Record ID"
        assert hubspot.mapping["account_id"] == "Record ID"

    def test_loaded_and_rejected(self, hubspot):
        assert hubspot.accounts.index.tolist() == ["5001", "5002", "5003", "5004", "5007"]
        assert rejected_rows(hubspot) == [
            (6, "5005", "unknown stage 'Other' (expected lead, opportunity or customer)"),
            (7, "5006", "unknown ZIP 'SW1A 1AA'"),
        ]

    def test_lifecycle_stages(self, hubspot):
        assert hubspot.accounts["stage"].tolist() == [
            "lead",
            "customer",
            "customer",
            "opportunity",
            "customer",
        ]

    def test_revenue(self, hubspot):
        assert hubspot.accounts["revenue"].tolist() == [65000.0, 1.2e6, 0.0, 1.2e6, 20.0]
        assert "1 account without revenue; counted as 0" in hubspot.warnings

    def test_all_placed_by_zip(self, hubspot):
        accounts = hubspot.accounts
        assert (accounts["location_source"] == "zip").all()
        assert accounts.loc[["5001", "5002"], "postal_code"].tolist() == ["02139", "02139"]

    def test_unicode_and_owner(self, hubspot):
        assert hubspot.accounts.loc["5007", "name"] == "Müller & Söhne, GmbH"
        assert pd.isna(hubspot.accounts.loc["5003", "owner"])
        assert hubspot.accounts.loc["5001", "industry"] == "COMPUTER_SOFTWARE"


class TestEncodingsAndDelimiters:
    def test_latin1_semicolon_decimal_comma(self):
        load = load_accounts(FIXTURES / "european_accounts.csv")
        accounts = load.accounts
        assert accounts["name"].tolist() == ["Café Zürich", "Straße & Co"]
        assert accounts["lat"].tolist() == [47.3769, 52.52]
        assert accounts["lon"].tolist() == [8.5417, 13.405]
        assert accounts["revenue"].tolist() == [1234.5, 2000.0]
        assert rejected_rows(load) == [(4, "E3", "revenue is not a number: 'abc'")]

    def test_windows_1252(self):
        data = b"id,name,zip,revenue\n1,Caf\xe9,02139,\x80100\n"
        accounts = load_accounts(data, filename="a.csv").accounts
        assert accounts.loc["1", "name"] == "Café"
        assert accounts.loc["1", "revenue"] == 100.0

    def test_utf16_tab_delimited(self):
        data = "id\tname\tzip\r\n1\tÅsa AB\t02139\r\n".encode("utf-16")
        accounts = load_accounts(data, filename="a.txt").accounts
        assert accounts.loc["1", "name"] == "Åsa AB"

    def test_old_mac_line_ends(self):
        load = load_accounts(b"id,zip\r1,02139\r2,00000\r", filename="a.csv")
        assert rejected_rows(load) == [(3, "2", "unknown ZIP '00000'")]

    def test_header_after_blank_lines_and_short_rows(self):
        load = load_accounts(csv_bytes("", "", " id , zip , revenue", "1,02139", "2,00000,5"),
                             filename="a.csv")  # fmt: skip
        assert load.source_columns == ("id", "zip", "revenue")
        assert load.accounts.index.tolist() == ["1"]
        assert rejected_rows(load) == [(5, "2", "unknown ZIP '00000'")]

    def test_stray_delimiter_ending_every_row(self):
        load = load_accounts(csv_bytes("id,zip", "1,02139,", "2,10001,"), filename="a.csv")
        assert load.accounts["postal_code"].tolist() == ["02139", "10001"]
        assert load.rejected.empty

    def test_whitespace_only_cells_are_blank(self):
        load = load_accounts(csv_bytes("id,lat,lon,zip", "1,  ,  ,02139"), filename="a.csv")
        assert load.accounts.loc["1", "location_source"] == "zip"


class TestAccountValues:
    def test_numbers_that_are_not_numbers_name_column_and_value(self):
        data = csv_bytes("id,lat,lon,Cost,Visits", "1,abc,-71,5,x", "2,42,-71,--,2")
        assert rejected_rows(load_accounts(data, filename="a.csv")) == [
            (2, "1", "lat is not a number: 'abc'; Visits is not a number: 'x'"),
            (3, "2", "Cost is not a number: '--'"),
        ]

    def test_negative_cost_and_visits_are_rejected(self):
        data = csv_bytes("id,zip,cost,visits", "1,02139,-5,1", "2,02139,5,-1", "3,02139,,")
        load = load_accounts(data, filename="a.csv")
        assert rejected_rows(load) == [
            (2, "1", "cost is negative: '-5'"),
            (3, "2", "visits is negative: '-1'"),
        ]
        assert load.accounts.loc["3", ["cost_to_serve", "visits_per_year"]].tolist() == [0, 4]

    def test_blank_visits_fall_back_to_tier(self):
        data = csv_bytes("id,zip,visits,tier", "1,02139,,A", "2,02139,7,A", "3,02139,,")
        accounts = load_accounts(data, filename="a.csv").accounts
        assert accounts["visits_per_year"].tolist() == [12.0, 7.0, 4.0]

    def test_flags_products_segment_last_year(self):
        data = csv_bytes(
            "id,zip,new customer,products,segment,revenue last year",
            "1,02139,yes,Widgets;Gadgets,Enterprise,$10",
            "2,02139,,,,",
        )
        accounts = load_accounts(data, filename="a.csv").accounts
        assert accounts["is_new"].tolist() == [True, False]
        assert accounts["products"].tolist() == ["Widgets;Gadgets", ""]
        assert accounts["segment"].tolist() == ["Enterprise", "Unknown"]
        assert accounts.loc["1", "revenue_last_year"] == 10.0
        assert np.isnan(accounts.loc["2", "revenue_last_year"])

    def test_zero_zero_or_half_coordinates_fall_back_to_zip(self):
        data = csv_bytes("id,lat,lon,zip", "1,0,0,02139", "2,42.1,,02139")
        accounts = load_accounts(data, filename="a.csv").accounts
        assert (accounts["location_source"] == "zip").all()
        assert tuple(accounts.loc["2", ["lat", "lon"]]) == pytest.approx(centroid("02139"))

    def test_no_id_column_uses_line_numbers(self):
        load = load_accounts(csv_bytes("name,zip", "Acme,02139", "Beta,00000"), filename="a.csv")
        assert load.accounts.index.tolist() == ["line-2"]
        assert load.accounts.loc["line-2", "name"] == "Acme"
        assert rejected_rows(load) == [(3, None, "unknown ZIP '00000'")]
        assert any("line numbers" in warning for warning in load.warnings)

    def test_blank_name_takes_the_id(self):
        accounts = load_accounts(csv_bytes("id,name,zip", "7,,02139"), filename="a.csv").accounts
        assert accounts.loc["7", "name"] == "7"

    def test_no_revenue_column(self):
        load = load_accounts(csv_bytes("id,zip", "1,02139"), filename="a.csv")
        assert load.accounts["revenue"].tolist() == [0.0]
        assert "no revenue column: revenue set to 0" in load.warnings

    def test_all_rows_rejected_still_loads(self):
        load = load_accounts(csv_bytes("id,zip", "1,00000"), filename="a.csv")
        assert load.accounts.empty
        assert tuple(load.accounts.columns) == schema.ACCOUNT_COLUMNS
        assert len(load.rejected) == 1


ROW = st.tuples(
    st.sampled_from(["a", "b", "c", "d", "e", ""]),
    st.sampled_from(["", "42.1", "123", "abc", "0", " -33.5 "]),
    st.sampled_from(["", "-71", "-200", "x", "0", "151.2"]),
    st.sampled_from(["", "02139", "2139", "02139-1234", "00000", "SW1A 1AA"]),
    st.sampled_from(["", "$1,000", "n/a", "(5)", "1.2M", "7"]),
    st.sampled_from(["", "lead", "Other", "Customer", "Closed Won"]),
).filter(any)  # an all-blank record is a blank line, not a row


class TestInvariants:
    @settings(max_examples=25, deadline=None)
    @given(st.lists(ROW, min_size=1, max_size=12))
    def test_every_row_loads_or_is_rejected(self, rows):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "lat", "lon", "zip", "revenue", "stage"])
        writer.writerows(rows)
        load = load_accounts(buffer.getvalue().encode(), filename="a.csv")
        accounts, rejected = load.accounts, load.rejected

        assert load.rows == len(rows)
        assert len(accounts) + len(rejected) == len(rows)
        assert rejected["line"].is_monotonic_increasing and rejected["line"].is_unique
        assert set(rejected["line"]) <= set(range(2, len(rows) + 2))
        assert (rejected["reason"].str.len() > 0).all()
        assert accounts.index.is_unique and "" not in accounts.index
        first_ids = {row[0] for row in rows if row[0]}
        assert set(accounts.index) <= first_ids
        assert accounts["lat"].between(-90, 90).all() and accounts["lon"].between(-180, 180).all()
        assert set(accounts["location_source"]) <= {"coordinates", "zip"}
        assert set(accounts["stage"]) <= set(schema.STAGES)
        assert np.isfinite(accounts["revenue"]).all()


class TestMappingOverride:
    DATA = csv_bytes(
        "Customer,Sales,Sales Last Quarter,Postcode",
        "Acme,100,25,02139",
        "Beta,200,n/a,10001",
    )

    def test_override_the_guess(self):
        load = load_accounts(self.DATA, {"revenue": "Sales Last Quarter"}, filename="a.csv")
        assert load.mapping["revenue"] == "Sales Last Quarter"
        assert load.accounts["revenue"].tolist() == [25.0]
        assert rejected_rows(load) == [(3, None, "Sales Last Quarter is not a number: 'n/a'")]

    def test_none_drops_a_guess(self):
        load = load_accounts(self.DATA, {"revenue": None}, filename="a.csv")
        assert "revenue" not in load.mapping
        assert load.accounts["revenue"].tolist() == [0.0, 0.0]

    def test_mapping_not_mutated(self):
        mapping = {"revenue": "Sales Last Quarter", "owner": None}
        load_accounts(self.DATA, mapping, filename="a.csv")
        assert mapping == {"revenue": "Sales Last Quarter", "owner": None}

    def test_bad_mapping(self):
        with pytest.raises(ValueError, match="no column 'Turnover'"):
            load_accounts(self.DATA, {"revenue": "Turnover"}, filename="a.csv")


class TestSources:
    def test_path_str_and_path(self):
        path = FIXTURES / "hubspot_companies.csv"
        assert load_accounts(str(path)).accounts.equals(load_accounts(path).accounts)

    def test_upload_object_keeps_its_position(self):
        upload = Upload((FIXTURES / "hubspot_companies.csv").read_bytes(), "companies.csv")
        upload.seek(10)
        load = load_accounts(upload)
        assert len(load.accounts) == 5
        assert upload.tell() == 10

    def test_open_file_keeps_its_position(self):
        with open(FIXTURES / "reps.csv", "rb") as handle:
            handle.seek(3)
            load = load_reps(handle)
            assert handle.tell() == 3
        assert len(load.reps) == 3

    def test_bytes_without_a_name_are_sniffed(self):
        assert len(load_accounts(csv_bytes("id,zip", "1,02139")).accounts) == 1

    def test_input_bytes_not_mutated(self):
        data = bytearray(csv_bytes("id,zip", " 1 ,2139"))
        before = bytes(data)
        load_accounts(data, filename="a.csv")
        assert bytes(data) == before

    def test_fixture_file_not_modified(self):
        path = FIXTURES / "salesforce_accounts.csv"
        before = path.read_bytes()
        load_accounts(path)
        assert path.read_bytes() == before

    def test_wrong_type(self):
        with pytest.raises(TypeError, match="source must be a path"):
            load_accounts(42)  # type: ignore[arg-type]

    def test_missing_path(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            load_accounts(tmp_path / "nope.csv")


class TestExcel:
    @pytest.fixture()
    def workbook(self, tmp_path):
        """Sheet rows: 1 title, 2 blank, 3 header, 4-5 data, 6 blank, 7 a bad row."""
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["Accounts report - all regions"])
        sheet.append([])
        sheet.append(["Account ID", "Account Name", "Billing Zip/Postal Code", "Annual Revenue",
                      "New Customer"])  # fmt: skip
        sheet.append([1001, "Acme", 2139, 1234.5, True])
        sheet.append([1002, " Beta ", "02110-1234", "$65,000.00", "no"])
        sheet.append([])
        sheet.append([1003, "Gamma", "00000", 5, "maybe"])
        path = tmp_path / "accounts.xlsx"
        book.save(path)
        return path

    def test_round_trip(self, workbook):
        load = load_accounts(workbook)
        accounts = load.accounts
        assert accounts.index.tolist() == ["1001", "1002"]
        assert accounts["name"].tolist() == ["Acme", "Beta"]
        assert accounts["postal_code"].tolist() == ["02139", "02110"]
        assert accounts["revenue"].tolist() == [1234.5, 65000.0]
        assert accounts["is_new"].tolist() == [True, False]
        assert load.rows == 3

    def test_line_numbers_are_sheet_rows(self, workbook):
        assert rejected_rows(load_accounts(workbook)) == [
            (7, "1003", "unknown ZIP '00000'; New Customer is not yes/no: 'maybe'")
        ]

    def test_bytes_and_misnamed_workbook(self, workbook):
        data = workbook.read_bytes()
        by_name = load_accounts(data, filename="accounts.xlsx").accounts
        misnamed = load_accounts(data, filename="accounts.csv").accounts
        assert by_name.equals(misnamed)
        assert len(by_name) == 2

    def test_reps_from_excel(self, tmp_path):
        pd.DataFrame({"Rep ID": [7], "Name": ["Ana"], "ZIP": [2139], "Quota": [1e6]}).to_excel(
            tmp_path / "reps.xlsx", index=False
        )
        reps = load_reps(tmp_path / "reps.xlsx").reps
        assert reps.index.tolist() == ["7"]
        assert reps.loc["7", "home_town"] == "Cambridge, MA"


class TestUnusableFiles:
    @pytest.mark.parametrize(
        ("data", "filename", "message"),
        [
            (b"", "accounts.csv", "accounts.csv: the file is empty"),
            (b"\r\n \r\n", "accounts.csv", "accounts.csv: the file is empty"),
            (b"Account ID,Billing Zip/Postal Code\r\n", "a.csv", "a.csv: no data rows"),
            (bytes(range(256)) * 8, "a.csv", "a.csv: not a text file"),
            (b"id,zip\n1,2\n", "a.pdf", "a.pdf: unsupported file type '.pdf'; use CSV, Excel"),
            (b"id,zip\n1,2\n", "a.xls", r"a.xls: the old Excel \.xls format"),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a.csv", r"old Excel \.xls workbook"),
            (b"PK\x03\x04broken", "a.xlsx", "a.xlsx: not a readable Excel workbook"),
            (b'{"type": "nonsense"}', "a.geojson", "a.geojson: not a readable GeoJSON file"),
            (
                b"id,name,city\n1,Acme,Boston\n",
                "accounts.csv",
                r"^accounts\.csv: no column gives a location \(latitude/longitude or ZIP\); "
                "columns are: id, name, city$",
            ),
            (b"id,lat\n1,42\n", "a.csv", "no column gives a location"),
            (b"city,zip\nBoston,02139\n", "a.csv", "a.csv: no column gives an account id or name"),
        ],
    )
    def test_accounts(self, data, filename, message):
        with pytest.raises(UnusableFileError, match=message):
            load_accounts(data, filename=filename)

    def test_is_a_value_error(self):
        assert issubclass(UnusableFileError, ValueError)

    def test_empty_file_on_disk(self, tmp_path):
        (tmp_path / "empty.csv").write_bytes(b"")
        with pytest.raises(UnusableFileError, match="empty.csv: the file is empty"):
            load_accounts(tmp_path / "empty.csv")

    def test_reps_need_a_table(self):
        with pytest.raises(UnusableFileError, match="reps cannot be read from a GIS file"):
            load_reps(b"{}", filename="reps.geojson")

    def test_reps_need_ids_or_names(self):
        with pytest.raises(UnusableFileError, match="no column gives a rep id or name"):
            load_reps(b"quota\n5\n", filename="reps.csv")

    def test_territories_need_geometry(self, tmp_path):
        pd.DataFrame({"territory": ["N"]}).to_parquet(tmp_path / "t.parquet")
        with pytest.raises(UnusableFileError, match="t.parquet: the file has no geometry"):
            load_territories(tmp_path / "t.parquet")

    def test_territories_from_csv(self):
        with pytest.raises(UnusableFileError, match="territories cannot be read from a text"):
            load_territories(b"id\n1\n", filename="t.csv")

    def test_lone_shapefile_upload(self):
        with pytest.raises(UnusableFileError, match=r"t.shp: a shapefile needs .*one \.zip"):
            load_territories(b"\x00\x00\x27\x0a", filename="t.shp")

    def test_zip_without_shapefile(self):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "nothing here")
        with pytest.raises(UnusableFileError, match="t.zip: the zip file holds no shapefile"):
            load_territories(buffer.getvalue(), filename="t.zip")


class TestGeoAccounts:
    @pytest.fixture()
    def points(self):
        """Feature 1 a point, 2 no geometry but a ZIP, 3 nothing; in Web Mercator."""
        frame = gpd.GeoDataFrame(
            {"id": ["a", "b", "c"], "revenue": [1.5, 2.0, 3.0], "zip": [None, "02139", None]},
            geometry=[Point(-71.0, 42.0), None, None],
            crs=schema.CRS,
        )
        return frame.to_crs(3857)

    @pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet"])
    def test_formats_reprojected(self, tmp_path, points, suffix):
        path = tmp_path / f"accounts{suffix}"
        if suffix == ".parquet":
            points.to_parquet(path)
        else:
            points.to_file(path)
        load = load_accounts(path)
        accounts = load.accounts
        assert accounts.index.tolist() == ["a", "b"]
        assert tuple(accounts.loc["a", ["lat", "lon"]]) == pytest.approx((42.0, -71.0))
        assert accounts["location_source"].tolist() == ["coordinates", "zip"]
        assert accounts["revenue"].tolist() == [1.5, 2.0]
        # Feature 3 is "line 4": feature number + 1, as documented.
        assert rejected_rows(load) == [(4, "c", "no location: no coordinates and no ZIP")]

    def test_plain_parquet_table(self, tmp_path):
        pd.DataFrame({"id": [1, 2], "lat": [42.0, 99.0], "lon": [-71.0, -71.0]}).to_parquet(
            tmp_path / "a.parquet"
        )
        load = load_accounts(tmp_path / "a.parquet")
        assert load.accounts.index.tolist() == ["1"]
        assert rejected_rows(load) == [(3, "2", "latitude out of range: 99 (must be -90 to 90)")]


@pytest.fixture(scope="module")
def reps():
    """tests/fixtures/reps.csv: no id column, home by ZIP or coordinates.

    Ana (ZIP 02139, 25%), Ben (coordinates), Cy (no home),
    Dee (ZIP 00000 -> line 5), Eve (quota -5 -> line 6), Ana again (line 7).
    """
    return load_reps(FIXTURES / "reps.csv")


class TestReps:
    def test_loaded_and_rejected(self, reps):
        assert reps.reps.index.tolist() == ["Ana Diaz", "Ben Ode", "Cy Young"]
        assert rejected_rows(reps) == [
            (5, "Dee Dee", "unknown ZIP '00000'"),
            (6, "Eve Lin", "Quota is negative: '-5'"),
            (7, "Ana Diaz", "duplicate id 'Ana Diaz' (first on line 2)"),
        ]
        assert reps.rows == 6

    def test_schema(self, reps):
        assert tuple(reps.reps.columns) == schema.REP_COLUMNS
        assert reps.reps.index.name == schema.REP_ID

    def test_home_base(self, reps):
        frame = reps.reps
        assert frame.loc["Ana Diaz", "home_town"] == "Cambridge, MA"
        assert tuple(frame.loc["Ana Diaz", ["home_lat", "home_lon"]]) == pytest.approx(
            centroid("02139")
        )
        assert tuple(frame.loc["Ben Ode", ["home_lat", "home_lon"]]) == (40.7128, -74.006)
        assert frame.loc["Cy Young", ["home_lat", "home_lon"]].isna().all()
        assert "1 rep without a home base (no coordinates or ZIP)" in reps.warnings

    def test_missing_figures_are_nan_never_zero(self, reps):
        frame = reps.reps
        assert frame["capacity_hours"].isna().all()
        assert np.isnan(frame.loc["Ben Ode", "experience_years"])
        assert frame["quota"].tolist() == [1_200_000.0, 900_000.0, 800_000.0]

    def test_rates_as_fractions(self, reps):
        assert reps.reps["opportunity_to_deal"].iloc[:2].tolist() == [0.25, 0.3]

    def test_explicit_id_column(self):
        data = csv_bytes("Rep ID,Name,Home Lat,Home Lon", "R1,Ana,42,-71", "R2,,91,-71")
        load = load_reps(data, filename="reps.csv")
        assert load.reps.index.tolist() == ["R1"]
        assert load.reps.loc["R1", "name"] == "Ana"
        assert rejected_rows(load) == [(3, "R2", "latitude out of range: 91 (must be -90 to 90)")]


# ---------------------------------------------------------------------------
# Territories


@pytest.fixture()
def grid():
    """A 2x2 grid of one-degree territories near Boston, with a rep each.

    43 +------+------+
       |  NW  |  NE  |
    42 +------+------+
       |  SW  |  SE  |
    41 +------+------+
      -72    -71    -70
    """
    cells = {"SW": (-72, 41), "SE": (-71, 41), "NW": (-72, 42), "NE": (-71, 42)}
    return gpd.GeoDataFrame(
        {
            "territory": list(cells),
            "rep": ["r1", "r2", "r3", None],
            "Region": ["South", "South", "North", "North"],
        },
        geometry=[box(x, y, x + 1, y + 1) for x, y in cells.values()],
        crs=schema.CRS,
    )


def write(frame, path):
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path)
    return path


def zipped(folder, inner="shapes/"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, inner + path.name)
    return buffer.getvalue()


class TestTerritoryFormats:
    @pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet", ".shp"])
    def test_path(self, tmp_path, grid, suffix):
        load = load_territories(write(grid, tmp_path / f"territories{suffix}"))
        territories = load.territories
        assert territories.index.tolist() == ["SW", "SE", "NW", "NE"]
        assert territories.index.name == schema.TERRITORY_ID
        assert tuple(territories.columns) == schema.TERRITORY_COLUMNS
        assert territories.crs.equals(schema.CRS)
        assert territories["rep_id"].iloc[:3].tolist() == ["r1", "r2", "r3"]
        assert pd.isna(territories.loc["NE", "rep_id"])
        assert territories["region"].tolist() == ["South", "South", "North", "North"]
        assert territories["name"].tolist() == ["SW", "SE", "NW", "NE"]
        expected = grid.geometry.set_axis(territories.index)
        assert territories.geometry.geom_equals(expected).all()  # shapefiles reorient rings
        assert load.rejected.empty and load.rows == 4

    @pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet"])
    def test_upload(self, tmp_path, grid, suffix):
        data = write(grid, tmp_path / f"t{suffix}").read_bytes()
        load = load_territories(Upload(data, f"upload{suffix}"))
        assert len(load.territories) == 4

    def test_zipped_shapefile_in_a_folder(self, tmp_path, grid):
        (tmp_path / "shp").mkdir()
        write(grid, tmp_path / "shp" / "terr.shp")
        load = load_territories(zipped(tmp_path / "shp"), filename="territories.zip")
        assert load.territories.index.tolist() == ["SW", "SE", "NW", "NE"]

    def test_web_mercator_is_reprojected(self, tmp_path, grid):
        path = write(grid.to_crs(3857), tmp_path / "mercator.gpkg")
        territories = load_territories(path).territories
        assert territories.crs.equals(schema.CRS)
        np.testing.assert_allclose(territories.total_bounds, [-72, 41, -70, 43], atol=1e-9)

    def test_no_crs_in_degrees_is_assumed_wgs84(self, tmp_path, grid):
        (tmp_path / "shp").mkdir()
        write(grid, tmp_path / "shp" / "terr.shp")
        (tmp_path / "shp" / "terr.prj").unlink()
        load = load_territories(tmp_path / "shp" / "terr.shp")
        assert load.territories.crs.equals(schema.CRS)
        assert any("no coordinate reference system" in warning for warning in load.warnings)

    def test_no_crs_and_not_degrees(self, tmp_path, grid):
        (tmp_path / "shp").mkdir()
        write(grid.to_crs(3857), tmp_path / "shp" / "terr.shp")
        (tmp_path / "shp" / "terr.prj").unlink()
        with pytest.raises(UnusableFileError, match="terr.shp: the file has no coordinate"):
            load_territories(tmp_path / "shp" / "terr.shp")

    def test_input_file_not_modified(self, tmp_path, grid):
        path = write(grid, tmp_path / "t.geojson")
        before = path.read_bytes()
        load_territories(path)
        assert path.read_bytes() == before


class TestTerritoryGeometry:
    def test_repaired_and_rejected(self, tmp_path):
        """Features: 1 square, 2 bow-tie (invalid), 3 line, 4 no geometry, 5 empty, 6 3-D."""
        bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
        frame = gpd.GeoDataFrame(
            {"territory": ["A", "B", "C", "D", "E", "F"]},
            geometry=[
                box(0, 0, 1, 1),
                bowtie,
                LineString([(0, 0), (1, 1)]),
                None,
                Polygon(),
                Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5), (0, 0, 5)]),
            ],  # fmt: skip
            crs=schema.CRS,
        )
        load = load_territories(write(frame, tmp_path / "t.gpkg"))
        territories = load.territories
        assert territories.index.tolist() == ["A", "B", "F"]
        assert territories.is_valid.all()
        assert territories.loc["B"].geometry.geom_type == "MultiPolygon"
        assert territories.loc["B"].geometry.area == pytest.approx(0.5)
        assert not territories.has_z.any()
        assert rejected_rows(load) == [
            (4, "C", "geometry is a LineString, not a polygon"),
            (5, "D", "no geometry"),
            (6, "E", "empty geometry"),
        ]

    def test_sliver_with_no_area(self):
        values = np.array([Polygon([(0, 0), (1, 1), (2, 2), (0, 0)])], dtype=object)
        frame = gpd.GeoDataFrame({"territory": ["A"]}, geometry=values, crs=schema.CRS)
        load = load_territories(frame.to_json(drop_id=True).encode(), filename="t.geojson")
        assert rejected_rows(load) == [(2, "A", "geometry has no area (even after repair)")]


class TestTerritoryFields:
    def test_duplicates_rejected(self, tmp_path, grid):
        frame = pd.concat([grid, grid.iloc[[0]]], ignore_index=True)
        load = load_territories(write(frame, tmp_path / "t.geojson"))
        assert load.territories.index.tolist() == ["SW", "SE", "NW", "NE"]
        assert rejected_rows(load) == [
            (
                6,
                "SW",
                "duplicate id 'SW' (first on line 2; load with dissolve=True to merge "
                "features sharing an id)",
            ),  # fmt: skip
        ]

    def test_dissolve_merges_pieces(self, grid):
        frame = grid.assign(territory=["South", "South", "North", "North"])
        load = load_territories(
            frame.to_json(drop_id=True).encode(), filename="t.geojson", dissolve=True
        )
        territories = load.territories
        assert territories.index.tolist() == ["South", "North"]
        assert territories.loc["South"].geometry.area == pytest.approx(2.0)
        assert territories.loc["South", "rep_id"] == "r1"
        assert tuple(territories.columns) == schema.TERRITORY_COLUMNS

    def test_explicit_fields(self, grid):
        frame = grid.assign(code=[10.0, 11.0, 12.0, 13.0], label=["a", "b", "c", "d"])
        load = load_territories(
            frame.to_json(drop_id=True).encode(),
            filename="t.geojson",
            id_field="code",
            name_field="label",
            rep_field="Region",
        )
        territories = load.territories
        assert territories.index.tolist() == ["10", "11", "12", "13"]
        assert territories["name"].tolist() == ["a", "b", "c", "d"]
        assert territories["rep_id"].tolist() == ["South", "South", "North", "North"]
        assert load.mapping == {"territory_id": "code", "name": "label", "rep_id": "Region"}

    def test_unknown_field(self, grid):
        with pytest.raises(ValueError, match="no field 'zone_id'.*territory, rep, Region"):
            load_territories(
                grid.to_json(drop_id=True).encode(), filename="t.geojson", id_field="zone_id"
            )

    def test_name_field_serves_as_id(self, grid):
        frame = grid.rename(columns={"territory": "Territory Name"})
        load = load_territories(frame.to_json(drop_id=True).encode(), filename="t.geojson")
        assert load.territories.index.tolist() == ["SW", "SE", "NW", "NE"]
        assert load.mapping["territory_id"] == load.mapping["name"] == "Territory Name"

    def test_first_unique_text_field(self, grid):
        frame = grid[["geometry"]].assign(pop=[1, 2, 3, 4], kind="x", desc=["p", "q", "r", "s"])
        load = load_territories(frame.to_json(drop_id=True).encode(), filename="t.geojson")
        assert load.territories.index.tolist() == ["p", "q", "r", "s"]

    def test_feature_numbers_as_last_resort(self, grid):
        load = load_territories(
            grid[["geometry"]].to_json(drop_id=True).encode(), filename="t.geojson"
        )
        assert load.territories.index.tolist() == ["1", "2", "3", "4"]
        assert "territory_id" not in load.mapping
        assert any("feature numbers" in warning for warning in load.warnings)

    def test_missing_id_rejected(self, grid):
        frame = grid.assign(territory=["SW", None, "NW", "NE"])
        load = load_territories(frame.to_json(drop_id=True).encode(), filename="t.geojson")
        assert rejected_rows(load) == [(3, None, "missing id")]

    def test_input_frame_not_mutated(self, grid):
        before = grid.copy()
        load_territories(grid.to_json(drop_id=True).encode(), filename="t.geojson")
        assert grid.equals(before)
        assert shapely.equals(grid.geometry.to_numpy(), before.geometry.to_numpy()).all()


def test_loader_and_context_give_an_account_without_visits_the_same_visits(
    tmp_path, grid_territories
):
    from terrmap.core.context import Context
    from terrmap.io.loaders import load_accounts

    path = tmp_path / "accounts.csv"
    path.write_text("id,name,lat,lon,revenue\nA1,Acme,0.5,0.5,100\nA2,Bolt,1.5,1.5,200\n")
    loaded = load_accounts(path).accounts
    bare = loaded.drop(columns=["visits_per_year", "tier"])
    through_loader = Context.build(loaded, grid_territories).visits
    without_loader = Context.build(bare, grid_territories).visits
    assert through_loader.tolist() == without_loader.tolist()
    assert (through_loader > 0).all()  # an account is visited unless the data says otherwise
