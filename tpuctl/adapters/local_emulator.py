"""The built-in `local` profile's control plane: the emulator inside this tpuctl process.

Each invocation serves the same on-disk world on a free loopback port for as long as the
command runs, so separate commands see one world with no server to start by hand.
"""

from __future__ import annotations

import atexit
from pathlib import Path

LOCAL_BOOT_SECONDS = 3.0   # long enough to show a spinner, short enough for a demo


def world_path(data_dir: Path) -> Path:
    return data_dir / "emulator" / "world.json"


def start_local_emulator(data_dir: Path) -> str:
    """Serve the local world from `data_dir` and return its http:// endpoint."""
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import EmulatorServer

    path = world_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = None if path.exists() else WorldSettings(boot_seconds=LOCAL_BOOT_SECONDS)
    server = EmulatorServer(state_path=path, settings=settings).start()
    atexit.register(server.stop)
    return server.url
