import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.core.context import Context
from terrmap.core.plan import History, Plan


@pytest.fixture
def context(grid_accounts, grid_territories, grid_reps):
    return Context.build(grid_accounts, grid_territories, grid_reps)


@pytest.fixture
def plan(context):
    return Plan.from_assignment(
        context,
        pd.Series(
            ["SW", "SW", "SE", "SE", "NW", "NW", "NE", None],
            index=[f"ACC-{c}" for c in "abcdefgh"],
        ),
    )


class TestFromAssignment:
    def test_round_trip(self, plan):
        assert plan.assignment.tolist()[:7] == ["SW", "SW", "SE", "SE", "NW", "NW", "NE"]
        assert plan.assignment.isna().tolist() == [False] * 7 + [True]
        assert list(plan.unassigned) == ["ACC-h"]

    def test_unknown_territory_is_named(self, context):
        with pytest.raises(ValueError, match="Atlantis"):
            Plan.from_assignment(context, pd.Series({"ACC-a": "Atlantis"}))

    def test_missing_accounts_are_unassigned(self, context):
        plan = Plan.from_assignment(context, pd.Series({"ACC-a": "NE"}))
        assert plan.assignment.notna().sum() == 1

    def test_input_not_mutated(self, context):
        assignment = pd.Series({"ACC-a": "NE", "ACC-b": "SW"})
        before = assignment.copy()
        Plan.from_assignment(context, assignment)
        pd.testing.assert_series_equal(assignment, before)


class TestReassign:
    def test_returns_new_plan_and_keeps_parent(self, plan):
        child = plan.reassign(["ACC-a"], "NE")
        assert child is not plan
        assert child.parent is plan
        assert plan.assignment["ACC-a"] == "SW"
        assert child.assignment["ACC-a"] == "NE"

    def test_flows(self, plan):
        child = plan.reassign(["ACC-a", "ACC-c", "ACC-h", "ACC-g"], "NE")
        flows = child.flows
        assert flows["SW"].outflow == ("ACC-a",)
        assert flows["SE"].outflow == ("ACC-c",)
        assert flows[None].outflow == ("ACC-h",)
        assert set(flows["NE"].inflow) == {"ACC-a", "ACC-c", "ACC-h"}
        assert sorted(child.changed_territories) == ["NE", "SE", "SW"]

    def test_accounts_already_in_target_are_not_moved(self, plan):
        assert plan.reassign(["ACC-g"], "NE") is plan
        assert plan.reassign([], "NE") is plan

    def test_release_to_white_space(self, plan):
        child = plan.reassign(["ACC-a"], None)
        assert pd.isna(child.assignment["ACC-a"])
        assert child.metrics().attrs["unassigned"]["accounts"] == 2

    def test_unknown_ids_are_named(self, plan):
        with pytest.raises(KeyError, match="ACC-zz"):
            plan.reassign(["ACC-a", "ACC-zz"], "NE")
        with pytest.raises(KeyError, match="Atlantis"):
            plan.reassign(["ACC-a"], "Atlantis")

    def test_changelog(self, plan):
        plan2 = plan.reassign(["ACC-a"], "NE", author="maria", note="closer to Di").reassign(
            ["ACC-a"], "SW"
        )
        log = plan2.changelog()
        assert log[["account_id", "from_territory", "to_territory"]].values.tolist() == [
            ["ACC-a", "SW", "NE"],
            ["ACC-a", "NE", "SW"],
        ]
        assert log["author"].iloc[0] == "maria" and pd.isna(log["author"].iloc[1])
        assert len(plan2.lineage) == 3

    def test_plan_arrays_are_read_only(self, plan):
        with pytest.raises(ValueError):
            plan.codes[0] = 3


