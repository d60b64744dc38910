"""CSV reading that recovers like a spreadsheet; wide headers refused fast (issue 11, 2-6)."""

from __future__ import annotations

import csv
import io
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terrmap.io.loaders import MAX_COLUMNS, UnusableFileError, load_accounts

# Cells a CRM export holds: blanks, padding, quotes, delimiters, accents, line ends.
CELLS = (
    "",
    " ",
    "A1",
    "02139",
    "  padded  ",
    "Acme, Inc.",
    'The "Best" Co',
    "O'Brien; Ltd",
    "tab\there",
    "a|b",
    "Müller",
    "1.234,56 €",
    "$1,234.50",
    "=SUM(A1)",
    "NA",
    "line\nbreak",
    "cr\rhere",
    "\u00a0nbsp\u00a0",
)


def rejected_rows(load):
    return [tuple(row) for row in load.rejected.itertuples(index=False)]


def text(*lines, end="\n"):
    return (end.join(lines) + end).encode("utf-8")


class TestUnclosedQuote:
    def test_the_rows_after_it_still_load(self):
        data = text(
            "id,name,lat,lon,revenue",
            'G1,"Acme,40.1,-75.2,100',
            "G2,Beta,40.2,-75.3,200",
            "G3,Gamma,40.3,-75.4,300",
        )
        load = load_accounts(data, filename="a.csv")
        assert load.accounts.index.tolist() == ["G2", "G3"]
        assert load.rows == 3
        [(line, rid, reason)] = rejected_rows(load)
        assert (line, rid) == (2, "G1")
        assert "unclosed quote" in reason and "line 4" in reason

    def test_a_quote_closed_by_a_later_row(self):
        data = text(
            "id,name,zip",
            'A1,"Acme,02139',
            "A2,Beta,02139",
            'A3,"Gamma, Inc",02139',
            "A4,Delta,02139",
        )
        load = load_accounts(data, filename="a.csv")
        assert "A2" in load.accounts.index and "A4" in load.accounts.index
        assert "A1" not in load.accounts.index
        assert load.rows == len(load.accounts) + len(load.rejected)

    def test_quoted_newlines_are_not_unclosed_quotes(self):
        data = text("id,address,zip", 'A1,"2 Elm St', 'Suite 5",02139', "A2,x,02139")
        load = load_accounts(data, filename="a.csv")
        assert load.accounts.index.tolist() == ["A1", "A2"]
        assert load.rejected.empty


class TestTrailingDelimiter:
    def test_one_malformed_row_does_not_reject_the_others(self):
        lines = ["id,name,lat,lon,revenue"]
        lines += [f"A{i},Acct {i},40.{i},-75.{i},{i}00," for i in range(1, 8)]
        lines.insert(4, "B1,Acme, Inc,40.5,-75.5,500,")  # an unquoted comma
        load = load_accounts(text(*lines), filename="a.csv")
        assert len(load.accounts) == 7
        assert rejected_rows(load) == [
            (5, "B1", "has 6 fields but the header has 5 (an unquoted comma in a value?)")
        ]

    def test_header_with_trailing_delimiter_too(self):
        data = text("id,zip,", "A1,02139,", "A2,02139,")
        assert load_accounts(data, filename="a.csv").accounts.index.tolist() == ["A1", "A2"]


class TestSepHintAndLineEnds:
    def test_excel_sep_line_is_honoured(self):
        data = text("sep=;", "id;name;zip", "A1;Acme, Inc;02139")
        load = load_accounts(data, filename="a.csv")
        assert load.source_columns == ("id", "name", "zip")
        assert load.accounts.loc["A1", "name"] == "Acme, Inc"

    def test_classic_mac_line_ends_with_a_quoted_newline(self):
        data = b'id,name,zip\r1,"two\nlines",02139\r2,b,02139\r'
        load = load_accounts(data, filename="a.csv")
        assert load.accounts.index.tolist() == ["1", "2"]
        assert load.accounts.loc["1", "name"] == "two\nlines"
        assert load.rejected.empty

    def test_mixed_line_ends(self):
        data = b"id,zip\r\n1,02139\r2,02139\n3,02139"
        assert load_accounts(data, filename="a.csv").accounts.index.tolist() == ["1", "2", "3"]

    def test_cell_over_128_kib(self):
        note = "x" * (200 * 1024)
        data = text("id,name,zip", f'A1,"{note}",02139', "A2,b,02139")
        load = load_accounts(data, filename="a.csv")
        assert load.accounts.loc["A1", "name"] == note
        assert len(load.accounts) == 2


class TestWideHeaders:
    def test_100k_columns_refused_fast(self):
        header = ",".join(f"c{i}" for i in range(100_000))
        data = text("id,zip," + header, "A1,02139," + "," * 99_999)
        began = time.perf_counter()
        with pytest.raises(UnusableFileError, match="100,002 columns"):
            load_accounts(data, filename="a.csv")
        assert time.perf_counter() - began < 10  # generous on a busy machine; bench has figures

    def test_5_mb_header_line(self):
        header = ",".join("x" * 49 for _ in range(100_000))  # 5 MB
        data = text("id,zip," + header, "A1,02139")
        with pytest.raises(UnusableFileError) as caught:
            load_accounts(data, filename="a.csv")
        assert len(str(caught.value)) < 500

    def test_one_huge_column_name_gives_a_short_message(self):
        data = text("y" * 5_000_000, "1")
        with pytest.raises(UnusableFileError, match="no column gives a location") as caught:
            load_accounts(data, filename="a.csv")
        assert len(str(caught.value)) < 500

    def test_limit_is_inclusive(self):
        header = ",".join(["id", "zip", *(f"c{i}" for i in range(MAX_COLUMNS - 2))])
        data = text(header, "A1,02139" + "," * (MAX_COLUMNS - 2))
        assert len(load_accounts(data, filename="a.csv").accounts) == 1


