"""The built-in `local` profile's control plane: the emulator inside this tpuctl process.

Each invocation serves the same on-disk world on a free loopback port for as long as the
command runs, so separate commands see one world with no server to start by hand. Whichever
command's server sees a node become READY starts its agents as local processes, and whichever
sees it go stops them (tpuctl/adapters/local_agents.py), so a job really runs here.
"""

from __future__ import annotations

import atexit
from pathlib import Path

LOCAL_BOOT_SECONDS = 3.0   # long enough to show a spinner, short enough for a demo
# A look at this process's own emulator costs a few milliseconds, so waits on it poll often and
# a TPU is seen READY within a quarter second (Cloud TPU's pace would add up to 1.7 s to a boot).
LOCAL_POLL = {"poll_interval": 0.1, "poll_ceiling": 0.25}


def world_path(data_dir: Path) -> Path:
    return data_dir / "emulator" / "world.json"


def start_local_emulator(data_dir: Path) -> str:
    """Serve the local world from `data_dir` and return its http:// endpoint."""
    server = _local_server(data_dir).start()
    atexit.register(server.stop)
    return server.url


def local_billing_export(data_dir: Path, month: str | None) -> str:
    """The local world's Cloud Billing export (CSV), read in this process without serving it.

    Reading advances the world to now like any command, so the agent hooks come along: a
    node that finishes booting meanwhile still gets its agents.
    """
    return LocalWorld(data_dir).billing_export(month)


class LocalWorld:
    """Steer the local profile's world on disk, in this process (no server is started).

    The same methods as `emulator_control.RemoteEmulator`; the emulator's API errors become
    tpuctl's. A node that stops or starts being READY meanwhile gets its agents stopped or
    started, as with any command.
    """

    def __init__(self, data_dir: Path):
        self.server = _local_server(data_dir)

    def preempt(self, zone: str, node: str, project: str | None) -> list[dict]:
        return self._run(self.server.preempt, zone, node, project)

    def maintain(self, zone: str, node: str, project: str | None) -> list[dict]:
        return self._run(self.server.maintain, zone, node, project)

    def set_capacity(self, zone: str, generation_or_type: str, chips: int) -> dict:
        self._run(self.server.set_capacity, zone, generation_or_type, chips)
        return self.server.settings.capacity

    def advance_clock(self, seconds: float) -> str:
        self._run(self.server.advance_clock, seconds)
        return self.server.now()

    def billing_export(self, month: str | None) -> str:
        return self._run(self.server.billing_export, month)

    @staticmethod
    def _run(method, *args):
        from tpuctl.emulator.exceptions import ApiError
        from tpuctl.errors import NotFoundError, UsageError

        try:
            return method(*args)
        except ApiError as exc:
            raise (NotFoundError if exc.http_status == 404 else UsageError)(exc.message) from None


def _local_server(data_dir: Path):
    from tpuctl.adapters.local_agents import LocalAgents
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import EmulatorServer

    path = world_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = None if path.exists() else WorldSettings(boot_seconds=LOCAL_BOOT_SECONDS,
                                                        maintenance_seconds=LOCAL_BOOT_SECONDS)
    agents = LocalAgents(data_dir)
    return EmulatorServer(state_path=path, settings=settings, on_node_ready=agents.on_node_ready,
                          on_node_gone=agents.on_node_gone)
