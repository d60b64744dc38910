import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrmap import demo
from terrmap.core.schema import (
    ACCOUNT_COLUMNS,
    ACCOUNT_ID,
    CRS,
    REP_COLUMNS,
    REP_ID,
    STAGES,
    TERRITORY_COLUMNS,
    TERRITORY_ID,
    TIER_VISITS,
)

SMALL = {"n_accounts": 300, "n_territories": 4, "seed": 11}


@pytest.fixture(scope="module")
def small():
    return demo.generate(**SMALL)


def _membership(data):
    """Boolean matrix territories x accounts: is the account inside the polygon?"""
    accounts = data.accounts
    return np.array(
        [
            shapely.contains_xy(polygon, accounts["lon"].to_numpy(), accounts["lat"].to_numpy())
            for polygon in data.territories.geometry
        ]
    )


def _territory_of(data):
    inside = _membership(data)
    assert (inside.sum(axis=0) == 1).all()
    return pd.Series(
        data.territories.index.to_numpy()[inside.argmax(axis=0)], index=data.accounts.index
    )


def _assert_same(left, right):
    pd.testing.assert_frame_equal(left.accounts, right.accounts)
    pd.testing.assert_frame_equal(left.reps, right.reps)
    pd.testing.assert_frame_equal(
        pd.DataFrame(left.territories.drop(columns="geometry")),
        pd.DataFrame(right.territories.drop(columns="geometry")),
    )
    assert left.territories.crs == right.territories.crs
    assert shapely.equals_exact(
        left.territories.geometry.to_numpy(), right.territories.geometry.to_numpy(), tolerance=0
    ).all()


class TestDeterminism:
    def test_same_seed_gives_equal_data(self, small):
        _assert_same(small, demo.generate(**SMALL))

    def test_other_seed_gives_other_accounts(self, small):
        other = demo.generate(**{**SMALL, "seed": 12})
        assert not small.accounts.equals(other.accounts)
        assert not np.allclose(small.accounts["revenue"], other.accounts["revenue"])


class TestSchema:
    def test_account_columns_and_index(self, small):
        assert list(small.accounts.columns) == list(ACCOUNT_COLUMNS)
        assert small.accounts.index.name == ACCOUNT_ID
        assert small.accounts.index.is_unique
        assert len(small.accounts) == SMALL["n_accounts"]
        assert small.accounts.index[0] == "ACC-000001"

    def test_rep_and_territory_columns(self, small):
        assert list(small.reps.columns) == list(REP_COLUMNS)
        assert small.reps.index.name == REP_ID
        assert list(small.reps.index) == ["R01", "R02", "R03", "R04"]
        assert list(small.territories.columns) == list(TERRITORY_COLUMNS)
        assert small.territories.index.name == TERRITORY_ID
        assert list(small.territories.index) == ["T01", "T02", "T03", "T04"]
        assert small.territories.crs == CRS

    def test_categorical_values_are_from_their_vocabularies(self, small):
        accounts = small.accounts
        assert set(accounts["stage"]) == set(STAGES)
        assert set(accounts["tier"]) <= set(TIER_VISITS)
        assert set(accounts["segment"]) == {"Enterprise", "Mid-Market", "SMB"}
        assert set(accounts["owner"]) <= set(small.reps.index)
        assert set(small.territories["rep_id"]) == set(small.reps.index)
        assert accounts["postal_code"].str.fullmatch(r"\d{5}").all()
        assert (accounts["location_source"] == "coordinates").all()

    def test_ids_widen_past_their_minimum_width(self):
        data = demo.generate(5, 120, seed=1, region="conus")
        assert data.territories.index[0] == "T001"
        assert data.reps.index[-1] == "R120"

    def test_no_accounts(self):
        data = demo.generate(0, 3)
        assert data.accounts.empty
        assert list(data.accounts.columns) == list(ACCOUNT_COLUMNS)
        assert (data.reps["accounts_held"] == 0).all()


