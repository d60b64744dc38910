"""What changed for a rep between two plans (terrmap.playbook.repview.rep_changes)."""

import pytest

from terrmap.geo.workspace import build_workspace, with_territory_reps
from terrmap.playbook.repview import rep_changes


@pytest.fixture
def plan(grid_accounts, grid_territories, grid_reps):
    """The conftest grid; rep R1 (Ann) holds SW, R2 SE, R3 NW, R4 NE::

    +------+------+
    | e  f | g  h |   NW (R3) | NE (R4)
    +------+------+
    | a  b | c  d |   SW (R1) | SE (R2)
    +------+------+
    """
    return build_workspace(grid_accounts, grid_territories, grid_reps).initial_plan


def test_nothing_changed(plan):
    assert rep_changes(plan, plan, "R1").empty


def test_gains_and_losses_with_revenue(plan):
    after = plan.reassign(["ACC-c", "ACC-e"], "SW").reassign(["ACC-b"], "NE")
    changes = rep_changes(plan, after, "R1")
    # Gains first, by revenue (e 30 > c 10); then the loss of b.
    assert changes.index.tolist() == ["ACC-e", "ACC-c", "ACC-b"]
    assert changes["change"].tolist() == ["gained", "gained", "lost"]
    assert changes.loc["ACC-c", "from_territory"] == "SE"
    assert changes.loc["ACC-b", "to_territory"] == "NE"
    assert changes.loc["ACC-b", "revenue"] == 60_000
    assert changes.loc["ACC-b", "net_profit"] == 40_000
    # The other side of the same moves.
    assert rep_changes(plan, after, "R4").index.tolist() == ["ACC-b"]


def test_white_space_is_a_loss(plan):
    after = plan.reassign(["ACC-a"], None)
    changes = rep_changes(plan, after, "R1")
    assert changes.loc["ACC-a", "change"] == "lost"
    assert changes.loc["ACC-a", "to_territory"] is None


def test_a_move_between_two_territories_of_one_rep_changes_nothing(
    grid_accounts, grid_territories, grid_reps
):
    ws = build_workspace(grid_accounts, grid_territories, grid_reps)
    ws = with_territory_reps(ws, {"SE": "R1"})  # Ann holds SW and SE
    plan = ws.initial_plan
    assert rep_changes(plan, plan.reassign(["ACC-a"], "SE"), "R1").empty


def test_plans_of_other_data_refused(plan, grid_accounts, grid_territories):
    other = build_workspace(grid_accounts, grid_territories).initial_plan
    with pytest.raises(ValueError, match="different data"):
        rep_changes(plan, other, "R1")
