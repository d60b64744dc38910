"""Any generated file loads with exactly its good rows, every bad row named (issue 11, 8).

The same rows go through CSV (comma or semicolon, US or German numbers) and
XLSX; the loader must agree with the file's known fates in both. A case is a
row with a known fate: each example is a file of up to 200 of them, so the
CSV property checks thousands of rows (a load costs about the same for 10
rows as for 200: most of it is per column). Generation is one seed drawn by
hypothesis and rows made from it (cheap, and shrinking still narrows the
size). ``HYPOTHESIS_PROFILE=import-fuzz`` runs ten times as many files; the
big fuzz is ``benchmarks/fuzz_import.py``.
"""

from __future__ import annotations

import os
import random

from fuzzfiles import generate_rows, judge, to_csv, to_xlsx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrmap.io.loaders import load_accounts

settings.register_profile("import-fuzz", max_examples=1_000, deadline=None)
#: Files per property: the fuzz profile multiplies them.
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "import-fuzz" else 1

FILES = st.tuples(
    st.integers(0, 2**32 - 1),
    st.integers(1, 150),
    st.integers(0, 50),
    st.sampled_from([(",", False), (",", True), (";", True), (";", False)]),
)
QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]


def _check(verdict) -> None:
    assert verdict.silently_lost == []
    assert verdict.silently_accepted == []
    assert verdict.wrongly_rejected == []
    assert verdict.unnamed == []


def _rows(case):
    seed, n_good, n_bad, (_, decimal_comma) = case
    return generate_rows(random.Random(seed), n_good, n_bad, decimal_comma)


@settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=QUIET)
@given(FILES)
def test_csv_gives_exactly_the_good_rows(case):
    rows = _rows(case)
    load = load_accounts(to_csv(rows, case[3][0]), filename="fuzz.csv")
    _check(judge(rows, load, xlsx=False))
    assert load.rows == len(rows)


@settings(max_examples=15 * SCALE, deadline=None, suppress_health_check=QUIET)
@given(FILES)
def test_xlsx_gives_the_same_rows_as_csv(case):
    rows = _rows(case)
    csv_load = load_accounts(to_csv(rows, case[3][0]), filename="fuzz.csv")
    xlsx_load = load_accounts(to_xlsx(rows), filename="fuzz.xlsx")
    _check(judge(rows, xlsx_load, xlsx=True))
    assert sorted(csv_load.accounts.index) == sorted(xlsx_load.accounts.index)
    assert csv_load.accounts["revenue"].sort_index().tolist() == (
        xlsx_load.accounts["revenue"].sort_index().tolist()
    )
