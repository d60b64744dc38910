"""Real file-system conditions for the store's error tests: a read-only mount, a small disk.

Both need root (the tests run as root in CI); a mount that fails fails the test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted(*args: str) -> Iterator[Path]:
    """Mount something (``mount ARGS target``) at a fresh folder for the block's duration."""
    if os.geteuid() != 0:
        # Fail, never skip: a skipped test would pass with the feature gone.
        pytest.fail("mounting needs root: run the tests as root (as CI does)", pytrace=False)
    target = Path(f"/tmp/terrmap-mnt-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    target.mkdir()
    result = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        target.rmdir()
        pytest.fail(f"mount {' '.join(args)} failed: {result.stderr.strip()}")
    try:
        yield target
    finally:
        # Lazy: a pooled connection still open elsewhere must not keep it mounted.
        subprocess.run(["umount", "--lazy", str(target)], check=True)
        target.rmdir()


def read_only_view(folder: Path) -> contextlib.AbstractContextManager[Path]:
    """``folder`` seen through a read-only bind mount."""
    return mounted("--bind", "-o", "ro", str(folder))


def small_disk(size: str = "1m") -> contextlib.AbstractContextManager[Path]:
    """A tmpfs of ``size``: a disk that fills up."""
    return mounted("-t", "tmpfs", "-o", f"size={size}", "tmpfs")
