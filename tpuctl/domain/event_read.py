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
        if check and not event_shape.passes(data, event):       # (tpuctl's own form: known in one match)
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


# A signed group's keys as the second process has seen them named, member -> keys (its own
# state: slices come to it in order, so a key is known before the events signed with it).
_seen_keys: dict[str, set[str]] = {}
SIGNATURE_SHARE = 5                 # of every 8 signed events, checked by the second process (the
                                    # rest by the loader, which has its own work: the two end together)


def check_slice(entries: list[tuple[str, bytes]], keys: dict[str, list[str]] | None = None,
                earlier: list[tuple[str, bytes]] = (), accepted: list[ev.Event] | None = None,
                ) -> tuple[list[int], dict[int, str]]:
    """For a bulk load's second process: which of these (store key, bytes) `read_quick` does not
    accept as the event its key names (the loader reads those in full), and in a signed group
    (`keys`: each member's keys the loader knows) which signatures hold with a key the group
    named for their actor (here or in `earlier` entries, which the loader checks), {entry: key}.
    A signature found to hold is a fact about these bytes and that key; whether the key was the
    actor's when the event was recorded is still the loader's judgement (tpuctl/adapters/trust_db.py)."""
    from tpuctl.domain.signing import signature_holds
    from tpuctl.domain.trust import is_judged, keys_named

    gc.disable()                    # (the second process's own: what it keeps has no cycles)
    bad, held = [], {}
    _learn((member, key) for member, named in (keys or {}).items() for key in named)
    for _, raw in earlier if keys is not None else ():
        if (event := read_quick(ev.Event, raw)) is not None:
            _learn(keys_named(event))
    for number, (key, raw) in enumerate(entries):
        event = read_quick(ev.Event, raw)
        if event is None or not key.endswith(f"/{event.id}.json"):
            bad.append(number)
            continue
        if accepted is not None:
            accepted.append(event)
        if keys is None:
            continue
        _learn(keys_named(event))
        if event.sig is None or number % 8 >= SIGNATURE_SHARE or not is_judged(event):
            continue
        body = orjson.loads(raw)
        for candidate in _seen_keys.get(event.actor, ()):
            if signature_holds(candidate, body, event.sig):
                held[number] = candidate
                break
    return bad, held


def _learn(pairs) -> None:
    for member, key in pairs:
        _seen_keys.setdefault(member, set()).add(key)


# Below the definitions: event_schema imports `read_quick` from here, so whichever of the two is
# imported first, each finds what it takes from the other.
from tpuctl.domain.event_schema import check_event, time  # noqa: E402
from tpuctl.domain import event_shape  # noqa: E402 - (a module: it imports event_schema, which imports this)
