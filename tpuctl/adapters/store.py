"""The group store: the one shared state of a study group, as named immutable-or-CAS objects.

Two backends keep one contract: a GCS bucket (generation preconditions; gcs_store.py) and a
local folder (this module). Keys are '/'-separated paths such as
`ledger/events/2026/05/<event-id>.json`; `jobs/` and `configs/` live beside `ledger/`.

Contract (the GCS backend must match it exactly):
- create(key, data): create-only; ObjectExists if the key exists.
- read(key) -> bytes; ObjectNotFound if missing.
- read_versioned(key) -> (bytes, generation); generations only grow, never reused for a key.
- write(key, data, if_generation): None = unconditional; 0 = create only; N = only if the
  current generation is N. PreconditionFailed otherwise. Returns the new generation.
- list(prefix, start_after=None): keys in lexical (byte) order, strictly after start_after.
- delete(key); ObjectNotFound if missing.
- written_at(key) -> datetime: when the store wrote the object, by the store's own clock
  (what `tpuctl doctor` and the sealer measure a member's clock against).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Protocol
from urllib.parse import unquote, urlparse

from filelock import FileLock

from tpuctl.errors import ConfigError, ConflictError, NotFoundError, UnavailableError


class ObjectExists(ConflictError):
    """create() on a key that already exists."""


class PreconditionFailed(ConflictError):
    """write() whose if_generation does not match the object's current generation."""


class ObjectNotFound(NotFoundError):
    pass


class GroupStore(Protocol):
    url: str
    parallel_reads: int         # reads worth running at once: 1 for a folder, more for a bucket (latency)

    def create(self, key: str, data: bytes) -> None: ...
    def read(self, key: str) -> bytes: ...
    def read_versioned(self, key: str) -> tuple[bytes, int]: ...
    def write(self, key: str, data: bytes, if_generation: int | None = None) -> int: ...
    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...
    def written_at(self, key: str) -> datetime: ...
    def expect_ledger(self, expected: bool = True) -> None: ...


_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._=@+-]*$")
META_DIR = ".tpuctl-store"       # temp files, locks and generations; never listed


def check_key(key: str) -> str:
    segments = key.split("/")
    if not key or any(not _SEGMENT_RE.match(segment) for segment in segments):
        raise ConfigError(
            f"'{key}' is not a valid store key.",
            hint="Keys are '/'-separated names of letters, digits and . _ = @ + -, not starting with '.' or '-'.",
        )
    return key


def _folders_under(base: Path, key: str) -> None:
    """The folders `key` needs below `base`, made one at a time: never `base` itself, so a store
    folder that vanished (an unmounted disk) is not made again, empty, by a write into it."""
    folder = base
    for part in key.split("/")[:-1]:
        folder = folder / part
        folder.mkdir(exist_ok=True)


