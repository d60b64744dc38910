"""The unit layer as a file the map loads once: outlines of every building block.

:func:`units_file_bytes` packs the outlines of a
:class:`~terrmap.geo.units.UnitLayer` (from
:func:`terrmap.geo.unitmap.unit_rings`) into the little binary format
``js/terrmap_units.js`` reads; :func:`publish_units` writes it next to the
other per-data-set files the app serves (positions, hover texts, base map),
named by a hash of its content. Reruns then send only a territory code per
unit, never the shapes.

Format (little-endian)::

    b"TMU1", uint32 n_units, uint32 n_rings, uint32 n_coords,
    int32 unit_start[n_units + 1], int32 ring_start[n_rings + 1],
    float32 lon/lat pairs [2 * n_coords]
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from terrmap.geo.unitmap import unit_rings
from terrmap.geo.units import UnitLayer
from terrmap.web.static_assets import POINTS_BASE, publish_file

__all__ = ["UNITS_MAGIC", "publish_units", "units_file_bytes", "units_tolerance"]

logger = logging.getLogger(__name__)

#: First four bytes of a unit file.
UNITS_MAGIC = b"TMU1"


def units_tolerance(layer: UnitLayer) -> float:
    """Simplification (degrees) for drawing a layer's outlines.

    H3 cells have six corners and are kept as they are; other layers are
    simplified to about 50 m, below a pixel wherever outlines are readable.
    """
    return 0.0 if layer.kind == "h3" else 0.0005


def units_file_bytes(layer: UnitLayer, tolerance: float | None = None) -> bytes:
    """Pack a unit layer's outlines for the browser.

    Parameters
    ----------
    layer : UnitLayer
        The building blocks; unit ``u`` of the file is ``layer.unit_ids[u]``.
    tolerance : float, optional
        Simplification in degrees; :func:`units_tolerance` by default.

    Returns
    -------
    bytes
        The file (see the module's docstring for the format).
    """
    rings = unit_rings(layer, units_tolerance(layer) if tolerance is None else tolerance)
    head = (
        UNITS_MAGIC
        + np.array(
            [layer.n_units, len(rings.ring_start) - 1, len(rings.coords)], dtype="<u4"
        ).tobytes()
    )
    return b"".join(
        [
            head,
            rings.unit_start.astype("<i4").tobytes(),
            rings.ring_start.astype("<i4").tobytes(),
            rings.coords.astype("<f4").tobytes(),
        ]
    )


def publish_units(
    layer: UnitLayer,
    cache_dir: str | Path | None = None,
    points_base: str = POINTS_BASE,
) -> str:
    """Write a unit layer's outlines where the app serves them; return the URL.

    Parameters
    ----------
    layer : UnitLayer
        The building blocks of the working data set.
    cache_dir, points_base
        Where the file goes and its URL prefix, as for
        :func:`terrmap.web.static_assets.publish_file`.

    Returns
    -------
    str
        ``<points_base>/units-<hash>.bin``.

    Raises
    ------
    OSError
        When the folder cannot be written.
    """
    data = units_file_bytes(layer)
    name = f"units-{hashlib.sha1(data).hexdigest()[:16]}.bin"
    url = publish_file(data, name, cache_dir, points_base)
    logger.debug(
        "unit layer %s: %d units, %d bytes at %s", layer.kind, layer.n_units, len(data), url
    )
    return url
