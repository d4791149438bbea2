"""Stored job configs: versions in the group store, each with the code it runs.

A push stores the config's text under the next version (create-only) and its workdir as a
content-addressed bundle (the same bundles jobs use), named on the stored text's second line,
so `run NAME` runs exactly that code from any folder, for any member. A push over a version
the member never saw is refused: the file's `# tpuctl-config:` line says which version it
started from (a file without it, over an existing config, needs --from-version), and this
machine's record of what the member last pulled or pushed catches a line edited past that.
Pushing what the store already holds makes no new version.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tpuctl.adapters.store import GroupStore, ObjectExists, ObjectNotFound
from tpuctl.adapters import bundles
from tpuctl.adapters.user_files import read_user_file
from tpuctl.config import Profile
from tpuctl.domain.clock import Clock
from tpuctl.domain.jobs import (
    JobConfig, bundle_key, check_name, code_line, config_header, config_key, config_version, parse_job_config,
    read_code, read_header, redact, secret_values, strip_header,
)
from tpuctl.domain.textfiles import decode_text
from tpuctl.errors import ConfigError, ConflictError, NotFoundError, UsageError

_STORED_RE = re.compile(r"^([a-z][a-z0-9-]*)(?:@v(\d+))?$")


@dataclass(frozen=True)
class StoredConfig:
    name: str
    version: int
    text: str
    new: bool = True          # False: a push found this version already held the same config and code

    @property
    def header(self) -> tuple[str, int] | None:
        return read_header(self.text)

    @property
    def code(self) -> str | None:
        """The store key of its code's bundle (None: pushed before configs carried code)."""
        digest = read_code(self.text)
        return bundle_key("workdir", digest) if digest else None


class SeenVersions:
    """Which version of each stored config this member last pulled or pushed, on this machine
    (a JSON file per profile), so a push of a file without its header line is still checked."""

    def __init__(self, path: Path, store_url: str):
        self.path, self.store_url = path, store_url

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, name: str) -> int | None:
        version = (self._read().get(self.store_url) or {}).get(name)
        return version if type(version) is int else None

    def note(self, name: str, version: int) -> None:
        data = self._read()
        data.setdefault(self.store_url, {})[name] = version
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(data, sort_keys=True, indent=1), encoding="utf-8")
        temp.replace(self.path)


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


def shown_text(stored: StoredConfig, profile: Profile) -> str:
    """A stored config as `configs show` prints it: secret values (named in `secrets`, or
    named like secrets) masked."""
    config = parse_job_config(stored.text, f"stored config {stored.name}@v{stored.version}", zone=profile.zone,
                              runtime=profile.runtime_version, hours=profile.hours)
    return redact(stored.text, secret_values(config.env, config.secrets))


def list_configs(store: GroupStore) -> list[StoredConfig]:
    names = sorted({k.split("/")[1] for k in store.list("configs/")})
    return [read_config(store, name) for name in names]


def push_config(store: GroupStore, profile: Profile, clock: Clock, path: Path, name: str | None = None,
                from_version: int | None = None, seen: SeenVersions | None = None) -> StoredConfig:
    """Store a checked config and its workdir's code as the next version; refuse to replace a
    version the member never saw; make no new version of an unchanged one."""
    text = _read_file(path)
    config = parse_job_config(text, str(path), zone=profile.zone, runtime=profile.runtime_version, hours=profile.hours)
    name = check_name(name or config.name, "config name")
    header = read_header(text)
    remembered = seen.get(name) if seen else None
    here = f"you last pulled or pushed v{remembered} here" if remembered else "you never pulled it here"
    versions = config_versions(store, name)
    newest = versions[-1] if versions else 0
    body = strip_header(text)
    data = pack_code(config, path.parent, own=(path, body))
    if newest:
        current = read_config(store, name, newest)
        if strip_header(current.text) == body and read_code(current.text) == bundles.digest(data):
            _note(seen, name, newest)
            return StoredConfig(name, newest, current.text, new=False)
    if from_version is not None:
        started, said = from_version, f"started from v{from_version} (--from-version)"
    elif header and header[0] == name:
        started, said = header[1], f"started from v{header[1]}"
        if remembered is not None and started > remembered:     # a header edited past what this member saw
            said = f"says it started from v{started}, which you never pulled ({here})"
            started = -1
    else:
        started, said = 0, "started from no version (the file has no `# tpuctl-config:` line" + \
            (f"; {here})" if remembered else ")")
    if started != newest:
        raise ConflictError(f"Config '{name}' is at v{newest} in the store, but {path} {said}.",
                            hint=f"`tpuctl configs pull {name}` gets v{newest}; merge your change into it and push again.")
    files = bundles.listing(data)
    stored = StoredConfig(name, newest + 1, config_header(name, newest + 1, profile.member, clock.now())
                          + code_line(bundles.digest(data), len(files), sum(size for _, size in files)) + body)
    bundles.upload(store, "workdir", data)           # the code first: a stored version always has its code
    try:
        store.create(config_key(name, stored.version), stored.text.encode())
    except ObjectExists:
        raise ConflictError(f"Config '{name}' got v{stored.version} from someone else while you pushed.",
                            hint=f"`tpuctl configs pull {name}`, merge, and push again.") from None
    _note(seen, name, stored.version)
    return stored


