"""How a create request's body becomes a node record: checked against the zone's catalogue.

The node-building half of `World` (mixed into it); relies on `settings`, `serial`.
"""

from __future__ import annotations

import random

from tpuctl.emulator import catalog
from tpuctl.emulator.exceptions import InvalidArgument
from tpuctl.emulator.records import NODE_INPUT_FIELDS, check_labels, rfc3339


class NodeSpecs:
    def _build_node(self, name: str, zone: str, body: dict, at: float, queued_resource: dict | None = None) -> dict:
        """A new CREATING node from a create request's body, checked against the zone's catalogue."""
        accel = accelerator_of(zone, body)
        check_runtime(zone, accel, body)
        node = {k: body[k] for k in NODE_INPUT_FIELDS if k in body}
        check_labels(node.setdefault("labels", {}))
        node.setdefault("metadata", {})
        project = name.split("/")[1]
        scheduling = body.get("schedulingConfig") or {}
        if queued_resource is not None and "spot" in queued_resource:
            scheduling = {**scheduling, "spot": True}
        if queued_resource is not None and "bestEffort" in queued_resource:  # best effort: preemptible nodes
            scheduling = {**scheduling, "preemptible": True}
        network = {"network": f"projects/{project}/global/networks/default",
                   "subnetwork": f"projects/{project}/regions/{zone.rsplit('-', 1)[0]}/subnetworks/default",
                   "enableExternalIps": False, **(body.get("networkConfig") or {})}
        serial = self.serial()
        node.update({
            "name": name,
            "acceleratorType": accel.name,
            "acceleratorConfig": {"type": catalog.CONFIG_TYPES[accel.generation], "topology": catalog.topology(accel)},
            "state": "CREATING",
            "health": "HEALTH_UNSPECIFIED",
            "schedulingConfig": {k: bool(scheduling.get(k, False)) for k in ("preemptible", "spot", "reserved")},
            "networkConfig": network,
            "networkEndpoints": [self._endpoint(network["enableExternalIps"]) for _ in range(accel.hosts)],
            "createTime": rfc3339(at),
            "id": str(random.Random(f"{self.settings.seed}:id:{serial}").getrandbits(62)),
            "apiVersion": "V2_ALPHA1" if getattr(self, "api_version", "v2") == "v2alpha1" else "V2",
            "_zone": zone, "_gen": accel.generation, "_chips": accel.chips, "_hosts": accel.hosts,
            "_since": at, "_seq": serial,
        })
        if queued_resource is not None:
            node["queuedResource"] = queued_resource["name"]
        return node

    def _endpoint(self, external: bool) -> dict:
        """One worker's addresses, unique within the world."""
        serial = self.serial()
        low = f"{serial // 256 % 256}.{serial % 256}"
        endpoint = {"ipAddress": f"10.{128 + serial // 65536 % 64}.{low}", "port": 8470}
        if external:
            endpoint["accessConfig"] = {"externalIp": f"34.{serial // 65536 % 256}.{low}"}
        return endpoint


def check_runtime(zone: str, accel, body: dict) -> None:
    runtime = body.get("runtimeVersion")
    if not runtime:
        raise InvalidArgument("runtime_version is required, e.g. tpu-ubuntu2204-base.")
    if runtime not in catalog.RUNTIME_VERSIONS[accel.generation]:
        raise InvalidArgument(f"Runtime version '{runtime}' is not supported for {accel.name} in zone {zone}; "
                              f"supported: {', '.join(catalog.RUNTIME_VERSIONS[accel.generation])}.")

def accelerator_of(zone: str, body: dict):
    """The accelerator type a create asks for, by name or by acceleratorConfig."""
    name, config = body.get("acceleratorType"), body.get("acceleratorConfig")
    if name:
        accel = catalog.find_type(zone, name)
        if accel is None:
            raise InvalidArgument(f"Accelerator type '{name}' is not available in zone {zone}; "
                                  f"see projects/-/locations/{zone}/acceleratorTypes.")
        return accel
    if config:
        kind = config.get("type")
        accel = catalog.find_type_by_config(zone, kind, config.get("topology", ""))
        if accel is None:
            raise InvalidArgument(
                f"Accelerator config {kind} {config.get('topology')} is not available in zone {zone}.")
        return accel
    raise InvalidArgument("accelerator_type or accelerator_config is required.")
