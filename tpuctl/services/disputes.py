"""Observations that Cloud TPU's listing contradicts.

What `sync` observes is signed by whoever synced, so a member could sign an "observation" of
a TPU that never existed and bill it to someone else or to everyone (unattributed). Observing
is idempotent: a sync that lists a zone finds every TPU that really runs there and records
nothing new for it. So when a sync that reached the zone finds no trace of a TPU that the
ledger knows only from observations (nothing about it was recorded by tpuctl itself: a stop,
start or delete made through tpuctl shows Cloud TPU had it), it does not close it as a console delete: it disputes those
observations, which then stop counting everywhere and are named by `ledger verify`. If the
TPU was real after all, the next sync that lists it observes it again from its createTime.
A TPU this member observed themselves was listed then: it was deleted since, and is closed.
"""

from __future__ import annotations

from datetime import datetime

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.domain.events import NODE_DELETED, OBSERVATION_DISPUTED, Event, new_event
from tpuctl.domain.intervals import subject_of
from tpuctl.domain.metering import info_subject
from tpuctl.domain.nodes import NodeInfo
from tpuctl.domain.times import format_time
from tpuctl.services.sync import sync_from_store


def settle_unlisted(store: GroupStore, db: LedgerDB, events: list[Event], nodes: list[NodeInfo], actor: str,
                    now: datetime) -> list[Event]:
    """Deletions observed: read the store again (a TPU deleted with tpuctl while we listed has
    its delete event: nothing to add), then dispute what only others' observations said ran."""
    sync_from_store(store, db)
    still_open = {state.subject for state in db.open_nodes()}
    events = [e for e in events if e.kind != NODE_DELETED or subject_of(e) in still_open]
    return dispute_unlisted(db, events, {info_subject(info) for info in nodes}, actor, now)


def dispute_unlisted(db: LedgerDB, events: list[Event], listed: set[str], actor: str, now: datetime) -> list[Event]:
    """`events` (what observation found), with each node.deleted of a TPU the listing lacks
    replaced by a dispute when only observations ever said it ran."""
    settled = []
    for event in events:
        subject = subject_of(event) if event.kind == NODE_DELETED else None
        if subject is None or subject in listed:
            settled.append(event)
            continue
        counted = db.subject_events(subject)
        made_by_tpuctl = any(e.payload.get("source", "tpuctl") == "tpuctl" for e in counted)   # acted on, so real
        observed = sorted(e.id for e in counted if e.payload.get("source") == "observed")
        seen_by_us = any(e.actor == actor for e in counted if e.payload.get("source") == "observed")
        if made_by_tpuctl or seen_by_us or not observed:
            settled.append(event)
            continue
        zone, node = event.payload["zone"], event.payload["node"]
        reason = (f"Cloud TPU did not list TPU '{node}' in {zone} when {actor} synced at {format_time(now)}, and "
                  "the ledger has no record of its deletion")
        settled.append(new_event(OBSERVATION_DISPUTED, actor,
                                 {"zone": zone, "node": node, "events": observed[:1000], "reason": reason}, now))
    return settled
