"""tpuctl's agent on every TPU tpuctl makes: the startup script and label a create carries.

`create`, `queue create`, `create --queue` and `run` all give their TPU the agent, so jobs
can run on it (`run --node`, `node:`) and its heartbeats say whether it is busy. Only a TPU a
job made for itself gets an agent that deletes it when that job ends; one a member made
stays until the member (or the reaper) deletes it. `create --no-agent` leaves it out.

On an emulated profile the activity probes can be pointed elsewhere, so a test or demo can
stand in for a TPU VM: TPUCTL_DEVICE_PATHS (comma-separated globs of the files that stand for
the TPU device; default /dev/accel* and /dev/vfio/*) and TPUCTL_UTMP (the login records;
default /var/run/utmp). A real TPU VM always probes its own.

`tpuctl touch NAME` marks a TPU in use for DEFAULT_TOUCH_MINUTES (60) minutes, or --minutes,
for what no probe sees (a notebook kernel between cells); its agent reports "touch" until then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tpuctl import __version__
from tpuctl.adapters.store import GroupStore
from tpuctl.adapters import bundles
from tpuctl.domain.agent_boot import AgentBoot, node_metadata
from tpuctl.config import Profile
from tpuctl.adapters.tpu import TpuApi
from tpuctl.domain.clock import Clock
from tpuctl.domain.jobs import JobTiming, node_prefix, touch_key
from tpuctl.domain.jobs import protocol
from tpuctl.domain.nodes import AGENT_LABEL
from tpuctl.errors import UsageError
from tpuctl.services.nodes import CreateRequest
from tpuctl.services.queue import QueueRequest

DEVICE_PATHS_ENV = "TPUCTL_DEVICE_PATHS"
UTMP_ENV = "TPUCTL_UTMP"


TIMING_ENV = "TPUCTL_JOB_TIMING"


def timing_from_env() -> JobTiming:
    """The agent's intervals: TPUCTL_JOB_TIMING (e.g. `poll=0.2,heartbeat=0.5`) for tests and demos."""
    return JobTiming.parse(os.environ.get(TIMING_ENV))


def probe_settings(profile: Profile) -> dict[str, str]:
    """Where the agent's probes look, when an emulated profile moved them (else nothing)."""
    if not profile.is_emulated:
        return {}
    found = {"devices": os.environ.get(DEVICE_PATHS_ENV, ""), "utmp": os.environ.get(UTMP_ENV, "")}
    return {k: v for k, v in found.items() if v}


def agent_boot(store: GroupStore, profile: Profile, node: str, zone: str, timing: JobTiming, *,
               releases: bool = False, bundle: str | None = None) -> AgentBoot:
    """The facts a node's startup script needs; `releases`: its worker 0 deletes the TPU when the
    job that made it ends (only `run` asks that)."""
    bundle = bundle or bundles.upload(store, "tpuctl", bundles.tpuctl_bundle())
    return AgentBoot(store=store.url, bundle=bundle, zone=zone, node=node, timing=timing.format(),
                     version=__version__, project=profile.project if releases else "",
                     api_endpoint=profile.api_endpoint if releases else None, **probe_settings(profile))


def with_agent(store: GroupStore, profile: Profile, request: CreateRequest, timing: JobTiming) -> CreateRequest:
    """A create whose TPU starts tpuctl's agent on every worker."""
    boot = agent_boot(store, profile, request.name, request.zone, timing)
    return replace(request, metadata={**request.metadata, **node_metadata(boot)},
                   labels={**request.labels, AGENT_LABEL: "true"})


def queue_with_agent(store: GroupStore, profile: Profile, request: QueueRequest, timing: JobTiming) -> QueueRequest:
    """A queued request whose every node starts tpuctl's agent (each script names its own node)."""
    bundle = bundles.upload(store, "tpuctl", bundles.tpuctl_bundle())
    per_node = {node: node_metadata(agent_boot(store, profile, node, request.zone, timing, bundle=bundle))
                for node in request.node_ids}
    return replace(request, node_metadata=per_node, labels={**request.labels, AGENT_LABEL: "true"})


DEFAULT_TOUCH_MINUTES = 60
MAX_TOUCH_MINUTES = 24 * 60


@dataclass(frozen=True)
class Touch:
    node: str
    zone: str
    until: datetime


def touch(api: TpuApi, store: GroupStore, clock: Clock, member: str, name: str, zone: str | None,
          default_zone: str, minutes: float = DEFAULT_TOUCH_MINUTES) -> Touch:
    """`tpuctl touch`: the TPU's agent reports it busy for `minutes` (a notebook, a debugging
    session the probes cannot see). One record per member, overwritten by their next touch."""
    from tpuctl.services.nodes import locate_node

    if not 0 < minutes <= MAX_TOUCH_MINUTES:
        raise UsageError(f"--minutes must be more than 0 and at most {MAX_TOUCH_MINUTES}, not {minutes:g}.")
    node = locate_node(api, name, zone, default_zone)
    if node.labels.get(AGENT_LABEL) != "true" and not list(store.list(node_prefix(node.zone, node.name) + "beat/")):
        raise UsageError(f"TPU '{node.name}' runs no tpuctl agent, so nothing would read the touch.")
    now = clock.now()
    until = now + timedelta(minutes=minutes)
    store.write(touch_key(node.zone, node.name, member), protocol.dump(protocol.Touch(member, now, until)))
    return Touch(node.name, node.zone, until)
