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
            data = path.read_bytes()
            total += len(data)
            if total > MAX_BYTES:
                raise BundleTooBig(f"{folder} holds more than {MAX_BYTES // 2**20} MB to ship.")
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
            if name.endswith(".pyc") or not path.is_file():
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


class UnsafeBundle(ValueError):
    """A bundle member that would land outside the folder, or is not a plain file or folder."""


def unpack(data: bytes, dest: Path) -> None:
    """Extract safely: only plain files and folders, all inside `dest` (bundles hold nothing
    else), and the data filter on Pythons that have it (3.10.12+, 3.11.4+)."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            inside = (root / member.name).resolve()
            if not (member.isfile() or member.isdir()) or (inside != root and root not in inside.parents):
                raise UnsafeBundle(f"bundle member '{member.name}' is not a plain file or folder inside the bundle")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)


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
