"""Regenerate the embedded demo data in ``data/`` from ``terrmap.demo.generate``.

Besides the accounts, reps and territories, it writes ``definition.json``: the
demo's territories as counties, with a few named-account exceptions and two
regions (:func:`terrmap.demo.demo_definition`).

Run from anywhere: ``python scripts/make_demo_data.py [OUTDIR]``. The output is
deterministic, and ``tests/test_demo.py`` fails when ``data/`` drifts from
``generate()`` with its defaults, so rerun this after changing the generator.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from terrmap.demo import DATA_DIR, DEFINITION_FILE, demo_definition, generate, write_demo

logger = logging.getLogger("make_demo_data")


def main(argv: list[str] | None = None) -> int:
    """Write ``generate()`` with its defaults to ``OUTDIR`` (default ``data/``).

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        Exit status, 0 on success.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = generate()
    paths = write_demo(data, args.outdir)
    paths["definition"] = args.outdir / DEFINITION_FILE
    text = json.dumps(demo_definition(data).to_dict(), indent=1, ensure_ascii=False) + "\n"
    paths["definition"].write_text(text, encoding="utf-8")
    for path in paths.values():
        logger.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
