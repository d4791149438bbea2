"""`tpuctl agent`: what the startup script runs on each TPU VM worker (tpuctl/agent/runner.py).

Given the project and Cloud TPU endpoint, worker 0's agent also deletes its TPU when the job
that made it ends (the adapters for that are wired in session.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


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
) -> None:
    """Run this TPU VM worker's jobs, one at a time (the node's startup script starts it)."""
    from tpuctl.agent.runner import Agent
    from tpuctl.cli.session import agent_parts
    from tpuctl.domain.jobs import JobTiming

    root = root.resolve()
    group_store, release = agent_parts(store, project, api_endpoint, root)
    Agent(group_store, zone, node, worker, root, JobTiming.parse(timing, "--timing"), pidfile=pidfile,
          release=release).serve()