class TestMetrics:
    def test_hand_computed_money(self, plan):
        m = plan.metrics()
        assert m.loc["SW", "revenue"] == 160_000
        assert m.loc["SW", "cost"] == 100_000
        assert m.loc["SW", "net_profit"] == 60_000
        assert m.loc["SW", "margin"] == pytest.approx(60_000 / 160_000)
        assert m.loc["SW", "accounts"] == 2
        assert m.attrs["unassigned"]["revenue"] == 60

    def test_hand_computed_pipeline(self, plan):
        m = plan.metrics()
        assert m.loc["SW", ["leads", "opportunities", "customers", "new_accounts"]].tolist() == [
            1,
            0,
            1,
            1,
        ]
        assert m.loc["SW", "conversion_rate"] == 1.0
        assert np.isnan(m.loc["NE", "conversion_rate"])  # no leads: not zero, unknown
        assert m.loc["SW", "pipeline"] == 60_000
        assert m.loc["NW", "revenue_last_year"] == 25.0
        assert np.isnan(m.loc["SE", "revenue_last_year"])

    def test_hand_computed_travel(self, plan, context):
        m = plan.metrics()
        # SW: both accounts 0.25 deg of longitude from the home at the equator-ish lat 0.5
        d = 0.25 * np.pi * 6371.0088 / 180 * np.cos(np.radians(0.5))
        assert m.loc["SW", "mean_distance_km"] == pytest.approx(d, rel=1e-4)
        assert m.loc["SW", "direct_km"] == pytest.approx(2 * d * 16 * 1.25, rel=1e-4)
        # two accounts: no area, so the tour is pure line haul
        assert m.loc["SW", "area_km2"] == 0
        assert m.loc["SW", "travel_km"] == pytest.approx(1.25 * 2 * d * 16 / 4, rel=1e-4)
        assert m.loc["SW", "visit_hours"] == 16 * 1.5
        assert m.loc["SW", "workload_hours"] == pytest.approx(24 + m.loc["SW", "travel_km"] / 60)
        assert m.loc["SW", "utilisation"] == pytest.approx(m.loc["SW", "workload_hours"] / 1600)

    def test_metrics_cached_and_copied(self, plan):
        first = plan.metrics()
        first.loc["SW", "revenue"] = -1
        assert plan.metrics().loc["SW", "revenue"] == 160_000

    def test_selection_summary(self, plan):
        summary = plan.selection_summary(["ACC-a", "ACC-b", "ACC-c"])
        assert summary.loc["SW", "accounts"] == 2
        assert summary.loc["SW", "net_profit"] == 60_000
        assert summary.loc["SE", "revenue"] == 10


class TestHistory:
    def test_undo_redo(self, plan):
        history = History.start(plan)
        second = plan.reassign(["ACC-a"], "NE")
        history = history.push(second)
        assert history.current is second and history.can_undo and not history.can_redo
        history = history.undo()
        assert history.current is plan and history.can_redo
        history = history.redo()
        assert history.current is second
        third = plan.reassign(["ACC-b"], "NE")
        branched = history.undo().push(third)
        assert branched.plans == (plan, third) and not branched.can_redo


def _random_context(seed: int, n: int, k: int) -> Context:
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    accounts = pd.DataFrame(
        {
            "lon": rng.uniform(-80, -70, n),
            "lat": rng.uniform(38, 45, n),
            "revenue": rng.lognormal(10, 1.5, n).round(2),
            "cost_to_serve": rng.lognormal(9, 1.5, n).round(2),
            "visits_per_year": rng.integers(0, 13, n).astype(float),
            "stage": rng.choice(["lead", "opportunity", "customer"], n),
            "is_new": rng.random(n) < 0.2,
            "revenue_last_year": np.where(rng.random(n) < 0.3, np.nan, rng.lognormal(10, 1, n)),
        },
        index=[f"A{i}" for i in range(n)],
    )
    territories = gpd.GeoDataFrame(
        {"name": [f"T{i}" for i in range(k)]},
        geometry=[
            shapely.Point(rng.uniform(-80, -70), rng.uniform(38, 45)).buffer(1) for _ in range(k)
        ],
        index=[f"T{i}" for i in range(k)],
        crs="EPSG:4326",
    )
    return Context.build(accounts, territories)


_CONTEXT = _random_context(3, 120, 5)


@given(
    initial=st.lists(st.integers(-1, 4), min_size=120, max_size=120),
    moves=st.lists(
        st.tuples(st.lists(st.integers(0, 119), max_size=30), st.integers(-1, 4)),
        max_size=25,
    ),
)
def test_incremental_figures_equal_full_recompute_at_every_step(initial, moves):
    labels = [None if code < 0 else f"T{code}" for code in initial]
    plan = Plan.from_assignment(
        _CONTEXT, pd.Series(labels, index=_CONTEXT.account_ids, dtype=object)
    )
    plan.metrics()
    for positions, target in moves:
        ids = [f"A{i}" for i in positions]
        plan = plan.reassign(ids, None if target < 0 else f"T{target}")
        fresh = Plan.from_assignment(_CONTEXT, plan.assignment)
        incremental, full = plan.metrics(), fresh.metrics()
        pd.testing.assert_frame_equal(incremental, full, check_exact=True)
        pd.testing.assert_series_equal(
            incremental.attrs["unassigned"], full.attrs["unassigned"], check_exact=True
        )
        # every account in exactly one territory or white space, totals conserved
        assert incremental["accounts"].sum() + incremental.attrs["unassigned"]["accounts"] == 120


