"""The group's decisions: who is in it, its treasurers, budgets, prices and free quota.

Only treasurers decide. Each decision is one event in the ledger (so every member's terminal
applies the same rules), refused up front when the actor is not a treasurer or when the
replay would ignore it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Iterable, Mapping

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.config import MEMBER_RE
from tpuctl.domain.accelerators import AcceleratorType, parse_accelerator_type
from tpuctl.domain.amounts import check_amount
from tpuctl.domain.budgets import GroupRules, group_rules
from tpuctl.domain.clock import Clock
from tpuctl.domain.metering import check_month
from tpuctl.domain.events import (
    BUDGET_SET, CONTROL_KINDS, FREE_QUOTA_SET, GENESIS_KEY, GROUP_INITIALIZED, KEY_ROTATED, MEMBER_ADDED,
    MEMBER_REMOVED, OVERRIDE_GRANTED, PRICES_OVERRIDDEN, TREASURER_ADDED, Event, budget_payload, new_event,
)
from tpuctl.adapters import keys
from tpuctl.adapters.store import ObjectExists
from tpuctl.adapters.trust_db import sealed_ids
from tpuctl.domain.signing import is_public_key
from tpuctl.domain.trust import short_key
from tpuctl.services.genesis import check_own_key, sign_event, sync_genesis, write_statement
from tpuctl.domain.own_events import check_own_event
from tpuctl.domain.prices import CURRENCIES, FREE_MODELS, GENERATIONS, FreeQuotaRule, PriceTable, Rates, pricing_for, region_of
from tpuctl.errors import ConfigError, ConflictError, NotFoundError, PermissionDeniedError, UsageError
from tpuctl.services.ledger import Books
from tpuctl.services.sync import sync_from_store


def check_member_name(name: str, flag: str) -> str:
    """A member name as labels and the ledger take it, refused where it is typed."""
    if not MEMBER_RE.match(name):
        raise UsageError(f"{flag} '{name}' cannot be a member name.",
                         hint="Use lowercase letters, digits, '_' or '-', starting with a letter.")
    return name


def init_group(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, treasurers: Iterable[str],
               currency: str = "USD") -> Event:
    """`group init`: write the group's genesis (create-only, at a fixed name) with the first
    treasurers and the starting treasurer's key, signed by them."""
    treasurers = [check_member_name(name, "--treasurer") for name in treasurers]
    if currency not in CURRENCIES:
        raise UsageError(f"'{currency}' is not a currency tpuctl knows ({', '.join(CURRENCIES)}).",
                         hint="Pass --currency with one of those codes.")
    treasurers = sorted(set(treasurers))
    if actor not in treasurers:
        raise UsageError(f"{actor} starts the group, so must be one of its treasurers (--treasurer {actor}).",
                         hint="The genesis is signed by its first treasurer; other treasurers are added with their keys.")
    sync_from_store(store, db)
    rules = db.rules()
    if rules.currency is not None:
        raise ConflictError(f"The group is already initialised (treasurers: {', '.join(sorted(rules.treasurers))}).")
    stated = write_statement(store, db)      # what members recorded before the group started still counts
    genesis = write_genesis(store, db, clock, actor, {"treasurers": treasurers, "currency": currency,
                                                      **({"sealed": stated} if stated else {})})
    if stated:
        sync_from_store(store, db)           # the view, read again by the genesis
    return genesis


def write_genesis(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, payload: Mapping[str, Any]) -> Event:
    """Create ledger/genesis.json; whoever wrote it first started the group."""
    payload = {**payload, "keys": {actor: keys.signing_key(actor).public}}
    unsigned = new_event(GROUP_INITIALIZED, actor, payload, clock.now())
    genesis = unsigned.signed(keys.signing_key(actor), group=unsigned.id)
    check_own_event(genesis)
    try:
        store.create(GENESIS_KEY, genesis.to_json())
    except ObjectExists:
        sync_genesis(store, db)
        first = db.genesis()
        who = f" by {first.actor} on {first.time:%Y-%m-%d}" if first else ""
        raise ConflictError(f"The group was already started{who}; its genesis cannot be replaced.") from None
    sync_genesis(store, db)
    return genesis


