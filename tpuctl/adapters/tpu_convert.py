"""Cloud TPU's protos in plain terms (NodeInfo, QueuedInfo): the only reader of tpu_v2 messages."""

from __future__ import annotations

from datetime import datetime, timezone

from tpuctl.domain.accelerators import from_accelerator_config
from tpuctl.domain.nodes import NodeInfo
from tpuctl.domain.queued import QueuedInfo
from tpuctl.errors import UsageError


def node_info(node) -> NodeInfo:
    """A tpu_v2.Node in plain terms (state by name: gcloud and the proto number them differently)."""
    from google.cloud import tpu_v2

    parts = node.name.split("/")
    zone, short = parts[3], parts[-1]
    chips = None
    config = node.accelerator_config
    if config and config.topology and config.type_:
        try:
            chips = from_accelerator_config(tpu_v2.AcceleratorConfig.Type(config.type_).name, config.topology).chips
        except UsageError:
            chips = None
    sched = node.scheduling_config
    return NodeInfo(
        name=short,
        zone=zone,
        accelerator_type=node.accelerator_type,
        state=tpu_v2.Node.State(node.state).name,
        spot=bool(sched and (sched.spot or sched.preemptible)),
        labels=dict(node.labels),
        runtime_version=node.runtime_version,
        create_time=_aware(node.create_time),
        health=tpu_v2.Node.Health(node.health).name if node.health else "",
        workers=max(1, len(node.network_endpoints)),
        queued_resource=node.queued_resource,
        chips=chips,
    )


def queued_info(resource) -> QueuedInfo:
    from google.cloud import tpu_v2

    parts = resource.name.split("/")
    specs = list(resource.tpu.node_spec)
    first = specs[0].node if specs else tpu_v2.Node()
    node_ids: list[str] = []
    for spec in specs:
        if spec.node_id:
            node_ids.append(spec.node_id)
        elif spec.multislice_params and spec.multislice_params.node_count:
            prefix = spec.multislice_params.node_id_prefix or parts[-1]
            node_ids.extend(f"{prefix}-{i}" for i in range(spec.multislice_params.node_count))
    tier = "spot" if "spot" in resource else "guaranteed" if "guaranteed" in resource else "on-demand"
    state = resource.state
    policy = resource.queueing_policy
    failure = state.failed_data.error.message if "failed_data" in state else ""
    return QueuedInfo(
        name=parts[-1],
        zone=parts[3],
        state=tpu_v2.QueuedResourceState.State(state.state).name,
        accelerator_type=first.accelerator_type,
        node_ids=tuple(node_ids),
        tier=tier,
        labels=dict(first.labels),
        create_time=_aware(resource.create_time),
        valid_until=_aware(policy.valid_until_time) if "valid_until_time" in policy else None,
        valid_after=_aware(policy.valid_after_time) if "valid_after_time" in policy else None,
        failure=failure,
        initiator=tpu_v2.QueuedResourceState.StateInitiator(state.state_initiator).name if state.state_initiator else "",
    )


def _aware(value) -> datetime | None:
    """Proto timestamps in aware UTC; an unset one (epoch 0) is None."""
    if not isinstance(value, datetime) or value.timestamp() <= 0:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
