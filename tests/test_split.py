"""Splitting a territory and greenfield with more territories: new seats, one step, nothing lost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terrmap.core.plan import History
from terrmap.core.travel import haversine_km
from terrmap.demo import generate
from terrmap.geo.workspace import build_workspace, rebase_history, with_added_territories
from terrmap.playbook.optimise.split import greenfield_k, new_home_bases, split_territory


@pytest.fixture(scope="module")
def workspace():
    data = generate(300, 3, seed=4)
    return build_workspace(data.accounts, data.territories, data.reps)


def _heaviest(ws):
    revenue = ws.initial_plan.metrics()["revenue"]
    return str(revenue.idxmax())


class TestNewHomeBases:
    def test_new_bases_are_distinct_accounts_away_from_the_fixed_one(self):
        """Two clusters, one holding the fixed base: the new base lands in the other.

        ``x x x`` around (0, 0) with the fixed base, ``y y y`` around (1, 0).
        """
        lon = np.array([0.0, 0.01, 0.02, 1.0, 1.01, 1.02])
        lat = np.zeros(6)
        chosen = new_home_bases(
            lon, lat, np.ones(6), np.array([0.01]), np.array([0.0]), 1, np.random.default_rng(0)
        )
        assert chosen.tolist() == [4]  # the middle of the far cluster

    def test_several_bases_never_share_a_place(self):
        rng = np.random.default_rng(1)
        lon, lat = rng.uniform(-72, -71, 50), rng.uniform(42, 43, 50)
        chosen = new_home_bases(lon, lat, rng.uniform(1, 5, 50), lon[:1], lat[:1], 4, rng)
        places = {(lon[i], lat[i]) for i in chosen}
        assert len(chosen) == 4 and len(places) == 4 and (lon[0], lat[0]) not in places

    @pytest.mark.parametrize("count", [0, 3])
    def test_impossible_counts_are_refused(self, count):
        lon = np.array([0.0, 0.0, 1.0])  # two distinct places
        with pytest.raises(ValueError, match="territory|places"):
            new_home_bases(
                lon,
                np.zeros(3),
                np.ones(3),
                np.empty(0),
                np.empty(0),
                count,
                np.random.default_rng(0),
            )


class TestAddedTerritories:
    def test_added_territory_has_an_open_seat_and_old_ones_keep_their_order(self, workspace):
        territories_before = workspace.territories.copy()
        added = pd.DataFrame(
            {"name": ["East 2"], "home_lon": [-71.5], "home_lat": [42.5]},
            index=pd.Index(["E2"], name="territory_id"),
        )
        grown = with_added_territories(workspace, added)
        ids = list(grown.context.territory_ids)
        assert ids[:-1] == list(workspace.context.territory_ids) and ids[-1] == "E2"
        assert grown.context.home_lon[-1] == -71.5 and grown.context.home_lat[-1] == 42.5
        assert grown.context.territory_names[-1] == "East 2"
        pd.testing.assert_frame_equal(workspace.territories, territories_before)
        # the plans so far carry over with the same assignment
        history = History.start(workspace.initial_plan)
        moved = rebase_history(history, grown.context)
        pd.testing.assert_series_equal(
            moved.current.assignment, workspace.initial_plan.assignment, check_dtype=False
        )

    def test_an_id_in_use_is_refused(self, workspace):
        taken = str(workspace.context.territory_ids[0])
        added = pd.DataFrame(
            {"name": ["x"], "home_lon": [-71.0], "home_lat": [42.0]}, index=[taken]
        )
        with pytest.raises(ValueError, match=taken):
            with_added_territories(workspace, added)

    def test_a_missing_home_base_is_refused(self, workspace):
        added = pd.DataFrame({"name": ["x"], "home_lon": [np.nan], "home_lat": [42.0]}, index=["Z"])
        with pytest.raises(ValueError, match="without a home base"):
            with_added_territories(workspace, added)


class TestSplit:
    def test_split_adds_territories_inside_and_only_that_territory_changes(self, workspace):
        history = History.start(workspace.initial_plan)
        heavy = _heaviest(workspace)
        grown, moved, result = split_territory(
            workspace, history, heavy, 2, "revenue:10", rng=np.random.default_rng(0)
        )
        context = grown.context
        k = workspace.context.n_territories
        assert context.n_territories == k + 2
        new_ids = list(context.territory_ids[k:])
        codes = result.plan.codes
        start = moved.current.codes
        code = int(context.territory_ids.get_loc(heavy))
        # every account once; accounts outside the split territory never move
        assert len(codes) == workspace.context.n_accounts
        outside = start != code
        assert (codes[outside] == start[outside]).all()
        # the new territories hold accounts, and their home bases lie inside the old territory
        counts = np.bincount(codes[codes >= 0], minlength=k + 2)
        assert (counts[k:] > 0).all()
        members = start == code
        for t in range(k, k + 2):
            d = haversine_km(
                context.lon[members], context.lat[members], context.home_lon[t], context.home_lat[t]
            )
            assert d.min() < 1e-6
        # one step on the carried-over history, which still ends at today's plan
        assert result.plan.parent is moved.current
        assert len(result.plan.moves) == len(moved.current.moves) + 1
        assert set(result.moves["to_territory"].dropna()) <= {heavy, *new_ids}
        assert workspace.context.n_territories == k  # input untouched

    def test_split_of_unknown_territory_names_it(self, workspace):
        history = History.start(workspace.initial_plan)
        with pytest.raises(ValueError, match="Atlantis"):
            split_territory(workspace, history, "Atlantis", 1, rng=np.random.default_rng(0))


class TestGreenfieldK:
    def test_more_territories_go_where_revenue_per_rep_is_highest(self, workspace):
        history = History.start(workspace.initial_plan)
        k = workspace.context.n_territories
        grown, _, result = greenfield_k(
            workspace, history, k + 1, "revenue:10", rng=np.random.default_rng(0)
        )
        heavy = _heaviest(workspace)
        name = str(
            workspace.context.territory_names[workspace.context.territory_ids.get_loc(heavy)]
        )
        assert list(grown.context.territory_names[k:]) == [f"{name} 2"]
        counts = np.bincount(result.plan.codes[result.plan.codes >= 0], minlength=k + 1)
        assert counts[k] > 0

    def test_fewer_territories_than_today_are_refused(self, workspace):
        history = History.start(workspace.initial_plan)
        k = workspace.context.n_territories
        with pytest.raises(ValueError, match=f"there are {k} today"):
            greenfield_k(workspace, history, k - 1, rng=np.random.default_rng(0))


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(2, 5),
    count=st.integers(1, 3),
    n_locked=st.integers(0, 10),
)
def test_random_splits_keep_every_invariant(seed, k, count, n_locked):
    data = generate(120, k, seed=seed)
    ws = build_workspace(data.accounts, data.territories, data.reps)
    history = History.start(ws.initial_plan)
    context = ws.context
    rng = np.random.default_rng(seed)
    heavy = _heaviest(ws)
    locked = rng.choice(context.account_ids.to_numpy(), n_locked, replace=False).tolist()
    grown, moved, result = split_territory(
        ws, history, heavy, count, "revenue:10", rng=rng, locked_accounts=locked
    )
    codes, start = result.plan.codes, moved.current.codes
    code = int(context.territory_ids.get_loc(heavy))
    # each account once, nobody lost; only the split territory's accounts move, within it and its new ones
    assert len(codes) == context.n_accounts and ((start < 0) == (codes < 0)).all()
    changed = codes != start
    assert (start[changed] == code).all()
    assert set(codes[changed].tolist()) <= {code, *range(k, k + count)}
    # locks held
    positions = context.positions(locked)
    assert (codes[positions] == start[positions]).all()
    # no unannounced worsening: more pieces than before are listed
    grown_pieces = [
        name
        for name, p in result.after["pieces"].items()
        if p > max(result.before["pieces"][name], 1)
    ]
    if grown_pieces:
        assert any("pieces" in w for w in result.worsened)
    assert grown.context.n_territories == k + count
