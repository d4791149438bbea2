"""Resume: a job with `resume: true` whose attempt was interrupted (preempted TPU, lost
agents) gets a new attempt on a new TPU named `<job>-<attempt>`.

Anyone may start it: `run --follow` does when it sees the interruption, and `tpuctl jobs
resume` does for every such job (cron can run it). The attempt record is create-only, so two
resumers never both create a TPU; the new agents restore the job's outputs before the run
continues. A pass also finishes releases of ended jobs' TPUs that were cut short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpuctl.adapters.store import ObjectExists
from tpuctl.adapters.tpu import Progress, TpuApi
from tpuctl.domain.jobs import JobStatus
from tpuctl.domain.releases import Release
from tpuctl.errors import ConflictError, NotFoundError, TpuctlError
from tpuctl.services.jobs.status import list_jobs, note_lost_node, read_status
from tpuctl.services.jobs.submit import _start_attempt
from tpuctl.services.ledger import Books
from tpuctl.services.release import pending, release, unrecorded


def resume_job(books: Books, api: TpuApi, job: str, on_progress: Progress | None = None) -> JobStatus | None:
    """Start the next attempt of an interrupted `resume: true` job on a new TPU; None if it
    need not (or someone else just did)."""
    store, clock = books.store, books.clock
    status = read_status(store, job, clock)
    if not status.resumable:
        return None
    previous = status.latest
    if previous.owned:           # first, so its remaining lease is not counted against the new TPU
        _delete_tpu(books, api, previous)
    try:
        _start_attempt(books, api, status.spec, previous.attempt + 1, on_progress=on_progress)
    except ObjectExists:
        return None
    return read_status(store, job, clock)


@dataclass(frozen=True)
class ResumePass:
    resumed: list[JobStatus]
    failed: list[tuple[JobStatus, TpuctlError]]     # the job as it now stands, and why it could not resume (or release)
    released: list[tuple[JobStatus, Release]] = field(default_factory=list)   # releases it finished


def resume_all(books: Books, api: TpuApi, member: str | None = None) -> ResumePass:
    """One pass over the group's jobs: note lost TPUs, resume what asked for it, and finish
    releases of ended jobs' TPUs that were cut short. A job that cannot resume (refused by
    the budget, no capacity) does not stop the others; its new attempt is marked failed with
    the reason."""
    return _resume_pass(books, api, list_jobs(books.store, books.clock, member))


def resume_one(books: Books, api: TpuApi, job: str) -> ResumePass:
    """`tpuctl jobs resume JOB`: that job alone, as a pass would treat it, even if it did not
    ask to resume (then only its lost TPU is noted and a cut-short release finished)."""
    status = read_status(books.store, job, books.clock)
    if not status.spec.config.resume:
        note_lost_node(books.store, api, status)
    return _resume_pass(books, api, [status])


def _resume_pass(books: Books, api: TpuApi, statuses: list[JobStatus]) -> ResumePass:
    store, resumed, failed, released = books.store, [], [], []
    for status in statuses:
        if pending(status) or unrecorded(books, status):
            try:
                released.append((status, release(books, api, status, "jobs resume", start=False)))
            except TpuctlError as exc:              # Cloud TPU away: the next pass finishes it
                failed.append((status, exc))
        if status.final or not status.spec.config.resume:
            continue
        note_lost_node(store, api, status)
        try:
            again = resume_job(books, api, status.id)
        except TpuctlError as exc:
            failed.append((read_status(store, status.id, books.clock), exc))
            continue
        if again is not None:
            resumed.append(again)
    return ResumePass(resumed, failed, released)



def _delete_tpu(books: Books, api: TpuApi, attempt) -> bool:
    """Start deleting an attempt's TPU (or its queued request, with its TPUs); False if gone."""
    from tpuctl.services import nodes, queue

    try:
        if attempt.queued:
            queued = api.get_queued_resource(attempt.zone, attempt.node)
            queue.queue_delete(api, books, queued, force=True, wait=False)
        else:
            nodes.delete_node(api, books, api.get_node(attempt.zone, attempt.node), wait=False)
    except (NotFoundError, ConflictError):
        return False
    return True
