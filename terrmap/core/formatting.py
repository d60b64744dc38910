"""One way to write money, numbers, percents, counts and times for people.

Every page, report, log line and message formats figures through these
functions, so a figure reads the same everywhere: thousands separators, never
scientific notation, the data set's currency, ``—`` for anything missing
(``None``, NaN, infinities), correct plurals and human timestamps.

Examples
--------
>>> money(1234567.8)
'$1,234,568'
>>> money(-581900, "EUR")
'-€581,900'
>>> percent(0.6093)
'61%'
>>> count(1, "account"), count(2, "account"), count(3, "territory")
('1 account', '2 accounts', '3 territories')
>>> number(float("nan"))
'—'
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from numbers import Real

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_CURRENCY",
    "MISSING",
    "count",
    "currency_symbol",
    "excel_money_format",
    "money",
    "number",
    "percent",
    "plural",
    "signed_money",
    "signed_number",
    "signed_percent",
    "timestamp",
]

#: What a missing, undefined or infinite figure reads as.
MISSING = "—"

#: The currency when the data says nothing.
DEFAULT_CURRENCY = "USD"

# Codes whose symbol goes before the amount with no space; any other code is
# written after the amount ("1,200 CHF"), which is unambiguous everywhere.
_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "¥",
    "INR": "₹",
    "KRW": "₩",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "MXN": "MX$",
    "BRL": "R$",
}

_IRREGULAR = {"territory": "territories", "person": "people", "opportunity": "opportunities"}


def _value(value: object) -> float | None:
    """Return the value as a finite float, or None when it is missing or infinite."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return float(value)
    if not isinstance(value, Real | np.number):
        raise TypeError(f"expected a number, got {value!r} ({type(value).__name__})")
    number_ = float(value)
    return number_ if math.isfinite(number_) else None


def _code(currency: str | None) -> str:
    if currency is None or (isinstance(currency, float) and math.isnan(currency)):
        return DEFAULT_CURRENCY
    code = str(currency).strip().upper()
    if not code:
        return DEFAULT_CURRENCY
    if not (code.isalpha() and len(code) == 3) and code not in _SYMBOLS.values():
        raise ValueError(f"currency must be a three-letter code such as 'USD', got {currency!r}")
    return code


def currency_symbol(currency: str | None = None) -> str:
    """Return the symbol written with amounts of a currency (the code when none is known).

    Parameters
    ----------
    currency : str, optional
        ISO 4217 code (``"EUR"``); ``None`` or empty means :data:`DEFAULT_CURRENCY`.

    Returns
    -------
    str
        ``"$"`` for USD, ``"€"`` for EUR, ``"CHF"`` for CHF.

    Raises
    ------
    ValueError
        When ``currency`` is not a three-letter code.
    """
    code = _code(currency)
    return _SYMBOLS.get(code, code)


def money(value: object, currency: str | None = None, *, digits: int = 0) -> str:
    """Format money: ``$1,234``, ``-€5,800``, ``1,200 CHF``; ``—`` when missing.

    Parameters
    ----------
    value : number or None
        The amount.
    currency : str, optional
        ISO 4217 code of the data set; ``None`` means :data:`DEFAULT_CURRENCY`.
    digits : int, default 0
        Decimals (whole units unless asked).

    Returns
    -------
    str
        The amount with thousands separators and the sign in front.
    """
    amount = _value(value)
    if amount is None:
        return MISSING
    code = _code(currency)
    digits_text = f"{abs(amount):,.{digits}f}"
    sign = "-" if amount < 0 and float(digits_text.replace(",", "")) != 0 else ""
    symbol = _SYMBOLS.get(code)
    if symbol is None:
        return f"{sign}{digits_text} {code}"
    return f"{sign}{symbol}{digits_text}"


def signed_money(value: object, currency: str | None = None) -> str:
    """Format a change of money with its sign: ``+$1,200``, ``-$300``; ``—`` when missing."""
    amount = _value(value)
    text = money(amount, currency)
    return f"+{text}" if amount is not None and round(amount) > 0 else text


