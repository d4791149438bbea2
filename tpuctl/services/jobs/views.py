"""The job commands as one call each: show a job, read or follow its log, cancel it, resume.
Each returns what the command shows; following streams events to a callback as they come."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tpuctl.domain.jobs import JobStatus, outcome
from tpuctl.domain.metering import Amount
from tpuctl.errors import JobFailed, UnavailableError, UsageError
from tpuctl.services.agents import timing_from_env
from tpuctl.services.context import Context
from tpuctl.services.jobs.resume import ResumePass, resume_all, resume_one
from tpuctl.services.jobs.status import (
    FollowEvent, cancel_job, download_outputs, follow, last_lines, list_jobs, log_chunks, outputs, read_status, settle,
)
from tpuctl.services.release import release
from tpuctl.services.watch import Quiet, Watch


@dataclass(frozen=True)
class Tail:
    """The end of the failing worker's log."""

    worker: int
    lines: tuple[str, ...]


def failing_tail(ctx: Context, status: JobStatus) -> Tail | None:
    failing = status.latest.failing if status.latest else None
    if failing is None:
        return None
    return Tail(failing.worker, tuple(last_lines(ctx.store, status.id, status.latest.attempt, failing.worker)))


@dataclass(frozen=True)
class JobView:
    status: JobStatus
    outputs: tuple[str, ...]
    spent: Amount             # the job's own TPUs, every attempt, running ones up to now
    currency: str
    tail: Tail | None


def show(ctx: Context, job_id: str) -> JobView:
    """`tpuctl job`."""
    status = read_status(ctx.store, job_id, ctx.clock)
    files = outputs(ctx.store, status.id, 0) if status.spec["config"].get("outputs") else []
    spent = ctx.books.sync().cost_of((a.zone, a.node) for a in status.attempts if a.owned)
    return JobView(status, tuple(files), spent, ctx.prices.currency, failing_tail(ctx, status))


@dataclass(frozen=True)
class JobList:
    """`tpuctl jobs`: the jobs, and why any job the store holds could not be read."""

    jobs: tuple[JobStatus, ...]
    ignored: tuple[str, ...] = ()


def jobs(ctx: Context, mine: bool = False) -> JobList:
    """`tpuctl jobs`: the group's jobs (`mine`: only this member's), oldest first."""
    ignored: list[str] = []
    found = list_jobs(ctx.store, ctx.clock, ctx.profile.member if mine else None, ignored)
    return JobList(tuple(found), tuple(ignored))


@dataclass(frozen=True)
class Followed:
    """A job followed to its end; `released`: its TPU was deleted while (or after) following."""

    status: JobStatus
    released: bool
    tail: Tail | None

    @property
    def failure(self) -> JobFailed | None:
        if self.status.state == "succeeded":
            return None
        hint = f"`tpuctl logs {self.status.id} --worker {self.tail.worker}` shows its whole log." if self.tail else None
        return JobFailed(outcome(self.status), hint=hint)


def follow_to_end(ctx: Context, job: str, worker: int, on_event: Callable[[FollowEvent], None], *,
                  resume: bool, via: str | None, only_new: bool = False) -> Followed:
    """Stream the log and state changes to `on_event` until the job ends. `via` (how this
    follower is named in the job's record) releases the job's TPU if the job wants that;
    without it, only a release someone else began is finished."""
    status, began = None, ctx.clock.now()
    for event in follow(ctx.books, ctx.api, job, worker, timing_from_env(), resume=resume, only_new=only_new):
        status = event.status
        on_event(event)
    released = False
    if status.final:
        done = release(ctx.books, ctx.api, status, via or "logs -f", start=via is not None)
        released = bool(done and done.deleted and done.time >= began)   # by us or, meanwhile, its agent
    return Followed(status, released, None if status.state == "succeeded" else failing_tail(ctx, status))


@dataclass(frozen=True)
class Logs:
    """A worker's log: its end (`tail`), or every attempt's chunks, read as they are shown."""

    status: JobStatus
    tail: tuple[str, ...] | None
    chunks: Iterator[tuple[int, str, str | None]]     # (attempt, its TPU, text); None first for each attempt


