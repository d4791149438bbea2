"""After a command that read the group's books: the member's notices, once each, on stderr
(never in --json output on stdout). See tpuctl/services/notices.py."""

from __future__ import annotations

import sys


def show_after(session) -> None:
    """Print the notices of the member this command ran as, if it opened the ledger view and
    ended without an error."""
    if sys.exc_info()[0] is not None or "ledger" not in vars(session) or "profile" not in vars(session):
        return
    from tpuctl.cli import render
    from tpuctl.services.notices import after_command

    for line in after_command(session):
        render.echo(f"Note: {line}", err=True)
