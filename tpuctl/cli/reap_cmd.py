"""The reaper's commands: reap (what cron runs), extend (renew a lease), keep (spare a TPU)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli import shapes
from tpuctl.cli.options import JsonFlag, OverrideOption, ZoneOption, session


def reap(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    warn: Annotated[str, typer.Option("--warn", help="Warning window before an expired lease (or a spent budget) is acted on; 0 acts at once.")] = "1h",
    idle: Annotated[str, typer.Option("--idle", help="How long a TPU may sit idle (after a grace from creation).")] = "30m",
    idle_action: Annotated[str, typer.Option("--idle-action", help="auto (delete spot, stop on-demand), stop or delete.")] = "auto",
    over_budget: Annotated[str, typer.Option("--over-budget", help="For TPUs of a member whose month is spent: warn, stop or delete.")] = "warn",
    max_actions: Annotated[int, typer.Option("--max-actions", help="Act on nothing (and exit 10) if the plan is larger.")] = 20,
    include_unmanaged: Annotated[bool, typer.Option("--include-unmanaged", help="Also TPUs tpuctl did not create.")] = False,
    every: Annotated[str, typer.Option("--every", help="How often cron runs the reaper (for --cron-line and the overdue warning).")] = "5m",
    cron_line: Annotated[bool, typer.Option("--cron-line", help="Print a crontab entry that runs the reaper, and exit.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Tear down preempted, failed, expired, idle and over-budget TPUs (what cron runs).

    One line per action; a second reaper exits 0 naming the one running; over --max-actions
    nothing is done and the exit code is 10."""
    from tpuctl.cli import render
    from tpuctl.services import reap as svc

    s = session(ctx)
    if cron_line:
        render.echo(crontab_entry(s, svc.every_of(every)))
        return
    result = svc.run(s, svc.ReapAsk(dry_run, warn, idle, idle_action, over_budget, max_actions, include_unmanaged,
                                    every))
    render.emit_json(shapes.reap_result(result)) if json_out else show(result)
    if result.capped:
        raise svc.too_large(result)
    if result.failed:
        raise typer.Exit(result.failed[0].code)


def show(result) -> None:
    from tpuctl.cli import render

    if result.held_by is not None:
        render.echo(f"Another reaper is running: {result.held_by.sentence()}; nothing done.")
        return
    for zone in result.unreachable:
        render.echo(f"Warning: {zone} could not be listed; nothing there was touched.", err=True)
    stamp = render.iso(result.at)
    if result.dry_run or result.capped:
        for a in result.planned:
            render.echo(f"{stamp} would {a.verb.replace('_', ' ')} {a.zone}/{a.name} "
                        f"(owner {a.owner or 'unattributed'}): {a.reason}")
    for o in result.outcomes:
        a, tail = o.action, f" ({o.detail})" if o.detail else ""
        render.echo(f"{stamp} {o.status} {a.verb.replace('_', ' ')} {a.zone}/{a.name} "
                    f"(owner {a.owner or 'unattributed'}): {a.reason}{tail}", err=o.status == "failed")
    if not result.planned:
        render.echo(f"{stamp} nothing to reap.")
    if result.sealed is not None and result.sealed.events:
        render.echo(f"{stamp} sealed {result.sealed.events} ledger events into {result.sealed.segments} segment(s).")
    if result.sealed is not None and result.sealed.problem:
        render.echo(f"Warning: {result.sealed.problem} (the next run tries to seal again)", err=True)


def crontab_entry(s, interval) -> str:
    """A crontab line: the PATH this tpuctl runs with, its profile and config, a log file."""
    import os
    import shlex
    import shutil
    import sys
    from pathlib import Path

    from tpuctl.config import data_dir
    from tpuctl.domain.durations import format_duration

    minutes = max(1, int(interval.total_seconds() // 60))
    schedule = f"*/{minutes} * * * *" if minutes < 60 else f"0 */{max(1, minutes // 60)} * * *"
    found = shutil.which("tpuctl")
    command = shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m tpuctl"
    path = os.pathsep.join(dict.fromkeys([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    env = [f"PATH={shlex.quote(path)}", f"TPUCTL_PROFILE={shlex.quote(s.profile.name)}"]
    for name in ("TPUCTL_CONFIG", "TPUCTL_DATA_DIR"):
        if os.environ.get(name):
            env.append(f"{name}={shlex.quote(os.environ[name])}")
    log = shlex.quote(str(data_dir() / "reap.log"))
    every = format_duration(interval).replace("m00s", "m")
    return f"{schedule} {' '.join(env)} {command} reap --every {every} >> {log} 2>&1"


def extend(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The TPU whose lease to extend.")],
    hours: Annotated[float, typer.Option("--hours", help="Hours to add (from now if the lease has ended).")],
    zone: ZoneOption = None,
    override: OverrideOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Extend a TPU's lease (weighed against the budget like a create); clears the reaper's warning."""
    from tpuctl.cli import render
    from tpuctl.services import leases
    from tpuctl.services import nodes as svc

    s = session(ctx)
    node = svc.locate_node(s.api, name, zone, s.profile.zone)
    done = leases.extend(s.api, s.books, node, hours, override)
    render.override_notice(done.admission)
    if json_out:
        render.emit_json(shapes.lease_extended(done))
        return
    cleared = f"; the reaper's warning ({done.cleared.sentence()}) is cleared" if done.cleared else ""
    render.echo(f"{node.name}: lease until {render.iso(done.until)}{cleared}.")


def keep(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The TPU to keep.")],
    until: Annotated[str, typer.Option("--until", help="A date (2026-12-01, UTC midnight) or a time; or a duration like 3d.")],
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why, for the ledger.")] = None,
    zone: ZoneOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Spare a TPU from the reaper's idle and budget rules until a date (never from its lease)."""
    from tpuctl.cli import render
    from tpuctl.domain.durations import parse_time_or_duration
    from tpuctl.services import leases
    from tpuctl.services import nodes as svc

    s = session(ctx)
    when = parse_time_or_duration(until, "--until", s.clock.now())
    node = svc.locate_node(s.api, name, zone, s.profile.zone)
    after = leases.keep(s.api, s.books, node, when, reason)
    if json_out:
        render.emit_json(shapes.node(after))
        return
    render.echo(f"{node.name}: kept from the idle and budget rules until {render.iso(when)} "
                f"(its lease still ends at {render.iso(after.lease_until) or 'no time'}).")


