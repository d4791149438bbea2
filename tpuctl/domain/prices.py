"""Per-chip-hour prices: the shipped, dated price table, the treasurer's overrides, free quota.

A price is never guessed: a generation with no price is a ConfigError, not zero. Free
quota (TPU Research Cloud) costs nothing but its chip-hours still count against
chip-hour budgets, so it is a pricing rule, not a missing price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Mapping

from tpuctl.domain.amounts import amount_problem
from tpuctl.domain.textfiles import load_toml
from tpuctl.errors import ConfigError

if TYPE_CHECKING:
    from tpuctl.domain.budgets import GroupRules

GENERATIONS = ("v2", "v3", "v4", "v5e", "v5p", "v6e")
MODELS = ("on_demand", "spot")
FREE_MODELS = ("any", "on_demand", "spot")
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "SGD", "KRW", "BRL")
PRICE_UNIT = "chip-hour"
_ZONE_RE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")


def region_of(zone: str) -> str:
    """us-central2-b -> us-central2 (a zone name that is not a zone stands for itself)."""
    match = _ZONE_RE.match(zone)
    return match.group(1) if match else zone


@dataclass(frozen=True)
class Rates:
    """On-demand and spot price per chip-hour."""

    on_demand: Decimal
    spot: Decimal

    def for_model(self, spot: bool) -> Decimal:
        return self.spot if spot else self.on_demand


@dataclass(frozen=True)
class FreeQuotaRule:
    """Usage matching zone, type (a generation like v4 or a type like v4-8) and model is free."""

    zone: str = "*"
    type: str = "*"
    model: str = "any"

    def matches(self, zone: str, generation: str, accelerator_type: str, spot: bool) -> bool:
        model = "spot" if spot else "on_demand"
        return (self.zone in ("*", zone) and self.type in ("*", generation, accelerator_type)
                and self.model in ("any", model))


@dataclass(frozen=True)
class PriceOverrides:
    """What the treasurer decided: rates by (generation, region or '*'), and free quota."""

    rates: Mapping[tuple[str, str], Rates] = field(default_factory=dict)
    free: tuple[FreeQuotaRule, ...] = ()


NO_OVERRIDES = PriceOverrides()


@dataclass(frozen=True)
class PriceTable:
    origin: str                     # the file it came from, for messages
    as_of: date
    source: str
    currency: str
    defaults: Mapping[str, Rates]
    regions: Mapping[tuple[str, str], Rates]
    types: Mapping[str, Rates]


NO_PRICE_HINT = "Add it to the price file, or ask a treasurer to record a price override."
NO_PRICE_HINT_FOR_TREASURERS = ("You are a treasurer: record the group's price with `tpuctl prices set GENERATION "
                                "--on-demand PRICE --spot PRICE`, or add it to the price file.")


def is_free(generation: str, zone: str, spot: bool, overrides: PriceOverrides,
            accelerator_type: str = "") -> bool:
    return any(rule.matches(zone, generation, accelerator_type, spot) for rule in overrides.free)


def price_for(generation: str, zone: str, spot: bool, overrides: PriceOverrides,
              table: PriceTable, accelerator_type: str = "") -> Decimal:
    """Price per chip-hour, most specific first: free quota, the treasurer's override for
    the region then for every region, the table's slice type, region, then default."""
    if is_free(generation, zone, spot, overrides, accelerator_type):
        return Decimal(0)
    region = region_of(zone)
    for rates in (overrides.rates.get((generation, region)), overrides.rates.get((generation, "*")),
                  table.types.get(accelerator_type), table.regions.get((generation, region)),
                  table.defaults.get(generation)):
        if rates is not None:
            return rates.for_model(spot)
    raise ConfigError(f"There is no price for TPU generation '{generation}' in {table.origin}.", hint=NO_PRICE_HINT)


