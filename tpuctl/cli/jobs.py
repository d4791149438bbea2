"""Job commands: run, jobs, job, logs, cancel, outputs (and, registered here, configs, the agent and touch)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tpuctl.cli import complete
from tpuctl.cli.options import ForceFlag, ForOption, JsonFlag, OverrideOption, session

JobArg = Annotated[str, typer.Argument(help="The job id, e.g. digits-k3x9q2.", autocompletion=complete.job_ids)]
WorkerOption = Annotated[int, typer.Option("--worker", "-w", min=0, help="Which worker (default 0).")]

jobs_app = typer.Typer(help="The group's jobs: list them, resume interrupted ones.")


def _timing():
    """TPUCTL_JOB_TIMING (e.g. `poll=0.2,heartbeat=0.5`): short intervals for tests and demos."""
    from tpuctl.domain.jobs import JobTiming

    return JobTiming.parse(os.environ.get("TPUCTL_JOB_TIMING"))


def run(
    ctx: typer.Context,
    config: Annotated[str, typer.Argument(help="A job config file, or a stored config: NAME or NAME@vN.")],
    node: Annotated[Optional[str], typer.Option("--node", autocompletion=complete.node_names, help="Run on this existing TPU (one tpuctl made with its agent).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream worker 0's log until the job ends; resume it if it asks.")] = False,
    keep_node: Annotated[bool, typer.Option("--keep-node", help="Keep the job's TPU when the job ends (else its agent deletes it).")] = False,
    override: OverrideOption = None,
    for_member: ForOption = None,
    force: ForceFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Run a job: ship its workdir, create (or queue) its TPU with one agent per worker, print its id."""
    from dataclasses import replace

    from tpuctl.cli import render
    from tpuctl.domain.jobs import status_json
    from tpuctl.services import jobs as svc

    s = session(ctx)
    store, timing = s.store, _timing()
    loaded = svc.load_config(config, s.profile, store, Path.cwd())
    job_config = replace(loaded.config, keep_node=True) if keep_node else loaded.config
    admitted: list = []
    with render.spinner(f"Starting job {job_config.name}") as update:
        status = svc.submit(s.books, s.api, s.profile, job_config, loaded.base, loaded.label, node=node,
                            timing=timing, override_reason=override, on_admitted=admitted.append,
                            on_progress=update, code=loaded.code, environ=dict(os.environ),
                            for_member=for_member, force=force)
    for admission in admitted:                    # (a job on an existing TPU asks for none)
        tpu = job_config.tpu
        render.override_notice(admission)
        per_hour = s.books.price_per_hour(tpu.zone, tpu.type, tpu.spot)
        render.echo(f"Its TPU ({tpu.type}): {render.cost_sentence(admission, per_hour)}.", err=True)
    attempt = status.latest
    _warn_if_no_agent_can_run(s, status.id)
    if follow:
        render.echo(f"Job {status.id} runs on TPU {attempt.node} in {attempt.zone}; following worker 0 "
                    "(Ctrl-C stops following, not the job).", err=True)
        _follow(s, store, status.id, 0, resume=True, release="run --follow", json_out=json_out)
    elif json_out:
        render.emit_json(status_json(status))
    else:
        render.echo(status.id)
        render.echo(f"Job {status.id} is {status.state} on TPU {attempt.node} in {attempt.zone}; "
                    f"follow it with `tpuctl logs {status.id} -f`.", err=True)


def _warn_if_no_agent_can_run(s, job: str) -> None:
    """A served emulator boots TPUs but starts no agents on them: say so now, not after the
    startup grace."""
    from tpuctl.cli import render

    endpoint = s.profile.api_endpoint
    if endpoint.startswith("http://") and s.emulator_runs_agents() is False:
        render.echo(f"Warning: the emulator at {endpoint} runs no tpuctl agents, so no agent can run job {job} "
                    "there: it stays pending until its TPU's startup grace ends. Jobs run on the built-in "
                    "emulator (`--profile local`) or on Cloud TPU.", err=True)


