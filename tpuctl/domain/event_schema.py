"""The typed, versioned schema every ledger event is checked against, with bounds.

Anyone who can write to the group store can write an object under `ledger/events/`. One
object that is not a sane event (chips "abc" or 10^18, a time in year 1, a string version,
an unknown type) must never stop the group: it is set aside with the reason, skipped by
everything, and named by `ledger verify`. So nothing reads an event's payload before it has
passed `parse_event`, and tpuctl checks its own events with the same code before writing.

Bounds are wide enough for any real group and narrow enough that no sum overflows a report:
a slice has at most MAX_CHIPS chips, an amount is at most MAX_AMOUNT, a time lies between
Cloud TPU's launch and 2100 and is never more than a day after the moment it was recorded.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable

from tpuctl.domain.accelerators import parse_accelerator_type
from tpuctl.domain.amounts import MAX_AMOUNT
from tpuctl.domain.prices import GENERATIONS
from tpuctl.domain import events as ev
from tpuctl.domain.times import parse_time
from tpuctl.errors import UsageError

MAX_CHIPS = 16_384                       # larger than any slice Cloud TPU sells
MAX_PRICE = Decimal(10) ** 6             # per chip-hour
MAX_LEASE_HOURS = Decimal(24 * 366)
MAX_TEXT = 500
EARLIEST = datetime(2017, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
AHEAD = timedelta(days=1)                # an event may describe the future by at most this

MEMBER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
ZONE_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
RESOURCE_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
REQUEST_ID_RE = re.compile(r"^[a-z0-9_-]{1,63}$")
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class Invalid(ValueError):
    """What is wrong with one field, in a phrase."""


Check = Callable[[Any], Any]


def _str(value: Any, pattern: re.Pattern, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise Invalid(f"is {_show(value)}, not {what}")
    return value


def member(value: Any) -> str:
    return _str(value, MEMBER_RE, "a member name")


def owner(value: Any) -> str:
    return ev.UNATTRIBUTED if value == ev.UNATTRIBUTED else member(value)


def zone(value: Any) -> str:
    return _str(value, ZONE_RE, "a zone like us-central2-b")


def resource(value: Any) -> str:
    return _str(value, RESOURCE_RE, "a TPU or queued resource name")


def request_id(value: Any) -> str:
    return _str(value, REQUEST_ID_RE, "a request id")


@lru_cache(maxsize=256)
def type_chips(value: str) -> int | None:
    """Chips of a type tpuctl knows, else None (cached: a group uses a few types)."""
    try:
        return parse_accelerator_type(value).chips
    except UsageError:
        return None


def accelerator_type(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid(f"is {_show(value)}, not an accelerator type")
    if type_chips(value) is None:
        raise Invalid(f"is '{value}', an accelerator type this tpuctl does not know")
    return value


def chips(value: Any) -> int:
    if type(value) is not int or not 1 <= value <= MAX_CHIPS:
        raise Invalid(f"is {_show(value)}, not a whole number of chips from 1 to {MAX_CHIPS}")
    return value


def boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Invalid(f"is {_show(value)}, not true or false")
    return value


_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")


def time(value: Any) -> datetime:
    try:
        if isinstance(value, str) and _CANONICAL_TIME.match(value):     # what tpuctl writes: the fast way
            when = datetime.fromisoformat(value)
        else:
            when = parse_time(value)
    except ValueError:
        raise Invalid(f"is {_show(value)}, not an RFC 3339 time") from None
    if not EARLIEST <= when < LATEST:
        raise Invalid(f"is {value}, outside {EARLIEST.year}-{LATEST.year}")
    return when


def text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise Invalid(f"is {_show(value)}, not a text of at most {MAX_TEXT} characters")
    return value


def decimal(low: Decimal, high: Decimal, strict_low: bool = False) -> Check:
    def check(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > 40:
            raise Invalid(f"is {_show(value)}, not a decimal number")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise Invalid(f"is {_show(value)}, not a decimal number") from None
        if not number.is_finite() or number < low or number > high or (strict_low and number == low):
            raise Invalid(f"is {_show(value)}, outside {'(' if strict_low else '['}{low}, {high}]")
        return number
    return check


def one_of(*choices: Any) -> Check:
    def check(value: Any) -> Any:
        if value not in choices or type(value) is bool:
            raise Invalid(f"is {_show(value)}, not one of {', '.join(map(str, choices))}")
        return value
    return check


def month_or_default(value: Any) -> str:
    if value == "default":
        return value
    found = MONTH_RE.match(value) if isinstance(value, str) else None
    if not found or not EARLIEST.year <= int(found.group(1)) < LATEST.year:
        raise Invalid(f"is {_show(value)}, not a month like 2026-05 or 'default'")
    return value


def month_only(value: Any) -> str:
    if value == "default":
        raise Invalid("is 'default', not a month like 2026-05")
    return month_or_default(value)


def optional(check: Check) -> Check:
    def maybe(value: Any) -> Any:
        return None if value is None else check(value)
    return maybe


def listing(check: Check, least: int = 0, most: int = 100) -> Check:
    def each(value: Any) -> list:
        if not isinstance(value, list) or not least <= len(value) <= most:
            raise Invalid(f"is {_show(value)}, not a list of {least} to {most} items")
        return [check(item) for item in value]
    return each


def free_rule(value: Any) -> dict:
    if not isinstance(value, dict) or not set(value) <= {"zone", "type", "model"}:
        raise Invalid(f"has a rule {_show(value)}, not one of zone, type and model")
    for name, item in value.items():
        if not isinstance(item, str) or len(item) > 63:
            raise Invalid(f"has a rule whose {name} is {_show(item)}")
    return value


def amounts_by_member(value: Any) -> dict:
    if not isinstance(value, dict) or len(value) > 1000:
        raise Invalid(f"is {_show(value)}, not amounts by member")
    return {owner(k) if k != "group" else k: decimal(-MAX_AMOUNT, MAX_AMOUNT)(v) for k, v in value.items()}


def public_key(value: Any) -> str:
    from tpuctl.domain.signing import is_public_key

    if not is_public_key(value):
        raise Invalid(f"is {_show(value)}, not a public key like ed25519:<base64>")
    return value


def keys_by_member(value: Any) -> dict:
    if not isinstance(value, dict) or len(value) > 100:
        raise Invalid(f"is {_show(value)}, not public keys by member")
    return {member(k): public_key(v) for k, v in value.items()}


def sealed_history(value: Any) -> dict:
    """What `group seal` says the unsigned history was: how many events, and a digest of them."""
    if (not isinstance(value, dict) or set(value) != {"events", "digest", "last"} or type(value["events"]) is not int
            or not 0 <= value["events"] <= 10**9 or not isinstance(value["digest"], str)
            or not re.match(r"^[0-9a-f]{64}$", value["digest"])
            or not (value["last"] is None or (isinstance(value["last"], str) and ev.is_event_id(value["last"])))):
        raise Invalid(f"is {_show(value)}, not a statement of history (events, digest, last)")
    return value


def _show(value: Any) -> str:
    shown = json.dumps(value) if not isinstance(value, (Decimal, datetime)) else str(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


lease_hours = decimal(Decimal(0), MAX_LEASE_HOURS, strict_low=True)
_NODE = {"zone": zone, "node": resource, "accelerator_type": accelerator_type, "chips": chips, "spot": boolean,
         "owner": owner, "lease_until": optional(time), "request_id": optional(request_id),
         "create_time": optional(time), "source": one_of(*ev.SOURCES)}
_QUEUED = {"zone": zone, "name": resource, "node": resource, "accelerator_type": accelerator_type, "chips": chips,
           "spot": boolean, "owner": owner, "lease_hours": lease_hours,
           "request_id": optional(request_id)}
_PRICE = optional(decimal(Decimal(0), MAX_PRICE))

# kind -> (required fields, optional fields), each with its check
SCHEMA: dict[str, tuple[dict[str, Check], dict[str, Check]]] = {
    ev.GROUP_INITIALIZED: ({"treasurers": listing(member, 1), "currency": lambda v: _str(v, CURRENCY_RE, "a currency")},
                           {"keys": keys_by_member, "sealed": sealed_history}),
    ev.MEMBER_ADDED: ({"member": member}, {"key": public_key}),
    ev.TREASURER_ADDED: ({"member": member}, {"key": public_key}),
    ev.KEY_ROTATED: ({"member": member, "key": public_key}, {}),
    ev.MEMBER_REMOVED: ({"member": member}, {}),
    **{kind: (_NODE, {"reason": text}) for kind in ev.NODE_KINDS},      # why tpuctl ended it, if it did
    **{kind: (_QUEUED, {"source": one_of(*ev.SOURCES)}) for kind in ev.QUEUED_KINDS},
    ev.BUDGET_SET: ({"scope": one_of("group", "member"), "member": optional(member), "month": month_or_default,
                     "amount": decimal(Decimal(0), MAX_AMOUNT), "unit": one_of("money", "chip_hours")}, {}),
    ev.PRICES_OVERRIDDEN: ({"generation": lambda v: _str(v, re.compile(r"^v[0-9][a-z0-9]{0,4}$"), "a generation"),
                            "region": optional(lambda v: _str(v, REGION_RE, "a region")),
                            "on_demand": _PRICE, "spot": _PRICE}, {}),
    ev.FREE_QUOTA_SET: ({"rules": listing(free_rule, 0, 1000)}, {}),
    ev.OVERRIDE_GRANTED: ({"member": member, "request_id": optional(request_id), "reason": text},
                          {"requested": decimal(Decimal(0), MAX_AMOUNT), "left": amounts_by_member}),
    ev.POT_CONTRIBUTED: ({"member": member, "amount": decimal(Decimal(0), MAX_AMOUNT, strict_low=True)},
                         {"note": text}),
    ev.MONTH_CLOSED: ({"month": month_only, "currency": lambda v: _str(v, CURRENCY_RE, "a currency"),
                       "actual": decimal(-MAX_AMOUNT, MAX_AMOUNT), "estimate": decimal(-MAX_AMOUNT, MAX_AMOUNT),
                       "members": amounts_by_member},
                      {"invoice_month": lambda v: _str(v, re.compile(r"^\d{6}$"), "an invoice month like 202605"),
                       "source": text, "rows": lambda v: _count(v), "credits": decimal(-MAX_AMOUNT, MAX_AMOUNT)}),
    ev.MONTH_REOPENED: ({"month": month_only, "reason": text}, {}),
    ev.SETTLEMENT_RULE_SET: ({"rule": one_of("chip_hours", "even", "pot")}, {}),
    ev.REAP_WARNED: ({"zone": zone, "node": resource, "owner": optional(owner), "rule": one_of("lease", "budget"),
                      "then": optional(one_of("delete", "stop")), "act_at": optional(time), "reason": text}, {}),
    ev.REAP_ACTED: ({"zone": zone, "node": resource, "owner": optional(owner),
                     "rule": one_of("preempted", "queued", "lease", "idle", "budget"),
                     "action": one_of("delete", "stop", "delete_queued", "resume"), "reason": text},
                    {"job": text}),
    ev.REAP_RAN: ({"run": lambda v: _str(v, re.compile(r"^[a-z0-9]{1,40}$"), "a run id"), "planned": lambda v: _count(v),
                   "acted": lambda v: _count(v), "warned": lambda v: _count(v), "failed": lambda v: _count(v),
                   "capped": boolean, "unreachable": listing(zone, 0, 200)}, {"max_actions": lambda v: _count(v)}),
    ev.GRANT_SET: ({"zone": zone, "generation": one_of(*GENERATIONS), "model": one_of("spot", "on_demand"),
                    "chips": chips, "start": time, "until": time}, {"note": text}),
    ev.GRANT_ENDED: ({"zone": zone, "generation": one_of(*GENERATIONS), "model": one_of("spot", "on_demand")},
                     {"note": text}),
    ev.KEEP_SET: ({"zone": zone, "node": resource, "owner": optional(owner), "until": time}, {"reason": text}),
    ev.GROUP_SEALED: ({"events": lambda v: _count(v), "digest": lambda v: _str(v, re.compile(r"^[0-9a-f]{64}$"), "a sha256"),
                       "last": optional(lambda v: _str(v, re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$"), "an event id"))}, {}),
    ev.OBSERVATION_DISPUTED: ({"zone": zone, "node": resource,
                               "events": listing(lambda v: _str(v, re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$"), "an event id"),
                                                 1, 1000),
                               "reason": text}, {}),
}


def _count(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= 10**9:
        raise Invalid(f"is {_show(value)}, not a count")
    return value


# Scalar field values that passed their (pure) check: a ledger repeats a few dozen zones,
# members and types a million times, so each is checked once per process. Whole payloads
# too: every sighting of a node repeats its payload, so most events are one set lookup.
_PASSED: set[tuple[Check, type, Any]] = set()
_PAYLOADS: set[tuple] = set()


def _same_rules() -> dict[str, str]:
    """Each kind, to the first kind whose payloads pass by the very same checks (node.* share
    theirs), so a node's payload passes once, not once per kind of event about it."""
    first: dict[tuple, str] = {}
    return {kind: first.setdefault((id(required), tuple(extra.items()), kind in ev.NODE_KINDS,
                                    kind in ev.QUEUED_KINDS), kind) for kind, (required, extra) in SCHEMA.items()}


