"""`tpuctl agent`: what the startup script runs on each TPU VM worker (tpuctl/agent/runner.py).

Given the project and Cloud TPU endpoint, worker 0's agent also deletes its TPU when the job
that made it ends (the adapters for that are wired in session.py).
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
    from tpuctl.agent.probes import Probes
    from tpuctl.agent.runner import Agent
    from tpuctl.cli.session import agent_parts
    from tpuctl.domain.jobs import JobTiming

    root = root.resolve()
    group_store, release = agent_parts(store, project, api_endpoint, root)
    Agent(group_store, zone, node, worker, root, JobTiming.parse(timing, "--timing"), pidfile=pidfile,
          release=release, probes=Probes.from_options(devices, utmp)).serve()


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
