"""Profiles: which project, zone, store and member a command acts for.

Precedence, lowest first: the built-in `local` profile, the config file's profile, the
TPUCTL_* environment variables (cron and scripts rely on them), then command-line flags.
`Profile.sources` remembers where each value came from for `tpuctl config show`.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from urllib.parse import urlsplit

from tpuctl.domain.durations import check_hours
from tpuctl.domain.jobs import RUNTIME_RE
from tpuctl.domain.nodes import ZONE_RE
from tpuctl.domain.textfiles import load_toml
from tpuctl.errors import ConfigError, UsageError

APP_NAME = "tpuctl"
LOCAL_ENDPOINT = "local"      # api_endpoint meaning "run the emulator inside this process"
LOCAL_PROFILE = "local"

MEMBER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
PROJECT_RE = re.compile(r"^(?:[a-z][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{0,62}$")     # also domain:project


@dataclass(frozen=True)
class Profile:
    name: str
    project: str
    zone: str
    api_endpoint: str          # "" = Google's endpoint with ADC; "local"; or "http://host:port"
    store: str                 # gs://bucket/prefix or a local folder
    member: str
    runtime_version: str
    hours: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_local(self) -> bool:
        return self.api_endpoint == LOCAL_ENDPOINT

    @property
    def is_emulated(self) -> bool:
        return self.is_local or self.api_endpoint.startswith("http://")


SETTINGS = ("project", "zone", "api_endpoint", "store", "member", "runtime_version", "hours")
ENV_VARS = {key: f"TPUCTL_{key.upper()}" for key in SETTINGS}


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Where local state lives (emulator world, local store, ledger database)."""
    override = os.environ.get("TPUCTL_DATA_DIR")
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir(APP_NAME, appauthor=False))
    if path.exists() and not path.is_dir():
        raise ConfigError(f"The data folder {path} is a file, not a folder.",
                          hint="Point TPUCTL_DATA_DIR at a folder (it is made if missing), or move the file away.")
    return path


def config_path(flag: str | None = None) -> Path:
    if flag:
        return Path(flag)
    env = os.environ.get("TPUCTL_CONFIG")
    return Path(env) if env else config_dir() / "config.toml"


def default_member() -> str:
    """The login name made label-safe, so a newcomer's nodes are attributed to them."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "member"
    cleaned = re.sub(r"[^a-z0-9_-]", "-", user.lower()).strip("-") or "member"
    return cleaned if cleaned[0].isalpha() else f"m-{cleaned}"[:63]


def builtin_local_profile() -> dict[str, object]:
    return {
        "project": "local-project",
        "zone": "us-central2-b",
        "api_endpoint": LOCAL_ENDPOINT,
        "store": str(data_dir() / "store"),
        "member": default_member(),
        "runtime_version": "tpu-ubuntu2204-base",
        "hours": 4.0,
    }


def load_config_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc.strerror}.") from None
    return parse_config(data, path)


def parse_config(data: bytes | str, path: Path | str) -> dict:
    """The config file's tables, every value of the type its key needs; one ConfigError
    sentence naming the file for anything else."""
    parsed = load_toml(data, f"The config file {path}",
                       hint="Fix the file, or move it away and run `tpuctl config init`.")
    default = parsed.get("default_profile")
    if default is not None and not (isinstance(default, str) and PROFILE_NAME_RE.match(default)):
        raise ConfigError(f"In {path}, 'default_profile' must be a profile's name, not {_shown(default)}.",
                          hint='Write it like default_profile = "group".')
    profiles = parsed.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise ConfigError(f"In {path}, 'profiles' must be a table of [profiles.NAME] tables.")
    for name, table in profiles.items():
        if not PROFILE_NAME_RE.match(name):
            raise ConfigError(f"In {path}, '{name}' cannot be a profile's name.",
                              hint="Use letters, digits, '_' or '-' (it names the profile's ledger file).")
        unknown = sorted(set(table) - set(SETTINGS))
        if unknown:
            raise ConfigError(
                f"In {path}, profile '{name}' has unknown key '{unknown[0]}'.",
                hint=f"Known keys: {', '.join(SETTINGS)}.",
            )
        for key, value in table.items():
            number = key == "hours"
            if (isinstance(value, bool) or not isinstance(value, (int, float))) if number else not isinstance(value, str):
                raise ConfigError(f"In {path}, '{key}' of profile '{name}' must be "
                                  f"{'a number of hours' if number else 'text in quotes'}, not {_shown(value)}.")
    return parsed


def _shown(value: object) -> str:
    """A TOML value as a person would name it in 'must be X, not Y'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    kinds = {list: "a list", dict: "a table"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def resolve_profile(
    config_flag: str | None = None,
    profile_flag: str | None = None,
    overrides: dict[str, object] | None = None,
) -> Profile:
    """The effective profile for this invocation, with the source of every value."""
    path = config_path(config_flag)
    data = load_config_file(path)
    profiles = data.get("profiles", {})
    name = profile_flag or os.environ.get("TPUCTL_PROFILE") or data.get("default_profile") or LOCAL_PROFILE
    if name != LOCAL_PROFILE and name not in profiles:
        known = ", ".join(sorted({LOCAL_PROFILE, *profiles})) or LOCAL_PROFILE
        raise ConfigError(
            f"There is no profile '{name}' in {path}.",
            hint=f"Known profiles: {known}. Create one with `tpuctl config init`.",
        )

    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    # Real profiles start from nothing but the harmless defaults; only `local` gets the emulator.
    base = builtin_local_profile()
    if name != LOCAL_PROFILE:
        base = {"api_endpoint": "", "member": base["member"], "runtime_version": base["runtime_version"], "hours": base["hours"]}
    for key, value in base.items():
        values[key], sources[key] = value, "default"
    for key, value in profiles.get(name, {}).items():
        values[key], sources[key] = value, f"{path} [profiles.{name}]"
    for key, env in ENV_VARS.items():
        if os.environ.get(env) not in (None, ""):
            values[key], sources[key] = os.environ[env], f"env {env}"
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key], sources[key] = value, "flag"

    missing = [key for key in SETTINGS if key not in values]
    if missing:
        raise ConfigError(
            f"Profile '{name}' does not set '{missing[0]}'.",
            hint=f"Add `{missing[0]} = ...` to [profiles.{name}] in {path}, or set {ENV_VARS[missing[0]]}.",
        )
    return _validated(Profile(name=name, sources=sources, **_typed(values, name)))


