"""The agent protocol: every object tpuctl and its agents exchange through the group store,
declared once, with a version, and parsed here only.

A laptop and a TPU VM may run different tpuctl versions, and any member can write to the
store, so nothing reads one of these objects before `load` has checked it: a hand-written or
malformed object is refused with a `BadObject` that names its key and why (the caller ignores
it and goes on), and one written by a newer tpuctl says so ("upgrade tpuctl").

Each object carries its version under "v" (the spec under "format", which older agents
check); an object without it is version 1, as every object was before versions were written.
Fields a reader does not know are ignored (a newer minor addition), fields it needs are
checked with bounds. Keys are in tpuctl/domain/jobs/layout.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar, TypeVar

from tpuctl.domain.jobs.config import ENV_KEY_RE, MAX_HOURS, NAME_RE, JobConfig
from tpuctl.domain.jobs.fields import (
    Check, Invalid, show, boolean, matching, one_of, optional, seconds, text, time, whole,
)
from tpuctl.domain.jobs.layout import JOB_ID_RE
from tpuctl.domain.times import shown_time

FORMAT = 1                              # spec format; an agent refuses a newer one
MAX_BYTES = 1 << 20                     # no object of the protocol is near this
MAX_WORKERS = 4096
MAX_ATTEMPTS = 10_000
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")            # zones, nodes, members as the store names them
KEY = re.compile(r"^[A-Za-z0-9._/-]{1,300}$")             # a store key (a bundle's)
EVENT_ID = re.compile(r"^[0-9A-Za-z_-]{1,80}$")
WORKER_STATES = ("succeeded", "failed", "interrupted", "cancelled")
PHASES = ("setup", "run")
PROBLEMS = ("launch_failed", "node_lost")
BUSY_KINDS = ("job", "device", "ssh", "touch", "probe")

T = TypeVar("T")


class BadObject(ValueError):
    """A store object that cannot be trusted to say anything; the message names it and why."""

    def __init__(self, message: str, newer: bool = False):
        super().__init__(message)
        self.message, self.newer = message, newer


# -- checks of the protocol's own fields (the plain ones are in fields.py) ---------------------
name = matching(NAME, "a name of lowercase letters, digits and hyphens")
job = matching(JOB_ID_RE, "a job id")
key = matching(KEY, "a store key")


def config(value: Any) -> JobConfig:
    """A job's config as its spec holds it (the YAML checks happened where it was written)."""
    if not isinstance(value, dict):
        raise Invalid(f"is {show(value)}, not a job config")
    tpu, node, hours, env = value.get("tpu"), value.get("node"), value.get("hours", 1.0), value.get("env", {})
    checks = {
        "its name": isinstance(value.get("name"), str) and bool(NAME_RE.match(value["name"])),
        "its run commands": _strings(value.get("run")) and bool(value["run"]),
        "its setup commands": _strings(value.get("setup", [])),
        "its secrets": _strings(value.get("secrets", [])),
        "its env": isinstance(env, dict) and all(isinstance(k, str) and ENV_KEY_RE.match(k) and isinstance(v, str)
                                                 for k, v in env.items()),
        "its tpu": tpu is None or (isinstance(tpu, dict) and all(isinstance(tpu.get(f), str) for f in ("type", "zone", "runtime"))
                                   and all(type(tpu.get(f, False)) is bool for f in ("spot", "queue"))),
        "its node": node is None or isinstance(node, str),
        "one of tpu and node": (tpu is None) != (node is None),
        "resume or keep_node": all(type(value.get(f, False)) is bool for f in ("resume", "keep_node")),
        "its folders": all(value.get(f) is None or isinstance(value[f], str) for f in ("workdir", "outputs")),
        "its hours": type(hours) in (int, float) and 0 < hours <= MAX_HOURS,
    }
    wrong = next((what for what, ok in checks.items() if not ok), None)
    if wrong:
        raise Invalid(f"is not a job config tpuctl reads ({wrong})")
    try:
        return JobConfig.from_dict({k: v for k, v in value.items() if k in {f.name for f in fields(JobConfig)}})
    except (TypeError, ValueError, KeyError) as exc:
        raise Invalid(f"is not a job config tpuctl reads ({type(exc).__name__})") from None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def control(value: Any) -> dict[str, Any]:
    """How worker 0's agent reaches Cloud TPU, and where its probes look."""
    if not isinstance(value, dict) or not all(k in ("project", "api_endpoint", "devices", "utmp") for k in value) \
            or not all(v is None or (isinstance(v, str) and len(v) <= 500) for v in value.values()):
        raise Invalid(f"is {show(value)}, not project, api_endpoint, devices and utmp")
    return value


