"""Big import fuzz: generated files with known good and bad rows (issue 11).

Each file (CSV with a comma or semicolon, US or German numbers, and the same
rows as XLSX) is loaded with :func:`terrmap.io.loaders.load_accounts` and
compared row by row with what it must give (``tests/fuzzfiles.py``). Prints
the counts the issue asks for: good rows silently lost, bad rows silently
accepted, good rows wrongly rejected, bad rows rejected but not at their line,
and files refused whole.

Run: ``.venv/bin/python benchmarks/fuzz_import.py [--files 200] [--seed 1] [--max-rows 60]``
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzzfiles import generate_rows, judge, to_csv, to_xlsx  # noqa: E402

from terrmap.io.loaders import UnusableFileError, load_accounts  # noqa: E402

log = logging.getLogger("fuzz_import")

FORMATS = ((",", False), (",", True), (";", True), (";", False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-rows", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("terrmap").setLevel(logging.ERROR)
    rng = random.Random(args.seed)
    totals = dict.fromkeys(
        ("files", "good", "bad", "lost", "accepted", "wrongly_rejected", "unnamed", "refused"), 0
    )
    examples: list[str] = []
    started = time.perf_counter()
    for number in range(args.files):
        delimiter, decimal_comma = rng.choice(FORMATS)
        n_good = rng.randint(1, args.max_rows)
        rows = generate_rows(rng, n_good, rng.randint(0, args.max_rows // 3), decimal_comma)
        for kind, data, xlsx in (
            ("csv", lambda r=rows, d=delimiter: to_csv(r, d), False),
            ("xlsx", lambda r=rows: to_xlsx(r), True),
        ):
            totals["files"] += 1
            totals["good"] += sum(row.good for row in rows)
            totals["bad"] += sum(not row.good for row in rows)
            try:
                load = load_accounts(data(), filename=f"fuzz{number}.{kind}")
            except UnusableFileError as error:
                totals["refused"] += 1
                examples.append(f"file {number} ({kind}) refused: {error}")
                continue
            verdict = judge(rows, load, xlsx=xlsx)
            for key, found in (
                ("lost", verdict.silently_lost),
                ("accepted", verdict.silently_accepted),
                ("wrongly_rejected", verdict.wrongly_rejected),
                ("unnamed", verdict.unnamed),
            ):
                totals[key] += len(found)
                examples.extend(f"file {number} ({kind}) {key}: {item}" for item in found[:2])
    seconds = time.perf_counter() - started
    log.info(
        "%d files (%d good rows, %d bad rows) in %.0f s: %d good rows silently lost, "
        "%d bad rows silently accepted, %d good rows wrongly rejected, "
        "%d bad rows rejected but not named at their line, %d files refused whole",
        totals["files"],
        totals["good"],
        totals["bad"],
        seconds,
        totals["lost"],
        totals["accepted"],
        totals["wrongly_rejected"],
        totals["unnamed"],
        totals["refused"],
    )
    for example in examples[:10]:
        log.info("  %s", example)


if __name__ == "__main__":
    main()
