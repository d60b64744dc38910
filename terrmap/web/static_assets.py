"""Browser files of the map (Leaflet, plugins, point positions) served by the app.

The map never loads JavaScript or CSS from a CDN. Leaflet 1.9.4, Leaflet.draw
1.0.4 and leaflet-lasso 2.2.13 are vendored in ``terrmap/web/assets/`` (their
versions and licences are in the README there) and ship inside the wheel, so
the install needs no Node and the map works offline.

The app serves two folders through Streamlit's custom-component file route
(``/component/<name>/<file>``), which works wherever the package is
installed, read-only site-packages included:

* :data:`ASSETS_DIR` -- the vendored libraries, under :data:`DEFAULT_ASSET_BASE`;
* :func:`points_cache_dir` -- a writable cache of the files made from a data
  set (account positions by :func:`publish_points`, base maps by
  :func:`terrmap.web.basemap.publish_basemap`), under :data:`POINTS_BASE`;
  :func:`prune_points` deletes the ones no session published for a while.

:func:`serve` registers both; a page calls it with
``streamlit.components.v1.declare_component`` on every run (this package never
imports Streamlit).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ASSETS_DIR",
    "ASSET_FILES",
    "ASSET_VERSIONS",
    "CACHE_DIR_ENV",
    "DEFAULT_ASSET_BASE",
    "POINTS_BASE",
    "MissingAssetsError",
    "asset_urls",
    "check_assets",
    "missing_assets",
    "points_cache_dir",
    "prune_points",
    "publish_file",
    "publish_points",
    "serve",
]

logger = logging.getLogger(__name__)

#: Folder of the vendored browser libraries (package data).
ASSETS_DIR: Path = Path(__file__).resolve().parent / "assets"

#: Asset key -> path relative to :data:`ASSETS_DIR`.
ASSET_FILES: dict[str, str] = {
    "leaflet_js": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "draw_js": "leaflet-draw/leaflet.draw.js",
    "draw_css": "leaflet-draw/leaflet.draw.css",
    "lasso_js": "leaflet-lasso/leaflet-lasso.umd.min.js",
}

#: Vendored package -> version (recorded in ``assets/README.md``).
ASSET_VERSIONS: dict[str, str] = {
    "leaflet": "1.9.4",
    "leaflet-draw": "1.0.4",
    "leaflet-lasso": "2.2.13",
}

# Streamlit names a declared component "<declaring module>.<name>"; the
# declaring module is this one (see serve()).
_ASSETS_COMPONENT = f"{__name__}.assets"
_POINTS_COMPONENT = f"{__name__}.points"

#: URL prefix of :data:`ASSETS_DIR` once :func:`serve` has run.
DEFAULT_ASSET_BASE = f"/component/{_ASSETS_COMPONENT}"

#: URL prefix of :func:`points_cache_dir` once :func:`serve` has run.
POINTS_BASE = f"/component/{_POINTS_COMPONENT}"

#: Environment variable naming the cache folder (default: the user's cache).
CACHE_DIR_ENV = "TERRMAP_CACHE_DIR"


class MissingAssetsError(FileNotFoundError):
    """Raised when vendored map assets are missing from the package."""


def asset_urls(asset_base: str = DEFAULT_ASSET_BASE) -> dict[str, str]:
    """Return the URL of every map asset under ``asset_base``.

    Parameters
    ----------
    asset_base : str, default :data:`DEFAULT_ASSET_BASE`
        URL path prefix the assets folder is served under, without trailing
        slash.

    Returns
    -------
    dict of str to str
        Asset key (see :data:`ASSET_FILES`) -> URL.

    Raises
    ------
    ValueError
        When ``asset_base`` is not a local absolute URL path.

    Examples
    --------
    >>> asset_urls("/assets")["leaflet_js"]
    '/assets/leaflet/leaflet.js'
    """
    if not isinstance(asset_base, str) or "://" in asset_base or not asset_base.startswith("/"):
        raise ValueError(
            f"asset_base must be a local absolute URL path like '/assets', got {asset_base!r}"
        )
    base = asset_base.rstrip("/")
    return {key: f"{base}/{rel}" for key, rel in ASSET_FILES.items()}


def missing_assets(assets_dir: str | Path = ASSETS_DIR) -> list[str]:
    """List the asset files that are not on disk.

    Parameters
    ----------
    assets_dir : str or pathlib.Path, default :data:`ASSETS_DIR`
        Folder holding the assets.

    Returns
    -------
    list of str
        Relative paths (see :data:`ASSET_FILES`) that do not exist; empty when
        everything is there.

    Examples
    --------
    >>> missing_assets("/nonexistent")[0]
    'leaflet/leaflet.js'
    """
    root = Path(assets_dir)
    return [rel for rel in ASSET_FILES.values() if not (root / rel).is_file()]


def check_assets(assets_dir: str | Path = ASSETS_DIR) -> None:
    """Raise a helpful error when map assets are missing.

    Parameters
    ----------
    assets_dir : str or pathlib.Path, default :data:`ASSETS_DIR`
        Folder holding the assets.

    Raises
    ------
    MissingAssetsError
        When any asset is missing; the message names the files and says the
        package is incomplete.

    Examples
    --------
    >>> check_assets()
    """
    root = Path(assets_dir)
    missing = missing_assets(root)
    if missing:
        raise MissingAssetsError(
            f"The map's JavaScript assets are missing from {root} "
            f"({', '.join(missing)}): this terrmap installation is incomplete; "
            "reinstall the package."
        )


def points_cache_dir() -> Path:
    """Return the folder the account positions are published to.

    ``$TERRMAP_CACHE_DIR/points`` when that variable is set, otherwise
    ``$XDG_CACHE_HOME/terrmap/points`` (``~/.cache/terrmap/points``). It is not
    created here.

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> points_cache_dir().name
    'points'
    """
    root = os.environ.get(CACHE_DIR_ENV)
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "terrmap")
    return Path(root) / "points"


def serve(declare_component: Callable[..., Any]) -> None:
    """Register the assets and the positions cache with the app's file server.

    Parameters
    ----------
    declare_component : callable
        ``streamlit.components.v1.declare_component``. It is called from this
        module, which is what fixes the component names, and so the URLs
        :data:`DEFAULT_ASSET_BASE` and :data:`POINTS_BASE`. Call it in every
        script run (Streamlit registers components only inside a run;
        registering again is free).

    Raises
    ------
    MissingAssetsError
        When the package lacks an asset.
    RuntimeError
        When Streamlit names the components differently from what the URLs
        assume (a Streamlit change this module must follow).
    """
    check_assets()
    served = {"assets": ASSETS_DIR, "points": points_cache_dir()}
    expected = {"assets": _ASSETS_COMPONENT, "points": _POINTS_COMPONENT}
    for name, folder in served.items():
        if name == "points":
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                # publish_points fails the same way and the map inlines positions.
                logger.warning("cannot create the positions cache %s: %s", folder, error)
                continue
        component = declare_component(name, path=str(folder))
        actual = getattr(component, "name", None)
        if actual != expected[name]:
            raise RuntimeError(
                f"Streamlit served {folder} as component {actual!r}, expected "
                f"{expected[name]!r}: the map's URLs in {__name__} need updating"
            )


def publish_points(
    lon: np.ndarray,
    lat: np.ndarray,
    cache_dir: str | Path | None = None,
    points_base: str = POINTS_BASE,
) -> str:
    """Write account positions where the app serves them; return their URL.

    The map fetches the positions once from this file instead of carrying them
    in its HTML, which streamlit-folium re-sends on every rerun (1.1 MB at 100k
    accounts). The file holds little-endian float32: all longitudes, then all
    latitudes, named after a hash of the content.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Account positions in WGS84 degrees, in the map's point order.
    cache_dir, points_base
        Where the file goes and its URL prefix, as for :func:`publish_file`.

    Returns
    -------
    str
        URL of the file, e.g. ``<points_base>/points-0123abcd4567.bin``.

    Raises
    ------
    ValueError
        When ``lon`` and ``lat`` differ in length.
    OSError
        When the folder cannot be written.
    """
    lon = np.asarray(lon, dtype="<f4")
    lat = np.asarray(lat, dtype="<f4")
    if lon.shape != lat.shape or lon.ndim != 1:
        raise ValueError(f"lon and lat must be 1-D of one length, got {lon.shape} and {lat.shape}")
    data = np.concatenate([lon, lat]).tobytes()
    name = f"points-{hashlib.sha1(data).hexdigest()[:16]}.bin"
    return publish_file(data, name, cache_dir, points_base)


def publish_file(
    data: bytes,
    name: str,
    cache_dir: str | Path | None = None,
    points_base: str = POINTS_BASE,
) -> str:
    """Write ``data`` as ``<name>`` in the served cache folder, once; return its URL.

    Callers name files after a hash of their content, so an existing file is
    the same data and is kept as it is (its time refreshed: in use).

    Parameters
    ----------
    data : bytes
        File content.
    name : str
        File name (no folders), e.g. ``points-0123abcd4567.bin``.
    cache_dir : str or pathlib.Path, optional
        Folder the app serves under ``points_base``; defaults to
        :func:`points_cache_dir`.
    points_base : str, default :data:`POINTS_BASE`
        URL prefix of that folder.

    Returns
    -------
    str
        URL of the file, ``<points_base>/<name>``.

    Raises
    ------
    ValueError
        When ``name`` is not a plain file name.
    OSError
        When the folder cannot be written.
    """
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"name must be a plain file name, got {name!r}")
    folder = Path(cache_dir) if cache_dir is not None else points_cache_dir()
    target = folder / name
    if target.exists():
        os.utime(target)  # in use: :func:`prune_points` keeps it
    else:
        from terrmap.io.exports import write_export  # write then rename: never half a file

        folder.mkdir(parents=True, exist_ok=True)
        write_export(data, target)
        logger.info("published %d bytes to %s", len(data), target)
    return f"{points_base.rstrip('/')}/{name}"


def prune_points(
    max_age: timedelta, cache_dir: str | Path | None = None, *, now: datetime | None = None
) -> list[Path]:
    """Delete published files (positions, base maps) not published for longer than ``max_age``.

    Every publication of a file refreshes its modification time, so a file
    older than ``max_age`` belongs to no data set a session opened since.

    Parameters
    ----------
    max_age : datetime.timedelta
        How long an unused file is kept.
    cache_dir : str or pathlib.Path, optional
        The served cache folder; defaults to :func:`points_cache_dir`.
    now : datetime, optional
        The present; the clock by default.

    Returns
    -------
    list of pathlib.Path
        The files deleted.

    Raises
    ------
    ValueError
        For a negative age.
    """
    if max_age < timedelta(0):
        raise ValueError(f"max_age must not be negative, got {max_age}")
    folder = Path(cache_dir) if cache_dir is not None else points_cache_dir()
    cutoff = ((now or datetime.now(UTC)) - max_age).timestamp()
    removed = []
    for path in sorted(p for p in folder.glob("*") if p.is_file()):
        with contextlib.suppress(FileNotFoundError):  # another server pruned it first
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
    if removed:
        logger.info("pruned %d unused published files", len(removed))
    return removed
