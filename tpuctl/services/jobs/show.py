"""`tpuctl job` as one call: a job's status, its outputs and what its TPUs have cost."""

from __future__ import annotations

from dataclasses import dataclass

from tpuctl.domain.jobs import JobStatus
from tpuctl.domain.metering import Amount
from tpuctl.services.context import Context
from tpuctl.services.jobs.status import outputs, read_status
from tpuctl.services.ledger import places_cost


@dataclass(frozen=True)
class JobView:
    status: JobStatus
    outputs: tuple[str, ...]
    spent: Amount             # the job's own TPUs, every attempt, running ones up to now
    currency: str


def show(ctx: Context, job_id: str) -> JobView:
    status = read_status(ctx.store, job_id, ctx.clock)
    files = outputs(ctx.store, status.id, 0) if status.spec["config"].get("outputs") else []
    spent = places_cost(ctx.books.sync().db, ctx.clock, ctx.prices, [(a.zone, a.node) for a in status.attempts if a.owned])
    return JobView(status, tuple(files), spent, ctx.prices.currency)
