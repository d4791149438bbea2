"""How TPUs and queued requests look: a new one and its cost, a listing, one described,
what was deleted (the `render` module draws; this one says what for TPUs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tpuctl.cli import render, shapes
from tpuctl.domain.nodes import NodeInfo


def created(result: Any, json_out: bool) -> None:
    """`create`: the TPU (or its queued request) and what it costs."""
    if result.queued is not None:
        queued(result.queued, json_out)
        return
    node, cost = result.node, (result.admission, result.per_hour)
    if json_out:
        render.emit_json(shapes.created(result))
        return
    render.echo(f"{node.name}: {node.state} in {node.zone}, {node.accelerator_type} "
         f"({node.chip_count} chips, {node.workers} worker{'s' if node.workers > 1 else ''}), "
         f"lease until {render.iso(node.lease_until)}; {render.cost_sentence(*cost)}.")


def queued(result: Any, json_out: bool) -> None:
    """A new queued request (`queue create`, `create --queue`) and what it costs."""
    request, cost = result.queued, (result.admission, result.per_hour)
    if json_out:
        render.emit_json(shapes.queued_request(result))
        return
    render.echo(f"{request.name}: {request.state} in {request.zone}, {request.accelerator_type} for "
         f"{', '.join(request.node_ids)}; {render.cost_sentence(*cost)}.")


def nodes_summary(nodes: Sequence[NodeInfo]) -> str:
    return ", ".join(f"{n.name} ({n.accelerator_type} in {n.zone}, owner {n.owner or 'unattributed'})" for n in nodes)


def deleted(result: Any, json_out: bool) -> None:
    """`delete`: what was deleted, or on a dry run what would be."""
    names = [n.name for n in result.nodes]
    if json_out:
        render.emit_json(shapes.deleted(result))
    elif result.dry_run:
        render.echo(f"Would delete {nodes_summary(result.nodes)}.")
    else:
        render.echo(f"{'Deleted' if result.waited else 'Deletion started for'} {', '.join(names)}.")


def queue_what(queued: Any, force: bool) -> str:
    what = f"queued resource {queued.name} ({queued.state} in {queued.zone})"
    return what + (f" and its TPUs {', '.join(queued.node_ids)}" if force and queued.node_ids else "")


def queue_deleted(result: Any, json_out: bool) -> None:
    render.shown(json_out, shapes.queue_deleted(result),
                 f"{'Would delete' if result.dry_run else 'Deleted'} {queue_what(result.queued, result.force)}.")


def queue_listing(found: Any, json_out: bool) -> None:
    from tpuctl.domain.durations import format_duration
    from tpuctl.services.queue import waited

    if json_out:
        render.emit_json([shapes.queued(q, found.at) for q in found.requests])
        return
    render.table(
        ["NAME", "ZONE", "TYPE", "TIER", "STATE", "WAITED", "NODES", "OWNER"],
        [[q.name, q.zone, q.accelerator_type, q.tier, q.state, format_duration(waited(q, found.at)),
          ",".join(q.node_ids), q.owner or "unattributed"] for q in found.requests],
        empty=f"No queued resources in {found.scope or 'any zone'}.",
    )


def listing(found: Any, json_out: bool) -> None:
    """`list`: a table, then warnings (zones not reached, reaper warnings, the reaper overdue)."""
    nodes = found.nodes
    if json_out:
        render.emit_json([shapes.node(n) for n in nodes])
        render.overdue(found.overdue)
        return
    render.table(
        ["NAME", "ZONE", "TYPE", "CHIPS", "STATE", "SPOT", "OWNER", "LEASE UNTIL"],
        [[n.name, n.zone, n.accelerator_type, n.chip_count, n.state, "yes" if n.spot else "",
          n.owner or "unattributed", render.iso(n.lease_until) or "-"] for n in nodes],
        empty=f"No TPUs in {found.scope or 'any zone'}.",
    )
    for unreachable in found.unreachable:
        render.echo(f"Warning: {unreachable} could not be reached; its TPUs are missing above.", err=True)
    warn_nodes(nodes)
    render.overdue(found.overdue)


def warn_nodes(nodes: Sequence[Any]) -> None:
    """`list`: each TPU the reaper has warned about, and when it acts."""
    from tpuctl.domain.reaping import warning_of

    for node in nodes:
        warning = warning_of(node)
        if warning is not None:
            render.echo(f"Warning: {node.name} will be {warning.sentence()}"
                        + (f" (`tpuctl extend {node.name} --hours H` renews it)." if warning.rule == "lease" else "."),
                        err=True)


def described(node: Any, json_out: bool) -> None:
    """`describe`: every field, the reaper's warning and the keep date when there are any, labels last."""
    from tpuctl.domain.reaping import keep_until, warning_of

    data = shapes.node(node)
    if json_out:
        render.emit_json(data)
        return
    labels = data.pop("labels")
    pairs = list(data.items())
    warning, kept = warning_of(node), keep_until(node)
    if warning is not None:
        pairs.append(("reaper", f"will be {warning.sentence()}" if warning.then else warning.sentence()))
    if kept is not None:
        pairs.append(("kept_until", render.iso(kept)))
    render.fields_list([*pairs, ("labels", ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))])


def state(node: Any, json_out: bool) -> None:
    """`stop`, `start`: the TPU as it now is."""
    render.shown(json_out, shapes.node(node), f"{node.name}: {node.state}.")


def types(found: Any, json_out: bool) -> None:
    """`types`: each type with chips, hosts and what an hour costs; warnings for what has no price."""
    from tpuctl.domain.budgets import format_amount

    if json_out:
        render.emit_json([shapes.accelerator_type(t, p) for t, p in found.types])
        return

    def show(value, currency: str) -> str:
        return "no price" if value is None else format_amount(value, "money", currency)

    render.table(["TYPE", "GENERATION", "CHIPS", "HOSTS", "PER HOUR", "SPOT PER HOUR"],
                 [[t.name, t.generation, t.chips, t.hosts, show(p.on_demand, p.currency), show(p.spot, p.currency)]
                  for t, p in found.types],
                 empty=f"{found.zone} offers no TPU types.")
    for problem in dict.fromkeys(p.problem for _, p in found.types if p.problem):
        render.echo(f"Warning: {problem}", err=True)
