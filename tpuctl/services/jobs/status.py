"""A job's state as the store holds it: status, logs, outputs, following, cancel, settling."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from tpuctl.adapters.objects import read_cancel, read_object, write_cancel
from tpuctl.adapters.store import GroupStore, ObjectExists
from tpuctl.adapters.tpu import TpuApi
from tpuctl.domain import jobs as layout
from tpuctl.domain.clock import Clock
from tpuctl.domain.durations import format_duration
from tpuctl.domain.jobs import AttemptRecords, JobStatus, JobTiming, job_status
from tpuctl.domain.jobs.fields import MAX_TEXT
from tpuctl.domain.jobs.protocol import (
    Attempt, BadObject, Cancel, Exit, IndexEntry, Problem, ReleaseDone, ReleaseIntent, Spec, Start, WorkerBeat, dump,
)
from tpuctl.domain.nodes import NodeInfo
from tpuctl.domain.releases import release_prefix
from tpuctl.errors import ConfigError, ConflictError, NotFoundError, TpuctlError
from tpuctl.services.ledger import Books

T = TypeVar("T")
WORKER_OBJECTS = {"start": Start, "beat": WorkerBeat, "exit": Exit}
RELEASE_OBJECTS = {"intent": ReleaseIntent, "done": ReleaseDone}


def problem(store: GroupStore, job: str, attempt: int, kind: str, message: str) -> None:
    try:
        store.create(layout.problem_key(job, attempt), dump(Problem(kind, message[:MAX_TEXT])))
    except ObjectExists:
        pass


def read_spec(store: GroupStore, job: str) -> Spec:
    key = layout.spec_key(layout.check_job_id(job))
    try:
        spec = read_object(store, Spec, key)
    except BadObject as exc:
        raise ConfigError(f"Job {job} cannot be shown: {exc.message}",
                          hint="Upgrade tpuctl to read it." if exc.newer else
                          "Someone wrote that object by hand; nothing acts on it.") from None
    if spec is None:
        raise NotFoundError(f"There is no job '{job}'.", hint="`tpuctl jobs` lists the group's jobs.")
    return spec


class _Reader:
    """Reads one job's objects, each checked; what cannot be trusted is ignored and named."""

    def __init__(self, store: GroupStore):
        self.store, self.ignored = store, []

    def read(self, cls: type[T], key: str) -> T | None:
        try:
            return read_object(self.store, cls, key)
        except BadObject as exc:
            self.ignored.append(exc.message)
            return None

    def attempt(self, job: str, key: str) -> AttemptRecords | None:
        record = self.read(Attempt, key)
        if record is None or record.attempt != layout.key_attempt(key):
            if record is not None:
                self.ignored.append(f"{key} is ignored: it says attempt {record.attempt}, not the one its key names.")
            return None
        n = record.attempt
        found: dict[str, dict] = {kind: {} for kind in WORKER_OBJECTS}
        for kind, cls in WORKER_OBJECTS.items():
            for worker_key in self.store.list(layout.worker_prefix(job, n, kind)):
                worker = layout.key_worker(worker_key)
                value = self.read(cls, worker_key) if worker is not None else None
                if value is not None:
                    found[kind][worker] = value
        release = {}
        for release_key in self.store.list(release_prefix(job, n)):       # one listing: most attempts have none
            kind = release_key.rsplit("/", 1)[1].removesuffix(".json")
            if kind in RELEASE_OBJECTS:
                release[kind] = self.read(RELEASE_OBJECTS[kind], release_key)
        return AttemptRecords(record, **found, problem=self.read(Problem, layout.problem_key(job, n)), **release)


def read_status(store: GroupStore, job: str, clock: Clock) -> JobStatus:
    """A job as its store objects say; objects that cannot be trusted are ignored, and named in
    its `ignored` (a spec that cannot be read: ConfigError, naming it)."""
    spec = read_spec(store, job)
    reader = _Reader(store)
    attempts = [a for key in store.list(layout.attempts_prefix(job)) if (a := reader.attempt(job, key))]
    cancel = read_cancel(store, job, lambda exc: reader.ignored.append(exc.message))
    return job_status(spec, attempts, cancel, clock.now(), tuple(reader.ignored))


