"""What a member is told once, on their next command: they passed 50 %, 90 % or 100 % of their
allowance this month, or the group's TRC grant ends in 7 days or in 1.

GCP Budgets only e-mails, and never says who. These notices come from the ledger's local
view; what was shown is remembered in that view (not in the shared store), per member, so
each one appears once on each machine and nobody else's terminal is affected.
"""

from __future__ import annotations

from datetime import datetime

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.domain.budgets import format_amount
from tpuctl.domain.clock import Clock
from tpuctl.domain.grants import WARN_DAYS, warning_text, warnings_due
from tpuctl.domain.metering import month_of, price_usage
from tpuctl.domain.prices import PriceTable, pricing_for
from tpuctl.domain.times import format_time

THRESHOLDS = (50, 90, 100)      # per cent of an allowance


def _shown(db: LedgerDB, key: str) -> bool:
    return db.note(f"notice:{key}") is not None


def _remember(db: LedgerDB, key: str, now: datetime) -> None:
    db.set_note(f"notice:{key}", format_time(now))


def allowance_notices(db: LedgerDB, member: str, now: datetime, table: PriceTable) -> list[str]:
    """The highest threshold of each allowance the member passed this month and was not told of."""
    from tpuctl.services.grants import month_with_grant

    rules, month = db.rules(), month_of(now)
    budgets = [b for b in rules.budgets_for(month, member) if b.amount > 0]
    if not budgets:
        return []
    open_nodes = db.open_nodes()
    spent, _ = month_with_grant(db, rules, month, now, {}, open_nodes)
    used = price_usage(spent.get(member, {}), pricing_for(rules, table))
    lines = []
    for budget in budgets:
        figure = used.chip_hours if budget.unit == "chip_hours" else used.money
        passed = [t for t in THRESHOLDS if figure * 100 >= budget.amount * t]
        keys = {t: f"allowance:{member}:{month}:{budget.unit}:{t}" for t in passed}
        fresh = [t for t in passed if not _shown(db, keys[t])]
        if not fresh:
            continue
        top = max(fresh)
        of = (f"{format_amount(figure, budget.unit, rules.currency or 'USD')} of "
              f"{format_amount(budget.amount, budget.unit, rules.currency or 'USD')}")
        lines.append(f"You have used all of your {month} allowance ({of}); new TPUs will be refused."
                     if top == 100 else f"You have used {top}% of your {month} allowance ({of}).")
        for t in passed:
            _remember(db, keys[t], now)
    return lines


def grant_notices(db: LedgerDB, member: str, now: datetime) -> list[str]:
    """The group's TRC grant ends within 7 days, or within 1: each said once per member."""
    lines = []
    for grant, days in warnings_due(db.rules().trc_grants, now):
        base = f"grant:{member}:{grant.zone}/{grant.generation}/{grant.model}:{format_time(grant.until)}"
        if _shown(db, f"{base}:{days}d"):
            continue
        lines.append(warning_text(grant, now))
        for threshold in WARN_DAYS:
            if threshold >= days:
                _remember(db, f"{base}:{threshold}d", now)
    return lines


def pending_notices(db: LedgerDB, clock: Clock, member: str, table: PriceTable) -> list[str]:
    """Every notice this member has not been shown yet (and from now on counts as shown)."""
    now = clock.now()
    return grant_notices(db, member, now) + allowance_notices(db, member, now, table)


def after_command(ctx) -> list[str]:
    """The notices due to the session's member once a command has read the books; a notice
    never turns a command into a failure, so a view that cannot answer gives none."""
    import sqlite3

    from tpuctl.errors import TpuctlError

    try:
        return pending_notices(ctx.ledger, ctx.clock, ctx.profile.member, ctx.prices)
    except (TpuctlError, sqlite3.Error):
        return []