_SAME_RULES = _same_rules()


def check_payload(kind: str, payload: Any) -> None:
    """Raise Invalid naming the first field of `payload` that `kind` does not allow."""
    if not isinstance(kind, str) or kind not in SCHEMA:      # (a list as kind is unhashable)
        raise Invalid(f"has unknown kind {_show(kind)}")
    if not isinstance(payload, dict):
        raise Invalid("has a payload that is not an object")
    try:        # with the types: true and 1 are equal keys, yet only one is a boolean
        whole = (_SAME_RULES[kind], *payload.items(), *map(type, payload.values()))
        if whole in _PAYLOADS:
            return
    except TypeError:       # a list or an object inside: checked field by field every time
        whole = None
    _check_fields(kind, payload)
    if whole is not None:
        if len(_PAYLOADS) >= 100_000:
            _PAYLOADS.clear()
        _PAYLOADS.add(whole)


def _check_fields(kind: str, payload: dict) -> None:
    required, extra = SCHEMA[kind]
    for name in payload:
        if name not in required and name not in extra:
            raise Invalid(f"has a field '{name[:40]}' that {kind} does not have")
    for name, check in required.items():
        if name not in payload:
            raise Invalid(f"lacks the field '{name}'")
    for name, value in payload.items():
        check = required.get(name) or extra[name]
        seen = (check, type(value), value) if value is None or isinstance(value, (str, int)) else None
        if seen is not None and seen in _PASSED:
            continue                          # the same zone, member, type... passed before
        try:
            check(value)
        except Invalid as exc:
            raise Invalid(f"field '{name}' {exc}") from None
        if seen is not None and len(_PASSED) < 50_000:
            _PASSED.add(seen)
    if kind in ev.NODE_KINDS or kind in ev.QUEUED_KINDS:
        check_type_chips(kind, payload["accelerator_type"], payload["chips"])