def record_decision(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, kind: str,
                    payload: Mapping[str, Any]) -> Event:
    """Record a treasurer-only event (budget, prices, free quota, members, treasurers),
    refusing up front when the actor is not a treasurer or the event would be ignored."""
    if kind not in CONTROL_KINDS - {GROUP_INITIALIZED}:
        raise ValueError(f"{kind} is not a treasurer decision")
    _decider_rules(store, db, actor, kind)
    event = sign_event(new_event(kind, actor, payload, clock.now()), db)
    preview = group_rules([*db.group_level_events(), event], db.genesis(), db.signatures.holds,
                          sealed_ids(db.conn))       # would every terminal accept it?
    ignored = [i.reason for i in preview.ignored if i.event_id == event.id]
    if ignored:
        raise ConfigError(f"Not recorded: {ignored[0]}.")
    return Books(store, db, clock, None, actor).record_event(event)


def set_budget(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, amount: Decimal | str, *,
               member: str | None = None, group: bool = False, month: str = "default",
               unit: str = "money") -> Event:
    """`budget set --group AMOUNT` or `--member M AMOUNT` (member None, group False: the
    default allowance of members not named)."""
    check_amount(amount, "The chip-hour budget" if unit == "chip_hours" else "The budget", "a budget")
    if member is not None:
        check_member_name(member, "--member")
    if month != "default":
        check_month(month)
    payload = budget_payload(scope="group" if group else "member", member=None if group else member,
                             amount=amount, unit=unit, month=month)
    return record_decision(store, db, clock, actor, BUDGET_SET, payload)


@dataclass(frozen=True)
class BudgetSet:
    """A budget just set: whose (the group's, one member's, or neither: the default allowance),
    for which month, and how much of what."""

    group: bool
    member: str | None
    month: str
    amount: str
    unit: str


def budget_set(ctx: Any, amount: str, *, group: bool = False, member: str | None = None, month: str = "default",
               chip_hours: bool = False) -> BudgetSet:
    """`tpuctl budget set` (treasurers only)."""
    if group and member:
        raise UsageError("Use --group or --member, not both.")
    unit = "chip_hours" if chip_hours else "money"
    set_budget(ctx.store, ctx.ledger, ctx.clock, ctx.profile.member, amount, member=member, group=group,
               month=month, unit=unit)
    return BudgetSet(group, member, month, amount, unit)


@dataclass(frozen=True)
class MemberAdded:
    member: str
    treasurer: bool
    key: str | None
    keyless: bool             # nothing they sign counts until a treasurer gives their key


def add(ctx: Any, member: str, *, key: str | None = None, treasurer: bool = False) -> MemberAdded:
    """`tpuctl group add` (treasurers only)."""
    add_member(ctx.store, ctx.ledger, ctx.clock, ctx.profile.member, member, treasurer=treasurer, key=key)
    return MemberAdded(member, treasurer, key, key is None and ctx.ledger.rules().key_of(member) is None)


def show(ctx: Any) -> GroupRules:
    """`tpuctl group show`: the group's rules as the store has them now."""
    sync_from_store(ctx.store, ctx.ledger)
    rules = ctx.ledger.rules()
    if rules.currency is None:
        raise NotFoundError("The group has not been started yet.",
                            hint="A treasurer starts it with `tpuctl group init --treasurer NAME`.")
    return rules


@dataclass(frozen=True)
class PricesSet:
    generation: str
    region: str | None
    on_demand: str
    spot: str
    currency: str | None


