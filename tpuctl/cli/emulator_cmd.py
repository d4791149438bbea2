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
    boot_seconds: Annotated[Optional[float], typer.Option("--boot-seconds", min=0, help="CREATING -> READY delay.")] = None,
    delete_seconds: Annotated[Optional[float], typer.Option("--delete-seconds", min=0, help="DELETING -> gone delay.")] = None,
    stop_seconds: Annotated[Optional[float], typer.Option("--stop-seconds", min=0, help="STOPPING -> STOPPED delay.")] = None,
    start_seconds: Annotated[Optional[float], typer.Option("--start-seconds", min=0, help="STARTING -> READY delay.")] = None,
    latency_ms: Annotated[Optional[float], typer.Option("--latency-ms", min=0, help="Added to every reply.")] = None,
    fail_rate: Annotated[Optional[float], typer.Option("--fail-rate", min=0, max=1, help="Fraction of requests answered 429/503.")] = None,
    fail_operations: Annotated[Optional[float], typer.Option("--fail-operations", min=0, max=1, help="Fraction of creates whose operation fails.")] = None,
    spot_preempt_after_seconds: Annotated[Optional[float], typer.Option("--spot-preempt-after-seconds", min=0, help="Preempt spot nodes this long after READY.")] = None,
    spot_preempt_rate_per_hour: Annotated[Optional[float], typer.Option("--spot-preempt-rate-per-hour", min=0, help="Random spot preemptions per node-hour.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed for faults and preemption.")] = None,
    capacity: Annotated[list[str], typer.Option("--capacity", help="ZONE:GENERATION=CHIPS, e.g. us-central2-b:v4=8 (repeatable).")] = [],  # noqa: B006
    manual_clock: Annotated[bool, typer.Option("--manual-clock", help="Time moves only via POST /emulator/v1/clock/advance.")] = False,
) -> None:
    """Serve the emulator until interrupted; point clients at http://HOST:PORT."""
    from tpuctl.emulator.models import parse_capacity
    from tpuctl.emulator.server import serve_forever
    from tpuctl.errors import UsageError

    given = {k: v for k, v in dict(
        boot_seconds=boot_seconds, delete_seconds=delete_seconds, stop_seconds=stop_seconds,
        start_seconds=start_seconds, latency_ms=latency_ms, fail_rate=fail_rate, fail_operations=fail_operations,
        spot_preempt_after_seconds=spot_preempt_after_seconds, spot_preempt_rate_per_hour=spot_preempt_rate_per_hour,
        seed=seed).items() if v is not None}
    if capacity:
        try:
            given["capacity"] = parse_capacity(capacity)
        except ValueError as exc:
            raise UsageError(f"--capacity {exc}") from None

    def ready(server) -> None:
        typer.echo(f"Cloud TPU emulator listening on {server.url} (Ctrl-C to stop)", err=True)

    serve_forever(host, port, state, given or None, manual_clock=manual_clock, ready=ready)


@app.command("billing-export")
def billing_export(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="Invoice month, YYYY-MM (Pacific Time, as Cloud Billing).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the CSV here (default: standard output).")] = None,
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", help="A served emulator, http://HOST:PORT (default: the profile's).")] = None,
) -> None:
    """What the emulator says ran, as a Cloud Billing standard usage cost export (CSV)."""
    from tpuctl.cli import render
    from tpuctl.cli.options import session
    from tpuctl.config import data_dir
    from tpuctl.services.emulator import billing_export as export

    text = export(month, endpoint, None if endpoint else session(ctx).profile, data_dir())
    if out is None:
        render.echo(text.rstrip("\n"))
        return
    out.write_text(text, encoding="utf-8")
    count = len(text.splitlines()) - 1
    render.echo(f"Wrote {count} row{'' if count == 1 else 's'} for {month} to {out}.", err=True)
