"""Submitting a job: admission, staging its code, writing it down, then its TPU (or its node's queue).

A job is written to the store before anything acts on it (spec, then an attempt and the
node's queue entry, then the TPU), so a crash never loses a job or its status. Every TPU a
job makes passes budget admission first: `run` before anything is staged, a resume before
its new TPU.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from tpuctl import __version__
from tpuctl.adapters.store import GroupStore, ObjectExists
from tpuctl.adapters.tpu import Progress, TpuApi
from tpuctl.adapters import bundles
from tpuctl.domain.agent_boot import AgentBoot, node_metadata
from tpuctl.config import Profile
from tpuctl.domain import jobs as layout
from tpuctl.domain.budgets import Admission, UsageRequest
from tpuctl.domain.clock import Clock
from tpuctl.domain.jobs import JobConfig, JobStatus, JobTiming, with_secrets
from tpuctl.domain.jobs.protocol import Assignment, Attempt, IndexEntry, Spec, dump
from tpuctl.domain.nodes import AGENT_LABEL, JOB_LABEL, KEEP_NODE_LABEL
from tpuctl.errors import ConflictError, TpuctlError, UsageError
from tpuctl.services.agents import probe_settings
from tpuctl.services.jobs.configs import pack_code
from tpuctl.services.jobs.status import problem, read_status
from tpuctl.services.ledger import Books


def stage_workdir(store: GroupStore, config: JobConfig, base: Path) -> str:
    return bundles.upload(store, "workdir", pack_code(config, base))


def submit(books: Books, api: TpuApi, profile: Profile, config: JobConfig, base: Path, source: str, *,
           node: str | None = None, timing: JobTiming = JobTiming(), override_reason: str | None = None,
           on_admitted: Callable[[Admission], None] | None = None, on_progress: Progress | None = None,
           code: str | None = None, environ: Mapping[str, str] | None = None, for_member: str | None = None,
           force: bool = False) -> JobStatus:
    """Admit the job's TPU against the budgets, stage the job, write it down, then create (or
    queue) its TPU, or queue the job on `node`. `code`: a stored config's bundle, run as it is
    (else the workdir under `base` is shipped); `environ`: where named secrets not in `env` come from.
    `for_member`: a treasurer runs the job for that member, whose TPU it is and who pays;
    `force`: run on a TPU another member owns (the job records whose it was)."""
    from tpuctl.services.roles import acting_for, check_owner

    store, clock = books.store, books.clock
    config = with_secrets(config, dict(environ or {}))
    if node is not None:
        if config.resume:
            raise UsageError(f"Job '{config.name}' resumes on new TPUs (resume: true), so it cannot run on --node {node}.")
        config = replace(config, node=node, tpu=None)
    member = acting_for(books, for_member) if for_member else profile.member
    target = _existing_node(store, api, config.node, profile.zone) if config.node else None
    if target is not None:
        check_owner(books, target, force, "run a job on", record="the job")
    admission = None
    if config.tpu is not None:      # the budget decides before anything is staged or created
        admission = books.admit(_usage(config, member), override_reason)
        if on_admitted:
            on_admitted(admission)
    spec = Spec(id="", name=config.name, member=member, created=clock.now(), config=config,
                workdir_bundle=code or stage_workdir(store, config, base), source=source, version=__version__,
                agent_bundle=bundles.upload(store, "tpuctl", bundles.tpuctl_bundle()) if target is None else None,
                timing=timing.format(), control={"project": profile.project, "api_endpoint": profile.api_endpoint,
                                                 **probe_settings(profile)},
                submitted_by=books.actor if member != books.actor else None,          # a treasurer acting for the member
                on_tpu_of=target.owner if target is not None and target.owner not in (None, member) else None)
    spec = _create_spec(store, clock, spec)
    if target is not None:
        _start_attempt(books, api, spec, 1, node=target.name, zone=target.zone, workers=target.workers)
    else:
        _start_attempt(books, api, spec, 1, on_progress=on_progress, admission=admission)
    return read_status(store, spec.id, clock)


def _usage(config: JobConfig, member: str) -> UsageRequest:
    """A job's TPU for its whole lease, as admission weighs it (under a new request id, which
    the TPU's ledger events then carry, so the admission log and the ledger count it once)."""
    from tpuctl.services.nodes import new_request_id

    return UsageRequest.for_type(member, config.tpu.zone, config.tpu.type, config.tpu.spot, str(config.hours),
                                 request_id=new_request_id())


