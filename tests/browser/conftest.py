"""Browser-test infrastructure: one app server per session, Debian's Chromium.

Fixtures
--------
``app_url``
    Base URL (``http://127.0.0.1:<port>``) of ``streamlit run app.py`` started
    once per session from the repository root. The server inherits
    ``os.environ``, so a data override (e.g. ``TERRMAP_DATA_DIR``) set before
    pytest reaches the app.
``fresh_app_url``
    The same on a server of the test's own (first-visitor behaviour).
``browser``
    Headless ``/usr/bin/chromium`` driven by Playwright (Playwright's own
    browser download is not used). Missing Chromium is a failure, not a skip.
``page``
    A fresh context (1400x900) per test. ``page.external_requests``,
    ``page.page_errors`` and ``page.console_errors`` record what happened;
    teardown fails the test on any request to a host other than
    127.0.0.1/localhost (except :data:`TILE_HOSTS`) and on any uncaught page
    error. A failing test leaves ``test-artifacts/<test name>.png``.

Helpers
-------
:func:`wait_for_app` waits until the script run finished;
:func:`goto_page` clicks a sidebar navigation link and waits for the page;
:func:`run_and_wait` does anything that reruns the script and waits for
that rerun (not the previous one) to finish.

Every test under ``tests/browser`` is marked ``browser``
(``pytest -m "not browser"`` skips them).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = (
    "Debian's chromium is missing: run scripts/setup.sh --test (apt-get install chromium)"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Hosts the map may fetch tiles from. terrmap.web.mapview.build_base_map draws no
# tiles unless a caller passes ``tiles=``, and the app is meant to run offline,
# so none is allowed; add e.g. "a.basemaps.cartocdn.com" here if a tile layer
# becomes part of the tested app.
TILE_HOSTS: frozenset[str] = frozenset()
SERVER_START_TIMEOUT_S = 60.0
APP_TIMEOUT_MS = 30_000
#: run_and_wait repeats an action that started no script run within this time.
RETRY_AFTER_MS = 8_000


# --------------------------------------------------------------------------- marking


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so fixture teardown can tell a failure.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    # The server runs in its own session: signal the group so nothing it spawned survives.
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def serve_app(
    env: dict[str, str] | None = None,
    *,
    launcher: Sequence[str] | None = None,
    cwd: Path = ROOT,
):
    """Run ``streamlit run app.py`` from the repository root; yield its base URL.

    Parameters
    ----------
    env : dict, optional
        Environment of the server; ``os.environ`` when omitted.
    launcher : sequence of str, optional
        Command that starts the app and takes Streamlit's options after it,
        e.g. ``[".../bin/terrmap", "app"]``; ``streamlit run app.py`` when omitted.
    cwd : pathlib.Path, default the repository root
        Working folder of the server.

    Yields
    ------
    str
        ``http://127.0.0.1:<port>``, once ``/_stcore/health`` answers.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *(launcher or [sys.executable, "-m", "streamlit", "run", "app.py"]),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        # No file watcher: the tree does not change under test, and it costs CPU.
        "--server.fileWatcherType",
        "none",
    ]
    # A file, not a pipe: a chatty server must never block on a full pipe.
    with tempfile.TemporaryFile("w+", prefix="terrmap-server-") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(os.environ if env is None else env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    why = (
                        f"exited with {process.returncode}"
                        if process.poll() is not None
                        else f"not healthy after {SERVER_START_TIMEOUT_S:.0f} s"
                    )
                    pytest.fail(
                        f"streamlit server {why}: {' '.join(command)}\n"
                        f"--- server output ---\n{log.read()}",
                        pytrace=False,
                    )
                time.sleep(0.2)
            yield url
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def app_url():
    """Base URL of the app server shared by the whole session."""
    with serve_app() as url:
        yield url


@pytest.fixture
def fresh_app_url():
    """Base URL of a server of this test's own, no session has run on it yet.

    Costs a server start and the first data load (seconds): only for what
    depends on being the first visitor.
    """
    with serve_app() as url:
        yield url


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium under Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    # data:, blob: and about: URLs never leave the machine.
    return parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname in LOCAL_HOSTS


def _artifact_name(nodeid_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid_name).strip("_") + ".png"


@pytest.fixture
def page(browser, request):
    """A fresh page that records external requests, page errors and console errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(APP_TIMEOUT_MS)
    page = context.new_page()
    page.external_requests = []
    page.page_errors = []
    page.console_errors = []
    # Messages the app server sent: a script run always sends some, even one so
    # fast that React never shows its "running" state (see run_and_wait).
    page.server_messages = 0

    def _count_messages(socket) -> None:
        def received(_payload) -> None:
            page.server_messages += 1

        socket.on("framereceived", received)

    page.on("websocket", _count_messages)
    page.on(
        "request",
        lambda req: None if _is_local(req.url) else page.external_requests.append(req.url),
    )
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    page.on(
        "console",
        lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    # Nothing leaves the machine: an external request is recorded above, then refused
    # here, so an offline run fails on the record rather than hanging on a timeout.
    context.route(lambda url: not _is_local(url), lambda route: route.abort())

    yield page

    forbidden = [url for url in page.external_requests if urlsplit(url).hostname not in TILE_HOSTS]
    problems = []
    if forbidden:
        problems.append(f"requests to non-local hosts: {forbidden[:10]}")
    if page.page_errors:
        problems.append(f"uncaught page errors: {page.page_errors[:10]}")
    failed = any(
        getattr(request.node, f"rep_{when}", None) is not None
        and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    if failed or problems:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / _artifact_name(request.node.name)), full_page=True)
        except Exception as error:  # a crashed page must not hide the test's own failure
            problems.append(f"(screenshot failed: {error})")
    context.close()
    if problems:
        if page.console_errors:
            problems.append(f"console errors: {page.console_errors[:10]}")
        pytest.fail("\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------- helpers


def wait_for_app(page, timeout: float = APP_TIMEOUT_MS) -> None:
    """Wait until Streamlit is connected and the script run has finished.

    Parameters
    ----------
    page : playwright.sync_api.Page
        A page showing the app.
    timeout : float
        Milliseconds to wait for each condition.

    Notes
    -----
    After a click that triggers a rerun, the app may still report "not
    running" before the rerun request reaches the server; wait for the
    expected change (``expect(...).to_have_text``) rather than for this alone.
    """
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout
    )
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout
    )
    page.wait_for_selector('[data-testid="stMain"]', timeout=timeout)
    page.wait_for_selector(
        '[data-testid="stStatusWidgetRunningIcon"]', state="detached", timeout=timeout
    )


# Counts script runs that start after it is armed. It watches the whole body, not
# one element, so it survives React replacing the app root.
_ARM_RUN_WATCH = """() => {
  if (window.__terrmapWatch) window.__terrmapWatch.disconnect();
  window.__terrmapRunStarted = false;
  // Read each record's old value: a run can start and end before the callback
  // runs, and then only the records still tell that it happened.
  window.__terrmapWatch = new MutationObserver((records) => {
    for (const record of records) {
      const now = record.target.getAttribute("data-test-script-state");
      if (record.oldValue === "notRunning" || now !== "notRunning") {
        window.__terrmapRunStarted = true;
      }
    }
  });
  window.__terrmapWatch.observe(document.body, {
    attributes: true, subtree: true, attributeOldValue: true,
    attributeFilter: ["data-test-script-state"],
  });
}"""


def run_and_wait(page, action, timeout: float = APP_TIMEOUT_MS) -> None:
    """Do something that reruns the script, and wait until that rerun finished.

    Waiting for "not running" alone races with the rerun request: right after
    a click the app still shows the previous run as finished. This arms a
    watcher first, so only a run that started after ``action`` counts.

    Parameters
    ----------
    page : playwright.sync_api.Page
        A page showing the app (already loaded, see :func:`wait_for_app`).
    action : callable
        Called with no argument; must trigger a script run (click a button,
        a navigation link, change a widget...). Called a second time when no
        run started within :data:`RETRY_AFTER_MS`, so it must be idempotent.
    timeout : float
        Milliseconds to wait for the run to start and finish.

    Examples
    --------
    >>> run_and_wait(page, lambda: page.get_by_role("button", name="Undo").click())  # doctest: +SKIP
    """
    # A run still going when the watcher is armed would end without a "started"
    # mutation and the wait would time out: start from an idle app.
    wait_for_app(page, timeout)
    page.evaluate(_ARM_RUN_WATCH)
    messages = getattr(page, "server_messages", None)
    action()
    if not _run_started(page, messages, RETRY_AFTER_MS):
        # A click that lands while Streamlit re-renders the element it aimed at
        # (the sidebar after a run, the map while it settles) can be lost on a
        # busy machine. Idempotent actions only come here: try once more.
        warnings.warn(
            f"no script run {RETRY_AFTER_MS} ms after the action; repeating it", stacklevel=2
        )
        messages = getattr(page, "server_messages", None)
        action()
        if not _run_started(page, messages, timeout):
            raise AssertionError(f"the action started no script run within {timeout:.0f} ms")
    page.evaluate("() => window.__terrmapWatch && window.__terrmapWatch.disconnect()")
    _wait_quiet(page, timeout)
    wait_for_app(page, timeout)


def _wait_quiet(page, timeout: float, quiet_ms: float = 300) -> None:
    """Wait until the server has sent nothing for ``quiet_ms`` (the run's output is in)."""
    if getattr(page, "server_messages", None) is None:
        return
    deadline = time.monotonic() + timeout / 1000
    last, since = page.server_messages, time.monotonic()
    while time.monotonic() < deadline:
        page.wait_for_timeout(50)
        if page.server_messages != last:
            last, since = page.server_messages, time.monotonic()
        elif (time.monotonic() - since) * 1000 >= quiet_ms:
            return


def _run_started(page, messages_before: int | None, timeout: float) -> bool:
    """Wait for a sign that a script run started: a "running" state or a server message.

    A run that ends before React renders shows no "running" state at all, but
    the server always sends messages for it; pages made without the ``page``
    fixture have no message count and rely on the state alone.
    """
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        if messages_before is not None and page.server_messages > messages_before:
            return True
        if page.evaluate("() => window.__terrmapRunStarted === true"):
            return True
        page.wait_for_timeout(50)
    return False


def goto_page(page, title: str, timeout: float = APP_TIMEOUT_MS) -> None:
    """Open a page of the app through the sidebar navigation.

    Parameters
    ----------
    page : playwright.sync_api.Page
        A page showing the app (already loaded, see :func:`wait_for_app`).
    title : str
        The navigation link's text, e.g. ``"Territories"``.
    timeout : float
        Milliseconds to wait for the link and the page's script run.
    """
    link = page.get_by_test_id("stSidebarNavLink").filter(
        has_text=re.compile(rf"^\s*{re.escape(title)}\s*$")
    )
    run_and_wait(page, lambda: link.click(timeout=timeout), timeout)


_READ_GRID = """(root) => {
  const grid = root.querySelector('table[role="grid"]');
  if (!grid) return null;
  const headers = {};
  for (const th of grid.querySelectorAll("thead th")) {
    headers[th.getAttribute("aria-colindex")] = th.textContent;
  }
  return Array.from(grid.querySelectorAll("tbody tr"), (tr) => {
    const row = {};
    for (const td of tr.querySelectorAll("td")) {
      const name = headers[td.getAttribute("aria-colindex")];
      if (name !== undefined) row[name] = td.textContent;
    }
    return row;
  });
}"""


def read_dataframe(frame, timeout: float = APP_TIMEOUT_MS) -> list[dict[str, str]]:
    """Rows of an ``st.dataframe`` as the browser holds them, header -> cell text.

    ``st.dataframe`` paints its cells on a canvas; the only text in the page
    is the grid's accessibility table, which holds the *raw* values
    (``8628769``, ``0.61``), not the formatted ones (``$8,628,769``,
    ``61.1%``), and only the rows and columns scrolled into view.

    Parameters
    ----------
    frame : playwright.sync_api.Locator
        One ``[data-testid="stDataFrame"]`` element.
    timeout : float
        Milliseconds to wait for the grid's first row.

    Returns
    -------
    list of dict
        One dict per rendered row, keyed by column header (the index
        column's header is the index name).
    """
    frame.locator('table[role="grid"] tbody tr').first.wait_for(state="attached", timeout=timeout)
    return frame.evaluate(_READ_GRID)


def download_file(page, label, folder):
    """Click the download button labelled ``label``; return (suggested name, saved path)."""
    button = page.get_by_test_id("stDownloadButton").filter(has_text=label)
    with page.expect_download() as info:
        button.click()
    download = info.value
    target = folder / download.suggested_filename
    download.save_as(target)
    return download.suggested_filename, target