class LocalStore:
    """A group store in a local folder (demo, newcomers, tests; one machine).

    Objects are plain files, so a person can read the folder. create() links a fully
    written temp file into place (os.link fails if the name exists: atomic create-only).
    Conditional writes hold a per-key lock file and keep the generation in a side file
    under .tpuctl-store/gen, which delete() leaves behind so generations never repeat.
    """

    parallel_reads = 1          # a local file read is faster than handing it to a thread

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()
        self._meta = self.root / META_DIR
        self._ledger_expected = False
        self._meta_made = False
        try:
            if not self.root.exists():
                self.root.mkdir(parents=True)           # a new store (a folder that exists gets its
            elif not self.root.is_dir():                # own files at its first write)
                raise NotADirectoryError(20, "Not a directory")
        except OSError as exc:
            raise ConfigError(f"The group store folder {self.root} cannot be used ({exc.strerror or exc}).",
                              hint="Point `store` in your profile (or TPUCTL_STORE) at a folder you can write.") from None

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def expect_ledger(self, expected: bool = True) -> None:
        """This machine has read a ledger from this folder: from now on a folder without one is a
        disk that is not mounted (its mount point left empty), not an empty group to write into.
        (False: a view that forgot what it read, as `ledger rebuild` does.)"""
        self._ledger_expected = expected

    def _present(self) -> None:
        if self._ledger_expected and not (self.root / "ledger").is_dir():
            raise UnavailableError(f"The group store folder {self.root} holds no ledger, though this machine has "
                                   "read one from it.", hint="Mount its disk (or put the folder back) and run the "
                                   "command again; if the group really started over, run `tpuctl ledger rebuild`.")

    def _ready_to_write(self) -> None:
        """Present, with the store's own folders made in it (never the store folder itself)."""
        self._present()
        if not self._meta_made:
            try:
                for sub in ("tmp", "locks", "gen"):
                    _folders_under(self.root, f"{META_DIR}/{sub}/-")
            except OSError as exc:
                raise self._unwritable(exc) from None
            self._meta_made = True

    def _unwritable(self, exc: OSError) -> UnavailableError:
        return UnavailableError(f"The group store folder {self.root} cannot be written ({exc.strerror or exc}).",
                                hint="Free space or fix the folder, then run the command again.")

    # -- paths
    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _gen_path(self, key: str) -> Path:
        return self._meta / "gen" / key

    def _lock(self, key: str) -> FileLock:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return FileLock(str(self._meta / "locks" / f"{digest}.lock"))

    def _temp(self, data: bytes) -> str:
        fd, temp = tempfile.mkstemp(dir=self._meta / "tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def _recorded(self, key: str) -> int:
        """The last generation written down for a key (0: none, the usual case for events)."""
        try:
            return int(self._gen_path(key).read_text())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return 0

    def _generation(self, key: str, path: Path) -> int:
        """Current generation: 0 when absent; 1 for a first create() with nothing recorded."""
        if not path.exists():
            return 0
        return max(self._recorded(key), 1)

    def _record(self, key: str, generation: int) -> None:
        _folders_under(self._meta / "gen", key)
        os.replace(self._temp(str(generation).encode()), self._gen_path(key))

    def _put(self, key: str, data: bytes, if_generation: int | None, conflict: type[ConflictError]) -> int:
        self._ready_to_write()
        try:
            return self._put_file(key, data, if_generation, conflict)
        except OSError as exc:               # a full disk, a read-only or vanished mount
            raise self._unwritable(exc) from None

    def _put_file(self, key: str, data: bytes, if_generation: int | None, conflict: type[ConflictError]) -> int:
        path = self._path(key)
        _folders_under(self.root, key)
        with self._lock(key):
            current, recorded = self._generation(key, path), self._recorded(key)
            if if_generation is not None and if_generation != current:
                raise conflict(f"{key} already exists in the group store." if if_generation == 0 else
                               f"{key} changed in the group store (generation {current}, expected {if_generation}).")
            new = max(current, recorded) + 1
            temp = self._temp(data)
            try:
                if current == 0:
                    os.link(temp, path)      # atomic: never replaces a file that appeared meanwhile
                else:
                    os.replace(temp, path)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
            if new > 1 or recorded:          # a plain first create() needs no side file
                self._record(key, new)
            return new

    # -- contract
    def create(self, key: str, data: bytes) -> None:
        self._put(key, data, 0, ObjectExists)

    def read(self, key: str) -> bytes:
        self._present()
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"{key} is not in the group store.") from None

    def read_versioned(self, key: str) -> tuple[bytes, int]:
        self._ready_to_write()                  # (it takes the key's lock)
        path = self._path(key)
        with self._lock(key):
            generation = self._generation(key, path)
            if generation == 0:
                raise ObjectNotFound(f"{key} is not in the group store.")
            return path.read_bytes(), generation

    def write(self, key: str, data: bytes, if_generation: int | None = None) -> int:
        return self._put(key, data, if_generation, PreconditionFailed)

    def written_at(self, key: str) -> datetime:
        try:
            return datetime.fromtimestamp(self._path(key).stat().st_mtime, timezone.utc)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"{key} is not in the group store.") from None

    def delete(self, key: str) -> None:
        self._ready_to_write()
        path = self._path(key)
        with self._lock(key):
            generation = self._generation(key, path)
            if generation == 0:
                raise ObjectNotFound(f"{key} is not in the group store.")
            self._record(key, generation)    # so a re-created key gets a new generation
            path.unlink()

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[str]:
        """Walk only the folders that can hold keys after `start_after`, in key order."""
        self._present()
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        folder = self.root / base if base else self.root
        yield from self._walk(folder, f"{base}/" if base else "", prefix, start_after or "")

    def _walk(self, folder: Path, rel: str, prefix: str, after: str) -> Iterator[str]:
        # Only names that can sort after `after` are kept before sorting: a month folder can
        # hold a million events, of which a sync wants the last few.
        cut = after[len(rel):] if after.startswith(rel) else ""
        try:
            kept = [e for e in os.scandir(folder) if e.name > cut or cut.startswith(e.name)]
        except (FileNotFoundError, NotADirectoryError):
            return
        # Sort as full keys sort: a folder's name compares with a '/' after it.
        named = sorted(((e.name + "/" if e.is_dir() else e.name), e) for e in kept
                       if not (rel == "" and e.name == META_DIR))
        for name, entry in named:
            key = rel + name
            if name.endswith("/"):
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if key < after and not after.startswith(key):
                    continue                     # everything inside sorts before start_after
                yield from self._walk(Path(entry.path), key, prefix, after)
            elif key.startswith(prefix) and key > after:
                yield key


class UnreachableStore:
    """A store that could not be opened (a folder gone or not a folder): every request says
    why, as an unreachable bucket does, so commands that stop spending can still act."""

    parallel_reads = 1

    def __init__(self, url: str, why: str, exit_code: int | None = None):
        self.url, self.why, self.exit_code = url, why, exit_code

    def _away(self, *args, **kwargs):
        raise UnavailableError(self.why, hint="Check that the group store folder is there, then run the command again.",
                               exit_code=self.exit_code)

    create = read = read_versioned = write = delete = written_at = _away

    def expect_ledger(self, expected: bool = True) -> None:
        """(Every request already says the store is away.)"""

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[str]:
        self._away()
        yield from ()


def store_retry_seconds() -> float:
    """TPUCTL_STORE_RETRY_SECONDS: how long one bucket request is retried (default 30)."""
    raw = os.environ.get("TPUCTL_STORE_RETRY_SECONDS", "30")
    if not re.fullmatch(r"[0-9]{1,4}(\.[0-9]+)?", raw) or not 0 < float(raw) <= 3600:
        raise ConfigError(f"TPUCTL_STORE_RETRY_SECONDS must be a number of seconds from 0 to 3600, not '{raw[:20]}'.")
    return float(raw)


def open_store(url: str) -> GroupStore:
    """A store from its address: gs://BUCKET[/PREFIX], a local folder path or a file:// URL."""
    try:
        parsed = urlparse(url)
    except ValueError:
        raise ConfigError(f"Group store {url} is not a folder or a gs://BUCKET/FOLDER address.") from None
    if parsed.scheme == "gs":
        from tpuctl.adapters.gcs_store import GcsStore     # imports google only on first request

        return GcsStore(url, retry_deadline=store_retry_seconds())
    if parsed.scheme == "file":
        return LocalStore(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:     # (a Windows drive letter is not a scheme)
        raise ConfigError(f"Group store {url} has an unknown scheme '{parsed.scheme}'.",
                          hint="Use gs://bucket[/folder], a local folder path, or file:///path.")
    return LocalStore(Path(url).expanduser())
