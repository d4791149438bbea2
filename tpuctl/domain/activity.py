"""What a TPU's agents say it is doing: the one schema of the node heartbeat, and what it means.

Each worker's agent overwrites `agents/<zone>/<node>/beat/w<N>.json` while it runs (see
`jobs.agent_beat_key`). The reaper decides "idle" only from these reports, never from a guess:
a node is busy while any worker reports a reason to be (a tpuctl job, a process outside
tpuctl holding the TPU device, an SSH login, a recent `tpuctl touch`, a probe that failed).
Any member can write to the store, so a report is parsed through `parse_beat` (the schema is
`Beat` in tpuctl/domain/jobs/protocol.py, with the agent's other objects) with bounds, and a
report that is unreadable, from a newer tpuctl or stale tells nothing: it never makes a node idle.

Wire format (version 1; fields a reader does not know are ignored):
    {"v": 1, "node": "a1", "zone": "us-central2-b", "worker": 0, "time": RFC 3339,
     "state": "busy" | "idle" | ..., "busy": [{"kind": "job"|"device"|"ssh"|"touch"|"probe",
     "detail": "..."}], "idle_since": RFC 3339 | null, "interval": seconds}
Older agents wrote no "v" and no "busy": their `state` ("idle", or a job's state) is read as
idle or busy with kind "job".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from tpuctl.domain.jobs.protocol import BUSY_KINDS, BadObject, Beat, Busy, load

BEAT_VERSION = Beat.VERSION
BadBeat = BadObject          # a heartbeat object that cannot be trusted to say anything

__all__ = ["BEAT_VERSION", "BUSY_KINDS", "BadBeat", "Beat", "Busy", "NodeActivity", "node_activity", "parse_beat",
           "stale_after"]


def parse_beat(data: bytes, origin: str = "") -> Beat:
    """A heartbeat object, checked (tpuctl/domain/jobs/protocol.py); BadBeat says why it is ignored."""
    return load(Beat, data, origin)


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