def check_type_chips(kind: str, accelerator_type: str, chips: int) -> None:
    """A node has its (known) type's chips; a queued request may ask for several such nodes."""
    expected = type_chips(accelerator_type)
    if chips != expected and (kind in ev.NODE_KINDS or chips % expected):
        raise Invalid(f"says {chips} chips for a {accelerator_type}, which has {expected}"
                      f"{'' if kind in ev.NODE_KINDS else ' per node'}")


def check_event(event: ev.Event) -> None:
    """Raise Invalid saying why this event breaks the schema."""
    if type(event.version) is not int or event.version < 1:
        raise Invalid(f"has schema version {_show(event.version)}, not a whole number")
    if event.version > ev.SCHEMA_VERSION:
        raise Invalid(f"uses schema version {event.version}; this tpuctl reads up to {ev.SCHEMA_VERSION}: upgrade tpuctl")
    if not isinstance(event.id, str) or not ev.is_event_id(event.id):
        raise Invalid(f"has an invalid event id {_show(event.id)}")
    check_recorded(event)
    if not (type(event.actor) is str and (member, str, event.actor) in _PASSED):
        try:
            member(event.actor)
        except Invalid as exc:
            raise Invalid(f"actor {exc}") from None
        if len(_PASSED) < 50_000:
            _PASSED.add((member, str, event.actor))
    if event.group is not None and not (isinstance(event.group, str) and ev.is_event_id(event.group)):
        raise Invalid(f"has a group {_show(event.group)}, not a group id")
    if event.sig is not None:
        from tpuctl.domain.signing import SIG_RE

        if not isinstance(event.sig, str) or not SIG_RE.match(event.sig):
            raise Invalid(f"has a signature {_show(event.sig)}, not an Ed25519 signature in base64")
    check_payload(event.kind, event.payload)


