"""Numbers read a column at a time, currencies kept apart (issue 11, classes 1 and 4)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terrmap.io.loaders import NumberOptions, UnusableFileError, load_accounts, load_reps
from terrmap.io.numbers import (
    AmbiguousNumbersError,
    NumberFormat,
    decide_format,
    header_currency,
    read_numbers,
)

FIXTURES = Path(__file__).parent / "fixtures"


def rejected_rows(load):
    return [tuple(row) for row in load.rejected.itertuples(index=False)]


def csv_bytes(*lines):
    return ("\n".join(lines) + "\n").encode("utf-8")


def german(cell: str, *, euro: bool = True) -> str:
    """Write a US-formatted number the way a German Excel does (written for the test).

    ``$1,234.50`` → ``1.234,50 €``, ``(500.00)`` → ``(500,00)``,
    ``42.3601`` → ``42,3601``; other text is left alone.
    """
    match = re.fullmatch(r"(\()?(\$)?(-?[\d,]*\d(?:\.\d+)?)(\))?", cell)
    if match is None:
        return cell
    opening, dollar, number, closing = match.groups()
    swapped = number.translate(str.maketrans({",": ".", ".": ","}))
    sign = (" €" if euro else " $") if dollar else ""
    return f"{opening or ''}{swapped}{sign}{closing or ''}"


def germanise(data: bytes, columns: tuple[str, ...], *, delimiter: str = ",") -> bytes:
    """Rewrite the given columns of a CSV German-style, quoting as a spreadsheet would."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header = rows[0]
    positions = [header.index(c) for c in columns]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows[1:]:
        row = list(row)
        for position in positions:
            if position < len(row) and len(row) == len(header):
                row[position] = german(row[position])
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


class TestDecideFormat:
    @pytest.mark.parametrize(
        ("cells", "label"),
        [
            (["65.000,00 €", "12,50 €", "7"], "1.234,56"),
            (["$1,234.50", "$65,000.00", "100"], "1,234.56"),
            (["1.234.567", "2.000"], "1.234,56"),  # a repeated mark groups thousands
            (["1,234,567", "2,000"], "1,234.56"),
            (["52,52", "3"], "1.234,56"),  # a mark not followed by 3 digits is decimal
            (["0.255"], "1,234.56"),  # a leading zero is never grouped
            (["1 234,50", "99"], "1.234,56"),
            (["1'234.50", "99"], "1,234.56"),
        ],
    )
    def test_column_decides(self, cells, label):
        fmt, guessed = decide_format(pd.Series(cells), column="Revenue")
        assert (fmt.label, guessed) == (label, False)

    def test_ambiguous_column_follows_the_hint(self):
        cells = pd.Series(["1.234", "2.500"])
        fmt, guessed = decide_format(cells, column="Cost", hint=NumberFormat("."))
        assert (fmt.label, guessed) == ("1,234.56", False)
        assert read_numbers(cells, fmt).numbers.tolist() == [1.234, 2.5]

    def test_ambiguous_column_without_hint_reads_thousands_and_says_so(self):
        cells = pd.Series(["1.234", "2.500"])
        fmt, guessed = decide_format(cells, column="Cost")
        assert guessed
        assert read_numbers(cells, fmt).numbers.tolist() == [1234.0, 2500.0]

    def test_mixed_formats_are_refused_with_examples(self):
        cells = pd.Series(["1.234,50", "1,234.50", "7,25", "3.5"])
        with pytest.raises(AmbiguousNumbersError, match="'Revenue'") as caught:
            decide_format(cells, column="Revenue")
        assert "'1,234.50'" in str(caught.value) and "'1.234,50'" in str(caught.value)

    def test_a_few_strays_do_not_refuse_the_column(self):
        cells = pd.Series(["1.234,50"] + ["7,25"] * 30)
        fmt, _ = decide_format(pd.concat([cells, pd.Series(["1,234.50"])]), column="R")
        assert fmt.label == "1.234,56"
        read = read_numbers(pd.Series(["1,234.50", "7,25"]), fmt)
        assert read.invalid.tolist() == [True, False]

    def test_coordinates_are_never_grouped(self):
        cells = pd.Series(["47.376", "8,541", "-71.060"])
        fmt, _ = decide_format(cells, column="lat", role="coordinate")
        assert read_numbers(cells, fmt).numbers.tolist() == [47.376, 8.541, -71.06]
        assert read_numbers(pd.Series(["1.234.5", "1,234.5"]), fmt).invalid.all()


