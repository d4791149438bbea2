"""A queued resource (a request for TPUs that Cloud TPU fills when capacity frees)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tpuctl.domain.nodes import OWNER_LABEL

WAITING_STATES = frozenset({"CREATING", "ACCEPTED", "WAITING_FOR_RESOURCES", "PROVISIONING"})
HOLDING_STATES = frozenset({"FAILED", "SUSPENDED", "SUSPENDING"})   # hold quota until deleted
DONE_STATES = frozenset({"ACTIVE", "FAILED", "SUSPENDED"})


@dataclass(frozen=True)
class QueuedInfo:
    name: str
    zone: str
    state: str                       # QueuedResourceState.State name
    accelerator_type: str
    node_ids: tuple[str, ...]
    tier: str                        # "spot" | "guaranteed" | "on-demand"
    labels: dict[str, str] = field(default_factory=dict)
    create_time: datetime | None = None
    valid_until: datetime | None = None
    valid_after: datetime | None = None
    failure: str = ""                # why it FAILED, in the API's words
    initiator: str = ""              # USER or SERVICE (e.g. a spot preemption suspends it)
    provisioned: datetime | None = None   # when its first TPU was made: its wait ended then

    def waited(self, now: datetime) -> float:
        """Seconds it waited: until its first TPU was made, or until now while it waits."""
        if self.create_time is None:
            return 0.0
        return max(((self.provisioned or now) - self.create_time).total_seconds(), 0.0)

    @property
    def owner(self) -> str | None:
        return self.labels.get(OWNER_LABEL)

    @property
    def waiting(self) -> bool:
        return self.state in WAITING_STATES

    @property
    def spot(self) -> bool:
        return self.tier == "spot"


MAX_COUNT = 100      # nodes in one queued request: more is a typo, not a study group's slice


def node_ids_for(name: str, count: int) -> list[str]:
    """One node keeps the request's name; several are NAME-0, NAME-1, ..."""
    return [name] if count == 1 else [f"{name}-{i}" for i in range(count)]
