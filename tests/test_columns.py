import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.core import schema
from terrmap.io.columns import (
    ACCOUNT_SYNONYMS,
    REP_SYNONYMS,
    STAGE_SYNONYMS,
    SYNONYMS,
    TERRITORY_SYNONYMS,
    guess_mapping,
    normalise_name,
    parse_flags,
    parse_numbers,
    parse_stages,
    parse_tiers,
    resolve_mapping,
)

SALESFORCE = [
    "Account ID",
    "Account Name",
    "Billing Street",
    "Billing City",
    "Billing State/Province",
    "Billing Zip/Postal Code",
    "Billing Latitude",
    "Billing Longitude",
    "Annual Revenue",
    "Account Owner",
    "Industry",
    "Type",
]

HUBSPOT = [
    "Record ID",
    "Company name",
    "Company Domain Name",
    "Postal Code",
    "City",
    "State/Region",
    "Company owner",
    "Annual Revenue",
    "Industry",
    "Lifecycle Stage",
    "Create Date",
]


class TestSynonymTables:
    def test_account_table_covers_the_schema(self):
        assert set(ACCOUNT_SYNONYMS) - {schema.ACCOUNT_ID} == set(schema.ACCOUNT_COLUMNS) - {
            "location_source"
        }

    def test_rep_table_covers_the_schema(self):
        assert set(REP_SYNONYMS) - {schema.REP_ID, "home_zip"} == set(schema.REP_COLUMNS)

    def test_territory_table_covers_the_schema(self):
        expected = set(schema.TERRITORY_COLUMNS) - {"geometry"} | {schema.TERRITORY_ID}
        assert set(TERRITORY_SYNONYMS) == expected

    @pytest.mark.parametrize("kind", ["accounts", "reps", "territories"])
    def test_each_canonical_name_recognises_itself(self, kind):
        table = SYNONYMS[kind]
        assert guess_mapping(list(table), kind) == {c: c for c in table}

    @pytest.mark.parametrize("kind", ["accounts", "reps", "territories"])
    def test_no_synonym_serves_two_columns(self, kind):
        seen = {}
        for canonical, synonyms in SYNONYMS[kind].items():
            for synonym in synonyms:
                key = normalise_name(synonym)
                assert seen.setdefault(key, canonical) == canonical, synonym

    def test_stage_synonyms_target_schema_stages(self):
        assert set(STAGE_SYNONYMS.values()) == set(schema.STAGES)

    def test_tables_are_read_only(self):
        with pytest.raises(TypeError):
            ACCOUNT_SYNONYMS["revenue"] = ("x",)  # type: ignore[index]


class TestNormaliseName:
    @pytest.mark.parametrize(
        "name", ["Billing Zip/Postal Code", "billing_zip_postal_code", "BillingZipPostalCode"]
    )
    def test_spelling_variants_agree(self, name):
        assert normalise_name(name) == "billingzippostalcode"


class TestGuessMapping:
    def test_salesforce(self):
        assert guess_mapping(SALESFORCE) == {
            "account_id": "Account ID",
            "name": "Account Name",
            "lat": "Billing Latitude",
            "lon": "Billing Longitude",
            "postal_code": "Billing Zip/Postal Code",
            "revenue": "Annual Revenue",
            "industry": "Industry",
            "owner": "Account Owner",
        }

    def test_salesforce_api_names(self):
        mapping = guess_mapping(["Id", "Name", "BillingLatitude", "BillingLongitude",
                                 "BillingPostalCode", "AnnualRevenue", "OwnerId"])  # fmt: skip
        assert mapping == {
            "account_id": "Id",
            "name": "Name",
            "lat": "BillingLatitude",
            "lon": "BillingLongitude",
            "postal_code": "BillingPostalCode",
            "revenue": "AnnualRevenue",
            "owner": "OwnerId",
        }

    def test_hubspot(self):
        assert guess_mapping(HUBSPOT) == {
            "account_id": "Record ID",
            "name": "Company name",
            "postal_code": "Postal Code",
            "revenue": "Annual Revenue",
            "industry": "Industry",
            "stage": "Lifecycle Stage",
            "owner": "Company owner",
        }

    def test_generic(self):
        columns = ["ID", "Name", "Y", "X", "ZIPCODE", "Sales", "Cost", "Rep", "Stage",
                   "Visits", "Tier", "Segment", "Products", "Last Year's Revenue", "New"]  # fmt: skip
        assert guess_mapping(columns) == {
            "account_id": "ID",
            "name": "Name",
            "lat": "Y",
            "lon": "X",
            "postal_code": "ZIPCODE",
            "revenue": "Sales",
            "cost_to_serve": "Cost",
            "segment": "Segment",
            "products": "Products",
            "stage": "Stage",
            "is_new": "New",
            "revenue_last_year": "Last Year's Revenue",
            "visits_per_year": "Visits",
            "tier": "Tier",
            "owner": "Rep",
        }

    @pytest.mark.parametrize("spelling", ["lat", "LAT", " Latitude ", "latitude_", "Lat."])
    def test_case_space_and_punctuation_insensitive(self, spelling):
        assert guess_mapping([spelling, "lng"])["lat"] == spelling

    def test_header_with_a_unit_suffix(self):
        assert guess_mapping(["Annual Revenue (USD)"]) == {"revenue": "Annual Revenue (USD)"}

    def test_better_synonym_wins_regardless_of_column_order(self):
        assert guess_mapping(["Shipping Latitude", "Billing Latitude"])["lat"] == (
            "Billing Latitude"
        )

    def test_a_source_column_is_used_once(self):
        mapping = guess_mapping(["Rep", "Rep ID"], "reps")
        assert mapping == {"rep_id": "Rep ID", "name": "Rep"}
        assert len(set(mapping.values())) == len(mapping)

    def test_unrecognised_columns_are_left_out(self):
        assert guess_mapping(["Type", "Billing City", "Website"]) == {}

    def test_reps(self):
        columns = ["Rep ID", "Full Name", "Home ZIP", "Quota", "Win Rate", "Experience (years)"]
        assert guess_mapping(columns, "reps") == {
            "rep_id": "Rep ID",
            "name": "Full Name",
            "home_zip": "Home ZIP",
            "experience_years": "Experience (years)",
            "opportunity_to_deal": "Win Rate",
            "quota": "Quota",
        }

    def test_territories(self):
        assert guess_mapping(["TERRITORY", "Owner", "Region", "Shape_Area"], "territories") == {
            "territory_id": "TERRITORY",
            "rep_id": "Owner",
            "region": "Region",
        }

    def test_unknown_kind(self):
        with pytest.raises(ValueError, match="unknown kind 'contacts'"):
            guess_mapping(["id"], "contacts")  # type: ignore[arg-type]

    def test_input_not_mutated(self):
        columns = list(SALESFORCE)
        guess_mapping(columns)
        assert columns == SALESFORCE