def _follow(s, store, job: str, worker: int, *, resume: bool, release: str | None, json_out: bool,
            only_new: bool = False) -> None:
    """Stream the log (to stderr with --json), then conclude; Ctrl-C leaves the job running.
    `release` (how this follower is named in the job's record) releases the job's TPU if the
    job wants that; without it, only a release someone else began is finished."""
    from tpuctl.cli import render
    from tpuctl.services import jobs as svc
    from tpuctl.services.release import release as release_tpu

    out = sys.stderr if json_out else sys.stdout
    status, began = None, s.clock.now()
    try:
        for event in svc.follow(s.books, s.api, job, worker, _timing(), resume=resume, only_new=only_new):
            status = event.status
            if event.kind == "log":
                out.write(event.text)
                out.flush()
            elif event.kind == "attempt" and event.attempt > 1:
                render.echo(f"[tpuctl] {job}: resumed, {event.text}.", err=True)
            elif event.kind == "state":
                render.echo(f"[tpuctl] {job}: {event.text}.", err=True)
    except KeyboardInterrupt:
        render.echo(f"Stopped following; job {job} goes on (`tpuctl logs {job} -f` follows it again).", err=True)
        raise typer.Exit(130) from None
    if status.final:
        done = release_tpu(s.books, s.api, status, release or "logs -f", start=release is not None)
        if done and done.deleted and done.time >= began:      # by this follower or, meanwhile, the job's agent
            render.echo(f"Deleting TPU {status.latest.node}: its job has ended (--keep-node keeps it).", err=True)
    _conclude(store, status, json_out)


def _conclude(store, status, json_out: bool) -> None:
    """Success: one line (or the JSON status). Anything else: the failing log's end, exit 11."""
    from tpuctl.cli import render
    from tpuctl.domain.jobs import outcome, status_json
    from tpuctl.errors import JobFailed

    if status.state == "succeeded":
        if json_out:
            render.emit_json(status_json(status))
        else:
            render.echo(outcome(status), err=True)
        return
    hint = None
    failing = status.latest.failing if status.latest else None
    if failing is not None:
        _show_tail(store, status, failing.worker)
        hint = f"`tpuctl logs {status.id} --worker {failing.worker}` shows its whole log."
    raise JobFailed(outcome(status), hint=hint)


def _show_tail(store, status, worker: int) -> None:
    from tpuctl.cli import render
    from tpuctl.services import jobs as svc

    lines = svc.last_lines(store, status.id, status.latest.attempt, worker)
    render.echo(f"Last lines of worker {worker}'s log:", err=True)
    for line in lines:
        render.echo(f"  {line}", err=True)


