"""Profiles: which project, zone, store and member a command acts for.

Precedence, lowest first: the built-in `local` profile, the config file's profile, the
TPUCTL_* environment variables (cron and scripts rely on them), then command-line flags.
`Profile.sources` remembers where each value came from for `tpuctl config show`.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from tpuctl.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

APP_NAME = "tpuctl"
LOCAL_ENDPOINT = "local"      # api_endpoint meaning "run the emulator inside this process"
LOCAL_PROFILE = "local"

MEMBER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


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
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


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
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"The config file {path} is not valid TOML ({exc}).",
            hint="Fix the file, or move it away and run `tpuctl config init`.",
        ) from None
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc.strerror}.") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise ConfigError(f"In {path}, 'profiles' must be a table of [profiles.NAME] tables.")
    for name, table in profiles.items():
        unknown = sorted(set(table) - set(SETTINGS))
        if unknown:
            raise ConfigError(
                f"In {path}, profile '{name}' has unknown key '{unknown[0]}'.",
                hint=f"Known keys: {', '.join(SETTINGS)}.",
            )
    return data


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
        out["hours"] = float(values["hours"])
    except (TypeError, ValueError):
        raise ConfigError(f"'hours' in profile '{name}' must be a number of hours, not {values['hours']!r}.") from None
    return out


def _validated(profile: Profile) -> Profile:
    if not MEMBER_RE.match(profile.member):
        raise ConfigError(
            f"Member name '{profile.member}' cannot be used as a label.",
            hint="Use lowercase letters, digits, '_' or '-', starting with a letter (set `member` or TPUCTL_MEMBER).",
        )
    endpoint = profile.api_endpoint
    if endpoint and endpoint != LOCAL_ENDPOINT and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            f"api_endpoint '{endpoint}' is not a URL.",
            hint="Use http://HOST:PORT for an emulator, 'local' for the built-in one, or leave it empty for Google.",
        )
    if profile.hours <= 0:
        raise ConfigError(f"'hours' must be more than 0, not {profile.hours:g}.")
    if profile.is_local and not profile.store.startswith("gs://"):
        return replace(profile, store=str(Path(profile.store).expanduser()))
    return profile


CONFIG_TEMPLATE = """\
# tpuctl configuration. Every key can also be set by an environment variable
# (TPUCTL_PROJECT, TPUCTL_ZONE, TPUCTL_API_ENDPOINT, TPUCTL_STORE, TPUCTL_MEMBER,
# TPUCTL_RUNTIME_VERSION, TPUCTL_HOURS), which wins over this file.

# The profile used when neither --profile nor TPUCTL_PROFILE says otherwise.
# "local" is built in: an emulator inside tpuctl and a local-folder store, no cloud account.
default_profile = "{default}"

[profiles.group]
project = "{project}"               # the group's Google Cloud project id
zone = "{zone}"                     # default zone for create / queue
store = "{store}"                   # the group store: gs://BUCKET/PREFIX or a local folder
member = "{member}"                 # your name in the ledger (lowercase, label-safe)
runtime_version = "tpu-ubuntu2204-base"
hours = 4                           # default lease: nodes are reaped after this many hours
# api_endpoint = "http://127.0.0.1:8470"   # talk to `tpuctl emulator serve` instead of Google
"""


def render_template(project: str, zone: str, store: str, member: str, default: str) -> str:
    return CONFIG_TEMPLATE.format(project=project, zone=zone, store=store, member=member, default=default)


def profile_as_dict(profile: Profile) -> dict[str, object]:
    return {f.name: getattr(profile, f.name) for f in fields(profile) if f.name != "sources"}
