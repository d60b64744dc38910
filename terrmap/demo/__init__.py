"""Synthetic but realistic demo data over real US geography.

Accounts sit around real ZIP centroids (the offline ``zipcodes`` package),
reps live in real towns, and territories are the Voronoi cells of the reps'
home towns clipped to a land-ish study area. Because the home towns are spread
out evenly while customers crowd into the metros, the starting plan is
unbalanced on purpose: that is what the dashboard is for.

Everything is vectorised so that a million accounts over two hundred
territories take seconds, and everything random flows from one ``seed``.

The embedded demo files in ``data/`` (``terrmap/_data`` in a wheel) are
``write_demo(generate())``; ``scripts/make_demo_data.py`` regenerates them and
a test proves they never drift from the generator.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from scipy.spatial import cKDTree

from terrmap.core.definition import Definition
from terrmap.core.schema import (
    ACCOUNT_COLUMNS,
    ACCOUNT_ID,
    CRS,
    REP_COLUMNS,
    REP_ID,
    STAGES,
    TERRITORY_COLUMNS,
    TERRITORY_ID,
    TIER_VISITS,
)
from terrmap.geo.units import (
    UnitLayer,
    boundary_units,
    definition_from_polygons,
    units_from_polygons,
)
from terrmap.geo.workspace import Workspace, build_workspace
from terrmap.geo.zipgeo import zip_table
from terrmap.io.definition import read_definition, unit_layer_for

__all__ = [
    "UNITS_FILE",
    "demo_workspace",
    "demo_definition",
    "folder_workspace",
    "write_units",
    "DATA_DIR",
    "DEFINITION_FILE",
    "DemoData",
    "generate",
    "load_embedded",
    "read_demo",
    "regions",
    "study_area",
    "write_demo",
]

logger = logging.getLogger(__name__)


def _data_dir() -> Path:
    package = Path(__file__).resolve().parents[1]
    # A wheel carries the repository's data/ as terrmap/_data (pyproject.toml).
    installed = package / "_data"
    return installed if installed.is_dir() else package.parent / "data"


#: Directory holding the embedded demo files: ``terrmap/_data`` in an installed
#: wheel, ``data/`` at the root of a checkout.
DATA_DIR: Path = _data_dir()

#: The embedded demo's territory definition (counties, exceptions, regions),
#: next to the data files; written by ``scripts/make_demo_data.py``.
DEFINITION_FILE = "definition.json"

#: A data folder's own unit layer (GeoParquet), next to its definition: the
#: polygons of an uploaded layer, or approximate ZIP areas built once.
UNITS_FILE = "units.parquet"

#: Named-account exceptions of the demo: so many territories each hand their
#: biggest account to the next territory (a key account kept by another rep).
DEMO_EXCEPTIONS = 3

_FILE_NAMES: dict[str, str] = {
    "accounts": "accounts.csv",
    "reps": "reps.csv",
    "territories": "territories.geojson",
}

_CONUS_STATES = (
    "AL AR AZ CA CO CT DC DE FL GA IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT NC ND NE NH "
    "NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY"
).split()

#: region name -> (description, states)
_REGIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "northeast": ("New England and New York", ("CT", "MA", "ME", "NH", "NY", "RI", "VT")),
    "midwest": (
        "The twelve Midwest states",
        ("IA", "IL", "IN", "KS", "MI", "MN", "MO", "ND", "NE", "OH", "SD", "WI"),
    ),
    "us_east": (
        "States east of the Mississippi",
        tuple(
            "AL CT DC DE FL GA IL IN KY MA MD ME MI MS NC NH NJ NY OH PA RI SC TN VA VT WI "
            "WV".split()
        ),
    ),
    "conus": ("The contiguous United States", tuple(_CONUS_STATES)),
}

# Degrees of latitude to kilometres; the working plane is equirectangular
# (x = lon * cos(mean lat), y = lat), so one unit is one degree of latitude.
_KM_PER_UNIT = 111.2
# The plane is linear in lon/lat, so Voronoi cells computed in it map back to
# straight-edged cells in lon/lat and "nearest home town" stays exactly "inside
# the cell" (a non-linear projection would bend the edges).
_HULL_RATIO = 0.05
_HULL_BUFFER = 0.08  # ~9 km around the outermost ZIP centroids
_HULL_SIMPLIFY = 0.015  # < buffer, so simplifying never uncovers a ZIP
_DENSITY_RADIUS = 0.15  # ~17 km neighbourhood for the population proxy
_DENSITY_EXPONENT = 0.8  # city ZIPs hold more people than rural ones
_JITTER_KM = 0.3
_GRID = 1e-6  # territory vertices snapped to ~0.1 m: GeoJSON round-trips exactly

_SEGMENTS = np.array(["Enterprise", "Mid-Market", "SMB"], dtype=object)
_SEGMENT_SHARE = np.array([0.10, 0.30, 0.60])
_SEGMENT_MEDIAN_REVENUE = np.array([250_000.0, 60_000.0, 12_000.0])
_SEGMENT_SIGMA = np.array([0.7, 0.6, 0.7])
_SEGMENT_FIXED_COST = np.array([6_000.0, 1_500.0, 300.0])
_SEGMENT_HIGH_MAINTENANCE = np.array([0.25, 0.15, 0.08])
_HIGH_MAINTENANCE_FACTOR = 3.0

_INDUSTRIES = np.array(
    [
        "Manufacturing",
        "Healthcare",
        "Retail",
        "Software",
        "Logistics",
        "Education",
        "Finance",
    ],
    dtype=object,
)
_INDUSTRY_SHARE = np.array([0.20, 0.16, 0.18, 0.12, 0.12, 0.10, 0.12])
# Share of revenue eaten by support, customisation and claims.
_INDUSTRY_SERVICE_RATIO = np.array([0.22, 0.30, 0.18, 0.10, 0.26, 0.20, 0.14])
_INDUSTRY_NAME_CORES: tuple[tuple[str, ...], ...] = (
    ("Manufacturing Co.", "Industries", "Machine Works", "Fabrication", "Tool & Die"),
    ("Health Partners", "Medical Group", "Clinic", "Care Systems", "Health"),
    ("Outfitters", "Market", "Home Goods", "Supply", "Stores"),
    ("Software", "Labs", "Systems", "Digital", "Analytics"),
    ("Logistics", "Freight", "Transport", "Distribution", "Shipping"),
    ("Academy", "Learning", "College", "School District", "Institute"),
    ("Capital", "Financial", "Savings Bank", "Advisors", "Credit Union"),
)
_NAME_PREFIXES = (
    "Hartwell Bluewater Granite Summit Riverside Oakridge Northfield Pinecrest Harbor Lakeshore "
    "Ironwood Maple Cedar Beacon Keystone Pioneer Liberty Colonial Meridian Silverline Redstone "
    "Brightwater Eastgate Westbrook Highland Stonebridge Fairview Evergreen Clearwater Windham "
    "Ashford Bradford Chatham Dover Easton Franklin Greenfield Hampton Kingston Lancaster "
    "Milford Newbury Oxford Plymouth Quincy Salem Sheffield Thornton Union Valley Warren York "
    "Atlas Apex Vanguard Sterling Crescent Horizon Cornerstone Heritage Patriot Frontier Trident "
    "Alder Birch Willow Hawthorne Juniper Spruce Tamarack Elm Aspen Hickory Sycamore Laurel "
    "Copper Cobalt Slate Quarry Anchor Lighthouse Tidewater Bayside Millbrook Falls Ridgeway "
    "Carver Whitman Prescott Sullivan Donnelly Kowalski Nguyen Patel Rossi Schneider Larsen"
).split()
_NAME_SUFFIXES = ("", " Inc.", ", Inc.", " LLC", ", LLC", " Group", " Corp.")
_TRICKY_NAMES = (
    "<img src=x onerror=alert(1)> Widgets",
    "Société Générale Boston",
    "Müller GmbH",
    "O'Brien & Sons",
)

_PRODUCTS = ("Core", "Analytics", "Support", "Integrations", "Training")
# P(product | segment), rows Enterprise / Mid-Market / SMB.
_PRODUCT_PROBABILITY = np.array(
    [
        [0.97, 0.75, 0.85, 0.60, 0.45],
        [0.95, 0.45, 0.55, 0.30, 0.25],
        [0.93, 0.20, 0.30, 0.10, 0.10],
    ]
)

_TIERS = np.array(["A", "B", "C"], dtype=object)
_TIER_VISITS = np.array([TIER_VISITS[tier] for tier in _TIERS])
_OWNER_MESS_SHARE = 0.05

_FIRST_NAMES = (
    "Alice Ben Carla Daniel Elena Frank Grace Hector Irene James Kara Luis Maya Noah Olivia "
    "Priya Quentin Rosa Samuel Tara Umar Vera Walter Ximena Yusuf Zoe Aaron Bianca Caleb Diana "
    "Ethan Fatima Gavin Hannah Isaac Julia Kevin Leah Marcus Nadia"
).split()
_LAST_NAMES = (
    "Abbott Brennan Castillo Delgado Ellison Fischer Gallagher Huang Iverson Jensen Kaplan "
    "Lindqvist Moreau Novak Okafor Petrov Quinn Ramirez Sato Thibodeau Underwood Varga Walsh "
    "Xu Yilmaz Zimmerman Acosta Bergstrom Chandra Dubois Esposito Fontaine Goldberg Haddad "
    "Ishikawa Jovanovic Keane Lombardi Mahoney Nakamura"
).split()


# eq=False: comparing frames element-wise has no single truth value.
@dataclass(frozen=True, eq=False)
class DemoData:
    """Accounts, reps and territories of one demo data set.

    Attributes
    ----------
    accounts : pandas.DataFrame
        Index ``account_id``, columns ``schema.ACCOUNT_COLUMNS``.
    reps : pandas.DataFrame
        Index ``rep_id``, columns ``schema.REP_COLUMNS``.
    territories : geopandas.GeoDataFrame
        EPSG:4326, index ``territory_id``, columns ``schema.TERRITORY_COLUMNS``.
    """

    accounts: pd.DataFrame
    reps: pd.DataFrame
    territories: gpd.GeoDataFrame


@dataclass(frozen=True)
class _ZipTable:
    zip_code: np.ndarray  # str, 5 digits
    city: np.ndarray  # object
    state: np.ndarray  # object
    lat: np.ndarray
    lon: np.ndarray


@dataclass(frozen=True)
class _Geography:
    """A region's ZIPs, towns and study area in the working plane."""

    zip_code: np.ndarray
    xy: np.ndarray  # (n, 2) working-plane coordinates of the ZIP centroids
    zip_weight: np.ndarray  # sampling probabilities, sum to 1
    scale: float  # x = lon * scale
    area: shapely.Polygon  # study area in the working plane
    town_city: np.ndarray  # towns sorted by ZIP count, largest first
    town_state: np.ndarray
    town_zip_count: np.ndarray
    town_xy: np.ndarray  # representative ZIP centroid of each town
    town_lat: np.ndarray
    town_lon: np.ndarray


