"""`tpuctl prices show|set` and `prices free add|remove`: what a chip-hour costs the group."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli import shapes
from tpuctl.cli.options import JsonFlag, session

app = typer.Typer(no_args_is_help=True, help="Prices per chip-hour: the price file, overrides, free quota.")
free_app = typer.Typer(no_args_is_help=True, help="Free quota such as TPU Research Cloud: it costs nothing, "
                                                  "but its chip-hours still count against chip-hour budgets.")

FreeZone = Annotated[str, typer.Option("--zone", help="Zone, e.g. us-central2-b (default: every zone).")]
FreeType = Annotated[str, typer.Option("--type", help="Generation (v4) or type (v4-8); default: every type.")]
FreeModel = Annotated[str, typer.Option("--model", help="any, on_demand or spot.")]


def show(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Where prices come from, each generation's price and the free quota."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc
    from tpuctl.services.sync import sync_from_store

    s = session(ctx)
    sync_from_store(s.store, s.ledger)
    sheet = group_svc.price_sheet(s.ledger, s.prices)
    if json_out:
        render.emit_json(shapes.price_sheet(sheet))
        return
    render.fields_list([("Price file", sheet.origin), ("As of", sheet.as_of.isoformat()),
                        ("Source", " ".join(sheet.source.split())), ("Unit", f"{sheet.currency} per chip-hour")])
    render.echo()
    render.table(["GENERATION", "WHERE", "ON DEMAND", "SPOT", "SET BY"],
                 [[r.generation, f"type {r.type}" if r.type else r.region or "every region", r.rates.on_demand,
                   r.rates.spot, "treasurer" if r.override else "price file"] for r in sheet.rows])
    render.echo()
    render.table(["FREE ZONE", "TYPE", "MODEL"], [[f.zone, f.type, f.model] for f in sheet.free],
                 empty="No free quota.")


def set_prices(
    ctx: typer.Context,
    generation: Annotated[str, typer.Argument(help="TPU generation, e.g. v4 or v5e.")],
    on_demand: Annotated[Optional[str], typer.Option("--on-demand", help="Price per chip-hour on demand (default: as now).")] = None,
    spot: Annotated[Optional[str], typer.Option("--spot", help="Price per chip-hour for spot (default: as now).")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Only in this region, e.g. us-central2.")] = None,
) -> None:
    """Override a generation's price for every member (treasurers only); either price alone
    keeps the other as it is."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    render.prices_set(group_svc.prices_set(session(ctx), generation, on_demand, spot, region))


def unset_prices(
    ctx: typer.Context,
    generation: Annotated[str, typer.Argument(help="TPU generation, e.g. v4 or v5e.")],
    region: Annotated[Optional[str], typer.Option("--region", help="The region the override was set for.")] = None,
) -> None:
    """Remove a price override: the price file's price applies again (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    s = session(ctx)
    group_svc.unset_prices(s.store, s.ledger, s.clock, s.profile.member, generation, region)
    render.echo(f"{generation} in {region or 'every region'} costs what the price file says again, for every member.")


def free_add(ctx: typer.Context, zone: FreeZone = "*", tpu_type: FreeType = "*", model: FreeModel = "any") -> None:
    """Make matching usage free; its chip-hours still count (treasurers only)."""
    _change_free_quota(ctx, zone, tpu_type, model, add=True)


def free_remove(ctx: typer.Context, zone: FreeZone = "*", tpu_type: FreeType = "*", model: FreeModel = "any") -> None:
    """Remove a free-quota rule, given as it was added (treasurers only)."""
    _change_free_quota(ctx, zone, tpu_type, model, add=False)


def _change_free_quota(ctx: typer.Context, zone: str, tpu_type: str, model: str, *, add: bool) -> None:
    from tpuctl.cli import render
    from tpuctl.services import group as group_svc

    s = session(ctx)
    rule = group_svc.free_quota_rule(zone, tpu_type, model)
    change = group_svc.add_free_quota if add else group_svc.remove_free_quota
    change(s.store, s.ledger, s.clock, s.profile.member, rule)
    covered = group_svc.describe_rule(rule)
    render.echo(f"Free quota now covers {covered}; its chip-hours still count." if add
                else f"Free quota no longer covers {covered}.")
