"""Reader for the instances of the commercial territory design problem (CTDP).

The districting literature measures its heuristics on generated instances of
the CTDP of Ríos-Mercado & Fernández (2009, "A reactive GRASP for a
commercial territory design problem with multiple balancing requirements",
*Computers & Operations Research* 36(3)): basic units on a plane, each with
three activity measures (number of customers, product demand, workload),
an adjacency graph between units, a number of districts and a balance
tolerance per activity. The DS (uniform activities) and DT (activities as
sums of 68 random variables) classes, with 500 to 1,000 units and 10 to 20
districts, are published with the code of Gliesch, Ritt & Moreira (2018,
"A multistart alternating tabu search for commercial districting",
*EvoCOP 2018*, LNCS 10782), whose generator writes this plain-text format
(numbers separated by white space)::

    n                           number of units
    i x y a1 a2 a3              n lines: unit id (0 .. n-1), coordinates,
                                customers, demand, workload
    m                           number of adjacency edges
    u v                         m lines: two unit ids that touch
    p c t1 t2 t3                districts, an integer the generator always
                                writes as 50 (not used by the model), and the
                                tolerance of each activity as a fraction of
                                its mean (0.05 for ±5 %)

Coordinates are in the plane (the generator draws them in [0, 1000]), not
degrees. :func:`read_ctdp` reads a file, :func:`parse_ctdp` text; both
check every count and id and name the line of anything wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ACTIVITIES", "CtdpInstance", "parse_ctdp", "read_ctdp"]

#: The three activity measures of a unit, in file order.
ACTIVITIES: tuple[str, ...] = ("customers", "demand", "workload")


@dataclass(frozen=True)
class CtdpInstance:
    """One CTDP instance.

    Attributes
    ----------
    name : str
        File name (or the name given).
    units : pandas.DataFrame
        Indexed by unit id, columns ``x``, ``y`` and :data:`ACTIVITIES`.
    edges : numpy.ndarray of int64, shape (m, 2)
        Adjacency as positions into ``units``, ``u < v``, each once.
    districts : int
        Number of districts to form.
    tolerances : dict of str to float
        Activity → tolerance as a fraction of its mean.
    """

    name: str
    units: pd.DataFrame
    edges: np.ndarray
    districts: int
    tolerances: dict


def _lines(text: str):
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields:
            yield number, fields


def _numbers(number: int, fields: list[str], count: int, what: str) -> list[float]:
    if len(fields) != count:
        raise ValueError(
            f"line {number}: {what} needs {count} numbers, got {len(fields)}: {' '.join(fields)!r}"
        )
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise ValueError(
            f"line {number}: {what} holds a non-number: {' '.join(fields)!r}"
        ) from None
    if not all(np.isfinite(values)):
        raise ValueError(f"line {number}: {what} holds a non-finite number: {' '.join(fields)!r}")
    return values


def _count(number: int, fields: list[str], what: str) -> int:
    (value,) = _numbers(number, fields, 1, what)
    if value < 0 or value != int(value):
        raise ValueError(f"line {number}: {what} must be a whole number >= 0, got {fields[0]!r}")
    return int(value)


def parse_ctdp(text: str, name: str = "") -> CtdpInstance:
    r"""Parse the text of a CTDP instance (format in the module docstring).

    Raises
    ------
    ValueError
        Naming the line of a wrong count, a non-number, a unit id out of
        order, an edge to an unknown unit, a negative activity or tolerance,
        or missing lines.

    Examples
    --------
    >>> text = "2\n0 0 0 1 10 5\n1 3 4 2 20 5\n1\n0 1\n1 50 0.05 0.05 0.05\n"
    >>> instance = parse_ctdp(text)
    >>> instance.units["demand"].tolist(), instance.edges.tolist(), instance.districts
    ([10.0, 20.0], [[0, 1]], 1)
    """
    lines = _lines(text)

    def take(what: str):
        try:
            return next(lines)
        except StopIteration:
            raise ValueError(f"{name or 'instance'}: ends before the {what}") from None

    number, fields = take("number of units")
    n = _count(number, fields, "the number of units")
    rows = []
    for i in range(n):
        number, fields = take(f"unit {i}")
        unit, x, y, *activity = _numbers(number, fields, 6, "a unit (i x y a1 a2 a3)")
        if unit != i:
            raise ValueError(
                f"line {number}: unit ids must run 0..{n - 1} in order, got {fields[0]!r}"
            )
        if min(activity) < 0:
            raise ValueError(f"line {number}: unit {i} has a negative activity")
        rows.append((x, y, *activity))
    units = pd.DataFrame(rows, columns=["x", "y", *ACTIVITIES], index=pd.RangeIndex(n, name="unit"))
    number, fields = take("number of edges")
    m = _count(number, fields, "the number of edges")
    pairs = []
    for _ in range(m):
        number, fields = take("edges")
        u, v = _numbers(number, fields, 2, "an edge (u v)")
        for end in (u, v):
            if end != int(end) or not 0 <= end < n:
                raise ValueError(
                    f"line {number}: edge to unit {fields[0 if end == u else 1]!r}, not in 0..{n - 1}"
                )
        if u == v:
            raise ValueError(f"line {number}: edge from unit {int(u)} to itself")
        pairs.append((min(int(u), int(v)), max(int(u), int(v))))
    edges = np.unique(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=0)
    number, fields = take("districts and tolerances")
    p, _unused, *tolerance = _numbers(number, fields, 5, "the last line (p c t1 t2 t3)")
    if p < 1 or p != int(p) or p > max(n, 1):
        raise ValueError(f"line {number}: {fields[0]!r} districts for {n} units")
    if min(tolerance) < 0:
        raise ValueError(f"line {number}: a tolerance is negative")
    extra = next(lines, None)
    if extra is not None:
        raise ValueError(f"line {extra[0]}: unexpected text after the last line")
    return CtdpInstance(
        name=name,
        units=units,
        edges=edges,
        districts=int(p),
        tolerances=dict(zip(ACTIVITIES, tolerance, strict=True)),
    )


def read_ctdp(path: str | Path) -> CtdpInstance:
    """Read a CTDP instance file (format in the module docstring).

    Raises
    ------
    ValueError
        As :func:`parse_ctdp`, the file name first.
    FileNotFoundError
        When there is no such file.
    """
    path = Path(path)
    try:
        return parse_ctdp(path.read_text(encoding="utf-8"), name=path.name)
    except ValueError as error:
        raise ValueError(f"{path.name}: {error}") from None
