"""Who decides (treasurers), what they decided (budgets, prices, free quota, overrides), and
admission: whether a member's request fits what is left of the month.

Treasurer-only events from anyone else are kept in the store but ignored here, each with
the reason, so `ledger verify` can show them. A later decision replaces an earlier one for
the same scope; "latest" is by event time, then id, so every terminal agrees.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from tpuctl.domain.accelerators import parse_accelerator_type
from tpuctl.domain.amounts import amount_problem
from tpuctl.domain.events import (
    BUDGET_SET, CONTROL_KINDS, FREE_QUOTA_SET, GRANT_ENDED, GRANT_SET, GROUP_INITIALIZED, KEY_ROTATED, MEMBER_ADDED,
    MEMBER_REMOVED, OBSERVATION_DISPUTED, OVERRIDE_GRANTED, PRICES_OVERRIDDEN, TREASURER_ADDED, Event, id_time,
)
from tpuctl.domain.grants import Grant, GrantBook, GrantFit
from tpuctl.domain.intervals import unique
from tpuctl.domain.metering import MONEY_QUANTUM, SECONDS_PER_HOUR, Amount, PriceKey, price_usage
from tpuctl.domain.prices import CURRENCIES, FREE_MODELS, GENERATIONS, FreeQuotaRule, PriceOverrides, Pricing, Rates
from tpuctl.domain.settlement import DEFAULT_RULE, SETTLEMENT_KINDS, Closing, Contribution, Treasury
from tpuctl.domain.times import parse_time
from tpuctl.domain.trust import Holds, Roster, Trust
from tpuctl.errors import BudgetRefused

UNITS = ("money", "chip_hours")
SCOPES = ("group", "member")
_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Budget:
    scope: str                  # "group" | "member"
    member: str | None          # None: the group, or (scope member) the default allowance
    month: str                  # "YYYY-MM" or "default"
    amount: Decimal
    unit: str                   # "money" | "chip_hours"
    set_by: str
    event_id: str


@dataclass(frozen=True)
class Ignored:
    """An event materialising skipped, and why (shown by `ledger verify`)."""

    event_id: str
    kind: str
    actor: str
    reason: str


@dataclass(frozen=True)
class OverrideGrant:
    member: str
    request_id: str
    reason: str
    granted_by: str
    time: datetime


@dataclass(frozen=True)
class GroupRules:
    currency: str | None = None
    treasurers: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()
    budgets: Mapping[tuple[str, str | None, str, str], Budget] = field(default_factory=dict)   # scope, member, month, unit
    price_overrides: PriceOverrides = PriceOverrides()
    grants: tuple[OverrideGrant, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    contributions: tuple[Contribution, ...] = ()            # the pot (domain/settlement.py)
    closings: Mapping[str, Closing] = field(default_factory=dict)
    settlement_rule: str = DEFAULT_RULE
    trust: Trust = Trust()
    trc_grants: tuple[Grant, ...] = ()                      # TPU Research Cloud grants (domain/grants.py)

    def is_treasurer(self, name: str) -> bool:
        return name in self.treasurers

    def key_of(self, name: str) -> str | None:
        """The member's current public key in the signed history (None: none given)."""
        standing = self.trust.roster.now(name)
        return standing.key if standing else None

    def budget_for(self, month: str, member: str | None = None, unit: str | None = None) -> Budget | None:
        """The group's budget (member None) or a member's in `unit` (None: money if there is
        one, else chip-hours): that month's, else the default; a member not named gets the
        default allowance."""
        if unit is None:
            return next(iter(self.budgets_for(month, member)), None)
        if member is None:
            keys = [("group", None, month, unit), ("group", None, "default", unit)]
        else:
            keys = [("member", member, month, unit), ("member", member, "default", unit),
                    ("member", None, month, unit), ("member", None, "default", unit)]
        return next((self.budgets[key] for key in keys if key in self.budgets), None)

    def budgets_for(self, month: str, member: str | None = None) -> list[Budget]:
        """Every budget that applies, one per unit (money first): a money and a chip-hour
        budget both hold."""
        return [b for unit in UNITS if (b := self.budget_for(month, member, unit)) is not None]


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what} '{value}' is not a number") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{what} '{value}' must be zero or more")
    problem = amount_problem(number)
    if problem:
        raise ValueError(f"{what} '{value}' {problem}")
    return number