def _existing_node(store: GroupStore, api: TpuApi, name: str, default_zone: str):
    from tpuctl.services.nodes import locate_node

    node = locate_node(api, name, None, default_zone)
    if node.labels.get(AGENT_LABEL) != "true" and not list(store.list(layout.node_prefix(node.zone, node.name) + "beat/")):
        raise UsageError(f"TPU '{node.name}' runs no tpuctl agent: it was created with --no-agent or outside tpuctl.",
                         hint="`tpuctl create` makes TPUs with the agent; or leave out --node (and `node:`) "
                              "to let the job create its TPU.")
    if node.state != "READY":
        raise ConflictError(f"TPU '{node.name}' is {node.state}, not READY, so its agent cannot take the job.")
    return node


def _create_spec(store: GroupStore, clock: Clock, spec: Spec) -> Spec:
    """Write the spec under a new job id (create-only), then the group's index entry."""
    alphabet = string.ascii_lowercase + string.digits
    while True:
        created = clock.now()
        job = layout.job_id(spec.name, "".join(secrets.choice(alphabet) for _ in range(6)))
        full = replace(spec, id=job, created=created)
        try:
            store.create(layout.spec_key(job), dump(full))
        except ObjectExists:
            continue
        store.create(layout.index_key(created, job), dump(IndexEntry(job, spec.member)))
        return full


def _start_attempt(books: Books, api: TpuApi, spec: Spec, attempt: int, *,
                   node: str | None = None, zone: str | None = None, workers: int | None = None,
                   on_progress: Progress | None = None, admission: Admission | None = None) -> None:
    """Record the attempt and queue it for the node's agents, then make the TPU if it is ours
    (admitting it first unless `admission` says it already was)."""
    store = books.store
    config, job, now = spec.config, spec.id, books.clock.now()
    owned = node is None
    if owned:
        tpu = config.tpu
        node, zone, workers = layout.node_for(job, attempt), tpu.zone, tpu.workers
    record = Attempt(attempt, node, zone, workers, owned, bool(owned and config.tpu.queue), now)
    store.create(layout.attempt_key(job, attempt), dump(record))    # ObjectExists: someone else started it
    store.create(layout.assignment_key(zone, node, now, job, attempt), dump(Assignment(job, attempt)))
    if not owned:
        return
    try:
        _create_tpu(books, api, spec, config, node, on_progress,
                    admission or books.admit(_usage(config, spec.member)))
    except TpuctlError as exc:
        problem(store, job, attempt, "launch_failed", f"could not create TPU {node}: {exc.message}")
        raise


def _create_tpu(books: Books, api: TpuApi, spec: Spec, config: JobConfig, node: str,
                on_progress: Progress | None, admission: Admission) -> None:
    from tpuctl.services import nodes, queue

    tpu = config.tpu
    control = spec.control                   # how worker 0's agent reaches Cloud TPU to release the TPU
    boot = AgentBoot(store=books.store.url, bundle=spec.agent_bundle, zone=tpu.zone, node=node,
                     timing=spec.timing, version=spec.version, project=control.get("project") or "",
                     api_endpoint=control.get("api_endpoint"), devices=control.get("devices") or "",
                     utmp=control.get("utmp") or "")
    request = nodes.CreateRequest(name=node, accelerator_type=tpu.type, zone=tpu.zone, runtime_version=tpu.runtime,
                                  spot=tpu.spot, hours=config.hours,
                                  labels={JOB_LABEL: spec.id, AGENT_LABEL: "true",
                                          **({KEEP_NODE_LABEL: "true"} if config.keep_node else {})},
                                  metadata=node_metadata(boot),
                                  request_id=admission.request_id or nodes.new_request_id())
    if tpu.queue:
        queue.queue_create(api, books, replace(queue.from_create_request(request), request_id=request.request_id),
                           admission)
    else:
        nodes.create_node(api, books, request, admission, wait=True, on_progress=on_progress)