class TestResolveMapping:
    def test_no_mapping_is_the_guess(self):
        assert resolve_mapping(SALESFORCE) == guess_mapping(SALESFORCE)

    def test_override_moves_a_column(self):
        resolved = resolve_mapping(["id", "Sales", "ARR"], {"revenue": "ARR"})
        assert resolved == {"account_id": "id", "revenue": "ARR"}

    def test_claimed_source_column_leaves_its_guess(self):
        resolved = resolve_mapping(["id", "Sales", "Rep"], {"name": "Sales"})
        assert resolved == {"account_id": "id", "name": "Sales", "owner": "Rep"}

    def test_none_removes_a_guess(self):
        assert "revenue" not in resolve_mapping(["id", "Sales"], {"revenue": None})

    def test_unknown_canonical_name(self):
        with pytest.raises(ValueError, match="unknown accounts column 'revenu'"):
            resolve_mapping(["id"], {"revenu": "id"})

    def test_missing_source_column(self):
        with pytest.raises(ValueError, match="the file has no column 'Turnover'.*id, Sales"):
            resolve_mapping(["id", "Sales"], {"revenue": "Turnover"})

    def test_mapping_not_mutated(self):
        mapping = {"revenue": "ARR", "owner": None}
        resolve_mapping(["id", "ARR", "Rep"], mapping)
        assert mapping == {"revenue": "ARR", "owner": None}