def logs(ctx: Context, job_id: str, worker: int = 0, tail: int | None = None) -> Logs:
    """`tpuctl logs`."""
    store = ctx.store
    status = read_status(store, job_id, ctx.clock)
    workers = len(status.latest.workers) if status.latest else 1
    if worker >= workers:
        raise UsageError(f"Job {job_id} has {workers} worker{'s' if workers > 1 else ''} (0 to {workers - 1}), not {worker}.")
    end = None
    if tail is not None and status.latest is not None:
        end = tuple(last_lines(store, job_id, status.latest.attempt, worker, tail))
    return Logs(status, end, _chunks(ctx, status, worker))


def _chunks(ctx: Context, status: JobStatus, worker: int) -> Iterator[tuple[int, str, str | None]]:
    for attempt in status.attempts:
        yield attempt.attempt, attempt.node, None
        for _, text in log_chunks(ctx.store, status.id, attempt.attempt, worker):
            yield attempt.attempt, attempt.node, text


@dataclass(frozen=True)
class Cancelled:
    status: JobStatus | None    # None: the store was away (the cancel waits in the outbox)
    deleted: bool         # its TPU is being deleted now (else its agent deletes it once stopped)
    ended: tuple[str, ...] = ()     # with the store away: the TPUs and requests deleted, by name


def cancel(ctx: Context, job_id: str, keep_node: bool = False, watch: Watch = Quiet()) -> Cancelled:
    """`tpuctl cancel`: ask the agents to stop, wait a little for them, release the TPU."""
    try:
        cancel_job(ctx.reachable_store(), ctx.profile.member, ctx.clock, job_id, keep_node=keep_node)
    except UnavailableError:        # (a folder that cannot be opened says so, as a far bucket does)
        if keep_node:
            raise                   # (only the agents, through the store, can stop a job and keep its TPU)
        return _cancel_away(ctx, job_id)
    with watch.waiting(f"Cancelling {job_id}"):
        status = settle(ctx.store, ctx.clock, job_id, timing_from_env())
    if status.state == "cancelling":
        return Cancelled(status, False)
    done = release(ctx.books, ctx.api, status, "cancel")
    return Cancelled(status, bool(done and done.deleted))


def _cancel_away(ctx: Context, job_id: str) -> Cancelled:
    """The store is away: stop the spending now, deleting the job's TPUs and requests (found by
    their job label; the agents end with them), and keep the cancel in the outbox, so the job
    reads as cancelled, and is never resumed, once the store is back."""
    from tpuctl.domain.jobs.protocol import Cancel, dump
    from tpuctl.domain.nodes import JOB_LABEL, KEEP_NODE_LABEL
    from tpuctl.services.nodes import delete_node
    from tpuctl.services.queue import queue_delete

    requests = [q for q in ctx.api.list_queued_resources(None) if q.labels.get(JOB_LABEL) == job_id]
    made = {node for q in requests for node in q.node_ids}
    nodes = [n for n in ctx.api.list_nodes(None) if n.labels.get(JOB_LABEL) == job_id and n.name not in made]
    ending = [*requests, *nodes]
    if any(x.labels.get(KEEP_NODE_LABEL) == "true" for x in ending):
        raise UnavailableError(f"The group store cannot be reached, and job {job_id}'s config keeps its TPU, so only "
                               "its agents can stop it, through the store; nothing was cancelled.",
                               hint="Cancel it again once the store is back, or `tpuctl delete` its TPU.")
    if not ending:
        raise UnavailableError(f"The group store cannot be reached and Cloud TPU lists no TPU of job {job_id}, "
                               "so nothing was cancelled.", hint="Cancel it again once the store is back.")
    books = ctx.books.allow_offline()
    books.keep_cancel(job_id, dump(Cancel(ctx.profile.member, ctx.clock.now(), False)))
    for request in requests:
        queue_delete(ctx.api, books, request, force=True, wait=False)
    for node in nodes:
        delete_node(ctx.api, books, node, wait=False)
    return Cancelled(None, True, tuple(x.name for x in ending))


@dataclass(frozen=True)
class Resumed:
    done: ResumePass
    released: tuple[JobStatus, ...]      # ended jobs whose TPU's release this pass finished, as now


def resume(ctx: Context, job: str | None = None) -> Resumed:
    """`tpuctl jobs resume`: one job, or every interrupted one that asked to resume."""
    done = resume_all(ctx.books, ctx.api) if job is None else resume_one(ctx.books, ctx.api, job)
    return Resumed(done, tuple(read_status(ctx.store, status.id, ctx.clock) for status, _ in done.released))


def download(ctx: Context, job_id: str, worker: int, dest: Path) -> list[Path]:
    """`tpuctl outputs`."""
    return download_outputs(ctx.store, job_id, worker, dest)