def test_thousand_random_moves_match_full_recompute():
    rng = np.random.default_rng(11)
    context = _random_context(5, 400, 8)
    plan = Plan.from_assignment(
        context, pd.Series(rng.choice([f"T{i}" for i in range(8)], 400), index=context.account_ids)
    )
    plan.metrics()
    for step in range(1000):
        ids = context.account_ids[rng.choice(400, rng.integers(0, 6), replace=False)]
        plan = plan.reassign(ids, f"T{rng.integers(8)}")
        plan.metrics()
        if step % 100 == 99:
            fresh = Plan.from_assignment(context, plan.assignment)
            pd.testing.assert_frame_equal(plan.metrics(), fresh.metrics(), check_exact=True)


@given(
    initial=st.lists(st.integers(-1, 4), min_size=120, max_size=120),
    steps=st.lists(
        st.dictionaries(st.integers(0, 119), st.integers(-1, 4), max_size=40),
        max_size=15,
    ),
)
def test_multi_target_moves_equal_full_recompute_at_every_step(initial, steps):
    labels = [None if code < 0 else f"T{code}" for code in initial]
    plan = Plan.from_assignment(
        _CONTEXT, pd.Series(labels, index=_CONTEXT.account_ids, dtype=object)
    )
    plan.metrics()
    for step in steps:
        positions = np.array(list(step), dtype=np.int64)
        targets = np.array(list(step.values()), dtype=np.int64)
        parent = plan
        plan = plan.reassign_many(positions, targets, note="batch")
        expected = np.array(parent.codes)
        expected[positions] = targets
        np.testing.assert_array_equal(plan.codes, expected)
        if plan is not parent:
            # one step: undo is the parent, one move lists exactly the changed accounts
            assert plan.parent is parent
            changed = np.flatnonzero(parent.codes != plan.codes)
            assert sorted(plan.move.account_ids) == sorted(f"A{i}" for i in changed)
            assert len(plan.changelog()) == len(parent.changelog()) + len(changed)
        else:
            assert (parent.codes[positions] == targets).all()
        fresh = Plan.from_assignment(_CONTEXT, plan.assignment)
        pd.testing.assert_frame_equal(plan.metrics(), fresh.metrics(), check_exact=True)
        pd.testing.assert_series_equal(
            plan.metrics().attrs["unassigned"],
            fresh.metrics().attrs["unassigned"],
            check_exact=True,
        )


class TestReassignMany:
    def test_one_step_to_several_territories(self, plan, context):
        codes = {t: i for i, t in enumerate(context.territory_ids)}
        child = plan.reassign_many(
            np.array([0, 2, 7]), np.array([codes["NE"], codes["NW"], codes["SW"]]), note="why"
        )
        assert child.parent is plan
        assert child.assignment.tolist() == ["NE", "SW", "NW", "SE", "NW", "NW", "NE", "SW"]
        log = child.changelog()
        assert log["to_territory"].tolist() == ["NE", "NW", "SW"]
        assert log["from_territory"].tolist()[:2] == ["SW", "SE"]
        assert pd.isna(log["from_territory"].iloc[2])
        assert set(log["note"]) == {"why"}
        assert set(child.changed_territories) == {"NE", "NW", "SW", "SE"}
        assert plan.assignment.tolist()[:7] == ["SW", "SW", "SE", "SE", "NW", "NW", "NE"]

    def test_replay_of_a_recorded_move(self, plan, context):
        child = plan.reassign_many(np.array([1, 4]), np.array([1, 2]))
        again = plan.replay(child.move)
        assert again.assignment.equals(child.assignment)
        assert again.move.destinations == child.move.destinations

    @pytest.mark.parametrize(
        ("positions", "targets", "error", "match"),
        [
            ([0, 0], [1, 2], ValueError, "position 0 given twice"),
            ([0], [1, 2], ValueError, "differ in length"),
            ([99], [1], IndexError, "position 99"),
            ([0], [9], ValueError, "territory code 9"),
        ],
    )
    def test_bad_input_named(self, plan, positions, targets, error, match):
        with pytest.raises(error, match=match):
            plan.reassign_many(np.array(positions), np.array(targets))


