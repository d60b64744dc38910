"""Read the numbers of a file the way a careful person would: a column at a time.

A cell like ``1.234`` means one thousand two hundred and thirty-four in a
German export and one point two three four in an American one; the cell
alone cannot say which. A person looks at the whole column (and at the other
amount columns of the file): one ``65.000,00`` settles that the comma is the
decimal mark, one ``1,234.50`` that it is the dot. :func:`decide_format` does
that; :func:`read_numbers` then reads every cell with the format decided, so
a cell that does not fit it (``1,2,3``, or ``1.234,5`` in a column of
``1,234.50``) is invalid and its row is rejected naming the value.

Rules, in order:

1. A format the user stated wins (``"1.234,56"``, ``"1,234.56"``, ...; see
   :data:`FORMATS`).
2. Cells that fit only one format decide it: both marks in one cell (the
   rightmost is the decimal mark), a mark repeated (``1.234.567``: it
   groups thousands), a mark not followed by exactly three digits
   (``52,52``: it is the decimal mark), or a leading zero (``0.255``).
   When both formats have such cells the column is refused
   (:class:`AmbiguousNumbersError`, naming the column and examples), unless
   one format explains all but a handful of cells (at most 1 in 20): those
   few are then invalid.
3. A column whose marks could be either (``1.234``, ``2.500``) follows the
   file: the format the file's other amount columns decided (``hint``).
4. Otherwise, for amounts, a mark followed by exactly three digits groups
   thousands (money is not written with three decimals); the caller says so
   in a warning. Coordinates are never grouped: for them (``role="coordinate"``)
   either mark is the decimal mark and a cell may hold only one.

Currency symbols and codes are read per cell (``$``, ``€``, ``£``, ``¥``,
``US$``, ``C$``, ``A$`` and ISO 4217 codes before or after the number);
:func:`read_numbers` returns them so the caller can decide the data set's
currency and refuse a column that mixes currencies.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CURRENCY_CODES",
    "FORMATS",
    "AmbiguousNumbersError",
    "NumberFormat",
    "NumbersRead",
    "decide_format",
    "header_currency",
    "read_numbers",
]

Role = Literal["amount", "coordinate"]

#: ISO 4217 codes recognised next to a number (the currencies of the
#: markets CRM exports come from; an unknown three-letter word is not a code).
CURRENCY_CODES: frozenset[str] = frozenset(
    (
        "USD EUR GBP JPY CHF CAD AUD NZD SEK NOK DKK PLN CZK HUF RON BGN HRK ISK TRY RUB "
        "UAH ILS AED SAR QAR KWD BHD OMR EGP ZAR NGN KES MAD INR PKR BDT LKR CNY HKD TWD "
        "KRW SGD MYR THB IDR PHP VND MXN BRL ARS CLP COP PEN UYU"
    ).split()
)

_SYMBOLS = {
    "$": "USD",
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₺": "TRY",
    "ZŁ": "PLN",
    "KČ": "CZK",
    "FR.": "CHF",
    "R$": "BRL",
}

_MULTIPLIERS = {"": 1.0, "K": 1e3, "M": 1e6, "MM": 1e6, "MN": 1e6, "B": 1e9, "BN": 1e9}

_CURRENCY = r"US\$|CA?\$|AU?\$|NZ\$|R\$|[$€£¥₹₩₺]|ZŁ|KČ|FR\.|[A-Z]{3}(?![A-Z])"
_CELL = re.compile(
    rf"""^\(?\s*(?P<sign>[-+\u2212])?\s*(?P<cur1>{_CURRENCY})?\s*(?P<sign2>[-+\u2212])?\s*
    (?P<core>\d(?:[\d.,' ]*\d)?|[.,]\d+)
    (?:[eE](?P<exp>[-+]?\d+))?
    \s*(?P<suffix>MM|MN|BN|K|M|B)?\s*(?P<pct>%)?\s*(?P<cur2>{_CURRENCY})?\s*(?P<trail>-)?\s*\)?$""",
    re.VERBOSE,
)
_CELL_PARTS = tuple(_CELL.groupindex)


@functools.cache
def _cell_re2() -> str:
    r"""Return :data:`_CELL` in RE2's syntax, matching exactly the same cells.

    RE2 (pyarrow's regex engine) splits a column in one vectorised call where
    ``re`` takes a Python call per cell. Python's ``\d`` and ``\s`` are
    Unicode-wide, RE2's ASCII-only, so both are spelt out as the very
    characters ``re`` matches.
    The lookahead after a three-letter code is dropped: every character that
    may follow a currency in the pattern is a space, sign, digit, mark,
    bracket or the end, never a letter, so it decides nothing.
    """
    every = "".join(map(chr, range(0x110000)))
    ranges = {key: _re2_ranges([ord(c) for c in re.findall(f"\\{key}", every)]) for key in "ds"}
    source = _CELL.pattern.replace("(?![A-Z])", "")
    out, in_class, position = [], False, 0
    while position < len(source):
        char = source[position]
        if char == "\\":
            escaped = source[position + 1]
            if escaped in ranges:
                out.append(ranges[escaped] if in_class else f"[{ranges[escaped]}]")
            elif escaped == "u":
                out.append(f"\\x{{{source[position + 2 : position + 6]}}}")
                position += 4
            else:
                out.append(source[position : position + 2])
            position += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char.isspace() and not in_class:
            char = ""  # VERBOSE: white space outside a class is layout
        out.append(char)
        position += 1
    return "".join(out)


def _re2_ranges(points: list[int]) -> str:
    """Return sorted code points as RE2 class ranges (no brackets)."""
    starts = [p for k, p in enumerate(points) if k == 0 or points[k - 1] != p - 1]
    ends = [p for k, p in enumerate(points) if k == len(points) - 1 or points[k + 1] != p + 1]
    return "".join(
        f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}"
        for a, b in zip(starts, ends, strict=True)
    )


# Cells a machine wrote, read without the full pattern.
_INTEGER = re.compile(r"[-+]?\d+")
_DECIMAL = re.compile(r"[-+]?\d+(?:\.\d+)?")

# Grouping marks: space-like characters and the apostrophe group in any format.
_SPACES = re.compile("[\u00a0\u202f\u2009]")


@dataclass(frozen=True)
class NumberFormat:
    """How a column writes numbers: its decimal mark and thousands marks.

    Attributes
    ----------
    decimal : str
        ``"."`` or ``","``.
    grouping : bool, default True
        Whether thousands may be grouped (``1,234``); False for coordinates.
    """

    decimal: str
    grouping: bool = True

    @property
    def thousands(self) -> str:
        """The marks that may group thousands."""
        if not self.grouping:
            return ""
        return ("," if self.decimal == "." else ".") + " '"

    @property
    def label(self) -> str:
        """The format as the user writes it: ``"1,234.56"`` or ``"1.234,56"``."""
        return "1,234.56" if self.decimal == "." else "1.234,56"

    @classmethod
    def parse(cls, spec: str) -> NumberFormat:
        """Read a format the user states: an example number or a name.

        Parameters
        ----------
        spec : str
            One of :data:`FORMATS` (``"1,234.56"``, ``"1.234,56"``,
            ``"1 234,56"``, ``"1'234.56"``, ``"1234.56"``, ``"1234,56"``) or
            ``"decimal point"`` / ``"decimal comma"`` (also ``"us"``, ``"de"``).

        Returns
        -------
        NumberFormat

        Raises
        ------
        ValueError
            If ``spec`` is none of those, naming the choices.

        Examples
        --------
        >>> NumberFormat.parse("1.234,56").decimal
        ','
        """
        key = " ".join(str(spec).strip().lower().split())
        if key in FORMATS:
            return FORMATS[key]
        raise ValueError(
            f"unknown number format {spec!r}; use one of: {', '.join(sorted(FORMATS))}"
        )


_POINT = NumberFormat(".")
_COMMA = NumberFormat(",")

#: Number formats a user can state, by the way they are written.
FORMATS: dict[str, NumberFormat] = {
    "1,234.56": _POINT,
    "1'234.56": _POINT,
    "1 234.56": _POINT,
    "1234.56": _POINT,
    "decimal point": _POINT,
    "point": _POINT,
    "us": _POINT,
    "en": _POINT,
    "1.234,56": _COMMA,
    "1 234,56": _COMMA,
    "1234,56": _COMMA,
    "decimal comma": _COMMA,
    "comma": _COMMA,
    "de": _COMMA,
    "eu": _COMMA,
}


class AmbiguousNumbersError(ValueError):
    """A column's cells disagree on the number format; the user must state it."""

    def __init__(self, column: str, examples: dict[str, list[str]]) -> None:
        self.column = column
        self.examples = examples
        shown = "; ".join(
            f"{label}: {', '.join(repr(v) for v in values)}" for label, values in examples.items()
        )
        super().__init__(
            f"column {column!r} mixes number formats ({shown}); "
            "state the format (1,234.56 or 1.234,56) for this file"
        )


@dataclass(frozen=True, eq=False)
class NumbersRead:
    """The outcome of :func:`read_numbers`.

    Attributes
    ----------
    numbers : pandas.Series
        float64; NaN for blanks and invalid cells.
    invalid : pandas.Series
        bool, True where a cell is not blank but not a number in the format.
    currency : pandas.Series
        ISO 4217 code of the currency written in each cell (missing when the
        cell names none).
    """

    numbers: pd.Series
    invalid: pd.Series
    currency: pd.Series


@dataclass(frozen=True, eq=False)
class _Cells:
    """Cells split into their parts (see :data:`_CELL`)."""

    blank: pd.Series
    parts: pd.DataFrame  # columns of _CELL, for the cells neither blank nor plain
    plain: pd.Series  # True where the cell is a plain machine number (fast path)


def header_currency(name: str) -> str | None:
    """Return the currency a column header names (``"Revenue (EUR)"``, ``"Umsatz €"``).

    Parameters
    ----------
    name : str
        A column name.

    Returns
    -------
    str or None
        An ISO 4217 code, or None.

    Examples
    --------
    >>> header_currency("Annual Revenue (EUR)"), header_currency("Revenue")
    ('EUR', None)
    """
    upper = str(name).upper()
    for word in re.findall(r"[A-Z]{3}", upper):
        if word in CURRENCY_CODES and re.search(rf"(?<![A-Z]){word}(?![A-Z])", upper):
            return word
    for symbol in ("€", "£", "¥", "$"):
        if symbol in upper:
            return _SYMBOLS[symbol]
    return None


def decide_format(
    values: pd.Series,
    *,
    column: str,
    role: Role = "amount",
    hint: NumberFormat | None = None,
) -> tuple[NumberFormat, bool]:
    """Decide a column's number format from all its cells.

    Parameters
    ----------
    values : pandas.Series
        The column's text (or numbers, which need no decision). Not modified.
    column : str
        The column's name, for the error message.
    role : {"amount", "coordinate"}, default "amount"
        Coordinates are never thousands-grouped.
    hint : NumberFormat, optional
        The format the file's other amount columns decided (rule 3).

    Returns
    -------
    format : NumberFormat
        The format to read the column with.
    guessed : bool
        True when the column alone could not decide and rule 4 applied
        (some cell such as ``1.234`` was read as grouped thousands): the
        caller should tell the user.

    Raises
    ------
    AmbiguousNumbersError
        Both formats have cells only they can read, in comparable numbers.

    Examples
    --------
    >>> decide_format(pd.Series(["65.000,00 €", "12,50 €"]), column="Revenue")[0].label
    '1.234,56'
    >>> decide_format(pd.Series(["$1,234.50", "100"]), column="Revenue")[0].label
    '1,234.56'
    """
    if role == "coordinate":
        return NumberFormat(".", grouping=False), False
    if _is_numeric(values):
        return _POINT, False
    values = values.reset_index(drop=True)
    text = values.astype("str").str.strip()
    # Plain machine decimals ("52.52", "0.5") fit only the decimal point,
    # unless shaped like grouped thousands ("2.000"): no regex split needed.
    dotted = text.str.fullmatch(r"[-+]?\d+\.\d+").fillna(False).astype(bool)
    grouped_shape = text[dotted].str.fullmatch(r"[-+]?[1-9]\d{0,2}\.\d{3}").astype(bool)
    plain_point = pd.Series(False, index=values.index)
    plain_point[grouped_shape.index[~grouped_shape]] = True
    rest = ~(dotted & plain_point) & ~text.str.fullmatch(r"[-+]?\d+").fillna(True).astype(bool)
    cells = _split(values[rest], _INTEGER)
    core = cells.parts["core"].dropna()
    if core.empty and not plain_point.any():
        return hint or _POINT, False
    point = pd.concat([_fits(core, _POINT), plain_point[plain_point]])
    comma = pd.concat([_fits(core, _COMMA), ~plain_point[plain_point]])
    core = pd.concat([core, text[plain_point]])
    only_point, only_comma = int((point & ~comma).sum()), int((comma & ~point).sum())
    if only_point and only_comma:
        small, large = sorted((only_point, only_comma))
        if small * 20 > small + large:
            raise AmbiguousNumbersError(
                column,
                {
                    "1,234.56": values.loc[point.index[point & ~comma][:3]].tolist(),
                    "1.234,56": values.loc[comma.index[comma & ~point][:3]].tolist(),
                },
            )
        return (_POINT if only_point > only_comma else _COMMA), False
    if only_point:
        return _POINT, False
    if only_comma:
        return _COMMA, False
    if hint is not None:
        return hint, False
    # Only cells like "1.234" or "1,234": both marks group thousands here.
    ambiguous = core.str.contains(r"[.,]", regex=True)
    dots = core[ambiguous].str.contains(".", regex=False)
    if not ambiguous.any():
        return _POINT, False
    return (_COMMA if dots.mean() >= 0.5 else _POINT), True


def read_numbers(
    values: pd.Series, number_format: NumberFormat, *, percent: bool = False
) -> NumbersRead:
    """Read a column's cells with a decided format.

    Parameters
    ----------
    values : pandas.Series
        Text or numbers. Not modified.
    number_format : NumberFormat
        From :func:`decide_format` or stated by the user.
    percent : bool, default False
        Accept a trailing ``%`` and divide such values by 100.

    Returns
    -------
    NumbersRead
        Numbers, the invalid mask and each cell's currency.

    Examples
    --------
    >>> read = read_numbers(pd.Series(["65.000,00 €", "1,2,3", ""]), NumberFormat(","))
    >>> read.numbers.tolist(), read.invalid.tolist(), read.currency.tolist()
    ([65000.0, nan, nan], [False, True, False], ['EUR', nan, nan])
    """
    original = values.index
    values = values.reset_index(drop=True)
    index = values.index
    if _is_numeric(values):
        numbers = values.astype("float64")
        invalid = pd.Series(~np.isfinite(numbers) & numbers.notna(), index=index)
        currency = pd.Series(np.nan, index=index, dtype="str")
        return _restore(numbers.where(~invalid), invalid, currency, original)

    plain_pattern = _INTEGER if number_format.decimal == "," else _DECIMAL
    cells = _split(values, plain_pattern)
    numbers = pd.Series(np.nan, index=index, dtype="float64")
    currency = pd.Series(None, index=index, dtype=object)
    plain = cells.plain
    if plain.any():
        numbers[plain] = pd.to_numeric(values[plain].astype("str").str.strip(), errors="coerce")
    parts = cells.parts[cells.parts["core"].notna()]
    if not parts.empty:
        numbers[parts.index] = _value(parts, number_format, percent)
        symbol = parts["cur1"].fillna(parts["cur2"])
        both = parts["cur1"].notna() & parts["cur2"].notna()
        code = symbol.map(
            lambda s: _SYMBOLS.get(s, s if s in CURRENCY_CODES else "?"), na_action="ignore"
        )
        code[both] = "?"  # "$5 EUR"
        numbers[code.index[code == "?"]] = np.nan
        currency[code.index] = code.where(code != "?").astype(object)
    invalid = ~cells.blank & ~np.isfinite(numbers)
    return _restore(numbers.where(~invalid), invalid, currency.astype("str"), original)


def _restore(
    numbers: pd.Series, invalid: pd.Series, currency: pd.Series, index: pd.Index
) -> NumbersRead:
    """Put the caller's index back on the results."""
    return NumbersRead(
        numbers.set_axis(index),
        invalid.astype(bool).set_axis(index),
        currency.set_axis(index),
    )


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )


def _split(values: pd.Series, plain_pattern: re.Pattern) -> _Cells:
    text = values.astype("str").str.strip()
    blank = (text.isna() | (text == "")).astype(bool)
    plain = text.str.fullmatch(plain_pattern).fillna(False).astype(bool)
    odd = text[~blank & ~plain].str.upper().str.replace(_SPACES, " ", regex=True)
    parts = _extract_cells(odd)
    # A sign written twice ("-$-5"), or a sign inside brackets, is not a number.
    signs = parts[["sign", "sign2", "trail"]].notna().sum(axis=1)
    opens, closes = odd.str.startswith("("), odd.str.endswith(")")
    bad = (signs + (opens & closes).astype(int) > 1) | (opens != closes)
    parts["core"] = parts["core"].where(~bad)
    parts["negative"] = (
        (opens & closes)
        | parts["trail"].notna()
        | parts["sign"].isin(["-", "\u2212"])
        | parts["sign2"].isin(["-", "\u2212"])
    )
    return _Cells(blank=blank, parts=parts, plain=plain)


def _extract_cells(cells: pd.Series) -> pd.DataFrame:
    """Split cells into the named parts of :data:`_CELL` (``str.extract``, vectorised).

    Returns one column per part, missing where the part is absent or the
    cell does not match.
    """
    if cells.empty:
        return cells.str.extract(_CELL)
    found = pc.extract_regex(pa.array(cells.astype("str").array), _cell_re2())
    text = pd.StringDtype("pyarrow", na_value=np.nan)
    parts = {}
    for position, name in enumerate(_CELL_PARTS):
        part = pc.struct_field(found, [position])
        # RE2 gives "" for a group that took no part; every part here takes a character.
        part = pc.if_else(pc.equal(part, ""), pa.scalar(None, pa.string()), part)
        parts[name] = pd.Series(pd.array(part, dtype=text), index=cells.index)
    return pd.DataFrame(parts, index=cells.index)


def _pattern(number_format: NumberFormat) -> re.Pattern:
    dec = re.escape(number_format.decimal)
    if not number_format.grouping:
        return re.compile(rf"\d+(?:{dec}\d+)?|{dec}\d+")
    # One alternative per mark (the same mark throughout a number), not a
    # backreference: pandas 3.0 hands string regexes to Arrow's RE2, which has none.
    runs = "|".join(
        rf"[1-9]\d{{0,2}}(?:{re.escape(mark)}\d{{3}})+"
        for mark in dict.fromkeys(number_format.thousands)
    )
    grouped = rf"(?:0|{runs})"
    return re.compile(rf"(?:{grouped}|\d+)(?:{dec}\d*)?|{dec}\d+")


def _fits(core: pd.Series, number_format: NumberFormat) -> pd.Series:
    return core.str.fullmatch(_pattern(number_format)).fillna(False).astype(bool)


def _value(parts: pd.DataFrame, number_format: NumberFormat, percent: bool) -> pd.Series:
    core = parts["core"].astype("str")
    fits = _fits(core, number_format)
    if not number_format.grouping:
        # A coordinate may use either mark, but only one of them once.
        fits = core.str.fullmatch(r"\d+(?:[.,]\d+)?|[.,]\d+").fillna(False).astype(bool)
        digits = core.str.replace(",", ".", regex=False)
    else:
        digits = core.str.replace(f"[{re.escape(number_format.thousands)}]", "", regex=True)
        digits = digits.str.replace(number_format.decimal, ".", regex=False)
    numbers = pd.to_numeric(digits.where(fits), errors="coerce").astype("float64")
    exponent = pd.to_numeric(parts["exp"], errors="coerce").fillna(0.0)
    numbers = numbers * np.power(10.0, exponent.astype("float64"))
    numbers = numbers * parts["suffix"].fillna("").map(_MULTIPLIERS).astype("float64")
    is_percent = parts["pct"].notna()
    if percent:
        numbers = numbers.where(~is_percent, numbers / 100.0)
    else:
        numbers = numbers.where(~is_percent)
    negative = parts["negative"].fillna(False).astype(bool)
    return numbers.where(~negative, -numbers)


def examples(values: Iterable[object], limit: int = 3) -> str:
    """Return up to ``limit`` values quoted and comma-separated, for messages."""
    shown = [repr(v) for v in list(values)[:limit]]
    return ", ".join(shown)
