"""`tpuctl report`: the treasurer's month (or days) in any format, and its reconciliation
with the real bill (`report reconcile`, `report reopen`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from tpuctl.cli import shapes
from tpuctl.cli.options import default_to, session

app = typer.Typer(cls=default_to("show"),
                  help="The group's spend for a month: who spent what, against budgets and the bill.")
FORMATS = ("table", "csv", "json", "md", "html")


def _date(value: Optional[str]):
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        from tpuctl.errors import UsageError

        raise UsageError(f"'{value}' is not a day like 2026-05-04.") from None


def _write(text: str, out: Optional[Path]) -> None:
    from tpuctl.cli import render

    if out is None:
        render.echo(text.rstrip("\n"))
        return
    out.write_text(text, encoding="utf-8")
    render.echo(f"Wrote {out}.", err=True)


def report(
    ctx: typer.Context,
    month: Annotated[Optional[str], typer.Option("--month", help="YYYY-MM (default: this month).")] = None,
    first: Annotated[Optional[str], typer.Option("--from", help="First day, YYYY-MM-DD (with --to).")] = None,
    last: Annotated[Optional[str], typer.Option("--to", help="Last day, YYYY-MM-DD (included).")] = None,
    by: Annotated[str, typer.Option("--by", help="member, type, zone, day or job.")] = "member",
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json, md or html.")] = "table",
    out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of the terminal.")] = None,
) -> None:
    """Who spent what: per member against allowances, the group against its budget, spot and
    on-demand, unattributed spend, top jobs, preemptions, reaped TPUs and a month-end forecast."""
    from tpuctl.cli import report_render
    from tpuctl.errors import UsageError
    from tpuctl.services import report as svc

    if fmt not in FORMATS:
        raise UsageError(f"'{fmt}' is not a report format ({', '.join(FORMATS)}).")
    s = session(ctx)
    result = svc.month_report(s.ledger, s.store, s.clock, s.prices, month=month, first=_date(first),
                              last=_date(last), by=by)
    if fmt == "table" and out is None:
        report_render.table(result)
        return
    _write(render_as(result, fmt), out)


def render_as(result, fmt: str) -> str:
    import json

    from tpuctl.cli import report_render
    from tpuctl.domain.report import to_csv

    if fmt == "json":
        return json.dumps(shapes.report(result), indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        return to_csv(result)
    if fmt == "html":
        from tpuctl.cli.report_html import html

        return html(result)
    return report_render.markdown(result)


def reconcile(
    ctx: typer.Context,
    billing: Annotated[Path, typer.Argument(help="A Cloud Billing standard usage cost export, saved as CSV.")],
    month: Annotated[Optional[str], typer.Option("--month", help="Invoice month YYYY-MM (default: last month).")] = None,
    close: Annotated[bool, typer.Option("--close", help="Save the result as the month's settled figures (treasurers).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON (stable; see the README).")] = False,
) -> None:
    """The month's estimate against the real bill per day and SKU, and the bill spread over members to the cent."""
    from tpuctl.cli import render
    from tpuctl.cli.reconcile_render import show
    from tpuctl.services import reconcile as svc

    s = session(ctx)
    result = svc.reconcile(s.ledger, s.store, s.clock, s.prices, s.profile.project, billing, month)
    if close:
        result = svc.close(s.store, s.ledger, s.clock, s.profile.member, result)
    if json_out:
        render.emit_json(shapes.reconciliation(result))
        return
    show(result)


def reopen(ctx: typer.Context, month: Annotated[str, typer.Argument(help="YYYY-MM")],
           reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")]) -> None:
    """Open a closed month again (treasurers); its reports go back to the estimates."""
    from tpuctl.cli import render
    from tpuctl.services import reconcile as svc

    s = session(ctx)
    svc.reopen(s.store, s.ledger, s.clock, s.profile.member, month, reason)
    render.echo(f"{month} is open again: {reason}")
