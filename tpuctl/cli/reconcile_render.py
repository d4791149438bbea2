"""How a reconciliation looks: estimate against actual per day and SKU, and each member's part."""

from __future__ import annotations


from tpuctl.cli import render
from tpuctl.domain.budgets import format_amount


def show(r) -> None:
    money = lambda value: format_amount(value, "money", r.currency)  # noqa: E731
    render.echo(f"{r.source}: invoice month {r.invoice_month}, {render.plural(r.rows, 'TPU row')}"
                f"{f' ({r.late_rows} late)' if r.late_rows else ''}; left out: "
                f"{', '.join(f'{n} {why}' for why, n in sorted(r.left_out.items())) or 'nothing'}.")
    render.table(["DAY", "GENERATION", "ZONE", "METERED CHIP-H", "BILLED CHIP-H", "ESTIMATE", "ACTUAL", "GAP"],
                 [[x.day, x.generation + (" spot" if x.spot else ""), x.zone or "-", str(x.metered_chip_hours),
                   str(x.billed_chip_hours), money(x.estimate), money(x.actual), money(x.gap)] for x in r.lines],
                 empty="No TPU usage on either side.")
    render.echo()
    members = sorted(set(r.estimates) | set(r.actuals))
    render.table(["MEMBER", "ESTIMATE", "ACTUAL"],
                 [[m, money(r.estimates.get(m, 0)), money(r.actuals.get(m, 0))] for m in members])
    render.echo(f"Estimate {money(r.estimate)}, bill {money(r.actual)} (credits {money(r.credits)}), "
                f"gap {money(r.gap)}.")
    render.echo(f"{r.month} is closed on these figures." if r.closed else
                "Nothing saved; --close records these as the month's settled figures.")
