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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from tpuctl.adapters.tpu import Progress, TpuApi
from tpuctl.config import Profile
from tpuctl.domain.accelerators import AcceleratorType, parse_accelerator_type
from tpuctl.domain.budgets import Admission, UsageRequest
from tpuctl.domain.events import NODE_CREATED, NODE_DELETED, NODE_READY, NODE_STARTED, NODE_STOPPED, node_payload
from tpuctl.domain.metering import hourly_price, node_info_payload
from tpuctl.domain.nodes import (
    ACCRUING_STATES,
    LEASE_LABEL,
    MANAGED_LABEL,
    OWNER_LABEL,
    REQUEST_LABEL,
    NodeInfo,
    check_resource_id,
    lease_label_value,
)
from tpuctl.errors import ConfigError, NotFoundError, TpuctlError, UsageError
from tpuctl.services.ledger import Books


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
    if hours <= 0:
        raise UsageError(f"--hours must be more than 0, not {hours:g}.")
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


def admit(books: Books, request: CreateRequest, override_reason: str | None = None,
          owner: str | None = None) -> Admission:
    """Budget admission for a create, for `owner` (default: whoever acts); RequestRefused,
    with the numbers, if it does not fit."""
    return books.admit(request.usage(owner or books.actor), override_reason)


@dataclass(frozen=True)
class TypePrice:
    """What an hour of a type costs in a zone; None, with the reason, where nothing prices it."""

    currency: str
    on_demand: Decimal | None
    spot: Decimal | None
    problem: str | None = None


def type_prices(books: Books, zone: str, types: list[AcceleratorType]) -> list[TypePrice]:
    pricing = books.pricing()
    found = []
    for accelerator in types:
        try:
            found.append(TypePrice(pricing.currency, hourly_price(pricing, zone, accelerator.name, False),
                                   hourly_price(pricing, zone, accelerator.name, True)))
        except ConfigError as exc:
            found.append(TypePrice(pricing.currency, None, None, exc.message))
    return found


def info_payload(node: NodeInfo) -> dict:
    """The node.* payload of what tpuctl did to a node the API showed it."""
    return node_info_payload(node, source="tpuctl")


def create_node(api: TpuApi, books: Books, request: CreateRequest, admission: Admission, *,
                wait: bool = True, on_progress: Progress | None = None) -> NodeInfo:
    """Create an admitted request's TPU for the admitted member, recording it before the API is called."""
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
    except TpuctlError:
        close_if_never_made(api.get_node, books, NODE_DELETED, planned, request.zone, request.name)
        raise
    if node.state in ACCRUING_STATES:
        books.record(NODE_READY, info_payload(node))
    return node


def close_if_never_made(get, books: Books, kind: str, planned: dict, zone: str, name: str) -> None:
    """After a failed create: if nothing of this request exists, close its record now with
    `kind` (otherwise, or if Cloud TPU cannot be asked, the next sync settles it)."""
    try:
        found = get(zone, name)
    except NotFoundError:
        found = None
    except TpuctlError:
        return
    if found is None or found.labels.get(REQUEST_LABEL) != planned["request_id"]:
        books.record(kind, planned)


def list_nodes(api: TpuApi, zone: str | None, *, member: str | None = None) -> list[NodeInfo]:
    """Nodes in one zone (or all when zone is None), optionally only `member`'s."""
    nodes = api.list_nodes(zone)
    if member is not None:
        nodes = [n for n in nodes if n.owner == member]
    return sorted(nodes, key=lambda n: (n.zone, n.name))


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


def delete_node(api: TpuApi, books: Books, node: NodeInfo, *, wait: bool = True,
                on_progress: Progress | None = None) -> None:
    """Delete, then record it; a node DELETING no longer accrues (sync reads it the same way)."""
    ask_delete(api, books, node, wait=wait, on_progress=on_progress)
    books.record(NODE_DELETED, deleted_payload(node))


def ask_delete(api: TpuApi, books: Books, node: NodeInfo, *, wait: bool = True,
               on_progress: Progress | None = None) -> None:
    """Bring the ledger in line with the node as listed, then have Cloud TPU delete it; the
    caller records node.deleted (`deleted_payload`) once Cloud TPU has accepted."""
    books.observe_nodes([node])
    api.delete_node(node.zone, node.name, wait=wait, on_progress=on_progress)


def deleted_payload(node: NodeInfo, reason: str | None = None) -> dict:
    """The node.deleted payload; `reason` says why tpuctl deleted it (a job's release)."""
    return {**info_payload(node), **({"reason": reason} if reason else {})}


def stop_node(api: TpuApi, books: Books, node: NodeInfo, *, wait: bool = True,
              on_progress: Progress | None = None) -> NodeInfo:
    if node.accelerator.multi_host:
        raise UsageError(f"TPU '{node.name}' is a multi-host slice ({node.accelerator_type}); Cloud TPU cannot stop those.",
                         hint="Delete it instead, or keep it running.")
    return _change(api, books, node, api.stop_node, NODE_STOPPED, wait, on_progress)


def start_node(api: TpuApi, books: Books, node: NodeInfo, *, wait: bool = True,
               on_progress: Progress | None = None) -> NodeInfo:
    return _change(api, books, node, api.start_node, NODE_STARTED, wait, on_progress)


def _change(api: TpuApi, books: Books, node: NodeInfo, call, kind: str, wait: bool,
            on_progress: Progress | None) -> NodeInfo:
    """Stop or start, then record it once Cloud TPU confirms (no wait: the next sync sees it)."""
    books.observe_nodes([node])
    after = call(node.zone, node.name, wait=wait, on_progress=on_progress) or api.get_node(node.zone, node.name)
    if wait:
        books.record(kind, info_payload(after))
    return after


def list_types(api: TpuApi, zone: str) -> list[AcceleratorType]:
    """The zone's accelerator types with their chips, smallest first."""
    types = []
    for name in api.list_accelerator_types(zone):
        try:
            types.append(parse_accelerator_type(name))
        except UsageError:
            continue  # a type this tpuctl does not know yet; never guess its chips
    return sorted(types, key=lambda t: (t.generation, t.chips))
