"""Recognising, in one regex match, a node or queued-request event in the form tpuctl writes.

Most of a large ledger is such events, and `check_event` reads each field with its own check
(about 5 us an event; a first sync reads a million). An event whose bytes are tpuctl's own
JSON (keys sorted, no spaces, no escapes) with every field in the pattern of its check passes
those checks by construction; what a pattern cannot say is checked after the match, by the
schema's own checks: the type is one tpuctl knows with that many chips, each time is a real
date within bounds and not long after the id says the event was recorded, a lease is in range.

This only ever accepts: `passes` False means "not known here", and `check_event` decides and
says why. tests/domain/test_event_shape.py holds it to accept nothing `check_event` refuses.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tpuctl.domain import event_schema as schema, events as ev
from tpuctl.domain.event_schema import Invalid, check_recorded, time


def _any(words) -> bytes:
    return b"|".join(re.escape(word.encode()) for word in sorted(words))


_TIME = rb'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"'
_MEMBER = rb'"[a-z][a-z0-9_-]{0,62}"'
_ID = rb'"[0-9A-HJKMNP-TV-Z]{26}"'
_RESOURCE = rb'"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"'
_REQUEST = rb'(?:null|"[a-z0-9_-]{1,63}")'
_TYPE = rb'"accelerator_type":"[a-z0-9-]{1,40}","chips":[1-9][0-9]{0,4},'
_TAIL = rb',"spot":(?:true|false),"zone":"[a-z]+-[a-z]+[0-9]+-[a-z]"\}'
_SOURCE = rb'"source":"(?:' + _any(ev.SOURCES) + rb')"'
_SHAPE = re.compile(
    rb'\{"actor":' + _MEMBER + rb',(?:"group":' + _ID + rb',)?"id":' + _ID + rb',"kind":"(?:(?:'
    + _any(ev.NODE_KINDS) + rb')","payload":\{' + _TYPE + rb'"create_time":(?:null|' + _TIME + rb'),"lease_until":(?:null|'
    + _TIME + rb'),"node":' + _RESOURCE + rb',"owner":' + _MEMBER + rb',(?:"reason":"[^"\\\x00-\x1f]{0,500}",)?'
    + rb'"request_id":' + _REQUEST + rb',' + _SOURCE + _TAIL + rb'|(?:'
    + _any(ev.QUEUED_KINDS) + rb')","payload":\{' + _TYPE + rb'"lease_hours":"[0-9]{1,4}(?:\.[0-9]{1,6})?","name":'
    + _RESOURCE + rb',"node":' + _RESOURCE + rb',"owner":' + _MEMBER + rb',"request_id":' + _REQUEST
    + rb'(?:,' + _SOURCE + rb')?' + _TAIL + rb'),(?:"sig":"[A-Za-z0-9+/]{86}==",)?"time":' + _TIME
    + rb',"v":[1-' + str(ev.SCHEMA_VERSION).encode() + rb']\}')
assert ev.SCHEMA_VERSION < 10         # (the pattern's version is one digit)


def passes(data: bytes, event: ev.Event) -> bool:
    """Does `event`, read from `data`, pass `check_event`, known from its form? (False: unknown.)"""
    if _SHAPE.fullmatch(data) is None:
        return False
    payload = event.payload
    try:
        check_recorded(event)
        if event.kind in ev.NODE_KINDS:
            for name in ("lease_until", "create_time"):
                if payload[name] is not None:
                    time(payload[name])
        elif not _lease_holds(payload["lease_hours"]):
            return False
    except Invalid:
        return False
    return _type_holds(event.kind, payload["accelerator_type"], payload["chips"])


@lru_cache(maxsize=1024)
def _type_holds(kind: str, accelerator_type: str, chips: int) -> bool:
    """The schema's own checks of the type, the chips and the two together (a group uses a few)."""
    try:
        schema.accelerator_type(accelerator_type)
        schema.chips(chips)
        schema.check_type_chips(kind, accelerator_type, chips)
    except Invalid:
        return False
    return True


@lru_cache(maxsize=1024)
def _lease_holds(hours: str) -> bool:
    try:
        schema.lease_hours(hours)
    except Invalid:
        return False
    return True