def number(value: object, digits: int = 0) -> str:
    """Format a number with thousands separators: ``12,345``, ``0.61``; ``—`` when missing.

    Parameters
    ----------
    value : number or None
        The number.
    digits : int, default 0
        Decimals.

    Returns
    -------
    str
        Never scientific notation.
    """
    amount = _value(value)
    if amount is None:
        return MISSING
    text = f"{amount:,.{digits}f}"
    return text[1:] if text.startswith("-") and float(text[1:].replace(",", "")) == 0 else text


def signed_number(value: object, digits: int = 0) -> str:
    """Format a change with its sign: ``+12``, ``-3``, ``0``; ``—`` when missing."""
    text = number(value, digits)
    return text if text == MISSING or text.startswith("-") or _is_zero(text) else f"+{text}"


def _is_zero(text: str) -> bool:
    return float(text.replace(",", "")) == 0


def percent(value: object, digits: int = 0) -> str:
    """Format a fraction as a percent: ``0.6093`` -> ``61%``; ``—`` when missing.

    Parameters
    ----------
    value : number or None
        The fraction (1.0 is 100 %).
    digits : int, default 0
        Decimals of the percent.

    Returns
    -------
    str
        With thousands separators for large percents (``5,800%``).
    """
    amount = _value(value)
    if amount is None:
        return MISSING
    return f"{number(amount * 100, digits)}%"


def signed_percent(value: object, digits: int = 1) -> str:
    """Format a change already in percent: ``12.3`` -> ``+12.3%``; ``—`` when missing."""
    amount = _value(value)
    if amount is None:
        return MISSING
    return f"{signed_number(amount, digits)}%"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """Return the noun that goes with ``n``: ``account``/``accounts``, ``territories``.

    Parameters
    ----------
    n : int
        How many.
    singular : str
        The noun for one.
    plural_form : str, optional
        The noun for any other number; by default English rules.

    Returns
    -------
    str
        The noun only.
    """
    if abs(n) == 1:
        return singular
    if plural_form is not None:
        return plural_form
    if singular in _IRREGULAR:
        return _IRREGULAR[singular]
    if singular.endswith("y") and singular[-2:-1] not in "aeiou":
        return singular[:-1] + "ies"
    if singular.endswith(("s", "x", "ch", "sh")):
        return singular + "es"
    return singular + "s"


def count(n: object, singular: str, plural_form: str | None = None) -> str:
    """Format a count with its noun: ``1 account``, ``1,212 accounts``, ``0 territories``.

    Parameters
    ----------
    n : int
        How many (``None``/NaN reads as ``—``).
    singular, plural_form : str
        See :func:`plural`.

    Returns
    -------
    str
        The number with thousands separators and the noun.
    """
    amount = _value(n)
    if amount is None:
        return f"{MISSING} {plural(2, singular, plural_form)}"
    whole = int(round(amount))
    return f"{whole:,} {plural(whole, singular, plural_form)}"


def timestamp(value: object) -> str:
    """Format a moment as people read it: ``3 Dec 2026, 14:05 UTC``; ``—`` when missing.

    Parameters
    ----------
    value : datetime, pandas.Timestamp, ISO string or None
        A naive value is taken as UTC; an aware one is converted to UTC.

    Returns
    -------
    str
        Day, month, year, hours and minutes in UTC.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING
    moment = pd.Timestamp(value)
    if pd.isna(moment):
        return MISSING
    moment = moment.tz_localize(UTC) if moment.tzinfo is None else moment.tz_convert(UTC)
    when: datetime = moment.to_pydatetime()
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


def excel_money_format(currency: str | None = None) -> str:
    """Return the Excel number format of whole amounts in a currency, negatives with a minus.

    Parameters
    ----------
    currency : str, optional
        ISO 4217 code; ``None`` means :data:`DEFAULT_CURRENCY`.

    Returns
    -------
    str
        E.g. ``'"$"#,##0'`` or ``'#,##0" CHF"'``.
    """
    code = _code(currency)
    symbol = _SYMBOLS.get(code)
    if symbol is None:
        return f'#,##0" {code}";-#,##0" {code}"'
    return f'"{symbol}"#,##0;-"{symbol}"#,##0'