def prices_set(ctx: Any, generation: str, on_demand: str | None, spot: str | None,
               region: str | None = None) -> PricesSet:
    """`tpuctl prices set` (treasurers only)."""
    payload = override_prices(ctx.store, ctx.ledger, ctx.clock, ctx.profile.member, generation, on_demand, spot,
                              region, table=ctx.prices).payload
    return PricesSet(generation, region, payload["on_demand"], payload["spot"], ctx.ledger.rules().currency)


DECISIONS = {BUDGET_SET: "set budgets", PRICES_OVERRIDDEN: "set prices", FREE_QUOTA_SET: "change the free quota",
             MEMBER_ADDED: "add members", TREASURER_ADDED: "add treasurers", OVERRIDE_GRANTED: "override budgets",
             "grant.set": "record the TRC grant", "grant.ended": "end the TRC grant"}


def _decider_rules(store: GroupStore, db: LedgerDB, actor: str, kind: str) -> GroupRules:
    """The group's rules, synced; a non-treasurer is refused before anything else about the
    decision is checked, as record_decision would refuse them."""
    sync_from_store(store, db)
    rules = db.rules()
    if not rules.is_treasurer(actor):
        raise PermissionDeniedError(f"{actor} is not a treasurer of this group, so cannot "
                                    f"{DECISIONS.get(kind, 'decide that')}.",
                                    hint="Ask a treasurer; `tpuctl group show` lists them.")
    check_own_key(rules, actor)
    return rules


def add_member(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, member: str,
               treasurer: bool = False, key: str | None = None) -> Event:
    """`group add`: a member is listed in every report and, with their public key, what they
    sign counts; a treasurer can also decide budgets, prices, free quota and who is in the group.
    A member already listed without a key (or a treasurer's first key) can be given one."""
    _check_name(member)
    if key is not None and not is_public_key(key):
        raise UsageError(f"'{key}' is not a public key like ed25519:<base64>.",
                         hint=f"{member} prints theirs with `tpuctl whoami`.")
    kind = TREASURER_ADDED if treasurer else MEMBER_ADDED
    rules = _decider_rules(store, db, actor, kind)
    role = "treasurer" if treasurer else "member"
    known = rules.key_of(member)
    if known is not None and key is not None and key != known:
        raise ConflictError(f"{member} already has another key ({short_key(known)}).",
                            hint=f"Replace it with `tpuctl group rekey {member} --key {key}`.")
    if member in (rules.treasurers if treasurer else rules.members) and (key is None or known == key):
        raise ConflictError(f"{member} is already a {role} of this group.")
    return record_decision(store, db, clock, actor, kind, {"member": member, **({"key": key} if key else {})})


def rekey_member(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, member: str, key: str) -> Event:
    """`group rekey`: from now on only `key` signs for `member` (a lost or leaked key)."""
    if not is_public_key(key):
        raise UsageError(f"'{key}' is not a public key like ed25519:<base64>.")
    rules = _decider_rules(store, db, actor, KEY_ROTATED)
    if member not in rules.members:
        raise NotFoundError(f"{member} is not a member of this group.")
    return record_decision(store, db, clock, actor, KEY_ROTATED, {"member": member, "key": key})


def remove_member(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, member: str) -> Event:
    """`group remove`: nothing `member` signs from now on counts; their history stays."""
    rules = _decider_rules(store, db, actor, MEMBER_REMOVED)
    if member not in rules.members:
        raise NotFoundError(f"{member} is not a member of this group.")
    return record_decision(store, db, clock, actor, MEMBER_REMOVED, {"member": member})


def _check_name(member: str) -> None:
    if not MEMBER_RE.match(member):
        raise UsageError(f"'{member}' cannot be a member name.",
                         hint="Use lowercase letters, digits, '_' or '-', starting with a letter.")


_REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")


def _price_arg(value: Decimal | str, model: str) -> Decimal:
    return check_amount(value, f"The {model} price", "a price")


