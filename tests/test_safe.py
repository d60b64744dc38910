"""Nothing from data is markup or a formula (issue 11, classes 10 and 11)."""

from __future__ import annotations

import io
import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from terrmap.io.safe import csv_cell, escape_markdown, to_csv_bytes

WORD_JOINER = "\u2060"


def _unescape(markdown: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


class TestEscapeMarkdown:
    def test_markup_is_escaped(self):
        assert escape_markdown("**bold**") == r"\*\*bold\*\*"
        assert escape_markdown("<script>") == r"\<script\>"
        assert escape_markdown("$x$ :red[y]") == r"\$x\$ \:red\[y\]"

    def test_image_markup_is_text(self):
        escaped = escape_markdown("![i](http://evil.example/img.png) **b**")
        assert "![" not in escaped and "](" not in escaped
        assert _unescape(escaped) == "![i](http://evil.example/img.png) **b**"

    def test_bare_urls_and_addresses_are_broken_for_autolinks(self):
        # remark-gfm finds these in the decoded text, so the backslashes alone
        # do not stop it; what it looks for must be missing from the text.
        for text in ("see http://evil.example/x", "www.evil.example", "ann@evil.example"):
            plain = escape_markdown(text).replace("\\", "")
            assert "://" not in plain
            assert "www." not in plain.lower()
            assert not re.search(r"\w@\w", plain)

    def test_one_line(self):
        assert escape_markdown("a\n\n  b\tc") == "a b c"

    @given(st.text())
    def test_unescaping_gives_the_text_back(self, text):
        escaped = escape_markdown(text)
        assert _unescape(escaped) == " ".join(text.split()).replace(WORD_JOINER, "")
        # No markup character is left unescaped.
        assert not re.search(r"(?<!\\)(?:\\\\)*[*_`<>\[\]$:#|~!(]", escaped.replace("\\\\", ""))


class TestCsvCell:
    def test_formula_starts_get_a_quote(self):
        for value in ("=1+1", "+1", "-A1", "@SUM(A1)", "\tx", "\rx"):
            assert csv_cell(value) == "'" + value

    def test_other_values_are_untouched(self):
        assert csv_cell("Acme") == "Acme"
        assert csv_cell("") == ""
        assert csv_cell(-5) == -5
        assert csv_cell(-2.5) == -2.5
        assert csv_cell(None) is None


class TestToCsvBytes:
    def test_text_cells_are_neutralised_numbers_are_not(self):
        frame = pd.DataFrame(
            {
                "account_id": ['=HYPERLINK("http://x","y")', "A2", "-3"],
                "name": ["@evil", "+1", "Acme"],
                "revenue": [-5.0, 10.0, 0.5],
                "count": [-1, 2, 3],
            }
        )
        before = frame.copy()
        data = to_csv_bytes(frame)
        pd.testing.assert_frame_equal(frame, before)
        back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        assert back["account_id"].tolist() == ['\'=HYPERLINK("http://x","y")', "A2", "'-3"]
        assert back["name"].tolist() == ["'@evil", "'+1", "Acme"]
        assert back["revenue"].tolist() == ["-5.0", "10.0", "0.5"]
        assert back["count"].tolist() == ["-1", "2", "3"]

    def test_header_and_index_are_neutralised(self):
        frame = pd.DataFrame({"=x": ["a"]}, index=pd.Index(["-id"], name="id"))
        lines = to_csv_bytes(frame, index=True).decode().splitlines()
        assert lines == ["id,'=x", "'-id,a"]

    def test_encoding_and_options_pass_through(self):
        data = to_csv_bytes(pd.DataFrame({"x": [1.5]}), encoding="utf-8-sig", float_format="%.3f")
        assert data == b"\xef\xbb\xbfx\n1.500\n"

    @given(st.lists(st.text(), min_size=1, max_size=20))
    def test_no_text_cell_starts_a_formula(self, cells):
        data = to_csv_bytes(pd.DataFrame({"name": cells}))
        back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        assert not back["name"].str.startswith(("=", "+", "-", "@", "\t", "\r")).any()