def pack_code(config: JobConfig, base: Path, own: tuple[Path, str] | None = None) -> bytes:
    """The config's workdir (relative to `base`) as a bundle, without its outputs folder.
    `own`: the config file and its text without tpuctl's lines, which the bundle holds if the
    file is in the workdir (so a push rewriting those lines does not change the code)."""
    folder = (base / config.workdir).resolve()
    if not folder.is_dir():
        raise config.error("workdir", f"is {folder}, which is not a folder")
    skip, extra = {config.outputs} if config.outputs else set(), {}
    if own is not None and folder in own[0].resolve().parents:
        rel = own[0].resolve().relative_to(folder).as_posix()
        skip.add(rel)
        extra[rel] = own[1].encode()
    try:
        return bundles.pack(folder, skip=frozenset(skip), extra=extra)
    except bundles.BundleTooBig as exc:
        raise config.error("workdir", f"is too big to ship ({exc.message})") from None


def _note(seen: SeenVersions | None, name: str, version: int) -> None:
    if seen is not None:
        try:
            seen.note(name, version)
        except OSError:
            pass                          # only a later header-less push loses its check


def pull_config(store: GroupStore, name: str, version: int | None = None, seen: SeenVersions | None = None) -> StoredConfig:
    """A stored config to edit; this machine remembers its version for the next push."""
    stored = read_config(store, name, version)
    _note(seen, name, stored.version)
    return stored


@dataclass(frozen=True)
class CodeListing:
    digest: str
    files: list[tuple[str, int]]


def config_code(store: GroupStore, stored: StoredConfig) -> CodeListing | None:
    """The files of a stored config's code (None if it was pushed without code)."""
    if stored.code is None:
        return None
    return CodeListing(read_code(stored.text), bundles.listing(_bundle(store, stored)))


def unpack_code(store: GroupStore, stored: StoredConfig, dest: Path) -> int:
    """`configs pull --code DIR`: the stored code into an empty (or new) folder; returns its files."""
    if stored.code is None:
        raise UsageError(f"{stored.name}@v{stored.version} was pushed without its code (by an older tpuctl).")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} is not an empty folder.", hint="Give --code a new or empty folder.")
    return bundles.unpack(_bundle(store, stored), dest)


def _bundle(store: GroupStore, stored: StoredConfig) -> bytes:
    try:
        data = store.read(stored.code)
    except ObjectNotFound:
        raise NotFoundError(f"The code of {stored.name}@v{stored.version} is missing from the store "
                            f"({stored.code}).") from None
    if bundles.digest(data) != read_code(stored.text):
        raise ConfigError(f"The code of {stored.name}@v{stored.version} in the store does not match its digest.")
    return data


def _read_file(path: Path) -> str:
    return decode_text(read_user_file(path, "There is no file {path}.", "Cannot read {path}: {error}."), str(path))


@dataclass(frozen=True)
class LoadedConfig:
    """What `run` runs: the config, the folder its workdir counts from, how the job names its
    source, and the stored code's bundle (None: ship the workdir from `base`)."""

    config: JobConfig
    base: Path
    label: str
    code: str | None = None


def load_config(source: str, profile: Profile, store: GroupStore, cwd: Path) -> LoadedConfig:
    """A job config from a file, or from the store by `NAME` or `NAME@vN` (with the code pushed
    with it; one pushed without code ships the current folder's workdir)."""
    path = Path(source).expanduser()
    defaults = {"zone": profile.zone, "runtime": profile.runtime_version, "hours": profile.hours}
    if path.is_file():
        return LoadedConfig(parse_job_config(_read_file(path), str(path), **defaults), path.parent, str(path))
    match = _STORED_RE.match(source)
    if not match:
        raise ConfigError(f"There is no file {source}, and it is not a stored config's name.")
    stored = read_config(store, match.group(1), int(match.group(2)) if match.group(2) else None)
    label = f"{stored.name}@v{stored.version}"
    config = parse_job_config(stored.text, f"stored config {label}", **defaults)
    if stored.code is not None:
        _bundle(store, stored)            # there, and the bytes its digest names, before any TPU is made
    return LoadedConfig(config, cwd, label, stored.code)