def event(value: Any) -> dict[str, Any]:
    """The ledger event a release recorded (its payload is checked by the ledger's schema)."""
    if not isinstance(value, dict) or not isinstance(value.get("payload"), dict) \
            or not (isinstance(value.get("id"), str) and EVENT_ID.match(value["id"])):
        raise Invalid(f"is {show(value)}, not a ledger event's id and payload")
    return value


def busy(value: Any) -> tuple[Busy, ...]:
    if not isinstance(value, list) or len(value) > 100:
        raise Invalid("is not a list of reasons")
    found = []
    for reason in value:
        if not isinstance(reason, dict) or reason.get("kind") not in BUSY_KINDS:
            raise Invalid(f"has a reason {str(reason)[:40]} that is not one of {', '.join(BUSY_KINDS)}")
        found.append(Busy(reason["kind"], str(reason.get("detail") or "")[:200]))
    return tuple(found)


def wire(kind: str, version: int = 1):
    """Declare an object of the protocol: a frozen dataclass with the kind its errors name and
    the newest version this tpuctl writes and reads."""
    def declare(cls):
        cls.KIND, cls.VERSION = kind, version
        return dataclass(frozen=True)(cls)
    return declare


# -- the objects ------------------------------------------------------------------------------
# Each declares, per field, the check that reads it (`SCHEMA`) and which fields may be missing
# (those with a default). `load` is the one reader; `dump` the one writer.
@wire("job spec", FORMAT)
class Spec:
    """jobs/<job>/spec.json: what to run, by whom, with which code (create-only)."""

    VERSION_KEY: ClassVar[str] = "format"
    id: str
    name: str
    member: str
    created: datetime
    config: JobConfig
    workdir_bundle: str
    source: str = ""
    version: str = ""                  # the tpuctl that wrote it
    agent_bundle: str | None = None    # None: the job runs on an existing TPU's agents
    timing: str = ""                   # JobTiming.format() of its agents
    control: dict[str, Any] = field(default_factory=dict)
    submitted_by: str | None = None    # a treasurer who ran the job for its member (`run --for`)
    on_tpu_of: str | None = None       # the member whose TPU it runs on (`run --node ... --force`)

    def __getitem__(self, item: str) -> Any:
        """A stored field as its JSON value (`spec["created"]` is the text the store holds), as the
        CLI shows it; code reads the typed attributes."""
        return as_json(self)[item]


@wire("job index entry")
class IndexEntry:
    """jobs/index/<stamp>-<job>: the group's jobs in time order."""

    id: str
    member: str


@wire("job attempt")
class Attempt:
    """jobs/<job>/attempts/NNNN.json: one try of a job on one TPU (create-only: one starter)."""

    attempt: int
    node: str
    zone: str
    workers: int
    owned: bool = False                # the job created this TPU (and may delete it)
    queued: bool = False               # ... through a queued resource of the same name
    created: datetime | None = None


@wire("job assignment")
class Assignment:
    """agents/<zone>/<node>/jobs/<stamp>-<job>.<attempt>.json: a node's queue entry."""

    job: str
    attempt: int