@dataclass(frozen=True)
class Pricing:
    """The table and the group's overrides together: what every terminal prices with."""

    table: PriceTable
    overrides: PriceOverrides = NO_OVERRIDES

    @property
    def currency(self) -> str:
        return self.table.currency

    def price_for(self, generation: str, zone: str, spot: bool, accelerator_type: str = "") -> Decimal:
        return price_for(generation, zone, spot, self.overrides, self.table, accelerator_type)


def pricing_for(rules: GroupRules, table: PriceTable) -> Pricing:
    """The group's pricing: the price file under its overrides, refused in another currency."""
    if rules.currency and rules.currency != table.currency:
        raise ConfigError(f"The group keeps its books in {rules.currency} but price file {table.origin} is in "
                          f"{table.currency}.", hint="Use a price file in the group's currency.")
    return Pricing(table, rules.price_overrides)


def parse_price_table(text: str | bytes, origin: str) -> PriceTable:
    """Read a price file; any flaw is one ConfigError sentence naming file and field."""
    data = load_toml(text, f"Price file {origin}", parse_float=Decimal)
    fail = _failer(origin)
    for name in ("as_of", "source", "currency", "unit", "default"):
        if name not in data:
            fail(f"has no '{name}' field")
    as_of = data["as_of"]
    if isinstance(as_of, str):
        try:
            as_of = date.fromisoformat(as_of)
        except ValueError:
            fail(f"field 'as_of' is '{as_of}', not a date like 2026-11-01")
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
        fail("field 'as_of' is not a date like 2026-11-01")
    if data["currency"] not in CURRENCIES:
        fail(f"field 'currency' is '{data['currency']}', not one of {', '.join(CURRENCIES)}")
    if data["unit"] != PRICE_UNIT:
        fail(f"field 'unit' is '{data['unit']}', but prices must be per '{PRICE_UNIT}'")
    if not isinstance(data["source"], str) or not data["source"].strip():
        fail("field 'source' must say where the prices come from")
    defaults = {gen: parse_rates(rates, f"default.{gen}", fail)
                for gen, rates in _table(data, "default", fail).items() if _generation(gen, "default", fail)}
    regions = {(gen, region): parse_rates(rates, f"region.{region}.{gen}", fail)
               for region in _table(data, "region", fail)
               for gen, rates in _table(data["region"], region, fail, "region.").items()
               if _generation(gen, f"region.{region}", fail)}
    types = {name: parse_rates(rates, f"type.{name}", fail) for name, rates in _table(data, "type", fail).items()}
    return PriceTable(origin=origin, as_of=as_of, source=data["source"].strip(), currency=data["currency"],
                      defaults=defaults, regions=regions, types=types)


def parse_rates(raw: Any, where: str, fail) -> Rates:
    """An {on_demand, spot} table of non-negative decimal prices."""
    if not isinstance(raw, dict):
        fail(f"'{where}' must be a table with on_demand and spot")
    unknown = sorted(set(raw) - set(MODELS))
    if unknown:
        fail(f"'{where}.{unknown[0]}' is not a pricing model (on_demand, spot)")
    return Rates(**{model: parse_price(raw.get(model), f"{where}.{model}", fail) for model in MODELS})


def parse_price(value: Any, where: str, fail) -> Decimal:
    if value is None:
        fail(f"'{where}' is missing")
    try:
        price = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite():
        fail(f"'{where}' is '{value}', not a number")
    if price < 0:
        fail(f"'{where}' is {value}, but a price cannot be negative")
    problem = amount_problem(price)
    if problem:
        fail(f"'{where}' is {value}, which {problem}")
    return price


def _failer(origin: str):
    def fail(what: str):
        raise ConfigError(f"Price file {origin}: {what}.")
    return fail


def _table(data: Mapping[str, Any], name: str, fail, parent: str = "") -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        fail(f"'{parent}{name}' must be a table")
    return value


def _generation(name: str, where: str, fail) -> bool:
    if name not in GENERATIONS:
        fail(f"'{where}.{name}' is not a TPU generation ({', '.join(GENERATIONS)})")
    return True
