"""Where a map selection should go, and whether that is far (terrmap.geo.handoff)."""

import numpy as np
import pytest

from terrmap.geo.handoff import MIN_FAR_KM, distance_check, suggest_target
from terrmap.geo.workspace import build_workspace

KM_PER_DEGREE = 111.195  # great circle at the equator, 6371 km radius


@pytest.fixture
def plan(grid_accounts, grid_territories, grid_reps):
    """The conftest grid, every account in its square::

    +------+------+
    | e  f | g  h |   NW | NE
    +------+------+
    | a  b | c  d |   SW | SE
    +------+------+
    """
    return build_workspace(grid_accounts, grid_territories, grid_reps).initial_plan


def positions(plan, *letters):
    return plan.context.positions([f"ACC-{c}" for c in letters])


class TestSuggestTarget:
    def test_the_territory_bordering_most_wins(self, plan):
        # A mixed selection (SW and NW), so every territory is a candidate:
        # a's nearest outside it is c (SE, 1°), b's is c (SE, 0.5°), e's is f (NW, 0.5°).
        found = suggest_target(plan, positions(plan, "a", "b", "e"), neighbours=1)
        assert found.territory_id == "SE"
        assert found.basis == "border"
        assert "South-East" in found.reason and "2 of the 3" in found.reason

    def test_the_selections_own_territory_is_not_suggested(self, plan):
        found = suggest_target(plan, positions(plan, "b"), neighbours=1)
        assert found.territory_id == "SE"  # c, half a degree east, is nearest

    def test_a_tie_goes_to_the_nearer_neighbours(self, plan):
        # c's two nearest outside SE: b (SW, 0.5°) and g (NE, 1.0°).
        found = suggest_target(plan, positions(plan, "c"), neighbours=2)
        assert found.territory_id == "SW"

    def test_not_the_first_territory_blindly(self, plan):
        found = suggest_target(plan, positions(plan, "h"))
        assert found.territory_id != "SW"

    def test_nearest_home_base_without_bordering_accounts(self, plan):
        alone = plan.reassign([f"ACC-{c}" for c in "bcdefgh"], None)
        found = suggest_target(alone, positions(alone, "a"))
        # a (0.25, 0.5): NW's home (0.5, 1.5) is 1.03° away, SE's (1.5, 0.5) 1.25°.
        assert found.territory_id == "NW"
        assert found.basis == "home"
        assert "North-West" in found.reason

    def test_empty_selection(self, plan):
        found = suggest_target(plan, np.empty(0, dtype=np.int64))
        assert found.territory_id is None and found.basis == "none"

    def test_bad_position_named(self, plan):
        with pytest.raises(ValueError, match="position 8"):
            suggest_target(plan, [0, 8])

    def test_plan_not_changed(self, plan):
        before = plan.codes.copy()
        suggest_target(plan, positions(plan, "a", "b"))
        np.testing.assert_array_equal(plan.codes, before)


class TestDistanceCheck:
    def test_far_move_flagged(self, plan):
        # h (1.75, 1.5) from SW's home (0.5, 0.5): about 1.6° (~178 km), beyond 150 km.
        check = distance_check(plan, positions(plan, "h"), "SW")
        assert check.is_far and check.far_accounts == 1
        assert check.max_km == pytest.approx(np.hypot(1.25, 1.0) * KM_PER_DEGREE, rel=0.01)
        # SW's own accounts are 0.25° from home: the floor sets the reach.
        assert check.threshold_km == MIN_FAR_KM

    def test_near_move_not_flagged(self, plan):
        # b (0.75, 0.5) from SE's home (1.5, 0.5): 0.75° (~83 km), within 150 km.
        check = distance_check(plan, positions(plan, "b"), "SE")
        assert not check.is_far
        assert check.max_km == pytest.approx(0.75 * KM_PER_DEGREE, rel=0.01)

    def test_reach_follows_what_the_territory_serves_today(self, plan):
        wide = plan.reassign(["ACC-h"], "SW")  # SW now serves h, ~178 km out
        check = distance_check(wide, positions(wide, "g"), "SW")
        assert check.threshold_km > MIN_FAR_KM
        assert not check.is_far  # g (1.25, 1.5) is nearer home than h

    def test_white_space_is_never_far(self, plan):
        assert not distance_check(plan, positions(plan, "h"), None).is_far

    def test_unknown_territory_named(self, plan):
        with pytest.raises(KeyError, match="'XX'"):
            distance_check(plan, positions(plan, "h"), "XX")
