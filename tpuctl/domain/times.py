"""One time type and one canonical form for the ledger, the view and the emulator.

Cloud TPU times carry fractions of a second (RFC 3339 with up to nanoseconds). A time that
is written in two forms (with and without its fraction) names two different things, and a
node that is two things is billed twice or never closed. So every time tpuctl keeps is an
aware UTC datetime cut to the microsecond, written as `2026-11-30T12:00:00.123456Z`
(always six digits), and every time it reads goes through `parse_time`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from datetime import datetime, timezone

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


def canonical(when: datetime) -> datetime:
    """The same instant as an aware UTC datetime (naive times are refused, never guessed)."""
    if when.tzinfo is None:
        raise ValueError(f"time {when} has no time zone")
    return when.astimezone(timezone.utc)


def format_time(when: datetime) -> str:
    """The canonical text of a time: UTC, six fractional digits, `Z`."""
    return canonical(when).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (any fraction up to nanoseconds, `Z` or an offset) as aware UTC.
    ValueError names what is wrong."""
    found = _RFC3339.match(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"'{str(text)[:40]}' is not an RFC 3339 time like 2026-11-30T12:00:00Z")
    day, clock, fraction, zone = found.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    offset = "+00:00" if zone in ("Z", "z") else zone
    return datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}").astimezone(timezone.utc)


@lru_cache(maxsize=4096)
def canonical_text(text: str) -> str:
    """Any accepted spelling of a time, in the canonical form (old events wrote several)."""
    return format_time(parse_time(text))


def shown_time(when: datetime) -> str:
    """A time as people read it in job records and output: UTC, `Z`, a fraction only if any."""
    return canonical(when).isoformat().replace("+00:00", "Z")