def _budget(event: Event) -> Budget:
    p = event.payload
    if p["scope"] not in SCOPES:
        raise ValueError(f"scope '{p['scope']}' is not group or member")
    if p["scope"] == "group" and p["member"] is not None:
        raise ValueError("a group budget names no member")
    if p["unit"] not in UNITS:
        raise ValueError(f"unit '{p['unit']}' is not money or chip_hours")
    if p["month"] != "default" and not _MONTH_RE.match(str(p["month"])):
        raise ValueError(f"month '{p['month']}' is not YYYY-MM or default")
    return Budget(p["scope"], p["member"], p["month"], _decimal(p["amount"], "amount"), p["unit"],
                  event.actor, event.id)


def _rates(event: Event) -> tuple[tuple[str, str], Rates]:
    p = event.payload
    if p["generation"] not in GENERATIONS:
        raise ValueError(f"generation '{p['generation']}' is not one of {', '.join(GENERATIONS)}")
    rates = Rates(_decimal(p["on_demand"], "on_demand price"), _decimal(p["spot"], "spot price"))
    return (p["generation"], p["region"] or "*"), rates


def _free_rules(event: Event) -> tuple[FreeQuotaRule, ...]:
    rules = event.payload["rules"]
    if not isinstance(rules, list):
        raise ValueError("rules must be a list")
    parsed = []
    for rule in rules:
        unknown = sorted(set(rule) - {"zone", "type", "model"}) if isinstance(rule, dict) else ["?"]
        if unknown:
            raise ValueError(f"a free quota rule has '{unknown[0]}', not only zone, type and model")
        parsed.append(FreeQuotaRule(**{key: str(value) for key, value in rule.items()}))
        if parsed[-1].model not in FREE_MODELS:
            raise ValueError(f"model '{parsed[-1].model}' is not one of {', '.join(FREE_MODELS)}")
    return tuple(parsed)


_FIRST = datetime(1970, 1, 1, tzinfo=timezone.utc)     # a first key holds for all earlier events


_ROSTER_KINDS = frozenset({MEMBER_ADDED, TREASURER_ADDED, KEY_ROTATED, MEMBER_REMOVED})