class TestBoundedHistory:
    """Undo keeps at most ``limit`` steps; older ones fold into one, nothing is lost."""

    @staticmethod
    def _session(limit: int, n_moves: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        ids = list(_CONTEXT.account_ids)
        territories = [*_CONTEXT.territory_ids, None]
        start = Plan.from_assignment(_CONTEXT, pd.Series({a: "T0" for a in ids}))
        history = History.start(start, limit=limit)
        # the expected assignment after each move, kept by hand (a dict), not by the plan
        expected = [dict.fromkeys(ids, "T0")]
        made = 0
        while made < n_moves:
            chosen = list(rng.choice(ids, size=int(rng.integers(1, 6)), replace=False))
            target = territories[int(rng.integers(0, len(territories)))]
            plan = history.current.reassign(chosen, target, note=f"move {made}")
            if plan is history.current:
                continue
            history = history.push(plan)
            state = dict(expected[-1])
            state.update(dict.fromkeys(chosen, target))
            expected.append(state)
            made += 1
        return start, history, expected

    def test_keeps_limit_steps_and_undo_walks_them_back(self):
        _, history, expected = self._session(limit=10, n_moves=30)
        assert len(history.plans) == 11
        for back in range(11):
            got = history.current.assignment.astype(object).where(
                history.current.assignment.notna(), None
            )
            assert got.to_dict() == expected[30 - back], back
            if back < 10:
                assert history.can_undo
                history = history.undo()
        assert not history.can_undo

    def test_change_log_and_figures_keep_every_move(self):
        start, history, _ = self._session(limit=5, n_moves=40)
        plan = history.current
        assert [m.note for m in plan.moves] == [f"move {i}" for i in range(40)]
        assert plan.lineage[0] is start
        full = Plan.from_assignment(_CONTEXT, plan.assignment)
        pd.testing.assert_frame_equal(plan.metrics(), full.metrics(), check_exact=True)
        # the folded step's own figures are right as well
        oldest = history.plans[0]
        assert oldest.merged is not None and len(oldest.merged) == 35
        full = Plan.from_assignment(_CONTEXT, oldest.assignment)
        pd.testing.assert_frame_equal(oldest.metrics(), full.metrics(), check_exact=True)

    def test_folded_plans_are_freed(self):
        import gc
        import weakref

        start = Plan.from_assignment(_CONTEXT, pd.Series({"A0": "T0"}))
        history = History.start(start, limit=3)
        first_moved = start.reassign(["A1"], "T1")
        watch = weakref.ref(first_moved)
        history = history.push(first_moved)
        del first_moved
        for i in range(2, 12):
            history = history.push(history.current.reassign([f"A{i}"], "T2"))
        gc.collect()
        assert watch() is None, "a folded plan is still held: the history is not bounded"
        assert len(history.plans) == 4

    def test_default_limit_shrinks_with_the_data(self):
        from terrmap.core.plan import MIN_UNDO_STEPS, UNDO_STEPS, undo_steps_for

        small = Plan.from_assignment(_CONTEXT, pd.Series(dtype=object))
        assert History.start(small).steps == UNDO_STEPS
        # an assignment of 8M accounts (32 MB a copy) keeps 8 copies in 256 MB: the floor, 10
        big = Plan(context=_CONTEXT, codes=np.zeros(8_000_000, dtype=np.int32))
        assert undo_steps_for(big) == MIN_UNDO_STEPS
        mid = Plan(context=_CONTEXT, codes=np.zeros(2**20, dtype=np.int32))
        assert undo_steps_for(mid) == 64  # 256 MiB / 4 MiB

    def test_redo_tail_is_dropped_before_folding(self):
        _, history, expected = self._session(limit=4, n_moves=4)
        history = history.undo().undo()
        branch = history.current.reassign(["A0"], "T3")
        history = history.push(branch)
        assert not history.can_redo and len(history.plans) == 4
        assert history.current.assignment["A0"] == "T3"


@given(
    limit=st.integers(1, 6),
    moves=st.lists(
        st.tuples(st.lists(st.integers(0, 119), min_size=1, max_size=10), st.integers(-1, 4)),
        max_size=20,
    ),
)
def test_bounded_history_keeps_every_move_and_exact_figures(limit, moves):
    start = Plan.from_assignment(_CONTEXT, pd.Series(dtype=object))
    history = History.start(start, limit=limit)
    made = []
    for positions, target in moves:
        ids = [f"A{p}" for p in dict.fromkeys(positions)]
        territory = None if target < 0 else f"T{target}"
        plan = history.current.reassign(ids, territory)
        if plan is not history.current:
            made.append(plan.move)
        history = history.push(plan)
        assert len(history.plans) <= limit + 1
        current = history.current
        assert current.moves == made
        full = Plan.from_assignment(_CONTEXT, current.assignment)
        pd.testing.assert_frame_equal(current.metrics(), full.metrics(), check_exact=True)
