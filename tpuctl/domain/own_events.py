"""What tpuctl writes to the ledger passes the same schema every terminal reads it back with."""

from __future__ import annotations

from tpuctl.domain.event_schema import Invalid, check_event
from tpuctl.domain.events import Event, EventFormatError
from tpuctl.errors import ConfigError


def check_own_event(event: Event) -> None:
    """tpuctl never writes what it would set aside when reading it back."""
    try:
        check_event(Event.from_trusted_json(event.to_json()))
    except Invalid as exc:
        raise ConfigError(f"tpuctl will not record this: the {event.kind.replace('.', ' ').replace('_', ' ')} "
                          f"{str(exc).removeprefix('field ')}.") from None


def stored_as_ours(mine: Event, stored: bytes) -> Event | None:
    """The event already at `mine`'s key, if it is `mine`: the same bytes (a retried write whose
    first reply was lost), or the same event signed with another key (a racer recording the same
    decision, as a job's releasers do); None if it is anything else (a conflict)."""
    if stored == mine.to_json():
        return mine
    try:
        theirs = Event.from_json(stored)
    except EventFormatError:
        return None
    fields = ("id", "time", "actor", "kind", "payload", "version", "group")
    return theirs if all(getattr(theirs, name) == getattr(mine, name) for name in fields) else None