class _Replay:
    """The control events' replay state; `apply` returns why an event is ignored, or None."""

    def __init__(self, genesis: Event | None = None, holds: Holds | None = None,
                 sealed: Mapping[str, str] | None = None) -> None:
        self.currency: str | None = None
        self.treasurers: set[str] = set()
        self.members: set[str] = set()
        self.budgets: dict = {}
        self.rates: dict = {}
        self.free: tuple[FreeQuotaRule, ...] = ()
        self.grants: list[OverrideGrant] = []
        self.treasury = Treasury()
        self.trc = GrantBook()
        self.roster = Roster()
        self.genesis = genesis
        self.trust = Trust(genesis.id if genesis else None, self.roster, dict(sealed or {}))
        self.holds = holds or (lambda event, key: False)

    def start(self, event: Event) -> str | None:
        p = event.payload
        if p["currency"] not in CURRENCIES or not p["treasurers"]:
            return "a group needs a known currency and at least one treasurer"
        keys = p.get("keys") or {}
        if self.genesis is not None and event.id == self.genesis.id and event.sig is not None:
            if event.group != event.id:
                return "the genesis names another group than itself"
            if keys.get(event.actor) is None or not self.holds(event, keys[event.actor]):
                return f"the genesis is not signed with the key it gives {event.actor}"
        self.currency = p["currency"]
        self.treasurers |= set(p["treasurers"])
        self.members |= self.treasurers
        for name in p["treasurers"]:
            self.roster.give(name, _FIRST, keys.get(name), treasurer=True)
        return None

    def _give_key(self, name: str, key: str | None, event: Event, treasurer: bool | None = None) -> None:
        first = self.roster.now(name) is None or self.roster.now(name).key is None
        since = _FIRST if first and key else id_time(event.id)
        self.roster.give(name, since, key if key else ..., treasurer=treasurer)

    def apply(self, event: Event) -> str | None:
        p = event.payload
        if event.kind == GROUP_INITIALIZED:
            if self.genesis is not None and event.id != self.genesis.id:
                if self.trust.is_sealed(event):
                    return None             # the seal's genesis restates the group this one started
                return "the group's genesis is ledger/genesis.json; a group.initialized anywhere else does not count"
            if self.currency is not None:
                return "the group was already initialised"
            return self.start(event)
        problem = self.trust.signature_problem(event, self.holds)
        if problem:
            return problem
        if event.kind == OBSERVATION_DISPUTED:       # any member's sync may withdraw what Cloud TPU did not list
            for event_id in p["events"]:
                self.trust.disputed.setdefault(event_id, (p["zone"], p["node"], p["reason"]))
            return None
        signed = self.trust.signed and event.sig is not None and not self.trust.is_sealed(event)
        if not (self.trust.is_treasurer(event.actor, id_time(event.id)) if signed else event.actor in self.treasurers):
            return f"{event.actor} is not a treasurer"
        if event.kind in (MEMBER_ADDED, TREASURER_ADDED):
            self.members.add(p["member"])
            if event.kind == TREASURER_ADDED:
                self.treasurers.add(p["member"])
            self._give_key(p["member"], p.get("key"), event, True if event.kind == TREASURER_ADDED else None)
        elif event.kind == KEY_ROTATED:
            if p["member"] not in self.members:
                return f"{p['member']} is not a member of the group"
            self.roster.give(p["member"], id_time(event.id), p["key"])
        elif event.kind == MEMBER_REMOVED:
            if p["member"] not in self.members:
                return f"{p['member']} is not a member of the group"
            if self.treasurers == {p["member"]}:
                return "the group's last treasurer cannot be removed"
            self.members.discard(p["member"])
            self.treasurers.discard(p["member"])
            self.roster.give(p["member"], id_time(event.id), None, treasurer=False)
        elif event.kind == BUDGET_SET:
            budget = _budget(event)
            self.budgets[(budget.scope, budget.member, budget.month, budget.unit)] = budget
        elif event.kind == PRICES_OVERRIDDEN and p["on_demand"] is None and p["spot"] is None:
            self.rates.pop((p["generation"], p["region"] or "*"), None)     # `prices unset`: the file's price again
        elif event.kind == PRICES_OVERRIDDEN:
            key, rates = _rates(event)
            self.rates[key] = rates
        elif event.kind == FREE_QUOTA_SET:
            self.free = _free_rules(event)
        elif event.kind == OVERRIDE_GRANTED:
            self.grants.append(OverrideGrant(p["member"], p["request_id"], p["reason"], event.actor, event.time))
        elif event.kind in SETTLEMENT_KINDS:
            return self.treasury.apply(event)
        elif event.kind == GRANT_SET:
            return self.trc.set(Grant(p["zone"], p["generation"], p["model"], int(p["chips"]),
                                      parse_time(p["start"]), parse_time(p["until"]), event.actor, event.id))
        elif event.kind == GRANT_ENDED:
            return self.trc.end((p["zone"], p["generation"], p["model"]), event.time)
        return None


