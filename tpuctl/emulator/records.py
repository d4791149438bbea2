"""Stored records of the emulated Cloud TPU world: constants, settings and pure helpers.

A record is the API's camelCase JSON plus private keys starting with `_`, which `view()`
drops when a reply is formatted. Nothing here knows about `World` or time passing: this
module holds the state-file layout (`new_state`, `STATE_VERSION`), the settings
(`WorldSettings`), the node-state tables the rules use, and the parsing and validation of
request fields (ids, labels, timestamps, durations, node bodies).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone

from tpuctl.emulator import catalog
from tpuctl.emulator.exceptions import InvalidArgument
from tpuctl.errors import UsageError

STATE_VERSION = 1
MAX_DONE_OPERATIONS = 2000
_ID_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")
TYPE_PREFIX = "type.googleapis.com/"
NODE_TYPE = TYPE_PREFIX + "google.cloud.tpu.v2.Node"
QUEUED_RESOURCE_TYPE = TYPE_PREFIX + "google.cloud.tpu.v2.QueuedResource"
EMPTY_TYPE = TYPE_PREFIX + "google.protobuf.Empty"
METADATA_TYPE = TYPE_PREFIX + "google.cloud.tpu.v2.OperationMetadata"

# A node in one of these states holds its chips in the zone's capacity (not STOPPED, PREEMPTED, DELETING).
HOLDING_CAPACITY = frozenset({"CREATING", "READY", "STARTING", "STOPPING", "RESTARTING", "REPAIRING", "REIMAGING"})
# state -> (next state, the setting holding the delay); None: the node is gone.
TIMED_TRANSITIONS = {
    "CREATING": ("READY", "boot_seconds"),
    "STARTING": ("READY", "start_seconds"),
    "STOPPING": ("STOPPED", "stop_seconds"),
    "DELETING": (None, "delete_seconds"),
    "REPAIRING": ("READY", "maintenance_seconds"),   # a maintenance event (maintenance.py)
}
GONE = "GONE"  # what a delete operation waits for
# A request's node in one of these states (or gone) suspends the request.
LOST = frozenset({"PREEMPTED", "DELETING", "TERMINATED"})
STATE_DATA = {"CREATING": "creatingData", "ACCEPTED": "acceptedData", "PROVISIONING": "provisioningData",
               "FAILED": "failedData", "DELETING": "deletingData", "ACTIVE": "activeData",
               "SUSPENDING": "suspendingData", "SUSPENDED": "suspendedData"}
_DISK_MODES = {0: "DISK_MODE_UNSPECIFIED", 1: "READ_WRITE", 2: "READ_ONLY"}
# Node fields a create request may set; everything else is output only.
NODE_INPUT_FIELDS = ("description", "labels", "metadata", "tags", "networkConfig", "networkConfigs",
                      "serviceAccount", "schedulingConfig", "dataDisks", "shieldedInstanceConfig",
                      "cidrBlock", "runtimeVersion", "autocheckpointEnabled", "bootDiskConfig")
# updateMask paths (camelCase or snake_case) -> Node field
UPDATABLE = {"description": "description", "tags": "tags", "labels": "labels", "metadata": "metadata",
              "networkConfig.enableExternalIps": "networkConfig.enableExternalIps",
              "network_config.enable_external_ips": "networkConfig.enableExternalIps"}


@dataclass
class WorldSettings:
    """How the emulated world behaves; stored in the state, changeable live (`configure`)."""

    boot_seconds: float = 0.0          # CREATING -> READY
    delete_seconds: float = 0.0        # DELETING -> gone
    stop_seconds: float = 0.0          # STOPPING -> STOPPED
    start_seconds: float = 0.0         # STARTING -> READY
    maintenance_seconds: float = 0.0   # REPAIRING -> READY during a maintenance event
    latency_ms: float = 0.0            # added to every API reply
    fail_rate: float = 0.0             # fraction of API requests answered 503 or 429 (not applied)
    fail_operations: float = 0.0      # fraction of node creates whose operation ends in an error
    spot_preempt_after_seconds: float | None = None   # a spot node is preempted this long after READY
    spot_preempt_rate_per_hour: float = 0.0           # or at random (exponential, seeded)
    seed: int = 0
    capacity: dict[str, dict[str, int]] = field(default_factory=dict)  # zone -> generation -> chips
    unreachable_zones: list[str] = field(default_factory=list)   # left out of `locations/-` lists, named in `unreachable`

    @classmethod
    def from_dict(cls, data: dict) -> WorldSettings:
        return cls().updated(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def updated(self, **changes) -> WorldSettings:
        """A copy with `changes`; unknown names are an error, not silently ignored."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise InvalidArgument(f"Unknown emulator setting(s): {', '.join(unknown)}. "
                                  f"Known: {', '.join(sorted(known))}.")
        data = {**self.to_dict(), **changes}
        try:
            data["capacity"] = {zone: {generation_of(g): int(c) for g, c in gens.items() if c is not None}
                                for zone, gens in (data["capacity"] or {}).items()}
        except (AttributeError, TypeError, ValueError):
            raise InvalidArgument("capacity must map zone -> generation -> chips (an integer).") from None
        return WorldSettings(**data)