class TestReadNumbers:
    def test_currency_per_cell(self):
        read = read_numbers(
            pd.Series(["$5", "5 €", "EUR 5", "£5", "US$ 5", "5 CHF", "5", "5 ABC", "$5 EUR"]),
            NumberFormat("."),
        )
        assert read.currency.iloc[:7].tolist()[:6] == ["USD", "EUR", "EUR", "GBP", "USD", "CHF"]
        assert pd.isna(read.currency.iloc[6])
        assert read.invalid.tolist() == [False] * 7 + [True, True]

    @pytest.mark.parametrize("text", ["1,2,3", "1.2.3", "12,34,567", "1,2345", "--5", "(-5)"])
    def test_badly_grouped_or_signed_is_invalid(self, text):
        read = read_numbers(pd.Series([text]), NumberFormat("."))
        assert read.invalid.iloc[0] and np.isnan(read.numbers.iloc[0])

    def test_header_currency(self):
        assert header_currency("Annual Revenue (EUR)") == "EUR"
        assert header_currency("Umsatz in €") == "EUR"
        assert header_currency("Revenue") is None

    @given(
        st.decimals(min_value=-1e9, max_value=1e9, places=2),
        st.sampled_from(["1,234.56", "1.234,56"]),
    )
    @settings(max_examples=60, deadline=None)
    def test_formatted_amounts_read_back(self, amount, label):
        value = float(amount)
        us = f"{abs(value):,.2f}"
        text = us if label == "1,234.56" else german(us)
        text = f"({text})" if value < 0 else text
        fmt, _ = decide_format(pd.Series([text]), column="x", hint=NumberFormat.parse(label))
        read = read_numbers(pd.Series([text]), fmt)
        assert not read.invalid.iloc[0]
        assert read.numbers.iloc[0] == pytest.approx(value, abs=1e-6)


class TestLoadAccountsNumbers:
    def test_euro_amount_in_a_comma_delimited_file(self):
        data = csv_bytes(
            "id,name,zip,revenue", 'A1,Acme,02139,"65.000,00 €"', 'A2,Beta,02139,"1,2,3"'
        )
        load = load_accounts(data, filename="crm.csv")
        assert load.accounts.loc["A1", "revenue"] == 65000.0
        assert load.currency == "EUR" and load.accounts.attrs["currency"] == "EUR"
        assert rejected_rows(load) == [
            (3, "A2", "revenue is not a number: '1,2,3' (the column writes 1.234,56)")
        ]

    def test_one_two_three_alone_is_refused_not_123(self):
        data = csv_bytes("id,zip,revenue", 'A1,02139,"1,2,3"', "A2,02139,5")
        load = load_accounts(data, filename="crm.csv")
        assert load.accounts.index.tolist() == ["A2"]
        assert rejected_rows(load)[0][:2] == (2, "A1")

    def test_mixed_formats_refuse_the_file_naming_the_column(self):
        data = csv_bytes(
            "id,zip,Annual Revenue",
            'A1,02139,"1.234,50"',
            'A2,02139,"1,234.50"',
            'A3,02139,"9,99"',
            "A4,02139,2.5",
        )
        with pytest.raises(UnusableFileError, match="'Annual Revenue' mixes number formats"):
            load_accounts(data, filename="crm.csv")

    def test_the_user_states_the_format(self):
        data = csv_bytes("id,zip,revenue,cost", 'A1,02139,"1.234","2.500"')
        us = load_accounts(data, filename="a.csv", numbers=NumberOptions(number_format="1,234.56"))
        assert us.accounts.loc["A1", ["revenue", "cost_to_serve"]].tolist() == [1.234, 2.5]
        guessed = load_accounts(data, filename="a.csv")
        assert guessed.accounts.loc["A1", "revenue"] == 1234.0
        assert any("read as whole thousands" in w for w in guessed.warnings)

    def test_ambiguous_column_follows_the_other_amounts(self):
        data = csv_bytes("id,zip,revenue,cost", 'A1,02139,"1.234,50","2.500"')
        load = load_accounts(data, filename="a.csv")
        assert load.accounts.loc["A1", ["revenue", "cost_to_serve"]].tolist() == [1234.5, 2500.0]
        assert not any("thousands" in w for w in load.warnings)

    def test_mixed_currencies_rejected_with_rows_listed(self):
        data = csv_bytes(
            "id,zip,revenue", "A1,02139,€100", "A2,02139,€200", "A3,02139,£50", "A4,02139,300"
        )
        load = load_accounts(data, filename="a.csv")
        assert load.currency == "EUR"
        assert load.accounts["revenue"].to_dict() == {"A1": 100.0, "A2": 200.0, "A4": 300.0}
        assert rejected_rows(load) == [
            (
                4,
                "A3",
                "revenue is in GBP ('£50') but the data set is in EUR; "
                "give an exchange rate (GBP=...) to convert it",
            )
        ]

    def test_rates_convert_other_currencies(self):
        data = csv_bytes("id,zip,revenue", "A1,02139,€100", "A2,02139,£50")
        options = NumberOptions(currency="EUR", rates={"GBP": 1.2})
        load = load_accounts(data, filename="a.csv", numbers=options)
        assert load.accounts["revenue"].to_dict() == {"A1": 100.0, "A2": 60.0}
        assert load.rejected.empty

    def test_header_names_the_currency(self):
        data = csv_bytes("id,zip,Annual Revenue (GBP)", "A1,02139,100")
        assert load_accounts(data, filename="a.csv").currency == "GBP"

    def test_no_currency_named_is_none(self):
        data = csv_bytes("id,zip,revenue", "A1,02139,100")
        load = load_accounts(data, filename="a.csv")
        assert load.currency is None

    def test_bad_options_are_named(self):
        with pytest.raises(ValueError, match="unknown number format"):
            NumberOptions(number_format="1-234")
        with pytest.raises(ValueError, match="GBP"):
            NumberOptions(rates={"GBP": -1})
        data = csv_bytes("id,zip,revenue", "A1,02139,100")
        with pytest.raises(ValueError, match="unknown currency"):
            load_accounts(data, filename="a.csv", numbers=NumberOptions(currency="Euro"))

    def test_three_decimal_coordinates_in_a_semicolon_file(self):
        data = csv_bytes("id;lat;lon;revenue", "Z1;47,376;8,541;1.500", "Z2;47.376;8.541;2.000")
        load = load_accounts(data, filename="eu.csv")
        assert load.rejected.empty
        assert load.accounts["lat"].tolist() == [47.376, 47.376]
        assert load.accounts["lon"].tolist() == [8.541, 8.541]
        assert load.accounts["revenue"].tolist() == [1500.0, 2000.0]

    def test_rep_quota_in_euros(self):
        data = csv_bytes("Rep,Home ZIP,Quota", 'Ana,02139,"1.200.000 €"', "Bo,02139,900")
        load = load_reps(data, filename="reps.csv")
        assert load.reps["quota"].tolist() == [1_200_000.0, 900.0]
        assert load.currency == "EUR"


