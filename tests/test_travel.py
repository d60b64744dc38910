import numpy as np
import pytest

from terrmap.core.travel import TravelParams, haversine_km, tour_km


def test_haversine_known_distance():
    # Boston to New York City, about 306 km great-circle
    assert float(haversine_km(-71.0589, 42.3601, -74.0060, 40.7128)) == pytest.approx(306, abs=2)
    assert float(haversine_km(0, 0, 0, 0)) == 0


def test_hull_area_of_a_square_near_the_equator():
    # the territory area the travel model uses: the accounts' hull, in km²
    import geopandas as gpd
    import pandas as pd
    import shapely

    from terrmap.core.context import Context
    from terrmap.core.plan import Plan

    lon, lat = [0, 1, 1, 0, 0.5], [0, 0, 1, 1, 0.5]
    accounts = pd.DataFrame(
        {"lon": lon, "lat": lat, "revenue": 1.0, "cost_to_serve": 0.0, "visits_per_year": 1.0},
        index=[f"A{i}" for i in range(5)],
    )
    territory = gpd.GeoDataFrame(
        {"name": ["Eq"]}, geometry=[shapely.Point(0.5, 0.0)], index=["T"], crs="EPSG:4326"
    )
    plan = Plan.from_assignment(
        Context.build(accounts, territory), pd.Series("T", index=accounts.index)
    )
    side_km = np.pi * 6371.0088 / 180  # one degree at the equator
    assert plan._totals().area_km2[0] == pytest.approx(side_km**2)
    two = Plan.from_assignment(
        Context.build(accounts.iloc[:2], territory), pd.Series("T", index=accounts.index[:2])
    )
    assert two._totals().area_km2[0] == 0


def test_tour_hand_computed():
    params = TravelParams(circuity=1.2, stops_per_day=5, bhh_k=0.8)
    km = tour_km(100, 20.0, 400.0, params)
    assert float(km) == pytest.approx(1.2 * (2 * 20 * 100 / 5 + 0.8 * np.sqrt(100 * 400)))


def test_tour_never_exceeds_out_and_back_for_chained_days():
    params = TravelParams()
    visits, distance, area = 200.0, 50.0, 2500.0
    direct = 2 * distance * visits * params.circuity
    assert float(tour_km(visits, distance, area, params)) < direct


@pytest.mark.parametrize("name", ["circuity", "speed_kmh", "visit_hours", "stops_per_day", "bhh_k"])
def test_bad_parameters_are_named(name):
    with pytest.raises(ValueError, match=name):
        TravelParams(**{name: 0})
