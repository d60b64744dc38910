"""Plans as territory definitions: units, exceptions, rules, regions, contiguity."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.core.context import Context
from terrmap.core.definition import (
    Definition,
    Rule,
    region_rollup,
    reimport_report,
    resolve,
)
from terrmap.core.plan import ContiguityError, Plan

#: Five units: the four squares of the grid fixture and an empty one (U-X)
#: east of NE. Accounts a..h sit two per square (see conftest).
#:
#:     +------+------+------+
#:     | U-NW | U-NE | U-X  |
#:     +------+------+------+
#:     | U-SW | U-SE |
#:     +------+------+
UNIT_IDS = pd.Index(["U-SW", "U-SE", "U-NW", "U-NE", "U-X"])
ACCOUNT_UNITS = np.array([0, 0, 1, 1, 2, 2, 3, 3])
PAIRS = np.array([[0, 1], [0, 2], [1, 3], [2, 3], [3, 4]])


@pytest.fixture
def context(grid_accounts, grid_territories, grid_reps):
    return Context.build(grid_accounts, grid_territories, grid_reps)


@pytest.fixture
def definition():
    return Definition(
        unit_kind="uploaded",
        unit_territory=pd.Series({"U-SW": "SW", "U-SE": "SE", "U-NW": "NW", "U-NE": "NE"}),
        exceptions=pd.Series({"ACC-b": "NE"}),
        rules=(Rule("SE", "revenue", ">=", 100_000),),
        regions=pd.Series({"SW": "South", "SE": "South", "NW": "North", "NE": "North"}),
    )


@pytest.fixture
def plan(context, definition, grid_accounts):
    return Plan.from_definition(
        context, definition, UNIT_IDS, ACCOUNT_UNITS, accounts=grid_accounts, pairs=PAIRS
    )


class TestFromDefinition:
    def test_rule_then_exception_then_unit(self, plan):
        # a: revenue 100k -> rule SE; b: exception NE; the rest by their square.
        assert plan.assignment.tolist() == ["SE", "NE", "SE", "SE", "NW", "NW", "NE", "NE"]

    def test_resolve_agrees_and_says_why(self, definition, grid_accounts, plan):
        units = pd.Series(UNIT_IDS[ACCOUNT_UNITS], index=grid_accounts.index)
        resolution = resolve(definition, grid_accounts, units)
        pd.testing.assert_series_equal(
            resolution.territory, plan.assignment, check_names=False, check_index_type=False
        )
        assert resolution.source.tolist() == ["rule", "exception"] + ["unit"] * 6

    def test_account_outside_every_unit_is_white_space(self, context, definition, grid_accounts):
        units = ACCOUNT_UNITS.copy()
        units[7] = -1
        plan = Plan.from_definition(context, definition, UNIT_IDS, units, accounts=grid_accounts)
        assert list(plan.unassigned) == ["ACC-h"]

    def test_unknown_territory_and_unit_are_named(self, context, grid_accounts):
        bad = Definition("uploaded", pd.Series({"U-SW": "Atlantis"}))
        with pytest.raises(ValueError, match="Atlantis"):
            Plan.from_definition(context, bad, UNIT_IDS, ACCOUNT_UNITS)
        bad = Definition("uploaded", pd.Series({"U-Moon": "SW"}))
        with pytest.raises(ValueError, match="U-Moon"):
            Plan.from_definition(context, bad, UNIT_IDS, ACCOUNT_UNITS)

    def test_rule_on_missing_field_is_named(self, context, grid_accounts):
        bad = Definition(
            "uploaded", pd.Series(dtype=object), rules=(Rule("SW", "industry", "==", "x"),)
        )
        with pytest.raises(ValueError, match="industry"):
            Plan.from_definition(context, bad, UNIT_IDS, ACCOUNT_UNITS, accounts=grid_accounts)

    def test_inputs_not_mutated(self, context, definition, grid_accounts):
        units = ACCOUNT_UNITS.copy()
        before = (
            definition.unit_territory.copy(),
            definition.exceptions.copy(),
            grid_accounts.copy(),
        )
        Plan.from_definition(context, definition, UNIT_IDS, units, accounts=grid_accounts)
        pd.testing.assert_series_equal(definition.unit_territory, before[0])
        pd.testing.assert_series_equal(definition.exceptions, before[1])
        pd.testing.assert_frame_equal(grid_accounts, before[2])
        assert units.tolist() == ACCOUNT_UNITS.tolist()


class TestRules:
    def test_operators(self, grid_accounts):
        assert Rule("T", "revenue", "<", 30).matches(grid_accounts).sum() == 2
        assert Rule("T", "stage", "==", "LEAD").matches(grid_accounts).sum() == 3
        assert Rule("T", "stage", "in", ["lead", "opportunity"]).matches(grid_accounts).sum() == 4
        assert Rule("T", "stage", "!=", "lead").matches(grid_accounts).sum() == 5

    def test_missing_values_never_match(self, grid_accounts):
        rule = Rule("T", "revenue_last_year", ">=", 0)
        assert rule.matches(grid_accounts).tolist() == [True] + [False] * 3 + [True] + [
            False
        ] * 2 + [True]

    def test_first_rule_wins(self, context, grid_accounts):
        rules = (Rule("NW", "revenue", ">=", 50_000), Rule("NE", "revenue", ">=", 100_000))
        d = Definition("uploaded", pd.Series({"U-SW": "SW"}), rules=rules)
        plan = Plan.from_definition(context, d, UNIT_IDS, ACCOUNT_UNITS, accounts=grid_accounts)
        assert plan.assignment.tolist()[:2] == ["NW", "NW"]

    def test_bad_operator_named(self):
        with pytest.raises(ValueError, match="~="):
            Rule("T", "revenue", "~=", 3)


class TestUnitMoves:
    def test_unit_moves_its_accounts_but_not_excepted_or_ruled_ones(self, plan):
        child = plan.reassign_units(["U-SW"], "NW")
        # a is placed by a rule (SE), b is an exception (NE): both stay.
        assert child.assignment.tolist()[:2] == ["SE", "NE"]
        assert child.unit_assignment["U-SW"] == "NW"
        assert plan.unit_assignment["U-SW"] == "SW"
        child = plan.reassign_units(["U-SE"], "NE")
        assert child.assignment.tolist()[2:4] == ["NE", "NE"]
        assert child.move.unit_ids == ("U-SE",)
        assert child.move.account_ids == ("ACC-c", "ACC-d")

    def test_empty_unit_move_still_changes_the_definition(self, plan):
        child = plan.reassign_units(["U-X"], "NE")
        assert child is not plan
        assert child.assignment.equals(plan.assignment)
        assert child.unit_assignment["U-X"] == "NE"

    def test_no_op_returns_same_plan(self, plan):
        assert plan.reassign_units(["U-SW"], "SW") is plan

    def test_unknown_unit_named(self, plan):
        with pytest.raises(KeyError, match="U-Moon"):
            plan.reassign_units(["U-Moon"], "SW")

    def test_plan_without_units_refuses(self, context):
        plain = Plan.from_assignment(context, pd.Series({"ACC-a": "SW"}))
        with pytest.raises(ValueError, match="no units"):
            plain.reassign_units(["U-SW"], "SW")


class TestAccountMovesAreExceptions:
    def test_moving_an_account_records_an_exception(self, plan):
        child = plan.reassign(["ACC-c"], "NW")
        assert child.exceptions.to_dict() == {"ACC-b": "NE", "ACC-c": "NW"}
        # a later unit move leaves the excepted account where it was put
        later = child.reassign_units(["U-SE"], "NE")
        assert later.assignment["ACC-c"] == "NW"
        assert later.assignment["ACC-d"] == "NE"

    def test_moving_back_to_its_unit_clears_the_exception(self, plan):
        child = plan.reassign(["ACC-b"], "SW")
        assert child.exceptions.to_dict() == {}

    def test_release_to_white_space_is_an_exception(self, plan):
        child = plan.reassign(["ACC-e"], None)
        assert child.exceptions.isna()["ACC-e"]
        assert child.reassign_units(["U-NW"], "NE").assignment["ACC-e"] is pd.NA

    def test_rule_claimed_account_cannot_be_moved_alone(self, plan):
        with pytest.raises(ValueError, match="ACC-a.*rule"):
            plan.reassign(["ACC-a", "ACC-c"], "NW")


class TestContiguity:
    def test_pieces_per_territory(self, plan):
        frame = plan.contiguity()
        assert frame["pieces"].tolist() == [1, 1, 1, 1]
        # NW takes U-SE: NW = {U-NW, U-SE}, diagonal only -> two pieces
        child = plan.reassign_units(["U-SE"], "NW")
        assert child.contiguity().loc["NW"].tolist() == [2, 2, 1]
        assert child.contiguity().loc["SE", "units"] == 0

    def test_refuses_a_split_naming_the_territory(self, plan):
        with pytest.raises(ContiguityError, match="North-West"):
            plan.reassign_units(["U-SE"], "NW", keep_contiguous=True)
        joined = plan.reassign_units(["U-X"], "NE", keep_contiguous=True)
        assert joined.contiguity().loc["NE", "units"] == 2

    def test_splitting_the_loser_is_refused(self, plan):
        grown = plan.reassign_units(["U-X", "U-NW"], "NE")
        # NE = {U-NW, U-NE, U-X}; giving U-NE away cuts U-NW from U-X
        with pytest.raises(ContiguityError, match="North-East"):
            grown.reassign_units(["U-NE"], "SE", keep_contiguous=True)


class TestDefinitionFile:
    def test_round_trip_through_json(self, plan, context, grid_accounts):
        moved = plan.reassign_units(["U-SE"], "NE").reassign(["ACC-e"], "SW")
        text = json.dumps(moved.definition().to_dict())
        again = Definition.from_dict(json.loads(text))
        rebuilt = Plan.from_definition(
            context, again, UNIT_IDS, ACCOUNT_UNITS, accounts=grid_accounts
        )
        pd.testing.assert_series_equal(rebuilt.assignment, moved.assignment)
        assert again.regions.to_dict() == {
            "SW": "South",
            "SE": "South",
            "NW": "North",
            "NE": "North",
        }
        assert again.territories.loc["SW", "name"] == "South-West"
        assert again.rules == (Rule("SE", "revenue", ">=", 100_000),)

    def test_not_a_definition(self):
        with pytest.raises(ValueError, match="terrmap_definition"):
            Definition.from_dict({"units": {}})
        with pytest.raises(ValueError, match="kind"):
            Definition.from_dict({"terrmap_definition": 1, "units": {}})

    def test_unknown_unit_kind(self):
        with pytest.raises(ValueError, match="parish"):
            Definition("parish", pd.Series(dtype=object))


class TestRegions:
    def test_rollup_sums(self, plan):
        rolled = region_rollup(plan.metrics(), plan.definition().regions, ["accounts", "revenue"])
        # South: SW (none left: a by rule to SE, b excepted to NE) + SE (a, c, d)
        assert rolled.loc["South"].tolist() == [3, 100_030.0, 2]
        assert rolled.loc["North"].tolist() == [5, 60_180.0, 2]

    def test_unknown_column(self, plan):
        with pytest.raises(ValueError, match="colour"):
            region_rollup(plan.metrics(), pd.Series(dtype=object), ["colour"])


class TestReimport:
    def test_report(self, definition, grid_accounts):
        units_old = pd.Series(UNIT_IDS[ACCOUNT_UNITS], index=grid_accounts.index)
        old = resolve(definition, grid_accounts, units_old).territory
        new_accounts = grid_accounts.drop(index=["ACC-b", "ACC-h"])
        new_accounts.loc["ACC-c", "revenue"] = 99.0
        new_accounts.loc["ACC-new"] = grid_accounts.loc["ACC-e"]
        units_new = units_old.drop(index=["ACC-b", "ACC-h"])
        units_new["ACC-new"] = "U-NW"
        new = resolve(definition, new_accounts, units_new).territory
        assert new["ACC-new"] == "NW"
        report, lost = reimport_report(old, grid_accounts, new, new_accounts, definition)
        assert report.loc["NW", "added"] == 1
        assert report.loc["NE", "removed"] == 2  # b (exception) and h
        assert report.loc["SE", "changed"] == 1
        assert report["added"].sum() == 1 and report["removed"].sum() == 2
        assert list(lost) == ["ACC-b"]


# -- incremental equals full, for unit moves and exception moves -------------

_N_UNITS = 12


def _unit_context():
    rng = np.random.default_rng(5)
    n = 90
    accounts = pd.DataFrame(
        {
            "lon": rng.uniform(0, 3, n),
            "lat": rng.uniform(0, 3, n),
            "revenue": rng.integers(0, 10_000, n).astype(float),
            "cost_to_serve": rng.integers(0, 5_000, n).astype(float),
            "visits_per_year": rng.integers(0, 12, n).astype(float),
        },
        index=pd.Index([f"A{i}" for i in range(n)], name="account_id"),
    )
    territories = pd.DataFrame(
        {"name": [f"T{i}" for i in range(4)]}, index=[f"T{i}" for i in range(4)]
    )
    context = Context.build(accounts, territories)
    units = rng.integers(-1, _N_UNITS, n)
    return context, accounts, units


_UCONTEXT, _UACCOUNTS, _UNITS = _unit_context()
_UNIT_IDS = pd.Index([f"U{i}" for i in range(_N_UNITS)])
# a ring of units: U0-U1-...-U11-U0
_RING = np.array([[i, (i + 1) % _N_UNITS] for i in range(_N_UNITS)])


@given(
    initial=st.lists(st.integers(-1, 3), min_size=_N_UNITS, max_size=_N_UNITS),
    moves=st.lists(
        st.tuples(
            st.booleans(),
            st.lists(st.integers(0, 89), max_size=12),
            st.integers(-1, 3),
        ),
        max_size=20,
    ),
)
def test_unit_and_exception_moves_equal_full_recompute(initial, moves):
    definition = Definition(
        "uploaded",
        pd.Series([None if c < 0 else f"T{c}" for c in initial], index=_UNIT_IDS, dtype=object),
        rules=(Rule("T0", "revenue", ">=", 9_500),),
    )
    plan = Plan.from_definition(
        _UCONTEXT, definition, _UNIT_IDS, _UNITS, accounts=_UACCOUNTS, pairs=_RING
    )
    ruled = set(_UACCOUNTS.index[_UACCOUNTS["revenue"] >= 9_500])
    plan.metrics()
    for is_unit_move, picks, target in moves:
        label = None if target < 0 else f"T{target}"
        if is_unit_move:
            plan = plan.reassign_units([f"U{p % _N_UNITS}" for p in picks], label)
        else:
            plan = plan.reassign([f"A{p}" for p in picks if f"A{p}" not in ruled], label)
        fresh = Plan.from_assignment(_UCONTEXT, plan.assignment)
        pd.testing.assert_frame_equal(plan.metrics(), fresh.metrics(), check_exact=True)
        # the plan equals its own definition applied from scratch
        again = Plan.from_definition(
            _UCONTEXT, plan.definition(), _UNIT_IDS, _UNITS, accounts=_UACCOUNTS
        )
        pd.testing.assert_series_equal(again.assignment, plan.assignment)
        # every account in exactly one territory or white space
        m = plan.metrics()
        assert m["accounts"].sum() + m.attrs["unassigned"]["accounts"] == len(_UACCOUNTS)
        # accounts without exception or rule follow their unit
        free = plan.exception_codes == -2
        free &= ~_UACCOUNTS.index.isin(list(ruled))
        inside = free & (_UNITS >= 0)
        expected = plan.unit_assignment.to_numpy()[_UNITS[inside]]
        assert plan.assignment[inside].tolist() == pd.array(expected, dtype="string").tolist()


def test_text_rules_skip_missing_values_and_compare_folded():
    accounts = pd.DataFrame({"segment": [" Enterprise", None, "smb", "Mid"]}, index=list("abcd"))
    assert Rule("T", "segment", ">=", "m").matches(accounts).tolist() == [False, False, True, True]
    assert Rule("T", "segment", "==", "ENTERPRISE").matches(accounts).tolist() == [
        True,
        False,
        False,
        False,
    ]
    assert Rule("T", "segment", "!=", "smb").matches(accounts).tolist() == [
        True,
        False,
        False,
        True,
    ]


def test_many_targets_at_once_keep_the_units_and_record_exceptions(plan, context):
    positions = context.positions(["ACC-c", "ACC-e"])
    codes = np.array([context.territory_code("NW"), context.territory_code("SE")])
    child = plan.reassign_many(positions, codes)
    assert child.layout is plan.layout
    assert child.exceptions.to_dict() == {"ACC-b": "NE", "ACC-c": "NW", "ACC-e": "SE"}
    again = Plan.from_assignment(context, child.assignment)
    pd.testing.assert_frame_equal(child.metrics(), again.metrics(), check_exact=True)
    # replaying the recorded move gives the same plan
    assert plan.replay(child.move).exceptions.to_dict() == child.exceptions.to_dict()
