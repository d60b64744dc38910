import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.core.balance import balance, composite_measure, gini


class TestBalance:
    def test_hand_computed(self):
        b = balance(pd.Series({"East": 80.0, "West": 100.0, "Central": 120.0}), tolerance_pct=15)
        assert b.mean == 100
        assert b.deviation_pct.to_dict() == {"East": -20.0, "West": 0.0, "Central": 20.0}
        assert b.max_over_mean == 1.2 and b.min_over_mean == 0.8 and b.max_over_min == 1.5
        assert b.cv == pytest.approx(np.std([80, 100, 120]) / 100)
        assert list(b.outside) == ["East", "Central"]

    def test_tolerance_edge_is_inside(self):
        b = balance(pd.Series({"A": 90.0, "B": 110.0}), tolerance_pct=10)
        assert len(b.outside) == 0

    def test_missing_values_are_refused(self):
        with pytest.raises(ValueError, match="B"):
            balance(pd.Series({"A": 1.0, "B": np.nan}))

    def test_zero_minimum(self):
        assert balance(pd.Series({"A": 0.0, "B": 2.0})).max_over_min == float("inf")


class TestGini:
    def test_known_values(self):
        assert gini([5, 5, 5]) == 0
        assert gini([0, 0, 0, 4]) == pytest.approx(0.75)
        assert gini([1, 2, 3, 4]) == pytest.approx(0.25)

    def test_negative_refused(self):
        with pytest.raises(ValueError, match="-1"):
            gini([-1, 2])

    @given(st.lists(st.floats(0, 1e9), min_size=1, max_size=30).filter(lambda v: sum(v) > 0))
    def test_bounded_and_scale_free(self, values):
        g = gini(values)
        assert -1e-9 <= g <= 1
        assert gini([v * 3 for v in values]) == pytest.approx(g, abs=1e-9)


class TestComposite:
    def test_weighted_mix(self):
        m = pd.DataFrame({"revenue": [1.0, 3.0], "workload_hours": [10.0, 10.0]}, index=["A", "B"])
        mix = composite_measure(m, {"revenue": 3, "workload_hours": 1})
        assert mix.tolist() == pytest.approx([(3 * 0.5 + 1) / 4, (3 * 1.5 + 1) / 4])

    def test_unknown_measure_named(self):
        with pytest.raises(ValueError, match="potato"):
            composite_measure(pd.DataFrame({"revenue": [1.0]}), {"potato": 1})
