"""Job use cases: stored configs, run, status, logs, follow, cancel, resume.

Services get the group store, the Cloud TPU adapter and a clock (or, where they make or
delete TPUs, the ledger's `Books`, which hold the store and the clock), return plain data and
never print. A job is written to the store before anything acts on it (spec, then an attempt
and the node's queue entry, then the TPU), so a crash never loses a job or its status. Every
TPU a job makes passes budget admission first: `run` before anything is staged, a resume
before its new TPU.

Resume: a job with `resume: true` whose attempt was interrupted (preempted TPU, lost
agents) gets a new attempt on a new TPU named `<job>-<attempt>`. Anyone may start it:
`run --follow` does when it sees the interruption, and `tpuctl jobs resume` does for every
such job (cron can run it). The attempt record is create-only, so two resumers never both
create a TPU; the new agents restore the job's outputs before the run continues.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from tpuctl import __version__
from tpuctl.adapters.store import GroupStore, ObjectExists
from tpuctl.adapters.tpu import Progress, TpuApi
from tpuctl.agent import bundles
from tpuctl.agent.bootstrap import AgentBoot, node_metadata
from tpuctl.agent.runner import dump, read_json
from tpuctl.config import Profile
from tpuctl.domain import jobs as layout
from tpuctl.domain.clock import Clock
from tpuctl.domain.jobs import (
    FORMAT, AttemptRecords, JobConfig, JobStatus, JobTiming, check_name, config_header, config_key,
    config_version, iso, job_status, parse_job_config, read_header, strip_header,
)
from tpuctl.domain.nodes import JOB_LABEL, NodeInfo
from tpuctl.domain.budgets import Admission, UsageRequest
from tpuctl.domain.releases import Release
from tpuctl.domain.durations import format_duration
from tpuctl.domain.textfiles import decode_text
from tpuctl.errors import ConfigError, ConflictError, NotFoundError, TpuctlError, UsageError
from tpuctl.services.ledger import Books
from tpuctl.services.release import pending, read_release_records, release
_STORED_RE = re.compile(r"^([a-z][a-z0-9-]*)(?:@v(\d+))?$")


# -- stored configs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredConfig:
    name: str
    version: int
    text: str

    @property
    def header(self) -> tuple[str, int] | None:
        return read_header(self.text)


def config_versions(store: GroupStore, name: str) -> list[int]:
    check_name(name, "config name")
    return sorted(v for k in store.list(f"configs/{name}/") if (v := config_version(k)) is not None)


def read_config(store: GroupStore, name: str, version: int | None = None) -> StoredConfig:
    versions = config_versions(store, name)
    if not versions:
        raise NotFoundError(f"There is no stored config named '{name}'.", hint="`tpuctl configs list` shows them.")
    version = versions[-1] if version is None else version
    if version not in versions:
        raise NotFoundError(f"Config '{name}' has no version v{version} (it has v1 to v{versions[-1]}).")
    return StoredConfig(name, version, decode_text(store.read(config_key(name, version)), f"Stored config {name}@v{version}"))


def list_configs(store: GroupStore) -> list[StoredConfig]:
    names = sorted({k.split("/")[1] for k in store.list("configs/")})
    return [read_config(store, name) for name in names]


def push_config(store: GroupStore, profile: Profile, clock: Clock, path: Path, name: str | None = None,
                from_version: int | None = None) -> StoredConfig:
    """Store a checked config as the next version; refuse to replace one the member never saw."""
    text = _read_file(path)
    config = parse_job_config(text, str(path), zone=profile.zone, runtime=profile.runtime_version, hours=profile.hours)
    name = check_name(name or config.name, "config name")
    header = read_header(text)
    started = from_version if from_version is not None else (header[1] if header and header[0] == name else 0)
    versions = config_versions(store, name)
    newest = versions[-1] if versions else 0
    if started != newest:
        seen = f"v{started}" if started else "no version (the file has no `# tpuctl-config:` line)"
        raise ConflictError(f"Config '{name}' is at v{newest} in the store, but {path} started from {seen}.",
                            hint=f"`tpuctl configs pull {name}` gets v{newest}; merge your change into it and push again.")
    stored = StoredConfig(name, newest + 1, config_header(name, newest + 1, profile.member, clock.now()) + strip_header(text))
    try:
        store.create(config_key(name, stored.version), stored.text.encode())
    except ObjectExists:
        raise ConflictError(f"Config '{name}' got v{stored.version} from someone else while you pushed.",
                            hint=f"`tpuctl configs pull {name}`, merge, and push again.") from None
    return stored


def _read_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"There is no file {path}.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc}.") from None
    return decode_text(data, str(path))


def load_config(source: str, profile: Profile, store: GroupStore, cwd: Path) -> tuple[JobConfig, Path, str]:
    """A job config from a file, or from the store by `NAME` or `NAME@vN` (its workdir then
    counts from the current folder). Returns the config, its base folder and a label."""
    path = Path(source).expanduser()
    defaults = {"zone": profile.zone, "runtime": profile.runtime_version, "hours": profile.hours}
    if path.is_file():
        return parse_job_config(_read_file(path), str(path), **defaults), path.parent, str(path)
    match = _STORED_RE.match(source)
    if not match:
        raise ConfigError(f"There is no file {source}, and it is not a stored config's name.")
    stored = read_config(store, match.group(1), int(match.group(2)) if match.group(2) else None)
    label = f"{stored.name}@v{stored.version}"
    return parse_job_config(stored.text, f"stored config {label}", **defaults), cwd, label


# -- run -------------------------------------------------------------------------------------
def stage_workdir(store: GroupStore, config: JobConfig, base: Path) -> str:
    folder = (base / config.workdir).resolve()
    if not folder.is_dir():
        raise config.error("workdir", f"is {folder}, which is not a folder")
    try:
        data = bundles.pack(folder, skip=frozenset({config.outputs} if config.outputs else ()))
    except bundles.BundleTooBig as exc:
        raise config.error("workdir", f"is too big to ship ({exc.message})") from None
    return bundles.upload(store, "workdir", data)


def submit(books: Books, api: TpuApi, profile: Profile, config: JobConfig, base: Path, source: str, *,
           node: str | None = None, timing: JobTiming = JobTiming(), override_reason: str | None = None,
           on_admitted: Callable[[Admission], None] | None = None, on_progress: Progress | None = None) -> JobStatus:
    """Admit the job's TPU against the budgets, stage the job, write it down, then create (or
    queue) its TPU, or queue the job on `node`."""
    store, clock = books.store, books.clock
    if node is not None:
        if config.resume:
            raise UsageError(f"Job '{config.name}' resumes on new TPUs (resume: true), so it cannot run on --node {node}.")
        config = replace(config, node=node, tpu=None)
    member = profile.member
    target = _existing_node(store, api, config.node, profile.zone) if config.node else None
    admission = None
    if config.tpu is not None:      # the budget decides before anything is staged or created
        admission = books.admit(_usage(config, member), override_reason)
        if on_admitted:
            on_admitted(admission)
    spec = {"format": FORMAT, "name": config.name, "member": member, "source": source, "version": __version__,
            "config": config.to_dict(), "workdir_bundle": stage_workdir(store, config, base),
            "agent_bundle": bundles.upload(store, "tpuctl", bundles.tpuctl_bundle()) if target is None else None,
            "timing": timing.format(), "control": {"project": profile.project, "api_endpoint": profile.api_endpoint}}
    spec = _create_spec(store, clock, spec)
    if target is not None:
        _start_attempt(books, api, spec, 1, node=target.name, zone=target.zone, workers=target.workers)
    else:
        _start_attempt(books, api, spec, 1, on_progress=on_progress, admission=admission)
    return read_status(store, spec["id"], clock)


def _usage(config: JobConfig, member: str) -> UsageRequest:
    """A job's TPU for its whole lease, as admission weighs it (under a new request id, which
    the TPU's ledger events then carry, so the admission log and the ledger count it once)."""
    from tpuctl.services.nodes import new_request_id

    return UsageRequest.for_type(member, config.tpu.zone, config.tpu.type, config.tpu.spot, str(config.hours),
                                 request_id=new_request_id())


