"""Queued resources: ask for TPUs that are not free yet and get them when they are.

The nodes a request makes carry the owner and a lease counted from their creation
(`tpuctl-lease-minutes`), since nobody knows when capacity will free. A request is admitted
against the budgets and `queued.created` is written before the API call (as for nodes);
while it waits, its whole lease counts as committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from tpuctl.adapters.tpu import TpuApi
from tpuctl.config import Profile
from tpuctl.domain.accelerators import parse_accelerator_type
from tpuctl.domain.budgets import Admission, UsageRequest
from tpuctl.domain.clock import WaitingClock
from tpuctl.domain.durations import check_hours, format_duration, parse_duration, parse_time_or_duration
from tpuctl.domain.metering import queued_info_payload
from tpuctl.domain.events import NODE_DELETED, QUEUED_CREATED, QUEUED_DELETED, queued_payload
from tpuctl.domain.nodes import (
    LEASE_MINUTES_LABEL,
    MANAGED_LABEL,
    OWNER_LABEL,
    REQUEST_LABEL,
    NodeInfo,
    check_resource_id,
)
from tpuctl.domain.queued import DONE_STATES, MAX_COUNT, QueuedInfo, node_ids_for
from tpuctl.errors import CapacityError, ConflictError, TpuctlError, UsageError
from tpuctl.services.context import Context
from tpuctl.services.ledger import Books
from tpuctl.services.watch import Quiet, Watch
from tpuctl.services.nodes import (
    CreateRequest, TpuAsk, admitted_request, close_if_never_made, info_payload, locate, new_request_id,
)


@dataclass(frozen=True)
class QueueRequest:
    name: str
    accelerator_type: str
    zone: str
    runtime_version: str
    spot: bool = False
    guaranteed: bool = False
    count: int = 1
    hours: float = 4.0
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    node_metadata: dict[str, dict[str, str]] = field(default_factory=dict)   # per node: its agent's script
    valid_until: datetime | None = None
    valid_after: datetime | None = None
    request_id: str = field(default_factory=lambda: new_request_id())

    @property
    def node_ids(self) -> list[str]:
        return node_ids_for(self.name, self.count)

    @property
    def chips(self) -> int:
        return parse_accelerator_type(self.accelerator_type).chips * self.count

    def usage(self, member: str) -> UsageRequest:
        """What admission weighs: every node of the request for its whole lease."""
        return UsageRequest.for_type(member, self.zone, self.accelerator_type, self.spot, str(self.hours),
                                     chips=self.chips, request_id=self.request_id)

    def payload(self, member: str) -> dict:
        return queued_payload(zone=self.zone, name=self.name, node=self.node_ids[0],
                              accelerator_type=self.accelerator_type, chips=self.chips, spot=self.spot, owner=member,
                              lease_hours=self.hours, request_id=self.request_id)


def build_queue_request(profile: Profile, name: str, accelerator_type: str, *, now: datetime,
                        zone: str | None = None, runtime_version: str | None = None, spot: bool = False,
                        guaranteed: bool = False, count: int = 1, hours: float | None = None,
                        labels: dict[str, str] | None = None, valid_for: str | None = None,
                        start_after: str | None = None) -> QueueRequest:
    """Check everything the member typed before anything is sent."""
    check_resource_id(name, "queued resource name")
    if count < 1:
        raise UsageError(f"--count must be at least 1, not {count}.")
    if count > MAX_COUNT:
        raise UsageError(f"--count must be at most {MAX_COUNT}, not {count}.")
    for node_id in node_ids_for(name, count):
        check_resource_id(node_id, "node name (the request's name plus -N)")
    if spot and guaranteed:
        raise UsageError("A request is either --spot or --guaranteed, not both.")
    hours = profile.hours if hours is None else hours
    hours = check_hours(hours, "--hours")
    valid_after = parse_time_or_duration(start_after, "--start-after", now) if start_after else None
    valid_until = None
    if valid_for:
        valid_until = (valid_after or now) + parse_duration(valid_for, "--valid-for")
    return QueueRequest(
        name=name, accelerator_type=parse_accelerator_type(accelerator_type).name, zone=zone or profile.zone,
        runtime_version=runtime_version or profile.runtime_version, spot=spot, guaranteed=guaranteed,
        count=count, hours=hours, labels=dict(labels or {}), valid_until=valid_until, valid_after=valid_after,
    )


def from_create_request(request: CreateRequest) -> QueueRequest:
    """`create --queue`: the same TPU, asked for through the queue (a new request id: the failed
    create's record is closed, and the node the queue makes is a new incarnation)."""
    return QueueRequest(name=request.name, accelerator_type=request.accelerator_type, zone=request.zone,
                        runtime_version=request.runtime_version, spot=request.spot, hours=request.hours,
                        labels=dict(request.labels), metadata=dict(request.metadata))


@dataclass(frozen=True)
class QueueAsk(TpuAsk):
    """What the member asked `queue create` for."""

    wait: bool = False            # return once queued; --wait follows it to its end
    guaranteed: bool = False
    valid_for: str | None = None
    start_after: str | None = None
    count: int = 1


def create(ctx: Context, ask: QueueAsk, watch: Watch = Quiet()) -> Queued:
    """`tpuctl queue create`: check the request, admit it (for `--for`'s member), queue it with
    an agent on every node, and with --wait follow it."""
    from tpuctl.domain.nodes import parse_labels
    from tpuctl.services import agents

    request = build_queue_request(ctx.profile, ask.name, ask.accelerator_type, now=ctx.clock.now(), zone=ask.zone,
                                  runtime_version=ask.runtime, spot=ask.spot, guaranteed=ask.guaranteed,
                                  count=ask.count, hours=ask.hours, labels=parse_labels(list(ask.labels)),
                                  valid_for=ask.valid_for, start_after=ask.start_after)
    limit = parse_duration(ask.wait_limit, "--wait-limit")
    books = ctx.books
    request, admission = admitted_request(ctx, ask, request, agents.queue_with_agent, watch)
    per_hour = books.price_per_hour(request.zone, request.accelerator_type, request.spot, request.chips)
    queued = queue_create(ctx.api, books, request, admission)
    return follow(ctx, queued, admission, per_hour, watch, wait=ask.wait, limit=limit)


def queue_create(api: TpuApi, books: Books, request: QueueRequest, admission: Admission) -> QueuedInfo:
    """Queue an admitted request for the admitted member, recording it before the API is called."""
    member = admission.member.who
    labels = {
        **request.labels,
        OWNER_LABEL: member,
        LEASE_MINUTES_LABEL: str(round(request.hours * 60)),
        REQUEST_LABEL: request.request_id,
        MANAGED_LABEL: "true",
    }
    planned = request.payload(member)
    books.record(QUEUED_CREATED, planned)
    try:
        return api.create_queued_resource(
            request.zone, request.name, node_ids=request.node_ids, accelerator_type=request.accelerator_type,
            runtime_version=request.runtime_version, spot=request.spot, guaranteed=request.guaranteed,
            labels=labels, request_id=request.request_id, metadata=request.metadata,
            valid_until=request.valid_until, valid_after=request.valid_after,
            node_metadata=request.node_metadata or None,
        )
    except TpuctlError:
        close_if_never_made(api.get_queued_resource, books, QUEUED_DELETED, planned, request.zone, request.name)
        raise


@dataclass(frozen=True)
class Queued:
    """A queued request (followed to its end with --wait), with its cost, as of `at`."""

    queued: QueuedInfo
    admission: Admission
    per_hour: Decimal
    at: datetime


def follow(ctx: Context, queued: QueuedInfo, admission: Admission, per_hour: Decimal, watch: Watch, *,
           wait: bool, limit: timedelta | None = None) -> Queued:
    """A new request; with `wait`, followed until its TPUs exist (at most `limit`): a line per
    state change, so cron and pipes see long waits too."""
    if wait:
        with watch.waiting(f"Waiting for {queued.name} ({queued.accelerator_type} in {queued.zone})",
                           lines=True) as update:
            queued = wait_queued(ctx.api, queued, ctx.api.clock, on_progress=update, timeout=limit)
    return Queued(queued, admission, per_hour, ctx.clock.now())


def waited(queued: QueuedInfo, now: datetime) -> timedelta:
    return timedelta(seconds=queued.waited(now))


def with_wait_ends(api: TpuApi, found: list[QueuedInfo], zone: str | None) -> list[QueuedInfo]:
    """Requests whose TPUs exist, with when the first was made, so their wait stops counting then."""
    if not any(q.state == "ACTIVE" for q in found):
        return found
    made = {(node.zone, node.name): node.create_time for node in api.list_nodes(zone) if node.create_time}
    ended = []
    for queued in found:
        times = [made[(queued.zone, n)] for n in queued.node_ids if (queued.zone, n) in made]
        ended.append(replace(queued, provisioned=min(times)) if queued.state == "ACTIVE" and times else queued)
    return ended


def wait_queued(api: TpuApi, queued: QueuedInfo, clock: WaitingClock, *,
                on_progress: Callable[[str], None] | None = None,
                timeout: timedelta | None = None) -> QueuedInfo:
    """Poll until the request is ACTIVE; FAILED or SUSPENDED is an error that says why, and so
    is still waiting after `timeout`. Polls at the adapter's pace (soon at first, then up to
    its poll ceiling), waiting and timing on `clock`."""
    pace = api.pace(None if timeout is None else timeout.total_seconds(), clock)
    while queued.state not in DONE_STATES:
        if on_progress:
            on_progress(queued.state)
        if not pace.wait():
            raise CapacityError(f"Queued resource '{queued.name}' is still {queued.state} after "
                                f"{format_duration(timeout)}.", hint="It stays queued: `tpuctl queue list` shows it; --wait-limit waits longer.")
        queued = api.get_queued_resource(queued.zone, queued.name)
    if on_progress:
        on_progress(queued.state)
    if queued.state == "FAILED":
        raise CapacityError(f"Queued resource '{queued.name}' failed: {queued.failure or 'Cloud TPU gave no reason'}.",
                            hint=f"It still holds its place until deleted: `tpuctl queue delete {queued.name}`.")
    if queued.state == "SUSPENDED":
        raise CapacityError(f"Queued resource '{queued.name}' was suspended (its spot TPUs were preempted).",
                            hint=f"Delete it with `tpuctl queue delete {queued.name} --force` and queue again.")
    return queued


def queue_list(api: TpuApi, zone: str | None, *, member: str | None = None) -> list[QueuedInfo]:
    found = api.list_queued_resources(zone)
    if member is not None:
        found = [q for q in found if q.owner == member]
    return sorted(with_wait_ends(api, found, zone), key=lambda q: (q.zone, q.name))


def locate_queued(api: TpuApi, name: str, zone: str | None, default_zone: str) -> QueuedInfo:
    check_resource_id(name, "queued resource name")
    found = locate(api.get_queued_resource, lambda: api.list_queued_resources(None), name, zone, default_zone,
                   "queued resource", "`tpuctl queue list --all-zones` shows the project's requests.")
    return with_wait_ends(api, [found], found.zone)[0]


def nodes_of(api: TpuApi, queued: QueuedInfo) -> list[NodeInfo]:
    """The TPUs a queued resource made that still exist (a node of the same name made some
    other way is not the request's)."""
    mine = f"/queuedResources/{queued.name}"
    return [node for node in api.list_nodes(queued.zone) if node.name in queued.node_ids
            and (not node.queued_resource or node.queued_resource.endswith(mine))]


@dataclass(frozen=True)
class QueueDeleted:
    """A request deleted (`force`: with its TPUs), or on a dry run what would be, as of `at`."""

    queued: QueuedInfo
    force: bool
    dry_run: bool
    at: datetime


def delete(ctx: Context, name: str, zone: str | None, *, force: bool = False, dry_run: bool = False,
           confirm: Callable[[QueuedInfo, bool], None] = lambda queued, force: None,
           watch: Watch = Quiet()) -> QueueDeleted:
    """`tpuctl queue delete`: find the request, have `confirm` agree (it raises to stop), delete it."""
    queued = locate_queued(ctx.api, name, zone, ctx.profile.zone)
    if not dry_run:
        confirm(queued, force)
        with watch.waiting(f"Deleting {queued.name}") as update:
            queue_delete(ctx.api, ctx.books, queued, force=force, on_progress=update)
    return QueueDeleted(queued, force, dry_run, ctx.clock.now())


@dataclass(frozen=True)
class QueueListing:
    requests: list[QueuedInfo]
    scope: str | None          # the zone listed (None: every zone)
    at: datetime               # waits count to then


def listing(ctx: Context, zone: str | None = None, *, all_zones: bool = False, mine: bool = False) -> QueueListing:
    """`tpuctl queue list`."""
    scope = None if all_zones else (zone or ctx.profile.zone)
    found = queue_list(ctx.api, scope, member=ctx.profile.member if mine else None)
    return QueueListing(found, scope, ctx.clock.now())


def queue_delete(api: TpuApi, books: Books, queued: QueuedInfo, *, force: bool, wait: bool = True,
                 on_progress: Callable[[str], None] | None = None) -> None:
    """Delete a request; with `force` its TPUs end too, and their usage closes once Cloud TPU
    confirms, as `delete` closes a node's (a node no sync has seen yet is recorded first,
    from its createTime, so none of its bill is lost)."""
    ending = nodes_of(api, queued) if force and queued.node_ids else []
    books.allow_offline().observe_nodes(ending)        # it stops spending: acts with the store away
    try:
        api.delete_queued_resource(queued.zone, queued.name, force=force, wait=wait, on_progress=on_progress)
    except ConflictError as exc:
        if force:
            raise
        raise ConflictError(exc.message, hint=f"Its TPUs still exist: `tpuctl queue delete {queued.name} --force` "
                                              "deletes them with the request.") from None
    books.record(QUEUED_DELETED, queued_info_payload(queued, source="tpuctl"))
    for node in ending:
        books.record(NODE_DELETED, info_payload(node))
