"""How the job commands show what their use case returned: a job, its log, a follow, a
cancel, a resume pass (the `render` module draws; this one says what for jobs)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from tpuctl.cli import render, shapes


def jobs(listed: Any, json_out: bool) -> None:
    """`tpuctl jobs`: a row per job; jobs whose objects cannot be read are named on stderr."""
    found = listed.jobs
    if json_out:
        render.emit_json([shapes.job_status(j) for j in found])
    else:
        render.table(["JOB", "MEMBER", "STATE", "TPU", "WORKERS", "ATTEMPT", "CREATED", "TPU RELEASED"],
                     [[j.id, j.spec["member"], j.state, j.latest.node if j.latest else "-",
                       len(j.latest.workers) if j.latest else 0, j.latest.attempt if j.latest else 0,
                       j.spec["created"], _released_short(j)] for j in found],
                     empty="No jobs yet: `tpuctl run CONFIG` starts one.")
    for message in listed.ignored:              # written by hand, or by a newer tpuctl
        render.echo(f"Left out: {message}", err=True)


def job(view: Any, json_out: bool) -> None:
    """`tpuctl job`: fields, then each worker of the latest attempt, then a failing log's end."""
    from tpuctl.domain.budgets import format_amount
    from tpuctl.domain.jobs import iso, outcome

    status, spent, currency = view.status, view.spent, view.currency
    if json_out:
        render.emit_json(shapes.job_view(view))
        return
    attempt = status.latest
    render.fields_list([("job", status.id), ("state", status.state), ("member", status.spec["member"]),
                        ("config", status.spec["source"]), ("created", status.spec["created"]),
                        ("tpu", f"{attempt.node} in {attempt.zone}" if attempt else "-"),
                        ("attempt", attempt.attempt if attempt else 0), ("outputs", ", ".join(view.outputs) or "-"),
                        ("cost so far", f"{format_amount(spent.money, 'money', currency)} "
                                        f"({spent.chip_hours.normalize():f} chip-hours)"),
                        ("tpu released", _released(status)), ("summary", outcome(status))])
    if attempt:
        render.echo()
        render.table(["WORKER", "STATE", "EXIT", "PHASE", "STARTED", "FINISHED", "HEARTBEAT"],
                     [[w.worker, w.state, "" if w.exit_code is None else w.exit_code, w.phase, iso(w.started),
                       iso(w.finished), iso(w.heartbeat)] for w in attempt.workers])
        if attempt.failing:
            tail(view.tail)
    for message in status.ignored:              # objects written by hand, or by a newer tpuctl
        render.echo(message, err=True)


def tail(found: Any) -> None:
    render.echo(f"Last lines of worker {found.worker}'s log:", err=True)
    for line in found.lines:
        render.echo(f"  {line}", err=True)


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


@contextmanager
def following(job: str, json_out: bool) -> Iterator[Any]:
    """Show a followed job's events (its log on stdout, or stderr with --json); Ctrl-C stops
    following, not the job (exit 130)."""
    out = sys.stderr if json_out else sys.stdout

    def show(event) -> None:
        if event.kind == "log":
            out.write(event.text)
            out.flush()
        elif event.kind == "attempt" and event.attempt > 1:
            render.echo(f"[tpuctl] {job}: resumed, {event.text}.", err=True)
        elif event.kind == "state":
            render.echo(f"[tpuctl] {job}: {event.text}.", err=True)

    try:
        yield show
    except KeyboardInterrupt:
        render.echo(f"Stopped following; job {job} goes on (`tpuctl logs {job} -f` follows it again).", err=True)
        raise typer.Exit(130) from None


def followed(done: Any, json_out: bool) -> None:
    """The end of a follow: its TPU's release, then one line (or the JSON status) on success,
    else the failing log's end and the job's failure (exit 11)."""
    from tpuctl.domain.jobs import outcome

    status = done.status
    if done.released:
        render.echo(f"Deleting TPU {status.latest.node}: its job has ended (--keep-node keeps it).", err=True)
    if done.failure is None:
        if json_out:
            render.emit_json(shapes.job_status(status))
        else:
            render.echo(outcome(status), err=True)
        return
    if done.tail is not None:
        tail(done.tail)
    raise done.failure


def logs(found: Any) -> None:
    """A worker's log: its end when asked for (`--tail`), else every attempt's."""
    if found.tail is not None:
        for line in found.tail:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return
    several = len(found.status.attempts) > 1
    for attempt, node, text in found.chunks:
        if text is None and several:
            render.echo(f"[tpuctl] attempt {attempt} on TPU {node}:", err=True)
        elif text is not None:
            sys.stdout.write(text)
    sys.stdout.flush()


def cancelled(done: Any) -> None:
    from tpuctl.domain.jobs import outcome

    status = done.status
    if status is None:
        render.echo(f"Cancelled: deleting {', '.join(done.ended)}; the cancel reaches the job's record once the "
                    "group store is back.")
        return
    render.echo(outcome(status) if status.state != "cancelling"
                else f"Job {status.id} is cancelling: its agents have not stopped it yet.")
    if done.deleted:
        render.echo(f"Deleting TPU {status.latest.node}.")


def resumed(result: Any, job: str | None, json_out: bool) -> None:
    done = result.done
    if json_out:
        render.emit_json([shapes.job_status(r) for r in [*done.resumed, *(status for status, _ in done.failed),
                                                         *result.released]])
        return
    for status in done.resumed:
        render.echo(f"Resumed {status.id}: attempt {status.latest.attempt} on TPU {status.latest.node}.")
    for status, exc in done.failed:
        render.echo(f"Could not resume {status.id}: {exc.message}", err=True)
    for status, release in done.released:
        render.echo(f"Finished releasing TPU {status.latest.node} of {status.id}: "
                    + ("deleted." if release.deleted else "it was already gone."))
    if not done.resumed and not done.failed and not done.released:
        render.echo("Nothing to resume." if job is None else f"Job {job} does not need resuming.")
