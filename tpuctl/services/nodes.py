"""TPU VM lifecycle use cases: create, find, list, stop, start, delete.

Services get the Cloud TPU adapter and a clock as arguments and return plain data; they
never print. Every node tpuctl creates carries owner, lease and request labels.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tpuctl.adapters.tpu import Progress, TpuApi
from tpuctl.config import Profile
from tpuctl.domain.accelerators import AcceleratorType, parse_accelerator_type
from tpuctl.domain.clock import Clock
from tpuctl.domain.nodes import (
    LEASE_LABEL,
    MANAGED_LABEL,
    OWNER_LABEL,
    REQUEST_LABEL,
    NodeInfo,
    check_resource_id,
    lease_label_value,
)
from tpuctl.errors import NotFoundError, UsageError


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

    @property
    def accelerator(self) -> AcceleratorType:
        return parse_accelerator_type(self.accelerator_type)


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


def create_node(api: TpuApi, member: str, request: CreateRequest, clock: Clock, *,
                wait: bool = True, on_progress: Progress | None = None) -> NodeInfo:
    lease_until = lease_end(clock.now(), request.hours)
    labels = {**request.labels, **owner_labels(member, lease_until, new_request_id())}
    return api.create_node(
        request.zone,
        request.name,
        accelerator_type=request.accelerator_type,
        runtime_version=request.runtime_version,
        spot=request.spot,
        labels=labels,
        metadata=request.metadata,
        wait=wait,
        on_progress=on_progress,
    )


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


def delete_node(api: TpuApi, node: NodeInfo, *, wait: bool = True, on_progress: Progress | None = None) -> None:
    api.delete_node(node.zone, node.name, wait=wait, on_progress=on_progress)


def stop_node(api: TpuApi, node: NodeInfo, *, wait: bool = True, on_progress: Progress | None = None) -> NodeInfo:
    if node.accelerator.multi_host:
        raise UsageError(f"TPU '{node.name}' is a multi-host slice ({node.accelerator_type}); Cloud TPU cannot stop those.",
                         hint="Delete it instead, or keep it running.")
    return api.stop_node(node.zone, node.name, wait=wait, on_progress=on_progress) or api.get_node(node.zone, node.name)


def start_node(api: TpuApi, node: NodeInfo, *, wait: bool = True, on_progress: Progress | None = None) -> NodeInfo:
    return api.start_node(node.zone, node.name, wait=wait, on_progress=on_progress) or api.get_node(node.zone, node.name)


def list_types(api: TpuApi, zone: str) -> list[AcceleratorType]:
    """The zone's accelerator types with their chips, smallest first."""
    types = []
    for name in api.list_accelerator_types(zone):
        try:
            types.append(parse_accelerator_type(name))
        except UsageError:
            continue  # a type this tpuctl does not know yet; never guess its chips
    return sorted(types, key=lambda t: (t.generation, t.chips))
