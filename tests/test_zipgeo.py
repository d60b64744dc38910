import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.geo.zipgeo import normalise_zip, zip_centroids, zip_table

CAMBRIDGE = (42.3647, -71.1042)  # 02139 in the zipcodes package


class TestNormaliseZip:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("02139", "02139"),
            (" 02139 ", "02139"),
            ("02139-4307", "02139"),
            ("02139 4307", "02139"),
            ("021394307", "02139"),
            ("2139", "02139"),  # Excel dropped the leading zero
            ("501", "00501"),
            ("2139.0", "02139"),
            ("123456", None),
            ("SW1A 1AA", None),
            ("K1A 0B6", None),
            ("", None),
            ("zip", None),
        ],
    )
    def test_text(self, raw, expected):
        result = normalise_zip(pd.Series([raw])).iloc[0]
        if expected is None:
            assert pd.isna(result)
        else:
            assert result == expected

    def test_numbers_from_a_spreadsheet(self):
        result = normalise_zip(pd.Series([2139.0, np.nan, 90210.0, 2139.5]))
        assert result.iloc[0] == "02139"
        assert pd.isna(result.iloc[1])
        assert result.iloc[2] == "90210"
        assert pd.isna(result.iloc[3])

    def test_integers(self):
        assert normalise_zip(pd.Series([2139, 501])).tolist() == ["02139", "00501"]

    def test_keeps_index_and_name(self):
        raw = pd.Series(["2139", "x"], index=[10, 20], name="Billing Zip")
        result = normalise_zip(raw)
        assert result.index.tolist() == [10, 20]
        assert result.name == "Billing Zip"

    def test_input_not_mutated(self):
        raw = pd.Series([" 2139-0000 ", None])
        before = raw.copy()
        normalise_zip(raw)
        pd.testing.assert_series_equal(raw, before)

    @given(st.integers(0, 99_999), st.integers(0, 9_999))
    def test_every_written_form_of_a_zip_agrees(self, zip_number, plus4):
        five = f"{zip_number:05d}"
        forms = pd.Series([five, str(zip_number), f"{five}-{plus4:04d}", f"{five}{plus4:04d}"])
        assert normalise_zip(forms).tolist() == [five] * 4


class TestZipCentroids:
    def test_known_and_unknown(self):
        result = zip_centroids(pd.Series(["02139", "00000", None, "SW1A 1AA"]))
        assert list(result.columns) == ["lat", "lon"]
        assert tuple(result.iloc[0]) == pytest.approx(CAMBRIDGE)
        assert result.iloc[1:].isna().all().all()

    def test_zip_plus_four_and_lost_zero_match_five_digits(self):
        result = zip_centroids(pd.Series(["02139-4307", "2139", 2139.0]))
        for row in result.itertuples(index=False):
            assert (row.lat, row.lon) == pytest.approx(CAMBRIDGE)

    def test_zips_the_package_places_at_zero_zero_have_no_position(self):
        # 09000 is an APO (military) ZIP stored as 0, 0 in the package data.
        assert zip_centroids(pd.Series(["09000"])).isna().all().all()

    def test_keeps_index(self):
        result = zip_centroids(pd.Series(["02139", "10001"], index=["a", "b"]))
        assert result.index.tolist() == ["a", "b"]

    def test_empty(self):
        result = zip_centroids(pd.Series([], dtype="str"))
        assert result.shape == (0, 2)

    def test_input_not_mutated(self):
        raw = pd.Series(["2139", "00000"])
        before = raw.copy()
        zip_centroids(raw)
        pd.testing.assert_series_equal(raw, before)


class TestZipTable:
    def test_columns_and_content(self):
        table = zip_table()
        assert list(table.columns) == ["zip", "city", "state", "lat", "lon", "zip_type", "active"]
        assert table["zip"].str.fullmatch(r"\d{5}").all()
        assert table["zip"].is_unique
        assert table[["lat", "lon"]].notna().all().all()
        assert (table["zip_type"] == "STANDARD").all() and table["active"].all()
        row = table.set_index("zip").loc["02139"]
        assert (row["city"], row["state"]) == ("Cambridge", "MA")
        assert len(table) > 25_000

    def test_all_types_is_a_superset(self):
        standard = set(zip_table()["zip"])
        everything = zip_table(standard_only=False)
        assert standard < set(everything["zip"])
        assert {"PO BOX", "UNIQUE"} <= set(everything["zip_type"])

    def test_returns_a_copy(self):
        table = zip_table(standard_only=False)
        table["lat"] = 0.0
        assert (zip_table(standard_only=False)["lat"] != 0).all()

    def test_every_table_zip_has_its_centroid(self):
        table = zip_table().sample(500, random_state=7)
        found = zip_centroids(table["zip"].reset_index(drop=True))
        np.testing.assert_allclose(found["lat"], table["lat"])
        np.testing.assert_allclose(found["lon"], table["lon"])
