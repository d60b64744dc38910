"""Generated accounts files with known good and bad rows (issue 11, class 8).

Used by the hypothesis property test (``tests/test_import_property.py``) and
by the big fuzz (``benchmarks/fuzz_import.py``). A generated file knows, for
each of its rows, whether the loader must load it or reject it, and why; the
loader's answer is then compared row by row.

Good rows have a unique id, a name (text a CRM may hold: commas, quotes,
accents, formula-looking text, ``NA``), a known ZIP and/or coordinates, and
an amount written in the file's one number format. Bad rows have exactly one
fault: an unknown ZIP and no coordinates, a revenue that is not a number, a
latitude out of range, a repeated id, or no id.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass

import pandas as pd

ZIPS = ("02139", "02110", "10001", "03060", "06103", "01608", "12207", "19103")
NAMES = (
    "Acme",
    "Acme, Inc.",
    'The "Best" Co',
    "Müller & Söhne",
    "=HYPERLINK(1)",
    "NA",
    "None",
    "  padded  ",
    "O'Brien; Ltd",
    "line\nbreak",
)
FAULTS = ("unknown ZIP", "not a number", "latitude out of range", "duplicate id", "missing id")
COLUMNS = ("Account ID", "Account Name", "Zip", "Latitude", "Longitude", "Annual Revenue")


@dataclass(frozen=True)
class Row:
    """One generated row: its cells and what the loader must do with it."""

    cells: tuple[str, ...]
    fault: str | None  # None for a good row

    @property
    def good(self) -> bool:
        return self.fault is None


def amount(value: float, decimal_comma: bool) -> str:
    """Write an amount with grouped thousands and two decimals in the file's format."""
    text = f"{value:,.2f}"
    if decimal_comma:
        text = text.translate(str.maketrans({",": ".", ".": ","}))
    return text


def generate_rows(rng: random.Random, n_good: int, n_bad: int, decimal_comma: bool) -> list[Row]:
    """Rows in a random order; ids of good rows are unique."""
    rows: list[Row] = []
    for i in range(n_good):
        lat, lon = "", ""
        zip_code = rng.choice(ZIPS)
        if rng.random() < 0.6:
            lat = f"{rng.uniform(40.5, 42.9):.{rng.choice((3, 4, 5))}f}"
            lon = f"{rng.uniform(-74.5, -71.0):.{rng.choice((3, 4, 5))}f}"
            if decimal_comma:
                lat, lon = lat.replace(".", ","), lon.replace(".", ",")
            if rng.random() < 0.3:
                zip_code = ""
        revenue = amount(rng.uniform(0, 5_000_000), decimal_comma) if rng.random() < 0.9 else ""
        name = rng.choice(NAMES)
        rows.append(Row((f"G{i}", name, zip_code, lat, lon, revenue), None))
    for j in range(n_bad):
        fault = rng.choice(FAULTS)
        cells = [f"B{j}", rng.choice(NAMES), rng.choice(ZIPS), "", "", "1"]
        if fault == "unknown ZIP":
            cells[2] = "00000"
        elif fault == "not a number":
            cells[5] = rng.choice(("abc", "n/a", "NaN", "1,2,3", "12..5", "$"))
        elif fault == "latitude out of range":
            cells[2], cells[3], cells[4] = "", "123" + (",5" if decimal_comma else ".5"), "-71"
        elif fault == "duplicate id":
            if not rows:
                fault, cells[2] = "unknown ZIP", "00000"
            else:
                cells[0] = rows[0].cells[0]
        elif fault == "missing id":
            cells[0] = ""
        rows.append(Row(tuple(cells), fault))
    # Duplicates must come after the row they repeat: keep the first row first.
    head, rest = rows[:1], rows[1:]
    rng.shuffle(rest)
    return head + rest


def to_csv(rows: list[Row], delimiter: str) -> bytes:
    """Write the rows as a spreadsheet would (quoting as needed)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(row.cells for row in rows)
    return out.getvalue().encode("utf-8")


def to_xlsx(rows: list[Row]) -> bytes:
    """Write the rows to the first sheet of a workbook, every cell as text."""
    frame = pd.DataFrame([row.cells for row in rows], columns=list(COLUMNS), dtype=object)
    out = io.BytesIO()
    frame.to_excel(out, index=False)
    return out.getvalue()


def line_of(rows: list[Row], position: int) -> int:
    """The CSV line a row starts on (a quoted line break adds a line)."""
    line = 2
    for row in rows[:position]:
        line += 1 + sum(cell.count("\n") for cell in row.cells)
    return line


@dataclass(frozen=True)
class Verdict:
    """How a load compares with what the file says it must give."""

    silently_lost: list[str]  # good rows neither loaded nor rejected
    silently_accepted: list[str]  # bad rows loaded
    wrongly_rejected: list[str]  # good rows rejected
    unnamed: list[str]  # bad rows rejected, but not at their line


def judge(rows: list[Row], load, *, xlsx: bool) -> Verdict:
    """Compare a load with the rows' known fates."""
    loaded = set(load.accounts.index)
    rejected_lines = set(load.rejected["line"].tolist())
    lost, accepted, wrong, unnamed = [], [], [], []
    for position, row in enumerate(rows):
        line = position + 2 if xlsx else line_of(rows, position)
        ident = row.cells[0]
        if row.good:
            if line in rejected_lines:
                wrong.append(f"line {line}")
            elif ident not in loaded:
                lost.append(f"line {line}")
        elif row.fault != "duplicate id" and ident and ident in loaded:
            accepted.append(f"line {line} ({row.fault})")
        elif line not in rejected_lines:
            unnamed.append(f"line {line} ({row.fault})")
    return Verdict(lost, accepted, wrong, unnamed)