class TestParseNumbers:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("65000", 65000.0),
            ("$65,000.00", 65000.0),
            ("65000 USD", 65000.0),
            ("USD 65,000", 65000.0),
            ("US$ 1,200", 1200.0),
            ("€1.200", 1200.0),  # money is not written with three decimals (issue 11)
            ("€1.200,5", 1200.5),
            ("£ 99.5", 99.5),
            ("(1,234.50)", -1234.5),
            ("($1,234.50)", -1234.5),
            ("-$5", -5.0),
            ("$-5", -5.0),
            ("5-", -5.0),
            ("1.2M", 1_200_000.0),
            ("65k", 65_000.0),
            ("2B", 2e9),
            ("1\u00a0234", 1234.0),
            ("  42.5 ", 42.5),
            ("1e3", 1000.0),
        ],
    )
    def test_readable(self, text, expected):
        numbers, invalid = parse_numbers(pd.Series([text]))
        assert numbers.iloc[0] == pytest.approx(expected)
        assert not invalid.iloc[0]

    @pytest.mark.parametrize("text", ["n/a", "abc", "12%", "nan", "inf", "1.2.3", "$", "N/A"])
    def test_unreadable(self, text):
        numbers, invalid = parse_numbers(pd.Series([text]))
        assert math.isnan(numbers.iloc[0])
        assert invalid.iloc[0]

    @pytest.mark.parametrize("blank", ["", "   ", None, np.nan])
    def test_blank_is_missing_not_invalid(self, blank):
        numbers, invalid = parse_numbers(pd.Series([blank, "1"], dtype=object))
        assert math.isnan(numbers.iloc[0])
        assert not invalid.iloc[0]

    def test_decimal_comma_column(self):
        numbers, invalid = parse_numbers(
            pd.Series(["1.234,50", "52,52", "3", "(1.000,5)"]), decimal_comma=True
        )
        assert numbers.tolist() == [1234.5, 52.52, 3.0, -1000.5]
        assert not invalid.any()

    def test_decimal_comma_file_column_decides(self):
        # Issue 11: the column, not each cell, decides; a semicolon file only
        # settles cells that could be either.
        numbers, invalid = parse_numbers(
            pd.Series(["52.52", "3", "1,234.50", "2.000", "-1.5"]), decimal_comma=True
        )
        assert numbers.tolist() == [52.52, 3.0, 1234.5, 2.0, -1.5]
        assert not invalid.any()
        numbers, _ = parse_numbers(pd.Series(["2.000", "1,234"]), decimal_comma=True)
        assert numbers.tolist() == [2000.0, 1.234]

    def test_one_two_three_is_not_123(self):
        numbers, invalid = parse_numbers(pd.Series(["1,2,3", "5"]))
        assert invalid.tolist() == [True, False]
        assert math.isnan(numbers.iloc[0])

    def test_percent(self):
        numbers, invalid = parse_numbers(pd.Series(["25%", "0.3", "12.5 %"]), percent=True)
        assert numbers.tolist() == pytest.approx([0.25, 0.3, 0.125])
        assert not invalid.any()

    def test_numeric_input(self):
        numbers, invalid = parse_numbers(pd.Series([1, 2, np.inf]))
        assert numbers.iloc[:2].tolist() == [1.0, 2.0]
        assert invalid.tolist() == [False, False, True]

    def test_keeps_index(self):
        numbers, invalid = parse_numbers(pd.Series(["1", "x"], index=[5, 9]))
        assert numbers.index.tolist() == invalid.index.tolist() == [5, 9]

    def test_input_not_mutated(self):
        raw = pd.Series(["$1,000", " (5) ", "n/a"])
        before = raw.copy()
        parse_numbers(raw, percent=True)
        pd.testing.assert_series_equal(raw, before)

    @given(st.decimals(min_value=-1e9, max_value=1e9, places=2), st.sampled_from(range(4)))
    def test_currency_formatting_round_trips(self, amount, style):
        value = float(amount)
        magnitude = f"{abs(value):,.2f}"
        text = [
            f"{'-' if value < 0 else ''}${magnitude}",
            f"({magnitude})" if value < 0 else magnitude,
            f"{value:.2f} USD",
            f"{value:,.2f}",
        ][style]
        numbers, invalid = parse_numbers(pd.Series([text]))
        assert not invalid.iloc[0]
        assert numbers.iloc[0] == pytest.approx(value, abs=1e-6)


class TestParseStages:
    @pytest.mark.parametrize(
        ("text", "stage"),
        [
            ("subscriber", "lead"),
            ("Lead", "lead"),
            ("marketingqualifiedlead", "lead"),
            ("Marketing Qualified Lead", "lead"),
            ("salesqualifiedlead", "lead"),
            ("opportunity", "opportunity"),
            ("Negotiation/Review", "opportunity"),
            ("customer", "customer"),
            ("Evangelist", "customer"),
            ("Closed Won", "customer"),
            ("Customer - Direct", "customer"),
            ("Prospect", "lead"),
        ],
    )
    def test_known(self, text, stage):
        stages, invalid = parse_stages(pd.Series([text]))
        assert stages.iloc[0] == stage
        assert not invalid.iloc[0]

    def test_unknown_and_blank(self):
        stages, invalid = parse_stages(pd.Series(["other", "Closed Lost", "", None]))
        assert stages.isna().all()
        assert invalid.tolist() == [True, True, False, False]


class TestParseTiers:
    def test_values(self):
        tiers, invalid = parse_tiers(pd.Series(["A", " b ", "Tier C", "1", "3", "Gold", "", None]))
        assert tiers.iloc[:5].tolist() == ["A", "B", "C", "A", "C"]
        assert tiers.iloc[5:].isna().all()
        assert invalid.tolist() == [False] * 5 + [True, False, False]

    def test_every_tier_has_visits(self):
        tiers, _ = parse_tiers(pd.Series(["A", "B", "C"]))
        assert set(tiers) == set(schema.TIER_VISITS)


class TestParseFlags:
    def test_values(self):
        flags, invalid = parse_flags(
            pd.Series(["Yes", "no", "TRUE", "false", "1", "0", "1.0", "x", "", None, "maybe"])
        )
        assert flags.tolist() == [True, False, True, False, True, False, True, True] + [False] * 3
        assert invalid.tolist() == [False] * 10 + [True]

    def test_booleans(self):
        flags, invalid = parse_flags(pd.Series([True, False]))
        assert flags.tolist() == [True, False]
        assert not invalid.any()
