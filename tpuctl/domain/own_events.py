"""What tpuctl writes to the ledger passes the same schema every terminal reads it back with."""

from __future__ import annotations

from tpuctl.domain.event_schema import Invalid, check_event
from tpuctl.domain.events import Event
from tpuctl.errors import ConfigError


def check_own_event(event: Event) -> None:
    """tpuctl never writes what it would set aside when reading it back."""
    try:
        check_event(Event.from_trusted_json(event.to_json()))
    except Invalid as exc:
        raise ConfigError(f"tpuctl will not record this: the {event.kind.replace('.', ' ').replace('_', ' ')} "
                          f"{str(exc).removeprefix('field ')}.") from None
