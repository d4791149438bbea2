"""A job's state, derived from what the store holds: anyone can recompute it, so no crash can
lose it. `job_status` is the pure state machine; `outcome` and `status_json` show it. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tpuctl.domain.durations import format_duration
from tpuctl.domain.jobs.config import shown_env
from tpuctl.domain.jobs.protocol import Attempt, Cancel, Exit, Problem, ReleaseDone, ReleaseIntent, Spec, Start, WorkerBeat
from tpuctl.domain.jobs.timing import stale_after
from tpuctl.domain.releases import Release

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "interrupted"})


@dataclass(frozen=True)
class WorkerStatus:
    worker: int
    state: str                        # pending running succeeded failed interrupted cancelled lost
    exit_code: int | None = None
    phase: str = ""                   # setup | run: where it ended
    reason: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    heartbeat: datetime | None = None


@dataclass(frozen=True)
class AttemptStatus:
    attempt: int
    node: str
    zone: str
    state: str
    workers: tuple[WorkerStatus, ...]
    problem: str = ""
    created: datetime | None = None
    owned: bool = True               # the job created this TPU (and may delete it)
    queued: bool = False             # ... through a queued resource of the same name
    release: Release | None = None   # its TPU's release once the job ended, asked or done

    @property
    def failing(self) -> WorkerStatus | None:
        return next((w for w in self.workers if w.state == "failed"), None)

    @property
    def started(self) -> datetime | None:
        return min((w.started for w in self.workers if w.started), default=None)

    @property
    def finished(self) -> datetime | None:
        ends = [w.finished for w in self.workers]
        return max(ends) if ends and all(ends) else None  # type: ignore[type-var]


@dataclass(frozen=True)
class JobStatus:
    spec: Spec
    state: str
    attempts: tuple[AttemptStatus, ...]
    cancelled_by: str | None = None
    keep_node: bool = False          # the job (or its cancel) asked to keep the TPU it created
    ignored: tuple[str, ...] = ()    # its store objects that were ignored, each with why

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def latest(self) -> AttemptStatus | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def resumable(self) -> bool:
        return self.state == "interrupted" and self.spec.config.resume and not self.cancelled_by

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES and not self.resumable


@dataclass(frozen=True)
class AttemptRecords:
    """What the store holds for one attempt, each object checked: its record, start/beat/exit
    per worker, a problem, its TPU's release (intent and done)."""

    record: Attempt
    start: dict[int, Start] = field(default_factory=dict)
    beat: dict[int, WorkerBeat] = field(default_factory=dict)
    exit: dict[int, Exit] = field(default_factory=dict)
    problem: Problem | None = None
    intent: ReleaseIntent | None = None
    done: ReleaseDone | None = None


def worker_status(records: AttemptRecords, worker: int, now: datetime) -> WorkerStatus:
    start, exit_, beat = records.start.get(worker), records.exit.get(worker), records.beat.get(worker)
    started = start.time if start else None
    last = (beat or start).time if (beat or start) else None
    if exit_:
        return WorkerStatus(worker, exit_.status, exit_.exit_code, exit_.phase, exit_.reason, started, exit_.time, last)
    problem = records.problem.message if records.problem else ""
    if start:
        if problem or now - last > stale_after((beat or start).interval):
            return WorkerStatus(worker, "lost", reason=problem or "its heartbeat stopped", started=started, heartbeat=last)
        return WorkerStatus(worker, "running", phase=beat.phase if beat else "", started=started, heartbeat=last)
    return WorkerStatus(worker, "lost" if problem else "pending", reason=problem)


def attempt_state(states: list[str], cancelled: bool, problem: Problem | None) -> str:
    if problem and problem.kind == "launch_failed":
        return "failed"
    if states and all(s == "succeeded" for s in states):
        return "succeeded"
    if "failed" in states:
        return "failed"
    if "running" in states:
        return "cancelling" if cancelled else "running"
    if cancelled:
        return "cancelled"
    if "interrupted" in states or "lost" in states:
        return "interrupted"
    return "running" if "succeeded" in states or "cancelled" in states else "pending"


