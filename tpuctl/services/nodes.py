"""TPU VM lifecycle use cases: create, find, list, stop, start, delete.

Services get the Cloud TPU adapter and the ledger's `Books` as arguments and return plain
data; they never print. Every node tpuctl creates carries owner, lease and request labels.

Metering: a create is admitted against the budgets, then `node.created` is written BEFORE
the API call, so a crash in between leaves a record that the next sync matches to the node
(by its request label) and bills to its owner. Stop, start and delete are written after
Cloud TPU confirms them; a crash in between leaves the node billed until the next sync
sees the change, so usage is never lost, only possibly counted a little long.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tpuctl.adapters.tpu import Listing, NotSent, Progress, TpuApi, in_doubt
from tpuctl.config import Profile
from tpuctl.domain.accelerators import AcceleratorType, parse_accelerator_type
from tpuctl.domain.budgets import Admission, UsageRequest
from tpuctl.domain.durations import check_hours
from tpuctl.domain.events import NODE_CREATED, NODE_DELETED, NODE_READY, NODE_STARTED, NODE_STOPPED, node_payload
from tpuctl.domain.metering import SECONDS_PER_HOUR, node_info_payload
from tpuctl.domain.nodes import (
    ACCRUING_STATES,
    LEASE_LABEL,
    MANAGED_LABEL,
    OWNER_LABEL,
    REQUEST_LABEL,
    TERMINAL_STATES,
    NodeInfo,
    check_resource_id,
    lease_label_value,
)
from tpuctl.errors import CapacityError, NotFoundError, TpuctlError, UnavailableError, UsageError
from tpuctl.services.context import Context
from tpuctl.services.ledger import Books
from tpuctl.services.watch import Quiet, Watch


DEFAULT_HOURS = 4.0     # a lease when nothing else says (the profile's `hours` normally does)


@dataclass(frozen=True)
class CreateRequest:
    name: str
    accelerator_type: str
    zone: str
    runtime_version: str
    spot: bool = False
    hours: float = 4.0
    labels: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    request_id: str = field(default_factory=lambda: new_request_id())

    @property
    def accelerator(self) -> AcceleratorType:
        return parse_accelerator_type(self.accelerator_type)

    def usage(self, member: str) -> UsageRequest:
        """What admission weighs: this TPU for its whole lease."""
        return UsageRequest.for_type(member, self.zone, self.accelerator_type, self.spot, str(self.hours),
                                     request_id=self.request_id)


def new_request_id() -> str:
    return uuid.uuid4().hex[:20]


def lease_end(now: datetime, hours: float) -> datetime:
    return now + timedelta(hours=hours)


def build_create_request(profile: Profile, name: str, accelerator_type: str, *, zone: str | None,
                         runtime_version: str | None, spot: bool, hours: float | None,
                         labels: dict[str, str]) -> CreateRequest:
    """Validate what the member asked for before anything touches the cloud."""
    check_resource_id(name)
    accelerator_type = parse_accelerator_type(accelerator_type).name
    hours = profile.hours if hours is None else hours
    hours = check_hours(hours, "--hours")
    return CreateRequest(
        name=name,
        accelerator_type=accelerator_type,
        zone=zone or profile.zone,
        runtime_version=runtime_version or profile.runtime_version,
        spot=spot,
        hours=hours,
        labels=dict(labels),
    )


def owner_labels(member: str, lease_until: datetime, request_id: str) -> dict[str, str]:
    return {
        OWNER_LABEL: member,
        LEASE_LABEL: lease_label_value(lease_until),
        REQUEST_LABEL: request_id,
        MANAGED_LABEL: "true",
    }


@dataclass(frozen=True)
class TpuAsk:
    """What a member asked for a TPU with, as typed: what `create` and `queue create` share."""

    name: str
    accelerator_type: str
    zone: str | None = None
    runtime: str | None = None
    spot: bool = False
    hours: float | None = None
    labels: tuple[str, ...] = ()
    agent: bool = True
    wait: bool = True
    wait_limit: str = "1h"         # how long to follow it in the queue
    override: str | None = None
    for_member: str | None = None


@dataclass(frozen=True)
class CreateAsk(TpuAsk):
    """What the member asked `create` for."""

    queue: bool = False            # no capacity: queue the request instead of failing


@dataclass(frozen=True)
class Created:
    """A created TPU, or (the zone being full) the queued request for it, with its cost."""

    admission: Admission
    per_hour: Decimal
    node: NodeInfo | None = None
    queued: Any = None             # services.queue.Queued

    def __post_init__(self) -> None:
        assert (self.node is None) != (self.queued is None)


def create(ctx: Context, ask: CreateAsk, watch: Watch = Quiet()) -> Created:
    """`tpuctl create`: check the request, admit it against the budgets (for `--for`'s member),
    create the TPU with its agent; if the zone is full and the member said so, queue it."""
    from tpuctl.domain.durations import parse_duration
    from tpuctl.domain.nodes import parse_labels
    from tpuctl.services import agents

    request = build_create_request(ctx.profile, ask.name, ask.accelerator_type, zone=ask.zone,
                                   runtime_version=ask.runtime, spot=ask.spot, hours=ask.hours,
                                   labels=parse_labels(list(ask.labels)))
    limit = parse_duration(ask.wait_limit, "--wait-limit")
    books = ctx.books
    request, admission = admitted_request(ctx, ask, request, agents.with_agent, watch)
    per_hour = books.price_per_hour(request.zone, request.accelerator_type, request.spot)
    try:
        with watch.waiting(f"Creating {request.name} ({request.accelerator_type}) in {request.zone}") as update:
            node = create_node(ctx.api, books, request, admission, wait=ask.wait, on_progress=update)
    except CapacityError:
        if not ask.queue:
            raise
        from tpuctl.services import queue

        watch.queueing(request)
        queued = queue.queue_create(ctx.api, books, queue.from_create_request(request), admission)
        return Created(admission, per_hour, queued=queue.follow(ctx, queued, admission, per_hour, watch,
                                                                wait=ask.wait, limit=limit))
    return Created(admission, per_hour, node=node)


def admitted_request(ctx: Context, ask: TpuAsk, request: Any, with_agent: Callable[..., Any],
                     watch: Watch) -> tuple[Any, Admission]:
    """Weigh a request against the budgets (for `--for`'s member), then (unless --no-agent) give
    its TPUs tpuctl's agent: nothing is uploaded for a request the budgets refuse."""
    from tpuctl.services.roles import acting_for

    admission = ctx.books.admit(request.usage(acting_for(ctx.books, ask.for_member)), ask.override)
    if ask.agent:
        from tpuctl.services.agents import timing_from_env

        request = with_agent(ctx.store, ctx.profile, request, timing_from_env())
    watch.admitted(admission)
    return request, admission


def info_payload(node: NodeInfo) -> dict:
    """The node.* payload of what tpuctl did to a node the API showed it."""
    return node_info_payload(node, source="tpuctl")


def create_node(api: TpuApi, books: Books, request: CreateRequest, admission: Admission, *,
                wait: bool = True, on_progress: Progress | None = None) -> NodeInfo:
    """Create an admitted request's TPU for the admitted member, recording it before the API is called.

    A create that fails is closed at once if nothing was made; if the TPU exists, or Cloud TPU
    cannot say, its record stays open (the next command or sync bills it) and the error says so,
    so that nobody creates it again and pays twice."""
    member = admission.member.who
    lease_until = lease_end(books.clock.now(), request.hours)
    labels = {**request.labels, **owner_labels(member, lease_until, request.request_id)}
    planned = node_payload(zone=request.zone, node=request.name, accelerator_type=request.accelerator_type,
                           chips=request.accelerator.chips, spot=request.spot, owner=member,
                           lease_until=lease_until, request_id=request.request_id)
    books.record(NODE_CREATED, planned)
    try:
        node = api.create_node(request.zone, request.name, accelerator_type=request.accelerator_type,
                               runtime_version=request.runtime_version, spot=request.spot, labels=labels,
                               metadata=request.metadata, wait=wait, on_progress=on_progress)
    except NotSent:
        books.record(NODE_DELETED, planned)      # nothing reached Cloud TPU
        raise
    except TpuctlError as exc:
        raise _failed_create(api, books, planned, request, exc) from None
    if node.state in ACCRUING_STATES:
        try:
            books.record(NODE_READY, info_payload(node), keep_if_away=True)   # the store went away: outbox
        except TpuctlError as exc:
            raise UnavailableError(
                f"TPU '{node.name}' was created ({node.state} in {node.zone}) but the ledger could not record "
                f"that it runs: {_reason(exc)}",
                hint="It is yours and billed from its creation: `tpuctl sync` records it once the store is back. "
                     "Do not create it again.", exit_code=exc.exit_code) from None
    return node


def _reason(exc: TpuctlError) -> str:
    return exc.message[:1].lower() + exc.message[1:]


def _failed_create(api: TpuApi, books: Books, planned: dict, request: CreateRequest,
                   exc: TpuctlError) -> TpuctlError:
    """What to tell after a create failed, having settled its record as far as Cloud TPU says."""
    known, found = look_for(api.get_node, planned, request.zone, request.name)
    name, zone = request.name, request.zone
    if found is None and (known or not in_doubt(exc)):
        books.record(NODE_DELETED, planned)      # certainly nothing made: it commits nothing
        return exc
    if found is None:
        return UnavailableError(
            f"TPU '{name}' may exist in {zone}: Cloud TPU was asked to create it, but tpuctl {_reason(exc)}",
            hint=f"Run `tpuctl list` (or `tpuctl sync`) to see whether '{name}' exists before creating it again; "
                 "until a sync finds it missing, its lease counts as yours.", exit_code=exc.exit_code)
    try:
        books.observe_nodes([found])             # bill what runs from now, not from the next sync
    except TpuctlError:
        pass                                     # the open node.created keeps it for the next sync
    if found.state in TERMINAL_STATES:
        return exc                               # made, but already ended (e.g. preempted while booting)
    return UnavailableError(
        f"TPU '{name}' exists in {zone} ({found.state}), but tpuctl {_reason(exc)}",
        hint=f"It is yours and billed: `tpuctl list` shows it and `tpuctl delete {name}` ends it. "
             "Do not create it again.", exit_code=exc.exit_code)


def look_for(get, planned: dict, zone: str, name: str):
    """(whether Cloud TPU answered, the request's resource if it exists)."""
    try:
        found = get(zone, name)
    except NotFoundError:
        return True, None
    except TpuctlError:
        return False, None
    return True, (found if found.labels.get(REQUEST_LABEL) == planned["request_id"] else None)


def close_if_never_made(get, books: Books, kind: str, planned: dict, zone: str, name: str) -> None:
    """After a failed create: if nothing of this request exists, close its record now with
    `kind` (otherwise, or if Cloud TPU cannot be asked, the next sync settles it)."""
    known, found = look_for(get, planned, zone, name)
    if known and found is None:
        books.record(kind, planned)


def list_nodes(api: TpuApi, zone: str | None, *, member: str | None = None) -> Listing[NodeInfo]:
    """Nodes in one zone (or all when zone is None), optionally only `member`'s, with the
    zones that could not be reached."""
    listing = api.list_nodes(zone)
    nodes = [n for n in listing if member is None or n.owner == member]
    return Listing(sorted(nodes, key=lambda n: (n.zone, n.name)), listing.unreachable)


def locate(get, list_all, name: str, zone: str | None, default_zone: str, what: str, list_hint: str):
    """Find a resource by name: in `zone` if given, else the default zone, else any zone.

    `get(zone, name)` and `list_all()` are the adapter's calls; `what` names the kind
    ("TPU", "queued resource") in the error sentences.
    """
    if zone:
        return get(zone, name)
    try:
        return get(default_zone, name)
    except NotFoundError:
        pass
    matches = [found for found in list_all() if found.name == name]
    if not matches:
        raise NotFoundError(f"There is no {what} named '{name}' in any zone of the project.", hint=list_hint)
    if len(matches) > 1:
        zones = ", ".join(found.zone for found in matches)
        raise UsageError(f"Several zones have a {what} named '{name}' ({zones}).", hint="Say which with --zone.")
    return matches[0]


def locate_node(api: TpuApi, name: str, zone: str | None, default_zone: str) -> NodeInfo:
    check_resource_id(name)
    return locate(api.get_node, lambda: api.list_nodes(None), name, zone, default_zone, "TPU",
                  "`tpuctl list --all-zones` shows the project's TPUs.")


@dataclass(frozen=True)
class Deleted:
    """TPUs deleted (or, on a dry run, that would be); `waited`: until Cloud TPU finished."""

    nodes: tuple[NodeInfo, ...]
    dry_run: bool = False
    waited: bool = True


def delete(ctx: Context, names: list[str], zone: str | None, *, force: bool = False, dry_run: bool = False,
           wait: bool = True, confirm: Callable[[list[NodeInfo]], None] = lambda nodes: None,
           watch: Watch = Quiet()) -> Deleted:
    """`tpuctl delete`: find each TPU, refuse another member's without `force`, have `confirm`
    agree (it raises to stop), then delete them one by one."""
    from tpuctl.services.roles import check_owner

    targets = [locate_node(ctx.api, name, zone, ctx.profile.zone) for name in dict.fromkeys(names)]
    if dry_run:
        return Deleted(tuple(targets), dry_run=True)
    for node in targets:
        check_owner(ctx.books, node, force, "delete")
    confirm(targets)
    for node in targets:
        with watch.waiting(f"Deleting {node.name}") as update:
            delete_node(ctx.api, ctx.books, node, wait=wait, on_progress=update)
    return Deleted(tuple(targets), waited=wait)


def delete_node(api: TpuApi, books: Books, node: NodeInfo, *, wait: bool = True,
                on_progress: Progress | None = None) -> None:
    """Delete, then record it; a node DELETING no longer accrues (sync reads it the same way).
    It stops spending, so it acts even when the store is away (its events wait in the outbox)."""
    ask_delete(api, books, node, wait=wait, on_progress=on_progress)
    books.record(NODE_DELETED, deleted_payload(node))


def ask_delete(api: TpuApi, books: Books, node: NodeInfo, *, wait: bool = True,
               on_progress: Progress | None = None) -> None:
    """Bring the ledger in line with the node as listed, then have Cloud TPU delete it; the
    caller records node.deleted (`deleted_payload`) once Cloud TPU has accepted."""
    books.allow_offline().observe_nodes([node])
    api.delete_node(node.zone, node.name, wait=wait, on_progress=on_progress)


def deleted_payload(node: NodeInfo, reason: str | None = None) -> dict:
    """The node.deleted payload; `reason` says why tpuctl deleted it (a job's release)."""
    return {**info_payload(node), **({"reason": reason} if reason else {})}


def stop_node(api: TpuApi, books: Books, node: NodeInfo, *, wait: bool = True,
              on_progress: Progress | None = None) -> NodeInfo:
    if node.accelerator.multi_host:
        raise UsageError(f"TPU '{node.name}' is a multi-host slice ({node.accelerator_type}); Cloud TPU cannot stop those.",
                         hint="Delete it instead, or keep it running.")
    return _change(api, books.allow_offline(), node, api.stop_node, NODE_STOPPED, wait, on_progress)


def start_usage(books: Books, node: NodeInfo, default_hours: float = DEFAULT_HOURS) -> UsageRequest:
    """A stopped TPU that starts spends again, so it is weighed as a create is: for what is
    left of its lease (`default_hours` once the lease is over), against its owner's budget.
    A stop the ledger has not seen is recorded first, so the node is not counted twice."""
    books.observe_nodes([node])
    now = books.clock.now()
    left = int((node.lease_until - now).total_seconds()) if node.lease_until else 0
    hours = Decimal(left) / SECONDS_PER_HOUR if left > 0 else Decimal(str(default_hours))
    return UsageRequest.for_type(node.owner or books.actor, node.zone, node.accelerator_type, node.spot, hours,
                                 chips=node.chips, request_id=node.labels.get(REQUEST_LABEL))


def stop(ctx: Context, name: str, zone: str | None, *, force: bool = False, watch: Watch = Quiet()) -> NodeInfo:
    """`tpuctl stop`: another member's TPU only with `force`."""
    from tpuctl.services.roles import check_owner

    node = locate_node(ctx.api, name, zone, ctx.profile.zone)
    check_owner(ctx.books, node, force, "stop")
    with watch.waiting(f"Stopping {node.name}") as update:
        return stop_node(ctx.api, ctx.books, node, on_progress=update)


def start(ctx: Context, name: str, zone: str | None, *, override: str | None = None, force: bool = False,
          watch: Watch = Quiet()) -> NodeInfo:
    """`tpuctl start`: admitted for the rest of its lease (or the profile's hours) first."""
    from tpuctl.services.roles import check_may_start, check_owner

    node = locate_node(ctx.api, name, zone, ctx.profile.zone)
    check_owner(ctx.books, node, force, "start")
    check_may_start(ctx.books, node)
    admission = ctx.books.admit(start_usage(ctx.books, node, ctx.profile.hours), override)
    watch.admitted(admission)
    with watch.waiting(f"Starting {node.name}") as update:
        return start_node(ctx.api, ctx.books, node, admission, on_progress=update)


@dataclass(frozen=True)
class NodesShown:
    """What `tpuctl list` shows: the nodes, where it looked, and what it could not see."""

    nodes: list[NodeInfo]
    scope: str | None                # the zone listed (None: every zone)
    unreachable: tuple[str, ...]     # zones that could not be listed
    overdue: str | None              # the reaper has not run for too long


def listing(ctx: Context, zone: str | None = None, *, all_zones: bool = False, mine: bool = False) -> NodesShown:
    """`tpuctl list`."""
    from tpuctl.services.reap_lock import overdue_warning

    scope = None if all_zones else (zone or ctx.profile.zone)
    found = list_nodes(ctx.api, scope, member=ctx.profile.member if mine else None)
    return NodesShown(list(found), scope, tuple(found.unreachable), overdue_warning(ctx.store, ctx.clock))


def start_node(api: TpuApi, books: Books, node: NodeInfo, admission: Admission | None = None, *,
               wait: bool = True, on_progress: Progress | None = None) -> NodeInfo:
    """Start an admitted TPU (admitted here, for the default hours past its lease, if not yet:
    after the check `start` makes before it admits)."""
    if admission is None:
        from tpuctl.services.roles import check_may_start

        check_may_start(books, node)
        books.admit(start_usage(books, node))
    return _change(api, books, node, api.start_node, NODE_STARTED, wait, on_progress)


def _change(api: TpuApi, books: Books, node: NodeInfo, call, kind: str, wait: bool,
            on_progress: Progress | None) -> NodeInfo:
    """Stop or start, then record it once Cloud TPU confirms (no wait: the next sync sees it)."""
    books.observe_nodes([node])
    after = call(node.zone, node.name, wait=wait, on_progress=on_progress) or api.get_node(node.zone, node.name)
    if wait:
        books.record(kind, info_payload(after))
    return after