def _check_place(generation: str, region: str | None) -> None:
    if generation not in GENERATIONS:
        raise UsageError(f"'{generation}' is not a TPU generation ({', '.join(GENERATIONS)}).")
    if region is not None and not _REGION_RE.match(region):
        hint = (f"{region} is a zone; its region is {region_of(region)}." if region_of(region) != region
                else "Leave out --region to set the price in every region.")
        raise UsageError(f"'{region}' is not a region like us-central2.", hint=hint)


def current_rates(db: LedgerDB, table: PriceTable, generation: str, region: str | None) -> Rates | None:
    """The price a generation has now in `region` (None: every region), most specific first."""
    overrides = pricing_for(db.rules(), table).overrides.rates
    found = [overrides.get((generation, region or "*")), overrides.get((generation, "*")) if region else None,
             table.regions.get((generation, region)) if region else None, table.defaults.get(generation)]
    return next((rates for rates in found if rates is not None), None)


def override_prices(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, generation: str,
                    on_demand: Decimal | str | None, spot: Decimal | str | None, region: str | None = None,
                    table: PriceTable | None = None) -> Event:
    """`prices set`: the group's price per chip-hour for a generation in one region (None:
    every region). It is an event, so every member prices with it, ahead of the price file.
    A price left out keeps the one in force now (from `table` and the overrides)."""
    _check_place(generation, region)
    if on_demand is None and spot is None:
        raise UsageError("Give the new price: --on-demand, --spot or both.")
    on_demand = None if on_demand is None else _price_arg(on_demand, "on-demand")
    spot = None if spot is None else _price_arg(spot, "spot")
    if on_demand is None or spot is None:
        _decider_rules(store, db, actor, PRICES_OVERRIDDEN)
        now = current_rates(db, table, generation, region) if table is not None else None
        if now is None:
            missing = "--on-demand" if on_demand is None else "--spot"
            raise UsageError(f"{generation} has no price yet in {region or 'every region'}, so {missing} is needed too.")
        on_demand, spot = (now.on_demand if on_demand is None else on_demand), (now.spot if spot is None else spot)
    payload = {"generation": generation, "region": region, "on_demand": f"{on_demand:f}", "spot": f"{spot:f}"}
    return record_decision(store, db, clock, actor, PRICES_OVERRIDDEN, payload)


def unset_prices(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, generation: str,
                 region: str | None = None) -> Event:
    """`prices unset`: remove the group's override, so the price file's price is used again."""
    _check_place(generation, region)
    rules = _decider_rules(store, db, actor, PRICES_OVERRIDDEN)
    if (generation, region or "*") not in rules.price_overrides.rates:
        raise NotFoundError(f"No price override for {generation} in {region or 'every region'} to remove.",
                            hint="`tpuctl prices show` lists the overrides (SET BY treasurer).")
    payload = {"generation": generation, "region": region, "on_demand": None, "spot": None}
    return record_decision(store, db, clock, actor, PRICES_OVERRIDDEN, payload)


def free_quota_rule(zone: str = "*", tpu_type: str = "*", model: str = "any") -> FreeQuotaRule:
    """A free-quota rule from what a treasurer typed ('*' matches every zone or type), so a
    typo is refused rather than recorded as a rule that never matches."""
    if zone != "*" and region_of(zone) == zone:
        raise UsageError(f"'{zone}' is not a zone like us-central2-b.", hint="Leave out --zone to match every zone.")
    if tpu_type not in ("*", *GENERATIONS):
        try:
            tpu_type = parse_accelerator_type(tpu_type).name
        except UsageError:
            raise UsageError(f"'{tpu_type}' is not a TPU generation ({', '.join(GENERATIONS)}) "
                             "or an accelerator type like v4-8.") from None
    if model not in FREE_MODELS:
        raise UsageError(f"'{model}' is not a pricing model ({', '.join(FREE_MODELS)}).")
    return FreeQuotaRule(zone, tpu_type, model)


