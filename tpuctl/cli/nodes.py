"""TPU VM commands: create, list, describe, delete, stop, start, types, versions, zones."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tpuctl.cli import complete
from tpuctl.cli.options import (
    ForceFlag, ForOption, JsonFlag, NodeName, OverrideOption, TypeOption, YesFlag, ZoneOption, confirm_or_abort,
    session,
)
from tpuctl.errors import CapacityError

NoWait = Annotated[bool, typer.Option("--no-wait", help="Return as soon as the request is accepted.")]


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new TPU VM.")],
    accelerator_type: TypeOption,
    zone: ZoneOption = None,
    runtime: Annotated[Optional[str], typer.Option("--runtime", help="Runtime (software) version.")] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot capacity: cheaper, may be preempted.")] = False,
    hours: Annotated[Optional[float], typer.Option("--hours", help="Lease: the reaper deletes the TPU after this many hours.")] = None,
    label: Annotated[list[str], typer.Option("--label", "-l", help="Extra label key=value (repeatable).")] = [],  # noqa: B006
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
    from tpuctl.cli import render
    from tpuctl.domain.nodes import parse_labels
    from tpuctl.services import nodes as svc
    from tpuctl.services.roles import acting_for

    from tpuctl.domain.durations import parse_duration

    s = session(ctx)
    request = svc.build_create_request(s.profile, name, accelerator_type, zone=zone, runtime_version=runtime,
                                       spot=spot, hours=hours, labels=parse_labels(label))
    limit = parse_duration(wait_limit, "--wait-limit")
    admission = svc.admit(s.books, request, override, owner=acting_for(s.books, for_member))
    if not no_agent:
        from tpuctl.services import agents

        request = agents.with_agent(s.store, s.profile, request, agents.timing_from_env())
    render.override_notice(admission)
    per_hour = s.books.price_per_hour(request.zone, request.accelerator_type, request.spot)
    try:
        with render.spinner(f"Creating {request.name} ({request.accelerator_type}) in {request.zone}") as update:
            node = svc.create_node(s.api, s.books, request, admission, wait=not no_wait, on_progress=update)
    except CapacityError:
        if not queue:
            raise
        from tpuctl.cli.queue import show_queued_result
        from tpuctl.services import queue as queue_svc

        render.echo(f"No capacity for {request.accelerator_type} in {request.zone} now: queueing {request.name}.", err=True)
        queued = queue_svc.queue_create(s.api, s.books, queue_svc.from_create_request(request), admission)
        show_queued_result(s, queued, wait=not no_wait, json_out=json_out, cost=(admission, per_hour), limit=limit)
        return
    if json_out:
        render.emit_json({**render.node_json(node), "cost": render.cost_json(admission, per_hour)})
        return
    render.echo(f"{node.name}: {node.state} in {node.zone}, {node.accelerator_type} "
                f"({node.chip_count} chips, {node.workers} worker{'s' if node.workers > 1 else ''}), "
                f"lease until {render.iso(node.lease_until)}; {render.cost_sentence(admission, per_hour)}.")


def list_(
    ctx: typer.Context,
    zone: ZoneOption = None,
    all_zones: Annotated[bool, typer.Option("--all-zones", "-A", help="List every zone of the project.")] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only TPUs you own.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """List TPU VMs with their owner, state and lease."""
    from tpuctl.cli import reap_cmd, render
    from tpuctl.services import nodes as svc

    s = session(ctx)
    scope = None if all_zones else (zone or s.profile.zone)
    found = svc.list_nodes(s.api, scope, member=s.profile.member if mine else None)
    if json_out:
        render.emit_json([render.node_json(n) for n in found])
        reap_cmd.warn_overdue(s)
        return
    render.table(
        ["NAME", "ZONE", "TYPE", "CHIPS", "STATE", "SPOT", "OWNER", "LEASE UNTIL"],
        [[n.name, n.zone, n.accelerator_type, n.chip_count, n.state, "yes" if n.spot else "",
          n.owner or "unattributed", render.iso(n.lease_until) or "-"] for n in found],
        empty=f"No TPUs in {scope or 'any zone'}.",
    )
    for unreachable in found.unreachable:
        render.echo(f"Warning: {unreachable} could not be reached; its TPUs are missing above.", err=True)
    reap_cmd.warn_nodes(found)
    reap_cmd.warn_overdue(s)


def describe(ctx: typer.Context, name: NodeName, zone: ZoneOption = None,
             json_out: JsonFlag = False) -> None:
    """Show one TPU VM."""
    from tpuctl.cli import reap_cmd, render
    from tpuctl.services import nodes as svc

    s = session(ctx)
    node = svc.locate_node(s.api, name, zone, s.profile.zone)
    if json_out:
        render.emit_json(render.node_json(node))
        return
    data = render.node_json(node)
    labels = data.pop("labels")
    render.fields_list([*data.items(), *reap_cmd.describe_pairs(node),
                        ("labels", ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))])


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
    from tpuctl.cli import render
    from tpuctl.services import nodes as svc
    from tpuctl.services.roles import check_owner

    s = session(ctx)
    targets = [svc.locate_node(s.api, name, zone, s.profile.zone) for name in dict.fromkeys(names)]
    for node in targets if not dry_run else ():
        check_owner(s.books, node, force, "delete")
    summary = ", ".join(f"{n.name} ({n.accelerator_type} in {n.zone}, owner {n.owner or 'unattributed'})" for n in targets)
    if dry_run:
        if json_out:
            render.emit_json({"dry_run": True, "would_delete": [render.node_json(n) for n in targets]})
        else:
            render.echo(f"Would delete {summary}.")
        return
    confirm_or_abort(f"Delete {summary}?", yes)
    for node in targets:
        with render.spinner(f"Deleting {node.name}") as update:
            svc.delete_node(s.api, s.books, node, wait=not no_wait, on_progress=update)
    if json_out:
        render.emit_json({"deleted": [n.name for n in targets], "waited": not no_wait})
    else:
        verb = "Deletion started for" if no_wait else "Deleted"
        render.echo(f"{verb} {', '.join(n.name for n in targets)}.")


def _show(node, json_out: bool) -> None:
    from tpuctl.cli import render

    if json_out:
        render.emit_json(render.node_json(node))
    else:
        render.echo(f"{node.name}: {node.state}.")


def stop(ctx: typer.Context, name: NodeName, zone: ZoneOption = None,
         force: ForceFlag = False, json_out: JsonFlag = False) -> None:
    """Stop a single-host TPU VM (stops billing for the TPU; keeps its disk)."""
    from tpuctl.cli import render
    from tpuctl.services import nodes as svc
    from tpuctl.services.roles import check_owner

    s = session(ctx)
    node = svc.locate_node(s.api, name, zone, s.profile.zone)
    check_owner(s.books, node, force, "stop")
    with render.spinner(f"Stopping {node.name}") as update:
        node = svc.stop_node(s.api, s.books, node, on_progress=update)
    _show(node, json_out)


def start(ctx: typer.Context, name: NodeName, zone: ZoneOption = None,
          override: OverrideOption = None, force: ForceFlag = False, json_out: JsonFlag = False) -> None:
    """Start a stopped TPU VM again.

    It spends again, so it is weighed against the budgets first, for what is left of its lease
    (or the profile's hours if the lease is over)."""
    from tpuctl.cli import render
    from tpuctl.services import nodes as svc

    from tpuctl.services.roles import check_owner

    s = session(ctx)
    node = svc.locate_node(s.api, name, zone, s.profile.zone)
    check_owner(s.books, node, force, "start")
    admission = svc.admit_start(s.books, node, s.profile.hours, override)
    render.override_notice(admission)
    with render.spinner(f"Starting {node.name}") as update:
        node = svc.start_node(s.api, s.books, node, admission, on_progress=update)
    _show(node, json_out)


def types(ctx: typer.Context, zone: ZoneOption = None, json_out: JsonFlag = False) -> None:
    """Accelerator types a zone offers, with chips, hosts and what an hour costs."""
    from tpuctl.cli import render
    from tpuctl.domain.budgets import format_amount
    from tpuctl.services import nodes as svc

    s = session(ctx)
    where = zone or s.profile.zone
    found = svc.list_types(s.api, where)
    priced = svc.type_prices(s.books, where, found)
    if json_out:
        render.emit_json([render.type_json(t, {"currency": p.currency, "per_hour": _text(p.on_demand),
                                               "spot_per_hour": _text(p.spot)}) for t, p in zip(found, priced)])
        return

    def show(value) -> str:
        return "no price" if value is None else format_amount(value, "money", priced[0].currency)

    render.table(["TYPE", "GENERATION", "CHIPS", "HOSTS", "PER HOUR", "SPOT PER HOUR"],
                 [[t.name, t.generation, t.chips, t.hosts, show(p.on_demand), show(p.spot)]
                  for t, p in zip(found, priced)],
                 empty=f"{where} offers no TPU types.")
    for problem in dict.fromkeys(p.problem for p in priced if p.problem):
        render.echo(f"Warning: {problem}", err=True)


def _text(value) -> str | None:
    from tpuctl.cli.render import amount

    return amount(value)


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


def register(app: typer.Typer) -> None:
    for name, fn in [("create", create), ("list", list_), ("describe", describe), ("delete", delete),
                     ("stop", stop), ("start", start), ("types", types), ("versions", versions), ("zones", zones)]:
        app.command(name)(fn)
