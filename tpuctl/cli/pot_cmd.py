"""The pot's commands under `tpuctl ledger`: contribute, balance, rule, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tpuctl.cli import shapes
from tpuctl.cli.options import JsonFlag, session


def contribute(ctx: typer.Context, member: Annotated[str, typer.Argument(help="Who paid.")],
               amount: Annotated[str, typer.Argument(help="How much, in the group's currency.")],
               note: Annotated[Optional[str], typer.Option("--note", help="e.g. 'bank transfer 12 May'.")] = None) -> None:
    """Record money a member paid into the group's pot (treasurers only)."""
    from tpuctl.cli import render
    from tpuctl.services import pot

    s = session(ctx)
    event = pot.contribute(s.store, s.ledger, s.clock, s.profile.member, member, amount, note)
    render.echo(f"Recorded {member}'s contribution of {event.payload['amount']} to the pot.")


def rule(ctx: typer.Context, name: Annotated[str, typer.Argument(help="chip_hours, even or pot.")]) -> None:
    """How shared costs (unattributed spend) are split: chip_hours (default), even, or pot."""
    from tpuctl.cli import render
    from tpuctl.domain.settlement import RULE_WORDS
    from tpuctl.services import pot

    s = session(ctx)
    pot.set_rule(s.store, s.ledger, s.clock, s.profile.member, name)
    render.echo(f"Shared costs are now split {RULE_WORDS[name]}.")


def balance(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Each member's contributions minus their spending, month by month and in total."""
    from tpuctl.cli import render
    from tpuctl.domain.budgets import format_amount
    from tpuctl.services import pot

    s = session(ctx)
    books = pot.pot(s.ledger, s.store, s.clock, s.prices)
    money = lambda value: format_amount(value, "money", books.currency)  # noqa: E731
    members = sorted({row.member for row in books.rows})
    if json_out:
        render.emit_json(shapes.pot(books, members))
        return
    render.table(["MEMBER", "MONTH", "CONTRIBUTED", "CHARGED", "BALANCE"],
                 [[r.member, r.month, money(r.contributed), money(r.charged), money(r.balance)] for r in books.rows],
                 empty="Nothing paid in or spent yet.")
    render.echo()
    for member in members:
        owed = books.balance(member)
        render.echo(f"{member}: {'the pot owes them' if owed > 0 else 'owes the pot' if owed < 0 else 'square'}"
                    f"{' ' + money(abs(owed)) if owed else ''}")
    render.echo(f"The pot holds {money(books.held)}.")


def export(ctx: typer.Context, fmt: Annotated[str, typer.Option("--format", help="hledger.")] = "hledger",
           out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file.")] = None) -> None:
    """The pot as a plain-text-accounting journal (hledger)."""
    from tpuctl.cli import render
    from tpuctl.errors import UsageError
    from tpuctl.services import pot

    if fmt != "hledger":
        raise UsageError(f"'{fmt}' is not an export format (hledger).")
    s = session(ctx)
    text = pot.journal(s.ledger, s.store, s.clock, s.prices)
    if out is None:
        render.echo(text.rstrip("\n"))
        return
    out.write_text(text, encoding="utf-8")
    render.echo(f"Wrote {out}.", err=True)

