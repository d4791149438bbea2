"""TPU VM commands: create, list, describe, delete, stop, start, types, versions, zones."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli import complete
from tpuctl.cli.options import (
    AllZonesFlag, ForceFlag, ForOption, JsonFlag, LabelOption, MineFlag, NodeName, OverrideOption, RuntimeOption,
    SpotFlag, TypeOption, YesFlag, ZoneOption, confirm_or_abort, session,
)

NoWait = Annotated[bool, typer.Option("--no-wait", help="Return as soon as the request is accepted.")]


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new TPU VM.")],
    accelerator_type: TypeOption, zone: ZoneOption = None, runtime: RuntimeOption = None, spot: SpotFlag = False,
    hours: Annotated[Optional[float], typer.Option("--hours", help="Lease: the reaper deletes the TPU after this many hours.")] = None,
    label: LabelOption = [],  # noqa: B006
    queue: Annotated[bool, typer.Option("--queue", help="If the zone has no capacity, queue the request instead of failing.")] = False,
    wait_limit: Annotated[str, typer.Option("--wait-limit", metavar="DURATION", help="With --queue: stop waiting after this long (the request stays queued).")] = "1h",
    no_agent: Annotated[bool, typer.Option("--no-agent", help="Do not start tpuctl's agent on it (then no job runs on it and it reports no activity).")] = False,
    no_wait: NoWait = False,
    override: OverrideOption = None,
    for_member: ForOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Create a TPU VM labelled with its owner and lease, and wait until it is READY.

    The request is weighed against your and the group's monthly budgets first."""
    from tpuctl.cli import render, render_nodes
    from tpuctl.services import nodes as svc

    ask = svc.CreateAsk(name, accelerator_type, zone, runtime, spot, hours, tuple(label), agent=not no_agent,
                        wait=not no_wait, wait_limit=wait_limit, override=override, for_member=for_member,
                        queue=queue)
    render_nodes.created(svc.create(session(ctx), ask, render.Watch()), json_out)


def list_(ctx: typer.Context, zone: ZoneOption = None, all_zones: AllZonesFlag = False, mine: MineFlag = False,
          json_out: JsonFlag = False) -> None:
    """List TPU VMs with their owner, state and lease."""
    from tpuctl.cli import render_nodes
    from tpuctl.services import nodes as svc

    render_nodes.listing(svc.listing(session(ctx), zone, all_zones=all_zones, mine=mine), json_out)


def describe(ctx: typer.Context, name: NodeName, zone: ZoneOption = None,
             json_out: JsonFlag = False) -> None:
    """Show one TPU VM."""
    from tpuctl.cli import render_nodes
    from tpuctl.services import nodes as svc

    s = session(ctx)
    render_nodes.described(svc.locate_node(s.api, name, zone, s.profile.zone), json_out)


def delete(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="TPU VMs to delete.", autocompletion=complete.node_names)],
    zone: ZoneOption = None,
    yes: YesFlag = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be deleted, delete nothing.")] = False,
    no_wait: NoWait = False,
    force: ForceFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Delete TPU VMs (asks first on a terminal; --yes to skip)."""
    from tpuctl.cli import render, render_nodes
    from tpuctl.services import nodes as svc

    done = svc.delete(session(ctx), names, zone, force=force, dry_run=dry_run, wait=not no_wait,
                      confirm=lambda found: confirm_or_abort(f"Delete {render_nodes.nodes_summary(found)}?", yes),
                      watch=render.Watch())
    render_nodes.deleted(done, json_out)


def stop(ctx: typer.Context, name: NodeName, zone: ZoneOption = None,
         force: ForceFlag = False, json_out: JsonFlag = False) -> None:
    """Stop a single-host TPU VM (stops billing for the TPU; keeps its disk)."""
    from tpuctl.cli import render, render_nodes
    from tpuctl.services import nodes as svc

    render_nodes.state(svc.stop(session(ctx), name, zone, force=force, watch=render.Watch()), json_out)


def start(ctx: typer.Context, name: NodeName, zone: ZoneOption = None,
          override: OverrideOption = None, force: ForceFlag = False, json_out: JsonFlag = False) -> None:
    """Start a stopped TPU VM again.

    It spends again, so it is weighed against the budgets first, for what is left of its lease
    (or the profile's hours if the lease is over)."""
    from tpuctl.cli import render, render_nodes
    from tpuctl.services import nodes as svc

    node = svc.start(session(ctx), name, zone, override=override, force=force, watch=render.Watch())
    render_nodes.state(node, json_out)


def types(ctx: typer.Context, zone: ZoneOption = None, json_out: JsonFlag = False) -> None:
    """Accelerator types a zone offers, with chips, hosts and what an hour costs."""
    from tpuctl.cli import render_nodes
    from tpuctl.services import catalog

    render_nodes.types(catalog.types_in(session(ctx), zone), json_out)


def versions(ctx: typer.Context, zone: ZoneOption = None, json_out: JsonFlag = False) -> None:
    """Runtime versions a zone offers."""
    from tpuctl.cli import render

    s = session(ctx)
    found = s.api.list_runtime_versions(zone or s.profile.zone)
    if json_out:
        render.emit_json(found)
        return
    render.table(["RUNTIME VERSION"], [[v] for v in found])


def zones(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Zones where the project can have TPUs."""
    from tpuctl.cli import render

    found = session(ctx).api.list_zones()
    if json_out:
        render.emit_json(found)
        return
    render.table(["ZONE"], [[z] for z in found])