class TestGeography:
    def test_every_account_in_study_area_and_exactly_one_territory(self, small):
        area = demo.study_area("northeast")
        lon, lat = small.accounts["lon"].to_numpy(), small.accounts["lat"].to_numpy()
        assert shapely.contains_xy(area, lon, lat).all()
        assert (_membership(small).sum(axis=0) == 1).all()

    def test_territories_do_not_overlap(self, small):
        geoms = small.territories.geometry.to_numpy()
        left, right = np.triu_indices(len(geoms), k=1)
        overlap = shapely.area(shapely.intersection(geoms[left], geoms[right]))
        assert overlap.max() < 1e-9 * shapely.area(geoms).sum()

    def test_territories_tile_the_study_area(self, small):
        union = shapely.union_all(small.territories.geometry.to_numpy())
        area = demo.study_area("northeast")
        assert shapely.area(shapely.symmetric_difference(union, area)) < 1e-6 * area.area

    def test_home_bases_lie_in_their_own_territory(self, small):
        reps = small.reps.loc[small.territories["rep_id"]]
        inside = shapely.contains_xy(
            small.territories.geometry.to_numpy(),
            reps["home_lon"].to_numpy(),
            reps["home_lat"].to_numpy(),
        )
        assert inside.all()

    def test_owner_is_the_territory_rep_but_for_a_little_crm_mess(self, small):
        territory_rep = _territory_of(small).map(small.territories["rep_id"])
        mismatch = (territory_rep != small.accounts["owner"]).mean()
        assert 0 < mismatch < 0.12

    def test_starting_plan_is_unbalanced(self):
        counts = demo.load_embedded().accounts["owner"].value_counts()
        assert counts.max() > 3 * counts.min()

    def test_home_towns_are_real_towns_of_the_region(self, small):
        assert small.reps["home_town"].str.fullmatch(r"[A-Za-z .'-]+, (CT|MA|ME|NH|NY|RI|VT)").all()
        names = small.territories["name"]
        assert names.str.endswith((" Metro", " Area")).all()
        towns = small.reps.loc[small.territories["rep_id"], "home_town"].str.split(",").str[0]
        assert all(n.startswith(t) for n, t in zip(names, towns, strict=True))

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        n_accounts=st.integers(1, 200),
        n_territories=st.integers(1, 15),
        seed=st.integers(0, 2**32 - 1),
        region=st.sampled_from(sorted(demo.regions())),
    )
    def test_any_plan_tiles_its_accounts(self, n_accounts, n_territories, seed, region):
        data = demo.generate(n_accounts, n_territories, seed=seed, region=region)
        assert len(data.territories) == n_territories
        assert data.territories.geometry.is_valid.all()
        assert (_membership(data).sum(axis=0) == 1).all()


