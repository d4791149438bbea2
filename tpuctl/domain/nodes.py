"""A TPU VM as tpuctl sees it, and the labels tpuctl puts on every node it creates.

Labels are how the ledger and the reaper know who owns a node and until when: a node
without `tpuctl-owner` was not made by tpuctl and is billed to "unattributed".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from tpuctl.domain.accelerators import AcceleratorType, parse_accelerator_type
from tpuctl.errors import TpuctlError, UsageError

OWNER_LABEL = "tpuctl-owner"
LEASE_LABEL = "tpuctl-lease-until"      # epoch seconds (label values allow only [a-z0-9_-])
LEASE_MINUTES_LABEL = "tpuctl-lease-minutes"  # lease from creation, for nodes a queue makes later
JOB_LABEL = "tpuctl-job"
KEEP_NODE_LABEL = "tpuctl-keep-node"    # "true": its job's config keeps it when the job ends (a cancel offline reads it)
AGENT_LABEL = "tpuctl-agent"            # "true": its startup script runs tpuctl's agent (jobs can run on it)
REQUEST_LABEL = "tpuctl-request"        # idempotency key of the create that made the node
MANAGED_LABEL = "tpuctl-managed"        # "true" on everything tpuctl made

# Cloud TPU resource ids: lowercase letter first, then letters, digits, hyphens; <= 63.
_RESOURCE_ID_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
# Zones: region (us-central2) plus a letter; a zone is a path segment of every API call.
ZONE_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
# GCP label keys/values: lowercase letters, digits, '_' and '-'; keys start with a letter.
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")

ACCRUING_STATES = frozenset({"READY", "RESTARTING", "REIMAGING", "REPAIRING", "STOPPING"})
TERMINAL_STATES = frozenset({"PREEMPTED", "TERMINATED", "DELETING"})


def check_resource_id(name: str, what: str = "TPU name") -> str:
    if not _RESOURCE_ID_RE.match(name):
        raise UsageError(
            f"'{name}' is not a valid {what}.",
            hint="Use 1-63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen.",
        )
    return name


def check_zone(zone: str, what: str = "Zone", error: Callable[..., TpuctlError] = UsageError) -> str:
    """A zone such as us-central2-b; anything else would change the API path it is put in."""
    if not ZONE_RE.match(zone):
        raise error(f"{what} '{zone}' is not a zone like us-central2-b.", hint="`tpuctl zones` lists the zones.")
    return zone


def check_label(key: str, value: str) -> None:
    if not _LABEL_KEY_RE.match(key):
        raise UsageError(
            f"'{key}' is not a valid label key.",
            hint="Label keys are 1-63 lowercase letters, digits, '_' or '-', starting with a letter.",
        )
    if not _LABEL_VALUE_RE.match(value):
        raise UsageError(
            f"'{value}' is not a valid value for label '{key}'.",
            hint="Label values are up to 63 lowercase letters, digits, '_' or '-'.",
        )


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """Parse `k=v` strings from the command line into a checked label dict."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"Label '{pair}' must be written key=value.")
        check_label(key, value)
        if key.startswith("tpuctl-"):
            raise UsageError(f"Label '{key}' is reserved: tpuctl sets the tpuctl-* labels itself.")
        labels[key] = value
    return labels


@dataclass(frozen=True)
class NodeInfo:
    """One TPU VM as read from the API, in plain terms."""

    name: str                      # short id, e.g. "alice-v4"
    zone: str
    accelerator_type: str
    state: str                     # Node.State name: CREATING, READY, ...
    spot: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    runtime_version: str = ""
    create_time: datetime | None = None
    health: str = ""
    workers: int = 1
    queued_resource: str = ""
    chips: int | None = None        # from accelerator_config when the API gives it

    @property
    def owner(self) -> str | None:
        return self.labels.get(OWNER_LABEL)

    @property
    def lease_until(self) -> datetime | None:
        raw = self.labels.get(LEASE_LABEL)
        if raw and raw.isdigit():
            return datetime.fromtimestamp(int(raw), tz=timezone.utc)
        minutes = self.labels.get(LEASE_MINUTES_LABEL)
        if minutes and minutes.isdigit() and self.create_time is not None:
            return self.create_time + timedelta(minutes=int(minutes))
        return None

    @property
    def accelerator(self) -> AcceleratorType:
        return parse_accelerator_type(self.accelerator_type)

    @property
    def chip_count(self) -> int:
        return self.chips if self.chips is not None else self.accelerator.chips


def lease_label_value(until: datetime) -> str:
    return str(int(until.timestamp()))
