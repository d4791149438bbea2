"""What a TPU's agents say it is doing: the one schema of the node heartbeat, and what it means.

Each worker's agent overwrites `agents/<zone>/<node>/beat/w<N>.json` while it runs (see
`jobs.agent_beat_key`). The reaper decides "idle" only from these reports, never from a guess:
a node is busy while any worker reports a reason to be (a tpuctl job, a process outside
tpuctl holding the TPU device, an SSH login, a recent `tpuctl touch`, a probe that failed).
Any member can write to the store, so a report is parsed through `parse_beat` with bounds, and
a report that is unreadable, from the future or stale tells nothing: it never makes a node idle.

Wire format (version 1; fields a reader does not know are ignored):
    {"v": 1, "node": "a1", "zone": "us-central2-b", "worker": 0, "time": RFC 3339,
     "state": "busy" | "idle" | ..., "busy": [{"kind": "job"|"device"|"ssh"|"touch"|"probe",
     "detail": "..."}], "idle_since": RFC 3339 | null, "interval": seconds}
Older agents wrote no "v" and no "busy": their `state` ("idle", or a job's state) is read as
idle or busy with kind "job".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from tpuctl.domain.times import parse_time

BEAT_VERSION = 1
BUSY_KINDS = ("job", "device", "ssh", "touch", "probe")
MAX_INTERVAL = 3600.0


@dataclass(frozen=True)
class Busy:
    kind: str           # one of BUSY_KINDS
    detail: str = ""    # e.g. the job id, "pid 4242 holds /dev/accel0", "alice from 10.0.0.2"


@dataclass(frozen=True)
class Beat:
    """One worker's latest report."""

    node: str
    zone: str
    worker: int
    time: datetime
    busy: tuple[Busy, ...]
    idle_since: datetime | None
    interval: float

    @property
    def idle(self) -> bool:
        return not self.busy


class BadBeat(ValueError):
    """A heartbeat object that cannot be trusted to say anything."""


def parse_beat(data: bytes) -> Beat:
    """A heartbeat object, checked; BadBeat says why it is ignored."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise BadBeat("not JSON") from None
    if not isinstance(body, dict):
        raise BadBeat("not a JSON object")
    version = body.get("v", BEAT_VERSION)
    if type(version) is not int or not 1 <= version <= BEAT_VERSION:
        raise BadBeat(f"version {version!r} is not one this tpuctl reads")
    try:
        node, zone, worker = body["node"], body["zone"], body["worker"]
        when = parse_time(body["time"])
        idle_since = parse_time(body["idle_since"]) if body.get("idle_since") else None
    except (KeyError, ValueError, TypeError) as exc:
        raise BadBeat(f"missing or malformed field ({exc})") from None
    if not (isinstance(node, str) and isinstance(zone, str) and type(worker) is int and 0 <= worker < 4096):
        raise BadBeat("node, zone or worker malformed")
    interval = body.get("interval", 10.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval <= MAX_INTERVAL:
        raise BadBeat(f"interval {interval!r} out of bounds")
    return Beat(node, zone, worker, when, _busy(body), idle_since, float(interval))


def _busy(body: dict[str, Any]) -> tuple[Busy, ...]:
    reasons = body.get("busy")
    if reasons is None:                                  # an older agent: its state says it all
        state = body.get("state")
        return () if state == "idle" else (Busy("job", str(body.get("job") or state or "")[:200]),)
    if not isinstance(reasons, list) or len(reasons) > 100:
        raise BadBeat("busy is not a list of reasons")
    found = []
    for reason in reasons:
        if not isinstance(reason, dict) or reason.get("kind") not in BUSY_KINDS:
            raise BadBeat(f"busy reason {str(reason)[:40]} is not one of {', '.join(BUSY_KINDS)}")
        found.append(Busy(reason["kind"], str(reason.get("detail") or "")[:200]))
    return tuple(found)


@dataclass(frozen=True)
class NodeActivity:
    """What a node's agents say, taken together: busy (with why), idle since when, or unknown."""

    status: str                          # "busy" | "idle" | "silent" (no fresh report from every worker)
    reasons: tuple[Busy, ...] = ()
    idle_since: datetime | None = None
    last_report: datetime | None = None


def stale_after(interval: float) -> timedelta:
    """A report older than this means its agent stopped reporting."""
    return timedelta(seconds=max(3 * interval, 60.0))


def node_activity(beats: Iterable[Beat], workers: int, now: datetime) -> NodeActivity:
    """Busy if any worker is; idle only if every worker reports idle, freshly (idle since
    the latest of their idle_since); otherwise silent, which the reaper treats by its grace."""
    fresh = {b.worker: b for b in beats if now - stale_after(b.interval) <= b.time <= now + timedelta(minutes=5)}
    latest = max((b.time for b in fresh.values()), default=None)
    reasons = tuple(reason for beat in fresh.values() for reason in beat.busy)
    if reasons:
        return NodeActivity("busy", reasons, None, latest)
    if len(fresh) < workers or not fresh:
        return NodeActivity("silent", (), None, latest)
    since = max((b.idle_since or b.time) for b in fresh.values())
    return NodeActivity("idle", (), since, latest)
