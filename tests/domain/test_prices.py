from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib import resources

import pytest

from tpuctl.domain.metering import hourly_price
from tpuctl.domain.prices import (
    NO_OVERRIDES, FreeQuotaRule, PriceOverrides, Pricing, Rates, parse_price_table, price_for, region_of,
)
from tpuctl.errors import ConfigError

SHIPPED = (resources.files("tpuctl") / "data" / "prices.toml").read_text()
TABLE = parse_price_table(SHIPPED, "prices.toml")

GOOD = """
as_of = "2026-11-01"
source = "test"
currency = "USD"
unit = "chip-hour"
[default.v4]
on_demand = 3.22
spot = 0.92
"""


def test_the_shipped_table_is_dated_cited_and_in_dollars():
    assert TABLE.as_of == date(2026, 11, 1)
    assert "SkyPilot catalog" in TABLE.source and "Cloud Billing SKU" in TABLE.source
    assert TABLE.currency == "USD"
    assert set(TABLE.defaults) == {"v2", "v3", "v4", "v5e", "v5p", "v6e"}


@pytest.mark.parametrize("generation, zone, spot, accelerator_type, price", [
    ("v4", "us-central2-b", False, "v4-8", "3.22"),          # FACTS.md us-central
    ("v4", "us-central2-b", True, "v4-8", "0.92"),
    ("v5e", "us-central1-a", False, "v5litepod-8", "1.20"),
    ("v6e", "europe-west4-a", False, "v6e-8", "2.97"),      # a region of its own
    ("v5p", "mars-north9-z", False, "v5p-8", "4.20"),       # unknown region: the generation's default
    ("v2", "us-central1-f", False, "v2-8", "1.125"),
    ("v2", "us-central1-a", False, "v2-32", "1.50"),        # pods are not linear
])
def test_prices_per_chip_hour(generation, zone, spot, accelerator_type, price):
    assert price_for(generation, zone, spot, NO_OVERRIDES, TABLE, accelerator_type) == Decimal(price)


def test_a_v4_8_costs_four_chips_an_hour():
    assert hourly_price(Pricing(TABLE), "us-central2-b", "v4-8", False) == Decimal("12.88")
    assert hourly_price(Pricing(TABLE), "us-central2-b", "v4-8", False, chips=8) == Decimal("25.76")


def test_overrides_and_free_quota_come_before_the_table():
    overrides = PriceOverrides(rates={("v4", "us-central2"): Rates(Decimal("3"), Decimal("1")),
                                      ("v5e", "*"): Rates(Decimal("1.1"), Decimal("0.3"))},
                               free=(FreeQuotaRule(zone="us-central2-b", type="v4", model="spot"),))
    assert price_for("v4", "us-central2-b", False, overrides, TABLE) == Decimal("3")
    assert price_for("v4", "us-central2-b", True, overrides, TABLE) == Decimal("0")      # free quota
    assert price_for("v4", "us-central2-a", True, overrides, TABLE) == Decimal("1")
    assert price_for("v5e", "europe-west4-a", False, overrides, TABLE) == Decimal("1.1")


def test_an_unknown_generation_is_never_priced_at_zero():
    with pytest.raises(ConfigError) as caught:
        price_for("v7", "us-central1-a", False, NO_OVERRIDES, TABLE)
    assert caught.value.message == "There is no price for TPU generation 'v7' in prices.toml."


def test_region_of_a_zone():
    assert region_of("us-central2-b") == "us-central2"
    assert region_of("europe-west4-a") == "europe-west4"
    assert region_of("somewhere") == "somewhere"


def _without(line: str) -> str:
    return GOOD.replace(line + "\n", "")


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('"chip-hour"', "chip-hour"),
     "Price file p.toml is not valid TOML (Invalid value (at line 5, column 8))."),
    (_without('as_of = "2026-11-01"'), "Price file p.toml: has no 'as_of' field."),
    (_without('source = "test"'), "Price file p.toml: has no 'source' field."),
    (GOOD.replace('"2026-11-01"', '"last week"'),
     "Price file p.toml: field 'as_of' is 'last week', not a date like 2026-11-01."),
    (GOOD.replace('"USD"', '"DOGE"'),
     "Price file p.toml: field 'currency' is 'DOGE', not one of "
     "USD, EUR, GBP, JPY, CHF, CAD, AUD, INR, SGD, KRW, BRL."),
    (GOOD.replace('"chip-hour"', '"chip-minute"'),
     "Price file p.toml: field 'unit' is 'chip-minute', but prices must be per 'chip-hour'."),
    (GOOD.replace("spot = 0.92", "spot = -0.92"),
     "Price file p.toml: 'default.v4.spot' is -0.92, but a price cannot be negative."),
    (GOOD.replace("spot = 0.92", 'spot = "cheap"'), "Price file p.toml: 'default.v4.spot' is 'cheap', not a number."),
    (GOOD.replace("spot = 0.92\n", ""), "Price file p.toml: 'default.v4.spot' is missing."),
    (GOOD.replace("[default.v4]", "[default.v9]"),
     "Price file p.toml: 'default.v9' is not a TPU generation (v2, v3, v4, v5e, v5p, v6e)."),
    (GOOD + "[region.us-east5.v5e]\non_demand = 1\nspot = 1\nreserved = 1\n",
     "Price file p.toml: 'region.us-east5.v5e.reserved' is not a pricing model (on_demand, spot)."),
    (GOOD + "[region]\nus-east5 = 3\n", "Price file p.toml: 'region.us-east5' must be a table."),
])
def test_a_malformed_price_file_is_one_clear_sentence(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_price_table(text, "p.toml")
    assert caught.value.message == message
