"""The accounting group's commands: group init|add|show, sync, spend, budget show|set, ledger verify."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli import shapes
from tpuctl.cli.options import JsonFlag, session

group_app = typer.Typer(no_args_is_help=True, help="Start the group's ledger and say who is in it.")
budget_app = typer.Typer(no_args_is_help=True, help="Monthly budgets of the group and its members.")
ledger_app = typer.Typer(no_args_is_help=True, help="Check the group's ledger, or rebuild its local view.")

def _checked_month(month: Optional[str]) -> Optional[str]:
    from tpuctl.domain.metering import check_month

    return None if month is None else check_month(month)


MonthOption = Annotated[Optional[str], typer.Option("--month", callback=_checked_month, help="YYYY-MM (default: this month).")]


def group_init(ctx: typer.Context,
               treasurer: Annotated[list[str], typer.Option("--treasurer", help="A treasurer's member name (repeatable).")],
               currency: Annotated[str, typer.Option("--currency")] = "USD") -> None:
    """Start the group's ledger and name its treasurers."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    s = session(ctx)
    group_svc.init_group(s.store, s.ledger, s.clock, s.profile.member, treasurer, currency)
    render.echo(f"Group started with treasurers {', '.join(sorted(set(treasurer)))} ({currency}).")


KeyOption = Annotated[Optional[str], typer.Option("--key", help="Their public key, as `tpuctl whoami` prints it.")]


def group_add(ctx: typer.Context, member: Annotated[str, typer.Argument(help="Their member name (TPUCTL_MEMBER).")],
              key: KeyOption = None,
              treasurer: Annotated[bool, typer.Option("--treasurer", help="Also a treasurer.")] = False) -> None:
    """Add a member or another treasurer with their key (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    render.member_added(group_svc.add(session(ctx), member, key=key, treasurer=treasurer))


def group_rekey(ctx: typer.Context, member: Annotated[str, typer.Argument(help="Whose key to replace.")],
                key: Annotated[str, typer.Option("--key", help="Their new public key (`tpuctl whoami`).")]) -> None:
    """Replace a member's key: what the old key signs from now on does not count (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    s = session(ctx)
    group_svc.rekey_member(s.store, s.ledger, s.clock, s.profile.member, member, key)
    render.echo(f"{member}'s key is now {key}.")


def group_remove(ctx: typer.Context, member: Annotated[str, typer.Argument(help="Who leaves the group.")]) -> None:
    """Remove a member: nothing they sign from now on counts; their history stays (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    s = session(ctx)
    group_svc.remove_member(s.store, s.ledger, s.clock, s.profile.member, member)
    render.echo(f"{member} is no longer a member of the group.")


def group_seal(ctx: typer.Context) -> None:
    """Keep a group's unsigned history and count only signed events from now on (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services.seal import seal

    sealed = seal(session(ctx))
    render.echo(f"Sealed the group's history: its {sealed.events} unsigned events still count, as listed in "
                f"{sealed.key}; from now on only events signed with members' keys count.")
    render.echo("Give each member their key: `tpuctl group add NAME --key KEY` (they print it with `tpuctl whoami`).",
                err=True)


