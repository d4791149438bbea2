"""One reaper at a time, and when the last one finished: two small objects in the group store.

The lock is a lease: `reaper/lock.json` names its holder and when it expires, and is taken
with a compare-and-swap write (create-only, or over an expired record at its generation), so
two reapers never both hold it and a crashed one blocks the next only until its lease ends.
`reaper/last-run.json` is overwritten by every finished run; `list`, `spend` and `budget show`
warn when it is three of its intervals old (cron jobs die silently).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tpuctl.adapters.store import GroupStore, ObjectNotFound, PreconditionFailed
from tpuctl.domain.clock import Clock
from tpuctl.domain.durations import format_duration
from tpuctl.domain.times import format_time, parse_time
from tpuctl.errors import TpuctlError

LOCK_KEY = "reaper/lock.json"
LAST_RUN_KEY = "reaper/last-run.json"
LOCK_TTL = timedelta(minutes=15)
DEFAULT_EVERY = timedelta(minutes=5)
MISSED_RUNS = 3


@dataclass(frozen=True)
class Holder:
    who: str              # member@host pid N
    run: str
    until: datetime

    def sentence(self) -> str:
        return f"{self.who} (run {self.run}, lock held until {self.until:%Y-%m-%d %H:%M:%S} UTC)"


def _holder(data: bytes) -> Holder | None:
    try:
        body = json.loads(data)
        return Holder(str(body["who"])[:200], str(body["run"])[:40], parse_time(body["until"]))
    except (ValueError, KeyError, TypeError):
        return None                      # unreadable: treated as expired, so it cannot block forever


class ReaperLock:
    """The group's reaper lock, held by one run (`run`) of one member on one machine."""

    def __init__(self, store: GroupStore, clock: Clock, member: str, ttl: timedelta = LOCK_TTL):
        self.store, self.clock, self.ttl = store, clock, ttl
        self.run = uuid.uuid4().hex[:12]
        self.who = f"{member}@{socket.gethostname()} pid {os.getpid()}"
        self._generation: int | None = None

    def _record(self, until: datetime) -> bytes:
        return json.dumps({"who": self.who, "run": self.run, "until": format_time(until)}).encode()

    def acquire(self) -> Holder | None:
        """Take the lock; None if taken, else the live holder (who keeps it)."""
        try:
            data, generation = self.store.read_versioned(LOCK_KEY)
        except ObjectNotFound:
            data, generation = b"", 0
        if generation:
            holder = _holder(data)
            if holder is not None and holder.until > self.clock.now():
                return holder
        try:
            self._generation = self.store.write(LOCK_KEY, self._record(self.clock.now() + self.ttl), generation)
        except PreconditionFailed:       # another reaper took it between our read and write
            data, _ = self.store.read_versioned(LOCK_KEY)
            return _holder(data) or Holder("another reaper", "?", self.clock.now())
        return None

    def release(self) -> None:
        """Let the next run in at once (an expired record, written only if still ours)."""
        if self._generation is None:
            return
        try:
            self.store.write(LOCK_KEY, self._record(self.clock.now() - timedelta(seconds=1)), self._generation)
        except (PreconditionFailed, ObjectNotFound):
            pass                         # our lease ran out and another run holds it now
        self._generation = None


@dataclass(frozen=True)
class LastRun:
    at: datetime
    every: timedelta
    run: str

    def overdue(self, now: datetime) -> str | None:
        """A warning when cron seems to have stopped running the reaper, else None."""
        if now - self.at < MISSED_RUNS * self.every:
            return None
        return (f"the reaper has not run for {format_duration(now - self.at)} (last run {self.at:%Y-%m-%d %H:%M} UTC, "
                f"every {format_duration(self.every)}): expired and idle TPUs are not being torn down. "
                "Check the cron job (`tpuctl reap --cron-line`).")


def record_last_run(store: GroupStore, at: datetime, every: timedelta, run: str) -> None:
    body = {"at": format_time(at), "every_seconds": int(every.total_seconds()), "run": run}
    store.write(LAST_RUN_KEY, json.dumps(body).encode())


def last_run(store: GroupStore) -> LastRun | None:
    """The last successful reap, or None (never, or an unreadable record)."""
    try:
        body = json.loads(store.read(LAST_RUN_KEY))
        every = int(body["every_seconds"])
        if not 60 <= every <= 7 * 86400:
            return None
        return LastRun(parse_time(body["at"]), timedelta(seconds=every), str(body.get("run", ""))[:40])
    except (ObjectNotFound, ValueError, KeyError, TypeError):
        return None


def overdue_warning(store: GroupStore, clock: Clock) -> str | None:
    """For `list`, `spend` and `budget show`: say so when the reaper stopped running."""
    try:
        found = last_run(store)
    except TpuctlError:                 # a warning must never break the command it decorates
        return None
    return found.overdue(clock.now()) if found else None
