"""What the emulated world offers, as the API lists it: locations, accelerator types, runtime versions."""

from __future__ import annotations

from tpuctl.emulator import catalog
from tpuctl.emulator.exceptions import InvalidArgument, NotFound
from tpuctl.emulator.records import zone_of


class Locations:
    """The catalogue half of `World` (mixed into it): read-only, from `catalog`."""

    def list_locations(self, project: str) -> list[dict]:
        return [self._location(project, zone) for zone in sorted(catalog.ZONES)]

    def get_location(self, name: str) -> dict:
        project, zone = name.split("/")[1], zone_of(name)
        if zone not in catalog.ZONES:
            raise NotFound(f"Location '{name}' was not found.")
        return self._location(project, zone)

    @staticmethod
    def _location(project: str, zone: str) -> dict:
        return {"name": f"projects/{project}/locations/{zone}", "locationId": zone,
                "labels": {"cloud.googleapis.com/region": zone.rsplit("-", 1)[0]}}

    def list_accelerator_types(self, parent: str) -> list[dict]:
        zone = check_zone(zone_of(parent))
        return [self._accelerator_type(parent, t) for t in catalog.accelerator_types(zone)]

    def get_accelerator_type(self, name: str) -> dict:
        parent, _, type_name = name.rpartition("/acceleratorTypes/")
        accel = catalog.find_type(check_zone(zone_of(parent)), type_name)
        if accel is None:
            raise NotFound(f"Accelerator type '{name}' was not found.")
        return self._accelerator_type(parent, accel)

    @staticmethod
    def _accelerator_type(parent: str, accel) -> dict:
        return {"name": f"{parent}/acceleratorTypes/{accel.name}", "type": accel.name,
                "acceleratorConfigs": [{"type": catalog.CONFIG_TYPES[accel.generation],
                                        "topology": catalog.topology(accel)}]}

    def list_runtime_versions(self, parent: str) -> list[dict]:
        zone = check_zone(zone_of(parent))
        return [{"name": f"{parent}/runtimeVersions/{v}", "version": v} for v in catalog.runtime_versions(zone)]

    def get_runtime_version(self, name: str) -> dict:
        parent, _, version = name.rpartition("/runtimeVersions/")
        if version not in catalog.runtime_versions(check_zone(zone_of(parent))):
            raise NotFound(f"Runtime version '{name}' was not found.")
        return {"name": name, "version": version}

    def in_parent(self, records: dict, parent: str) -> list[dict]:
        """Records under `projects/P/locations/Z` (or every zone for `locations/-`), by name."""
        project, zone = parent.split("/")[1], zone_of(parent)
        if zone != "-":
            check_zone(zone)
        prefix = f"projects/{project}/locations/"
        lost = set(self.settings.unreachable_zones) if zone == "-" else set()
        return sorted((r for r in records.values() if r["name"].startswith(prefix)
                       and (zone == "-" or zone_of(r["name"]) == zone) and zone_of(r["name"]) not in lost),
                      key=lambda r: r["name"])

    def unreachable(self, parent: str) -> list[str]:
        """The locations a `locations/-` listing could not reach (the `unreachable_zones` setting)."""
        project = parent.split("/")[1]
        zones = self.settings.unreachable_zones if zone_of(parent) == "-" else []
        return [f"projects/{project}/locations/{zone}" for zone in sorted(zones)]


def check_zone(zone: str) -> str:
    """`zone` if Cloud TPU is offered there, else the API's InvalidArgument."""
    if zone not in catalog.ZONES:
        raise InvalidArgument(f"Invalid location '{zone}': Cloud TPU is not offered there "
                              f"(zones: {', '.join(sorted(catalog.ZONES))}).")
    return zone
