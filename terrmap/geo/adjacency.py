"""Adjacency of accounts (or any units) as index pairs, and contiguity on it.

Contiguity is a graph question, never a geometry one at run time (as in
GerryChain's ``constraints.contiguity``): a territory is *in one piece* when its
members form one connected component of the adjacency graph. Where there are
no geographic units, accounts themselves are the units and their Delaunay
neighbours (on projected coordinates) the adjacency; edges much longer than
the usual spacing (across a bay, a mountain range, an empty state) are
pruned so that two far-apart clusters are not called neighbours.

Every function here takes the adjacency as an ``(E, 2)`` array of index pairs,
so geographic units with their own adjacency plug in unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import Delaunay, QhullError

from terrmap.core.travel import EARTH_RADIUS_KM, haversine_km

__all__ = [
    "account_adjacency",
    "check_edges",
    "neighbour_lists",
    "pieces",
    "territory_contacts",
]


def _project_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    # Equirectangular around the mean latitude: a few percent off over a
    # region a thousand km across, enough to decide who is next to whom.
    km_per_deg = np.pi * EARTH_RADIUS_KM / 180.0
    ref = np.radians(float(np.mean(lat)))
    return np.column_stack([lon * km_per_deg * np.cos(ref), lat * km_per_deg])


def account_adjacency(
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    max_edge_km: float | None = None,
    prune_factor: float = 3.0,
    bridge_km: float = 150.0,
) -> np.ndarray:
    """Delaunay neighbours of points, long edges pruned.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Coordinates in degrees; NaN points get no edges.
    max_edge_km : float, optional
        Drop edges longer than this. By default an edge is dropped when it
        is longer than ``prune_factor`` times the lower-quartile edge length at both
        its ends (a bridge across a bay or an empty county, not a street), or
        than ``10 x prune_factor`` times the median edge.
        Edges of the minimum spanning tree always stay, so points that are
        one piece stay one piece.
    prune_factor : float, default 3
        See ``max_edge_km``.
    bridge_km : float, default 150
        Minimum-spanning-tree edges up to this long are kept whatever the
        pruning says; longer ones (an island, another state) are not.

    Returns
    -------
    numpy.ndarray of int64, shape (E, 2)
        Index pairs ``i < j`` into ``lon``, each edge once, sorted.

    Examples
    --------
    >>> lon = np.array([0.0, 1.0, 0.0, 1.0])
    >>> lat = np.array([0.0, 0.0, 1.0, 1.0])
    >>> len(account_adjacency(lon, lat))  # four sides and one diagonal
    5
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat differ in shape: {lon.shape} vs {lat.shape}")
    located = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    if located.size < 2:
        return np.empty((0, 2), dtype=np.int64)
    xy = _project_km(lon[located], lat[located])
    # Repeated coordinates break Qhull's triangulation: triangulate the distinct
    # spots and tie every duplicate to its spot's representative.
    order = np.lexsort((xy[:, 1], xy[:, 0]))
    new_spot = np.ones(len(order), dtype=bool)
    new_spot[1:] = (np.diff(xy[order], axis=0) != 0).any(axis=1)
    spot_sorted = np.cumsum(new_spot) - 1
    spot_of = np.empty(len(order), dtype=np.int64)
    spot_of[order] = spot_sorted
    first = order[new_spot]
    spots = xy[first]
    pairs = [np.column_stack([first[spot_of], np.arange(located.size)])]
    if len(spots) == 2:
        pairs.append(first[None, :])
    elif len(spots) > 2:
        try:
            tri = Delaunay(spots)
            simplices = tri.simplices
        except QhullError:  # all on a line: chain them in order
            order = np.lexsort((spots[:, 1], spots[:, 0]))
            simplices = np.column_stack([order[:-1], order[1:], order[1:]])
        for a, b in ((0, 1), (1, 2), (0, 2)):
            pairs.append(np.column_stack([first[simplices[:, a]], first[simplices[:, b]]]))
    edges = np.concatenate(pairs)
    edges = edges[edges[:, 0] != edges[:, 1]]
    edges = _unique_pairs(edges, located.size)
    i, j = located[edges[:, 0]], located[edges[:, 1]]
    length = haversine_km(lon[i], lat[i], lon[j], lat[j])
    if max_edge_km is None:
        local = prune_factor * _local_scale(i, j, length, len(lon))
        keep = length <= np.minimum(local, 10.0 * prune_factor * float(np.median(length)))
    else:
        keep = length <= max_edge_km
    # The shortest links that hold the points together always stay: pruning
    # separates what is far apart, it never strands a town.
    n = len(lon)
    tree = minimum_spanning_tree(coo_matrix((length + 1e-9, (i, j)), shape=(n, n)).tocsr()).tocoo()
    bridge = tree.data <= bridge_km
    out = np.concatenate(
        [np.column_stack([i[keep], j[keep]]), np.column_stack([tree.row, tree.col])[bridge]]
    )
    return _unique_pairs(out, n)


