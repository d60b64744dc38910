"""Balance statistics over territories for any measure.

A measure is a ``pandas.Series`` indexed by territory id (revenue, workload,
account count, ...). Balance says how far each territory is from the mean and
how unequal the whole set is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Balance", "balance", "composite_measure", "gini"]


@dataclass(frozen=True)
class Balance:
    """Balance of one measure over territories.

    Attributes
    ----------
    mean : float
        Mean over territories.
    deviation_pct : pandas.Series
        Each territory's deviation from the mean, in percent.
    max_over_mean, min_over_mean : float
        Largest and smallest value divided by the mean.
    max_over_min : float
        Largest over smallest value (inf when the smallest is 0).
    cv : float
        Coefficient of variation (population standard deviation / mean).
    gini : float
        Gini coefficient, 0 for perfect equality.
    tolerance_pct : float
        The band used for ``outside``.
    outside : pandas.Index
        Territories whose deviation exceeds the tolerance.
    """

    mean: float
    deviation_pct: pd.Series
    max_over_mean: float
    min_over_mean: float
    max_over_min: float
    cv: float
    gini: float
    tolerance_pct: float
    outside: pd.Index

    def as_dict(self) -> dict[str, float]:
        """Headline figures as plain floats (for JSON)."""
        return {
            "mean": self.mean,
            "max_over_mean": self.max_over_mean,
            "min_over_mean": self.min_over_mean,
            "max_over_min": self.max_over_min,
            "cv": self.cv,
            "gini": self.gini,
            "tolerance_pct": self.tolerance_pct,
            "outside": [str(t) for t in self.outside],
        }


def gini(values) -> float:
    """Gini coefficient of non-negative values.

    Parameters
    ----------
    values : array_like
        Values, one per territory.

    Returns
    -------
    float
        0 when all values are equal, towards 1 when one holds everything;
        NaN for no values or an all-zero set.

    Examples
    --------
    >>> gini([1, 1, 1, 1])
    0.0
    >>> gini([0, 0, 0, 4])
    0.75
    """
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0 or x.sum() == 0:
        return float("nan")
    if (x < 0).any():
        raise ValueError(f"gini needs non-negative values, got minimum {x.min()!r}")
    n = x.size
    ranks = np.arange(1, n + 1)
    return float((2.0 * (ranks * x).sum()) / (n * x.sum()) - (n + 1.0) / n)


def balance(values: pd.Series, tolerance_pct: float = 10.0) -> Balance:
    """Balance statistics of a measure over territories.

    Parameters
    ----------
    values : pandas.Series
        The measure, indexed by territory id.
    tolerance_pct : float, default 10
        Half-width of the band around the mean that counts as balanced.

    Returns
    -------
    Balance

    Examples
    --------
    >>> b = balance(pd.Series({"N": 90.0, "S": 110.0}))
    >>> b.deviation_pct.tolist(), b.max_over_mean
    ([-10.0, 10.0], 1.1)
    """
    if tolerance_pct < 0:
        raise ValueError(f"tolerance_pct must be >= 0, got {tolerance_pct!r}")
    values = pd.Series(values, dtype=float)
    if values.isna().any():
        raise ValueError(
            f"balance needs a value for every territory; missing: {list(values.index[values.isna()])}"
        )
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) == 0 or mean == 0:
        deviation = pd.Series(np.nan, index=values.index)
    else:
        deviation = (values - mean) / mean * 100.0
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (np.nan, np.nan)
    outside = values.index[(deviation.abs() > tolerance_pct + 1e-9).to_numpy()]
    with np.errstate(divide="ignore", invalid="ignore"):
        return Balance(
            mean=mean,
            deviation_pct=deviation,
            max_over_mean=hi / mean if mean else float("nan"),
            min_over_mean=lo / mean if mean else float("nan"),
            max_over_min=float(np.divide(hi, lo)) if lo else float("inf"),
            cv=float(values.std(ddof=0) / mean) if mean else float("nan"),
            gini=gini(values.clip(lower=0)) if len(values) else float("nan"),
            tolerance_pct=float(tolerance_pct),
            outside=outside,
        )


def composite_measure(metrics: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    """Weighted mix of several measures, each scaled to its own mean.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Per-territory figures (one column per measure).
    weights : mapping of str to float
        Measure name to weight; weights need not sum to 1.

    Returns
    -------
    pandas.Series
        The mix, 1.0 for a territory at the mean of every measure.

    Examples
    --------
    >>> m = pd.DataFrame({"revenue": [1.0, 3.0], "accounts": [2, 2]}, index=["A", "B"])
    >>> composite_measure(m, {"revenue": 1, "accounts": 1}).tolist()
    [0.75, 1.25]
    """
    unknown = [name for name in weights if name not in metrics.columns]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}; choose from {list(metrics.columns)}")
    total = float(sum(weights.values()))
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be non-negative and not all zero, got {dict(weights)}")
    mix = pd.Series(0.0, index=metrics.index)
    for name, weight in weights.items():
        column = metrics[name].astype(float)
        mean = column.mean()
        if mean:
            mix = mix + weight * column / mean
    return mix / total