def _existing_node(store: GroupStore, api: TpuApi, name: str, default_zone: str):
    from tpuctl.services.nodes import locate_node

    node = locate_node(api, name, None, default_zone)
    if not list(store.list(layout.node_prefix(node.zone, node.name) + "beat/")):
        raise UsageError(f"TPU '{node.name}' runs no tpuctl agent: only TPUs that `tpuctl run` created do.",
                         hint="Leave out --node (and `node:`) to let the job create its TPU.")
    if node.state != "READY":
        raise ConflictError(f"TPU '{node.name}' is {node.state}, not READY, so its agent cannot take the job.")
    return node


def _create_spec(store: GroupStore, clock: Clock, spec: dict[str, Any]) -> dict[str, Any]:
    alphabet = string.ascii_lowercase + string.digits
    while True:
        created = clock.now()
        job = layout.job_id(spec["name"], "".join(secrets.choice(alphabet) for _ in range(6)))
        full = {**spec, "id": job, "created": iso(created)}
        try:
            store.create(layout.spec_key(job), dump(full))
        except ObjectExists:
            continue
        store.create(layout.index_key(created, job), dump({"id": job, "member": spec["member"]}))
        return full


def _start_attempt(books: Books, api: TpuApi, spec: dict[str, Any], attempt: int, *,
                   node: str | None = None, zone: str | None = None, workers: int | None = None,
                   on_progress: Progress | None = None, admission: Admission | None = None) -> None:
    """Record the attempt and queue it for the node's agents, then make the TPU if it is ours
    (admitting it first unless `admission` says it already was)."""
    store = books.store
    config, job, now = JobConfig.from_dict(spec["config"]), spec["id"], books.clock.now()
    owned = node is None
    if owned:
        tpu = config.tpu
        node, zone, workers = layout.node_for(job, attempt), tpu.zone, tpu.workers
    record = {"attempt": attempt, "node": node, "zone": zone, "workers": workers, "owned": owned,
              "queued": bool(owned and config.tpu.queue), "created": iso(now)}
    store.create(layout.attempt_key(job, attempt), dump(record))    # ObjectExists: someone else started it
    store.create(layout.assignment_key(zone, node, now, job, attempt), dump({"job": job, "attempt": attempt}))
    if not owned:
        return
    try:
        _create_tpu(books, api, spec, config, node, on_progress,
                    admission or books.admit(_usage(config, spec["member"])))
    except TpuctlError as exc:
        _problem(store, job, attempt, "launch_failed", f"could not create TPU {node}: {exc.message}")
        raise


