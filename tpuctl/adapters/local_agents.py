"""Local mode's TPU VMs: a READY node's agents run as detached processes on this machine.

What the startup script does on a real worker, done here for each worker of the node:
fetch this tpuctl's bundle from the group store, unpack it, and start `python -m tpuctl
agent` from it (so the agent runs the staged version) with TPU_WORKER_ID set. The processes
outlive the short command whose emulator saw the node become READY; their pids are kept in
the data dir, whose path they get (so on the local profile worker 0's agent serves the same
world when it deletes its TPU after its job). When the node stops being READY (deleted,
preempted, stopped) each agent gets SIGTERM and its pidfile goes, so a running job is
interrupted exactly as by a preemption. A node that comes back (after maintenance) starts a
worker's new agent only once its stopped one has exited, as a rebooted VM would: else the new
one could record the job's end before the old one says why it stopped.

Install on any EmulatorServer: `LocalAgents(data_dir).install(server)`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tpuctl.adapters.store import open_store
from tpuctl.domain.agent_boot import AGENT_METADATA_KEY, AgentBoot
from tpuctl.adapters.bundles import digest, unpack


class LocalAgents:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir) / "local-agents"

    def install(self, server) -> LocalAgents:
        server.hooks["ready"] = self.on_node_ready
        server.hooks["gone"] = self.on_node_gone
        return self

    def _node_dir(self, node: dict) -> Path:
        parts = node["name"].split("/")       # projects/P/locations/Z/nodes/N
        return self.root / parts[1] / parts[3] / parts[5]

    def on_node_ready(self, node: dict) -> None:
        raw = (node.get("metadata") or {}).get(AGENT_METADATA_KEY)
        if not raw:
            return                               # made with --no-agent or outside tpuctl: no agent to start
        boot = AgentBoot.from_json(raw)
        source = self._unpacked(boot)
        here = self._node_dir(node)
        for worker in range(max(1, len(node.get("networkEndpoints") or []))):
            self._spawn(boot, source, here / f"w{worker}", worker)

    def _unpacked(self, boot: AgentBoot) -> Path:
        """The staged tpuctl, unpacked once per content (checked against its digest)."""
        data = open_store(boot.store).read(boot.bundle)
        dest = self.root / "src" / digest(data)
        if not (dest / "tpuctl" / "__init__.py").exists():
            temp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
            unpack(data, temp)
            try:
                temp.rename(dest)
            except OSError:                      # another process unpacked it first
                pass
        return dest

    def _spawn(self, boot: AgentBoot, source: Path, home: Path, worker: int) -> None:
        home.mkdir(parents=True, exist_ok=True)
        _wait_gone(home / STOPPED)
        pidfile = home / "agent.pid"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TPUCTL_") and k != "PYTHONPATH"}
        env.update(PYTHONPATH=str(source), TPU_WORKER_ID=str(worker), TPUCTL_DATA_DIR=str(self.root.parent),
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
        with open(home / "agent.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, *boot.agent_args(worker=worker, root=home / "jobs", pidfile=pidfile)],
                                    cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        pidfile.write_text(f"{proc.pid}\n")

    def on_node_gone(self, node: dict) -> None:
        for pidfile in sorted(self._node_dir(node).glob("w*/agent.pid")):
            stop(pidfile)

    def stop_all(self) -> list[int]:
        """SIGTERM every local agent (tests, or tidying after the world was reset)."""
        return [pid for pidfile in sorted(self.root.glob("*/*/*/w*/agent.pid")) if (pid := stop(pidfile))]


def stop(pidfile: Path) -> int | None:
    """SIGTERM the agent a pidfile names, if it is still that agent; remove the pidfile."""
    try:
        pid = int(pidfile.read_text().split()[0])
        pidfile.unlink()
    except (OSError, ValueError, IndexError):
        return None
    if not _is_agent(pid):
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    try:
        pidfile.with_name(STOPPED).write_text(f"{pid}\n")
    except OSError:
        pass
    return pid


STOPPED = "agent.stopped"       # the pid of a worker's agent told to stop, until it has exited
STOP_WAIT = 15.0                # seconds a new agent waits for it (its job's grace is 10 s)


def _wait_gone(stopped: Path) -> None:
    """Wait until the agent named in `stopped` has exited (or STOP_WAIT has passed)."""
    try:
        pid = int(stopped.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.02)
    stopped.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False                # it was this process's child, and has exited
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _is_agent(pid)       # (an exited agent not yet reaped by its parent has no command line)


def _is_agent(pid: int) -> bool:
    """Never signal a recycled pid: on Linux, check that it runs `tpuctl agent`."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return os.name == "posix"
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return b"tpuctl" in args and b"agent" in args
