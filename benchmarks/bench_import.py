"""Import benchmark: time and peak memory of reading a CRM export (issue 11).

Writes a Salesforce-shaped CSV (ids, names, ZIPs, coordinates, ``$1,234.50``
revenue, 40 owners scattered at random: the worst case for drawing
territories from owners) of each size to a temporary folder, then measures
in a fresh process each, so peak RSS is the process's own:

* ``cli``: ``terrmap check FILE`` (reading and validating every row);
* ``app``: :func:`terrmap.io.importing.prepare_import`, what the Import page
  runs (reading, territories drawn from the owners, the plan, its figures),
  from the bytes of an upload as the page has them.

Also times (in this process) the refusal of a header of 100,002 columns.

Run: ``.venv/bin/python benchmarks/bench_import.py [--sizes 100000 1000000 2000000] [--only cli]``
Prints one line per size and path: rows, file MB, wall and CPU seconds, peak RSS MB.
"""

from __future__ import annotations

import argparse
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from terrmap.io.loaders import UnusableFileError, load_accounts

log = logging.getLogger("bench_import")

_APP = """
import io, sys
from pathlib import Path
from terrmap.io.importing import prepare_import
upload = io.BytesIO(Path(sys.argv[1]).read_bytes())  # what a Streamlit upload holds
upload.name = Path(sys.argv[1]).name
result = prepare_import(upload)
if not result.usable or result.n_accounts != int(sys.argv[2]):
    sys.exit(f"app import failed: {result.problems} ({result.n_accounts} accounts)")
"""


def write_export(path: Path, rows: int, seed: int = 11) -> None:
    """Write a US-formatted accounts CSV of ``rows`` rows, in chunks."""
    rng = np.random.default_rng(seed)
    zips = np.array(["02139", "02110", "10001", "03060", "06103", "01608", "12207", "19103"])
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            "Account ID,Account Name,Billing Zip/Postal Code,Billing Latitude,"
            "Billing Longitude,Annual Revenue,Account Owner\n"
        )
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            ids = np.arange(start, start + n)
            lat = rng.uniform(40.0, 43.0, n)
            lon = rng.uniform(-75.0, -71.0, n)
            revenue = rng.integers(100, 10_000_000, n) / 100
            owner = rng.integers(0, 40, n)
            zip_code = zips[rng.integers(0, len(zips), n)]
            lines = [
                f'A{i:08d},"Account {i}, Inc",{z},{la:.5f},{lo:.5f},"${r:,.2f}",Rep {o}\n'
                for i, z, la, lo, r, o in zip(ids, zip_code, lat, lon, revenue, owner, strict=True)
            ]
            out.writelines(lines)


def measure(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float, float]:
    """Run a command; return wall seconds, the child's peak RSS in MB and its CPU seconds.

    CPU seconds (user + system) are what the run cost on a machine busy with
    other work, where wall time stretches.

    ``ok`` are the exit codes that mean success (``terrmap check`` exits 1
    when it rejected rows, 2 when it refused the file).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak = after.ru_maxrss
    if done.returncode not in ok:
        raise RuntimeError(f"{argv[:3]} failed: {done.stderr.strip()[-500:]}")
    # ru_maxrss of children is the largest of any child so far (KiB on Linux).
    return seconds, max(peak, before.ru_maxrss) / 1024, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--only", choices=("cli", "app"), default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    python = sys.executable
    terrmap = str(Path(python).with_name("terrmap"))
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        wide = Path(folder) / "wide.csv"
        wide.write_text("id,zip," + ",".join(f"c{i}" for i in range(100_000)) + "\nA1,02139\n")
        started = time.perf_counter()
        try:
            load_accounts(wide)
        except UnusableFileError as refused:
            log.info(
                "wide header of 100,002 columns refused in %.2f s: %s",
                time.perf_counter() - started,
                str(refused)[:60],
            )
        else:
            raise RuntimeError("a header of 100,002 columns was not refused")
        for rows in sorted(args.sizes):
            path = Path(folder) / f"accounts_{rows}.csv"
            write_export(path, rows)
            size_mb = path.stat().st_size / 1e6
            runs = {
                "cli": ([terrmap, "check", str(path)], "0"),
                "app": ([python, "-c", _APP, str(path), str(rows)], "0"),
            }
            for name, (argv, ok) in runs.items():
                if args.only not in (None, name):
                    continue
                seconds, peak_mb, cpu = _fresh(argv, ok)
                log.info(
                    "%-3s rows=%9d file=%7.1f MB  time=%7.1f s  cpu=%7.1f s  peak RSS=%7.0f MB",
                    name,
                    rows,
                    size_mb,
                    seconds,
                    cpu,
                    peak_mb,
                )


def _fresh(argv: list[str], ok: str) -> tuple[float, float, float]:
    """Measure ``argv`` from a fresh parent process (exit codes ``ok``, comma-separated).

    RUSAGE_CHILDREN keeps the maximum over children, so each measurement
    runs from its own parent.
    """
    wrapper = [sys.executable, "-c", _MEASURE, ok, *argv]
    out = subprocess.run(wrapper, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr.strip()[-800:])
    seconds, peak_mb, cpu = (float(v) for v in out.stdout.split())
    return seconds, peak_mb, cpu


_MEASURE = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from bench_import import measure
ok = tuple(int(code) for code in sys.argv[1].split(","))
print(*measure(sys.argv[2:], ok))
"""


if __name__ == "__main__":
    main()
