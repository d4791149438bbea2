"""The local outbox: events of actions that stop spending (and a job's cancel), kept while the store is away.

A delete, stop or queued delete must act even when the group store cannot be reached (a TPU
left running is the surprise bill). Its events wait here, beside the local view of the
ledger (`<profile>.outbox/`, one file each), and the next command that reaches the store
writes them (every sync pushes first).

Nothing is lost or written twice: a waiting event gets its id (its recording time) only
when it is pushed, and that id is written to its file before the store is asked, so a push
cut off halfway retries the same object (create-only: the same bytes already there are
ours). An id older than half of SYNC_LOOKBACK is first looked up and, if the store never got
it, replaced by a fresh one, so a pushed event is never older than other members' syncs look
back (tpuctl/domain/segments.py: how a late event is never missed). `time` stays when the
thing happened.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.objects import write_cancel
from tpuctl.adapters.store import GroupStore, ObjectExists, ObjectNotFound
from tpuctl.domain.clock import Clock, SystemClock
from tpuctl.domain.events import Event, new_event
from tpuctl.domain.own_events import check_own_event, stored_as_ours
from tpuctl.domain.times import format_time, parse_time


KEPT_NOTICE = ("The group store cannot be reached: tpuctl acted, and keeps its ledger events in the local outbox "
               "until the next command that reaches the store writes them.")
STORE_NEEDED = ("Creating, starting, queueing and running need the group store, since admission reads every "
                "member's spend; nothing was changed. Try again once it is back.")


def outbox_dir(db: LedgerDB) -> Path:
    return db.path.with_name(db.path.stem + ".outbox")


def waiting(db: LedgerDB) -> list[Path]:
    folder = outbox_dir(db)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _write(path: Path, body: dict) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _wait(db: LedgerDB, clock: Clock, body: dict) -> Path:
    """One more file in the outbox, named so that a listing gives the oldest first."""
    folder = outbox_dir(db)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{clock.now():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"
    _write(path, body)
    return path


def keep(db: LedgerDB, clock: Clock, actor: str, kind: str, payload: Mapping[str, Any],
         time: datetime | None = None) -> Path:
    """Keep an event for later; `time` (default now) is when it happened."""
    return _wait(db, clock, {"kind": kind, "actor": actor, "payload": dict(payload),
                             "time": format_time(time or clock.now())})


def keep_cancel(db: LedgerDB, clock: Clock, job: str, data: bytes, by: str) -> Path:
    """Keep a job's cancel (not a ledger event) for later."""
    return _wait(db, clock, {"cancel": job, "data": data.decode(), "by": by})


def push(store: GroupStore, db: LedgerDB, clock: Clock | None = None, lookback_s: float = 900) -> int:
    """Write every waiting event to the store, oldest first; returns how many. Stops at the
    first failure (UnavailableError propagates); what is left waits for the next command."""
    from tpuctl.services.genesis import sign_event

    clock = clock or SystemClock()
    pushed = 0
    for path in waiting(db):
        body = json.loads(path.read_bytes())
        if "cancel" in body:
            write_cancel(store, body["cancel"], body["data"].encode(), body["by"])
            path.unlink()
            pushed += 1
            continue
        now = clock.now()
        event = Event.from_trusted_json(body["event"].encode()) if "event" in body else None
        if event is not None and (now - event.recorded).total_seconds() > lookback_s:
            try:
                if store.read(event.key) == event.to_json():
                    event = None                 # written by an earlier push whose reply was lost
                    path.unlink()
                    continue
            except ObjectNotFound:
                event = None                     # never written: give it a fresh id
        if event is None:
            event = sign_event(new_event(body["kind"], body["actor"], body["payload"], now,
                                         time=parse_time(body["time"])), db)      # signed as it gets its id
            check_own_event(event)
            _write(path, {**body, "event": event.to_json().decode()})
        try:
            store.create(event.key, event.to_json())
        except ObjectExists:
            ours = stored_as_ours(event, store.read(event.key))
            if ours is None:
                raise
            event = ours
        db.ingest([event])
        path.unlink()
        pushed += 1
    return pushed
