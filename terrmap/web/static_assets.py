"""Browser assets of the map (Leaflet and plugins) served by the app itself.

The map never loads JavaScript or CSS from a CDN. The files come from the npm
registry through ``static/package.json`` and its lock file, are installed with
``npm ci --prefix static`` and are served by Streamlit's static file serving
(``[server] enableStaticServing = true``) under ``/app/static/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

__all__ = [
    "ASSET_FILES",
    "DEFAULT_ASSET_BASE",
    "INSTALL_COMMAND",
    "MissingAssetsError",
    "asset_urls",
    "check_assets",
    "default_static_dir",
    "missing_assets",
    "prune_points",
    "publish_file",
    "publish_points",
]

logger = logging.getLogger(__name__)

#: URL prefix under which Streamlit serves ``./static`` of the main script's folder.
DEFAULT_ASSET_BASE = "/app/static"

#: Command that installs the assets (run from the repository root).
INSTALL_COMMAND = "npm ci --prefix static"

#: Asset key -> path relative to the static folder.
ASSET_FILES: dict[str, str] = {
    "leaflet_js": "node_modules/leaflet/dist/leaflet.js",
    "leaflet_css": "node_modules/leaflet/dist/leaflet.css",
    "draw_js": "node_modules/leaflet-draw/dist/leaflet.draw.js",
    "draw_css": "node_modules/leaflet-draw/dist/leaflet.draw.css",
    "lasso_js": "node_modules/leaflet-lasso/dist/leaflet-lasso.umd.min.js",
}


class MissingAssetsError(FileNotFoundError):
    """Raised when the npm-installed map assets are not on disk."""


def default_static_dir() -> Path:
    """Return the ``static`` folder of the repository (next to ``app.py``).

    Returns
    -------
    pathlib.Path
        ``<repository root>/static``.

    Examples
    --------
    >>> default_static_dir().name
    'static'
    """
    return Path(__file__).resolve().parents[2] / "static"


def asset_urls(asset_base: str = DEFAULT_ASSET_BASE) -> dict[str, str]:
    """Return the URL of every map asset under ``asset_base``.

    Parameters
    ----------
    asset_base : str, default "/app/static"
        URL prefix of the served static folder, without trailing slash. Change
        it when the app runs under ``server.baseUrlPath``.

    Returns
    -------
    dict of str to str
        Asset key (see :data:`ASSET_FILES`) -> URL.

    Examples
    --------
    >>> asset_urls()["leaflet_js"]
    '/app/static/node_modules/leaflet/dist/leaflet.js'
    """
    if not isinstance(asset_base, str) or "://" in asset_base or not asset_base.startswith("/"):
        raise ValueError(
            f"asset_base must be a local absolute URL path like '/app/static', got {asset_base!r}"
        )
    base = asset_base.rstrip("/")
    return {key: f"{base}/{rel}" for key, rel in ASSET_FILES.items()}


def missing_assets(static_dir: str | Path | None = None) -> list[str]:
    """List the asset files that are not installed.

    Parameters
    ----------
    static_dir : str or pathlib.Path, optional
        The static folder; defaults to :func:`default_static_dir`.

    Returns
    -------
    list of str
        Relative paths (see :data:`ASSET_FILES`) that do not exist; empty when
        everything is installed.

    Examples
    --------
    >>> missing_assets("/nonexistent")[0]
    'node_modules/leaflet/dist/leaflet.js'
    """
    root = Path(static_dir) if static_dir is not None else default_static_dir()
    return [rel for rel in ASSET_FILES.values() if not (root / rel).is_file()]


def check_assets(static_dir: str | Path | None = None) -> None:
    """Raise a helpful error when the map assets have not been installed.

    Parameters
    ----------
    static_dir : str or pathlib.Path, optional
        The static folder; defaults to :func:`default_static_dir`.

    Raises
    ------
    MissingAssetsError
        When any asset is missing; the message names the command to run.

    Examples
    --------
    >>> check_assets()  # doctest: +SKIP
    """
    root = Path(static_dir) if static_dir is not None else default_static_dir()
    missing = missing_assets(root)
    if missing:
        raise MissingAssetsError(
            f"The map's JavaScript assets are not installed in {root} "
            f"(missing: {', '.join(missing)}). From the repository root run:\n\n"
            f"    {INSTALL_COMMAND}\n"
        )
    logger.debug("map assets present in %s", root)


def publish_points(
    lon: np.ndarray,
    lat: np.ndarray,
    static_dir: str | Path | None = None,
    asset_base: str = DEFAULT_ASSET_BASE,
) -> str:
    """Write account positions where the app serves them; return their URL.

    The map fetches the positions once from this file instead of carrying them
    in its HTML, which streamlit-folium re-sends on every rerun (1.1 MB at 100k
    accounts). The file holds little-endian float32: all longitudes, then all
    latitudes. Its name is a hash of the content, so an existing file is
    reused and different data sets never collide.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Account positions in WGS84 degrees, in the map's point order.
    static_dir, asset_base
        Where the file goes and its URL prefix, as for :func:`publish_file`.

    Returns
    -------
    str
        URL of the file, e.g. ``/app/static/cache/points-0123abcd4567.bin``.

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
    return publish_file(data, name, static_dir, asset_base)


def publish_file(
    data: bytes,
    name: str,
    static_dir: str | Path | None = None,
    asset_base: str = DEFAULT_ASSET_BASE,
) -> str:
    """Write ``data`` as ``cache/<name>`` in the served folder, once; return its URL.

    Callers name files after a hash of their content, so an existing file is
    the same data and is kept as it is.

    Parameters
    ----------
    data : bytes
        File content.
    name : str
        File name (no folders), e.g. ``points-0123abcd4567.bin``.
    static_dir : str or pathlib.Path, optional
        Folder Streamlit serves; defaults to :func:`default_static_dir`.
    asset_base : str, default "/app/static"
        URL prefix of that folder.

    Returns
    -------
    str
        URL of the file, ``<asset_base>/cache/<name>``.

    Raises
    ------
    ValueError
        When ``name`` is not a plain file name.
    OSError
        When the folder cannot be written.
    """
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"name must be a plain file name, got {name!r}")
    folder = Path(static_dir) if static_dir is not None else default_static_dir()
    target = folder / "cache" / name
    if target.exists():
        os.utime(target)  # in use: :func:`prune_points` keeps it
    else:
        from terrmap.io.exports import write_export  # write then rename: never half a file

        target.parent.mkdir(parents=True, exist_ok=True)
        write_export(data, target)
        logger.info("published %d bytes to %s", len(data), target)
    return f"{asset_base.rstrip('/')}/cache/{name}"


def prune_points(
    max_age: timedelta, static_dir: str | Path | None = None, *, now: datetime | None = None
) -> list[Path]:
    """Delete published files (positions, base maps) not published for longer than ``max_age``.

    Every publication of a file refreshes its modification time, so a file
    older than ``max_age`` belongs to no data set a session opened since.

    Parameters
    ----------
    max_age : datetime.timedelta
        How long an unused file is kept.
    static_dir : str or pathlib.Path, optional
        Folder Streamlit serves; defaults to :func:`default_static_dir`.
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
    folder = (Path(static_dir) if static_dir is not None else default_static_dir()) / "cache"
    cutoff = ((now or datetime.now(UTC)) - max_age).timestamp()
    removed = []
    for path in sorted(p for p in folder.glob("*") if p.is_file()):
        with contextlib.suppress(FileNotFoundError):  # another server pruned it first
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
    if removed:
        logger.info("pruned %d unused position files", len(removed))
    return removed