def parse_capacity(values: list[str]) -> dict[str, dict[str, int]]:
    """`ZONE:GENERATION=CHIPS` flag values (e.g. `us-central2-b:v4=32`) as `WorldSettings.capacity`."""
    capacity: dict[str, dict[str, int]] = {}
    for value in values:
        zone, _, rest = value.partition(":")
        generation, _, chips = rest.partition("=")
        if not (zone and generation and chips.isdigit()):
            raise ValueError(f"'{value}' is not ZONE:GENERATION=CHIPS, e.g. us-central2-b:v4=32.")
        capacity.setdefault(zone, {})[generation] = int(chips)
    return capacity


def generation_of(generation_or_type: str) -> str:
    """`v4`, or the generation of a type name such as `v4-8`; an unknown one is a 400."""
    try:
        return catalog.generation_of(generation_or_type)
    except UsageError:
        raise InvalidArgument(f"'{generation_or_type}' is neither a TPU generation nor an accelerator type.") from None


def new_state(settings: WorldSettings | None = None) -> dict:
    """An empty world: what a fresh state file holds."""
    return {"version": STATE_VERSION, "settings": (settings or WorldSettings()).to_dict(), "serial": 0, "draws": 0,
            "clockOffsetSeconds": 0.0, "nodes": {}, "operations": {}, "pending": {}, "queuedResources": {},
            "requestIds": {}, "faults": [], "history": []}


def view(record: dict) -> dict:
    """A stored record as the API shows it: without the private `_` keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def snapshot(record: dict) -> dict:
    """A view that later changes to the record do not reach (operation results, hook arguments)."""
    return json.loads(json.dumps(view(record)))


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """An RFC 3339 timestamp as protobuf JSON writes it (`Z`, up to nanoseconds)."""
    found = _TIME_RE.match(text or "")
    if not found:
        raise InvalidArgument(f"Invalid timestamp '{text}': expected RFC 3339, e.g. 2026-01-01T00:00:00Z.")
    base, fraction, zone = found.groups()
    stamp = datetime.fromisoformat(base + ("+00:00" if zone in ("Z", "z") else zone))
    return stamp.timestamp() + float("0" + (fraction or ""))


def parse_duration(text: str) -> float:
    """A protobuf Duration in JSON form, e.g. `3600s` or `1.5s`."""
    if not isinstance(text, str) or not text.endswith("s"):
        raise InvalidArgument(f"Invalid duration '{text}': expected seconds such as '3600s'.")
    try:
        return float(text[:-1])
    except ValueError:
        raise InvalidArgument(f"Invalid duration '{text}': expected seconds such as '3600s'.") from None


def zone_of(name: str) -> str:
    """`projects/P/locations/Z/...` -> Z."""
    return name.split("/")[3]


def check_resource_id(resource_id: str | None, what: str) -> str:
    if not resource_id or not _ID_RE.match(resource_id):
        raise InvalidArgument(
            f"Invalid {what} '{resource_id or ''}': it must be 1-63 characters, lowercase letters, digits "
            "and hyphens, start with a letter and not end with a hyphen (regex [a-z]([-a-z0-9]*[a-z0-9])?).")
    return resource_id


def check_labels(labels: dict) -> dict:
    if not isinstance(labels, dict) or len(labels) > 64:
        raise InvalidArgument("Labels must be a map of at most 64 entries.")
    for key, value in labels.items():
        if not _LABEL_KEY_RE.match(key) or not isinstance(value, str) or not _LABEL_VALUE_RE.match(value):
            raise InvalidArgument(
                f"Invalid label {key}={value}: keys are 1-63 lowercase letters, digits, '_' or '-' starting "
                "with a letter; values are up to 63 of the same.")
    return labels


def normalize_node_body(body: dict) -> dict:
    """A Node from a request with enum numbers (the Python client's `enum-encoding=int`) as names."""
    body = dict(body)
    config = body.get("acceleratorConfig")
    if config and isinstance(config.get("type"), int):
        body["acceleratorConfig"] = {**config, "type": catalog.CONFIG_TYPE_NUMBERS.get(config["type"], config["type"])}
    if body.get("dataDisks"):
        body["dataDisks"] = [{**d, "mode": _DISK_MODES.get(d.get("mode"), d.get("mode", "READ_WRITE"))}
                             for d in body["dataDisks"]]
    return body
