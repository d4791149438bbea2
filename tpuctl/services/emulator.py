"""Steering the emulated Cloud TPU world: preempt, maintain, capacity, clock, and its Cloud Billing export.

Each use case acts on the emulator a profile talks to -- the local profile's world on disk
(read and changed in this process), or a served emulator (`--endpoint`, or a profile whose
api_endpoint is http://) through its control surface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tpuctl.config import Profile
from tpuctl.domain.durations import parse_duration
from tpuctl.errors import ConfigError, UsageError

_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Target:
    """Which emulator: `endpoint` if given, else the profile's."""

    endpoint: str | None
    profile: Profile | None
    data_dir: Path

    def zone(self, zone: str | None) -> str:
        if zone:
            return zone
        if self.profile is None or not self.profile.zone:
            raise UsageError("Give --zone: there is no default zone.")
        return self.profile.zone


@dataclass(frozen=True)
class NodeChange:
    """A TPU the emulator just preempted or put under maintenance, in the state it is in now."""

    name: str
    zone: str
    state: str


def preempt(target: Target, node: str, zone: str | None = None) -> list[NodeChange]:
    """Preempt a READY spot node now, as Cloud TPU would."""
    where = target.zone(zone)
    return [_change(n) for n in _world(target).preempt(where, node, None)]


def maintain(target: Target, node: str, zone: str | None = None) -> list[NodeChange]:
    """A host maintenance event now: the node is REPAIRING (its agents get SIGTERM), then READY."""
    where = target.zone(zone)
    return [_change(n) for n in _world(target).maintain(where, node, None)]


def set_capacity(target: Target, zone: str, generation_or_type: str, chips: int) -> dict[str, int]:
    """Limit a zone's chips of one generation; returns that zone's limits."""
    if chips < 0:
        raise UsageError(f"Capacity must be zero or more chips, not {chips}.")
    return _world(target).set_capacity(zone, generation_or_type, chips).get(zone, {})


def advance_clock(target: Target, duration: str) -> str:
    """Move the emulated world's time forward (e.g. `2h`); returns its new time."""
    seconds = parse_duration(duration, "DURATION").total_seconds()
    return _world(target).advance_clock(seconds)


def billing_export(month: str, endpoint: str | None, profile: Profile | None, data_dir: Path) -> str:
    """The emulator's billing export of invoice month `month` (YYYY-MM) as CSV text."""
    if not _MONTH_RE.match(month):
        raise UsageError(f"'{month}' is not a month like 2026-05.")
    target = Target(endpoint, profile, data_dir)
    if endpoint is None and profile is not None and not profile.is_emulated:
        raise ConfigError(f"The {profile.name} profile talks to Google's Cloud TPU API, which has no billing export "
                          "here.", hint="Give --endpoint http://HOST:PORT of a tpuctl emulator, or use --profile "
                                        "local; the real bill is in your Cloud Billing export.")
    return _world(target).billing_export(month)


def _change(node: dict) -> NodeChange:
    parts = node["name"].split("/")
    return NodeChange(parts[5], parts[3], node["state"])


def _world(target: Target):
    """The local world on disk, or a served emulator's control surface."""
    endpoint, profile = target.endpoint, target.profile
    if endpoint is None and profile is not None and profile.is_local:
        from tpuctl.adapters.local_emulator import LocalWorld

        return LocalWorld(target.data_dir)
    if endpoint is None and profile is not None and profile.is_emulated:
        endpoint = profile.api_endpoint
    if endpoint is None:
        name = profile.name if profile is not None else "this"
        raise ConfigError(f"The {name} profile talks to Google's Cloud TPU API, not to an emulator.",
                          hint="Give --endpoint http://HOST:PORT of a tpuctl emulator, or use --profile local.")
    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint '{endpoint}' is not an http:// URL.")
    from tpuctl.adapters.emulator_control import RemoteEmulator

    return RemoteEmulator(endpoint)