def _create_tpu(books: Books, api: TpuApi, spec: dict[str, Any], config: JobConfig, node: str,
                on_progress: Progress | None, admission: Admission) -> None:
    from tpuctl.services import nodes, queue

    tpu = config.tpu
    control = spec.get("control") or {}      # how worker 0's agent reaches Cloud TPU to release the TPU
    boot = AgentBoot(store=books.store.url, bundle=spec["agent_bundle"], zone=tpu.zone, node=node,
                     timing=spec["timing"], version=spec["version"], project=control.get("project", ""),
                     api_endpoint=control.get("api_endpoint"))
    request = nodes.CreateRequest(name=node, accelerator_type=tpu.type, zone=tpu.zone, runtime_version=tpu.runtime,
                                  spot=tpu.spot, hours=config.hours, labels={JOB_LABEL: spec["id"]},
                                  metadata=node_metadata(boot),
                                  request_id=admission.request_id or nodes.new_request_id())
    if tpu.queue:
        queue.queue_create(api, books, replace(queue.from_create_request(request), request_id=request.request_id),
                           admission)
    else:
        nodes.create_node(api, books, request, admission, wait=True, on_progress=on_progress)


def _problem(store: GroupStore, job: str, attempt: int, kind: str, message: str) -> None:
    try:
        store.create(layout.problem_key(job, attempt), dump({"kind": kind, "message": message}))
    except ObjectExists:
        pass