def _typed(values: dict[str, object], name: str) -> dict[str, object]:
    out = {key: str(values[key]) for key in SETTINGS if key != "hours"}
    try:
        out["hours"] = float(values["hours"])  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"'hours' in profile '{name}' must be a number of hours, not {values['hours']!r}.") from None
    return out


def _validated(profile: Profile) -> Profile:
    """Every value checked where it enters, with where it came from in the sentence."""
    def where(key: str) -> str:
        return profile.sources.get(key, "default")

    for key in SETTINGS:
        text = str(getattr(profile, key))
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise ConfigError(f"'{key}' of profile '{profile.name}' ({where(key)}) holds a control character.")
    if not MEMBER_RE.match(profile.member):
        raise ConfigError(
            f"Member name '{profile.member}' cannot be used as a label.",
            hint="Use lowercase letters, digits, '_' or '-', starting with a letter (set `member` or TPUCTL_MEMBER).",
        )
    if not PROJECT_RE.match(profile.project):
        raise ConfigError(f"Project '{profile.project}' ({where('project')}) is not a Google Cloud project id.",
                          hint="Project ids are lowercase letters, digits and hyphens, starting with a letter.")
    if not ZONE_RE.match(profile.zone):
        raise ConfigError(f"Zone '{profile.zone}' ({where('zone')}) is not a zone like us-central2-b.",
                          hint="`tpuctl zones` lists the zones.")
    if not RUNTIME_RE.match(profile.runtime_version):
        raise ConfigError(f"Runtime version '{profile.runtime_version}' ({where('runtime_version')}) "
                          "is not a runtime version like tpu-ubuntu2204-base.")
    _check_endpoint(profile.api_endpoint, where("api_endpoint"))
    check_hours(profile.hours, f"'hours' ({where('hours')})", ConfigError)
    if not profile.store.strip():
        raise ConfigError(f"'store' ({where('store')}) is empty.",
                          hint="Set it to gs://BUCKET/FOLDER or a local folder; leave it out of the local profile for the default.")
    if profile.is_local and not profile.store.startswith("gs://"):
        return replace(profile, store=str(Path(profile.store).expanduser()))
    return profile


