"""`tpuctl claim`: bill a TPU made outside tpuctl to a member from now on (treasurers only)."""

from __future__ import annotations

from typing import Annotated

import typer

from tpuctl.cli.options import JsonFlag, NodeName, ZoneOption, session


def claim(ctx: typer.Context, name: NodeName,
          member: Annotated[str, typer.Option("--for", metavar="MEMBER", help="Who owns and pays for it from now on.")],
          zone: ZoneOption = None, json_out: JsonFlag = False) -> None:
    """Bill an unattributed TPU (made outside tpuctl) to a member from now on; its time so far stays unattributed."""
    from tpuctl.cli import render, shapes
    from tpuctl.services.claim import claim as claim_tpu

    claimed = claim_tpu(session(ctx), name, zone, member)
    if claimed.label_problem:
        render.echo(f"Warning: the ledger bills {member} for it, but its owner label could not be set: "
                    f"{claimed.label_problem}", err=True)
    render.shown(json_out, shapes.claimed(claimed, member),
                 f"{claimed.node.name} is {member}'s from {render.iso(claimed.since)} (claimed by {claimed.by}); "
                 f"its {claimed.unattributed_seconds} s of READY time before stay unattributed.")