# -- status ----------------------------------------------------------------------------------
def read_spec(store: GroupStore, job: str) -> dict[str, Any]:
    spec = read_json(store, layout.spec_key(layout.check_job_id(job)))
    if spec is None:
        raise NotFoundError(f"There is no job '{job}'.", hint="`tpuctl jobs` lists the group's jobs.")
    return spec


def read_status(store: GroupStore, job: str, clock: Clock) -> JobStatus:
    spec = read_spec(store, job)
    attempts = []
    for key in store.list(layout.attempts_prefix(job)):
        record = json.loads(store.read(key))
        n = record["attempt"]
        found = {kind: {layout.key_worker(k): json.loads(store.read(k))
                        for k in store.list(layout.worker_prefix(job, n, kind))} for kind in layout.WORKER_KINDS}
        attempts.append(AttemptRecords(record, **found, problem=read_json(store, layout.problem_key(job, n)),
                                       release=read_release_records(store, job, n)))
    return job_status(spec, attempts, read_json(store, layout.cancel_key(job)), clock.now())


def list_jobs(store: GroupStore, clock: Clock, member: str | None = None) -> list[JobStatus]:
    """Every job of the group, oldest first (`member`: only theirs)."""
    found = []
    for key in store.list(layout.INDEX_PREFIX):
        entry = json.loads(store.read(key))
        if member is None or entry.get("member") == member:
            found.append(read_status(store, entry["id"], clock))
    return found


def log_chunks(store: GroupStore, job: str, attempt: int, worker: int, after: str | None = None) -> list[tuple[str, str]]:
    prefix = layout.log_prefix(job, attempt, worker)
    return [(k, store.read(k).decode("utf-8", "replace")) for k in store.list(prefix, start_after=after)]


def last_lines(store: GroupStore, job: str, attempt: int, worker: int, count: int = 10) -> list[str]:
    """The end of a worker's log, reading chunks from the last one back."""
    lines: list[str] = []
    for key in reversed(list(store.list(layout.log_prefix(job, attempt, worker)))):
        lines = store.read(key).decode("utf-8", "replace").splitlines() + lines
        if len(lines) >= count:
            break
    return lines[-count:]


def outputs(store: GroupStore, job: str, worker: int) -> list[str]:
    prefix = layout.outputs_prefix(job, worker)
    return [k[len(prefix):] for k in store.list(prefix)]


def download_outputs(store: GroupStore, job: str, worker: int, dest: Path) -> list[Path]:
    read_spec(store, job)
    prefix = layout.outputs_prefix(job, worker)
    written = []
    for key in store.list(prefix):
        path = dest / key[len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.read(key))
        written.append(path)
    return written


# -- follow, cancel, resume, release ----------------------------------------------------------
@dataclass(frozen=True)
class FollowEvent:
    kind: str                  # "attempt" | "log" | "state"
    status: JobStatus
    text: str = ""
    attempt: int = 0