def _check_endpoint(endpoint: str, source: str) -> None:
    if not endpoint or endpoint == LOCAL_ENDPOINT:
        return
    hint = "Use http://HOST:PORT for an emulator, 'local' for the built-in one, or leave it empty for Google."
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"api_endpoint '{endpoint}' is not a URL.", hint=hint)
    try:
        parts = urlsplit(endpoint)
        parts.port   # noqa: B018 - raises ValueError for a port that is no port
    except ValueError:
        parts = None
    if parts is None or not parts.hostname or " " in endpoint:
        raise ConfigError(f"api_endpoint '{endpoint}' ({source}) is not a URL with a host.", hint=hint)


CONFIG_HEADER = """\
# tpuctl configuration. Every key can also be set by an environment variable
# (TPUCTL_PROJECT, TPUCTL_ZONE, TPUCTL_API_ENDPOINT, TPUCTL_STORE, TPUCTL_MEMBER,
# TPUCTL_RUNTIME_VERSION, TPUCTL_HOURS), which wins over this file.

# The profile used when neither --profile nor TPUCTL_PROFILE says otherwise.
# "local" is built in: an emulator inside tpuctl and a local-folder store, no cloud account.
"""

KEY_COMMENTS = {
    "project": "the group's Google Cloud project id",
    "zone": "default zone for create / queue",
    "api_endpoint": "empty: Google; \"local\": the built-in emulator; http://HOST:PORT: a served one",
    "store": "the group store: gs://BUCKET/PREFIX or a local folder",
    "member": "your name in the ledger (lowercase, label-safe)",
    "runtime_version": "default TPU software version",
    "hours": "default lease: nodes are reaped after this many hours",
}


def credentials_found() -> bool:
    """Whether Application Default Credentials are on this machine, looked for where
    google.auth looks (the variable, then gcloud's file) without loading it."""
    named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return Path(named).expanduser().is_file()
    gcloud = os.environ.get("CLOUDSDK_CONFIG")
    if not gcloud:
        base = os.environ.get("APPDATA") if os.name == "nt" else None
        gcloud = str(Path(base) / "gcloud") if base else str(Path.home() / ".config" / "gcloud")
    return (Path(gcloud) / "application_default_credentials.json").is_file()


@dataclass(frozen=True)
class NewProfile:
    """What `config init` writes: the profile's values and why it talks to what it talks to."""

    values: dict[str, object]
    reason: str            # "asked", "google" or "no-credentials" / "no-project" (so: the emulator)

    @property
    def on_emulator(self) -> bool:
        return self.values["api_endpoint"] != ""


def plan_profile(*, project: str | None, zone: str, store: str | None, api_endpoint: str | None,
                 member: str, credentials: bool) -> NewProfile:
    """The built-in emulator unless a real project is given and credentials exist (or an
    endpoint is named), so a first `config init` works on a laptop with no account."""
    if api_endpoint is not None:
        endpoint, reason = api_endpoint, "asked"
    elif project is not None and credentials:
        endpoint, reason = "", "google"
    else:
        endpoint, reason = LOCAL_ENDPOINT, "no-credentials" if project is not None else "no-project"
    if store is None:
        if endpoint == "":
            raise UsageError("A profile on Google Cloud needs the group store.",
                             hint="Pass --store gs://BUCKET/PREFIX (every member uses the same one).")
        store = str(data_dir() / "store")
    values = {"project": project or "local-project", "zone": zone, "api_endpoint": endpoint, "store": store,
              "member": member, "runtime_version": "tpu-ubuntu2204-base", "hours": 4}
    return NewProfile(values, reason)


def render_template(values: dict[str, object], default: str, profile: str = "group") -> str:
    """The config file `config init` writes, comments in one column; refused (UsageError)
    unless it loads back cleanly."""
    lines = [f"{key} = {json.dumps(values[key], ensure_ascii=False)}" for key in SETTINGS]
    width = max(len(line) for line in lines) + 2
    body = "\n".join(f"{line:<{width}}# {KEY_COMMENTS[key]}" for line, key in zip(lines, SETTINGS))
    text = f"{CONFIG_HEADER}default_profile = {json.dumps(default)}\n\n[profiles.{profile}]\n{body}\n"
    try:
        if default not in (LOCAL_PROFILE, profile):
            raise ConfigError(f"--default must be '{LOCAL_PROFILE}' or '{profile}', not '{default}'.")
        data = parse_config(text, "being written")
        table = data["profiles"][profile]
        _validated(Profile(name=profile, sources=dict.fromkeys(table, "flag"), **table))
    except ConfigError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
    return text


def profile_as_dict(profile: Profile) -> dict[str, object]:
    return {f.name: getattr(profile, f.name) for f in fields(profile) if f.name != "sources"}