def regions() -> dict[str, str]:
    """List the regions demo data can be generated for.

    Returns
    -------
    dict of str to str
        Region name (as accepted by :func:`generate`) to a description.

    Examples
    --------
    >>> "northeast" in regions()
    True
    """
    return {name: description for name, (description, _) in _REGIONS.items()}


def study_area(region: str = "northeast") -> shapely.Polygon:
    """Return the land-ish study area of a region in lon/lat.

    The area is a buffered concave hull of the region's ZIP centroids: every
    generated account lies inside it and the territories tile it.

    Parameters
    ----------
    region : str, default "northeast"
        One of :func:`regions`.

    Returns
    -------
    shapely.Polygon
        WGS84 polygon.

    Raises
    ------
    ValueError
        If ``region`` is unknown.

    Examples
    --------
    >>> area = study_area("northeast")
    >>> bool(shapely.contains_xy(area, -71.06, 42.36))  # Boston
    True
    """
    _check_region(region)
    geography = _geography(region)
    return shapely.transform(geography.area, lambda xy: xy / [geography.scale, 1.0])


def generate(
    n_accounts: int = 3000,
    n_territories: int = 10,
    *,
    seed: int = 7,
    region: str = "northeast",
    zip_only_share: float = 0.0,
) -> DemoData:
    """Generate a demo data set of accounts, reps and territories.

    Accounts cluster around real ZIP centroids (denser where ZIPs are dense),
    jittered by a few hundred metres. Each territory is the Voronoi cell of its
    rep's home town clipped to :func:`study_area`; home towns are large towns
    spread out by farthest-point sampling, so metro territories start
    overloaded. Revenue is lognormal by segment and cost to serve grows with
    visits, travel distance, industry and a hidden "high-maintenance" factor, so
    net profit ranks accounts differently from revenue. Pipeline stages and the
    share of new customers vary by territory, so conversion rates differ.

    Parameters
    ----------
    n_accounts : int, default 3000
        Number of accounts (>= 0).
    n_territories : int, default 10
        Number of territories, one rep each (>= 1, at most the number of
        candidate towns in the region).
    seed : int, default 7
        Seed of the ``numpy.random.default_rng`` driving every random draw.
    region : str, default "northeast"
        One of :func:`regions`. Many territories need a big region
        (e.g. ``"conus"`` for 200).
    zip_only_share : float, default 0.0
        Share of accounts located only by ZIP: their ``lat``/``lon`` are NaN
        and ``location_source`` is ``"zip"``.

    Returns
    -------
    DemoData
        ``accounts`` (index ``account_id``), ``reps`` (index ``rep_id``) and
        ``territories`` (GeoDataFrame in EPSG:4326, index ``territory_id``).
        ``owner`` is the rep of the territory an account sits in, except for
        about 5 % owned by the rep next door. ``revenue_last_year`` is NaN for
        leads, opportunities and new customers.

    Raises
    ------
    ValueError
        If a count or share is out of range or ``region`` is unknown.

    Examples
    --------
    >>> data = generate(200, 3, seed=1)
    >>> len(data.accounts), len(data.reps), len(data.territories)
    (200, 3, 3)
    >>> data.accounts["owner"].isin(data.reps.index).all()
    np.True_
    """
    _check_region(region)
    if isinstance(n_accounts, bool) or not isinstance(n_accounts, int | np.integer):
        raise ValueError(f"n_accounts must be an int, got {n_accounts!r}")
    if n_accounts < 0:
        raise ValueError(f"n_accounts must be >= 0, got {n_accounts}")
    if isinstance(n_territories, bool) or not isinstance(n_territories, int | np.integer):
        raise ValueError(f"n_territories must be an int, got {n_territories!r}")
    geography = _geography(region)
    max_territories = len(geography.town_city)
    if not 1 <= n_territories <= max_territories:
        raise ValueError(
            f"n_territories must be between 1 and {max_territories} for region "
            f"{region!r}, got {n_territories}"
        )
    if not 0.0 <= zip_only_share <= 1.0:
        raise ValueError(f"zip_only_share must be between 0 and 1, got {zip_only_share!r}")

    rng = np.random.default_rng(seed)
    homes = _pick_home_towns(geography, int(n_territories))
    territories = _territories(geography, homes)
    accounts, owner = _accounts(geography, homes, int(n_accounts), zip_only_share, rng)
    reps = _reps(geography, homes, accounts, owner, rng)
    territories = territories.assign(rep_id=reps.index.to_numpy())
    logger.debug(
        "generated %d accounts over %d territories in %s (seed %d)",
        len(accounts),
        len(territories),
        region,
        seed,
    )
    return DemoData(
        accounts=accounts,
        reps=reps,
        territories=territories[list(TERRITORY_COLUMNS)],
    )


