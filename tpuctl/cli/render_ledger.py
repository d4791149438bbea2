"""How the group's money looks: a member's month (`spend`) and everyone's budgets."""

from __future__ import annotations

from typing import Any

from tpuctl.cli import render, shapes


def spend(result: Any, json_out: bool) -> None:
    from datetime import timedelta

    from tpuctl.domain.budgets import format_amount
    from tpuctl.domain.durations import format_duration

    report, mine = result.report, result.report.members[0]
    render.overdue(result.overdue)
    if json_out:
        render.emit_json(shapes.spend(report, list(result.notes)))
        return
    render.echo(f"{result.who}, {report.month}:")
    render.table(["WHO", "BUDGET", "SPENT", "COMMITTED", "LEFT"], [standing_row(mine.standing, report.currency)])
    render.table(["NODE", "ZONE", "TYPE", "STATUS", "READY FOR", "COST"],
                 [[n.node, n.zone, n.accelerator_type + (" (spot)" if n.spot else ""), n.status,
                   format_duration(timedelta(seconds=n.seconds)), format_amount(n.spent.money, "money", report.currency)]
                  for n in mine.nodes], empty="No TPU usage this month.")
    for note in result.notes:
        render.echo(f"Reaper: {note.sentence()}")


def budgets(result: Any, json_out: bool) -> None:
    report = result.report
    render.overdue(result.overdue)
    if json_out:
        render.emit_json(shapes.budgets(report))
        return
    standings = [report.group, *(m.standing for m in report.members)]
    render.echo(f"Budgets for {report.month} (treasurers: {', '.join(report.treasurers) or 'none yet'}):")
    render.table(["WHO", "BUDGET", "SPENT", "COMMITTED", "LEFT"], [standing_row(x, report.currency) for x in standings])


def standing_row(standing: Any, currency: str) -> list[str]:
    from tpuctl.domain.budgets import format_amount

    def show(value) -> str:
        return "-" if value is None else format_amount(value, standing.unit, currency)

    read = (lambda a: a.chip_hours) if standing.unit == "chip_hours" else (lambda a: a.money)
    return [standing.who, show(standing.budget.amount if standing.budget else None), show(read(standing.spent)),
            show(read(standing.committed)), show(standing.left)]