class TestLimits:
    def test_row_limit_stops_reading_with_a_message(self, monkeypatch):
        from terrmap.io import loaders

        monkeypatch.setattr(loaders, "MAX_ROWS", 3)
        data = text("id,zip", *(f"A{i},02139" for i in range(5)))
        with pytest.raises(UnusableFileError, match="more than 3 rows \\(stopped at line 5\\)"):
            load_accounts(data, filename="a.csv")
        ok = text("id,zip", *(f"A{i},02139" for i in range(3)))
        assert len(load_accounts(ok, filename="a.csv").accounts) == 3

    def test_size_limit_refuses_before_reading(self, monkeypatch, tmp_path):
        from terrmap.io import loaders

        monkeypatch.setattr(loaders, "MAX_BYTES", 20)
        path = tmp_path / "big.csv"
        path.write_bytes(text("id,zip", "A1,02139", "A2,02139"))
        with pytest.raises(UnusableFileError, match="big.csv: the file is 0 MB; at most 0 MB"):
            load_accounts(path)


class TestColumnarReader:
    """The columnar (pyarrow) reader gives the line-by-line reader's table, or steps aside."""

    @staticmethod
    def both(data: bytes):
        from terrmap.io import loaders

        return loaders._read_text_columnar("a.csv", data), loaders._read_text_by_line("a.csv", data)

    @staticmethod
    def same(fast, slow) -> None:
        pd.testing.assert_frame_equal(fast.frame, slow.frame)
        np.testing.assert_array_equal(fast.lines, slow.lines)
        assert (fast.decimal_comma, fast.malformed) == (slow.decimal_comma, slow.malformed)

    @settings(max_examples=100, deadline=None)
    @given(
        rows=st.lists(
            st.lists(st.sampled_from(CELLS), min_size=3, max_size=3), min_size=1, max_size=12
        ),
        delimiter=st.sampled_from([",", ";", "\t", "|"]),
        end=st.sampled_from(["\n", "\r\n"]),
        bom=st.booleans(),
        hint=st.booleans(),
        last_end=st.booleans(),
    )
    def test_any_clean_file_reads_the_same(self, rows, delimiter, end, bom, hint, last_end):
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator=end).writerows(
            [["Id", " Name ", "Zip"], *rows]
        )
        body = out.getvalue()
        if not last_end:
            body = body[: -len(end)]
        if hint:
            body = f"sep={delimiter}{end}" + body
        data = (b"\xef\xbb\xbf" if bom else b"") + body.encode("utf-8")
        fast, slow = self.both(data)
        one_line_each = not any("\n" in cell or "\r" in cell for row in rows for cell in row)
        if one_line_each:
            assert fast is not None
        if fast is not None:
            self.same(fast, slow)

    @pytest.mark.parametrize(
        "data",
        [
            text("id,zip", "A1,02139", "", "A2,02139"),  # a blank line
            text("id,zip", "A1,02139,", "A2,02139,"),  # a trailing delimiter
            text("id,zip", 'A1,"021', '39"'),  # a quoted line end
            text("id,zip", 'A1,"02139', "A2,02139"),  # an unclosed quote
            text("id,zip", "A1", "A2,02139"),  # a short row
            text("id,zip", "A1,02139", end="\r"),  # classic Mac line ends
            "id,zip\nA1,Zürich\n".encode("cp1252"),  # not UTF-8
            "id,zip\nA1,02139\n".encode("utf-16"),
        ],
        ids=["blank", "trailing", "quoted-end", "unclosed", "short", "cr", "cp1252", "utf16"],
    )
    def test_steps_aside_for_what_needs_recovering(self, data):
        fast, slow = self.both(data)
        assert fast is None
        assert len(slow.frame) + len(slow.malformed) >= 1

    def test_reports_the_rows_read(self):
        from terrmap.io import loaders

        data = text("id,zip", *(f"A{i},02139" for i in range(5)))
        seen = []
        loaders._read_text_columnar("a.csv", data, lambda rows, total: seen.append((rows, total)))
        assert seen == [(5, 5)]

    def test_the_row_limit_holds(self, monkeypatch):
        from terrmap.io import loaders

        monkeypatch.setattr(loaders, "MAX_ROWS", 3)
        with pytest.raises(UnusableFileError, match="more than 3 rows \\(stopped at line 5\\)"):
            loaders._read_text_columnar("a.csv", text("id,zip", *(f"A{i},1" for i in range(5))))

    def test_memory_budget_refuses_before_reading_and_says_why(self, monkeypatch):
        from terrmap.io import loaders

        clean = text("id,zip", *(f"A{i},02139" for i in range(40)))
        dirty = text("id,zip", *(f"A{i},02139" for i in range(40)), "", "A99,02139")
        monkeypatch.setattr(loaders, "MEMORY_BUDGET", len(dirty) * 10)
        assert len(load_accounts(clean, filename="a.csv").accounts) == 40
        with pytest.raises(UnusableFileError) as refused:
            load_accounts(dirty, filename="a.csv")
        message = str(refused.value)
        assert message.startswith("a.csv: reading this 0 MB file read line by line")
        assert "a blank line" in message and "more than the 0.0 GB an import may use" in message
        monkeypatch.setattr(loaders, "MEMORY_BUDGET", len(clean) * 5)
        with pytest.raises(UnusableFileError, match="a.csv: reading this 0 MB file takes about"):
            load_accounts(clean, filename="a.csv")