def job_status(spec: Spec, attempts: list[AttemptRecords], cancel: Cancel | None, now: datetime,
               ignored: tuple[str, ...] = ()) -> JobStatus:
    """A job's state from its store objects: the latest attempt decides (pure). `ignored`: the
    objects its reader could not trust, each named with why."""
    shown = []
    for records in attempts:
        rec = records.record
        workers = tuple(worker_status(records, k, now) for k in range(rec.workers))
        state = attempt_state([w.state for w in workers], cancel is not None, records.problem)
        shown.append(AttemptStatus(rec.attempt, rec.node, rec.zone, state, workers,
                                   records.problem.message if records.problem else "", rec.created,
                                   rec.owned, rec.queued, Release.from_records(records.intent, records.done)))
    state = shown[-1].state if shown else ("cancelled" if cancel else "pending")
    keep = spec.config.keep_node or bool(cancel and cancel.keep_node)
    return JobStatus(spec, state, tuple(shown), cancel.by if cancel else None, keep, tuple(ignored))


def outcome(status: JobStatus) -> str:
    """One sentence on how a job ended (or stands)."""
    attempt, job = status.latest, f"Job {status.id}"
    if status.state == "succeeded" and attempt:
        began = min((a.started for a in status.attempts if a.started), default=None)
        took = attempt.finished - began if began and attempt.finished else timedelta(0)
        workers, tries = len(attempt.workers), len(status.attempts)
        return (f"{job} succeeded on {workers} worker{'s' if workers > 1 else ''} in {format_duration(took)}"
                + (f" ({tries} attempts)." if tries > 1 else "."))
    if status.state == "failed" and attempt:
        failing = attempt.failing
        if failing is None:
            return f"{job} failed: {attempt.problem}."
        how = f"exited with code {failing.exit_code}" if failing.exit_code is not None else failing.reason
        return f"{job} failed: worker {failing.worker} {how} in {failing.phase or 'setup'}."
    if status.state == "cancelled":
        return f"{job} was cancelled by {status.cancelled_by}."
    if status.state == "interrupted" and attempt:
        why = attempt.problem or next((w.reason for w in attempt.workers if w.reason), "its TPU went away")
        if status.resumable:
            return f"{job} was interrupted ({why}); `tpuctl jobs resume` runs it again from its checkpoint."
        return f"{job} was interrupted ({why}) and does not resume (resume: false)."
    return f"{job} is {status.state}."


def status_json(status: JobStatus) -> dict[str, Any]:
    """`--json` of `tpuctl job`, `jobs` and `run` (documented in the README)."""
    from tpuctl.domain.times import format_time

    def iso(when: datetime | None) -> str | None:       # --json times in the one canonical form
        return format_time(when) if when else None

    spec, latest = status.spec, status.latest
    config = dict(spec.config.to_dict(), env=shown_env(spec.config.env, spec.config.secrets))
    return {
        "id": status.id, "name": spec.name, "member": spec.member, "state": status.state,
        "created": iso(spec.created), "source": spec.source, "node": latest.node if latest else None,
        "zone": latest.zone if latest else None, "attempt": latest.attempt if latest else 0,
        "resumable": status.resumable, "cancelled_by": status.cancelled_by, "config": config,
        "keep_node": status.keep_node,
        "release": latest.release.to_json() if latest and latest.release else None,
        "attempts": [{"attempt": a.attempt, "node": a.node, "zone": a.zone, "state": a.state, "problem": a.problem or None,
                      "started": iso(a.started), "finished": iso(a.finished),
                      "release": a.release.to_json() if a.release else None,
                      "workers": [{"worker": w.worker, "state": w.state, "exit_code": w.exit_code, "phase": w.phase or None,
                                   "reason": w.reason or None, "started": iso(w.started), "finished": iso(w.finished),
                                   "heartbeat": iso(w.heartbeat)} for w in a.workers]}
                     for a in status.attempts],
    }
