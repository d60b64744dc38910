"""Shared fixtures: a 2x2 grid of territories and eight accounts."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"


def app_pages() -> list[str]:
    """The page files ``app.py`` navigates to, relative to the repository root."""
    return re.findall(r'"(pages/[^"/]+\.py)"', APP.read_text(encoding="utf-8"))


@pytest.fixture
def open_app_page():
    """Return ``open(page, timeout=30)``: the real ``app.py`` in ``AppTest``, on ``page``.

    Fails (never skips, never runs a stand-in) when a page ``app.py`` lists is
    missing: the app would fail the same way.
    """
    from streamlit.testing.v1 import AppTest

    def open_page(page: str, timeout: float = 30):
        missing = [name for name in app_pages() if not (ROOT / name).is_file()]
        assert not missing, f"app.py navigates to page files that do not exist: {missing}"
        assert page in app_pages(), f"{page} is not a page of app.py"
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


@contextlib.contextmanager
def _environment(name: str, value: str):
    """Set an environment variable for the block, then restore what was there."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@pytest.fixture(scope="session", autouse=True)
def points_cache(tmp_path_factory):
    """Publish the map's account positions to a temporary cache, not ``~/.cache``."""
    path = tmp_path_factory.mktemp("cache")
    with _environment("TERRMAP_CACHE_DIR", str(path)):
        yield path


@pytest.fixture(scope="session", autouse=True)
def scenario_db(tmp_path_factory):
    """Point the scenario store at a temporary file for the whole test session.

    Pages autosave the working copy after every change; without this, tests
    (and the app servers they start, which inherit the environment) would
    write to the user's ``~/.terrmap``.
    """
    path = tmp_path_factory.mktemp("scenario-db") / "terrmap.sqlite"
    with _environment("TERRMAP_DB", str(path)):
        yield path


@pytest.fixture
def grid_territories() -> gpd.GeoDataFrame:
    """Four unit squares in degrees, rep homes at their centres.

    ::

        lat 2 +------+------+
              |  NW  |  NE  |
        lat 1 +------+------+
              |  SW  |  SE  |
        lat 0 +------+------+
              lon 0  lon 1  lon 2
    """
    return gpd.GeoDataFrame(
        {
            "name": ["South-West", "South-East", "North-West", "North-East"],
            "rep_id": ["R1", "R2", "R3", "R4"],
        },
        geometry=[
            shapely.box(0, 0, 1, 1),
            shapely.box(1, 0, 2, 1),
            shapely.box(0, 1, 1, 2),
            shapely.box(1, 1, 2, 2),
        ],
        index=pd.Index(["SW", "SE", "NW", "NE"], name="territory_id"),
        crs="EPSG:4326",
    )


@pytest.fixture
def grid_reps() -> pd.DataFrame:
    """One rep per square, living at its centre, 1,600 selling hours each."""
    return pd.DataFrame(
        {
            "name": ["Ann", "Bob", "Cy", "Di"],
            "home_lon": [0.5, 1.5, 0.5, 1.5],
            "home_lat": [0.5, 0.5, 1.5, 1.5],
            "capacity_hours": [1600.0] * 4,
        },
        index=pd.Index(["R1", "R2", "R3", "R4"], name="rep_id"),
    )


@pytest.fixture
def grid_accounts() -> pd.DataFrame:
    """Eight accounts, two per square.

    ::

        +------+------+
        | e  f | g  h |
        +------+------+
        | a  b | c  d |
        +------+------+

    Account ``a`` is the seeds' Account A (revenue 100k, cost 80k) and ``b``
    Account B (revenue 60k, cost 20k): A earns more, B is worth more.
    """
    return pd.DataFrame(
        {
            "name": list("abcdefgh"),
            "lon": [0.25, 0.75, 1.25, 1.75, 0.25, 0.75, 1.25, 1.75],
            "lat": [0.5, 0.5, 0.5, 0.5, 1.5, 1.5, 1.5, 1.5],
            "revenue": [100_000.0, 60_000.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            "cost_to_serve": [80_000.0, 20_000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "visits_per_year": [12.0, 4.0, 2.0, 2.0, 4.0, 4.0, 0.0, 1.0],
            "stage": [
                "customer",
                "lead",
                "lead",
                "opportunity",
                "customer",
                "lead",
                "customer",
                "customer",
            ],
            "is_new": [True, False, False, False, False, False, True, False],
            "revenue_last_year": [90_000.0, np.nan, np.nan, np.nan, 25.0, np.nan, np.nan, 50.0],
            "owner": ["R1", "R1", "R2", "R2", "R3", "R3", "R4", "R4"],
        },
        index=pd.Index([f"ACC-{c}" for c in "abcdefgh"], name="account_id"),
    )


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (tests/pgserver.py); fails, never skips, if it cannot start."""
    from pgserver import PostgresServer

    try:
        server = PostgresServer().start()
    except Exception as error:  # noqa: BLE001 - whatever stops it, the tests must say so
        pytest.fail(f"PostgreSQL could not start for the store tests: {error}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A scenario store on the embedded SQLite file, then on a real PostgreSQL server."""
    from terrmap.store.scenarios import ScenarioStore

    if request.param == "sqlite":
        opened = ScenarioStore(tmp_path / "scenarios.sqlite")
    else:
        opened = ScenarioStore(request.getfixturevalue("pg_url"))
    yield opened
    opened.close()