@wire("worker start")
class Start:
    """jobs/<job>/a<n>/start/w<k>.json: a worker's claim of the attempt (create-only)."""

    time: datetime
    interval: float                    # its heartbeat interval
    host: str = ""
    version: str = ""                  # the agent's tpuctl


@wire("worker heartbeat")
class WorkerBeat:
    """jobs/<job>/a<n>/beat/w<k>.json: a running worker's heartbeat (overwritten)."""

    time: datetime
    interval: float
    phase: str = "setup"


@wire("worker exit")
class Exit:
    """jobs/<job>/a<n>/exit/w<k>.json: how a worker's part ended (create-only)."""

    status: str                        # succeeded failed interrupted cancelled
    time: datetime
    exit_code: int | None = None
    phase: str = "setup"
    reason: str = ""


@wire("job cancel")
class Cancel:
    """jobs/<job>/cancel.json: a member asked the job to stop (create-only)."""

    by: str
    time: datetime | None = None
    keep_node: bool = False


@wire("attempt problem")
class Problem:
    """jobs/<job>/a<n>/problem.json: why an attempt cannot run (create-only)."""

    kind: str                          # launch_failed | node_lost
    message: str


@wire("release intent")
class ReleaseIntent:
    """jobs/<job>/a<n>/release/intent.json: the job's TPU is to go, and why (create-only)."""

    reason: str
    by: str
    time: datetime
    via: str = ""


@wire("release")
class ReleaseDone:
    """jobs/<job>/a<n>/release/done.json: Cloud TPU accepted the delete (create-only)."""

    time: datetime
    by: str
    via: str
    deleted: bool = False
    event: dict[str, Any] | None = None     # {"id", "payload"}: the ledger's node.deleted


@wire("touch")
class Touch:
    """agents/<zone>/<node>/touch/<member>.json: `tpuctl touch`, overwritten by the next."""

    by: str
    time: datetime
    until: datetime


@dataclass(frozen=True)
class Busy:
    kind: str           # one of BUSY_KINDS
    detail: str = ""    # e.g. the job id, "pid 4242 holds /dev/accel0", "alice from 10.0.0.2"


@wire("heartbeat")
class Beat:
    """agents/<zone>/<node>/beat/w<k>.json: what one worker's agent says its VM is doing
    (overwritten; tpuctl/domain/activity.py says what the reports mean)."""

    node: str
    zone: str
    worker: int
    time: datetime
    busy: tuple[Busy, ...] = ()
    idle_since: datetime | None = None
    interval: float = 10.0
    state: str = ""                    # busy | idle | stopped (older agents: a job's state)
    job: str | None = None
    version: str = ""                  # the agent's tpuctl
    pid: int | None = None

    @property
    def idle(self) -> bool:
        return not self.busy


SCHEMA: dict[type, dict[str, Check]] = {
    Spec: {"id": job, "name": matching(NAME_RE, "a job name"), "member": name, "created": time, "config": config,
           "workdir_bundle": key, "source": text, "version": lambda v: text(v, 40), "agent_bundle": optional(key),
           "timing": lambda v: text(v, 500), "control": control, "submitted_by": optional(name),
           "on_tpu_of": optional(name)},
    IndexEntry: {"id": job, "member": name},
    Attempt: {"attempt": whole(1, MAX_ATTEMPTS), "node": name, "zone": name, "workers": whole(1, MAX_WORKERS),
              "owned": boolean, "queued": boolean, "created": optional(time)},
    Assignment: {"job": job, "attempt": whole(1, MAX_ATTEMPTS)},
    Start: {"time": time, "interval": seconds, "host": lambda v: text(v, 255), "version": lambda v: text(v, 40)},
    WorkerBeat: {"time": time, "interval": seconds, "phase": one_of(*PHASES)},
    Exit: {"status": one_of(*WORKER_STATES), "time": time, "exit_code": optional(whole(-2**31, 2**31)),
           "phase": one_of(*PHASES), "reason": text},
    Cancel: {"by": name, "time": optional(time), "keep_node": boolean},
    Problem: {"kind": one_of(*PROBLEMS), "message": text},
    ReleaseIntent: {"reason": text, "by": name, "time": time, "via": lambda v: text(v, 100)},
    ReleaseDone: {"time": time, "by": name, "via": lambda v: text(v, 100), "deleted": boolean,
                  "event": optional(event)},
    Touch: {"by": name, "time": time, "until": time},
    Beat: {"node": name, "zone": name, "worker": whole(0, MAX_WORKERS - 1), "time": time, "busy": busy,
           "idle_since": optional(time), "interval": seconds, "state": lambda v: text(v, 40),
           "job": optional(lambda v: text(v, 200)), "version": lambda v: text(v, 40),
           "pid": optional(whole(0, 2**31))},
}
KINDS = tuple(SCHEMA)


