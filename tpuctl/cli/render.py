"""The one place that draws output: tables, JSON, errors, spinners.

On a terminal it uses rich (imported lazily); for cron and pipes (not a TTY) it prints plain
aligned columns without colour, and NO_COLOR is honoured everywhere. JSON shapes of the
objects tpuctl shows are declared in `shapes`, so `--json` stays stable in one module.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tpuctl.cli import shapes
from tpuctl.cli.shapes import amount, iso  # noqa: F401  (the forms text output shares with --json)
from tpuctl.errors import TpuctlError

if TYPE_CHECKING:
    from decimal import Decimal

    from tpuctl.domain.budgets import Admission


def is_tty(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def _use_rich(stream) -> bool:
    """Rich only on a terminal that takes escape codes: NO_COLOR means none at all."""
    return is_tty(stream) and os.environ.get("TERM") != "dumb" and "NO_COLOR" not in os.environ


def _console(stream):
    from rich.console import Console

    return Console(file=stream, no_color="NO_COLOR" in os.environ, highlight=False)


def echo(text: str = "", *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:     # a name the terminal cannot show (or half a character): escape it
        encoding = getattr(stream, "encoding", None) or "utf-8"
        stream.write((text + "\n").encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


def emit_json(data: Any) -> None:
    echo(json.dumps(data, indent=2, sort_keys=True, default=_json_default))


def shown(json_out: bool, data: Any, *lines: str) -> None:
    """A result: its JSON document on stdout with --json, else its lines."""
    if json_out:
        emit_json(data)
    for line in () if json_out else lines:
        echo(line)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def plural(count: int, noun: str) -> str:
    """`1 event`, `2 events`: never `event(s)`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "Nothing to show.") -> None:
    """A table on a terminal; plain aligned columns elsewhere (cron, pipes, tests)."""
    if not rows:
        echo(empty)
        return
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if _use_rich(sys.stdout):
        from rich.table import Table

        grid = Table(box=None, header_style="bold", pad_edge=False)
        for header in headers:
            grid.add_column(header)
        for row in cells:
            grid.add_row(*row)
        _console(sys.stdout).print(grid)
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def fields_list(pairs: Sequence[tuple[str, Any]]) -> None:
    """Key: value lines for `describe`-style output: yes/no, and `-` for what is not set."""
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        shown = ("yes" if value else "no") if isinstance(value, bool) else "-" if value in (None, "") else value
        echo(f"{key + ':':<{width + 1}} {shown}")


_live: list[Callable[[str], None]] = []     # the status line being shown, if any (retries update it)


@contextmanager
def spinner(message: str, *, lines: bool = False) -> Iterator[Callable[[str], None]]:
    """What a command waits for, on stderr. On a terminal: a live line with the state and the
    time elapsed. Elsewhere silent, unless `lines`: then one line per state change (for long
    waits that cron or a pipe should still see). Yields an updater taking the state."""
    if not _use_rich(sys.stderr):
        last: list[str] = []

        def plain(state: str) -> None:
            if (lines or is_tty(sys.stderr)) and [state] != last:
                last[:] = [state]
                echo(f"{message}: {state}", err=True)

        _live.append(plain)
        try:
            yield plain
        finally:
            _live.remove(plain)
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=_console(sys.stderr), transient=True) as bar:
        task = bar.add_task(message)

        def live(state: str) -> None:
            bar.update(task, description=f"{message} ({state})")

        _live.append(live)
        try:
            yield live
        finally:
            _live.remove(live)


def retry_notice(problem: TpuctlError, attempt: int, attempts: int, delay: float) -> None:
    """Say why a call is being tried again, e.g. "... unavailable (...); retrying (2/5) in 0.5 s…":
    in the live status line when one is shown, else as a line on stderr."""
    text = f"{problem.message.rstrip('.')}; retrying ({attempt}/{attempts}) in {delay:g} s…"
    if _live and _use_rich(sys.stderr):
        _live[-1](f"retrying ({attempt}/{attempts})")
        return
    echo(text, err=True)


def error(exc: TpuctlError, *, as_json: bool) -> None:
    if as_json:
        emit_json(shapes.error(exc))
        return
    echo(f"Error: {exc.message}", err=True)
    if exc.hint:
        echo(f"Hint: {exc.hint}", err=True)


def cost_sentence(admission: Admission, per_hour: Decimal) -> str:
    """e.g. "$12.88/hour, up to $51.52 for the lease; $48.48 of your 2026-05 budget left after it"."""
    from tpuctl.domain.budgets import format_amount

    me = admission.member
    money = lambda value: format_amount(value, "money", admission.currency)  # noqa: E731
    if admission.grant is not None:
        per_hour = admission.grant.paid_per_hour        # the part inside the TRC grant is free
    text = f"{money(per_hour)}/hour, up to {money(me.requested.money)} for the lease"
    if me.left is not None:
        left = format_amount(me.left - me.read(me.requested), me.unit, admission.currency)
        text += f"; {left} of your {admission.month} budget left after it"
    return text


