"""`tpuctl emulator serve`: a local Cloud TPU v2 REST server for tests, demos and gcloud."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Run and steer the Cloud TPU API emulator.")
capacity_app = typer.Typer(no_args_is_help=True, help="The emulated zones' free chips.")
clock_app = typer.Typer(no_args_is_help=True, help="The emulated world's time.")
Endpoint = Annotated[Optional[str], typer.Option("--endpoint", help="A served emulator, http://HOST:PORT (default: the profile's).")]
Zone = Annotated[Optional[str], typer.Option("--zone", help="The node's zone (default: the profile's).")]


def _target(ctx: typer.Context, endpoint: Optional[str]):
    from tpuctl.cli.options import session
    from tpuctl.config import data_dir
    from tpuctl.services.emulator import Target

    return Target(endpoint, None if endpoint else session(ctx).profile, data_dir())


def _nodes_now(changes) -> None:
    from tpuctl.cli import render

    for change in changes:
        render.echo(f"TPU {change.name} in {change.zone} is {change.state}.")


def preempt(ctx: typer.Context, name: str, zone: Zone = None, endpoint: Endpoint = None) -> None:
    """Preempt a READY spot TPU now, as Cloud TPU would (its agents get SIGTERM)."""
    from tpuctl.services import emulator

    _nodes_now(emulator.preempt(_target(ctx, endpoint), name, zone))


def maintenance(ctx: typer.Context, name: str, zone: Zone = None, endpoint: Endpoint = None) -> None:
    """A host maintenance event now: the TPU is REPAIRING (its agents get SIGTERM), then READY again."""
    from tpuctl.services import emulator

    _nodes_now(emulator.maintain(_target(ctx, endpoint), name, zone))


def capacity_set(ctx: typer.Context, zone: Annotated[str, typer.Argument(metavar="ZONE", help="e.g. us-central2-b.")], type_: Annotated[str, typer.Argument(metavar="TYPE", help="A generation (v4) or a type (v4-8).")],
                 chips: Annotated[int, typer.Argument(metavar="N", help="Chips of that generation the zone has.")],
                 endpoint: Endpoint = None) -> None:
    """Give a zone N chips of a generation; requests beyond them wait in the queue."""
    from tpuctl.cli import render
    from tpuctl.services import emulator

    limits = emulator.set_capacity(_target(ctx, endpoint), zone, type_, chips)
    render.echo(f"Capacity in {zone}: " + ", ".join(f"{gen} {n} chips" for gen, n in sorted(limits.items())) + ".")


def clock_advance(ctx: typer.Context, duration: Annotated[str, typer.Argument(help="How far, e.g. 90m, 2h, 1d.")],
                  endpoint: Endpoint = None) -> None:
    """Move the emulated world's time forward: boots, leases, queues and preemptions that fall due happen."""
    from tpuctl.cli import render
    from tpuctl.services import emulator

    render.echo(f"The emulator's clock is now {emulator.advance_clock(_target(ctx, endpoint), duration)}.")



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
    maintenance_seconds: Annotated[Optional[float], typer.Option("--maintenance-seconds", min=0, help="How long a maintenance event keeps a node REPAIRING.")] = None,
    manual_clock: Annotated[bool, typer.Option("--manual-clock", help="Time moves only via `tpuctl emulator clock advance` (or POST /emulator/v1/clock/advance).")] = False,
    json_log: Annotated[bool, typer.Option("--json-log", help="Print one JSON line per request (method, path, status, latency) on stdout.")] = False,
) -> None:
    """Serve the emulator until interrupted; point clients at http://HOST:PORT."""
    from tpuctl.emulator.models import parse_capacity
    from tpuctl.emulator.server import serve_forever
    from tpuctl.errors import UsageError

    given = {k: v for k, v in dict(
        boot_seconds=boot_seconds, delete_seconds=delete_seconds, stop_seconds=stop_seconds,
        start_seconds=start_seconds, latency_ms=latency_ms, fail_rate=fail_rate, fail_operations=fail_operations,
        spot_preempt_after_seconds=spot_preempt_after_seconds, spot_preempt_rate_per_hour=spot_preempt_rate_per_hour,
        seed=seed, maintenance_seconds=maintenance_seconds).items() if v is not None}
    if capacity:
        try:
            given["capacity"] = parse_capacity(capacity)
        except ValueError as exc:
            raise UsageError(f"--capacity {exc}") from None

    def ready(server) -> None:
        typer.echo(f"Cloud TPU emulator listening on {server.url} (Ctrl-C to stop)", err=True)

    def log_request(entry: dict) -> None:
        typer.echo(json.dumps(entry, separators=(",", ":")))

    serve_forever(host, port, state, given or None, manual_clock=manual_clock, ready=ready,
                  request_log=log_request if json_log else None)


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