def write_demo(data: DemoData, outdir: str | Path) -> dict[str, Path]:
    """Write a demo data set as CSV and GeoJSON files.

    Parameters
    ----------
    data : DemoData
        What :func:`generate` returned.
    outdir : str or pathlib.Path
        Directory to write into; created if missing. Existing files are
        overwritten.

    Returns
    -------
    dict of str to pathlib.Path
        ``"accounts"`` -> ``accounts.csv`` (``account_id`` first, canonical
        column names), ``"reps"`` -> ``reps.csv`` (``rep_id`` first) and
        ``"territories"`` -> ``territories.geojson`` (properties
        ``territory_id``, ``name``, ``rep_id``, ``region``).

    Examples
    --------
    >>> import tempfile
    >>> paths = write_demo(generate(50, 2), tempfile.mkdtemp())
    >>> sorted(paths)
    ['accounts', 'reps', 'territories']
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {key: outdir / name for key, name in _FILE_NAMES.items()}
    data.accounts.to_csv(paths["accounts"], index_label=ACCOUNT_ID)
    data.reps.to_csv(paths["reps"], index_label=REP_ID)
    # The file is rewritten rather than appended to when it exists.
    paths["territories"].unlink(missing_ok=True)
    data.territories.reset_index().to_file(
        paths["territories"], driver="GeoJSON", COORDINATE_PRECISION=6
    )
    return paths


def read_demo(indir: str | Path) -> DemoData:
    """Read a demo data set written by :func:`write_demo`.

    Parameters
    ----------
    indir : str or pathlib.Path
        Directory holding ``accounts.csv``, ``reps.csv`` and
        ``territories.geojson``.

    Returns
    -------
    DemoData
        Frames with the same columns and dtypes as :func:`generate` returns.

    Raises
    ------
    FileNotFoundError
        If one of the three files is missing.

    Examples
    --------
    >>> data = read_demo(DATA_DIR)
    >>> data.territories.crs.to_string()
    'EPSG:4326'
    """
    indir = Path(indir)
    paths = {key: indir / name for key, name in _FILE_NAMES.items()}
    for path in paths.values():
        if not path.is_file():
            raise FileNotFoundError(f"demo file {str(path)!r} not found")
    string_columns = [
        "name",
        "location_source",
        "postal_code",
        "industry",
        "segment",
        "products",
        "stage",
        "tier",
        "owner",
    ]
    accounts = pd.read_csv(
        paths["accounts"],
        dtype={ACCOUNT_ID: "str", "is_new": "bool", **dict.fromkeys(string_columns, "str")},
        keep_default_na=False,
        na_values={column: [""] for column in ("lat", "lon", "revenue_last_year")},
    ).set_index(ACCOUNT_ID)
    reps = pd.read_csv(
        paths["reps"], dtype={REP_ID: "str", "name": "str", "home_town": "str"}
    ).set_index(REP_ID)
    territories = gpd.read_file(paths["territories"]).set_index(TERRITORY_ID)
    territories = territories[list(TERRITORY_COLUMNS)].set_crs(CRS, allow_override=True)
    return DemoData(
        accounts=accounts[list(ACCOUNT_COLUMNS)],
        reps=reps[list(REP_COLUMNS)],
        territories=territories,
    )


def load_embedded() -> DemoData:
    """Load the demo data set embedded in the repository (``data/``).

    Returns
    -------
    DemoData
        Equal to ``generate()`` with its defaults.

    Examples
    --------
    >>> len(load_embedded().territories)
    10
    """
    return read_demo(DATA_DIR)


# --------------------------------------------------------------------------
# geography


def _check_region(region: str) -> None:
    if region not in _REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {sorted(_REGIONS)}")


@functools.lru_cache(maxsize=1)
def _zip_table() -> _ZipTable:
    """Every active street/PO-box ZIP with a real centroid, loaded once."""
    table = zip_table(standard_only=False)
    # A few hundred ZIPs carry (0, 0), or one zero coordinate, as "unknown".
    keep = (
        table["active"]
        & table["zip_type"].isin(["STANDARD", "PO BOX"])
        & (table["lat"] != 0.0)
        & (table["lon"] != 0.0)
    )
    rows = table[keep]
    return _ZipTable(
        zip_code=rows["zip"].to_numpy(dtype=object),
        city=rows["city"].to_numpy(dtype=object),
        state=rows["state"].to_numpy(dtype=object),
        lat=rows["lat"].to_numpy(dtype=float),
        lon=rows["lon"].to_numpy(dtype=float),
    )


@functools.lru_cache(maxsize=8)
def _geography(region: str) -> _Geography:
    table = _zip_table()
    keep = np.isin(table.state, list(_REGIONS[region][1]))
    lat, lon = table.lat[keep], table.lon[keep]
    city, state = table.city[keep], table.state[keep]
    scale = float(np.cos(np.radians(lat.mean())))
    xy = np.column_stack([lon * scale, lat])

    hull = shapely.concave_hull(shapely.multipoints(xy), ratio=_HULL_RATIO)
    area = shapely.simplify(shapely.buffer(hull, _HULL_BUFFER), _HULL_SIMPLIFY)

    neighbours = cKDTree(xy).query_ball_point(xy, _DENSITY_RADIUS, return_length=True)
    weight = neighbours.astype(float) ** _DENSITY_EXPONENT
    weight /= weight.sum()

    towns = pd.DataFrame(
        {"city": city, "state": state, "x": xy[:, 0], "y": xy[:, 1], "lat": lat, "lon": lon}
    )
    grouped = towns.groupby(["city", "state"], sort=True)
    summary = grouped.agg(zip_count=("x", "size"), x_mean=("x", "mean"), y_mean=("y", "mean"))
    # A town's representative point is its ZIP centroid nearest the town's
    # mean, so that a home base is a real ZIP and never the middle of a bay.
    towns = towns.join(summary, on=["city", "state"])
    towns["offset"] = np.hypot(towns["x"] - towns["x_mean"], towns["y"] - towns["y_mean"])
    representative = towns.sort_values(["city", "state", "offset"], kind="stable")
    representative = representative.drop_duplicates(["city", "state"])
    representative = representative.sort_values(
        ["zip_count", "city", "state"], ascending=[False, True, True], kind="stable"
    )
    # Two home towns on one point would merge their Voronoi cells.
    representative = representative.drop_duplicates(["x", "y"])
    return _Geography(
        zip_code=table.zip_code[keep],
        xy=xy,
        zip_weight=weight,
        scale=scale,
        area=area,
        town_city=representative["city"].to_numpy(dtype=object),
        town_state=representative["state"].to_numpy(dtype=object),
        town_zip_count=representative["zip_count"].to_numpy(),
        town_xy=representative[["x", "y"]].to_numpy(),
        town_lat=representative["lat"].to_numpy(),
        town_lon=representative["lon"].to_numpy(),
    )


def _pick_home_towns(geography: _Geography, k: int) -> np.ndarray:
    """Pick ``k`` large, spread-out towns; return their indices north to south.

    Greedy farthest-point sampling among the largest towns, starting from the
    largest, with distances weighted by the square root of a town's ZIP count
    so that Boston beats a hamlet at the edge of the map. Even coverage of the
    map is exactly what leaves the metro territories overloaded.
    """
    n_candidates = min(len(geography.town_city), max(3 * k, 60))
    candidates = geography.town_xy[:n_candidates]
    size = np.sqrt(geography.town_zip_count[:n_candidates])
    chosen = [0]
    distance = np.hypot(*(candidates - candidates[0]).T)
    for _ in range(k - 1):
        nxt = int(np.argmax(np.where(distance > 0, distance * size, -1.0)))
        chosen.append(nxt)
        distance = np.minimum(distance, np.hypot(*(candidates - candidates[nxt]).T))
    chosen_arr = np.array(chosen)
    order = np.lexsort((candidates[chosen_arr, 0], -candidates[chosen_arr, 1]))
    return chosen_arr[order]


def _ids(prefix: str, n: int, min_width: int) -> pd.api.extensions.ExtensionArray:
    """``prefix`` + 1..n zero-padded to a common width, as a ``str`` array."""
    width = max(min_width, len(str(n)))
    numbers = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string())
    padded = pc.utf8_lpad(numbers, width=width, padding="0")
    return pd.array(pc.binary_join_element_wise(prefix, padded, ""), dtype="str")


def _strings(
    vocabulary: np.ndarray | list[str], codes: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """``vocabulary[codes]`` as a ``str`` array, converting each word only once."""
    return pd.array(np.asarray(vocabulary, dtype=object), dtype="str").take(codes)


def _territories(geography: _Geography, homes: np.ndarray) -> gpd.GeoDataFrame:
    home_xy = geography.town_xy[homes]
    if len(homes) == 1:
        cells = np.array([geography.area])
    else:
        diagram = shapely.voronoi_polygons(
            shapely.multipoints(home_xy), extend_to=geography.area, ordered=True
        )
        cells = shapely.intersection(shapely.get_parts(diagram), geography.area)
    cells = shapely.transform(cells, lambda xy: xy / [geography.scale, 1.0])
    cells = shapely.set_precision(cells, _GRID)

    city = geography.town_city[homes]
    state = geography.town_state[homes]
    duplicated = pd.Series(city).duplicated(keep=False).to_numpy()
    place = np.where(duplicated, city + ", " + state, city)
    kind = np.where(geography.town_zip_count[homes] >= 8, " Metro", " Area")
    lat = geography.town_lat[homes]
    lon = geography.town_lon[homes]
    north = np.where(lat >= np.median(lat), "North", "South")
    if len(homes) > 12:
        east = np.where(lon >= np.median(lon), " East", " West")
        parent = north + east
    else:
        parent = north
    ids = pd.Index(_ids("T", len(homes), 2), name=TERRITORY_ID)
    return gpd.GeoDataFrame(
        {
            "name": pd.array(place + kind, dtype="str"),
            "rep_id": pd.array([""] * len(homes), dtype="str"),
            "region": pd.array(parent, dtype="str"),
        },
        geometry=cells,
        crs=CRS,
        index=ids,
    )


# --------------------------------------------------------------------------
# accounts


@functools.lru_cache(maxsize=1)
def _name_table() -> np.ndarray:
    """Every company name, laid out as [industry, prefix, core, suffix]."""
    names = [
        f"{prefix} {core}{suffix}"
        for cores in _INDUSTRY_NAME_CORES
        for prefix in _NAME_PREFIXES
        for core in cores
        for suffix in _NAME_SUFFIXES
    ]
    return np.array(names, dtype=object)


@functools.lru_cache(maxsize=1)
def _product_table() -> np.ndarray:
    """Product string of every subset bitmask (bit i = ``_PRODUCTS[i]``)."""
    return np.array(
        [
            ";".join(p for bit, p in enumerate(_PRODUCTS) if mask >> bit & 1)
            for mask in range(2 ** len(_PRODUCTS))
        ],
        dtype=object,
    )


def _company_names(
    industry: np.ndarray, rng: np.random.Generator
) -> pd.api.extensions.ExtensionArray:
    n = len(industry)
    n_prefix, n_core, n_suffix = len(_NAME_PREFIXES), 5, len(_NAME_SUFFIXES)
    prefix = rng.integers(0, n_prefix, n)
    core = rng.integers(0, n_core, n)
    # Bare names ("Hartwell Labs") are the most common.
    suffix = rng.choice(n_suffix, n, p=[0.4, 0.12, 0.12, 0.1, 0.08, 0.1, 0.08])
    flat = ((industry * n_prefix + prefix) * n_core + core) * n_suffix + suffix
    table = _name_table()
    # Escaping, encoding and CSV quoting must be exercised by every demo.
    tricky = rng.choice(n, size=min(n, len(_TRICKY_NAMES)), replace=False)
    flat[tricky] = len(table) + np.arange(len(tricky))
    return _strings(np.concatenate([table, np.array(_TRICKY_NAMES, dtype=object)]), flat)


def _accounts(
    geography: _Geography,
    homes: np.ndarray,
    n: int,
    zip_only_share: float,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the accounts frame and each account's owner as a rep position."""
    k = len(homes)
    home_xy = geography.town_xy[homes]

    # Location: a weighted ZIP, jittered, rounded to ~1 m.
    zip_index = rng.choice(len(geography.zip_code), size=n, p=geography.zip_weight)
    jitter = rng.normal(0.0, _JITTER_KM / _KM_PER_UNIT, size=(n, 2))
    xy = geography.xy[zip_index] + jitter
    lon = np.round(xy[:, 0] / geography.scale, 5)
    lat = np.round(xy[:, 1], 5)
    xy = np.column_stack([lon * geography.scale, lat])
    if k == 1:
        territory = np.zeros(n, dtype=np.intp)
        neighbour = territory
    else:
        _, nearest = cKDTree(home_xy).query(xy, k=2)
        territory, neighbour = nearest[:, 0], nearest[:, 1]
    messy = rng.random(n) < _OWNER_MESS_SHARE
    owner_index = np.where(messy, neighbour, territory)

    # Size and value.
    segment = rng.choice(len(_SEGMENTS), size=n, p=_SEGMENT_SHARE)
    industry = rng.choice(len(_INDUSTRIES), size=n, p=_INDUSTRY_SHARE)
    revenue = np.round(
        rng.lognormal(np.log(_SEGMENT_MEDIAN_REVENUE[segment]), _SEGMENT_SIGMA[segment])
    )
    high_maintenance = rng.random(n) < _SEGMENT_HIGH_MAINTENANCE[segment]
    if n:
        rank = revenue.argsort(kind="stable").argsort(kind="stable") / n
    else:
        rank = np.zeros(0)
    tier = np.where(rank >= 0.85, 0, np.where(rank >= 0.5, 1, 2))
    visits = _TIER_VISITS[tier] * np.where(high_maintenance, 1.5, 1.0)
    distance_km = np.hypot(*(xy - home_xy[owner_index]).T) * _KM_PER_UNIT
    cost = np.round(
        visits * (150.0 + 1.5 * distance_km)
        + revenue
        * _INDUSTRY_SERVICE_RATIO[industry]
        * np.where(high_maintenance, _HIGH_MAINTENANCE_FACTOR, 1.0)
        * rng.lognormal(0.0, 0.45, n)
        + _SEGMENT_FIXED_COST[segment]
    )

    # Pipeline: every territory has its own funnel, so conversion differs.
    lead_share = rng.uniform(0.08, 0.22, k)
    opportunity_share = rng.uniform(0.05, 0.12, k)
    conversion = rng.uniform(0.10, 0.60, k)
    customer_share = 1.0 - lead_share - opportunity_share
    new_share = np.minimum(conversion * lead_share / customer_share, 0.5)
    draw = rng.random(n)
    stage_index = np.where(
        draw < lead_share[territory],
        0,
        np.where(draw < (lead_share + opportunity_share)[territory], 1, 2),
    )
    customer = stage_index == 2
    is_new = customer & (rng.random(n) < new_share[territory])

    bought = rng.random((n, len(_PRODUCTS))) < _PRODUCT_PROBABILITY[segment]
    bought[:, 0] |= ~bought.any(axis=1)  # a customer buys at least Core
    bought[stage_index == 0] = False  # leads have bought nothing yet
    product_mask = bought @ (1 << np.arange(len(_PRODUCTS)))

    growth = rng.lognormal(0.04, 0.15, n)
    revenue_last_year = np.where(customer & ~is_new, np.round(revenue / growth), np.nan)

    zip_only = rng.random(n) < zip_only_share
    names = _company_names(industry, rng)

    accounts = pd.DataFrame(
        {
            "name": names,
            "lat": np.where(zip_only, np.nan, lat),
            "lon": np.where(zip_only, np.nan, lon),
            "location_source": _strings(["coordinates", "zip"], zip_only.astype(np.intp)),
            "postal_code": _strings(geography.zip_code, zip_index),
            "revenue": revenue,
            "cost_to_serve": cost,
            "industry": _strings(_INDUSTRIES, industry),
            "segment": _strings(_SEGMENTS, segment),
            "products": _strings(_product_table(), product_mask),
            "stage": _strings(list(STAGES), stage_index),
            "is_new": is_new,
            "revenue_last_year": revenue_last_year,
            "visits_per_year": visits,
            "tier": _strings(_TIERS, tier),
            "owner": _ids("R", k, 2).take(owner_index),
        },
        index=pd.Index(_ids("ACC-", n, 6), name=ACCOUNT_ID),
    )
    return accounts, owner_index


