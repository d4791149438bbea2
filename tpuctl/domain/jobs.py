"""Jobs: the config a member writes, where a job lives in the group store, and its state.

Every job data format is here, in one module: the YAML job config (checked with the file,
the line and the field in each error), the store layout (create-only objects: spec,
attempts, per-worker start/exit, log chunks; overwritable heartbeats), the agent's timing,
and `job_status`, the pure function that derives a job's state from what the store holds.
Anyone can recompute a job's state from the store, so no crash can lose it. No I/O here.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from tpuctl.domain.accelerators import parse_accelerator_type
from tpuctl.domain.durations import MAX_LEASE_HOURS, format_duration
from tpuctl.domain.nodes import ZONE_RE
from tpuctl.domain.releases import Release
from tpuctl.domain.textfiles import decode_text, too_deep
from tpuctl.errors import ConfigError, UsageError

FORMAT = 1                                   # spec format; an agent refuses a newer one
NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$")     # job and stored-config names
NODE_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
RUNTIME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV = re.compile(r"^(TPU_WORKER_ID|TPUCTL_.*)$")
_SURROGATE = re.compile("[\ud800-\udfff]")
SECRET_KEY_RE = re.compile(r"SECRET|TOKEN|PASSW|API_?KEY|PRIVATE|CREDENTIAL", re.IGNORECASE)
MAX_HOURS = MAX_LEASE_HOURS
NAME_RULE = "1-40 lowercase letters, digits and hyphens, starting with a letter"


# -- the job config (YAML) ---------------------------------------------------------------------
@dataclass(frozen=True)
class TpuSpec:
    type: str
    zone: str
    runtime: str
    spot: bool = False
    queue: bool = False

    @property
    def workers(self) -> int:
        return parse_accelerator_type(self.type).hosts


@dataclass(frozen=True)
class JobConfig:
    """A checked job config. `lines` maps each field to its line, for errors found later."""

    name: str
    run: tuple[str, ...]
    tpu: TpuSpec | None = None
    node: str | None = None
    workdir: str = "."
    setup: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    hours: float = 4.0
    outputs: str | None = None
    resume: bool = False
    keep_node: bool = False          # keep the TPU the job creates when the job ends
    secrets: tuple[str, ...] = ()    # env names whose values are masked everywhere (from env, else the member's shell)
    source: str = field(default="", compare=False)
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}, line {self.lines.get(name, 1)}: '{name}' {problem}.")

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("source", "lines")}
        data.update(tpu=asdict(self.tpu) if self.tpu else None, run=list(self.run), setup=list(self.setup),
                    secrets=list(self.secrets))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobConfig:
        """A config as stored in a job's spec (written by tpuctl, so already checked)."""
        tpu = TpuSpec(**data["tpu"]) if data.get("tpu") else None
        return cls(**{**data, "tpu": tpu, "run": tuple(data["run"]), "setup": tuple(data.get("setup", ())),
                      "secrets": tuple(data.get("secrets", ()))})


_FIELDS = {"name": "the job's name", "tpu": "the TPU to create", "node": "an existing TPU to run on",
           "workdir": "the folder to ship", "setup": "commands run once per worker", "run": "the command the job runs",
           "env": "environment variables", "hours": "the TPU's lease", "outputs": "the results folder",
           "resume": "run again after a preemption", "keep_node": "keep the TPU when the job ends",
           "secrets": "env variables whose values never show"}
_TPU_FIELDS = ("type", "zone", "runtime", "spot", "queue")


def parse_job_config(text: str | bytes, source: str, *, zone: str, runtime: str, hours: float) -> JobConfig:
    """Check a job config; zone, runtime and hours default to the profile's."""
    import yaml

    text = decode_text(text, source)
    loader = None
    try:
        loader = yaml.SafeLoader(text)      # reads the whole text: refuses characters YAML does not allow
        root = loader.get_single_node()
        reader = _Reader(source, loader)
        if root is None:
            raise ConfigError(f"{source}, line 1: the file is empty; a job config needs at least 'name', 'tpu' and 'run'.")
        top = reader.mapping(root, "", _FIELDS)
        return reader.config(root, top, zone=zone, runtime=runtime, hours=hours)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{source}, line {line}: this is not valid YAML ({exc.problem or exc.context}).") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(f"{source}, line {line}: this is not valid YAML (character U+{code:04X} "
                          "is not allowed).") from None
    except RecursionError:
        raise too_deep(source) from None
    finally:
        if loader is not None:
            loader.dispose()


