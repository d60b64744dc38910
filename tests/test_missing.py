"""One definition of missing for CSV, XLSX and GeoJSON (issue 11, class 7).

Only an empty cell (or a JSON null) is missing. Text such as ``NA``,
``None``, ``NaN`` or ``n/a`` is text: a valid id or name, and not a number
in a numeric column, so such a revenue or coordinate rejects its row in
every format (never 0, never the ZIP centroid in silence).
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from terrmap.io.loaders import load_accounts

ROWS = pd.DataFrame(
    {
        "id": ["NA", "A2", "A3", "A4", "A5", "A6", "A7"],
        "name": ["x", "None", "y", "z", "", "null", "w"],
        "zip": ["02139"] * 7,
        "lat": ["", "", "", "42.1", "", "", "42.2"],
        "lon": ["", "", "", "nan", "", "", "-71.1"],
        "revenue": ["1", "2", "NaN", "5", "", "n/a", "#N/A"],
    }
)


def as_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def as_xlsx(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_excel(out, index=False)
    return out.getvalue()


def as_geojson(frame: pd.DataFrame) -> bytes:
    features = [
        {
            "type": "Feature",
            "properties": {k: (v if v != "" else None) for k, v in row.items()},
            "geometry": None,
        }
        for row in frame.to_dict("records")
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def verdicts(load):
    accounts = load.accounts[["name", "revenue", "location_source"]]
    rejected = [tuple(r) for r in load.rejected.itertuples(index=False)]
    return accounts, rejected


@pytest.fixture(scope="module")
def csv_load():
    return load_accounts(as_csv(ROWS), filename="a.csv")


class TestOneDefinitionOfMissing:
    def test_csv_verdicts(self, csv_load):
        accounts, rejected = verdicts(csv_load)
        assert accounts.index.tolist() == ["NA", "A2", "A5"]
        assert accounts.loc["A2", "name"] == "None"
        assert accounts.loc["A5", "name"] == "A5"  # blank name: the id stands in
        assert accounts.loc["A5", "revenue"] == 0.0  # blank revenue counts as 0, with a warning
        assert {line: reason for line, _, reason in rejected} == {
            4: "revenue is not a number: 'NaN'",
            5: "lon is not a number: 'nan'",
            7: "revenue is not a number: 'n/a'",
            8: "revenue is not a number: '#N/A'",
        }

    @pytest.mark.parametrize(("writer", "name"), [(as_xlsx, "a.xlsx"), (as_geojson, "a.geojson")])
    def test_same_rows_same_verdicts(self, csv_load, writer, name):
        load = load_accounts(writer(ROWS), filename=name)
        accounts, rejected = verdicts(load)
        expected_accounts, expected_rejected = verdicts(csv_load)
        pd.testing.assert_frame_equal(accounts, expected_accounts)
        assert rejected == expected_rejected
        assert [w.split(": ", 1)[-1] for w in load.warnings] == list(csv_load.warnings)
