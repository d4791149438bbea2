"""How a reconciliation looks: estimate against actual per day and SKU, and each member's part."""

from __future__ import annotations

from typing import Any

from tpuctl.cli import render
from tpuctl.domain.budgets import format_amount


def reconciliation_json(r) -> dict[str, Any]:
    members = sorted(set(r.estimates) | set(r.actuals))
    return {"month": r.month, "invoice_month": r.invoice_month, "currency": r.currency, "source": r.source,
            "closed": r.closed, "rows": r.rows, "late_rows": r.late_rows, "left_out": dict(r.left_out),
            "actual": str(r.actual), "credits": str(r.credits), "estimate": str(r.estimate.quantize(r.actual)),
            "gap": str(r.gap),
            "days": [{"day": x.day, "generation": x.generation, "spot": x.spot, "zone": x.zone,
                      "metered_chip_hours": str(x.metered_chip_hours), "billed_chip_hours": str(x.billed_chip_hours),
                      "estimate": str(x.estimate), "actual": str(x.actual), "gap": str(x.gap)} for x in r.lines],
            "members": [{"member": m, "estimate": str(r.estimates.get(m, 0)), "actual": str(r.actuals.get(m, 0))}
                        for m in members]}


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
