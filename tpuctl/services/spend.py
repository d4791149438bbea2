"""`tpuctl spend` and `tpuctl budget show` as one call each: a month's standings, read after
catching up with the group store, with what the reaper said and whether it stopped running."""

from __future__ import annotations

from dataclasses import dataclass

from tpuctl.services.context import Context
from tpuctl.services.ledger import MonthReport
from tpuctl.services.sync import sync_from_store


@dataclass(frozen=True)
class Spend:
    who: str
    report: MonthReport          # this member's month only
    notes: tuple                 # the reaper's warnings and acts on their TPUs this month
    overdue: str | None          # the reaper has not run for too long (cron stopped?)


@dataclass(frozen=True)
class Budgets:
    report: MonthReport
    overdue: str | None


def spend(ctx: Context, member: str | None = None, month: str | None = None) -> Spend:
    from tpuctl.domain.metering import month_bounds
    from tpuctl.services.leases import reaper_notes

    sync_from_store(ctx.store, ctx.ledger)
    who = member or ctx.profile.member
    report = ctx.books.month(month, member=who)
    start, end = month_bounds(report.month)
    return Spend(who, report, tuple(reaper_notes(ctx.ledger, who, start, end)), overdue(ctx))


def budgets(ctx: Context, month: str | None = None) -> Budgets:
    sync_from_store(ctx.store, ctx.ledger)
    return Budgets(ctx.books.month(month), overdue(ctx))


def overdue(ctx: Context) -> str | None:
    """`list`, `spend`, `budget show` say so when cron stopped running the reaper."""
    from tpuctl.services.reap_lock import overdue_warning

    return overdue_warning(ctx.store, ctx.clock)