class _Reader:
    """Walks the YAML node tree so that every value keeps the line it came from."""

    def __init__(self, source: str, loader):
        self.source, self.loader, self.lines = source, loader, {}

    def fail(self, node, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}, line {node.start_mark.line + 1}: '{name}' {problem}.")

    def mapping(self, node, prefix: str, known) -> dict:
        import yaml

        what = f"'{prefix[:-1]}'" if prefix else "the file"
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(f"{self.source}, line {node.start_mark.line + 1}: {what} must be a mapping of "
                              f"fields (key: value), not {_describe(self.value(node))}.")
        found: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            name = f"{prefix}{key}"
            if not isinstance(key, str) or key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=1)
                hint = f"did you mean '{prefix}{close[0]}'?" if close else f"known: {', '.join(known)}"
                raise self.fail(key_node, name, f"is not a field of {'a job config' if not prefix else what} ({hint})")
            if key in found:
                raise self.fail(key_node, name, f"appears twice (first on line {self.lines[name]})")
            found[key] = value_node
            self.lines[name] = key_node.start_mark.line + 1
        return found

    def value(self, node):
        try:
            value = self.loader.construct_object(node, deep=True)
        except ValueError:          # int() of 4300+ digits, a date like 2026-13-45
            raise ConfigError(f"{self.source}, line {node.start_mark.line + 1}: this value cannot be read "
                              "(a number of more than 4300 digits, or a date that does not exist).") from None
        if isinstance(value, str) and _SURROGATE.search(value):
            raise ConfigError(f"{self.source}, line {node.start_mark.line + 1}: this text holds an escaped "
                              "half of a character (\\uD800 to \\uDFFF), which is not text.")
        return value

    def text(self, node, name: str, rule: re.Pattern | None = None, explain: str = "") -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, name, f"must be {explain or 'text'}, not {_describe(value)}")
        if "\0" in value:
            raise self.fail(node, name, "must not contain a NUL character")
        if rule is not None and not rule.match(value):
            raise self.fail(node, name, f"must be {explain}, not '{value}'")
        return value

    def flag(self, node, name: str) -> bool:
        value = self.value(node)
        if not isinstance(value, bool):
            raise self.fail(node, name, f"must be true or false, not {_describe(value)}")
        return value

    def commands(self, node, name: str) -> tuple[str, ...]:
        value = self.value(node)
        items = node.value if isinstance(value, list) else [node]
        if isinstance(value, list) and not items:
            raise self.fail(node, name, "must list at least one command")
        return tuple(self.text(item, name, explain="a shell command (text) or a list of them") for item in items)

    def config(self, root, top: dict, *, zone: str, runtime: str, hours: float) -> JobConfig:
        for required in ("name", "run"):
            if required not in top:
                raise self.fail(root, required, f"is missing ({_FIELDS[required]})")
        if ("tpu" in top) == ("node" in top):
            problem = ("cannot be given with 'tpu': run on an existing TPU or create one" if "tpu" in top
                       else "or 'tpu' is needed (an existing TPU to run on, or a TPU to create)")
            raise self.fail(top.get("node", root), "node", problem)
        values: dict[str, Any] = {
            "name": self.text(top["name"], "name", NAME_RE, NAME_RULE),
            "run": self.commands(top["run"], "run"),
            "hours": hours,
        }
        if "tpu" in top:
            values["tpu"] = self.tpu(top["tpu"], zone, runtime)
        else:
            values["node"] = self.text(top["node"], "node", NODE_RE, "the name of an existing TPU")
        if "workdir" in top:
            values["workdir"] = self.text(top["workdir"], "workdir", explain="a folder")
        if "setup" in top:
            values["setup"] = self.commands(top["setup"], "setup")
        if "env" in top:
            values["env"] = self.env(top["env"])
        if "hours" in top:
            values["hours"] = self.hours(top["hours"])
        if "outputs" in top:
            values["outputs"] = self.outputs(top["outputs"])
        if "keep_node" in top:
            values["keep_node"] = self.flag(top["keep_node"], "keep_node")
        if "secrets" in top:
            values["secrets"] = self.secrets(top["secrets"])
        if "resume" in top:
            values["resume"] = self.flag(top["resume"], "resume")
            if values["resume"] and "node" in values:
                raise self.fail(top["resume"], "resume", "needs 'tpu', not 'node': a resumed job runs on a new TPU")
            if values["resume"] and "outputs" not in values:
                raise self.fail(top["resume"], "resume", "needs 'outputs': a resumed run continues from the checkpoint there")
        return JobConfig(**values, source=self.source, lines=dict(self.lines))

    def tpu(self, node, zone: str, runtime: str) -> TpuSpec:
        found = self.mapping(node, "tpu.", _TPU_FIELDS)
        if "type" not in found:
            raise self.fail(node, "tpu.type", "is missing (the accelerator type, such as v4-8)")
        kind = self.text(found["type"], "tpu.type", explain="an accelerator type such as v4-8")
        try:
            kind = parse_accelerator_type(kind).name
        except UsageError:
            raise self.fail(found["type"], "tpu.type", f"must be an accelerator type such as v4-8 or v5litepod-4, not '{kind}'") from None
        spec = TpuSpec(type=kind, zone=zone, runtime=runtime)
        if "zone" in found:
            spec = replace(spec, zone=self.text(found["zone"], "tpu.zone", ZONE_RE, "a zone such as us-central2-b"))
        if "runtime" in found:
            spec = replace(spec, runtime=self.text(found["runtime"], "tpu.runtime", RUNTIME_RE, "a runtime version such as tpu-ubuntu2204-base"))
        for name in ("spot", "queue"):
            if name in found:
                spec = replace(spec, **{name: self.flag(found[name], f"tpu.{name}")})
        return spec

    def env(self, node) -> dict[str, str]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, "env", f"must be a mapping of NAME: value, not {_describe(self.value(node))}")
        env: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str) or not ENV_KEY_RE.match(key):
                raise self.fail(key_node, f"env.{key}", "is not a valid variable name (letters, digits and _, not starting with a digit)")
            if RESERVED_ENV.match(key):
                raise self.fail(key_node, f"env.{key}", "is set by tpuctl itself and cannot be given")
            value = self.value(value_node)
            if isinstance(value, bool):
                value = "true" if value else "false"
            if not isinstance(value, (str, int, float)):
                raise self.fail(value_node, f"env.{key}", f"must be text or a number, not {_describe(value)}")
            if "\0" in str(value):
                raise self.fail(value_node, f"env.{key}", "must not contain a NUL character")
            env[key] = str(value)
        return env

    def secrets(self, node) -> tuple[str, ...]:
        value = self.value(node)
        if not isinstance(value, list):
            raise self.fail(node, "secrets", f"must be a list of env variable names, not {_describe(value)}")
        names = []
        for item in node.value:
            name = self.value(item)
            if not isinstance(name, str) or not ENV_KEY_RE.match(name):
                raise self.fail(item, "secrets", f"must list env variable names, not {_describe(name)}")
            if RESERVED_ENV.match(name):
                raise self.fail(item, "secrets", f"names {name}, which tpuctl sets itself")
            names.append(name)
        return tuple(dict.fromkeys(names))

    def hours(self, node) -> float:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, "hours", f"must be a number of hours, not {_describe(value)}")
        if not 0 < value <= MAX_HOURS:
            raise self.fail(node, "hours", f"must be more than 0 and at most {MAX_HOURS:g}, not {value:g}")
        return float(value)

    def outputs(self, node) -> str:
        value = self.text(node, "outputs", explain="a folder inside the workdir")
        clean = posixpath.normpath(value.replace("\\", "/"))
        if clean.startswith(("/", "..")) or clean == ".":
            raise self.fail(node, "outputs", f"must be a folder inside the workdir, not '{value}'")
        return clean