class TestEconomics:
    def test_net_profit_ranks_differently_from_revenue(self, small):
        accounts = small.accounts
        net_profit = accounts["revenue"] - accounts["cost_to_serve"]
        spearman = accounts["revenue"].rank().corr(net_profit.rank())
        assert 0.5 < spearman < 0.98
        top_revenue = set(accounts["revenue"].nlargest(10).index)
        top_profit = set(net_profit.nlargest(10).index)
        assert top_revenue - top_profit

    def test_conversion_rates_differ_across_territories(self, small):
        territory = _territory_of(small)
        accounts = small.accounts
        leads = (accounts["stage"] == "lead").groupby(territory).sum()
        won = accounts["is_new"].groupby(territory).sum()
        rates = (won / leads)[leads > 0]
        assert len(rates) >= 2
        assert rates.max() > 1.5 * rates.min()

    def test_embedded_conversion_rates_spread_widely(self):
        data = demo.load_embedded()
        territory = _territory_of(data)
        leads = (data.accounts["stage"] == "lead").groupby(territory).sum()
        rates = data.accounts["is_new"].groupby(territory).sum() / leads
        assert rates.min() < 0.25 and rates.max() > 0.45

    def test_new_accounts_are_customers_without_last_year_revenue(self, small):
        accounts = small.accounts
        assert (accounts.loc[accounts["is_new"], "stage"] == "customer").all()
        existing = (accounts["stage"] == "customer") & ~accounts["is_new"]
        assert accounts.loc[existing, "revenue_last_year"].gt(0).all()
        assert accounts.loc[~existing, "revenue_last_year"].isna().all()

    def test_products_only_for_opportunities_and_customers(self, small):
        accounts = small.accounts
        leads = accounts["stage"] == "lead"
        assert (accounts.loc[leads, "products"] == "").all()
        bought = accounts.loc[~leads, "products"].str.split(";").explode()
        assert set(bought) <= {"Core", "Analytics", "Support", "Integrations", "Training"}
        assert bought.notna().all() and (bought != "").all()

    def test_visits_follow_the_tier(self, small):
        accounts = small.accounts
        base = accounts["tier"].map(TIER_VISITS).astype(float)
        assert (
            (accounts["visits_per_year"] == base) | (accounts["visits_per_year"] == 1.5 * base)
        ).all()
        assert (accounts["cost_to_serve"] > 0).all() and (accounts["revenue"] > 0).all()

    def test_rep_kpis_match_their_book(self, small):
        held = small.accounts["owner"].value_counts().reindex(small.reps.index, fill_value=0)
        assert (small.reps["accounts_held"] == held).all()
        for rate in ("lead_to_opportunity", "opportunity_to_deal"):
            assert small.reps[rate].between(0, 1).all()
        assert (small.reps["quota"] >= small.reps["annual_contract_value"]).all()


class TestNames:
    def test_tricky_names_are_present(self, small):
        names = set(small.accounts["name"])
        assert "<img src=x onerror=alert(1)> Widgets" in names
        assert "Müller GmbH" in names
        assert "O'Brien & Sons" in names

    def test_names_look_like_companies(self, small):
        names = small.accounts["name"]
        assert names.str.len().between(5, 60).all()
        assert names.nunique() > 0.8 * len(names)