def follow(books: Books, api: TpuApi, job: str, worker: int, timing: JobTiming, *,
           resume: bool = False, sleep: Callable[[float], None] = time.sleep) -> Iterator[FollowEvent]:
    """Log text and state changes until the job ends and its workers have stopped (a job fails
    as soon as one worker fails; the others' last lines follow); with `resume`, resume it."""
    store, clock = books.store, books.clock
    cursors: dict[int, str | None] = {}
    last_state, ended, ready_seen = None, None, None
    for polls in itertools.count():
        status = read_status(store, job, clock)         # before the logs: an exit follows its last chunk
        for attempt in status.attempts:
            if attempt.attempt not in cursors:
                cursors[attempt.attempt] = None
                yield FollowEvent("attempt", status, f"attempt {attempt.attempt} on TPU {attempt.node}", attempt.attempt)
            if worker < len(attempt.workers):
                for key, text in log_chunks(store, job, attempt.attempt, worker, cursors[attempt.attempt]):
                    cursors[attempt.attempt] = key
                    yield FollowEvent("log", status, text)
        if status.state != last_state:
            last_state = status.state
            yield FollowEvent("state", status, status.state)
        if status.final or (status.state == "interrupted" and not resume):
            ended = ended or time.monotonic()
            if not _running(status) or time.monotonic() - ended > settle_seconds(timing):
                return
        elif status.resumable:
            resume_job(books, api, job)
            continue
        node = note_lost_node(store, api, status) if status.state == "pending" or polls % 5 == 4 else None
        ready_seen = _note_silent_agents(store, status, node, timing, ready_seen)
        sleep(timing.follow)


def note_lost_node(store: GroupStore, api: TpuApi, status: JobStatus) -> NodeInfo | None:
    """Look at the latest attempt's TPU: a pending attempt whose TPU is gone (or whose queued
    request failed) will never start, so that is written down. A running one is watched by its
    agents, but looking also lets local mode's world apply a due preemption (and fire its hooks).
    Returns the TPU as seen, if it exists."""
    attempt = status.latest
    if attempt is None or attempt.state not in ("pending", "running"):
        return None
    gone, node = _gone(api, attempt)
    if gone and attempt.state == "pending":
        _problem(store, status.id, attempt.attempt, "node_lost", f"TPU {attempt.node} was {gone} before the job ran")
    return node


def _note_silent_agents(store: GroupStore, status: JobStatus, node: NodeInfo | None, timing: JobTiming,
                        ready_seen: float | None) -> float | None:
    """A pending attempt whose TPU (`node`, as note_lost_node just saw it) has been READY for
    `timing.start` seconds, as this follower saw it, with no agent reporting will never start:
    its startup script failed. That is written down as a failed launch, so the follow ends.
    Returns when READY was first seen."""
    attempt = status.latest
    if status.state != "pending" or attempt is None or not attempt.owned:
        return None
    if ready_seen is None:
        return time.monotonic() if node is not None and node.state == "READY" else None
    if time.monotonic() - ready_seen > timing.start:
        _problem(store, status.id, attempt.attempt, "launch_failed",
                 f"TPU {attempt.node} was READY for {format_duration(timedelta(seconds=timing.start))} but no tpuctl "
                 "agent reported; its startup script failed (see the VM's serial console)")
    return ready_seen


def _gone(api: TpuApi, attempt) -> tuple[str | None, NodeInfo | None]:
    """Why an attempt's TPU can no longer run it (None while it can, or still may), and the
    TPU itself if it exists."""
    if attempt.queued:
        try:
            queued = api.get_queued_resource(attempt.zone, attempt.node)
        except NotFoundError:
            return "deleted", None
        if queued.state in ("FAILED", "SUSPENDED"):
            return f"never provisioned (its queued request is {queued.state})", None
        if queued.state != "ACTIVE":
            return None, None
    try:
        node = api.get_node(attempt.zone, attempt.node)
    except NotFoundError:
        return "deleted", None
    return (node.state.lower() if node.state in ("PREEMPTED", "TERMINATED", "STOPPED", "DELETING") else None), node


def resume_job(books: Books, api: TpuApi, job: str, on_progress: Progress | None = None) -> JobStatus | None:
    """Start the next attempt of an interrupted `resume: true` job on a new TPU; None if it
    need not (or someone else just did)."""
    store, clock = books.store, books.clock
    status = read_status(store, job, clock)
    if not status.resumable:
        return None
    previous = status.latest
    if previous.owned:           # first, so its remaining lease is not counted against the new TPU
        _delete_tpu(books, api, previous)
    try:
        _start_attempt(books, api, status.spec, previous.attempt + 1, on_progress=on_progress)
    except ObjectExists:
        return None
    return read_status(store, job, clock)