@jobs_app.callback(invoke_without_command=True)
def jobs(
    ctx: typer.Context,
    mine: Annotated[bool, typer.Option("--mine", help="Only your jobs.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """List the group's jobs, oldest first."""
    if ctx.invoked_subcommand:
        return
    from tpuctl.cli import render
    from tpuctl.domain.jobs import status_json
    from tpuctl.services import jobs as svc

    s = session(ctx)
    found = svc.list_jobs(s.store, s.clock, s.profile.member if mine else None)
    if json_out:
        render.emit_json([status_json(j) for j in found])
        return
    render.table(["JOB", "MEMBER", "STATE", "TPU", "WORKERS", "ATTEMPT", "CREATED", "TPU RELEASED"],
                 [[j.id, j.spec["member"], j.state, j.latest.node if j.latest else "-",
                   len(j.latest.workers) if j.latest else 0, j.latest.attempt if j.latest else 0,
                   j.spec["created"], _released_short(j)] for j in found],
                 empty="No jobs yet: `tpuctl run CONFIG` starts one.")


@jobs_app.command("resume")
def resume(
    ctx: typer.Context,
    job: Annotated[Optional[str], typer.Argument(help="One job (default: every interrupted job that asked to resume).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Run interrupted `resume: true` jobs again on new TPUs, from their checkpoints, and finish
    deleting ended jobs' TPUs whose release was cut short (cron-safe)."""
    from tpuctl.cli import render
    from tpuctl.domain.jobs import status_json
    from tpuctl.services import jobs as svc

    s = session(ctx)
    done = svc.resume_all(s.books, s.api) if job is None else svc.resume_one(s.books, s.api, job)
    if json_out:
        render.emit_json([status_json(r) for r in [*done.resumed, *(status for status, _ in done.failed),
                                                   *(svc.read_status(s.store, status.id, s.clock)
                                                     for status, _ in done.released)]])
    else:
        for status in done.resumed:
            render.echo(f"Resumed {status.id}: attempt {status.latest.attempt} on TPU {status.latest.node}.")
        for status, exc in done.failed:
            render.echo(f"Could not resume {status.id}: {exc.message}", err=True)
        for status, release in done.released:
            render.echo(f"Finished releasing TPU {status.latest.node} of {status.id}: "
                        + ("deleted." if release.deleted else "it was already gone."))
        if not done.resumed and not done.failed and not done.released:
            render.echo("Nothing to resume." if job is None else f"Job {job} does not need resuming.")
    if done.failed:                              # cron sees it; each job's reason is above
        raise typer.Exit(done.failed[0][1].exit_code)


def job(ctx: typer.Context, job_id: JobArg, json_out: JsonFlag = False) -> None:
    """Show a job: its state, each worker's state, exit code and times, and its outputs."""
    from tpuctl.cli import render
    from tpuctl.domain.budgets import format_amount
    from tpuctl.domain.jobs import iso, outcome, status_json
    from tpuctl.services import jobs as svc
    from tpuctl.services import ledger

    s = session(ctx)
    store = s.store
    status = svc.read_status(store, job_id, s.clock)
    attempt = status.latest
    files = svc.outputs(store, status.id, 0) if status.spec["config"].get("outputs") else []
    spent = ledger.places_cost(s.books.sync().db, s.clock, s.prices,
                               [(a.zone, a.node) for a in status.attempts if a.owned])
    if json_out:
        render.emit_json({**status_json(status), "outputs": files,
                          "cost": {"currency": s.prices.currency, "spent": render.amount(spent.money),
                                   "chip_hours": render.amount(spent.chip_hours)}})
        return
    render.fields_list([("job", status.id), ("state", status.state), ("member", status.spec["member"]),
                        ("config", status.spec["source"]), ("created", status.spec["created"]),
                        ("tpu", f"{attempt.node} in {attempt.zone}" if attempt else "-"),
                        ("attempt", attempt.attempt if attempt else 0), ("outputs", ", ".join(files) or "-"),
                        ("cost so far", f"{format_amount(spent.money, 'money', s.prices.currency)} "
                                        f"({spent.chip_hours.normalize():f} chip-hours)"),
                        ("tpu released", _released(status)), ("summary", outcome(status))])
    if attempt:
        render.echo()
        render.table(["WORKER", "STATE", "EXIT", "PHASE", "STARTED", "FINISHED", "HEARTBEAT"],
                     [[w.worker, w.state, "" if w.exit_code is None else w.exit_code, w.phase, iso(w.started),
                       iso(w.finished), iso(w.heartbeat)] for w in attempt.workers])
        if attempt.failing:
            _show_tail(store, status, attempt.failing.worker)


def _released_short(status) -> str:
    """`jobs`' column: when and by whom the TPU was released, or why not."""
    attempt = status.latest
    release = attempt.release if attempt else None
    if release is not None:
        from tpuctl.domain.times import shown_time

        return f"{shown_time(release.time)} by {release.by} ({release.via})" if release.done else "pending"
    if attempt is None or not status.final:
        return "-"
    return "no (not its own)" if not attempt.owned else "no (kept)" if status.keep_node else "no"


def _released(status) -> str:
    """When and by whom the job's TPU was released, or why it was not (yet)."""
    attempt = status.latest
    if attempt is not None and attempt.release is not None:
        return attempt.release.describe()
    if attempt is None or not attempt.owned:
        return "-" if attempt is None else f"no: TPU {attempt.node} is not the job's own"
    if status.keep_node:
        return "no: the job keeps its TPU (--keep-node)"
    return "not yet" if not status.final else "no"


def logs(
    ctx: typer.Context,
    job_id: JobArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
    worker: WorkerOption = 0,
    tail: Annotated[Optional[int], typer.Option("--tail", "-n", min=1, help="Only the last N lines (of the latest attempt), then -f follows.")] = None,
) -> None:
    """Print a worker's log (every attempt of it); -f follows it live; --tail N its end."""
    from tpuctl.cli import render
    from tpuctl.errors import UsageError
    from tpuctl.services import jobs as svc

    s = session(ctx)
    store = s.store
    status = svc.read_status(store, job_id, s.clock)
    workers = len(status.latest.workers) if status.latest else 1
    if worker >= workers:
        raise UsageError(f"Job {job_id} has {workers} worker{'s' if workers > 1 else ''} (0 to {workers - 1}), not {worker}.")
    if tail is not None and status.latest is not None:
        for line in svc.last_lines(store, job_id, status.latest.attempt, worker, tail):
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
    if follow:
        _follow(s, store, job_id, worker, resume=False, release=None, json_out=False, only_new=tail is not None)
        return
    if tail is not None:
        return
    for attempt in status.attempts:
        if len(status.attempts) > 1:
            render.echo(f"[tpuctl] attempt {attempt.attempt} on TPU {attempt.node}:", err=True)
        for _, text in svc.log_chunks(store, job_id, attempt.attempt, worker):
            sys.stdout.write(text)
    sys.stdout.flush()


def cancel(
    ctx: typer.Context,
    job_id: JobArg,
    keep_node: Annotated[bool, typer.Option("--keep-node", help="Keep the TPU the job created.")] = False,
) -> None:
    """Stop a job on every worker, then delete the TPU it created."""
    from tpuctl.cli import render
    from tpuctl.domain.jobs import outcome
    from tpuctl.services import jobs as svc
    from tpuctl.services.release import release

    s = session(ctx)
    store = s.store
    svc.cancel_job(store, s.profile.member, s.clock, job_id, keep_node=keep_node)
    with render.spinner(f"Cancelling {job_id}"):
        status = svc.settle(store, s.clock, job_id, _timing())
    render.echo(outcome(status) if status.state != "cancelling"
                else f"Job {job_id} is cancelling: its agents have not stopped it yet.")
    if status.state != "cancelling":         # else its agent deletes the TPU once the job has stopped
        done = release(s.books, s.api, status, "cancel")
        if done and done.deleted:
            render.echo(f"Deleting TPU {status.latest.node}.")


def outputs(
    ctx: typer.Context,
    job_id: JobArg,
    to: Annotated[Optional[Path], typer.Option("--to", help="Folder to write them to (default ./JOB-outputs).")] = None,
    worker: WorkerOption = 0,
) -> None:
    """Download a job's outputs (what its `outputs` folder held, from the store)."""
    from tpuctl.cli import render
    from tpuctl.services import jobs as svc

    s = session(ctx)
    dest = to or Path(f"{job_id}-outputs")
    written = svc.download_outputs(s.store, job_id, worker, dest)
    render.echo(f"Downloaded {len(written)} file{'s' if len(written) != 1 else ''} to {dest}.")


def register(app: typer.Typer) -> None:
    from tpuctl.cli.agent_cmd import agent, touch
    from tpuctl.cli.configs_cmd import configs_app

    for name, fn in [("run", run), ("job", job), ("logs", logs), ("cancel", cancel), ("outputs", outputs),
                     ("agent", agent), ("touch", touch)]:
        app.command(name)(fn)
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(configs_app, name="configs")
