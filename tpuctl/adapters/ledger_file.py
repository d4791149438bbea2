"""The view's file: how a process opens it, and how a fresh view is filled beside it.

In WAL mode SQLite writes a transaction twice (the log, then the file), so a first sync or a
rebuild, one transaction of the whole month (600 MiB for a million events), would write
1.2 GiB. A bulk load of a fresh view instead copies the view's few rows (VACUUM INTO) to
`<view>.loading`, fills that file with the journal off, and puts it in the view's place
with one rename. Renaming over a SQLite file that another process has open corrupts what
that process writes next, so every process holds `<view>.lock` shared while it has the view
open (flock), and the loader takes it exclusively first; when it cannot (another tpuctl has
the view open), the view is filled in place as before. A load cut off halfway deletes its
file, leaving the view as it was; one killed outright leaves a file the next load deletes.
A large load's second process writes the events into a second copy, `<view>.writing`
(tpuctl/adapters/ledger_writer.py); the loader then moves its own rows into that copy, which
is the one renamed into place.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tpuctl.errors import ConfigError

try:
    import fcntl
except ImportError:             # no flock (Windows): a fresh view is filled in place
    fcntl = None

if TYPE_CHECKING:
    from tpuctl.adapters.ledger_db import LedgerDB

OPEN_WAIT = 30.0                # seconds a process waits for another's load to end (SQLite's busy timeout)


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")       # up to 64 MiB: big first syncs
    return conn


def filling(path: Path | str) -> sqlite3.Connection:
    """A connection to a load's file, which no other process reads until it is renamed into the
    view's place: no journal (a load cut off deletes the file) and a large cache."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -262144"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


class Hold:
    """This process's hold on a view's lock file: shared while the view is open."""

    def __init__(self, path: Path):
        self.path, self.file = path, None
        if fcntl is not None:
            try:
                self.file = open(f"{path}.lock", "ab")  # noqa: SIM115 - held until close()
            except OSError:
                return                  # (a folder it cannot write: the view is filled in place)
            try:
                self.share()
            except ConfigError:
                self.close()
                raise

    def _lock(self, mode: int, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self.file, mode | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)

    def alone(self) -> bool:
        """Hold the view exclusively if no other process has it open (else keep sharing)."""
        if self.file is None or self.file.closed:
            return False
        if self._lock(fcntl.LOCK_EX, 0):
            return True
        self.share()                # (a failed upgrade may have let the shared hold go)
        return False

    def share(self) -> None:
        if self.file is not None and not self.file.closed and not self._lock(fcntl.LOCK_SH, OPEN_WAIT):
            raise ConfigError(f"The ledger database {self.path} is being filled by another tpuctl process.",
                              hint="Wait for its sync or `ledger rebuild` to end, then run this again.")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _remove(path: Path) -> None:
    for name in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def _sync_file(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    except (OSError, AttributeError):
        return
    try:
        os.fsync(fd)
    except OSError:
        pass                        # (a directory may not be fsync-able here)
    finally:
        os.close(fd)


def _use(db: LedgerDB, conn: sqlite3.Connection) -> None:
    from tpuctl.adapters import trust_db

    db.conn = conn
    db.signatures = trust_db.Signatures(conn)
    db.rejected = trust_db.Rejected(conn)
    db.forget_rules()


def _load_files(view: Path) -> tuple[Path, Path]:
    """A load's two files beside the view: the loader's, and its second process's."""
    return Path(f"{view}.loading"), Path(f"{view}.writing")


class Beside:
    """A fresh view being filled in `<view>.loading` (the view's connection points at it)."""

    def __init__(self, db: LedgerDB):
        self.db, self.path, self.view = db, _load_files(db.path)[0], db.conn
        self.writer: Path | None = None                 # a second process's file (`writer_file`)
        for path in _load_files(db.path):
            _remove(path)                               # what a killed load left
        _use(db, self._copy(self.path))

    def _copy(self, path: Path) -> sqlite3.Connection:
        """A connection to a copy of the view as it was before the load, journal off."""
        self.view.execute("VACUUM INTO ?", (str(path),))
        return filling(path)

    def writer_file(self) -> Path:
        """A second copy of the view before the load, for a second process to write events
        into (tpuctl/adapters/ledger_writer.py) while this one fills its own."""
        self.writer = _load_files(self.db.path)[1]
        self._copy(self.writer).close()
        return self.writer

    def join(self) -> None:
        """Once the second process has committed its file: every row this process wrote moves
        into it and the view's connection follows. Tables other than events are this process's;
        its events replace the second process's copies of the same ids, and any event this
        process set aside (table `rejected`) is taken out. The loader's transaction ends here;
        a new one is open on return."""
        own, path = self.db.conn, self.path
        own.execute("COMMIT")
        own.close()
        conn = filling(self.writer)
        self.path, self.writer = self.writer, path      # the second process's file becomes the view
        _use(self.db, conn)
        conn.execute("ATTACH ? AS loader", (str(path),))
        conn.execute("BEGIN IMMEDIATE")
        tables = [row[0] for row in conn.execute("SELECT name FROM loader.sqlite_master WHERE type = 'table' "
                                                 "AND name NOT LIKE 'sqlite%'")]
        for table in tables:
            if table == "events":
                conn.execute("INSERT OR REPLACE INTO events SELECT * FROM loader.events")
            elif table == "verified":      # (a load only adds to the signature cache, which may be large)
                conn.execute("INSERT OR IGNORE INTO main.verified SELECT * FROM loader.verified")
            else:
                conn.execute(f'DELETE FROM main."{table}"')
                conn.execute(f'INSERT INTO main."{table}" SELECT * FROM loader."{table}"')
        conn.execute("DELETE FROM events WHERE id IN (SELECT id FROM rejected)")
        conn.execute("COMMIT")
        conn.execute("DETACH loader")
        conn.execute("BEGIN IMMEDIATE")

    @classmethod
    def start(cls, db: LedgerDB) -> Beside | None:
        """Fill `db` beside its file if no other process has it open, else None (fill in place)."""
        if not db.hold.alone():
            return None
        try:
            return cls(db)
        except BaseException:
            for path in _load_files(db.path):
                _remove(path)
            db.hold.share()
            raise

    def end(self, commit: bool) -> None:
        """Put the filled view in the view's place (commit), or forget it; the view's
        connection then points at the view again."""
        db, closed = self.db, False
        try:
            db.conn.close()
            if commit:
                _sync_file(self.path)
                self.view.close()       # the last connection: SQLite folds its log into the file
                closed = True
                for suffix in ("-wal", "-shm", "-journal"):
                    Path(f"{db.path}{suffix}").unlink(missing_ok=True)
                os.replace(self.path, db.path)
                _sync_file(db.path.parent, directory=True)
        finally:
            for path in (self.path, self.writer):
                if path is not None:
                    _remove(path)
            _use(db, connect(db.path) if closed else self.view)
            db.hold.share()
