"""Options and helpers shared by commands."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from tpuctl.cli import complete
from tpuctl.cli.session import Session
from tpuctl.errors import Aborted, UsageError

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (stable; see the README).")]
YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
AllZonesFlag = Annotated[bool, typer.Option("--all-zones", "-A", help="Every zone of the project, not just one.")]
MineFlag = Annotated[bool, typer.Option("--mine", help="Only your own.")]
LabelOption = Annotated[list[str], typer.Option("--label", "-l", help="Extra label key=value (repeatable).")]
RuntimeOption = Annotated[Optional[str], typer.Option("--runtime", help="Runtime (software) version.")]
SpotFlag = Annotated[bool, typer.Option("--spot", help="Spot: cheaper, may be preempted.")]
ForceFlag = Annotated[bool, typer.Option("--force", help="Act on a TPU another member owns (recorded with your name).")]
ForOption = Annotated[Optional[str], typer.Option(
    "--for", metavar="MEMBER", help="Treasurers only: act for this member, who owns and pays for the TPU.")]
OverrideOption = Annotated[Optional[str], typer.Option(
    "--override", metavar="REASON", help="Treasurers only: let an over-budget request through; the reason is recorded.")]


def _checked_zone(zone: Optional[str]) -> Optional[str]:
    from tpuctl.domain.nodes import check_zone

    return None if zone is None else check_zone(zone, "--zone")


ZoneOption = Annotated[Optional[str], typer.Option("--zone", "-z", callback=_checked_zone, autocompletion=complete.zones,
                                                   help="Zone (default: the profile's zone).")]
NodeName = Annotated[str, typer.Argument(help="Name of the TPU VM.", autocompletion=complete.node_names)]
TypeOption = Annotated[str, typer.Option("--type", "-t", autocompletion=complete.accelerator_types,
                                         help="Accelerator type, e.g. v4-8, v5litepod-8 (`tpuctl types` lists them).")]


class _DefaultGroup(TyperGroup):
    """A group that runs its default command when no command is named (`tpuctl jobs --mine`
    is `tpuctl jobs list --mine`), so a group is never also a command of its own."""

    default_command = ""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def default_to(command: str) -> type[TyperGroup]:
    return type(f"DefaultTo{command.title()}", (_DefaultGroup,), {"default_command": command})


def session(ctx: typer.Context) -> Session:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Session()
    return root.obj


def confirm_or_abort(question: str, yes: bool) -> None:
    """Destructive commands ask on a terminal; without one they need --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("Refusing to act without confirmation: there is no terminal to ask on.",
                         hint="Pass --yes to confirm (or --dry-run to see what would happen).")
    if not typer.confirm(question, default=False):
        raise Aborted("Aborted: nothing was changed.")
