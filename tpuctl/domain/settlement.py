"""The group's pot: what members paid in, which months are closed on the real bill, and how
each month is settled through the pot.

Nobody owes a stranger: every member pays the pot or is paid by it. A member's month is
their own spend (the estimate, or their share of the real bill once the month is closed)
plus their part of the shared costs (unattributed spend), split by the treasurer's rule:
in proportion to chip-hours, evenly, or charged to the pot. Every split rounds to the cent
by the largest remainder, so the parts always add up to the whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Iterable, Mapping

from tpuctl.domain.events import MONTH_CLOSED, MONTH_REOPENED, POT_CONTRIBUTED, SETTLEMENT_RULE_SET, UNATTRIBUTED, Event

CENT = Decimal("0.01")
RULES = ("chip_hours", "even", "pot")
DEFAULT_RULE = "chip_hours"
RULE_WORDS = {"chip_hours": "in proportion to chip-hours", "even": "evenly", "pot": "charged to the pot"}
SETTLEMENT_KINDS = frozenset({POT_CONTRIBUTED, MONTH_CLOSED, MONTH_REOPENED, SETTLEMENT_RULE_SET})


@dataclass(frozen=True)
class Contribution:
    """Money a member put into the pot, as the treasurer recorded it."""

    member: str
    amount: Decimal
    note: str
    time: datetime
    by: str
    event_id: str

    @property
    def month(self) -> str:
        return f"{self.time:%Y-%m}"


@dataclass(frozen=True)
class Closing:
    """A month's settled figures: the real bill (net of credits) spread over its members."""

    month: str
    currency: str
    actual: Decimal
    estimate: Decimal
    members: Mapping[str, Decimal]      # member (or unattributed) -> their part of `actual`, to the cent
    invoice_month: str | None
    source: str | None
    credits: Decimal
    by: str
    time: datetime
    event_id: str


@dataclass
class Treasury:
    """The settlement events' replay state (kept by budgets.group_rules with the other decisions)."""

    contributions: list[Contribution] = field(default_factory=list)
    closings: dict[str, Closing] = field(default_factory=dict)
    reopened: dict[str, str] = field(default_factory=dict)     # month -> last reason
    rule: str = DEFAULT_RULE

    def apply(self, event: Event) -> str | None:
        """Take one treasurer's settlement event; return why it is ignored, or None."""
        p = event.payload
        if event.kind == POT_CONTRIBUTED:
            amount = Decimal(str(p["amount"]))
            if not amount.is_finite() or amount <= 0:
                return "a contribution must be more than zero"
            self.contributions.append(Contribution(p["member"], amount, p.get("note") or "", event.time,
                                                   event.actor, event.id))
        elif event.kind == MONTH_CLOSED:
            if p["month"] in self.closings:
                return f"{p['month']} is already closed"
            members = {name: Decimal(str(v)) for name, v in p["members"].items()}
            if sum(members.values(), Decimal(0)) != Decimal(str(p["actual"])):
                return "its members' parts do not add up to the bill"
            self.closings[p["month"]] = Closing(
                p["month"], p["currency"], Decimal(str(p["actual"])), Decimal(str(p["estimate"])), members,
                p.get("invoice_month"), p.get("source"), Decimal(str(p.get("credits") or 0)), event.actor,
                event.time, event.id)
        elif event.kind == MONTH_REOPENED:
            if self.closings.pop(p["month"], None) is None:
                return f"{p['month']} is not closed"
            self.reopened[p["month"]] = p["reason"]
        elif event.kind == SETTLEMENT_RULE_SET:
            if p["rule"] not in RULES:
                return f"rule '{p['rule']}' is not one of {', '.join(RULES)}"
            self.rule = p["rule"]
        return None


# --- splitting money to the cent -------------------------------------------------------------

def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_EVEN)


def largest_remainder(total: Decimal, weights: Mapping[str, Decimal | int]) -> dict[str, Decimal]:
    """Split `total` (a whole number of cents) over `weights` so that the parts, each a whole
    number of cents, add up to exactly `total`: floor every exact share, then give the cents
    left over to the largest remainders (ties: by name). No weight at all: nobody gets any."""
    total = to_cents(total)
    positive = {name: Decimal(w) for name, w in weights.items() if w > 0}
    whole = sum(positive.values(), Decimal(0))
    if not positive:
        return {}
    exact = {name: total * w / whole for name, w in positive.items()}
    return spread_exact(exact, total)