def version_key(cls: type) -> str:
    return getattr(cls, "VERSION_KEY", "v")


def load(cls: type[T], data: bytes, origin: str = "") -> T:
    """The object of type `cls` in `data`, checked; BadObject names `origin` and why it is ignored."""
    what = f"{origin or 'this ' + cls.KIND} is ignored: it"
    try:
        if len(data) > MAX_BYTES:
            raise Invalid(f"is {len(data)} bytes, more than a {cls.KIND} can be")
        body = json.loads(data)
        if not isinstance(body, dict):
            raise Invalid(f"is not a JSON object, so not a {cls.KIND}")
        return _fields(cls, body, what)
    except BadObject:
        raise
    except Invalid as exc:
        raise BadObject(f"{what} {exc}.") from None
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise BadObject(f"{what} is not JSON ({str(exc)[:80]}).") from None


def _fields(cls: type[T], body: dict[str, Any], what: str) -> T:
    known = cls.VERSION
    version = body.get(version_key(cls), 1)
    if type(version) is not int or version < 1:
        raise Invalid(f"has version {show(version)}, not a whole number")
    if version > known:
        raise BadObject(f"{what} was written by a newer tpuctl (version {version} of the {cls.KIND}; this one "
                        f"reads up to {known}): upgrade tpuctl.", newer=True)
    values = {}
    for name, check, required in _declared(cls):
        if name not in body:
            if required:
                raise Invalid(f"lacks the field '{name}'")
            continue
        try:
            values[name] = check(body[name])
        except Invalid as exc:
            raise Invalid(f"has a field '{name}' that {exc}") from None
    if cls is Beat:
        values = _older_beat(body, values)
    return cls(**values)


@lru_cache(maxsize=None)
def _declared(cls: type) -> tuple[tuple[str, Check, bool], ...]:
    """Each field of `cls`: its name, its check, and whether it must be there (it has no default)."""
    return tuple((f.name, SCHEMA[cls][f.name], f.default is MISSING and f.default_factory is MISSING)
                 for f in fields(cls))


def _older_beat(body: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Agents before "busy" said it with `state`: "idle", or the state of their job."""
    if "busy" not in body:
        state = body.get("state")
        values["busy"] = () if state == "idle" else (Busy("job", str(body.get("job") or state or "")[:200]),)
    return values


def as_json(obj: Any) -> dict[str, Any]:
    """The object as its JSON fields, with its version; times as job records show them."""
    body: dict[str, Any] = {version_key(type(obj)): obj.VERSION}
    for spec in fields(obj):
        value = getattr(obj, spec.name)
        if isinstance(value, datetime):
            value = shown_time(value)
        elif isinstance(value, JobConfig):
            value = value.to_dict()
        elif spec.name == "busy":
            value = [{"kind": b.kind, "detail": b.detail} for b in value]
        body[spec.name] = value
    return body


def dump(obj: Any) -> bytes:
    """The bytes of an object as the store keeps it."""
    return json.dumps(as_json(obj), sort_keys=True).encode()
