"""Words for an optimiser's proposal: why each account moves, and what it fixes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrmap.core import formatting as fmt
from terrmap.core.balance import Balance

__all__ = ["move_reasons", "pair_note"]


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.1f}%"


def move_reasons(
    moves: pd.DataFrame, before: Balance, after: Balance, names: pd.Series
) -> list[str]:
    """One sentence per moved account.

    Parameters
    ----------
    moves : pandas.DataFrame
        Columns ``from_territory``, ``to_territory``, ``distance_before_km``,
        ``distance_after_km``.
    before, after : Balance
        Exact balance of the starting and the proposed plan.
    names : pandas.Series
        Territory name per territory id.

    Returns
    -------
    list of str
    """
    # Plain dicts: Series.get costs ~20 us a call, too slow for 10k moves.
    name = {str(t): str(v) for t, v in names.items()}
    was = {str(t): v for t, v in before.deviation_pct.items()}
    now = {str(t): v for t, v in after.deviation_pct.items()}
    reasons = []
    for source, target, d_before, d_after in zip(
        moves["from_territory"].astype(object).fillna("").tolist(),
        moves["to_territory"].astype(object).fillna("").tolist(),
        moves["distance_before_km"].tolist(),
        moves["distance_after_km"].tolist(),
        strict=True,
    ):
        src, dst = name.get(source, source or "white space"), name.get(target, target)
        if np.isfinite(d_before) and np.isfinite(d_after) and d_after < d_before:
            where = (
                f"{d_after:.0f} km from {dst}'s home base, closer than {src}'s ({d_before:.0f} km)"
            )
        elif np.isfinite(d_after):
            where = f"on the {src}/{dst} boundary: {d_after:.0f} km from {dst}'s home base (was {d_before:.0f} km)"
        else:
            where = f"no home base distance known for {dst}"
        reasons.append(
            f"{src} {_fmt(was.get(source, np.nan))} → {_fmt(now.get(source, np.nan))} vs the mean, "
            f"{dst} {_fmt(was.get(target, np.nan))} → {_fmt(now.get(target, np.nan))}; {where}."
        )
    return reasons


def pair_note(
    source: str,
    target: str,
    count: int,
    value: float,
    label: str,
    tolerance_pct: float,
    before: Balance,
    after: Balance,
    names: pd.Series,
) -> str:
    """Write the change-log note of the accounts handed from one territory to another.

    Examples
    --------
    >>> from terrmap.core.balance import balance
    >>> b = balance(pd.Series({"A": 150.0, "B": 50.0}), 5)
    >>> a = balance(pd.Series({"A": 100.0, "B": 100.0}), 5)
    >>> pair_note("A", "B", 2, 50.0, "Revenue", 5, b, a, pd.Series({"A": "North", "B": "South"}))[:40]
    'Auto-balance on Revenue (±5%): 2 account'
    """
    src, dst = str(names.get(source, source)), str(names.get(target, target))
    src_before = before.deviation_pct.get(source, np.nan)
    dst_before = before.deviation_pct.get(target, np.nan)
    if np.isfinite(src_before) and abs(src_before) > tolerance_pct:
        why = f"{src} was {_fmt(src_before)} vs the mean, outside the band"
    elif np.isfinite(dst_before) and abs(dst_before) > tolerance_pct:
        why = f"{dst} was {_fmt(dst_before)} vs the mean, outside the band"
    else:
        why = "these accounts lie nearer the new rep or make room along a chain of moves"
    return (
        f"Auto-balance on {label} (±{tolerance_pct:g}%): {fmt.count(count, 'account')} worth "
        f"{fmt.number(value, 0 if abs(value) >= 100 else 2)} from {src} to {dst}; {why}. After the proposal {src} is "
        f"{_fmt(after.deviation_pct.get(source, np.nan))}, {dst} "
        f"{_fmt(after.deviation_pct.get(target, np.nan))}."
    )