def spread_exact(exact: Mapping[str, Decimal], total: Decimal | None = None) -> dict[str, Decimal]:
    """Round exact shares to cents by the largest remainder so they add up to `total`
    (default: their own sum, rounded to the cent)."""
    total = to_cents(sum(exact.values(), Decimal(0)) if total is None else total)
    parts = {name: value.quantize(CENT, ROUND_FLOOR) for name, value in exact.items()}
    left = int((total - sum(parts.values(), Decimal(0))) / CENT)
    order = sorted(exact, key=lambda name: (-(exact[name] - parts[name]), name))
    for index in range(abs(left)):
        name = order[index % len(order)] if left > 0 else order[::-1][index % len(order)]
        parts[name] += CENT if left > 0 else -CENT
    return parts


# --- a month through the pot --------------------------------------------------------------

@dataclass(frozen=True)
class MemberMonth:
    member: str
    own: Decimal          # their own spend (estimate, or their part of the bill once closed), to the cent
    shared: Decimal       # their part of the shared costs, to the cent
    chip_hours: Decimal

    @property
    def charge(self) -> Decimal:
        return self.own + self.shared


@dataclass(frozen=True)
class MonthSettlement:
    month: str
    closed: bool
    rule: str
    shared: Decimal               # unattributed spend (and bill charges nobody metered)
    to_pot: Decimal               # the part of `shared` the pot bears itself
    members: tuple[MemberMonth, ...]

    @property
    def total(self) -> Decimal:
        return sum((m.charge for m in self.members), Decimal(0)) + self.to_pot


def settle_month(month: str, spend: Mapping[str, Decimal], chip_hours: Mapping[str, Decimal], members: Iterable[str],
                 rule: str, closed: bool = False) -> MonthSettlement:
    """Who pays what for one month. `spend`: each member's (and unattributed's) money;
    `chip_hours`: each member's; `members`: who shares an even split. The total of the
    charges plus what the pot bears is always the month's total, whatever the rule."""
    own = spread_exact({name: value for name, value in spend.items() if name != UNATTRIBUTED})
    shared_exact = spend.get(UNATTRIBUTED, Decimal(0))
    total = to_cents(sum(spend.values(), Decimal(0)))
    shared = total - sum(own.values(), Decimal(0))        # the unattributed part, so the cents add up
    names = sorted(set(own) | {m for m in members if m != UNATTRIBUTED})
    if rule == "pot" or not shared_exact:
        parts = {}
    elif rule == "even":
        parts = largest_remainder(shared, {name: 1 for name in names})
    else:
        parts = largest_remainder(shared, {name: chip_hours.get(name, Decimal(0)) for name in names})
    to_pot = shared - sum(parts.values(), Decimal(0))
    rows = tuple(MemberMonth(name, own.get(name, Decimal(0)), parts.get(name, Decimal(0)),
                             chip_hours.get(name, Decimal(0))) for name in names)
    return MonthSettlement(month, closed, rule, shared, to_pot, rows)


@dataclass(frozen=True)
class BalanceRow:
    """One member's month in the pot: what they put in, what they were charged, where they stand."""

    member: str
    month: str
    contributed: Decimal
    charged: Decimal
    balance: Decimal       # running: contributions minus charges up to this month


def balances(settlements: Iterable[MonthSettlement], contributions: Iterable[Contribution]) -> list[BalanceRow]:
    """Each member's contributions minus their charges, month by month, with a running
    balance (positive: the pot owes them; negative: they owe the pot)."""
    paid: dict[tuple[str, str], Decimal] = {}
    for c in contributions:
        paid[(c.member, c.month)] = paid.get((c.member, c.month), Decimal(0)) + c.amount
    charged: dict[tuple[str, str], Decimal] = {}
    for s in settlements:
        for m in s.members:
            charged[(m.member, s.month)] = charged.get((m.member, s.month), Decimal(0)) + m.charge
    rows, running = [], {}
    for member, month in sorted(set(paid) | set(charged)):
        c, d = paid.get((member, month), Decimal(0)), charged.get((member, month), Decimal(0))
        if not c and not d:
            continue
        running[member] = running.get(member, Decimal(0)) + c - d
        rows.append(BalanceRow(member, month, c, d, running[member]))
    return rows
