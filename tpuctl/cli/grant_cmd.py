"""`tpuctl grant add|end|show`: the group's TPU Research Cloud grant, its chips and its end."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli.options import JsonFlag, session

app = typer.Typer(no_args_is_help=True, help="The group's TRC grant: free chips of one generation in a zone, "
                                             "until a date. Admission, spend and reports price by it.")

GrantZone = Annotated[str, typer.Option("--zone", help="The zone the grant gives chips in, e.g. us-central2-b.")]
GrantType = Annotated[str, typer.Option("--type", help="The generation, e.g. v4.")]
GrantModel = Annotated[str, typer.Option("--model", help="spot or on-demand.")]


def add(ctx: typer.Context, zone: GrantZone, tpu_type: GrantType, model: GrantModel,
        chips: Annotated[int, typer.Option("--chips", help="How many chips the grant gives.")],
        until: Annotated[str, typer.Option("--until", help="Its last day (YYYY-MM-DD, through that day UTC), or a time.")],
        start: Annotated[Optional[str], typer.Option("--from", help="When it starts (default: now).")] = None,
        note: Annotated[Optional[str], typer.Option("--note", help="e.g. the grant e-mail's date.")] = None) -> None:
    """Record the grant (treasurers only); a later one for the same zone, type and model replaces it."""
    from tpuctl.cli import render
    from tpuctl.services import grants

    event = grants.add(session(ctx), zone=zone, tpu_type=tpu_type, chips=chips, model=model, until=until,
                       start=start, note=note)
    p = event.payload
    render.echo(f"The group's TRC grant now gives {p['chips']} free {model} {p['generation']} chips in {p['zone']} "
                f"until {p['until'][:16].replace('T', ' ')} UTC.")


def end(ctx: typer.Context, zone: GrantZone, tpu_type: GrantType, model: GrantModel) -> None:
    """Stop a grant now (treasurers only); what ran inside it so far stays free."""
    from tpuctl.cli import render
    from tpuctl.services import grants

    grants.end(session(ctx), zone=zone, tpu_type=tpu_type, model=model)
    render.echo(f"The group's TRC grant for {model} {tpu_type} in {zone} has ended: those TPUs cost list price now.")


def show(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """What each grant covers, how many of its chips run now, and the days left."""
    from tpuctl.cli import render, shapes
    from tpuctl.services import grants

    rows = grants.show(session(ctx))
    if json_out:
        render.emit_json(shapes.grants(rows))
        return
    render.table(["ZONE", "TYPE", "MODEL", "CHIPS", "IN USE", "FREE NOW", "UNTIL (UTC)", "DAYS LEFT"],
                 [[r.grant.zone, r.grant.generation, r.grant.model.replace("_", "-"), r.grant.chips,
                   r.in_use_chips, r.free_chips, f"{r.grant.until:%Y-%m-%d %H:%M}",
                   {"active": r.days_left, "ended": "ended", "starts": f"from {r.grant.start:%Y-%m-%d}"}[r.status]]
                  for r in rows], empty="The group has no TRC grant (`tpuctl grant add` records one).")