def describe_rule(rule: FreeQuotaRule) -> str:
    """e.g. "zone us-central2-b, type v4, on-demand and spot"."""
    models = {"any": "on-demand and spot", "on_demand": "on-demand only", "spot": "spot only"}
    return ", ".join((f"zone {rule.zone}" if rule.zone != "*" else "every zone",
                      f"type {rule.type}" if rule.type != "*" else "every type", models[rule.model]))


def set_free_quota(store: GroupStore, db: LedgerDB, clock: Clock, actor: str,
                   rules: Iterable[FreeQuotaRule]) -> Event:
    """Record the whole list of free-quota rules; it replaces the group's previous list."""
    payload = {"rules": [{"zone": r.zone, "type": r.type, "model": r.model} for r in rules]}
    return record_decision(store, db, clock, actor, FREE_QUOTA_SET, payload)


def add_free_quota(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, rule: FreeQuotaRule) -> Event:
    """`prices free add`: the group's rules plus this one."""
    rules = list(_decider_rules(store, db, actor, FREE_QUOTA_SET).price_overrides.free)
    if rule in rules:
        raise ConflictError(f"Free quota already covers {describe_rule(rule)}.")
    return set_free_quota(store, db, clock, actor, [*rules, rule])


def remove_free_quota(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, rule: FreeQuotaRule) -> Event:
    """`prices free remove`: the group's rules without this one, which must be there as added."""
    rules = list(_decider_rules(store, db, actor, FREE_QUOTA_SET).price_overrides.free)
    if rule not in rules:
        listed = "; ".join(f"({describe_rule(r)})" for r in rules) or "none"
        raise NotFoundError(f"There is no free-quota rule for {describe_rule(rule)}; the rules are: {listed}.",
                         hint="Pass the --zone, --type and --model the rule was added with.")
    return set_free_quota(store, db, clock, actor, [r for r in rules if r != rule])


@dataclass(frozen=True)
class PriceRow:
    """One price of `prices show`: a generation's everywhere (region and type None), in one
    region, or for one slice type; `override` marks a treasurer's price."""

    generation: str
    region: str | None
    type: str | None
    rates: Rates
    override: bool


@dataclass(frozen=True)
class PriceSheet:
    origin: str
    as_of: date
    source: str
    currency: str
    rows: tuple[PriceRow, ...]
    free: tuple[FreeQuotaRule, ...]


def _slice_types(table: PriceTable) -> list[tuple[AcceleratorType, Rates]]:
    """The price file's slice types by size (a name that is no type never matches, so is left out)."""
    found = []
    for name, rates in table.types.items():
        try:
            found.append((parse_accelerator_type(name), rates))
        except UsageError:
            continue
    return sorted(found, key=lambda item: item[0].chips)


def price_sheet(db: LedgerDB, table: PriceTable) -> PriceSheet:
    """The prices every member uses: the treasurers' overrides and the price file's rows they
    leave in force (an every-region override wins over all of the file's rows for its
    generation, so those are not listed), and the free-quota rules."""
    overrides = pricing_for(db.rules(), table).overrides
    rows = []
    for generation in GENERATIONS:
        everywhere = overrides.rates.get((generation, "*"))
        default = everywhere or table.defaults.get(generation)
        if default is not None:
            rows.append(PriceRow(generation, None, None, default, everywhere is not None))
        set_here = {r: rates for (g, r), rates in overrides.rates.items() if g == generation and r != "*"}
        listed = {r: rates for (g, r), rates in table.regions.items() if g == generation and everywhere is None}
        rows += [PriceRow(generation, region, None, set_here.get(region) or listed[region], region in set_here)
                 for region in sorted({*set_here, *listed})]
        if everywhere is None:
            rows += [PriceRow(generation, None, acc.name, rates, False) for acc, rates in _slice_types(table)
                     if acc.generation == generation]
    return PriceSheet(table.origin, table.as_of, table.source, table.currency, tuple(rows), overrides.free)
