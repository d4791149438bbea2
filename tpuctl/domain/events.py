"""The ledger's one event schema: what happened, when, who did it, and its details.

Events are immutable facts stored one object each in the group store; everything else
(intervals, budgets, roles) is derived from them, so this module is the only place that
knows their JSON shape. An event id is ULID-like: 10 characters of millisecond time (the
moment it was recorded) then 16 random ones, so ids sort by recording time and the store
can list what is new with `start_after`. `time` is when the thing happened, which can be
earlier (an observation backdated to a node's createTime).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from tpuctl.domain.times import format_time, parse_time
from tpuctl.errors import ConfigError

SCHEMA_VERSION = 2         # 2: events may carry the group id and the actor's signature
EVENTS_PREFIX = "ledger/events/"
GENESIS_KEY = "ledger/genesis.json"      # the group's one create-only first event
UNATTRIBUTED = "unattributed"

GROUP_INITIALIZED = "group.initialized"
MEMBER_ADDED = "member.added"
TREASURER_ADDED = "treasurer.added"
NODE_CREATED = "node.created"
NODE_READY = "node.ready"
NODE_STOPPED = "node.stopped"
NODE_STARTED = "node.started"
NODE_PREEMPTED = "node.preempted"
NODE_DELETED = "node.deleted"
NODE_LEASE_EXTENDED = "node.lease_extended"  # `tpuctl extend`: a later lease_until, admitted
QUEUED_CREATED = "queued.created"
QUEUED_PROVISIONED = "queued.provisioned"
QUEUED_FAILED = "queued.failed"
QUEUED_DELETED = "queued.deleted"
BUDGET_SET = "budget.set"
PRICES_OVERRIDDEN = "prices.overridden"
FREE_QUOTA_SET = "free_quota.set"
OVERRIDE_GRANTED = "override.granted"
POT_CONTRIBUTED = "pot.contributed"          # money a member paid into the group's pot
MONTH_CLOSED = "month.closed"                # the month's settled figures, from the real bill
MONTH_REOPENED = "month.reopened"            # a closed month is open again (with a reason)
SETTLEMENT_RULE_SET = "settlement.rule_set"  # how shared costs are split
KEY_ROTATED = "key.rotated"
MEMBER_REMOVED = "member.removed"
REAP_WARNED = "reap.warned"                  # the reaper warned an owner: what follows, when, why
REAP_ACTED = "reap.acted"                    # the reaper stopped or deleted a TPU or queued request
REAP_RAN = "reap.ran"                        # a reaper run that planned anything: its counts
KEEP_SET = "keep.set"                        # `tpuctl keep`: idle and budget rules spare a TPU until then
GRANT_SET = "grant.set"                      # a TRC grant: free chips of one zone, generation and model
GRANT_ENDED = "grant.ended"                  # `tpuctl grant end`: the grant stops from then on
GROUP_SEALED = "group.sealed"                # `tpuctl group seal`: the unsigned history up to now is kept, nothing later
NODE_CLAIMED = "node.claimed"                # `tpuctl claim`: a TPU made outside tpuctl is billed to a member from now
OBSERVATION_DISPUTED = "observation.disputed"    # a sync found no TPU where observed events said one ran
REAP_KINDS = frozenset({REAP_WARNED, REAP_ACTED, REAP_RAN, KEEP_SET})

SOURCES = ("tpuctl", "observed")
_NODE_FIELDS = ("zone", "node", "accelerator_type", "chips", "spot", "owner",
                "lease_until", "request_id", "create_time", "source")
_QUEUED_FIELDS = ("zone", "name", "node", "accelerator_type", "chips", "spot", "owner",
                  "lease_hours", "request_id")
NODE_KINDS = frozenset({NODE_CREATED, NODE_READY, NODE_STOPPED, NODE_STARTED, NODE_PREEMPTED, NODE_DELETED,
                        NODE_LEASE_EXTENDED, NODE_CLAIMED})
QUEUED_KINDS = frozenset({QUEUED_CREATED, QUEUED_PROVISIONED, QUEUED_FAILED, QUEUED_DELETED})
# Kinds only a treasurer may write; anyone else's are ignored and reported by verify.
TREASURER_KINDS = frozenset({MEMBER_ADDED, TREASURER_ADDED, BUDGET_SET, PRICES_OVERRIDDEN,
                             FREE_QUOTA_SET, OVERRIDE_GRANTED, POT_CONTRIBUTED, MONTH_CLOSED, MONTH_REOPENED,
                             SETTLEMENT_RULE_SET, KEY_ROTATED, MEMBER_REMOVED, GROUP_SEALED, GRANT_SET, GRANT_ENDED})
# Control events replay into the group's rules; a dispute may come from any member (it only
# withdraws observations, which the next sync makes again if the TPU is really there).
CONTROL_KINDS = TREASURER_KINDS | {GROUP_INITIALIZED, OBSERVATION_DISPUTED}

# kind -> payload fields it must carry (values may be null where the field allows it)
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    GROUP_INITIALIZED: ("treasurers", "currency"),
    MEMBER_ADDED: ("member",),
    TREASURER_ADDED: ("member",),
    **{kind: _NODE_FIELDS for kind in NODE_KINDS},
    **{kind: _QUEUED_FIELDS for kind in QUEUED_KINDS},
    BUDGET_SET: ("scope", "member", "month", "amount", "unit"),
    PRICES_OVERRIDDEN: ("generation", "region", "on_demand", "spot"),
    FREE_QUOTA_SET: ("rules",),
    OVERRIDE_GRANTED: ("member", "request_id", "reason"),
    POT_CONTRIBUTED: ("member", "amount"),
    MONTH_CLOSED: ("month", "currency", "actual", "estimate", "members"),
    MONTH_REOPENED: ("month", "reason"),
    SETTLEMENT_RULE_SET: ("rule",),
    KEY_ROTATED: ("member", "key"),
    MEMBER_REMOVED: ("member",),
    REAP_WARNED: ("zone", "node", "owner", "rule", "then", "act_at", "reason"),
    REAP_ACTED: ("zone", "node", "owner", "rule", "action", "reason"),
    REAP_RAN: ("run", "planned", "acted", "warned", "failed", "capped", "unreachable"),
    KEEP_SET: ("zone", "node", "owner", "until"),
    GRANT_SET: ("zone", "generation", "model", "chips", "start", "until"),
    GRANT_ENDED: ("zone", "generation", "model"),
    GROUP_SEALED: ("events", "digest", "last"),
    OBSERVATION_DISPUTED: ("zone", "node", "events", "reason"),
}
KNOWN_KINDS = frozenset(REQUIRED_FIELDS)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class EventFormatError(ConfigError):
    """An object in the store that is not a readable event."""


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def id_prefix(at: datetime) -> str:
    """The 10-character time part of every id recorded at `at` (a listing bound)."""
    return _encode((at - _EPOCH) // timedelta(milliseconds=1), 10)


_last_id = [0, 0]                  # (ms, random part) of this process's latest id
_id_lock = threading.Lock()


def new_event_id(at: datetime, rand: int | None = None) -> str:
    """A sortable unique id: recording time in ms, then 80 random bits. Ids this process
    makes within one millisecond count up from the first, so they keep their order."""
    ms = (at - _EPOCH) // timedelta(milliseconds=1)
    if rand is None:
        with _id_lock:
            bits = _last_id[1] + 1 if _last_id[0] == ms and _last_id[1] + 1 < 2**80 else secrets.randbits(79)
            _last_id[:] = [ms, bits]
    else:
        bits = rand
    return _encode(ms, 10) + _encode(bits, 16)


_TO_INT_DIGITS = str.maketrans(_CROCKFORD, "0123456789abcdefghijklmnopqrstuv")


def id_time(event_id: str) -> datetime:
    """When an event was recorded, read back from its id."""
    return _EPOCH + timedelta(milliseconds=int(event_id[:10].translate(_TO_INT_DIGITS), 32))


@lru_cache(maxsize=4096)
def _cached_time(text: str) -> datetime:
    return parse_time(text)


def optional_time(value: Any) -> datetime | None:
    """A payload time (ISO string or null) as an aware datetime."""
    return None if value in (None, "") else _cached_time(value)


def is_event_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


def event_key(event_id: str) -> str:
    """Where an event lives in the group store: ledger/events/YYYY/MM/<id>.json."""
    recorded = id_time(event_id)
    return f"{EVENTS_PREFIX}{recorded:%Y/%m}/{event_id}.json"


def key_event_id(key: str) -> str | None:
    """The event id a store key names, or None if the key is not an event object."""
    name = key.rsplit("/", 1)[-1]
    stem = name[:-5] if name.endswith(".json") else ""
    return stem if key.startswith(EVENTS_PREFIX) and _ID_RE.match(stem) else None


def listing_bound(at: datetime) -> str:
    """A store key sorting just before every event recorded at or after `at`."""
    return f"{EVENTS_PREFIX}{at:%Y/%m}/{id_prefix(at)}"


@dataclass(frozen=True)
class Event:
    id: str
    time: datetime
    actor: str
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    version: int = SCHEMA_VERSION
    group: str | None = None       # the group's id (its genesis event's id); None before signing
    sig: str | None = None         # the actor's Ed25519 signature over the rest (tpuctl/domain/signing.py)
    raw: bytes | None = field(default=None, compare=False, hash=False, repr=False)   # as read from the store

    @property
    def key(self) -> str:
        return event_key(self.id)

    @property
    def recorded(self) -> datetime:
        return id_time(self.id)

    @property
    def order(self) -> tuple[datetime, str]:
        """Deterministic replay order: by time, ties broken by id."""
        return (self.time, self.id)

    def body(self) -> dict[str, Any]:
        body = {"v": self.version, "id": self.id, "time": format_time(self.time),
                "actor": self.actor, "kind": self.kind, "payload": dict(self.payload)}
        if self.group is not None:
            body["group"] = self.group
        if self.sig is not None:
            body["sig"] = self.sig
        return body

    def to_json(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body(), separators=(",", ":"), sort_keys=True).encode()

    def signed(self, key: Any, group: str | None) -> Event:
        """This event for `group`, signed with `key` (a signing.SigningKey of the actor)."""
        unsigned = replace(self, version=SCHEMA_VERSION, group=group, sig=None, raw=None)
        return replace(unsigned, sig=key.sign(unsigned.body()))

    @classmethod
    def from_json(cls, data: bytes, origin: str = "event") -> Event:
        """Parse and check a stored object against the schema (EventFormatError says why)."""
        from tpuctl.domain.event_schema import parse_event

        return parse_event(cls, data, origin)

    @classmethod
    def from_trusted_json(cls, data: bytes) -> Event:
        """An event the local view already checked on its way in (no second check)."""
        body = json.loads(data)
        return cls(id=body["id"], time=parse_time(body["time"]), actor=body["actor"], kind=body["kind"],
                   payload=body["payload"], version=body["v"], group=body.get("group"), sig=body.get("sig"),
                   raw=bytes(data))


def _reason(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__


def new_event(kind: str, actor: str, payload: Mapping[str, Any], now: datetime,
              time: datetime | None = None, rand: int | None = None) -> Event:
    """An event recorded at `now` about something that happened at `time` (default now)."""
    return Event(id=new_event_id(now, rand), time=time or now, actor=actor, kind=kind, payload=dict(payload))


def node_payload(*, zone: str, node: str, accelerator_type: str, chips: int, spot: bool,
                 owner: str | None, lease_until: datetime | None, request_id: str | None,
                 create_time: datetime | None = None, source: str = "tpuctl") -> dict[str, Any]:
    """The payload every node.* event carries, so any one of them describes the node."""
    return {"zone": zone, "node": node, "accelerator_type": accelerator_type, "chips": chips,
            "spot": spot, "owner": owner or UNATTRIBUTED,
            "lease_until": format_time(lease_until) if lease_until else None,
            "request_id": request_id or None,
            "create_time": format_time(create_time) if create_time else None, "source": source}


def queued_payload(*, zone: str, name: str, node: str, accelerator_type: str, chips: int, spot: bool,
                   owner: str, lease_hours: Any, request_id: str | None, source: str = "tpuctl") -> dict[str, Any]:
    """The payload every queued.* event carries; lease_hours is a decimal string. `source`
    is optional for readers: events written before it existed are tpuctl's own."""
    return {"zone": zone, "name": name, "node": node, "accelerator_type": accelerator_type,
            "chips": chips, "spot": spot, "owner": owner, "lease_hours": str(lease_hours),
            "request_id": request_id or None, "source": source}


def budget_payload(*, scope: str, amount: Any, unit: str = "money", member: str | None = None,
                   month: str = "default") -> dict[str, Any]:
    """scope 'group' or 'member'; member None with scope 'member' is the default allowance."""
    return {"scope": scope, "member": member, "month": month, "amount": str(amount), "unit": unit}
