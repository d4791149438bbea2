"""Job commands: run, jobs list|show|resume, logs, cancel, outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from tpuctl.cli import complete
from tpuctl.cli.options import ForceFlag, ForOption, JsonFlag, MineFlag, OverrideOption, default_to, session

JobArg = Annotated[str, typer.Argument(help="The job id, e.g. digits-k3x9q2.", autocompletion=complete.job_ids)]
WorkerOption = Annotated[int, typer.Option("--worker", "-w", min=0, help="Which worker (default 0).")]

jobs_app = typer.Typer(cls=default_to("list"), help="The group's jobs: list them (the default), show one, resume interrupted ones.")


def run(
    ctx: typer.Context,
    config: Annotated[str, typer.Argument(help="A job config file, or a stored config: NAME or NAME@vN.")],
    node: Annotated[Optional[str], typer.Option("--node", autocompletion=complete.node_names, help="Run on this existing TPU (one tpuctl made with its agent).")] = None,
    force: ForceFlag = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream worker 0's log until the job ends; resume it if it asks.")] = False,
    keep_node: Annotated[bool, typer.Option("--keep-node", help="Keep the job's TPU when the job ends (else its agent deletes it).")] = False,
    override: OverrideOption = None,
    for_member: ForOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Run a job: ship its workdir, create (or queue) its TPU with one agent per worker, print its id."""
    from tpuctl.cli import render, render_jobs
    from tpuctl.services import jobs as svc

    s = session(ctx)
    started = svc.run(s, svc.RunAsk(config, node, keep_node, override, Path.cwd(), dict(os.environ),
                                      for_member, force), render.Watch())
    render.job_started(started, follow=follow, json_out=json_out)
    if follow:
        with render_jobs.following(started.status.id, json_out) as show:
            done = svc.follow_to_end(s, started.status.id, 0, show, resume=True, via="run --follow")
        render_jobs.followed(done, json_out)


def jobs(
    ctx: typer.Context,
    mine: MineFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """List the group's jobs, oldest first (what `tpuctl jobs` alone does)."""
    from tpuctl.cli import render_jobs
    from tpuctl.services import jobs as svc

    render_jobs.jobs(svc.jobs(session(ctx), mine), json_out)


def resume(
    ctx: typer.Context,
    job: Annotated[Optional[str], typer.Argument(help="One job (default: every interrupted job that asked to resume).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Run interrupted `resume: true` jobs again on new TPUs, from their checkpoints, and finish
    deleting ended jobs' TPUs whose release was cut short (cron-safe)."""
    from tpuctl.cli import render_jobs
    from tpuctl.services import jobs as svc

    result = svc.resume(session(ctx), job)
    render_jobs.resumed(result, job, json_out)
    if result.done.failed:                       # cron sees it; each job's reason is above
        raise typer.Exit(result.done.failed[0][1].exit_code)


def job(ctx: typer.Context, job_id: JobArg, json_out: JsonFlag = False) -> None:
    """Show a job: its state, each worker's state, exit code and times, and its outputs."""
    from tpuctl.cli import render_jobs
    from tpuctl.services import jobs as svc

    render_jobs.job(svc.show(session(ctx), job_id), json_out)


def logs(
    ctx: typer.Context,
    job_id: JobArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
    worker: WorkerOption = 0,
    tail: Annotated[Optional[int], typer.Option("--tail", "-n", min=1, help="Only the last N lines (of the latest attempt), then -f follows.")] = None,
) -> None:
    """Print a worker's log (every attempt of it); -f follows it live; --tail N its end."""
    from tpuctl.cli import render_jobs
    from tpuctl.services import jobs as svc

    s = session(ctx)
    found = svc.logs(s, job_id, worker, tail)
    if not follow:
        render_jobs.logs(found)
        return
    if found.tail is not None:
        render_jobs.logs(found)
    with render_jobs.following(job_id, False) as show:
        done = svc.follow_to_end(s, job_id, worker, show, resume=False, via=None, only_new=tail is not None)
    render_jobs.followed(done, False)


def cancel(
    ctx: typer.Context,
    job_id: JobArg,
    keep_node: Annotated[bool, typer.Option("--keep-node", help="Keep the TPU the job created.")] = False,
) -> None:
    """Stop a job on every worker, then delete the TPU it created."""
    from tpuctl.cli import render, render_jobs
    from tpuctl.services import jobs as svc

    render_jobs.cancelled(svc.cancel(session(ctx), job_id, keep_node, render.Watch()))


def outputs(
    ctx: typer.Context,
    job_id: JobArg,
    to: Annotated[Optional[Path], typer.Option("--to", help="Folder to write them to (default ./JOB-outputs).")] = None,
    worker: WorkerOption = 0,
) -> None:
    """Download a job's outputs (what its `outputs` folder held, from the store)."""
    from tpuctl.cli import render
    from tpuctl.services import jobs as svc

    dest = to or Path(f"{job_id}-outputs")
    written = svc.download(session(ctx), job_id, worker, dest)
    render.echo(f"Downloaded {len(written)} file{'s' if len(written) != 1 else ''} to {dest}.")