def list_jobs(store: GroupStore, clock: Clock, member: str | None = None,
              ignored: list[str] | None = None) -> list[JobStatus]:
    """Every job of the group, oldest first (`member`: only theirs). A job whose index entry or
    spec cannot be read is left out, and why is added to `ignored`."""
    found = []
    for key in store.list(layout.INDEX_PREFIX):
        try:
            entry = read_object(store, IndexEntry, key)
            if entry is not None and (member is None or entry.member == member):
                found.append(read_status(store, entry.id, clock))
        except (BadObject, TpuctlError) as exc:
            if ignored is not None:
                ignored.append(exc.message)
    return found


def log_chunks(store: GroupStore, job: str, attempt: int, worker: int, after: str | None = None) -> list[tuple[str, str]]:
    prefix = layout.log_prefix(job, attempt, worker)
    return [(k, store.read(k).decode("utf-8", "replace")) for k in store.list(prefix, start_after=after)]


def last_lines(store: GroupStore, job: str, attempt: int, worker: int, count: int = 10) -> list[str]:
    """The end of a worker's log, reading chunks from the last one back."""
    lines: list[str] = []
    for key in reversed(list(store.list(layout.log_prefix(job, attempt, worker)))):
        lines = store.read(key).decode("utf-8", "replace").splitlines() + lines
        if len(lines) >= count:
            break
    return lines[-count:]


def outputs(store: GroupStore, job: str, worker: int) -> list[str]:
    prefix = layout.outputs_prefix(job, worker)
    return [k[len(prefix):] for k in store.list(prefix)]


def download_outputs(store: GroupStore, job: str, worker: int, dest: Path) -> list[Path]:
    read_spec(store, job)
    prefix = layout.outputs_prefix(job, worker)
    written = []
    for key in store.list(prefix):
        path = dest / key[len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.read(key))
        written.append(path)
    return written


# -- follow, cancel, resume, release ----------------------------------------------------------
@dataclass(frozen=True)
class FollowEvent:
    kind: str                  # "attempt" | "log" | "state"
    status: JobStatus
    text: str = ""
    attempt: int = 0


def follow(books: Books, api: TpuApi, job: str, worker: int, timing: JobTiming, *,
           resume: bool = False, sleep: Callable[[float], None] = time.sleep,
           only_new: bool = False) -> Iterator[FollowEvent]:
    """Log text and state changes until the job ends and its workers have stopped (a job fails
    as soon as one worker fails; the others' last lines follow); with `resume`, resume it.
    `only_new`: leave out the log written so far (`logs --tail N -f` has shown its end)."""
    store, clock = books.store, books.clock
    cursors: dict[int, str | None] = {}
    if only_new:
        for attempt in read_status(store, job, clock).attempts:
            cursors[attempt.attempt] = max(store.list(layout.log_prefix(job, attempt.attempt, worker)), default=None)
    last_state, ended, ready_seen = None, None, None
    for polls in itertools.count():
        status = read_status(store, job, clock)         # before the logs: an exit follows its last chunk
        for attempt in status.attempts:
            if attempt.attempt not in cursors:
                cursors[attempt.attempt] = None
                yield FollowEvent("attempt", status, f"attempt {attempt.attempt} on TPU {attempt.node}", attempt.attempt)
            if worker < len(attempt.workers):
                for key, text in log_chunks(store, job, attempt.attempt, worker, cursors[attempt.attempt]):
                    cursors[attempt.attempt] = key
                    yield FollowEvent("log", status, text)
        if status.state != last_state:
            last_state = status.state
            yield FollowEvent("state", status, status.state)
        if status.final or (status.state == "interrupted" and not resume):
            ended = ended or time.monotonic()
            if not _running(status) or time.monotonic() - ended > settle_seconds(timing):
                return
        elif status.resumable:
            from tpuctl.services.jobs.resume import resume_job

            resume_job(books, api, job)
            continue
        node = note_lost_node(store, api, status) if status.state == "pending" or polls % 5 == 4 else None
        ready_seen = _note_silent_agents(store, status, node, timing, ready_seen)
        sleep(timing.follow)


