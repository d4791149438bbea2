"""`tpuctl emulator serve`: a local Cloud TPU v2 REST server for tests, demos and gcloud."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Run the Cloud TPU API emulator.")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0 = any free port).")] = 8470,
    state: Annotated[Optional[Path], typer.Option("--state", help="World state file, shared by processes (default: in memory).")] = None,
    boot_seconds: Annotated[float, typer.Option("--boot-seconds", help="CREATING -> READY delay.")] = 5.0,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Added to every reply.")] = 0.0,
    fail_rate: Annotated[float, typer.Option("--fail-rate", help="Fraction of requests answered 429/503.")] = 0.0,
    fail_operations: Annotated[float, typer.Option("--fail-operations", help="Fraction of creates whose operation fails.")] = 0.0,
    preempt_after: Annotated[Optional[float], typer.Option("--preempt-after", help="Preempt spot nodes this many seconds after READY.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed for faults and preemption.")] = 0,
) -> None:
    """Serve the emulator until interrupted; point clients at http://HOST:PORT."""
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import serve_forever

    settings = WorldSettings(boot_seconds=boot_seconds, latency_ms=latency_ms, fail_rate=fail_rate,
                             fail_operations=fail_operations, spot_preempt_after_seconds=preempt_after, seed=seed)
    serve_forever(host, port, state, settings)