class TestGermanExport:
    """A German-formatted copy of a US export gives the same figures."""

    MONEY = ("Annual Revenue",)
    COORDINATES = ("Billing Latitude", "Billing Longitude")

    def test_salesforce_fixture(self):
        us_data = (FIXTURES / "salesforce_accounts.csv").read_bytes()
        us = load_accounts(us_data, filename="us.csv")
        de_data = germanise(us_data, self.MONEY + self.COORDINATES)
        assert b'"1.234,50 \xe2\x82\xac"' in de_data  # the fixture really changed
        de = load_accounts(de_data, filename="de.csv")
        columns = ["revenue", "lat", "lon", "postal_code"]
        pd.testing.assert_frame_equal(de.accounts[columns], us.accounts[columns])
        assert de.rejected["line"].tolist() == us.rejected["line"].tolist()
        assert (us.currency, de.currency) == ("USD", "EUR")

    @pytest.mark.parametrize("delimiter", [",", ";"])
    def test_generated_export_territory_figures(self, delimiter):
        from terrmap.io.importing import prepare_import

        rng = np.random.default_rng(11)
        n = 366
        revenue = rng.integers(100, 5_000_000, n) / 100
        cost = rng.integers(100, 900_000, n) / 100
        lines = ["Account ID,Account Name,Billing Latitude,Billing Longitude,"
                 "Annual Revenue,Cost to Serve,Account Owner"]  # fmt: skip
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(lines[0].split(","))
        for i in range(n):
            writer.writerow(
                [
                    f"001{i:04d}",
                    f"Account {i}",
                    f"{rng.uniform(40.5, 42.5):.4f}",
                    f"{rng.uniform(-74.0, -71.0):.3f}",
                    f"${revenue[i]:,.2f}",
                    f"{cost[i]:,.2f}",
                    f"Rep {i % 10}",
                ]
            )
        us_data = out.getvalue().encode()
        de_data = germanise(
            us_data,
            ("Billing Latitude", "Billing Longitude", "Annual Revenue", "Cost to Serve"),
            delimiter=delimiter,
        )
        us = prepare_import(us_data, filenames={"accounts": "us.csv"})
        de = prepare_import(de_data, filenames={"accounts": "de.csv"})
        assert us.n_accounts == de.n_accounts == n
        figures = ["accounts", "revenue", "cost"]
        us_metrics = us.workspace.initial_plan.metrics()[figures]
        de_metrics = de.workspace.initial_plan.metrics()[figures]
        pd.testing.assert_frame_equal(de_metrics, us_metrics)
        assert us_metrics["revenue"].sum() == pytest.approx(revenue.sum())


