import numpy as np
import pytest

from terrmap.core.travel import TravelParams, haversine_km, hull_area_km2, tour_km


def test_haversine_known_distance():
    # Boston to New York City, about 306 km great-circle
    assert float(haversine_km(-71.0589, 42.3601, -74.0060, 40.7128)) == pytest.approx(306, abs=2)
    assert float(haversine_km(0, 0, 0, 0)) == 0


def test_hull_area_of_a_square_near_the_equator():
    side = 1.0  # degree
    area = hull_area_km2(np.array([0, 1, 1, 0, 0.5]), np.array([0, 0, 1, 1, 0.5]), ref_lat=0.0)
    assert area == pytest.approx((side * np.pi * 6371.0088 / 180) ** 2)
    assert hull_area_km2(np.array([0, 1]), np.array([0, 1]), 0.0) == 0


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