def check_recorded(event: ev.Event) -> None:
    """Raise Invalid unless the id's time is within bounds and the event's time at most AHEAD after it."""
    try:
        recorded = ev.id_time(event.id)
    except OverflowError:
        recorded = LATEST
    if not EARLIEST <= recorded < LATEST:
        raise Invalid(f"has an id whose time is outside {EARLIEST.year}-{LATEST.year}")
    if not EARLIEST <= event.time <= recorded + AHEAD:
        raise Invalid(f"happened at {event.time:%Y-%m-%d %H:%M}, not between {EARLIEST.year} and when it was recorded")


def parse_event(cls: type, data: bytes, origin: str) -> ev.Event:
    """The event in `data`, checked; EventFormatError names `origin` and why it is set aside."""
    quick = read_quick(cls, data)
    return quick if quick is not None else _parse_with_json(cls, data, origin)


def _parse_with_json(cls: type, data: bytes, origin: str) -> ev.Event:
    try:
        if len(data) > 64 * 1024:
            raise Invalid(f"is {len(data)} bytes, more than an event can be")
        body = json.loads(data)
        if not isinstance(body, dict):
            raise Invalid("is not a JSON object")
        missing = [name for name in ("v", "id", "time", "actor", "kind", "payload") if name not in body]
        if missing:
            raise Invalid(f"lacks {', '.join(missing)}")
        event = cls(id=body["id"], time=time(body["time"]), actor=body["actor"], kind=body["kind"],
                    payload=body["payload"], version=body["v"], group=body.get("group"), sig=body.get("sig"),
                    raw=bytes(data))
        check_event(event)
    except Invalid as exc:
        raise ev.EventFormatError(f"{origin} is set aside: it {exc}.") from None
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ev.EventFormatError(f"{origin} is set aside: it is not JSON ({str(exc)[:80]}).") from None
    return event


from tpuctl.domain.event_read import read_quick  # noqa: E402 - (it reads with this module's checks)