# --------------------------------------------------------------------------
# reps


def _reps(
    geography: _Geography,
    homes: np.ndarray,
    accounts: pd.DataFrame,
    owner: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Return the reps frame; ``owner`` is each account's rep position."""
    k = len(homes)
    rep_ids = _ids("R", k, 2)
    combos = rng.choice(len(_FIRST_NAMES) * len(_LAST_NAMES), size=k, replace=False)
    first = np.array(_FIRST_NAMES, dtype=object)[combos // len(_LAST_NAMES)]
    last = np.array(_LAST_NAMES, dtype=object)[combos % len(_LAST_NAMES)]

    stage = accounts["stage"]
    is_new = accounts["is_new"].to_numpy()
    customer = stage.eq("customer").to_numpy()

    def per_rep(weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(owner, weights=weights, minlength=k)

    held = per_rep().astype(np.int64)
    leads = per_rep(stage.eq("lead").to_numpy())
    opportunities = per_rep(stage.eq("opportunity").to_numpy())
    won = per_rep(is_new)
    book = per_rep(np.where(customer, accounts["revenue"].to_numpy(), 0.0))
    visits = per_rep(accounts["visits_per_year"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        lead_to_opportunity = np.nan_to_num((opportunities + won) / (leads + opportunities + won))
        opportunity_to_deal = np.nan_to_num(won / (opportunities + won))

    return pd.DataFrame(
        {
            "name": pd.array(first + " " + last, dtype="str"),
            "home_town": pd.array(
                geography.town_city[homes] + ", " + geography.town_state[homes], dtype="str"
            ),
            "home_lat": geography.town_lat[homes],
            "home_lon": geography.town_lon[homes],
            "experience_years": rng.integers(1, 26, k).astype(np.int64),
            "capacity_hours": rng.choice([1400.0, 1600.0, 1800.0], size=k, p=[0.2, 0.6, 0.2]),
            "accounts_held": held,
            "new_contacts": (leads + rng.poisson(25, k)).astype(np.int64),
            "lead_to_opportunity": np.round(lead_to_opportunity, 4),
            "opportunity_to_deal": np.round(opportunity_to_deal, 4),
            "conversations": (np.round(visits) + rng.poisson(60, k)).astype(np.int64),
            "annual_contract_value": book,
            "quota": np.round(book * rng.uniform(1.02, 1.15, k), -3),
        },
        index=pd.Index(rep_ids, name=REP_ID),
    )


def demo_definition(data: DemoData) -> Definition:
    """County-based territories for a demo data set, with exceptions and regions.

    Each county of the data's region goes to the territory covering most of
    it; the first :data:`DEMO_EXCEPTIONS` territories each hand their biggest
    account (by revenue) to the next territory as a named-account exception;
    territories roll up into the regions of the ``region`` column.

    Parameters
    ----------
    data : DemoData
        What :func:`generate` or :func:`load_embedded` returned.

    Returns
    -------
    Definition
        On ``county`` units.
    """
    territories = data.territories
    units = _demo_counties(territories)
    geography = definition_from_polygons(units, territories)
    located = units.unit_of(data.accounts)
    by_unit = geography.unit_territory.reindex(located.fillna("").to_numpy()).to_numpy()
    owner = pd.Series(by_unit, index=data.accounts.index, dtype=object)
    ids = list(territories.index)
    exceptions = {}
    for here, there in zip(ids[:DEMO_EXCEPTIONS], ids[1 : DEMO_EXCEPTIONS + 1], strict=False):
        held = data.accounts.loc[owner[owner == here].index, "revenue"]
        if len(held):
            exceptions[str(held.idxmax())] = there
    return Definition(
        unit_kind="county",
        unit_territory=geography.unit_territory,
        exceptions=pd.Series(exceptions, dtype=object),
        regions=territories["region"].astype(object),
        territories=territories[["name", "rep_id"]].astype(object),
    )


def _demo_counties(territories: gpd.GeoDataFrame) -> UnitLayer:
    return boundary_units("county", within=shapely.union_all(territories.geometry.to_numpy()))


def demo_workspace() -> Workspace:
    """Build the workspace of the embedded demo data set in ``data/``.

    Territories are made of counties (``data/definition.json``), with a few
    named-account exceptions and two regions.
    """
    data = load_embedded()
    definition = read_definition(DATA_DIR / DEFINITION_FILE)
    return build_workspace(
        data.accounts,
        data.territories,
        data.reps,
        name="Demo data (New England & New York)",
        units=_demo_counties(data.territories),
        definition=definition,
    )


def write_units(outdir: str | Path, units: UnitLayer, definition: Definition) -> dict[str, Path]:
    """Write a territory definition and its unit layer into a data folder.

    With the files of :func:`write_demo`, :func:`folder_workspace` then
    builds the territories from these units.

    Parameters
    ----------
    outdir : str or pathlib.Path
        The data folder (created if missing).
    units : UnitLayer
        The building blocks; written as :data:`UNITS_FILE` unless they can be
        made again from the definition (counties, states, H3 cells).
    definition : Definition
        Units -> territory, exceptions, rules, regions, on ``units``.

    Returns
    -------
    dict of str to pathlib.Path
        ``"definition"`` and, when written, ``"units"``.

    Raises
    ------
    ValueError
        When the definition is built on another kind of unit.
    """
    if definition.unit_kind != units.kind:
        raise ValueError(
            f"the definition is built on {definition.unit_kind!r} units, not {units.kind!r}"
        )
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {"definition": outdir / DEFINITION_FILE}
    text = json.dumps(definition.to_dict(), indent=1, ensure_ascii=False) + "\n"
    paths["definition"].write_text(text, encoding="utf-8")
    if units.kind not in ("county", "state", "h3"):
        paths["units"] = outdir / UNITS_FILE
        units.units.to_parquet(paths["units"])
    return paths


def folder_workspace(indir: str | Path, name: str | None = None) -> Workspace:
    """Build the workspace of a data folder: the demo files, and its units when it has them.

    A folder written by :func:`write_demo` holds accounts, reps and territory
    polygons: territories are the accounts inside each polygon. With a
    territory definition (:data:`DEFINITION_FILE`) next to them, territories
    are built from units: counties, states and H3 cells are made again
    (:func:`terrmap.io.definition.unit_layer_for`); any other layer is read
    from :data:`UNITS_FILE` (GeoParquet indexed by unit id, with ``name``).

    Parameters
    ----------
    indir : str or pathlib.Path
        The folder.
    name : str, optional
        Label of the data set; ``Data in <folder name>`` by default.

    Returns
    -------
    Workspace

    Raises
    ------
    FileNotFoundError
        If a demo file is missing, or the definition needs :data:`UNITS_FILE`
        and it is not there.
    ValueError
        When the definition or the unit layer is malformed (naming the file).
    """
    indir = Path(indir)
    data = read_demo(indir)
    label = name or f"Data in {indir.name}"
    definition_path = indir / DEFINITION_FILE
    if not definition_path.is_file():
        return build_workspace(data.accounts, data.territories, data.reps, name=label)
    definition = read_definition(definition_path)
    units_path = indir / UNITS_FILE
    if units_path.is_file():
        try:
            frame = gpd.read_parquet(units_path)
        except Exception as error:  # pyarrow and geopandas raise their own types
            raise ValueError(f"{units_path}: cannot read the unit layer: {error}") from error
        units = units_from_polygons(
            frame,
            None,
            name_field="name" if "name" in frame.columns else None,
            kind=definition.unit_kind,
            approximate=definition.unit_kind == "zip-approximate",
            params=definition.unit_params,
        )
    elif definition.unit_kind in ("county", "state", "h3"):
        units = unit_layer_for(definition, data.accounts, territories=data.territories)
    else:
        raise FileNotFoundError(
            f"{definition_path} is built on {definition.unit_kind!r} units: "
            f"put them in {units_path}"
        )
    return build_workspace(
        data.accounts, data.territories, data.reps, name=label, units=units, definition=definition
    )
