"""Sealed segments: many older ledger events in one compressed, create-only object.

Events stay one create-only object each under `ledger/events/`; a segment is a second copy
of a run of them, so a new laptop reads a month in a few requests instead of one per event.
A segment covers the event ids recorded in [start, end) and is stored at
`ledger/segments/YYYY/MM/<start>.jsonl.gz` (YYYY/MM and the 10-character id-time prefix of
`start`), so segments list in time order. The next segment starts where the newest one
ends; two members sealing at once name the same key, and the store's create-only rule lets
exactly one of them win.

The object is gzip'd lines: a JSON header `{"v", "start", "end", "events"}` (times as
`id_prefix` strings), then one line per event holding the event object's exact original
bytes, so a reader parses and checks every event with the same `Event.from_json` as a lone
object (and a signature over those bytes stays checkable). Version 2 writes `key<TAB>bytes`
(the bytes as they are: an event is decoded once, not unescaped first); an event whose bytes
hold a newline is written as version 1 wrote every event, a JSON `[key, text]` line, which
version 2 readers also read. Version 1 segments (all `[key, text]`) are still read.

How a late event is never missed (the rule every reader and sealer keeps):
1. Every member's clock is within SYNC_LOOKBACK of the store's (`tpuctl doctor` says so when
   it is more than a minute off), and an event kept offline is given its id when it is
   finally written (services/outbox.py), so an event object's id time is never more than
   SYNC_LOOKBACK before the moment it lands in the store.
2. A segment ends at most at (now - SEAL_HORIZON), rounded down to the hour, and the sealer
   refuses to seal if its clock is more than MAX_SEAL_SKEW off the store's. SEAL_HORIZON
   (2 h) is far beyond SYNC_LOOKBACK (30 min), so every event that can still land has an id
   after the newest segment's end.
3. A sync reads the segments it lacks, then lists event keys after
   max(its own cursor, the newest trusted segment's end) - SYNC_LOOKBACK, and reads every
   listed key that no segment (and no earlier sync) covered.
A segment that is not readable, or whose header or keys break these rules, is set aside and
named by `ledger verify`; its range counts as unsealed, so its events are read one by one.
An event inside a good segment that fails the event schema is read again from its own object.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from json.decoder import scanstring
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from tpuctl.domain.events import id_prefix, id_time, key_event_id, listing_bound

SEGMENTS_PREFIX = "ledger/segments/"
SEGMENT_VERSION = 2                         # 1: every line `[key, text]` (still read)
SEAL_HORIZON = timedelta(hours=2)           # only events at least this old are sealed
MAX_SEAL_SKEW = timedelta(minutes=2)        # the sealer's clock against the store's
MIN_SEGMENT = 1000                          # fewer new events wait (unless a month closes)
MAX_SEGMENT = 100_000                       # events in one segment at most
MAX_SEGMENT_BYTES = 256 * 2**20             # uncompressed; a larger object is set aside
_STEM_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{10}$")
_PLAIN_KEY = re.compile(r"^[!-~]+$")           # printable ASCII, no space: written bare in version 2


class SegmentError(ValueError):
    """Why a segment object is set aside, in a phrase."""


def segment_key(start: datetime) -> str:
    return f"{SEGMENTS_PREFIX}{start:%Y/%m}/{id_prefix(start)}.jsonl.gz"


def prefix_time(prefix: str) -> datetime:
    """The time a 10-character id prefix stands for (id_time of an id that begins with it)."""
    return id_time(prefix + "0" * 16)


def key_start(key: str) -> datetime | None:
    """The start a segment key names, or None if the key is not named like a segment."""
    name = key.rsplit("/", 1)[-1]
    stem = name[: -len(".jsonl.gz")] if name.endswith(".jsonl.gz") else ""
    if not key.startswith(SEGMENTS_PREFIX) or not _STEM_RE.match(stem):
        return None
    try:
        start = prefix_time(stem)
    except (ValueError, OverflowError):
        return None
    return start if segment_key(start) == key else None


def month_end(at: datetime) -> datetime:
    first = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def seal_end(start: datetime, now: datetime) -> datetime:
    """Where a segment starting at `start` may end when sealed at `now` (may be <= start)."""
    latest = (now - SEAL_HORIZON).replace(minute=0, second=0, microsecond=0)
    return min(latest, month_end(start))


@dataclass(frozen=True)
class Segment:
    key: str
    start: datetime
    end: datetime
    entries: tuple[tuple[str, bytes], ...]      # (event key, exact event bytes), in key order


def encode(start: datetime, end: datetime, entries: Iterable[tuple[str, bytes]]) -> bytes:
    lines = [json.dumps({"v": SEGMENT_VERSION, "start": id_prefix(start), "end": id_prefix(end),
                         "events": 0}, separators=(",", ":")).encode()]
    for key, raw in entries:
        if b"\n" in raw or not _PLAIN_KEY.match(key):
            lines.append(json.dumps([key, raw.decode("utf-8")], separators=(",", ":"), ensure_ascii=False).encode())
        else:
            lines.append(key.encode() + b"\t" + raw)
    lines[0] = lines[0].replace(b'"events":0', b'"events":%d' % (len(lines) - 1))
    return gzip.compress(b"\n".join(lines), compresslevel=6, mtime=0)


def _line(line: str) -> object:
    """One line as `json.loads` reads it; the form `encode` writes (`["key","text"]`, no
    spaces) is read with the JSON string scanner alone, twice as fast for a million lines."""
    if line.startswith('["'):
        try:
            key, end = scanstring(line, 2)
            if line.startswith(',"', end):
                text, end = scanstring(line, end + 2)
                if end == len(line) - 1 and line.endswith("]"):
                    return [key, text]
        except ValueError:
            pass                # json.loads says why
    return json.loads(line)


def _version_2(text: bytes) -> tuple[list[bytes], dict | None]:
    """The lines (as bytes) and header of a version 2 segment; no header if it is not one."""
    newline = text.find(b"\n")
    try:
        header = json.loads(text[:newline] if newline >= 0 else text)
    except (UnicodeDecodeError, ValueError):
        return [], None
    if not isinstance(header, dict) or header.get("v") != SEGMENT_VERSION:
        return [], None
    return text.split(b"\n"), header


def decode(key: str, data: bytes) -> Segment:
    """The segment in `data`, its structure checked (SegmentError says why it is set aside).
    The events inside are not parsed here: the caller checks each like a lone event."""
    start = key_start(key)
    if start is None:
        raise SegmentError("is not named like a segment (<YYYY>/<MM>/<10-character time>.jsonl.gz)")
    try:
        text = zlib.decompressobj(wbits=31).decompress(data, MAX_SEGMENT_BYTES + 1)
        if len(text) > MAX_SEGMENT_BYTES:
            raise SegmentError(f"holds more than {MAX_SEGMENT_BYTES // 2**20} MiB")
        lines, header = _version_2(text)
        if header is None:
            lines = text.decode("utf-8").split("\n")
            header = json.loads(lines[0])
    except (zlib.error, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise SegmentError(f"is not a gzip'd JSON-lines segment ({str(exc)[:80]})") from None
    if not isinstance(header, dict) or header.get("v") not in (1, SEGMENT_VERSION):
        raise SegmentError(f"has a header that is not a version 1 or {SEGMENT_VERSION} segment header")
    if header.get("start") != id_prefix(start) or not isinstance(header.get("end"), str):
        raise SegmentError("has a header whose start is not the one its name says")
    try:
        end = prefix_time(header["end"])
    except (ValueError, KeyError, OverflowError):
        raise SegmentError("has a header with an unreadable end") from None
    if not start < end <= month_end(start) or id_prefix(end) != header["end"]:
        raise SegmentError("has an end that is not after its start within the same month")
    if header.get("events") != len(lines) - 1:
        raise SegmentError(f"says it holds {header.get('events')!r} events but holds {len(lines) - 1}")
    low, high, entries, last = listing_bound(start), listing_bound(end), [], ""
    for number, line in enumerate(lines[1:], start=2):
        try:
            if isinstance(line, bytes):         # version 2: key<TAB>bytes, or a version 1 line
                event_key, tab, data = line.partition(b"\t")
                if line.startswith(b"[") or not tab:
                    event_key, data = _line(line.decode("utf-8")), None
                else:
                    event_key = event_key.decode("utf-8")
            else:
                event_key, data = _line(line), None
            if data is None:
                event_key, raw = event_key
                if not (isinstance(event_key, str) and isinstance(raw, str)):
                    raise ValueError("not [key, text]")
                data = raw.encode("utf-8")      # a lone surrogate (\ud800) is not UTF-8: set aside
        except (ValueError, TypeError) as exc:
            raise SegmentError(f"has an unreadable line {number} ({str(exc)[:60]})") from None
        if key_event_id(event_key) is None or not low < event_key < high or event_key <= last:
            raise SegmentError(f"line {number} names {event_key[:80]!r}, not the next event key of its range")
        entries.append((event_key, data))
        last = event_key
    return Segment(key, start, end, tuple(entries))
