"""One format for money, numbers, percents, counts and times (terrmap.core.formatting)."""

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.core import formatting as fmt


class TestMissing:
    @pytest.mark.parametrize(
        "value", [None, float("nan"), np.inf, -np.inf, pd.NA, np.float32("nan")]
    )
    def test_every_formatter_reads_missing_as_a_dash(self, value):
        assert fmt.money(value) == "—"
        assert fmt.number(value) == "—"
        assert fmt.percent(value) == "—"
        assert fmt.signed_money(value) == "—"
        assert fmt.signed_percent(value) == "—"

    def test_text_is_refused_by_name(self):
        with pytest.raises(TypeError, match="'12'"):
            fmt.money("12")


class TestMoney:
    def test_dollars_by_default(self):
        assert fmt.money(581900.4) == "$581,900"
        assert fmt.money(-1234.5) == "-$1,234"
        assert fmt.money(0) == "$0"

    def test_no_scientific_notation(self):
        assert fmt.money(5.819e5) == "$581,900"
        assert fmt.money(1.2e12) == "$1,200,000,000,000"
        assert fmt.number(3.0e-7, 2) == "0.00"

    def test_minus_zero_has_no_sign(self):
        assert fmt.money(-0.3) == "$0"
        assert fmt.number(-0.004, 2) == "0.00"

    def test_currency_of_the_data(self):
        assert fmt.money(1200, "EUR") == "€1,200"
        assert fmt.money(1200, "gbp") == "£1,200"
        assert fmt.money(-1200, "CHF") == "-1,200 CHF"
        assert fmt.money(1200, None) == "$1,200"
        assert fmt.money(1200, "") == "$1,200"

    def test_bad_currency_named(self):
        with pytest.raises(ValueError, match="'dollars'"):
            fmt.money(1, "dollars")

    def test_cents_when_asked(self):
        assert fmt.money(1234.567, digits=2) == "$1,234.57"

    def test_signed(self):
        assert fmt.signed_money(1200) == "+$1,200"
        assert fmt.signed_money(-300) == "-$300"
        assert fmt.signed_money(0.2) == "$0"

    @given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False))
    def test_money_reads_back_as_the_rounded_amount(self, value):
        text = fmt.money(value)
        assert "e" not in text
        digits = text.replace("$", "").replace(",", "")
        assert abs(float(digits) - value) <= 0.5 + 1e-9 * abs(value)


class TestNumbersAndPercents:
    def test_thousands(self):
        assert fmt.number(1212) == "1,212"
        assert fmt.number(76835.5359, 1) == "76,835.5"

    def test_percent(self):
        assert fmt.percent(0.609318) == "61%"
        assert fmt.percent(5.8) == "580%"
        assert fmt.percent(0.609318, 1) == "60.9%"

    def test_signed_percent_is_already_in_percent(self):
        assert fmt.signed_percent(-60) == "-60.0%"
        assert fmt.signed_percent(12.34) == "+12.3%"
        assert fmt.signed_number(0) == "0"


class TestCounts:
    @pytest.mark.parametrize(
        ("n", "noun", "expected"),
        [
            (1, "account", "1 account"),
            (2, "account", "2 accounts"),
            (0, "account", "0 accounts"),
            (1212, "account", "1,212 accounts"),
            (1, "territory", "1 territory"),
            (3, "territory", "3 territories"),
            (2, "move", "2 moves"),
            (2, "box", "2 boxes"),
            (2, "day", "2 days"),
            (-1, "account", "-1 account"),
        ],
    )
    def test_plurals(self, n, noun, expected):
        assert fmt.count(n, noun) == expected

    def test_irregular_given(self):
        assert fmt.count(2, "criterion", "criteria") == "2 criteria"


class TestTimestamp:
    def test_aware_utc(self):
        moment = datetime(2026, 12, 2, 0, 40, 29, tzinfo=UTC)
        assert fmt.timestamp(moment) == "2 Dec 2026, 00:40 UTC"

    def test_other_zone_converted(self):
        moment = datetime(2026, 12, 3, 15, 5, tzinfo=timezone(timedelta(hours=1)))
        assert fmt.timestamp(moment) == "3 Dec 2026, 14:05 UTC"

    def test_naive_and_text_taken_as_utc(self):
        assert fmt.timestamp(pd.Timestamp("2026-12-03 14:05:59")) == "3 Dec 2026, 14:05 UTC"
        assert fmt.timestamp("2026-12-02 00:40:29+00:00") == "2 Dec 2026, 00:40 UTC"

    def test_missing(self):
        assert fmt.timestamp(None) == "—"
        assert fmt.timestamp(pd.NaT) == "—"


def test_excel_formats():
    assert fmt.excel_money_format() == '"$"#,##0;-"$"#,##0'
    assert fmt.excel_money_format("CHF") == '#,##0" CHF";-#,##0" CHF"'
