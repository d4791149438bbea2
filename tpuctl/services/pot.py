"""The group's pot: contributions (treasurer), the settlement rule, each member's balance
month by month, and the plain-text-accounting journal of it all."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.config import MEMBER_RE
from tpuctl.domain.amounts import check_amount
from tpuctl.domain.clock import Clock
from tpuctl.domain.events import POT_CONTRIBUTED, SETTLEMENT_RULE_SET, UNATTRIBUTED, Event
from tpuctl.domain.journal import hledger_journal
from tpuctl.domain.metering import month_of
from tpuctl.domain.prices import PriceTable
from tpuctl.domain.settlement import RULES, BalanceRow, Contribution, MonthSettlement, balances, settle_month
from tpuctl.errors import UsageError
from tpuctl.services.group import record_decision
from tpuctl.services.sync import sync_from_store
from tpuctl.services.report import member_chip_hours, month_report, spend_by_member


def contribute(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, member: str, amount: str | Decimal,
               note: str | None = None) -> Event:
    """`ledger contribute MEMBER AMOUNT`: money a member paid into the pot (treasurers only)."""
    if not MEMBER_RE.match(member) or member == UNATTRIBUTED:
        raise UsageError(f"'{member}' cannot be a member name.")
    value = check_amount(amount, "The contribution", "a contribution")
    if value == 0:
        raise UsageError("The contribution 0 is zero; a contribution is more than nothing.")
    payload = {"member": member, "amount": f"{value:f}", **({"note": note} if note else {})}
    return record_decision(store, db, clock, actor, POT_CONTRIBUTED, payload)


def set_rule(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, rule: str) -> Event:
    """`ledger rule RULE`: how shared costs (unattributed spend) are split from now on."""
    if rule not in RULES:
        raise UsageError(f"'{rule}' is not a settlement rule ({', '.join(RULES)}).")
    return record_decision(store, db, clock, actor, SETTLEMENT_RULE_SET, {"rule": rule})


@dataclass(frozen=True)
class Pot:
    currency: str
    rule: str
    months: tuple[MonthSettlement, ...]
    contributions: tuple[Contribution, ...]
    rows: tuple[BalanceRow, ...]            # member x month, with running balances

    @property
    def held(self) -> Decimal:
        """What the pot holds: every contribution less every month's total."""
        return (sum((c.amount for c in self.contributions), Decimal(0))
                - sum((m.total for m in self.months), Decimal(0)))

    def balance(self, member: str) -> Decimal:
        mine = [row for row in self.rows if row.member == member]
        return mine[-1].balance if mine else Decimal(0)


def _months(db: LedgerDB, contributions: tuple[Contribution, ...], now_month: str) -> list[str]:
    months = set(db.months()) | {c.month for c in contributions}
    return sorted(m for m in months if m <= now_month) or [now_month]


def pot(db: LedgerDB, store: GroupStore | None, clock: Clock, table: PriceTable, until: str | None = None) -> Pot:
    """Every month up to `until` (default: this one) settled through the pot."""
    if store is not None:
        sync_from_store(store, db)
    rules = db.rules()
    contributions = tuple(c for c in rules.contributions if until is None or c.month <= until)
    settled = []
    for month in _months(db, contributions, until or month_of(clock.now())):
        report = month_report(db, store, clock, table, month=month, sync=False)
        settled.append(settle_month(month, spend_by_member(report), member_chip_hours(report), rules.members,
                                    rules.settlement_rule, closed=report.closed is not None))
    return Pot(report.currency, rules.settlement_rule, tuple(settled), contributions,
               tuple(balances(settled, contributions)))


def journal(db: LedgerDB, store: GroupStore | None, clock: Clock, table: PriceTable, until: str | None = None) -> str:
    """`ledger export --format hledger`: the pot as an hledger journal."""
    books = pot(db, store, clock, table, until)
    generations = {m.month: _generations(db, m.month) for m in books.months}
    return hledger_journal(books.currency, books.contributions, books.months, generations, books.held)


def _generations(db: LedgerDB, month: str) -> dict[str, dict[str, Decimal]]:
    """member -> generation -> chip-hours in the month (closed usage), for the journal's tags."""
    found: dict[str, dict[str, Decimal]] = {}
    for member, counter in db.month_usage(month).items():
        for key, chip_seconds in counter.items():
            per = found.setdefault(member, {})
            per[key.generation] = per.get(key.generation, Decimal(0)) + Decimal(chip_seconds) / 3600
    return found
