"""The agent on one TPU VM worker: it takes the node's jobs one at a time and reports to the store.

It needs nothing but the group store. Protocol, per job attempt and worker (every object
declared and checked in tpuctl/domain/jobs/protocol.py, keys in tpuctl/domain/jobs/layout.py):
`start` (create-only: the claim), a heartbeat every few seconds, log chunks (create-only,
numbered), outputs (uploaded while it runs and at the end), then `exit` (create-only) with the
status. A node-level heartbeat (its meaning in tpuctl/domain/activity.py) says busy, with
every reason (its job, a process holding the TPU device, an SSH login, a `tpuctl touch`, a
probe that failed), or idle since when: that is how the reaper knows a TPU is idle. SIGTERM
(a preemption notice, a deleted node) stops the job, uploads its outputs and records it as
interrupted, so a resume continues.
On worker 0, `release` (given when the agent knows how to reach Cloud TPU) is asked after
each job, and then every heartbeat until the job has ended, to delete the TPU the job made.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, TypeVar

from tpuctl import __version__
from tpuctl.adapters.bundles import unpack
from tpuctl.adapters.objects import read_cancel, read_object
from tpuctl.adapters.store import GroupStore, ObjectExists, ObjectNotFound, check_key
from tpuctl.agent.probes import Probes, touches
from tpuctl.domain import jobs as layout
from tpuctl.domain.activity import Busy
from tpuctl.domain.clock import Clock, SystemClock
from tpuctl.domain.jobs import JobTiming, redact, secret_values
from tpuctl.domain.jobs.fields import MAX_TEXT
from tpuctl.domain.jobs.protocol import (
    Assignment, BadObject, Beat, Exit, Spec, Start, WorkerBeat, dump,
)
from tpuctl.errors import ConfigError

T = TypeVar("T")


def complain(exc: Exception) -> None:
    """To the agent's own log (stderr), never to a job's log."""
    print(f"tpuctl agent: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def trusted(store: GroupStore, cls: type[T], key: str) -> T | None:
    """The object at `key`, checked; one that cannot be trusted is named in the agent's log and
    read as absent (tpuctl/domain/jobs/protocol.py)."""
    try:
        return read_object(store, cls, key)
    except BadObject as exc:
        complain(exc)
        return None


class Agent:
    """One worker's agent: `serve()` until SIGTERM, or until its pidfile goes (local mode)."""

    def __init__(self, store: GroupStore, zone: str, node: str, worker: int, root: Path,
                 timing: JobTiming = JobTiming(), clock: Clock = SystemClock(), pidfile: Path | None = None,
                 release: Callable[[str, int], bool] | None = None, probes: Probes | None = None):
        self.store, self.zone, self.node, self.worker = store, zone, node, worker
        self.root, self.timing, self.clock, self.pidfile = root, timing, clock, pidfile
        self.release = release if worker == 0 else None
        self.ran: dict[tuple[str, int], float] = {}      # (job, attempt) -> when to ask `release` next
        self.stopping = threading.Event()
        self.probes = probes or Probes()
        self.idle_since: datetime | None = None
        self._last_beat: tuple[str | None, float] = ("", -1e9)

    def request_stop(self, *_args) -> None:
        self.stopping.set()

    def serve(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        seen: set[str] = set()
        prefix = layout.node_prefix(self.zone, self.node) + "jobs/"
        while not self._should_stop():
            try:
                self.release_ended()
                self.beat()
                for key in [k for k in self.store.list(prefix) if k not in seen]:
                    seen.add(key)
                    self.take(key)
                    if self._should_stop():
                        break
            except Exception as exc:  # a store hiccup must not end the agent: try again next poll
                complain(exc)
            self.stopping.wait(self.timing.poll)
        self.beat(state="stopped", force=True)

    def release_ended(self) -> None:
        """Ask `release` about each job this worker ran until it says nothing is left to do."""
        for ran, due in list(self.ran.items()):
            if time.monotonic() >= due:
                try:
                    settled = self.release(*ran)
                except Exception as exc:  # Cloud TPU or the store away: the job's release waits for the next try
                    complain(exc)
                    settled = False
                if settled:
                    del self.ran[ran]
                else:
                    self.ran[ran] = time.monotonic() + self.timing.heartbeat

    def _should_stop(self) -> bool:
        if self.pidfile is not None:
            try:
                mine = self.pidfile.read_text().split()[0] == str(os.getpid())
            except (OSError, IndexError):
                mine = False
            if not mine:
                self.stopping.set()
        return self.stopping.is_set()

    def beat(self, job: str | None = None, *, state: str | None = None, force: bool = False) -> None:
        """The node-level heartbeat (tpuctl/domain/activity.py): written when the job changes, else
        every heartbeat interval, each time with what the probes see then."""
        now = time.monotonic()
        if not force and self._last_beat[0] == job and now - self._last_beat[1] < self.timing.heartbeat:
            return
        self._last_beat = (job, now)
        reasons = ([Busy("job", job)] if job else []) + ([] if state == "stopped" else self.activity())
        when = self.clock.now()
        if reasons:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = when
        self.store.write(layout.agent_beat_key(self.zone, self.node, self.worker), dump(Beat(
            self.node, self.zone, self.worker, when, tuple(reasons), self.idle_since, self.timing.heartbeat,
            state or ("busy" if reasons else "idle"), job, __version__, os.getpid())))

    def activity(self) -> list[Busy]:
        """What besides a tpuctl job keeps the VM in use; a probe that fails is a reason too."""
        reasons = self.probes.busy(os.getpid())
        try:
            reasons += touches(self.store, self.zone, self.node, self.clock.now())
        except Exception as exc:  # the store away: not knowing is never idle
            reasons.append(Busy("probe", f"the touch probe failed: {type(exc).__name__}: {exc}"))
        return reasons

    def take(self, key: str) -> None:
        """Run one queued job attempt (its queue entry at `key`), unless it was cancelled or
        superseded meanwhile. A spec this agent cannot read fails the attempt, with why."""
        assignment = trusted(self.store, Assignment, key)
        if assignment is None:
            return
        job, attempt = assignment.job, assignment.attempt
        try:
            spec, unreadable = read_object(self.store, Spec, layout.spec_key(job)), None
        except BadObject as exc:
            spec, unreadable = None, exc
        if (spec is None and unreadable is None) or read_cancel(self.store, job, complain) is not None:
            return
        attempts = (layout.key_attempt(k) for k in self.store.list(layout.attempts_prefix(job)))
        if max((n for n in attempts if n is not None), default=0) > attempt:
            return
        if unreadable is not None:            # a job from a newer tpuctl, or a spec written by hand: do not guess
            reason = (f"the agent on this TPU (tpuctl {__version__}) is too old for this job" if unreadable.newer
                      else f"its spec cannot be read ({unreadable.message})")
            try:
                self.store.create(layout.worker_key(job, attempt, "exit", self.worker),
                                  dump(Exit("failed", self.clock.now(), None, "setup", reason[:MAX_TEXT])))
            except ObjectExists:
                pass
            return
        self.beat(job, force=True)
        JobRun(self, spec, attempt).run()
        self.beat(force=True)
        if self.release is not None:
            self.ran[(job, attempt)] = 0.0


class JobRun:
    """One worker's part of one job attempt, from claim to exit status."""

    def __init__(self, agent: Agent, spec: Spec, attempt: int):
        self.agent, self.store, self.timing = agent, agent.store, agent.timing
        self.job, self.attempt, self.worker = spec.id, attempt, agent.worker
        self.spec = spec
        self.config = spec.config
        self.workdir = agent.root / f"{self.job}.{attempt}"
        self.outputs = self.workdir / self.config.outputs if self.config.outputs else None
        self.log = LogStream(self.store, lambda seq: layout.log_key(self.job, attempt, self.worker, seq),
                             secret_values(self.config.env, self.config.secrets))
        self.phase = "setup"
        self.stop: tuple[str, str] | None = None        # (status, reason) once it must stop
        self.done = threading.Event()
        self._uploaded: dict[str, tuple[int, int]] = {}
        self._sync_lock = threading.Lock()

    def key(self, kind: str) -> str:
        return layout.worker_key(self.job, self.attempt, kind, self.worker)

    def run(self) -> None:
        now = self.agent.clock.now()
        try:
            self.store.create(self.key("start"), dump(Start(now, self.timing.heartbeat, socket.gethostname()[:255],
                                                            __version__)))
        except ObjectExists:  # this worker began it before the agent restarted: it cannot go on
            self._exit("interrupted", None, "the agent restarted while the job ran")
            return
        ticker = threading.Thread(target=self._tick, name="tpuctl-ticker", daemon=True)
        ticker.start()
        status, code, reason = self._execute()
        self.done.set()
        ticker.join()
        self.log.line(f"[tpuctl] worker {self.worker}: {status}" + (f" ({reason})" if reason else "") + ".")
        self.log.flush(final=True)
        self.sync_outputs()
        self._exit(status, code, reason)

    def _exit(self, status: str, code: int | None, reason: str) -> None:
        try:
            self.store.create(self.key("exit"), dump(Exit(status, self.agent.clock.now(), code, self.phase,
                                                          reason[:MAX_TEXT])))
        except ObjectExists:
            pass

    def _execute(self) -> tuple[str, int | None, str]:
        try:
            self._prepare()
        except Exception as exc:  # a broken bundle or store: the job fails, the agent goes on
            self.log.line(f"[tpuctl] could not prepare the job: {exc}")
            return "failed", None, f"could not prepare the job ({type(exc).__name__})"
        env = self._env()
        steps = [("setup", c) for c in self.config.setup] + [("run", c) for c in self.config.run]
        for self.phase, command in steps:
            self.log.line(f"[tpuctl] worker {self.worker} {self.phase}: $ {shown(command)}")
            code = self._command(command, env)
            if self.stop:
                return self.stop[0], code, self.stop[1]
            if code != 0:
                return "failed", code, f"exit code {code} in {self.phase}"
        return "succeeded", 0, ""

    def _prepare(self) -> None:
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        unpack(self.store.read(self.spec.workdir_bundle), self.workdir)
        if self.outputs is not None:
            self.outputs.mkdir(parents=True, exist_ok=True)
            if self.attempt > 1:
                self._restore_outputs()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # the agent's own path
        env.update(PYTHONUNBUFFERED="1")
        env.update(self.config.env)
        env.update(TPU_WORKER_ID=str(self.worker), TPUCTL_JOB=self.job, TPUCTL_ATTEMPT=str(self.attempt))
        if self.outputs is not None:
            env["TPUCTL_OUTPUTS"] = str(self.outputs)
        return env

    def _command(self, command: str, env: dict[str, str]) -> int:
        """Run one command in its own process group: `bash -c`, arguments never re-parsed."""
        shell = shutil.which("bash") or "/bin/sh"
        proc = subprocess.Popen([shell, "-c", command], cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        pump = threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True)
        pump.start()
        while True:
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if self.agent.stopping.is_set() and not self.stop:
                    self.stop = ("interrupted", "its agent was stopped by SIGTERM")
                if self.stop:
                    self._terminate(proc)
        pump.join()
        return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode

    def _pump(self, stream) -> None:
        for line in iter(stream.readline, b""):
            self.log.write(line)
        stream.close()

    def _terminate(self, proc: subprocess.Popen) -> None:
        for sig, wait in ((signal.SIGTERM, self.timing.grace), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def _tick(self) -> None:
        """Flush logs; every poll look for a cancel or a failed peer; heartbeat; sync outputs."""
        last = {"poll": 0.0, "heartbeat": 0.0, "sync": time.monotonic()}
        while not self.done.wait(self.timing.flush):
            try:
                self._tick_once(last)
            except Exception as exc:  # keep ticking: a lost heartbeat is worse than a late one
                complain(exc)

    def _tick_once(self, last: dict[str, float]) -> None:
        self.log.flush()
        now = time.monotonic()
        if now - last["poll"] >= self.timing.poll:
            last["poll"] = now
            self._check_stop()
        if now - last["heartbeat"] >= self.timing.heartbeat:
            last["heartbeat"] = now
            self.store.write(self.key("beat"), dump(WorkerBeat(self.agent.clock.now(), self.timing.heartbeat,
                                                               self.phase)))
            self.agent.beat(self.job)
        if self.outputs is not None and now - last["sync"] >= self.timing.sync:
            last["sync"] = now
            self.sync_outputs()

    def _check_stop(self) -> None:
        if self.stop:
            return
        cancel = read_cancel(self.store, self.job, complain)
        if cancel is not None:
            self.stop = ("cancelled", f"cancelled by {cancel.by}")
            return
        for key in self.store.list(layout.worker_prefix(self.job, self.attempt, "exit")):
            peer, ended = layout.key_worker(key), None
            if peer is not None and peer != self.worker:
                ended = trusted(self.store, Exit, key)
            if ended is not None and ended.status == "failed":
                self.stop = ("cancelled", f"worker {peer} failed")
                return

    def sync_outputs(self) -> None:
        """Mirror the outputs folder: upload new or changed files, drop ones deleted since (such
        as a checkpoint's temp file). Names the store cannot hold are skipped, with a log line."""
        if self.outputs is None or not self.outputs.is_dir():
            return
        prefix = layout.outputs_prefix(self.job, self.worker)
        with self._sync_lock:
            present = set()
            for path in sorted(p for p in self.outputs.rglob("*") if p.is_file()):
                rel = path.relative_to(self.outputs).as_posix()
                try:
                    stat = path.stat()
                    if self._uploaded.get(rel) == (stat.st_size, stat.st_mtime_ns):
                        present.add(rel)
                        continue
                    data = path.read_bytes()
                except FileNotFoundError:         # gone while we looked (a temp file)
                    continue
                present.add(rel)
                self._uploaded[rel] = (stat.st_size, stat.st_mtime_ns)
                try:
                    self.store.write(check_key(prefix + rel), data)
                except ConfigError:
                    self.log.line(f"[tpuctl] output '{rel}' was not uploaded: the store cannot name it.")
            for key in list(self.store.list(prefix)):
                if key[len(prefix):] not in present:
                    self._uploaded.pop(key[len(prefix):], None)
                    try:
                        self.store.delete(key)
                    except ObjectNotFound:
                        pass

    def _restore_outputs(self) -> None:
        prefix = layout.outputs_prefix(self.job, self.worker)
        restored = 0
        for key in self.store.list(prefix):
            path = self.outputs / key[len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.store.read(key))
            stat = path.stat()
            self._uploaded[key[len(prefix):]] = (stat.st_size, stat.st_mtime_ns)
            restored += 1
        self.log.line(f"[tpuctl] worker {self.worker}: restored {restored} output file{'s' if restored != 1 else ''} "
                      "of the previous attempt.")


def shown(command: str) -> str:
    """A command as the log announces it: a script by its first line."""
    lines = command.strip().splitlines()
    return lines[0] + (f" (and {len(lines) - 1} more line{'s' if len(lines) > 2 else ''})" if len(lines) > 1 else "")


class LogStream:
    """Output to numbered, create-only chunks: whole lines only, secrets masked."""

    FORCE_BYTES = 64 * 1024

    def __init__(self, store: GroupStore, key: Callable[[int], str], secrets: list[str]):
        self.store, self.key, self.secrets = store, key, secrets
        self._buffer = bytearray()
        self._lock = threading.Lock()          # the buffer
        self._upload = threading.Lock()        # chunk numbers stay in order
        self._seq = 0

    def write(self, data: bytes) -> None:
        with self._lock:
            self._buffer += data
            big = len(self._buffer) >= self.FORCE_BYTES
        if big:
            self.flush()

    def line(self, text: str) -> None:
        self.write(text.encode() + b"\n")

    def flush(self, final: bool = False) -> None:
        with self._upload:
            with self._lock:
                cut = len(self._buffer) if final or len(self._buffer) >= self.FORCE_BYTES else self._buffer.rfind(b"\n") + 1
                chunk = bytes(self._buffer[:cut])
                del self._buffer[:cut]
            if chunk:
                text = redact(chunk.decode("utf-8", "replace"), self.secrets)
                self.store.create(self.key(self._seq), text.encode())
                self._seq += 1
