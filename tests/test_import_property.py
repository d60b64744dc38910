"""Any generated file loads with exactly its good rows, every bad row named (issue 11, 8).

The same rows go through CSV (comma or semicolon, US or German numbers) and
XLSX; the loader must agree with the file's known fates in both. The big
fuzz with many more files is ``benchmarks/fuzz_import.py``.
"""

from __future__ import annotations

import random

from fuzzfiles import generate_rows, judge, to_csv, to_xlsx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrmap.io.loaders import load_accounts

FILES = st.tuples(
    st.randoms(use_true_random=False),
    st.integers(1, 25),
    st.integers(0, 10),
    st.sampled_from([(",", False), (",", True), (";", True), (";", False)]),
)


def _check(verdict) -> None:
    assert verdict.silently_lost == []
    assert verdict.silently_accepted == []
    assert verdict.wrongly_rejected == []
    assert verdict.unnamed == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILES)
def test_csv_and_xlsx_give_exactly_the_good_rows(case):
    rng, n_good, n_bad, (delimiter, decimal_comma) = case
    rows = generate_rows(random.Random(rng.random()), n_good, n_bad, decimal_comma)
    csv_load = load_accounts(to_csv(rows, delimiter), filename="fuzz.csv")
    _check(judge(rows, csv_load, xlsx=False))
    xlsx_load = load_accounts(to_xlsx(rows), filename="fuzz.xlsx")
    _check(judge(rows, xlsx_load, xlsx=True))
    assert sorted(csv_load.accounts.index) == sorted(xlsx_load.accounts.index)
    assert csv_load.accounts["revenue"].sort_index().tolist() == (
        xlsx_load.accounts["revenue"].sort_index().tolist()
    )