class TestZipOnly:
    def test_share_of_accounts_lose_their_coordinates_only(self, small):
        data = demo.generate(**SMALL, zip_only_share=0.3)
        zip_only = data.accounts["location_source"] == "zip"
        assert 0.2 < zip_only.mean() < 0.4
        assert data.accounts.loc[zip_only, ["lat", "lon"]].isna().all().all()
        assert data.accounts.loc[~zip_only, ["lat", "lon"]].notna().all().all()
        same = [c for c in ACCOUNT_COLUMNS if c not in ("lat", "lon", "location_source")]
        pd.testing.assert_frame_equal(data.accounts[same], small.accounts[same])


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"region": "atlantis"}, "atlantis"),
            ({"n_accounts": -1}, "-1"),
            ({"n_accounts": 2.5}, "2.5"),
            ({"n_territories": 0}, "got 0"),
            ({"n_territories": 100_000}, "100000"),
            ({"zip_only_share": 1.5}, "1.5"),
        ],
    )
    def test_bad_arguments_raise(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            demo.generate(**kwargs)

    def test_unknown_region_for_study_area(self):
        with pytest.raises(ValueError, match="atlantis"):
            demo.study_area("atlantis")

    def test_regions_are_described(self):
        assert {"northeast", "midwest", "us_east", "conus"} <= set(demo.regions())


class TestFiles:
    def test_write_then_read_round_trips(self, small, tmp_path):
        data = demo.generate(**SMALL, zip_only_share=0.2)
        paths = demo.write_demo(data, tmp_path / "new")
        assert {p.name for p in paths.values()} == {
            "accounts.csv",
            "reps.csv",
            "territories.geojson",
        }
        _assert_same(data, demo.read_demo(tmp_path / "new"))

    def test_write_overwrites_and_leaves_data_untouched(self, small, tmp_path):
        demo.write_demo(demo.generate(20, 2), tmp_path)
        before = demo.DemoData(small.accounts.copy(), small.reps.copy(), small.territories.copy())
        demo.write_demo(small, tmp_path)
        _assert_same(small, before)
        _assert_same(small, demo.read_demo(tmp_path))

    def test_csv_header_is_canonical(self, tmp_path):
        paths = demo.write_demo(demo.generate(10, 2), tmp_path)
        header = paths["accounts"].read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == [ACCOUNT_ID, *ACCOUNT_COLUMNS]

    def test_missing_file_raises(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="accounts.csv"):
            demo.read_demo(tmp_path)

    def test_embedded_files_equal_the_generator(self):
        # Fails when the generator changed: rerun scripts/make_demo_data.py.
        _assert_same(demo.load_embedded(), demo.generate())

    def test_embedded_files_stay_small(self):
        size = sum(p.stat().st_size for p in demo.DATA_DIR.iterdir())
        assert size < 600_000


@pytest.fixture(scope="module")
def county_demo():
    return demo.demo_workspace()


class TestCountyDemo:
    """The embedded demo: county territories, named-account exceptions, two regions."""

    @pytest.fixture
    def workspace(self, county_demo):
        return county_demo

    def test_embedded_definition_equals_the_generator(self):
        # Fails when the generator or the rule changed: rerun scripts/make_demo_data.py.
        import json

        saved = json.loads((demo.DATA_DIR / demo.DEFINITION_FILE).read_text(encoding="utf-8"))
        assert saved == demo.demo_definition(demo.load_embedded()).to_dict()

    def test_territories_are_counties(self, workspace):
        plan = workspace.initial_plan
        assert workspace.units.kind == "county"
        units = plan.unit_assignment.dropna()
        assert set(units) == set(workspace.context.territory_ids)
        # 5-digit FIPS codes of the region's states (VT, ME, NY, MA, NH, CT, RI, NJ, PA)
        assert units.index.str.fullmatch(r"\d{5}").all()
        assert {"25025", "36061"} <= set(units.index)  # Suffolk MA (Boston), New York County

    def test_accounts_follow_their_county_but_for_the_exceptions(self, workspace):
        plan = workspace.initial_plan
        accounts = workspace.accounts
        exceptions = plan.exceptions
        assert len(exceptions) == demo.DEMO_EXCEPTIONS
        counties = workspace.units.unit_of(accounts)
        by_county = plan.unit_assignment.reindex(counties.fillna("").to_numpy()).to_numpy()
        expected = pd.Series(by_county, index=plan.context.account_ids, dtype="string")
        expected[exceptions.index] = exceptions
        pd.testing.assert_series_equal(plan.assignment, expected, check_names=False)
        # each excepted account is its home territory's biggest by revenue
        for account, holder in exceptions.items():
            assert plan.assignment[account] == holder
            home = plan.unit_assignment[counties[account]]
            held = accounts.loc[expected.eq(home).fillna(False).to_numpy(), "revenue"]
            held = pd.concat([held, accounts.loc[[account], "revenue"]])
            assert accounts.loc[account, "revenue"] == held.max()

    def test_two_regions_roll_up(self, workspace):
        from terrmap.core.definition import region_rollup

        plan = workspace.initial_plan
        regions = plan.definition().regions
        assert sorted(set(regions)) == ["North", "South"]
        rolled = region_rollup(plan.metrics(), regions, ["accounts", "revenue"])
        assert rolled["territories"].sum() == 10
        assert rolled["accounts"].sum() == len(workspace.accounts) - len(plan.unassigned)
        assert rolled["revenue"].sum() == pytest.approx(plan.metrics()["revenue"].sum())

    def test_accounts_in_water_are_listed_white_space(self, workspace):
        plan = workspace.initial_plan
        outside = workspace.units.locate(workspace.accounts["lon"], workspace.accounts["lat"]) < 0
        assert list(plan.unassigned) == list(workspace.accounts.index[outside])
        assert any("no unit" in note for note in workspace.notes)
