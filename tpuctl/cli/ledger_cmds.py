"""The accounting group's commands: group init|add|show, sync, spend, budget show|set, ledger verify."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli.options import JsonFlag, session

group_app = typer.Typer(no_args_is_help=True, help="Start the group's ledger and say who is in it.")
budget_app = typer.Typer(no_args_is_help=True, help="Monthly budgets of the group and its members.")
ledger_app = typer.Typer(no_args_is_help=True, help="Check the group's ledger, or rebuild its local view.")

def _checked_month(month: Optional[str]) -> Optional[str]:
    from tpuctl.domain.metering import check_month

    return None if month is None else check_month(month)


MonthOption = Annotated[Optional[str], typer.Option("--month", callback=_checked_month, help="YYYY-MM (default: this month).")]


@group_app.command("init")
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


@group_app.command("add")
def group_add(ctx: typer.Context, member: Annotated[str, typer.Argument(help="Their member name (TPUCTL_MEMBER).")],
              key: KeyOption = None,
              treasurer: Annotated[bool, typer.Option("--treasurer", help="Also a treasurer.")] = False) -> None:
    """Add a member or another treasurer with their key (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    s = session(ctx)
    group_svc.add_member(s.store, s.ledger, s.clock, s.profile.member, member, treasurer=treasurer, key=key)
    render.echo(f"{member} is now a {'treasurer' if treasurer else 'member'} of the group"
                f"{' with key ' + key if key else ''}.")
    if key is None and s.ledger.rules().key_of(member) is None:
        render.echo(f"Note: nothing {member} signs counts until a treasurer gives their key: "
                    f"`tpuctl group add {member} --key KEY` (they print it with `tpuctl whoami`).", err=True)


@group_app.command("rekey")
def group_rekey(ctx: typer.Context, member: Annotated[str, typer.Argument(help="Whose key to replace.")],
                key: Annotated[str, typer.Option("--key", help="Their new public key (`tpuctl whoami`).")]) -> None:
    """Replace a member's key: what the old key signs from now on does not count (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    s = session(ctx)
    group_svc.rekey_member(s.store, s.ledger, s.clock, s.profile.member, member, key)
    render.echo(f"{member}'s key is now {key}.")


@group_app.command("remove")
def group_remove(ctx: typer.Context, member: Annotated[str, typer.Argument(help="Who leaves the group.")]) -> None:
    """Remove a member: nothing they sign from now on counts; their history stays (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    s = session(ctx)
    group_svc.remove_member(s.store, s.ledger, s.clock, s.profile.member, member)
    render.echo(f"{member} is no longer a member of the group.")


@group_app.command("seal")
def group_seal(ctx: typer.Context) -> None:
    """Keep a group's unsigned history and count only signed events from now on (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services.seal import seal_group

    s = session(ctx)
    sealed = seal_group(s.store, s.ledger, s.clock, s.profile.member)
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
        render.emit_json({"member": member, "key": public, "key_file": str(key_file)})
        return
    render.echo(f"{member} {public}")


@group_app.command("show")
def group_show(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """The group's currency, treasurers and members."""
    from tpuctl.cli import render
    from tpuctl.errors import NotFoundError
    from tpuctl.services import ledger as svc

    s = session(ctx)
    svc.sync_from_store(s.store, s.ledger)
    rules = s.ledger.rules()
    if rules.currency is None:
        raise NotFoundError("The group has not been started yet.",
                            hint="A treasurer starts it with `tpuctl group init --treasurer NAME`.")
    if json_out:
        render.emit_json({"currency": rules.currency, "treasurers": sorted(rules.treasurers),
                          "members": sorted(rules.members)})
        return
    render.fields_list([("Currency", rules.currency), ("Treasurers", ", ".join(sorted(rules.treasurers))),
                        ("Members", ", ".join(sorted(rules.members)))])


def sync(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Read new ledger events and record what changed in the project without tpuctl."""
    from tpuctl.cli import render
    from tpuctl.services import ledger as svc

    s = session(ctx)
    events = svc.observe_and_record(s.api, s.store, s.ledger, s.clock, s.profile.member)
    if json_out:
        render.emit_json({"observed": [{"kind": e.kind, "node": e.payload.get("node"), "owner": e.payload.get("owner")}
                                       for e in events]})
        return
    render.echo(f"Synced; {render.plural(len(events), 'change')} observed." if events else "Synced; nothing changed.")


def _standing_json(standing, currency: str) -> dict:
    from tpuctl.cli.render import amount as text

    return {"who": standing.who, "unit": standing.unit, "currency": currency,
            "budget": text(standing.budget.amount) if standing.budget else None,
            "spent": text(standing.spent.money), "spent_chip_hours": text(standing.spent.chip_hours),
            "committed": text(standing.committed.money), "committed_chip_hours": text(standing.committed.chip_hours),
            "left": None if standing.left is None else text(standing.left)}


def _standing_row(standing, currency: str) -> list[str]:
    from tpuctl.domain.budgets import format_amount

    def show(value) -> str:
        return "-" if value is None else format_amount(value, standing.unit, currency)

    read = (lambda a: a.chip_hours) if standing.unit == "chip_hours" else (lambda a: a.money)
    return [standing.who, show(standing.budget.amount if standing.budget else None), show(read(standing.spent)),
            show(read(standing.committed)), show(standing.left)]


def spend(ctx: typer.Context, member: Annotated[Optional[str], typer.Option("--member", help="Whose (default: you).")] = None,
          month: MonthOption = None, json_out: JsonFlag = False) -> None:
    """A member's month: spent, committed, left, and each node with its cost."""
    from datetime import timedelta

    from tpuctl.cli import reap_cmd, render
    from tpuctl.domain.budgets import format_amount
    from tpuctl.domain.durations import format_duration
    from tpuctl.services import ledger as svc

    s = session(ctx)
    svc.sync_from_store(s.store, s.ledger)
    who = member or s.profile.member
    report = svc.month_report(s.ledger, s.clock, s.prices, month, member=who)
    mine = report.members[0]
    notes = reap_cmd.spend_notes(s, who, report.month)
    reap_cmd.warn_overdue(s)
    if json_out:
        render.emit_json({"month": report.month, **_standing_json(mine.standing, report.currency),
                          "nodes": [{"node": n.node, "zone": n.zone, "type": n.accelerator_type, "spot": n.spot,
                                     "status": n.status, "seconds": n.seconds, "cost": render.amount(n.spent.money)}
                                    for n in mine.nodes],
                          "reaper": [reap_cmd.note_json(note) for note in notes]})
        return
    render.echo(f"{who}, {report.month}:")
    render.table(["WHO", "BUDGET", "SPENT", "COMMITTED", "LEFT"], [_standing_row(mine.standing, report.currency)])
    render.table(["NODE", "ZONE", "TYPE", "STATUS", "READY FOR", "COST"],
                 [[n.node, n.zone, n.accelerator_type + (" (spot)" if n.spot else ""), n.status,
                   format_duration(timedelta(seconds=n.seconds)), format_amount(n.spent.money, "money", report.currency)]
                  for n in mine.nodes], empty="No TPU usage this month.")
    for note in notes:
        render.echo(f"Reaper: {note.sentence()}")


@budget_app.command("show")
def budget_show(ctx: typer.Context, month: MonthOption = None, json_out: JsonFlag = False) -> None:
    """The group's and every member's budget, spent, committed and left."""
    from tpuctl.cli import reap_cmd, render
    from tpuctl.services import ledger as svc

    s = session(ctx)
    svc.sync_from_store(s.store, s.ledger)
    report = svc.month_report(s.ledger, s.clock, s.prices, month)
    standings = [report.group, *(m.standing for m in report.members)]
    reap_cmd.warn_overdue(s)
    if json_out:
        render.emit_json({"month": report.month, "treasurers": list(report.treasurers),
                          "standings": [_standing_json(x, report.currency) for x in standings]})
        return
    render.echo(f"Budgets for {report.month} (treasurers: {', '.join(report.treasurers) or 'none yet'}):")
    render.table(["WHO", "BUDGET", "SPENT", "COMMITTED", "LEFT"], [_standing_row(x, report.currency) for x in standings])


@budget_app.command("set")
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
    from tpuctl.errors import UsageError
    from tpuctl.services import group as group_svc

    if group and member:
        raise UsageError("Use --group or --member, not both.")
    s = session(ctx)
    group_svc.set_budget(s.store, s.ledger, s.clock, s.profile.member, amount, member=member, group=group, month=month,
                   unit="chip_hours" if chip_hours else "money")
    who = "the group" if group else member or "members without their own budget"
    render.echo(f"Budget for {who} ({month}) set to {amount}{' chip-hours' if chip_hours else ''}.")


@ledger_app.command("verify")
def ledger_verify(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Check every ledger event: corrupt objects, unknown kinds, decisions by non-treasurers."""
    from tpuctl.cli import render
    from tpuctl.errors import ConfigError
    from tpuctl.services import ledger as svc

    s = session(ctx)
    problems = svc.verify(s.store, s.ledger)
    if json_out:
        render.emit_json([{"message": p.message, "key": p.key, "event_id": p.event_id} for p in problems])
    else:
        for p in problems:
            render.echo(p.message)
        render.echo(f"{render.plural(len(problems), 'problem')} found." if problems else "The ledger is consistent.")
    if problems and not json_out:
        raise ConfigError(f"The ledger has {render.plural(len(problems), 'problem')}; see above.")


@ledger_app.command("rebuild")
def ledger_rebuild(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Empty the local view of the ledger and read every event again from the group store."""
    from tpuctl.cli import render
    from tpuctl.services import ledger as svc

    s = session(ctx)
    result = svc.rebuild(s.store, s.ledger)
    if json_out:
        render.emit_json({"store": s.store.url, "events": result.new_events, "set_aside": result.bad_objects})
        return
    aside = f"; {render.plural(result.bad_objects, 'object')} set aside (`tpuctl ledger verify` names them)" \
        if result.bad_objects else ""
    render.echo(f"Rebuilt the ledger view from {s.store.url}: {render.plural(result.new_events, 'event')}{aside}.")


@ledger_app.command("compact")
def ledger_compact(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Seal older events into segments, so first syncs read a month in a few requests."""
    from tpuctl.cli import render
    from tpuctl.services import segments as seg

    s = session(ctx)
    result = seg.compact(s.store, s.ledger, s.clock)
    if json_out:
        render.emit_json({"sealed": [{"key": x.key, "start": render.iso(x.start), "end": render.iso(x.end),
                                      "events": x.events} for x in result.sealed],
                          "raced": result.raced, "waiting": result.waiting})
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
    if json_out:
        render.emit_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        for c in checks:
            render.echo(f"{'ok  ' if c.ok else 'FIX '} {c.name}: {c.detail}")
    if failed:
        raise ConfigError(f"{render.plural(len(failed), 'check')} failed: {', '.join(c.name for c in failed)}.")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("sync")(sync)
    app.command("spend")(spend)
    app.command("whoami")(whoami)
    app.add_typer(group_app, name="group")
    app.add_typer(budget_app, name="budget")
    app.add_typer(ledger_app, name="ledger")