def overdue(warning: str | None) -> None:
    """`list`, `spend`, `budget show`: the reaper has not run for too long."""
    if warning:
        echo(f"Warning: {warning}", err=True)


def grant_notice(admission: Admission) -> None:
    """Before anything is made: how much of the request the group's TRC grant leaves to pay."""
    from tpuctl.domain.budgets import format_amount

    grant = admission.grant.notice(lambda value: format_amount(value, "money", admission.currency)) \
        if admission.grant is not None else None
    if grant:
        echo(grant, err=True)


def override_notice(admission: Admission) -> None:
    """What a member is told before anything is made: the TRC grant's part, and an override."""
    grant_notice(admission)
    if admission.overridden_by:
        over = " and ".join(s.sentence(admission.month, admission.currency) for s in admission.over)
        echo(f"Over budget ({over}); let through by {admission.overridden_by}'s override: "
             f"{admission.override_reason}", err=True)


class Watch:
    """Shows a use case as it runs: an override on stderr, a change of plan, a spinner per step."""

    def admitted(self, admission: Admission) -> None:
        override_notice(admission)

    def queueing(self, request: Any) -> None:
        echo(f"No capacity for {request.accelerator_type} in {request.zone} now: queueing {request.name}.", err=True)

    def waiting(self, message: str, *, lines: bool = False):
        return spinner(message, lines=lines)


def synced(result: Any, json_out: bool) -> None:
    events = result.observed
    if json_out:
        emit_json(shapes.synced(result))
        return
    echo(f"Synced; {plural(len(events), 'change')} observed." if events else "Synced; nothing changed.")


def budget_set(result: Any) -> None:
    who = "the group" if result.group else result.member or "members without their own budget"
    unit = " chip-hours" if result.unit == "chip_hours" else ""
    echo(f"Budget for {who} ({result.month}) set to {result.amount}{unit}.")


def member_added(result: Any) -> None:
    member, key = result.member, result.key
    echo(f"{member} is now a {'treasurer' if result.treasurer else 'member'} of the group"
         f"{' with key ' + key if key else ''}.")
    if result.keyless:
        echo(f"Note: nothing {member} signs counts until a treasurer gives their key: "
             f"`tpuctl group add {member} --key KEY` (they print it with `tpuctl whoami`).", err=True)


def group_rules(rules: Any, json_out: bool) -> None:
    if json_out:
        emit_json(shapes.group_rules(rules))
        return
    fields_list([("Currency", rules.currency), ("Treasurers", ", ".join(sorted(rules.treasurers))),
                 ("Members", ", ".join(sorted(rules.members)))])


def prices_set(result: Any) -> None:
    from decimal import Decimal

    echo(f"{result.generation} now costs {result.on_demand} on demand and {result.spot} spot ({result.currency} "
         f"per chip-hour) in {result.region or 'every region'}, for every member.")
    if Decimal(result.spot) > Decimal(result.on_demand):
        echo(f"Warning: the spot price {result.spot} is above the on-demand price {result.on_demand}; "
             "spot capacity is normally the cheaper one.", err=True)


def job_started(started: Any, *, follow: bool, json_out: bool) -> None:
    """`run`: what its TPU costs, then the job's id (or, when following, where it runs)."""
    status = started.status
    attempt = status.latest
    for admission, per_hour in started.costs:       # (its grant and override were told when admitted)
        echo(f"Its TPU ({started.tpu_type}): {cost_sentence(admission, per_hour)}.", err=True)
    if started.agentless:
        echo(f"Warning: the emulator at {started.agentless} runs no tpuctl agents, so no agent can run job "
             f"{status.id} there: it stays pending until its TPU's startup grace ends. Jobs run on the built-in "
             "emulator (`--profile local`) or on Cloud TPU.", err=True)
    if follow:
        echo(f"Job {status.id} runs on TPU {attempt.node} in {attempt.zone}; following worker 0 "
             "(Ctrl-C stops following, not the job).", err=True)
    elif json_out:
        emit_json(shapes.job_status(status))
    else:
        echo(status.id)
        echo(f"Job {status.id} is {status.state} on TPU {attempt.node} in {attempt.zone}; "
             f"follow it with `tpuctl logs {status.id} -f`.", err=True)


def profile_written(path, planned, default: str) -> str:
    """e.g. "Wrote ~/.config/tpuctl/config.toml: profile 'group' (member alice, on the built-in
    emulator: no cloud account needed), now the default profile."."""
    values = planned.values
    endpoint = values["api_endpoint"]
    where = {"": f"on Google Cloud project {values['project']}",
             "local": "on the built-in emulator: no cloud account needed"}.get(endpoint, f"on the emulator at {endpoint}")
    made_default = "now the default profile" if default == "group" else \
        "not the default (the built-in 'local' is; use --profile group)"
    return f"Wrote {path}: profile 'group' (member {values['member']}, {where}, store {values['store']}), {made_default}."
