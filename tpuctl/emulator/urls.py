"""Route table: (HTTP method, path regex) -> handler name.

API routes follow the client's URI templates (`/v2/{parent=projects/*/locations/*}/nodes`,
...) and call `TpuResponses`; every v2 path is also served under `/v2alpha1/`, which adds the
maintenance methods (paths as in gcloud's v2alpha1 client, `tpu_v2alpha1_client.py`).
Control routes (`/emulator/v1/...`) call `ControlResponses`.
"""

from __future__ import annotations

import re

_PROJECT = r"projects/[^/:]+"
_PARENT = rf"(?P<parent>{_PROJECT}/locations/[^/:]+)"


def _name(collection: str) -> str:
    return rf"(?P<name>{_PROJECT}/locations/[^/:]+/{collection}/[^/:]+)"


def _api(pattern: str, versions: str = "v2|v2alpha1") -> re.Pattern:
    return re.compile(rf"^/(?:{versions})/{pattern}$")


API_ROUTES: list[tuple[str, re.Pattern, str]] = [
    # `gcloud compute tpus locations` still asks v1; a location looks the same there.
    ("GET", _api(rf"(?P<name>{_PROJECT})/locations", "v1|v2|v2alpha1"), "list_locations"),
    ("GET", _api(rf"(?P<name>{_PROJECT}/locations/[^/:]+)", "v1|v2|v2alpha1"), "get_location"),
    ("POST", _api(rf"{_PARENT}:generateServiceIdentity"), "generate_service_identity"),
    ("GET", _api(rf"{_PARENT}/nodes"), "list_nodes"),
    ("POST", _api(rf"{_PARENT}/nodes"), "create_node"),
    ("GET", _api(_name("nodes")), "get_node"),
    ("DELETE", _api(_name("nodes")), "delete_node"),
    ("PATCH", _api(_name("nodes")), "update_node"),
    ("POST", _api(_name("nodes") + ":stop"), "stop_node"),
    ("POST", _api(_name("nodes") + ":start"), "start_node"),
    ("POST", _api(_name("nodes") + ":getGuestAttributes"), "get_guest_attributes"),
    ("POST", _api(_name("nodes") + ":simulateMaintenanceEvent", "v2alpha1"), "simulate_maintenance_event"),
    ("POST", _api(_name("nodes") + ":performMaintenance", "v2alpha1"), "perform_maintenance"),
    ("GET", _api(rf"{_PARENT}/queuedResources"), "list_queued_resources"),
    ("POST", _api(rf"{_PARENT}/queuedResources"), "create_queued_resource"),
    ("GET", _api(_name("queuedResources")), "get_queued_resource"),
    ("DELETE", _api(_name("queuedResources")), "delete_queued_resource"),
    ("POST", _api(_name("queuedResources") + ":reset"), "reset_queued_resource"),
    ("POST", _api(_name("queuedResources") + ":performMaintenanceQueuedResource", "v2alpha1"),
     "perform_maintenance_queued_resource"),
    ("GET", _api(rf"{_PARENT}/operations"), "list_operations"),
    ("GET", _api(_name("operations")), "get_operation"),
    ("DELETE", _api(_name("operations")), "delete_operation"),
    ("POST", _api(_name("operations") + ":cancel"), "cancel_operation"),
    ("GET", _api(rf"{_PARENT}/acceleratorTypes"), "list_accelerator_types"),
    ("GET", _api(_name("acceleratorTypes")), "get_accelerator_type"),
    ("GET", _api(rf"{_PARENT}/runtimeVersions"), "list_runtime_versions"),
    ("GET", _api(_name("runtimeVersions")), "get_runtime_version"),
]

CONTROL_ROUTES: list[tuple[str, re.Pattern, str]] = [
    (method, re.compile(rf"^/emulator/v1/{path}$"), handler)
    for method, path, handler in [
        ("GET", "health", "health"),
        ("GET", "settings", "get_settings"),
        ("POST", "reset", "reset"),
        ("POST", "configure", "configure"),
        ("POST", "faults", "faults"),
        ("POST", "preempt", "preempt"),
        ("POST", "maintenance", "maintenance"),
        ("POST", "guest-attributes", "set_guest_attribute"),
        ("POST", "capacity", "capacity"),
        ("POST", "clock/advance", "advance_clock"),
        ("GET", "usage", "usage"),
        ("GET", "billing-export", "billing_export"),
    ]
]


def match(routes: list[tuple[str, re.Pattern, str]], method: str, path: str) -> tuple[str, dict] | None:
    """The handler name and path groups for a request, or None."""
    for route_method, pattern, handler in routes:
        found = pattern.match(path)
        if found and route_method == method:
            return handler, found.groupdict()
    return None