def whoami(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Your member name and public key (a treasurer adds you with it: `group add NAME --key KEY`)."""
    from tpuctl.cli import render

    s = session(ctx)
    member = s.profile.member
    public, key_file = s.member_key()
    if json_out:
        render.emit_json(shapes.whoami(member, public, key_file))
        return
    render.echo(f"{member} {public}")


def group_show(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """The group's currency, treasurers and members."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    render.group_rules(group_svc.show(session(ctx)), json_out)


def sync(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Read new ledger events and record what changed in the project without tpuctl."""
    from tpuctl.cli import render
    from tpuctl.services.sync import sync as sync_ledger

    render.synced(sync_ledger(session(ctx)), json_out)


def spend(ctx: typer.Context, member: Annotated[Optional[str], typer.Option("--member", help="Whose (default: you).")] = None,
          month: MonthOption = None, json_out: JsonFlag = False) -> None:
    """A member's month: spent, committed, left, and each node with its cost."""
    from tpuctl.cli import render_ledger
    from tpuctl.services import spend as svc

    render_ledger.spend(svc.spend(session(ctx), member, month), json_out)


def budget_show(ctx: typer.Context, month: MonthOption = None, json_out: JsonFlag = False) -> None:
    """The group's and every member's budget, spent, committed and left."""
    from tpuctl.cli import render_ledger
    from tpuctl.services import spend as svc

    render_ledger.budgets(svc.budgets(session(ctx), month), json_out)


def budget_set(
    ctx: typer.Context,
    amount: Annotated[str, typer.Argument(help="Money in the group's currency, or chip-hours with --chip-hours.")],
    group: Annotated[bool, typer.Option("--group", help="The whole group's budget.")] = False,
    member: Annotated[Optional[str], typer.Option("--member", help="One member's allowance.")] = None,
    month: Annotated[str, typer.Option("--month", help="YYYY-MM, or 'default' for every month.")] = "default",
    chip_hours: Annotated[bool, typer.Option("--chip-hours", help="The amount is chip-hours (free quota).")] = False,
) -> None:
    """Set a monthly budget (treasurers only); without --group or --member, the default allowance."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    render.budget_set(group_svc.budget_set(session(ctx), amount, group=group, member=member, month=month,
                                           chip_hours=chip_hours))


def ledger_verify(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Check every ledger event: corrupt objects, unknown kinds, decisions by non-treasurers."""
    from tpuctl.cli import render
    from tpuctl.errors import ConfigError
    from tpuctl.services.ledger import Books

    s = session(ctx)
    problems = Books(s.store, s.ledger, s.clock, None, s.profile.member).verify()
    render.shown(json_out, shapes.problems(problems), *(p.message for p in problems),
                 f"{render.plural(len(problems), 'problem')} found." if problems else "The ledger is consistent.")
    if problems and not json_out:
        raise ConfigError(f"The ledger has {render.plural(len(problems), 'problem')}; see above.")


def ledger_rebuild(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Empty the local view of the ledger and read every event again from the group store."""
    from tpuctl.cli import render
    from tpuctl.services.sync import rebuild

    s = session(ctx)
    result = rebuild(s.store, s.ledger)
    if json_out:
        render.emit_json(shapes.rebuilt(s.store.url, result))
        return
    aside = f"; {render.plural(result.bad_objects, 'object')} set aside (`tpuctl ledger verify` names them)" \
        if result.bad_objects else ""
    render.echo(f"Rebuilt the ledger view from {s.store.url}: {render.plural(result.new_events, 'event')}{aside}.")


def ledger_compact(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Seal older events into segments, so first syncs read a month in a few requests."""
    from tpuctl.cli import render
    from tpuctl.services import segments as seg

    s = session(ctx)
    result = seg.compact(s.store, s.ledger, s.clock)
    if json_out:
        render.emit_json(shapes.compacted(result))
        return
    for x in result.sealed:
        render.echo(f"Sealed {render.plural(x.events, 'event')} recorded {render.iso(x.start)} to {render.iso(x.end)} "
                    f"into {x.key}.")
    if result.raced:
        render.echo(f"{render.plural(result.raced, 'segment')} had just been sealed by another member; theirs is kept.")
    if not result.sealed:
        render.echo("Nothing to seal yet: events are sealed once they are two hours old and a thousand "
                    "of them wait, or their month has ended.")


def doctor(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Check credentials, the Cloud TPU API, the group store, membership, clock and outbox."""
    from tpuctl.cli import render
    from tpuctl.errors import ConfigError
    from tpuctl.services.doctor import run_checks

    s = session(ctx)
    checks = run_checks(lambda: s.api, s.reachable_store(), s.ledger, s.clock, s.profile.member, s.profile.zone)
    failed = [c for c in checks if not c.ok]
    render.shown(json_out, shapes.checks(checks),
                 *(f"{'ok  ' if c.ok else 'FIX '} {c.name}: {c.detail}" for c in checks))
    if failed:
        raise ConfigError(f"{render.plural(len(failed), 'check')} failed: {', '.join(c.name for c in failed)}.")

