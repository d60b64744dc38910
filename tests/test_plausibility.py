"""Plausibility warnings: rows load, the user is told (issue 11, class 8)."""

from __future__ import annotations

import numpy as np

from terrmap.io.loaders import load_accounts


def csv_of(rows):
    lines = ["id,zip,lat,lon"] + [",".join(map(str, row)) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def spread(n, seed=3):
    """n accounts scattered over Massachusetts, with Cambridge's ZIP."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(41.8, 42.6, n).round(4)
    lon = rng.uniform(-72.5, -70.9, n).round(4)
    return [(f"M{i}", "02139", lat[i], lon[i]) for i in range(n)]


class TestCoordinateWarnings:
    def test_clean_data_has_no_warning(self):
        load = load_accounts(csv_of(spread(30)), filename="a.csv")
        assert load.warnings == ("no revenue column: revenue set to 0",)

    def test_swapped_pair_is_named_and_still_loads(self):
        rows = [*spread(20), ("BOS", "02108", -71.06, 42.36)]
        load = load_accounts(csv_of(rows), filename="a.csv")
        assert "BOS" in load.accounts.index
        [warning] = [w for w in load.warnings if "swapped" in w]
        assert warning.endswith("line 22")

    def test_in_range_point_far_from_its_zip_but_not_swapped_is_not_called_swapped(self):
        rows = [*spread(20), ("SEA", "02108", 47.6, -122.3)]
        load = load_accounts(csv_of(rows), filename="a.csv")
        assert not [w for w in load.warnings if "swapped" in w]
        [far] = [w for w in load.warnings if "far from every other" in w]
        assert far.endswith("line 22")

    def test_many_accounts_on_one_spot(self):
        rows = [*spread(30), *((f"D{i}", "02139", 42.0, -71.5) for i in range(6))]
        load = load_accounts(csv_of(rows), filename="a.csv")
        [crowd] = [w for w in load.warnings if "share the coordinates" in w]
        assert crowd.startswith("6 accounts share the coordinates 42, -71.5")
        assert "lines 32, 33, 34, 35, 36 and 1 more" in crowd
        assert len(load.accounts) == 36

    def test_zip_placed_accounts_do_not_count_as_a_crowd(self):
        rows = [*spread(10), *((f"Z{i}", "02139", "", "") for i in range(8))]
        load = load_accounts(csv_of(rows), filename="a.csv")
        assert not [w for w in load.warnings if "share the coordinates" in w]
