"""Every `--json` shape tpuctl prints, declared once (documented in README "JSON output").

Each function takes what a use case returned and gives the plain data `render.emit_json`
prints: amounts as decimal strings to the millionth (`amount`), times in the one canonical
form (`iso`). A field is only ever added (tests/cli/golden holds the shapes).
"""

from __future__ import annotations

from typing import Any


def job_status(status: Any) -> dict[str, Any]:
    """A job as `jobs`, `run --json` and `jobs resume` show it (built by the jobs domain)."""
    from tpuctl.domain.jobs import status_json

    return status_json(status)


def job_view(view: Any) -> dict[str, Any]:
    """`tpuctl job`: the status, its outputs and what its TPUs cost so far."""
    from tpuctl.cli.render import amount

    return {**job_status(view.status), "outputs": list(view.outputs),
            "cost": {"currency": view.currency, "spent": amount(view.spent.money),
                     "chip_hours": amount(view.spent.chip_hours)}}
