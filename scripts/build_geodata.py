"""Build terrmap's boundary package data from the pinned us-atlas and world-atlas npm packages.

Run once, from the repository root, when the pinned versions change::

    .venv/bin/python scripts/build_geodata.py [OUTDIR]

It fetches the two packages with ``npm pack`` (the npm registry, checked
against the integrity pinned in :data:`PACKAGES`), reads their TopoJSON with
GDAL's TopoJSON driver (through pyogrio) and writes GeoParquet files to
``terrmap/geo/data/`` (see the README written next to them):

* ``us_states.parquet``: US states, DC and territories (FIPS id, name, USPS code).
* ``us_counties.parquet``: US counties and equivalents (5-digit FIPS, name, state).
* ``world_countries.parquet``: countries (ISO 3166-1 numeric id, name).
* ``world_land.parquet``: land, for the coastline.
* ``basemap_lines.parquet``: the outlines the offline base map draws, each
  shared border once: ``state``, ``county`` (county borders that are not state
  borders), ``country`` and ``coast`` (both outside the United States, whose
  own outline the state lines draw in more detail).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import tarfile
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

logger = logging.getLogger("build_geodata")

OUT_DIR = Path(__file__).resolve().parents[1] / "terrmap" / "geo" / "data"

#: npm package -> (version, integrity npm reports for its tarball).
PACKAGES: dict[str, tuple[str, str]] = {
    "us-atlas": (
        "3.0.1",
        "sha512-wEIZCq0ImPvGblTd8gZMqNNCPkQshugMUG/8nkSWXb02+XqNFREg9atHOKP9w6prLZTpqcLhSvdBW81MkV3/0Q==",
    ),
    "world-atlas": (
        "2.0.2",
        "sha512-IXfV0qwlKXpckz1FhwXVwKRjiIhOnWttOskm5CtxMsjgE/MXAYRHWJqgXOpM8IkcPBoXnyTU5lFHcYa5ChG0LQ==",
    ),
}

#: Files read from the packages: the finest US level (1:10m) and the middle
#: world level (1:50m), which keeps the package data at a few MB.
US_FILE = "counties-10m.json"
WORLD_COUNTRIES_FILE = "countries-50m.json"
WORLD_LAND_FILE = "land-50m.json"

#: FIPS state code -> USPS code, after FIPS PUB 5-2 (withdrawn, continued by
#: the Census Bureau's ANSI/INCITS 38 state codes).
STATE_ABBR: dict[str, str] = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT",
    "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL",
    "18": "IN", "19": "IA", "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD",
    "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT", "31": "NE",
    "32": "NV", "33": "NH", "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND",
    "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA", "54": "WV",
    "55": "WI", "56": "WY", "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
}  # fmt: skip

#: Grid the outlines are snapped to (degrees, about 1 m): invisible on a map,
#: and it lets the files compress.
LINE_GRID = 1e-5


def fetch_package(name: str, workdir: Path) -> Path:
    """Download one pinned npm package with ``npm pack`` and unpack it.

    Parameters
    ----------
    name : str
        Key of :data:`PACKAGES`.
    workdir : pathlib.Path
        Scratch folder.

    Returns
    -------
    pathlib.Path
        The unpacked package folder.

    Raises
    ------
    RuntimeError
        When npm fails or the tarball's integrity is not the pinned one.
    """
    version, integrity = PACKAGES[name]
    done = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm pack {name}@{version} failed: {done.stderr.strip()}")
    info = json.loads(done.stdout)[0]
    if info["integrity"] != integrity:
        raise RuntimeError(
            f"{name}@{version}: integrity {info['integrity']} is not the pinned {integrity}"
        )
    target = workdir / name
    with tarfile.open(workdir / info["filename"]) as tar:
        tar.extractall(target, filter="data")
    logger.info("fetched %s@%s", name, version)
    return target / "package"


def _read(path: Path, layer: str) -> gpd.GeoDataFrame:
    frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    frame = frame.set_crs("EPSG:4326", allow_override=True)
    # A few TopoJSON rings touch themselves after dequantisation.
    frame["geometry"] = shapely.make_valid(frame.geometry.to_numpy())
    return frame


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygon parts (make_valid can leave stray lines or points)."""
    out = geoms.copy()
    for i in np.flatnonzero(~np.isin(shapely.get_type_id(geoms), [3, 6])):
        parts = shapely.get_parts(geoms[i])
        out[i] = shapely.union_all(parts[np.isin(shapely.get_type_id(parts), [3, 6])])
    return out


