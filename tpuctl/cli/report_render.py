"""How a report looks: a terminal table and bar chart, CSV, JSON and Markdown (HTML: report_html.py).

The JSON and CSV shapes are stable (documented in the README); amounts are decimal strings
to the millionth as everywhere in tpuctl, except the bill's figures, which are to the cent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tpuctl.cli import render
from tpuctl.domain.budgets import format_amount
from tpuctl.domain.metering import MONEY_QUANTUM
from tpuctl.domain.report import Line, Report, chip_hours, summary
from tpuctl.domain.settlement import RULE_WORDS

JSON_SCHEMA = "tpuctl.report/1"
BAR = 30


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(MONEY_QUANTUM))


def line_json(line: Line) -> dict[str, Any]:
    return {"key": line.key, "chip_hours": _num(line.chip_hours), "spot_chip_hours": _num(line.spot_chip_hours),
            "free_chip_hours": _num(line.free_chip_hours), "estimate": _num(line.estimate),
            "spot_estimate": _num(line.spot_estimate), "budget": _num(line.budget),
            "used": None if line.used is None else str(line.used.quantize(Decimal("0.0001"))),
            "actual": _num(line.actual), "forecast": _num(line.forecast)}


def report_json(r: Report) -> dict[str, Any]:
    closed = r.closed
    return {
        "schema": JSON_SCHEMA, "period": {"start": f"{r.start:%Y-%m-%d}", "end": r.last_day, "month": r.month},
        "by": r.by, "currency": r.currency, "as_of": render.iso(r.as_of), "settlement_rule": r.rule,
        "summary": summary(r),
        "closed": None if closed is None else {
            "actual": _num(closed.actual), "estimate": _num(closed.estimate), "credits": _num(closed.credits),
            "invoice_month": closed.invoice_month, "source": closed.source, "closed_by": closed.by,
            "closed_at": render.iso(closed.time)},
        "lines": [line_json(line) for line in r.lines], "total": line_json(r.total),
        "unattributed": line_json(r.unattributed),
        "top_jobs": [{"job": j.job, "member": j.member, "chip_hours": _num(chip_hours(j.chip_seconds)),
                      "estimate": _num(j.estimate)} for j in r.top_jobs],
        "preemptions": [{"node": p.node, "zone": p.zone, "member": p.member, "time": render.iso(p.time),
                         "chip_hours": _num(chip_hours(p.chip_seconds)), "estimate": _num(p.estimate)}
                        for p in r.preemptions],
        "ended": [{"node": e.node, "zone": e.zone, "member": e.member, "time": render.iso(e.time), "by": e.by,
                   "reason": e.reason} for e in r.ended],
    }


def money(r: Report, value: Decimal | None) -> str:
    return "-" if value is None else format_amount(value, "money", r.currency)


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{(value * 100).quantize(Decimal(1))}%"


def headers(r: Report) -> list[str]:
    first = {"member": "MEMBER", "type": "TYPE", "zone": "ZONE", "day": "DAY", "job": "JOB"}[r.by]
    cols = [first, "CHIP-HOURS", "SPOT CHIP-HOURS", "FREE CHIP-HOURS", "ESTIMATE"]
    if r.closed:
        cols.append("ACTUAL")
    if r.by == "member":
        cols += ["BUDGET", "USED", "FORECAST"]
    return cols


def cells(r: Report, line: Line) -> list[str]:
    row = [line.key, str(line.chip_hours.quantize(Decimal("0.01"))),
           str(line.spot_chip_hours.quantize(Decimal("0.01"))), str(line.free_chip_hours.quantize(Decimal("0.01"))),
           money(r, line.estimate)]
    if r.closed:
        row.append(money(r, line.actual))
    if r.by == "member" or line.key == "total":
        row += [money(r, line.budget), _pct(line.used), money(r, line.forecast)][: len(headers(r)) - len(row)]
    return row


def title(r: Report) -> str:
    state = (f"closed on the bill by {r.closed.by}" if r.closed else "estimates at the group's prices")
    return f"TPU spend, {r.period} (by {r.by}; {state}; {r.currency})"


def sections(r: Report) -> list[tuple[str, list[str], list[list[str]], str]]:
    """The report's tables after the main one: (title, headers, rows, shown when empty)."""
    t = r.total
    summary = [["chip-hours", str(t.chip_hours)], ["spot chip-hours", str(t.spot_chip_hours)],
               ["on-demand chip-hours", str(t.chip_hours - t.spot_chip_hours)],
               ["free chip-hours (grant)", str(t.free_chip_hours)],
               ["spot spend", money(r, t.spot_estimate)], ["on-demand spend", money(r, t.estimate - t.spot_estimate)],
               ["unattributed spend", money(r, r.unattributed.estimate)],
               ["group budget", money(r, t.budget)], ["month-end forecast", money(r, t.forecast)],
               ["shared costs split", RULE_WORDS.get(r.rule, r.rule)]]
    if r.closed:
        summary += [["estimate", money(r, t.estimate)], ["actual (the bill)", money(r, r.closed.actual)],
                    ["gap", money(r, r.closed.actual - t.estimate)]]
    return [
        ("Summary", ["WHAT", "FIGURE"], summary, ""),
        ("Top jobs", ["JOB", "MEMBER", "CHIP-HOURS", "ESTIMATE"],
         [[j.job, j.member, str(chip_hours(j.chip_seconds)), money(r, j.estimate)] for j in r.top_jobs], "No jobs."),
        ("Preemptions", ["NODE", "ZONE", "MEMBER", "WHEN", "RUN CUT SHORT COST"],
         [[p.node, p.zone, p.member, f"{p.time:%Y-%m-%d %H:%M}", money(r, p.estimate)] for p in r.preemptions],
         "No preemptions."),
        ("Ended by others (reaper, treasurer)", ["NODE", "ZONE", "MEMBER", "WHEN", "BY", "WHY"],
         [[e.node, e.zone, e.member, f"{e.time:%Y-%m-%d %H:%M}", e.by, e.reason] for e in r.ended],
         "Nothing was ended by others."),
    ]


def bars(r: Report) -> list[str]:
    top = max((line.estimate for line in r.lines), default=Decimal(0))
    width = max((len(line.key) for line in r.lines), default=0)
    out = []
    for line in r.lines:
        n = int(line.estimate / top * BAR) if top else 0
        out.append(f"{line.key:<{width}}  {'█' * n}{' ' * (BAR - n)}  {money(r, line.estimate)}")
    return out


def table(r: Report) -> None:
    render.echo(title(r))
    render.table(headers(r), [cells(r, line) for line in r.lines] + [cells(r, r.total)], empty="No TPU usage.")
    render.echo()
    for line in bars(r):
        render.echo(line)
    for name, head, rows, empty in sections(r):
        render.echo()
        render.echo(f"{name}:")
        render.table(head, rows, empty=empty)


def markdown(r: Report) -> str:
    def grid(head: list[str], rows: list[list[str]]) -> list[str]:
        esc = lambda text: str(text).replace("|", "\\|")  # noqa: E731
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                *("| " + " | ".join(esc(c) for c in row) + " |" for row in rows)]

    out = [f"# {title(r)}", "", *grid(headers(r), [cells(r, line) for line in r.lines] + [cells(r, r.total)])]
    for name, head, rows, empty in sections(r):
        out += ["", f"## {name}", ""] + (grid(head, rows) if rows else [empty])
    return "\n".join(out) + "\n"