class TestCliNumberOptions:
    DATA = csv_bytes(
        "id,zip,revenue", 'A1,02139,"1.234"', "A2,02139,£50", "A3,02139,€10", "A4,02139,€5"
    )

    def _check(self, tmp_path, capsys, *options, mapping=None):
        import json

        from terrmap.cli import main

        path = tmp_path / "a.csv"
        path.write_bytes(self.DATA)
        argv = ["check", str(path), "--format", "json", *options]
        if mapping is not None:
            (tmp_path / "m.json").write_text(json.dumps(mapping))
            argv += ["--mapping", str(tmp_path / "m.json")]
        code = main(argv)
        return code, json.loads(capsys.readouterr().out)

    def test_defaults_reject_the_other_currency(self, tmp_path, capsys):
        code, report = self._check(tmp_path, capsys)
        assert code == 1
        assert [r["line"] for r in report["rejected"]] == [3]
        assert report["currency"] == "EUR"
        assert report["number_formats"] == {"revenue": "1.234,56"}

    def test_options_state_format_currency_and_rates(self, tmp_path, capsys):
        code, report = self._check(
            tmp_path, capsys, "--number-format", "1,234.56", "--currency", "EUR", "--rate", "GBP=2"
        )
        assert code == 0 and report["good"] == 4
        assert report["number_formats"] == {"revenue": "1,234.56"}

    def test_mapping_file_states_them_too(self, tmp_path, capsys):
        mapping = {"revenue": "revenue", "number_format": "1.234,56", "rates": {"GBP": 2}}
        code, report = self._check(tmp_path, capsys, mapping=mapping)
        assert code == 0 and report["currency"] == "EUR"

    def test_bad_rate_is_one_line(self, tmp_path, capsys):
        from terrmap.cli import main

        path = tmp_path / "a.csv"
        path.write_bytes(self.DATA)
        assert main(["check", str(path), "--rate", "GBP"]) == 2
        assert "expected CODE=RATE" in capsys.readouterr().err

    def test_metrics_uses_the_options(self, tmp_path, capsys):
        import json

        from terrmap.cli import main

        accounts = tmp_path / "a.csv"
        accounts.write_bytes(csv_bytes("id,lat,lon,revenue", 'A1,0.5,0.5,"1.234,50 €"'))
        square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
        feature = {"type": "Feature", "properties": {"territory": "T"}, "geometry": square}
        (tmp_path / "t.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "features": [feature]})
        )
        argv = ["metrics", str(accounts), "--territories", str(tmp_path / "t.geojson")]
        assert main([*argv, "--format", "json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["territories"][0]["revenue"] == 1234.5


class TestVectorisedSplit:
    """Cells are split with RE2 in one call; the parts are those Python's re finds."""

    # Characters money cells are made of, and the odd ones that tell the engines apart:
    # Unicode digits and spaces (re's \d and \s are Unicode-wide, RE2's ASCII-only),
    # letters after a code (the dropped lookahead), brackets, signs, suffixes.
    PIECES = st.sampled_from(
        [*"0123456789", *".,' ", "$", "€", "£", "US$", "C$", "EUR", "USD", "EURO", "CHF",
         "K", "M", "MM", "BN", "E", "%", "(", ")", "-", "+", "\u2212", "\u00a0", "\u2003",
         "\t", "\x0b", "\x1c", "\u0663", "\uff15", "FR.", "ZŁ", "X"]
    )  # fmt: skip

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.lists(PIECES, max_size=8).map("".join), min_size=1, max_size=20))
    def test_parts_are_those_of_the_python_pattern(self, cells):
        from terrmap.io.numbers import _CELL, _extract_cells

        values = pd.Series(cells, dtype="str").str.upper()
        expected = values.str.extract(_CELL)
        got = _extract_cells(values)
        assert list(got.columns) == list(expected.columns)
        for column in expected.columns:
            assert got[column].tolist() == expected[column].tolist(), column

    def test_a_typical_column(self):
        from terrmap.io.numbers import _extract_cells

        got = _extract_cells(pd.Series(["$1,234.50", "65.000,00 €", "(5 MEUR)", "abc"]))
        assert got["cur1"].tolist()[:1] == ["$"]
        assert got["core"].tolist()[:3] == ["1,234.50", "65.000,00", "5"]
        assert got[["suffix", "cur2"]].iloc[2].tolist() == ["M", "EUR"]
        assert got.iloc[3].isna().all()
