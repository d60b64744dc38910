"""terrmap.geo.workspace.build_workspace with an assignment the data already gives."""

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from terrmap.geo.workspace import build_workspace


@pytest.fixture
def two_boxes():
    """Territories W and E side by side, three accounts::

    +-------+-------+
    |  a    |  b    |      z (outside both)
    |   W   |   E   |
    +-------+-------+
    """
    territories = gpd.GeoDataFrame(
        {"name": ["West", "East"], "rep_id": ["r1", "r2"], "region": [None, None]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        index=pd.Index(["W", "E"], name="territory_id"),
        crs="EPSG:4326",
    )
    accounts = pd.DataFrame(
        {"name": ["a", "b", "z"], "lon": [0.5, 1.5, 5.0], "lat": [0.5, 0.5, 0.5]},
        index=pd.Index(["a", "b", "z"], name="account_id"),
    ).assign(revenue=[10.0, 20.0, 30.0])
    return accounts, territories


class TestGivenAssignment:
    def test_the_plan_follows_it_not_the_polygons(self, two_boxes):
        accounts, territories = two_boxes
        given = pd.Series(["E", "W", "E"], index=accounts.index)
        workspace = build_workspace(accounts, territories, assignment=given)
        assert workspace.initial_plan.assignment.tolist() == ["E", "W", "E"]
        # without it, point-in-polygon decides
        plain = build_workspace(accounts, territories)
        assert plain.initial_plan.assignment.tolist() == ["W", "E", pd.NA]

    def test_missing_accounts_are_white_space_and_said(self, two_boxes):
        accounts, territories = two_boxes
        given = pd.Series(["W", pd.NA], index=["a", "b"], dtype="string")
        workspace = build_workspace(accounts, territories, assignment=given)
        assert list(workspace.assignment.unassigned) == ["b", "z"]
        assert "2 accounts lie in no territory (white space)." in workspace.notes
        assert workspace.assignment.overlaps.empty

    def test_an_unknown_territory_is_refused(self, two_boxes):
        accounts, territories = two_boxes
        given = pd.Series(["W", "North", "E"], index=accounts.index)
        with pytest.raises(ValueError, match="North"):
            build_workspace(accounts, territories, assignment=given)

    def test_the_given_assignment_is_not_modified(self, two_boxes):
        accounts, territories = two_boxes
        given = pd.Series(["E", "W", None], index=accounts.index)
        before = given.copy()
        build_workspace(accounts, territories, assignment=given)
        pd.testing.assert_series_equal(given, before)