def us_frames(us_dir: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """States and counties from us-atlas, indexed by FIPS code.

    Parameters
    ----------
    us_dir : pathlib.Path
        The unpacked us-atlas package.

    Returns
    -------
    states, counties : geopandas.GeoDataFrame
        ``states``: index ``unit_id`` (2-digit FIPS), ``name``, ``abbr``.
        ``counties``: index ``unit_id`` (5-digit FIPS), ``name``,
        ``state_fips``, ``state``.

    Raises
    ------
    ValueError
        On an id that is not a FIPS code, a duplicate id, or a state code
        missing from :data:`STATE_ABBR`.
    """
    path = us_dir / US_FILE
    states = _read(path, "states")
    counties = _read(path, "counties")
    for frame, width in ((states, 2), (counties, 5)):
        ids = frame["id"].astype(str)
        bad = ids[~ids.str.fullmatch(rf"\d{{{width}}}")]
        if len(bad):
            raise ValueError(f"{path.name}: id {bad.iloc[0]!r} is not a {width}-digit FIPS code")
        if ids.duplicated().any():
            raise ValueError(f"{path.name}: duplicate id {ids[ids.duplicated()].iloc[0]!r}")
    unknown = sorted(set(states["id"]) - set(STATE_ABBR))
    if unknown:
        raise ValueError(f"state FIPS codes without a USPS code: {unknown}")
    states = gpd.GeoDataFrame(
        {
            "name": states["name"].astype(str).to_numpy(),
            "abbr": states["id"].map(STATE_ABBR).to_numpy(),
        },
        geometry=_polygonal(states.geometry.to_numpy()),
        index=pd.Index(states["id"].astype(str), name="unit_id"),
        crs="EPSG:4326",
    ).sort_index()
    state_fips = counties["id"].astype(str).str[:2]
    orphans = sorted(set(state_fips) - set(states.index))
    if orphans:
        raise ValueError(f"counties in states missing from the states layer: {orphans}")
    counties = gpd.GeoDataFrame(
        {
            "name": counties["name"].astype(str).to_numpy(),
            "state_fips": state_fips.to_numpy(),
            "state": state_fips.map(states["name"]).to_numpy(),
        },
        geometry=_polygonal(counties.geometry.to_numpy()),
        index=pd.Index(counties["id"].astype(str), name="unit_id"),
        crs="EPSG:4326",
    ).sort_index()
    return states, counties


def world_frames(world_dir: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Countries and land from world-atlas.

    Parameters
    ----------
    world_dir : pathlib.Path
        The unpacked world-atlas package.

    Returns
    -------
    countries, land : geopandas.GeoDataFrame
        ``countries``: index ``unit_id`` (ISO 3166-1 numeric, 3 digits; a few
        places without one, e.g. Kosovo, get ``"name:<name>"``), ``name``;
        parts sharing an id are one row.
        ``land``: one row, all land.
    """
    countries = _read(world_dir / WORLD_COUNTRIES_FILE, "countries")
    ids = countries["id"].astype("object")
    countries["unit_id"] = ids.where(ids.notna(), "name:" + countries["name"].astype(str))
    countries["geometry"] = _polygonal(countries.geometry.to_numpy())
    # Natural Earth splits a few ISO countries (Australia and its Ashmore and
    # Cartier Islands share 036): one unit per id, named after its largest part.
    countries["area"] = shapely.area(countries.geometry.to_numpy())
    countries = countries.sort_values("area", ascending=False)
    names = countries.groupby("unit_id", sort=True)["name"].first()
    shapes = countries.groupby("unit_id", sort=True)["geometry"].agg(
        lambda g: shapely.union_all(g.to_numpy())
    )
    countries = gpd.GeoDataFrame(
        {"name": names.astype(str).to_numpy()},
        geometry=shapes.to_numpy(),
        index=pd.Index(names.index.astype(str), name="unit_id"),
        crs="EPSG:4326",
    )
    land = _read(world_dir / WORLD_LAND_FILE, "land")
    land = gpd.GeoDataFrame(
        {"name": ["land"]},
        geometry=[shapely.union_all(_polygonal(land.geometry.to_numpy()))],
        crs="EPSG:4326",
    )
    return countries, land


def _mesh(polygons: np.ndarray) -> shapely.Geometry:
    """Every border of a polygon layer once, as merged lines."""
    lines = shapely.union_all(shapely.boundary(shapely.set_precision(polygons, LINE_GRID)))
    return shapely.line_merge(lines)


def basemap_lines(
    states: gpd.GeoDataFrame,
    counties: gpd.GeoDataFrame,
    countries: gpd.GeoDataFrame,
    land: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    """Build the base map's outlines, one row per line, with their ``kind``.

    Parameters
    ----------
    states, counties, countries, land : geopandas.GeoDataFrame
        From :func:`us_frames` and :func:`world_frames`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``kind`` (``country``, ``coast``, ``state``, ``county``) and
        LineString ``geometry``.
    """
    state_mesh = _mesh(states.geometry.to_numpy())
    county_mesh = shapely.line_merge(
        shapely.difference(_mesh(counties.geometry.to_numpy()), state_mesh)
    )
    coast_all = _mesh(land.geometry.to_numpy())
    border_all = shapely.line_merge(
        shapely.difference(_mesh(countries.geometry.to_numpy()), coast_all.buffer(LINE_GRID))
    )
    # The US outline comes from the states (1:10m); the world's coarser copy of
    # it would draw a second, offset coastline.
    us_area = shapely.union_all(states.geometry.to_numpy()).buffer(0.05)
    rows = []
    for kind, geom in (
        ("country", shapely.difference(border_all, us_area)),
        ("coast", shapely.difference(coast_all, us_area)),
        ("state", state_mesh),
        ("county", county_mesh),
    ):
        parts = shapely.get_parts(shapely.line_merge(geom))
        parts = parts[shapely.get_type_id(parts) == 1]
        parts = shapely.set_precision(parts, LINE_GRID)
        parts = parts[~shapely.is_empty(parts)]
        rows.append(
            gpd.GeoDataFrame({"kind": [kind] * len(parts)}, geometry=parts, crs="EPSG:4326")
        )
        logger.info("%s lines: %d", kind, len(parts))
    return pd.concat(rows, ignore_index=True)


def _readme(sizes: dict[str, int]) -> str:
    lines = [
        "# Boundary data (generated: do not edit)",
        "",
        "Written by `scripts/build_geodata.py`; rerun it to rebuild. GeoParquet, EPSG:4326.",
        "",
        "Sources (npm packages, fetched with `npm pack` and checked against the pinned integrity):",
        "",
    ]
    for name, (version, integrity) in PACKAGES.items():
        lines.append(f"- `{name}@{version}` ({integrity})")
    lines += [
        "",
        f"- US: `us-atlas/{US_FILE}`: the Census Bureau's cartographic boundary files, "
        "2017 edition, 1:10,000,000, quantised and simplified by us-atlas; states and "
        "counties with FIPS codes. USPS codes come from the FIPS table in the build script. "
        "One county equivalent, Falls Church city, VA (51610, 5 km²), is simplified away "
        "in this source: its row has an empty geometry.",
        f"- World: `world-atlas/{WORLD_COUNTRIES_FILE}` and `{WORLD_LAND_FILE}`: Natural "
        "Earth 4.1.0, 1:50m admin-0 countries and land, ISO 3166-1 numeric ids (parts "
        "sharing an id, e.g. Australia and Ashmore and Cartier Is., are one row).",
        "- `basemap_lines.parquet`: every border once, by kind (`state`, `county` for county "
        "borders that are not state borders, and outside the US `country` and `coast`), "
        f"snapped to a {LINE_GRID:g} degree grid.",
        "",
        "Files:",
        "",
    ]
    for name, size in sizes.items():
        lines.append(f"- `{name}`: {size / 1e6:.2f} MB")
    lines += [
        "",
        "Licences: us-atlas and world-atlas are ISC (Mike Bostock); the Census Bureau's "
        "data is public domain; Natural Earth is public domain.",
        "",
    ]
    return "\n".join(lines)


def build(outdir: Path) -> dict[str, Path]:
    """Fetch the packages and write every data file to ``outdir``.

    Parameters
    ----------
    outdir : pathlib.Path
        Target folder (created if missing).

    Returns
    -------
    dict of str to pathlib.Path
        File name -> path written.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="terrmap-geodata-") as tmp:
        work = Path(tmp)
        states, counties = us_frames(fetch_package("us-atlas", work))
        countries, land = world_frames(fetch_package("world-atlas", work))
    lines = basemap_lines(states, counties, countries, land)
    frames = {
        "us_states.parquet": states,
        "us_counties.parquet": counties,
        "world_countries.parquet": countries,
        "world_land.parquet": land,
        "basemap_lines.parquet": lines,
    }
    written = {}
    for name, frame in frames.items():
        path = outdir / name
        frame.to_parquet(path, compression="zstd", schema_version="1.0.0")
        written[name] = path
        logger.info("wrote %s: %d rows, %d bytes", path, len(frame), path.stat().st_size)
    sizes = {name: path.stat().st_size for name, path in written.items()}
    (outdir / "README.md").write_text(_readme(sizes), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    """Run :func:`build` on the command line's ``OUTDIR``; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "outdir", nargs="?", type=Path, default=OUT_DIR, help="default: %(default)s"
    )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(parser.parse_args(argv).outdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
