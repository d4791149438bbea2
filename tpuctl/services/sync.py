"""`tpuctl sync` as one call: read new ledger events, then record what changed in the project
without tpuctl."""

from __future__ import annotations

from dataclasses import dataclass

from tpuctl.domain.events import Event
from tpuctl.services.context import Context
from tpuctl.services.ledger import observe_and_record


@dataclass(frozen=True)
class Synced:
    observed: tuple[Event, ...]      # what changed without tpuctl, as now recorded


def sync(ctx: Context) -> Synced:
    return Synced(tuple(observe_and_record(ctx.api, ctx.store, ctx.ledger, ctx.clock, ctx.profile.member)))