def _unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Pairs as ``i < j``, each once, sorted (1-D unique on ``i * n + j``)."""
    pairs = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    key = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.column_stack([key // n, key % n])


def _local_scale(i: np.ndarray, j: np.ndarray, length: np.ndarray, n: int) -> np.ndarray:
    """Per edge, the larger of its two ends' lower-quartile edge length."""
    ends = np.concatenate([i, j])
    both = np.concatenate([length, length])
    order = np.lexsort((both, ends))
    ends, both = ends[order], both[order]
    start = np.searchsorted(ends, np.arange(n + 1))
    count = np.diff(start)
    quartile = np.zeros(n)
    has = count > 0
    quartile[has] = both[start[:-1][has] + (count[has] - 1) // 4]
    return np.maximum(quartile[i], quartile[j])


def check_edges(edges: np.ndarray, n: int) -> np.ndarray:
    """Validate index pairs against ``n`` units and return them as ``(E, 2)`` int64.

    Raises
    ------
    ValueError
        For a wrong shape or an index outside ``0..n-1`` (named).
    """
    edges = np.asarray(edges)
    if edges.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"adjacency must be index pairs of shape (E, 2), got {edges.shape}")
    edges = edges.astype(np.int64)
    bad = (edges < 0) | (edges >= n)
    if bad.any():
        raise ValueError(f"adjacency index {int(edges[bad][0])} outside 0..{n - 1}")
    return edges


def neighbour_lists(edges: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR neighbour lists: the neighbours of ``i`` are ``nbr[start[i]:start[i+1]]``."""
    both = np.concatenate([edges, edges[:, ::-1]]) if len(edges) else edges.reshape(0, 2)
    order = np.lexsort((both[:, 1], both[:, 0]))
    both = both[order]
    start = np.searchsorted(both[:, 0], np.arange(n + 1))
    return start.astype(np.int64), both[:, 1].astype(np.int64)


def pieces(codes: np.ndarray, edges: np.ndarray, k: int) -> np.ndarray:
    """Count the connected pieces of each territory on the adjacency graph.

    Parameters
    ----------
    codes : numpy.ndarray of int
        Territory code per unit (``-1`` for none).
    edges : numpy.ndarray, shape (E, 2)
        Adjacency as index pairs.
    k : int
        Number of territories.

    Returns
    -------
    numpy.ndarray of int, shape (k,)
        Pieces per territory; 0 for an empty territory, 1 when in one piece.

    Examples
    --------
    >>> edges = np.array([[0, 1], [1, 2], [2, 3]])
    >>> pieces(np.array([0, 1, 0, 0]), edges, 2).tolist()  # 0 | 1 | 0 0
    [2, 1]
    """
    codes = np.asarray(codes)
    n = len(codes)
    if len(edges):
        same = codes[edges[:, 0]] == codes[edges[:, 1]]
        e = edges[same]
    else:
        e = np.empty((0, 2), dtype=np.int64)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    owned = codes >= 0
    first = np.unique(label[owned], return_index=True)[1]
    roots = np.flatnonzero(owned)[first]
    return np.bincount(codes[roots], minlength=k)[:k]


def territory_contacts(codes: np.ndarray, edges: np.ndarray, k: int) -> np.ndarray:
    """Pairs of territories that touch: some member of one neighbours a member of the other.

    Returns
    -------
    numpy.ndarray of int64, shape (P, 2)
        Territory code pairs ``a < b``, each once.
    """
    if len(edges) == 0:
        return np.empty((0, 2), dtype=np.int64)
    a, b = codes[edges[:, 0]], codes[edges[:, 1]]
    keep = (a != b) & (a >= 0) & (b >= 0)
    return _unique_pairs(np.column_stack([a[keep], b[keep]]), k)
