"""`tpuctl agent`: what the startup script runs on each TPU VM worker (tpuctl/agent/runner.py).

Given the project and Cloud TPU endpoint, worker 0's agent also deletes its TPU when the job
that made it ends; this module makes the adapters it needs for that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tpuctl.cli.options import ZoneOption, session


def agent(
    store: Annotated[str, typer.Option("--store", help="The group store's URL.")],
    zone: Annotated[str, typer.Option("--zone", help="This TPU's zone.")],
    node: Annotated[str, typer.Option("--node", help="This TPU's name.")],
    worker: Annotated[int, typer.Option("--worker", envvar="TPU_WORKER_ID", min=0, help="This worker's number.")] = 0,
    root: Annotated[Path, typer.Option("--root", help="Where jobs unpack and run.")] = Path("tpuctl-jobs"),
    timing: Annotated[Optional[str], typer.Option("--timing", help="Intervals, e.g. poll=2,heartbeat=10.")] = None,
    pidfile: Annotated[Optional[Path], typer.Option("--pidfile", help="Stop when this file no longer names this process.")] = None,
    project: Annotated[Optional[str], typer.Option("--project", help="The project, for deleting this TPU when its job ends.")] = None,
    api_endpoint: Annotated[Optional[str], typer.Option("--api-endpoint", help="Cloud TPU's endpoint: empty for Google's, `local`, or http://HOST:PORT.")] = None,
    devices: Annotated[Optional[str], typer.Option("--devices", help="Globs of the TPU device files (default /dev/accel*,/dev/vfio/*).")] = None,
    utmp: Annotated[Optional[str], typer.Option("--utmp", help="The login records the SSH probe reads (default /var/run/utmp).")] = None,
) -> None:
    """Run this TPU VM worker's jobs, one at a time (the node's startup script starts it)."""
    from tpuctl.adapters.store import open_store
    from tpuctl.agent.probes import Probes
    from tpuctl.agent.runner import Agent
    from tpuctl.domain.jobs import JobTiming

    group_store, root = open_store(store), root.resolve()
    release = _agent_release(group_store, project, api_endpoint, root) if project and api_endpoint is not None else None
    Agent(group_store, zone, node, worker, root, JobTiming.parse(timing, "--timing"), pidfile=pidfile,
          release=release, probes=Probes.from_options(devices, utmp)).serve()


def _agent_release(store, project: str, endpoint: str, root: Path):
    """Worker 0's way to delete its TPU when its job ends: the ledger in a file of its own, the
    Cloud TPU client made at the first release (on the local profile, this machine's emulator)."""
    from functools import cache

    from tpuctl.adapters.ledger_db import LedgerDB
    from tpuctl.config import LOCAL_ENDPOINT, data_dir
    from tpuctl.domain.clock import SystemClock
    from tpuctl.services.ledger import Books, load_price_table
    from tpuctl.services.release import AgentRelease

    @cache
    def api():
        from tpuctl.adapters.tpu import TpuApi

        if endpoint == LOCAL_ENDPOINT:
            from tpuctl.adapters.local_emulator import start_local_emulator

            return TpuApi(project, start_local_emulator(data_dir()))
        return TpuApi(project, endpoint)

    @cache
    def ledger():
        return LedgerDB(root / "ledger.sqlite"), load_price_table()

    def books(member: str):
        db, prices = ledger()
        return Books(store, db, clock, prices, member, lister=api)

    clock = SystemClock()
    return AgentRelease(store, clock, books, api)


def touch(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The TPU to mark in use.")],
    minutes: Annotated[float, typer.Option("--minutes", help="For how long (default 60).")] = 60,
    zone: ZoneOption = None,
) -> None:
    """Mark a TPU in use for a while (a notebook, a debugging session): its agent reports it busy."""
    from tpuctl.cli import render
    from tpuctl.domain.times import shown_time
    from tpuctl.services import agents

    s = session(ctx)
    done = agents.touch(s.api, s.store, s.clock, s.profile.member, name, zone, s.profile.zone, minutes)
    render.echo(f"Touched {done.node}: its agent reports it busy until {shown_time(done.until)}.")