def group_rules(events: Iterable[Event], genesis: Event | None = None, holds: Holds | None = None,
                sealed: Mapping[str, str] | None = None) -> GroupRules:
    """Replay the control events into the group's rules. With a `genesis` (the group's one
    create-only first event) only it starts the group and every decision must be signed by
    a treasurer (`holds` checks a signature); without one the first group.initialized wins
    and roles go by the `actor` field, as in groups made before signatures."""
    state, ignored = _Replay(genesis, holds, sealed), []
    if genesis is not None:
        reason = state.start(genesis)
        if reason:
            ignored.append(Ignored(genesis.id, genesis.kind, genesis.actor, reason))
    control = sorted((e for e in unique(events) if e.kind in CONTROL_KINDS and not (genesis and e.id == genesis.id)),
                     key=lambda e: e.order)
    if genesis is not None:       # who holds which key first, in recording order; then the decisions
        control = sorted((e for e in control if e.kind in _ROSTER_KINDS), key=lambda e: e.id) + \
                  [e for e in control if e.kind not in _ROSTER_KINDS]
    for event in control:
        try:
            reason = state.apply(event)
        except (ValueError, TypeError, AttributeError) as exc:
            reason = str(exc)
        if reason:
            ignored.append(Ignored(event.id, event.kind, event.actor, reason))
    return GroupRules(state.currency, frozenset(state.treasurers), frozenset(state.members), state.budgets,
                      PriceOverrides(state.rates, state.free), tuple(state.grants), tuple(ignored),
                      tuple(state.treasury.contributions), dict(state.treasury.closings), state.treasury.rule,
                      state.trust, tuple(state.trc.periods))


# --- admission ---------------------------------------------------------------------------

@dataclass(frozen=True)
class UsageRequest:
    """What a member asks to run: a node (or queued resource) for `hours` (its lease)."""

    member: str
    zone: str
    accelerator_type: str
    generation: str
    chips: int
    spot: bool
    hours: Decimal
    request_id: str | None = None

    @classmethod
    def for_type(cls, member: str, zone: str, accelerator_type: str, spot: bool, hours: Decimal | str | int,
                 chips: int | None = None, request_id: str | None = None) -> UsageRequest:
        """From what the user typed; `chips` from the API's accelerator_config wins."""
        accelerator = parse_accelerator_type(accelerator_type)
        return cls(member, zone, accelerator.name, accelerator.generation, chips or accelerator.chips, spot,
                   Decimal(str(hours)), request_id)

    @property
    def key(self) -> PriceKey:
        return PriceKey(self.zone, self.generation, self.accelerator_type, self.spot)

    @property
    def chip_seconds(self) -> int:
        return int((self.chips * self.hours * SECONDS_PER_HOUR).to_integral_value(ROUND_HALF_UP))


@dataclass(frozen=True)
class Standing:
    """One party's month in one budget's unit: what is spent, committed, asked for and left."""

    who: str                    # a member's name, or "group"
    budget: Budget | None
    spent: Amount
    committed: Amount
    requested: Amount

    @property
    def unit(self) -> str:
        return self.budget.unit if self.budget else "money"

    def read(self, amount: Amount) -> Decimal:
        return amount.chip_hours if self.unit == "chip_hours" else amount.money

    @property
    def left(self) -> Decimal | None:
        """Budget minus spent and committed (None: no budget, no limit)."""
        if self.budget is None:
            return None
        return self.budget.amount - self.read(self.spent) - self.read(self.committed)

    @property
    def over(self) -> bool:
        return self.left is not None and self.read(self.requested) > self.left

    def as_dict(self) -> dict[str, str | None]:
        """The numbers in the standing's unit, as decimal strings to the millionth."""
        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value.quantize(MONEY_QUANTUM))

        return {"who": self.who, "unit": self.unit, "budget": text(self.budget.amount if self.budget else None),
                "spent": text(self.read(self.spent)), "committed": text(self.read(self.committed)),
                "requested": text(self.read(self.requested)), "left": text(self.left)}

    def sentence(self, month: str, currency: str) -> str:
        """e.g. "alice's budget for 2026-05 is $100.00: spent $80.00, committed $15.00,
        requested $12.88, left $5.00"."""
        def show(value: Amount | Decimal) -> str:
            number = value if isinstance(value, Decimal) else self.read(value)
            return format_amount(number, self.unit, currency)
        owner = "the group's" if self.who == "group" else f"{self.who}'s"
        return (f"{owner} budget for {month} is {show(self.budget.amount)}: spent {show(self.spent)}, "
                f"committed {show(self.committed)}, requested {show(self.requested)}, left {show(self.left)}")


