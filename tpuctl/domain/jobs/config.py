"""The job config a member writes (YAML), checked with the file, the line and the field in each
error; and the secrets in its env, which never show in logs or output. No I/O here."""

from __future__ import annotations

import difflib
import posixpath
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from tpuctl.domain.accelerators import parse_accelerator_type
from tpuctl.domain.durations import MAX_LEASE_HOURS
from tpuctl.domain.nodes import ZONE_RE
from tpuctl.domain.textfiles import decode_text, deep_parse, too_deep
from tpuctl.errors import ConfigError, UsageError

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
    """The `tpu:` a job creates for itself (a job without one runs on an existing `node`)."""

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
        with deep_parse():
            root = loader.get_single_node()
            reader = _Reader(source, loader)
            if root is None:
                raise ConfigError(f"{source}, line 1: the file is empty; a job config needs at least 'name', "
                                  "'tpu' and 'run'.")
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

