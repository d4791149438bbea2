"""What Cloud TPU offers: a zone's accelerator types, and what an hour of each costs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tpuctl.adapters.tpu import TpuApi
from tpuctl.domain.accelerators import AcceleratorType, parse_accelerator_type
from tpuctl.domain.metering import hourly_price
from tpuctl.errors import ConfigError, UsageError
from tpuctl.services.context import Context
from tpuctl.services.ledger import Books


@dataclass(frozen=True)
class TypePrice:
    """What an hour of a type costs in a zone; None, with the reason, where nothing prices it."""

    currency: str
    on_demand: Decimal | None
    spot: Decimal | None
    problem: str | None = None


def type_prices(books: Books, zone: str, types: list[AcceleratorType]) -> list[TypePrice]:
    pricing = books.pricing()
    found = []
    for accelerator in types:
        try:
            found.append(TypePrice(pricing.currency, hourly_price(pricing, zone, accelerator.name, False),
                                   hourly_price(pricing, zone, accelerator.name, True)))
        except ConfigError as exc:
            found.append(TypePrice(pricing.currency, None, None, exc.message))
    return found


@dataclass(frozen=True)
class TypeList:
    zone: str
    types: list[tuple[AcceleratorType, TypePrice]]


def types_in(ctx: Context, zone: str | None = None) -> TypeList:
    """`tpuctl types`: the zone's types, each with what an hour costs."""
    where = zone or ctx.profile.zone
    found = list_types(ctx.api, where)
    return TypeList(where, list(zip(found, type_prices(ctx.books, where, found))))


def list_types(api: TpuApi, zone: str) -> list[AcceleratorType]:
    """The zone's accelerator types with their chips, smallest first."""
    types = []
    for name in api.list_accelerator_types(zone):
        try:
            types.append(parse_accelerator_type(name))
        except UsageError:
            continue  # a type this tpuctl does not know yet; never guess its chips
    return sorted(types, key=lambda t: (t.generation, t.chips))