@dataclass(frozen=True)
class Admission:
    month: str
    currency: str
    member: Standing
    group: Standing
    overridden_by: str | None = None
    override_reason: str | None = None
    others: tuple[Standing, ...] = ()     # the member's and group's budgets in their other unit
    request_id: str | None = None     # as the admission log wrote it down: the node or queued request must carry it
    grant: GrantFit | None = None     # how much of it the group's TRC grant makes free

    @property
    def over(self) -> list[Standing]:
        return [standing for standing in (self.member, self.group, *self.others) if standing.over]


class RequestRefused(BudgetRefused):
    """A BudgetRefused that carries the numbers, for --json output."""

    def __init__(self, message: str, hint: str, admission: Admission):
        super().__init__(message, hint)
        self.admission = admission
        self.details = {"month": admission.month, "currency": admission.currency,
                        "refused_by": [standing.as_dict() for standing in admission.over]}


@dataclass(frozen=True)
class Override:
    actor: str
    reason: str


def format_amount(value: Decimal, unit: str, currency: str) -> str:
    rounded = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    if unit == "chip_hours":
        return f"{rounded} chip-hours"
    if currency != "USD":
        return f"{rounded} {currency}"
    return f"-${-rounded}" if rounded < 0 else f"${rounded}"


def admit_request(request: UsageRequest, *, month: str, spent: Mapping[str, Counter],
                  committed: Mapping[str, Counter], rules: GroupRules, pricing: Pricing,
                  override: Override | None = None, requested: Counter | None = None) -> Admission:
    """Admit the request or raise RequestRefused with the numbers. `spent` and `committed`
    are chip-seconds per member and pricing key for the whole group this month; `requested`
    the request's own (by default all at list price; a TRC grant makes part of it free)."""
    def amount(usage: Mapping[PriceKey, int]) -> Amount:
        return price_usage(usage, pricing)

    def total(per_member: Mapping[str, Counter]) -> Counter:
        return sum(per_member.values(), Counter())

    asked = amount(requested if requested is not None else Counter({request.key: request.chip_seconds}))
    mine = (amount(spent.get(request.member, Counter())), amount(committed.get(request.member, Counter())))
    ours = (amount(total(spent)), amount(total(committed)))
    members = [Standing(request.member, budget, *mine, asked)
               for budget in rules.budgets_for(month, request.member) or [None]]
    groups = [Standing("group", budget, *ours, asked) for budget in rules.budgets_for(month) or [None]]
    others = tuple(members[1:] + groups[1:])
    admission = Admission(month, pricing.currency, members[0], groups[0], others=others)
    if not admission.over:
        return admission
    numbers = " and ".join(s.sentence(month, pricing.currency) for s in admission.over)
    if override is None:
        raise RequestRefused(
            f"Refused: {numbers}.",
            "Ask a treasurer to raise the budget, or to let this request through with --override \"reason\".",
            admission)
    if not rules.is_treasurer(override.actor):
        raise RequestRefused(
            f"Refused: {override.actor} is not a treasurer, so the override does not apply; {numbers}.",
            "Only a treasurer can override a budget refusal.", admission)
    return Admission(month, pricing.currency, members[0], groups[0], override.actor, override.reason, others)
