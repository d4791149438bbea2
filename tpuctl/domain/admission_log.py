"""The admission log: one create-only object per admitted request, numbered per month.

Deciding and writing down that a request fits the budget must be one step, or members
asking at once are all admitted against the same "left". The group store gives that step
without a server: entry n of a month (`ledger/admissions/YYYY-MM/0000000042.json`) is
created only if nobody created it first, and a member writes entry n only after reading
entries 1..n-1. Whoever loses the race reads the new entries and decides again.

The ledger already counts a request once its node.* or queued.* events arrive; until then
(and for a grace, after which a request that never produced an event is taken as never
made) its entry counts in their place. This module decides; services/admission.py reads
and writes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Collection, Iterable

from tpuctl.domain.budgets import Admission, UsageRequest
from tpuctl.domain.events import format_time, parse_time
from tpuctl.domain.metering import PriceKey, add_usage
from tpuctl.domain.prices import CURRENCIES, GENERATIONS
from tpuctl.errors import ConfigError

LOG_PREFIX = "ledger/admissions/"
ENTRY_VERSION = 1
# An admitted request writes its node.created / queued.created within seconds; one that has
# not after this long was never made (the same grace observation gives a node to be listed).
ADMISSION_GRACE = timedelta(minutes=15)
_SEQ_DIGITS = 10
_NAME_RE = re.compile(r"^(\d{4}-\d{2})/(\d{10})\.json$")
_MAX_CHIPS = 100_000
_MAX_CHIP_SECONDS = _MAX_CHIPS * 366 * 86400


class EntryFormatError(ConfigError):
    """An object in the admission log that is not a readable entry."""


def log_prefix(month: str) -> str:
    return f"{LOG_PREFIX}{month}/"


def entry_key(month: str, seq: int) -> str:
    return f"{log_prefix(month)}{seq:0{_SEQ_DIGITS}d}.json"


def key_seq(key: str, month: str) -> int | None:
    """The number an entry key of `month` carries, or None if it is not named like one."""
    match = _NAME_RE.match(key[len(LOG_PREFIX):]) if key.startswith(LOG_PREFIX) else None
    return int(match.group(2)) if match and match.group(1) == month and int(match.group(2)) > 0 else None


@dataclass(frozen=True)
class LogEntry:
    """One admitted request: who, what it may use, until when it counts, and why if overridden."""

    month: str
    seq: int
    member: str
    request_id: str
    actor: str
    time: datetime
    price_key: PriceKey
    chips: int
    chip_seconds: int
    money: Decimal
    currency: str
    counts_until: datetime          # the end of the lease asked for, from the time admitted
    override_reason: str | None = None

    @property
    def key(self) -> str:
        return entry_key(self.month, self.seq)

    def to_json(self) -> bytes:
        body = {"v": ENTRY_VERSION, "month": self.month, "seq": self.seq, "member": self.member,
                "request_id": self.request_id, "actor": self.actor, "time": format_time(self.time),
                "requested": {"zone": self.price_key.zone, "generation": self.price_key.generation,
                              "accelerator_type": self.price_key.accelerator_type, "spot": self.price_key.spot,
                              "chips": self.chips, "chip_seconds": self.chip_seconds, "money": str(self.money),
                              "currency": self.currency},
                "counts_until": format_time(self.counts_until), "override_reason": self.override_reason}
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def new_entry(month: str, seq: int, request: UsageRequest, admission: Admission, actor: str,
              now: datetime) -> LogEntry:
    """The entry that writes `admission` down as number `seq` of `month`."""
    return LogEntry(month, seq, request.member, request.request_id, actor, now, request.key, request.chips,
                    request.chip_seconds, admission.member.requested.money, admission.currency,
                    now + timedelta(seconds=int(request.hours * 3600)), admission.override_reason)


def parse_entry(data: bytes, key: str) -> LogEntry:
    """The entry stored at `key`, checked field by field; EntryFormatError names what is wrong."""
    def need(mapping: dict, name: str, kind: type | tuple[type, ...]) -> Any:
        value = mapping.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"field '{name}' is missing or not {getattr(kind, '__name__', 'valid')}")
        return value

    try:
        body = json.loads(data)
        if not isinstance(body, dict):
            raise ValueError("it is not a JSON object")
        if need(body, "v", int) != ENTRY_VERSION:
            raise ValueError(f"version {body['v']} is not {ENTRY_VERSION}")
        month, seq = need(body, "month", str), need(body, "seq", int)
        if key_seq(key, month) != seq:
            raise ValueError(f"it says entry {seq} of {month}, not what its name says")
        asked = need(body, "requested", dict)
        generation, currency = need(asked, "generation", str), need(asked, "currency", str)
        chips, chip_seconds = need(asked, "chips", int), need(asked, "chip_seconds", int)
        if generation not in GENERATIONS or currency not in CURRENCIES:
            raise ValueError(f"generation '{generation}' or currency '{currency}' is unknown")
        if not (0 < chips <= _MAX_CHIPS and 0 <= chip_seconds <= _MAX_CHIP_SECONDS):
            raise ValueError(f"{chips} chips for {chip_seconds} chip-seconds is out of bounds")
        money = Decimal(need(asked, "money", str))
        if not money.is_finite() or money < 0:
            raise ValueError(f"money '{asked['money']}' is not an amount")
        time, until = parse_time(need(body, "time", str)), parse_time(need(body, "counts_until", str))
        reason = body.get("override_reason")
        if until < time or not isinstance(reason, (str, type(None))):
            raise ValueError("counts_until is before its time, or override_reason is not text")
        member, request_id, actor = (need(body, name, str) for name in ("member", "request_id", "actor"))
        if not (member and request_id and actor):
            raise ValueError("member, request_id and actor must not be empty")
        price_key = PriceKey(need(asked, "zone", str), generation, need(asked, "accelerator_type", str),
                             need(asked, "spot", bool))
    except (ValueError, InvalidOperation, TypeError, RecursionError) as exc:
        raise EntryFormatError(f"{key} is not a readable admission entry ({exc}).") from None
    return LogEntry(month, seq, member, request_id, actor, time, price_key, chips, chip_seconds, money, currency,
                    until, reason)


def counts(entry: LogEntry, reflected: Collection[str], now: datetime, grace: timedelta = ADMISSION_GRACE) -> bool:
    """Whether an entry still holds budget of its own: the ledger does not show its request
    yet (once it does, the ledger counts it, or not if it is closed), it is younger than the
    grace, and its lease has not run out."""
    return entry.request_id not in reflected and now - entry.time < grace and now < entry.counts_until


def pending_usage(entries: Iterable[LogEntry], reflected: Collection[str], now: datetime,
                  grace: timedelta = ADMISSION_GRACE) -> dict[str, Counter]:
    """Chip-seconds per member and pricing key that admitted requests hold before the ledger
    shows them: what is left of each lease, as a node's committed usage is."""
    usage: dict[str, Counter] = {}
    seen = set()
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.request_id in seen or not counts(entry, reflected, now, grace):
            continue
        seen.add(entry.request_id)          # one request written twice still counts once
        left = int((entry.counts_until - now).total_seconds()) * entry.chips
        add_usage(usage, entry.member, entry.price_key, min(entry.chip_seconds, left))
    return usage
