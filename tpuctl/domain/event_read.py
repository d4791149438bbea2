"""Reading a ledger event with orjson where it reads exactly what json reads.

orjson decodes an event object about five times faster than json, which matters on a first
sync of a million events; tpuctl/domain/event_schema.py's `parse_event` tries this first and
reads with json whatever this does not accept, so what is accepted, and every reason given
for setting an object aside, stay json's.
"""

from __future__ import annotations

import gc
from functools import lru_cache

import orjson

from tpuctl.domain import events as ev
from tpuctl.domain.event_schema import check_event, time


def read_quick(cls: type, data: bytes, check: bool = True) -> ev.Event | None:
    """The event in `data` read by orjson and checked, or None: then `parse_event` reads it
    with json, which decides and says why. orjson reads a subset of what json reads, to the
    same values (it refuses NaN, a lone surrogate, a BOM, UTF-16 and deep nesting, which json
    may accept); where they differ (a whole number beyond 64 bits becomes a float) no check
    passes, so an event accepted here is the one json gives. check=False: bytes another
    process found to pass here, read again the same way without checking them twice."""
    try:
        if check and (len(data) > 64 * 1024 or data.count(b"[") + data.count(b"{") > 64):
            return None
        body = orjson.loads(data)
        fields = dict(id=body["id"], time=time(body["time"]), actor=body["actor"], kind=body["kind"],
                      payload=body["payload"], version=body["v"], group=body.get("group"), sig=body.get("sig"),
                      raw=bytes(data))
        if _plain(cls):             # what the dataclass's __init__ does, three times faster
            event = object.__new__(cls)
            event.__dict__.update(fields)
        else:
            event = cls(**fields)
        if check:
            check_event(event)
    except Exception:           # noqa: BLE001 - json below decides, and says why
        return None
    return event


@lru_cache(maxsize=8)
def _plain(cls: type) -> bool:
    """Does `cls`'s __init__ only set these fields (no other field, default or __post_init__)?"""
    import dataclasses

    return (dataclasses.is_dataclass(cls) and not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")
            and [f.name for f in dataclasses.fields(cls)] == [
                "id", "time", "actor", "kind", "payload", "version", "group", "sig", "raw"])


def not_read_quick(entries: list[tuple[str, bytes]]) -> list[int]:
    """Which of these (store key, bytes) `read_quick` does not accept as the event its key
    names: a bulk load's second process runs this, and the caller reads those in full."""
    gc.disable()                    # (the second process's own: what it keeps has no cycles)
    return [number for number, (key, raw) in enumerate(entries)
            if (event := read_quick(ev.Event, raw)) is None or not key.endswith(f"/{event.id}.json")]