def _describe(value: Any) -> str:
    """A YAML value as a person would name it in 'must be X, not Y'."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def check_name(name: str, what: str = "job name") -> str:
    if not NAME_RE.match(name):
        raise UsageError(f"'{name}' is not a valid {what}: use {NAME_RULE}.")
    return name


# -- stored configs: `# tpuctl-config: NAME@vN` says which version a file started from ------------
HEADER_RE = re.compile(r"^# tpuctl-config: ([a-z][a-z0-9-]*)@v(\d+)\b(?: \(pushed by (\S+) at (\S+?);)?")


def config_header(name: str, version: int, member: str, when: datetime) -> str:
    return (f"# tpuctl-config: {name}@v{version} (pushed by {member} at {iso(when)}; "
            "`tpuctl configs push` reads this line)\n")


def read_header(text: str) -> tuple[str, int] | None:
    match = HEADER_RE.match(text)
    return (match.group(1), int(match.group(2))) if match else None


def pushed_by(text: str) -> tuple[str, str] | tuple[None, None]:
    """(member, time) from a stored config's header."""
    match = HEADER_RE.match(text)
    return (match.group(3), match.group(4)) if match and match.group(3) else (None, None)


CODE_RE = re.compile(r"^# tpuctl-code: sha256:([0-9a-f]{64})\b.*\n?")


