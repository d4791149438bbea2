"""Content-addressed bundles: a folder as a reproducible tar.gz, stored under its SHA-256.

The same files always give the same bytes (sorted names, zeroed times and owners), so an
unchanged workdir, or an unchanged tpuctl, has the same key and is not uploaded again.
`run` stages two: the job's workdir and this tpuctl's own source, which the startup script
installs so that the agent on the VM is exactly the member's version.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zlib
from functools import lru_cache
from pathlib import Path

from tpuctl.adapters.store import GroupStore, ObjectExists
from tpuctl.domain.jobs import bundle_key
from tpuctl.errors import ConfigError

SKIPPED_DIRS = frozenset({".git", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache",
                          ".ipynb_checkpoints", ".tox"})
MAX_BYTES = 256 * 2**20


class BundleTooBig(ConfigError):
    pass


def pack(folder: Path, *, skip: frozenset[str] = frozenset(), prefix: str = "",
         extra: dict[str, bytes] | None = None) -> bytes:
    """The regular files under `folder` (minus `skip`, relative posix paths) as tar.gz bytes."""
    buffer = io.BytesIO()
    total = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, rel in _files(folder, skip):
            total += path.stat().st_size          # before reading: a huge file stops the scan at once
            if total > MAX_BYTES:
                raise BundleTooBig(f"{folder} holds more than {MAX_BYTES // 2**20} MB to ship.")
            data = path.read_bytes()
            _add(tar, prefix + rel, data, executable=os.access(path, os.X_OK))
        for name, data in sorted((extra or {}).items()):
            _add(tar, prefix + name, data, executable=False)
    return buffer.getvalue()


def _files(folder: Path, skip: frozenset[str]):
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and _rel(here / d, folder) not in skip)
        for name in sorted(files):
            path = here / name
            if name.endswith(".pyc") or not path.is_file() or _rel(path, folder) in skip:
                continue
            yield path, _rel(path, folder)


def _rel(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _add(tar: tarfile.TarFile, name: str, data: bytes, *, executable: bool) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o755 if executable else 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(store: GroupStore, kind: str, data: bytes) -> str:
    """Store a bundle under its content's name, unless it is there already; return its key."""
    key = bundle_key(kind, digest(data))
    if key not in set(store.list(key)):
        try:
            store.create(key, data)
        except ObjectExists:
            pass  # another member staged the same bytes meanwhile
    return key


class UnsafeBundle(ConfigError):
    """A bundle that cannot be unpacked as it is: a member that would land outside the folder,
    is not a plain file or folder, has a name no file system takes, or too much data."""


MAX_UNPACKED = 2 * MAX_BYTES        # tar stream (data plus headers) a bundle may unpack to
MAX_MEMBERS = 200_000
MAX_NAME_PART = 255                  # bytes in one file or folder name (Linux, macOS)


def _too_big() -> UnsafeBundle:
    return UnsafeBundle(f"The bundle unpacks to more than {MAX_UNPACKED // 2**20} MB, the most tpuctl unpacks.")


class _Limited(io.RawIOBase):
    """A reader that refuses to give more than `limit` bytes: a small gzip that unpacks to
    gigabytes stops here, at the limit, before anything is written."""

    def __init__(self, raw, limit: int):
        self.raw, self.limit, self.count = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(min(len(buffer), 1 << 20))
        self.count += len(data)
        if self.count > self.limit:
            raise _too_big()
        buffer[:len(data)] = data
        return len(data)


def members(data: bytes) -> list[tarfile.TarInfo]:
    """The bundle's members, each checked, read through the size limit; nothing is written."""
    found, declared = [], 0
    try:
        with tarfile.open(fileobj=_Limited(gzip.GzipFile(fileobj=io.BytesIO(data)), MAX_UNPACKED), mode="r|") as tar:
            for member in tar:
                _check_member(member)
                found.append(member)
                declared += member.size
                if declared > MAX_UNPACKED:         # said by its header: refused before its data is inflated
                    raise _too_big()
                if len(found) > MAX_MEMBERS:
                    raise UnsafeBundle(f"The bundle holds more than {MAX_MEMBERS} files, the most tpuctl unpacks.")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise UnsafeBundle(f"The bundle is not a readable tar.gz ({type(exc).__name__}).") from None
    return found


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    shown = name if len(name) <= 60 else name[:57] + "..."
    if not (member.isfile() or member.isdir()):
        raise UnsafeBundle(f"Bundle member '{shown}' is not a plain file or folder.")
    parts = [p for p in name.split("/") if p]
    if member.isfile() and (not parts or parts[-1] in (".", "..")):
        raise UnsafeBundle(f"Bundle member '{shown}' is not a file name.")
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_PART:
            raise UnsafeBundle(f"Bundle member '{shown}' has a name longer than {MAX_NAME_PART} bytes, "
                               "which no file system takes.")
    if "\0" in name:
        raise UnsafeBundle(f"Bundle member '{shown}' has a NUL character in its name.")


def unpack(data: bytes, dest: Path) -> int:
    """Extract safely: only plain files and folders, all inside `dest` (bundles hold nothing
    else), within the size limit, with names file systems take; the data filter on Pythons
    that have it (3.10.12+, 3.11.4+). Everything is checked before anything is written.
    Returns how many files it wrote."""
    dest.mkdir(parents=True, exist_ok=True)
    checked = members(data)
    root = dest.resolve()
    for member in checked:
        inside = (root / member.name).resolve()
        if inside != root and root not in inside.parents:
            raise UnsafeBundle(f"Bundle member '{member.name[:60]}' would land outside the folder.")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    return sum(1 for m in checked if m.isfile())


def listing(data: bytes) -> list[tuple[str, int]]:
    """(path, bytes) of each file in a bundle, as `configs show` lists them."""
    return sorted((m.name, m.size) for m in members(data) if m.isfile())


@lru_cache(maxsize=1)
def tpuctl_bundle() -> bytes:
    """This tpuctl's package source, plus the requirements the VM installs for it."""
    import tpuctl

    return pack(Path(tpuctl.__file__).parent, prefix="tpuctl/",
                extra={"requirements.txt": "\n".join(requirements()).encode() + b"\n"})


def requirements() -> list[str]:
    """tpuctl's own dependencies (not its extras), as pip reads them."""
    from importlib import metadata

    try:
        required = metadata.requires("tpuctl") or []
    except metadata.PackageNotFoundError:
        return []
    return [r for r in required if "extra ==" not in r]
