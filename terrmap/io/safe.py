"""Text from data files made inert: never markup on screen, never a formula in a sheet.

Two promises, one home:

* :func:`escape_markdown` makes any text safe to pass to Streamlit's
  markdown (``st.markdown``, ``st.caption``, messages, widget labels): it
  renders as the text itself, with no emphasis, image, HTML, maths, emoji
  shortcode or link, including the links GitHub-flavoured markdown makes of
  bare URLs, ``www.`` names and e-mail addresses.
* :func:`csv_cell` and :func:`to_csv_bytes` neutralise CSV cells a
  spreadsheet would run as a formula (the OWASP rule: a text cell starting
  with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
  ``'``). Numbers stay numbers: ``-5`` in a numeric column is written as is.
  https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = ["FORMULA_STARTS", "csv_cell", "escape_markdown", "to_csv_bytes"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

# Every ASCII punctuation character can be backslash-escaped in CommonMark;
# escaping all of them also defuses Streamlit's own syntax ($math$,
# :emoji:, :red[colour]).
_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")

# GitHub-flavoured markdown turns bare URLs into links *after* escapes are
# decoded (remark-gfm works on the text), so a backslash cannot stop it. A
# word joiner (U+2060, invisible, zero width) after "://", before the dot of
# "www." and after "@" breaks the patterns it looks for.
_WORD_JOINER = "\u2060"
_AUTOLINK_BREAKS = re.compile(r"(?<=:)(?=//)|(?i:(?<=\bwww))(?=\.)|(?<=@)")


def escape_markdown(text: object) -> str:
    r"""Make text from a file safe to show through Streamlit markdown.

    Whitespace (newlines included) collapses to single spaces, so a message
    stays on one line; every ASCII punctuation character is
    backslash-escaped, so ``**bold**``, ``<script>``, ``![i](url)``,
    ``$x$`` and ``:red[x]`` show literally; and a word joiner (U+2060) is
    put into ``://``, ``www.`` and ``@`` so that no URL or address becomes a
    link.

    Parameters
    ----------
    text : object
        Anything; converted with ``str``.

    Returns
    -------
    str
        Markdown that renders as the original text.

    Examples
    --------
    >>> escape_markdown("**Acme**\n<b>")
    '\\*\\*Acme\\*\\* \\<b\\>'
    >>> escape_markdown("http://x.example").replace("\u2060", "|")
    'http\\:|\\/\\/x\\.example'
    """
    flat = " ".join(str(text).split())
    flat = _AUTOLINK_BREAKS.sub(_WORD_JOINER, flat)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def csv_cell(value: Any) -> Any:
    """Return a cell value that no spreadsheet will run as a formula.

    Parameters
    ----------
    value : object
        A cell value. Only strings are changed: numbers, missing values and
        anything else are returned as they are.

    Returns
    -------
    object
        ``value`` with a leading ``'`` when it is a string starting with
        one of :data:`FORMULA_STARTS`; otherwise ``value`` itself.

    Examples
    --------
    >>> csv_cell("=SUM(A1:A9)")
    "'=SUM(A1:A9)"
    >>> csv_cell("-5"), csv_cell(-5), csv_cell("Acme")
    ("'-5", -5, 'Acme')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv_bytes(
    frame: pd.DataFrame, *, encoding: str = "utf-8", index: bool = False, **kw: Any
) -> bytes:
    """Write a frame as CSV bytes with every text cell neutralised.

    Text cells (in object or string columns, and the column names) go
    through :func:`csv_cell`; numeric, boolean and date columns are written
    as they are, so ``-5`` stays a number.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table. Not modified.
    encoding : str, default "utf-8"
        ``"utf-8-sig"`` writes the byte-order mark Excel needs for accents.
    index : bool, default False
        Write the index as the first column (its text neutralised too).
    **kw
        Passed to :meth:`pandas.DataFrame.to_csv` (``float_format``,
        ``lineterminator``, ...). Lines end with a bare line feed unless told.

    Returns
    -------
    bytes
        The CSV file.

    Examples
    --------
    >>> frame = pd.DataFrame({"name": ["=1+1", "Acme"], "revenue": [-5, 10]})
    >>> to_csv_bytes(frame).decode().splitlines()
    ['name,revenue', "'=1+1,-5", 'Acme,10']
    """
    safe = frame.copy()
    safe.columns = [csv_cell(c) if isinstance(c, str) else c for c in frame.columns]
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if _is_text(column):
            safe.isetitem(position, column.astype(object).map(csv_cell, na_action="ignore"))
    if index:
        names = safe.index.names
        if _is_text(safe.index.to_series()):
            safe.index = safe.index.map(lambda v: csv_cell(v) if isinstance(v, str) else v)
            safe.index.names = names
    kw.setdefault("lineterminator", "\n")
    return safe.to_csv(index=index, **kw).encode(encoding)


def _is_text(values: pd.Series) -> bool:
    """Whether a column holds text (object, string or categorical of strings)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return True
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