def code_line(digest: str, files: int, size: int) -> str:
    """The stored config's second line: the content-addressed bundle of its workdir."""
    return f"# tpuctl-code: sha256:{digest} ({files} file{'s' if files != 1 else ''}, {shown_size(size)})\n"


def read_code(text: str) -> str | None:
    """The digest of a stored config's code, if it was pushed with it."""
    match = CODE_RE.match(text.partition("\n")[2] if HEADER_RE.match(text) else text)
    return match.group(1) if match else None


def strip_header(text: str) -> str:
    """The config as the member wrote it: without the header line and the code line tpuctl adds."""
    text = text.partition("\n")[2] if HEADER_RE.match(text) else text
    match = CODE_RE.match(text)
    return text[match.end():] if match else text


def shown_size(size: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def config_key(name: str, version: int) -> str:
    return f"configs/{name}/v{version}.yaml"


def config_version(key: str) -> int | None:
    match = re.fullmatch(r"configs/[a-z0-9-]+/v(\d+)\.yaml", key)
    return int(match.group(1)) if match else None


# -- where a job lives in the group store ----------------------------------------------------
def iso(when: datetime | None) -> str | None:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if when else None


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def stamp(when: datetime) -> str:
    """A sortable, store-safe time: 20261105T141233123Z."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}Z"


JOB_ID_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?-[a-z0-9]{6}$")


def job_id(name: str, token: str) -> str:
    return f"{name}-{token}"


def check_job_id(job: str) -> str:
    if not JOB_ID_RE.match(job):
        raise UsageError(f"'{job}' is not a job id (they look like digits-k3x9q2).", hint="`tpuctl jobs` lists them.")
    return job


def node_for(job: str, attempt: int) -> str:
    """The TPU a job creates for an attempt: the job id, then `-2`, `-3` ... after preemptions."""
    return job if attempt == 1 else f"{job}-{attempt}"


def spec_key(job: str) -> str:
    return f"jobs/{job}/spec.json"


INDEX_PREFIX = "jobs/index/"


def index_key(created: datetime, job: str) -> str:
    return f"{INDEX_PREFIX}{stamp(created)}-{job}"


def index_job(key: str) -> str:
    return key[len(INDEX_PREFIX):].split("-", 1)[1]


def attempts_prefix(job: str) -> str:
    return f"jobs/{job}/attempts/"


def attempt_key(job: str, attempt: int) -> str:
    return f"{attempts_prefix(job)}{attempt:04d}.json"


def key_attempt(key: str) -> int:
    return int(key.rsplit("/", 1)[1].split(".")[0])


def cancel_key(job: str) -> str:
    return f"jobs/{job}/cancel.json"


def problem_key(job: str, attempt: int) -> str:
    return f"jobs/{job}/a{attempt}/problem.json"


WORKER_KINDS = ("start", "beat", "exit")


def worker_prefix(job: str, attempt: int, kind: str) -> str:
    return f"jobs/{job}/a{attempt}/{kind}/"


def worker_key(job: str, attempt: int, kind: str, worker: int) -> str:
    return f"{worker_prefix(job, attempt, kind)}w{worker}.json"


def key_worker(key: str) -> int:
    return int(key.rsplit("/w", 1)[1].split(".")[0])


def log_prefix(job: str, attempt: int, worker: int) -> str:
    return f"jobs/{job}/a{attempt}/log/w{worker}/"


def log_key(job: str, attempt: int, worker: int, seq: int) -> str:
    return f"{log_prefix(job, attempt, worker)}{seq:08d}.log"


def outputs_prefix(job: str, worker: int) -> str:
    return f"jobs/{job}/outputs/w{worker}/"


def node_prefix(zone: str, node: str) -> str:
    return f"agents/{zone}/{node}/"


def assignment_key(zone: str, node: str, created: datetime, job: str, attempt: int) -> str:
    """A node's queue: the agents take these in key (= time) order."""
    return f"{node_prefix(zone, node)}jobs/{stamp(created)}-{job}.{attempt}.json"


def agent_beat_key(zone: str, node: str, worker: int) -> str:
    return f"{node_prefix(zone, node)}beat/w{worker}.json"


def touch_prefix(zone: str, node: str) -> str:
    return f"{node_prefix(zone, node)}touch/"


def touch_key(zone: str, node: str, member: str) -> str:
    """`tpuctl touch`: one record per member, overwritten by their next touch."""
    return f"{touch_prefix(zone, node)}{member}.json"


def bundle_key(kind: str, digest: str) -> str:
    return f"bundles/{kind}/{digest}.tar.gz"


# -- timing of agents and followers ----------------------------------------------------------
@dataclass(frozen=True)
class JobTiming:
    """Seconds between an agent's (and a follower's) periodic acts; short in tests."""

    poll: float = 2.0         # agent: look for new jobs, notice a cancel
    heartbeat: float = 10.0   # agent: write heartbeats
    flush: float = 1.0        # agent: upload a log chunk
    sync: float = 60.0        # agent: upload outputs while a job runs
    grace: float = 10.0       # agent: SIGTERM to SIGKILL of a stopped job
    follow: float = 1.0       # member: poll while following a job
    start: float = 900.0      # member: how long a READY TPU's agents may take to report (boot, installs)

    @classmethod
    def parse(cls, text: str | None, what: str = "TPUCTL_JOB_TIMING") -> JobTiming:
        """`poll=0.2,heartbeat=0.5` (unnamed values keep their default)."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            key, _, raw = part.partition("=")
            try:
                number = float(raw)
            except ValueError:
                number = -1.0
            if key not in {f.name for f in fields(cls)} or not 0 < number <= 86400:     # never nan or inf
                raise ConfigError(f"{what} has '{part}'; write NAME=SECONDS with NAME one of "
                                  f"{', '.join(f.name for f in fields(cls))}.")
            values[key] = number
        return cls(**values)

    def format(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name):g}" for f in fields(self))


def stale_after(interval: float) -> timedelta:
    """A heartbeat older than this means its writer is gone."""
    return timedelta(seconds=3 * interval + 2)


# -- secrets: env values that look secret never show in logs or output -------------------------
def is_secret(key: str, named: tuple[str, ...] | list[str] = ()) -> bool:
    """Named in the config's `secrets`, or named like a secret (TOKEN, API_KEY, ...)."""
    return key in named or bool(SECRET_KEY_RE.search(key))


def secret_values(env: dict[str, str], named: tuple[str, ...] | list[str] = ()) -> list[str]:
    return sorted((v for k, v in env.items() if is_secret(k, named) and len(v) >= 4), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def shown_env(env: dict[str, str], named: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    return {k: "***" if is_secret(k, named) else v for k, v in env.items()}


def with_secrets(config: JobConfig, environ: dict[str, str]) -> JobConfig:
    """The config with each named secret's value: from its `env`, else from `environ` (the
    member's shell at `run`, so a stored config need not hold it)."""
    missing = [name for name in config.secrets if name not in config.env and name not in environ]
    if missing:
        raise config.error("secrets", f"names {missing[0]}, which is neither in 'env' nor set in your environment")
    return replace(config, env={**config.env, **{n: environ[n] for n in config.secrets if n not in config.env}})


# -- state, derived from the store -----------------------------------------------------------
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "interrupted"})


@dataclass(frozen=True)
class WorkerStatus:
    worker: int
    state: str                        # pending running succeeded failed interrupted cancelled lost
    exit_code: int | None = None
    phase: str = ""                   # setup | run: where it ended
    reason: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    heartbeat: datetime | None = None


@dataclass(frozen=True)
class AttemptStatus:
    attempt: int
    node: str
    zone: str
    state: str
    workers: tuple[WorkerStatus, ...]
    problem: str = ""
    created: datetime | None = None
    owned: bool = True               # the job created this TPU (and may delete it)
    queued: bool = False             # ... through a queued resource of the same name
    release: Release | None = None   # its TPU's release once the job ended, asked or done

    @property
    def failing(self) -> WorkerStatus | None:
        return next((w for w in self.workers if w.state == "failed"), None)

    @property
    def started(self) -> datetime | None:
        return min((w.started for w in self.workers if w.started), default=None)

    @property
    def finished(self) -> datetime | None:
        ends = [w.finished for w in self.workers]
        return max(ends) if ends and all(ends) else None  # type: ignore[type-var]


@dataclass(frozen=True)
class JobStatus:
    spec: dict[str, Any]
    state: str
    attempts: tuple[AttemptStatus, ...]
    cancelled_by: str | None = None
    keep_node: bool = False          # the job (or its cancel) asked to keep the TPU it created

    @property
    def id(self) -> str:
        return self.spec["id"]

    @property
    def latest(self) -> AttemptStatus | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def resumable(self) -> bool:
        return self.state == "interrupted" and bool(self.spec["config"].get("resume")) and not self.cancelled_by

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES and not self.resumable


@dataclass(frozen=True)
class AttemptRecords:
    """What the store holds for one attempt: its record, and start/beat/exit per worker."""

    record: dict[str, Any]
    start: dict[int, dict] = field(default_factory=dict)
    beat: dict[int, dict] = field(default_factory=dict)
    exit: dict[int, dict] = field(default_factory=dict)
    problem: dict[str, Any] | None = None
    release: dict[str, dict] = field(default_factory=dict)     # "intent" / "done" records


def worker_status(records: AttemptRecords, worker: int, now: datetime) -> WorkerStatus:
    start, exit_, beat = records.start.get(worker), records.exit.get(worker), records.beat.get(worker)
    started = parse_iso(start["time"]) if start else None
    last = parse_iso((beat or start or {}).get("time"))
    if exit_:
        return WorkerStatus(worker, exit_["status"], exit_.get("exit_code"), exit_.get("phase", ""),
                            exit_.get("reason", ""), started, parse_iso(exit_["time"]), last)
    problem = (records.problem or {}).get("message", "")
    if start:
        interval = float((beat or start).get("interval", JobTiming.heartbeat))
        if problem or now - last > stale_after(interval):
            return WorkerStatus(worker, "lost", reason=problem or "its heartbeat stopped", started=started, heartbeat=last)
        return WorkerStatus(worker, "running", phase=(beat or {}).get("phase", ""), started=started, heartbeat=last)
    return WorkerStatus(worker, "lost" if problem else "pending", reason=problem)


def attempt_state(states: list[str], cancelled: bool, problem: dict | None) -> str:
    if problem and problem.get("kind") == "launch_failed":
        return "failed"
    if states and all(s == "succeeded" for s in states):
        return "succeeded"
    if "failed" in states:
        return "failed"
    if "running" in states:
        return "cancelling" if cancelled else "running"
    if cancelled:
        return "cancelled"
    if "interrupted" in states or "lost" in states:
        return "interrupted"
    return "running" if "succeeded" in states or "cancelled" in states else "pending"


def job_status(spec: dict[str, Any], attempts: list[AttemptRecords], cancel: dict | None, now: datetime) -> JobStatus:
    """A job's state from its store objects: the latest attempt decides (pure)."""
    shown = []
    for records in attempts:
        rec = records.record
        workers = tuple(worker_status(records, k, now) for k in range(int(rec["workers"])))
        state = attempt_state([w.state for w in workers], cancel is not None, records.problem)
        shown.append(AttemptStatus(int(rec["attempt"]), rec["node"], rec["zone"], state, workers,
                                   (records.problem or {}).get("message", ""), parse_iso(rec.get("created")),
                                   bool(rec.get("owned")), bool(rec.get("queued")),
                                   Release.from_records(records.release.get("intent"), records.release.get("done"))))
    state = shown[-1].state if shown else ("cancelled" if cancel else "pending")
    keep = bool(spec["config"].get("keep_node") or (cancel or {}).get("keep_node"))
    return JobStatus(spec, state, tuple(shown), (cancel or {}).get("by"), keep)


def outcome(status: JobStatus) -> str:
    """One sentence on how a job ended (or stands)."""
    attempt, job = status.latest, f"Job {status.id}"
    if status.state == "succeeded" and attempt:
        began = min((a.started for a in status.attempts if a.started), default=None)
        took = attempt.finished - began if began and attempt.finished else timedelta(0)
        workers, tries = len(attempt.workers), len(status.attempts)
        return (f"{job} succeeded on {workers} worker{'s' if workers > 1 else ''} in {format_duration(took)}"
                + (f" ({tries} attempts)." if tries > 1 else "."))
    if status.state == "failed" and attempt:
        failing = attempt.failing
        if failing is None:
            return f"{job} failed: {attempt.problem}."
        how = f"exited with code {failing.exit_code}" if failing.exit_code is not None else failing.reason
        return f"{job} failed: worker {failing.worker} {how} in {failing.phase or 'setup'}."
    if status.state == "cancelled":
        return f"{job} was cancelled by {status.cancelled_by}."
    if status.state == "interrupted" and attempt:
        why = attempt.problem or next((w.reason for w in attempt.workers if w.reason), "its TPU went away")
        if status.resumable:
            return f"{job} was interrupted ({why}); `tpuctl jobs resume` runs it again from its checkpoint."
        return f"{job} was interrupted ({why}) and does not resume (resume: false)."
    return f"{job} is {status.state}."


def status_json(status: JobStatus) -> dict[str, Any]:
    """`--json` of `tpuctl job`, `jobs` and `run` (documented in the README)."""
    from tpuctl.domain.times import format_time

    def iso(when: datetime | None) -> str | None:       # --json times in the one canonical form
        return format_time(when) if when else None

    spec, latest = status.spec, status.latest
    config = dict(spec["config"], env=shown_env(spec["config"].get("env", {}), spec["config"].get("secrets", ())))
    return {
        "id": status.id, "name": spec["name"], "member": spec["member"], "state": status.state,
        "created": iso(parse_iso(spec["created"])), "source": spec["source"], "node": latest.node if latest else None,
        "zone": latest.zone if latest else None, "attempt": latest.attempt if latest else 0,
        "resumable": status.resumable, "cancelled_by": status.cancelled_by, "config": config,
        "keep_node": status.keep_node,
        "release": latest.release.to_json() if latest and latest.release else None,
        "attempts": [{"attempt": a.attempt, "node": a.node, "zone": a.zone, "state": a.state, "problem": a.problem or None,
                      "started": iso(a.started), "finished": iso(a.finished),
                      "release": a.release.to_json() if a.release else None,
                      "workers": [{"worker": w.worker, "state": w.state, "exit_code": w.exit_code, "phase": w.phase or None,
                                   "reason": w.reason or None, "started": iso(w.started), "finished": iso(w.finished),
                                   "heartbeat": iso(w.heartbeat)} for w in a.workers]}
                     for a in status.attempts],
    }