@dataclass(frozen=True)
class ResumePass:
    resumed: list[JobStatus]
    failed: list[tuple[JobStatus, TpuctlError]]     # the job as it now stands, and why it could not resume (or release)
    released: list[tuple[JobStatus, Release]] = field(default_factory=list)   # releases it finished


def resume_all(books: Books, api: TpuApi, member: str | None = None) -> ResumePass:
    """One pass over the group's jobs: note lost TPUs, resume what asked for it, and finish
    releases of ended jobs' TPUs that were cut short. A job that cannot resume (refused by
    the budget, no capacity) does not stop the others; its new attempt is marked failed with
    the reason."""
    return _resume_pass(books, api, list_jobs(books.store, books.clock, member))


def resume_one(books: Books, api: TpuApi, job: str) -> ResumePass:
    """`tpuctl jobs resume JOB`: that job alone, as a pass would treat it, even if it did not
    ask to resume (then only its lost TPU is noted and a cut-short release finished)."""
    status = read_status(books.store, job, books.clock)
    if not status.spec["config"].get("resume"):
        note_lost_node(books.store, api, status)
    return _resume_pass(books, api, [status])


def _resume_pass(books: Books, api: TpuApi, statuses: list[JobStatus]) -> ResumePass:
    store, resumed, failed, released = books.store, [], [], []
    for status in statuses:
        if pending(status):
            try:
                released.append((status, release(books, api, status, "jobs resume", start=False)))
            except TpuctlError as exc:              # Cloud TPU away: the next pass finishes it
                failed.append((status, exc))
        if status.final or not status.spec["config"].get("resume"):
            continue
        note_lost_node(store, api, status)
        try:
            again = resume_job(books, api, status.id)
        except TpuctlError as exc:
            failed.append((read_status(store, status.id, books.clock), exc))
            continue
        if again is not None:
            resumed.append(again)
    return ResumePass(resumed, failed, released)


def cancel_job(store: GroupStore, member: str, clock: Clock, job: str, keep_node: bool = False) -> JobStatus:
    """Ask the job's agents to stop it (`keep_node`: and to leave its TPU when it has)."""
    status = read_status(store, job, clock)
    if status.final:
        raise ConflictError(f"Job {job} has already ended ({status.state}).")
    try:
        store.create(layout.cancel_key(job), dump({"by": member, "time": iso(clock.now()), "keep_node": keep_node}))
    except ObjectExists:
        pass
    return read_status(store, job, clock)


def settle(store: GroupStore, clock: Clock, job: str, timing: JobTiming,
           sleep: Callable[[float], None] = time.sleep) -> JobStatus:
    """Wait (boundedly) until no worker of the latest attempt still runs: after a cancel, or
    after one worker failed, the others stop within a poll and a grace period."""
    deadline = time.monotonic() + settle_seconds(timing)
    status = read_status(store, job, clock)
    while _running(status) and time.monotonic() < deadline:
        sleep(timing.follow)
        status = read_status(store, job, clock)
    return status


def settle_seconds(timing: JobTiming) -> float:
    return timing.poll * 2 + timing.grace + timing.heartbeat


def _running(status: JobStatus) -> bool:
    return status.latest is not None and any(w.state == "running" for w in status.latest.workers)


def has_ended(status: JobStatus) -> bool:
    """Over, and no worker still running (after a failure the others stop within a grace period)."""
    return status.final and not _running(status)


def _delete_tpu(books: Books, api: TpuApi, attempt) -> bool:
    """Start deleting an attempt's TPU (or its queued request, with its TPUs); False if gone."""
    from tpuctl.services import nodes, queue

    try:
        if attempt.queued:
            queued = api.get_queued_resource(attempt.zone, attempt.node)
            queue.queue_delete(api, books, queued, force=True, wait=False)
        else:
            nodes.delete_node(api, books, api.get_node(attempt.zone, attempt.node), wait=False)
    except (NotFoundError, ConflictError):
        return False
    return True