def note_lost_node(store: GroupStore, api: TpuApi, status: JobStatus) -> NodeInfo | None:
    """Look at the latest attempt's TPU: a pending attempt whose TPU is gone (or whose queued
    request failed) will never start, so that is written down. A running one is watched by its
    agents, but looking also lets local mode's world apply a due preemption (and fire its hooks).
    Returns the TPU as seen, if it exists."""
    attempt = status.latest
    if attempt is None or attempt.state not in ("pending", "running"):
        return None
    gone, node = _gone(api, attempt)
    if gone and attempt.state == "pending":
        problem(store, status.id, attempt.attempt, "node_lost", f"TPU {attempt.node} was {gone} before the job ran")
    return node


def _note_silent_agents(store: GroupStore, status: JobStatus, node: NodeInfo | None, timing: JobTiming,
                        ready_seen: float | None) -> float | None:
    """A pending attempt whose TPU (`node`, as note_lost_node just saw it) has been READY for
    `timing.start` seconds, as this follower saw it, with no agent reporting will never start:
    its startup script failed. That is written down as a failed launch, so the follow ends.
    Returns when READY was first seen."""
    attempt = status.latest
    if status.state != "pending" or attempt is None or not attempt.owned:
        return None
    if ready_seen is None:
        return time.monotonic() if node is not None and node.state == "READY" else None
    if time.monotonic() - ready_seen > timing.start:
        problem(store, status.id, attempt.attempt, "launch_failed",
                 f"TPU {attempt.node} was READY for {format_duration(timedelta(seconds=timing.start))} but no tpuctl "
                 "agent reported; its startup script failed (see the VM's serial console)")
    return ready_seen


def _gone(api: TpuApi, attempt) -> tuple[str | None, NodeInfo | None]:
    """Why an attempt's TPU can no longer run it (None while it can, or still may), and the
    TPU itself if it exists."""
    if attempt.queued:
        try:
            queued = api.get_queued_resource(attempt.zone, attempt.node)
        except NotFoundError:
            return "deleted", None
        if queued.state in ("FAILED", "SUSPENDED"):
            return f"never provisioned (its queued request is {queued.state})", None
        if queued.state != "ACTIVE":
            return None, None
    try:
        node = api.get_node(attempt.zone, attempt.node)
    except NotFoundError:
        return "deleted", None
    return (node.state.lower() if node.state in ("PREEMPTED", "TERMINATED", "STOPPED", "DELETING") else None), node



def cancel_job(store: GroupStore, member: str, clock: Clock, job: str, keep_node: bool = False) -> JobStatus:
    """Ask the job's agents to stop it (`keep_node`: and to leave its TPU when it has)."""
    status = read_status(store, job, clock)
    if status.final:
        raise ConflictError(f"Job {job} has already ended ({status.state}).")
    write_cancel(store, job, dump(Cancel(member, clock.now(), keep_node)), member)
    return read_status(store, job, clock)


def settle(store: GroupStore, clock: Clock, job: str, timing: JobTiming,
           sleep: Callable[[float], None] = time.sleep) -> JobStatus:
    """Wait (boundedly) until no worker of the latest attempt still runs: after a cancel, or
    after one worker failed, the others stop within a poll and a grace period."""
    deadline = time.monotonic() + settle_seconds(timing)
    status = read_status(store, job, clock)
    while _running(status) and time.monotonic() < deadline:
        sleep(timing.follow)
        status = read_status(store, job, clock)
    return status


def settle_seconds(timing: JobTiming) -> float:
    return timing.poll * 2 + timing.grace + timing.heartbeat


def _running(status: JobStatus) -> bool:
    return status.latest is not None and any(w.state == "running" for w in status.latest.workers)


def has_ended(status: JobStatus) -> bool:
    """Over, and no worker still running (after a failure the others stop within a grace period)."""
    return status.final and not _running(status)

