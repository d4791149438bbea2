"""Releasing the TPU a job created once the job has ended, as SkyPilot's autodown does.

Whoever sees the end first releases it: the agent on the TPU's worker 0 (so a job nobody
follows does not keep billing), a follower (`run --follow`), `cancel`, or `jobs resume`
finishing a release someone else began. Each is safe to run any number of times, at once:

1. the intent is written, create-only, before anything is deleted (tpuctl/domain/releases.py);
2. Cloud TPU is asked to delete the TPU, through the same service path as `tpuctl delete`;
3. `done` is written, create-only, with the time Cloud TPU accepted and the ledger's
   node.deleted event (its id chosen there), and that one event is recorded.

Racing releasers agree on the first `done`, so they write the same event object: one
deletion in the ledger, with the job's reason, whoever won. One that finds the TPU already
being deleted or gone records it only if the ledger still bills it (a member's `tpuctl
delete` has recorded its own); the ledger is synced before the TPU is looked at, so a
racer's record is never missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tpuctl.adapters.objects import read_object
from tpuctl.adapters.store import GroupStore, ObjectExists
from tpuctl.adapters.tpu import TpuApi
from tpuctl.domain import jobs as layout
from tpuctl.domain.clock import Clock
from tpuctl.domain.events import NODE_DELETED, Event, new_event_id, node_payload
from tpuctl.domain.jobs import AttemptStatus, JobStatus, JobTiming
from tpuctl.domain.jobs.protocol import BadObject, ReleaseDone, ReleaseIntent, dump
from tpuctl.domain.releases import Release, release_key, release_reason
from tpuctl.errors import ConfigError, ConflictError, NotFoundError
from tpuctl.services.ledger import Books

AGENT = "its agent"


def why_release(store: GroupStore, status: JobStatus) -> str | None:
    """Why the job's TPU should go now, or None if it stays: the job still runs or asked to keep
    it, the member made that TPU (`node:`), or another job was queued on it."""
    attempt = status.latest
    if not status.final or attempt is None or not attempt.owned or status.keep_node:
        return None
    queue = store.list(layout.node_prefix(attempt.zone, attempt.node) + "jobs/")
    if any(f"-{status.id}.{attempt.attempt}.json" not in key for key in queue):
        return None
    return release_reason(status.id, status.state)


def release(books: Books, api: TpuApi, status: JobStatus, via: str, *, start: bool = True) -> Release | None:
    """Release the TPU of the job's last attempt if the job ended and wants that (`start=False`:
    only finish a release someone began). Returns the release as it stands, or None."""
    attempt = status.latest
    if attempt is None or (attempt.release and attempt.release.done):
        if attempt is not None and unrecorded(books, status):
            _record(books, _read(books.store, ReleaseDone, release_key(status.id, attempt.attempt, "done")))
        return attempt.release if attempt else None
    store, clock = books.store, books.clock
    if attempt.release is None:
        reason = why_release(store, status) if start else None
        if reason is None:
            return None
        intent = _create_once(store, release_key(status.id, attempt.attempt, "intent"),
                              ReleaseIntent(reason, books.actor, clock.now(), via))
    else:
        intent = _read(store, ReleaseIntent, release_key(status.id, attempt.attempt, "intent"))
    done = _delete(books, api, status.id, attempt, intent.reason, via)
    return Release.from_records(intent, done)


def _delete(books: Books, api: TpuApi, job: str, attempt: AttemptStatus, reason: str, via: str) -> ReleaseDone:
    from tpuctl.services import nodes, queue

    books.sync()            # before looking at the TPU: a racer's record is then older than what we see
    node, asked = _node(api, attempt), False
    if node is not None and node.state != "DELETING":
        try:
            nodes.ask_delete(api, books, node, wait=False)
            asked = True
        except NotFoundError:                            # gone since we looked
            pass
    # If not asked: being deleted or gone, by a racer (whose record is then this one) or by hand (recorded then).
    payload = nodes.deleted_payload(node, reason) if asked else _still_open(books, attempt, node, reason)
    now = books.clock.now()                              # Cloud TPU has accepted the delete
    event = {"id": new_event_id(now), "payload": payload} if payload else None
    mine = ReleaseDone(now, books.actor, via, event is not None, event)
    done = _create_once(books.store, release_key(job, attempt.attempt, "done"), mine)
    _record(books, done)
    if attempt.queued and done is mine:                  # and the request that made it, as `queue delete --force`
        try:
            queue.queue_delete(api, books, api.get_queued_resource(attempt.zone, attempt.node), force=True, wait=False)
        except (NotFoundError, ConflictError):
            pass
    return done


def _still_open(books: Books, attempt: AttemptStatus, node, reason: str) -> dict | None:
    """The node.deleted payload for a TPU already going or gone that the ledger still bills;
    None if the ledger has closed it (a member's `tpuctl delete`, a sync that saw it go)."""
    from tpuctl.services.nodes import deleted_payload

    _, states = books.db.place_history(attempt.zone, attempt.node)
    open_states = sorted((s for s in states if not s.closed), key=lambda s: s.first_seen)
    if not open_states:
        return None
    if node is not None:
        return deleted_payload(node, reason)
    spec = open_states[-1].spec
    return {**node_payload(zone=spec.zone, node=spec.node, accelerator_type=spec.accelerator_type, chips=spec.chips,
                           spot=spec.spot, owner=spec.owner, lease_until=spec.lease_until,
                           request_id=spec.request_id, create_time=spec.create_time), "reason": reason}


def _node(api: TpuApi, attempt: AttemptStatus):
    try:
        return api.get_node(attempt.zone, attempt.node)
    except NotFoundError:
        return None


T = TypeVar("T")


def _create_once(store: GroupStore, key: str, record: T) -> T:
    """Write `record` unless someone already wrote that object; returns what the store holds."""
    try:
        store.create(key, dump(record))
        return record
    except ObjectExists:
        return _read(store, type(record), key)


def _read(store: GroupStore, cls: type[T], key: str) -> T:
    """A release object that must be there; one that cannot be trusted stops this release."""
    try:
        found = read_object(store, cls, key)
    except BadObject as exc:
        raise ConfigError(f"The release cannot go on: {exc.message}") from None
    if found is None:
        raise NotFoundError(f"{key} went away while the release read it.")
    return found


@dataclass
class AgentRelease:
    """What worker 0's agent calls for each job it ran until the job has ended: then it
    releases the job's TPU as the job's owner. Adapters come as arguments (the agent
    command makes them); the Cloud TPU client only when a release is due."""

    store: GroupStore
    clock: Clock
    books_for: Callable[[str], Books]      # the ledger, acting as this member
    api: Callable[[], TpuApi]

    def __call__(self, job: str, attempt: int) -> bool:
        """True once nothing is left to do for this job on this TPU."""
        from tpuctl.services.jobs import read_status

        status = read_status(self.store, job, self.clock)
        if status.latest is None or status.latest.attempt != attempt:
            return True                    # resumed elsewhere: that attempt's TPU is another agent's
        if not self._settled(status):
            return False
        release(self.books_for(status.spec.member), self.api(), status, AGENT)
        return True

    def _settled(self, status: JobStatus) -> bool:
        """Ended, and a worker that had not yet started when another failed has had the time a
        follower gives it to start and record its cancel (a slow boot, not a lost worker)."""
        from tpuctl.services.jobs import has_ended, settle_seconds

        if not has_ended(status):
            return False
        workers = status.latest.workers
        last = max((w.finished for w in workers if w.finished), default=None)
        if last is None or all(w.state != "pending" for w in workers):
            return True
        waited = (self.clock.now() - last).total_seconds()
        return waited > settle_seconds(JobTiming.parse(status.spec.timing))


def _record(books: Books, done: ReleaseDone) -> None:
    """Record the node.deleted event the winning `done` carries (the same object for every racer)."""
    if done.event:
        books.record_event(Event(done.event["id"], done.time, done.by, NODE_DELETED, done.event["payload"]))


def unrecorded(books: Books, status: JobStatus) -> bool:
    """A release was decided but its releaser was killed before recording the deletion it
    decided: its author's next `jobs resume` (or follow) records it at the time Cloud TPU
    accepted the delete, so the TPU is not billed until some sync sees it gone."""
    attempt = status.latest
    release = attempt.release if attempt else None
    return bool(release and release.done and release.event_id and release.by == books.actor
                and not books.db.known_ids([release.event_id]))


def pending(status: JobStatus) -> bool:
    """A release was begun and never finished (its releaser was killed in between)."""
    attempt = status.latest
    return bool(attempt and attempt.release and not attempt.release.done)
