"""CSV cells a spreadsheet opens as text, never as a formula (OWASP "CSV injection").

A stand-in for ``terrmap.io.safe.to_csv_bytes`` (another branch) until it is
on main; the write-back and audit exports call :func:`to_csv_bytes` and will
call that one instead.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_STARTS", "from_csv_cell", "to_csv_bytes"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Write a frame as UTF-8 CSV (no index); text that starts a formula gets a leading ``'``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; missing values are written as empty cells. Not modified.

    Returns
    -------
    bytes
    """
    text = frame.astype(object).where(frame.notna(), "").astype(str).map(_cell)
    return text.to_csv(index=False, lineterminator="\n").encode("utf-8")


def from_csv_cell(column: pd.Series) -> pd.Series:
    """Undo :func:`to_csv_bytes`'s leading ``'`` on cells read back as text."""
    text = column.astype(str)
    escaped = text.str.startswith("'") & text.str[1:2].isin(list(FORMULA_STARTS))
    return text.where(~escaped, text.str[1:])
