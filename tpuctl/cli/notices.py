"""After a command that read the group's books: the member's notices, once each, on stderr
(never in --json output on stdout). See tpuctl/services/notices.py."""

from __future__ import annotations

import sqlite3
import sys

from tpuctl.errors import TpuctlError


def show_after(session) -> None:
    """Print the notices of the member this command ran as, if it opened the ledger view and
    ended without an error. A notice never turns a command into a failure."""
    if sys.exc_info()[0] is not None or "ledger" not in vars(session) or "profile" not in vars(session):
        return
    from tpuctl.cli import render
    from tpuctl.services.notices import pending_notices

    try:
        lines = pending_notices(session.ledger, session.clock, session.profile.member, session.prices)
    except (TpuctlError, sqlite3.Error):
        return
    for line in lines:
        render.echo(f"Note: {line}", err=True)
