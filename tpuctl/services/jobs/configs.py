"""Stored job configs: versions in the group store, pushed and pulled by members."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tpuctl.adapters.store import GroupStore, ObjectExists
from tpuctl.config import Profile
from tpuctl.domain.clock import Clock
from tpuctl.domain.jobs import (
    JobConfig, check_name, config_header, config_key, config_version, parse_job_config, read_header, strip_header,
)
from tpuctl.domain.textfiles import decode_text
from tpuctl.errors import ConfigError, ConflictError, NotFoundError

_STORED_RE = re.compile(r"^([a-z][a-z0-9-]*)(?:@v(\d+))?$")


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

