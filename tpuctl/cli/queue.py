"""`tpuctl queue create|list|describe|delete`: queued resources."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli import complete, shapes
from tpuctl.cli.options import (
    AllZonesFlag, ForOption, JsonFlag, LabelOption, MineFlag, OverrideOption, RuntimeOption, SpotFlag, TypeOption,
    YesFlag, ZoneOption, confirm_or_abort, session,
)

app = typer.Typer(no_args_is_help=True, help="Queue requests for TPUs that are not free yet.")

WaitFlag = Annotated[bool, typer.Option("--wait", help="Show a live status until ACTIVE or FAILED.")]
WaitLimit = Annotated[str, typer.Option("--wait-limit", metavar="DURATION",
                                        help="Stop waiting after this long, e.g. 30m or 6h; the request stays queued.")]


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the request (and of its node).")],
    accelerator_type: TypeOption, zone: ZoneOption = None, runtime: RuntimeOption = None, spot: SpotFlag = False,
    guaranteed: Annotated[bool, typer.Option("--guaranteed", help="Guaranteed tier (reserved capacity).")] = False,
    valid_for: Annotated[Optional[str], typer.Option("--valid-for", help="Give up if not provisioned within this long, e.g. 6h.")] = None,
    start_after: Annotated[Optional[str], typer.Option("--start-after", help="Not before this time or after this long, e.g. 2h.")] = None,
    count: Annotated[int, typer.Option("--count", help="Number of nodes (NAME-0, NAME-1, ...).")] = 1,
    hours: Annotated[Optional[float], typer.Option("--hours", help="Lease of each node, counted from its creation.")] = None,
    label: LabelOption = [],  # noqa: B006
    wait: WaitFlag = False,
    wait_limit: WaitLimit = "1h",
    no_agent: Annotated[bool, typer.Option("--no-agent", help="Do not start tpuctl's agent on its TPUs.")] = False,
    override: OverrideOption = None,
    for_member: ForOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Queue a request for TPUs; Cloud TPU creates them when capacity frees.

    The request is weighed against the budgets first; while it waits, its lease counts as committed."""
    from tpuctl.cli import render, render_nodes
    from tpuctl.services import queue as svc

    ask = svc.QueueAsk(name, accelerator_type, zone, runtime, spot, hours, tuple(label), agent=not no_agent,
                       wait=wait, wait_limit=wait_limit, override=override, for_member=for_member,
                       guaranteed=guaranteed, valid_for=valid_for, start_after=start_after, count=count)
    render_nodes.queued(svc.create(session(ctx), ask, render.Watch()), json_out)


def list_(ctx: typer.Context, zone: ZoneOption = None, all_zones: AllZonesFlag = False, mine: MineFlag = False,
          json_out: JsonFlag = False) -> None:
    """List queued resources: state, how long they have waited, their nodes."""
    from tpuctl.cli import render_nodes
    from tpuctl.services import queue as svc

    render_nodes.queue_listing(svc.listing(session(ctx), zone, all_zones=all_zones, mine=mine), json_out)


def describe(ctx: typer.Context, name: Annotated[str, typer.Argument(autocompletion=complete.queued_names)], zone: ZoneOption = None,
             json_out: JsonFlag = False) -> None:
    """Show one queued resource, and why it failed if it did."""
    from tpuctl.cli import render
    from tpuctl.services import queue as svc

    s = session(ctx)
    data = shapes.queued(svc.locate_queued(s.api, name, zone, s.profile.zone), s.clock.now())
    if json_out:
        render.emit_json(data)
        return
    data["nodes"] = ", ".join(data["nodes"])
    data.pop("labels")
    render.fields_list(list(data.items()))


def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(autocompletion=complete.queued_names)],
    zone: ZoneOption = None,
    force: Annotated[bool, typer.Option("--force", help="Also delete the TPUs it created.")] = False,
    yes: YesFlag = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be deleted, delete nothing.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Delete a queued resource (with --force, its TPUs too)."""
    from tpuctl.cli import render, render_nodes
    from tpuctl.services import queue as svc

    def confirm(found, force: bool) -> None:
        confirm_or_abort(f"Delete {render_nodes.queue_what(found, force)}?", yes)

    done = svc.delete(session(ctx), name, zone, force=force, dry_run=dry_run, confirm=confirm, watch=render.Watch())
    render_nodes.queue_deleted(done, json_out)
