"""Rows of the SQLite view and back: events, node states, closed intervals, queued requests.

One place knows how a replayed state is written to the view's tables, so the event-by-event
ingest and the bulk load of a fresh view (tpuctl/adapters/ledger_load.py) write the same rows.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, Iterator

from tpuctl.domain.events import Event
from tpuctl.domain.intervals import NodeSpec, NodeState, QueuedRequest, UsageInterval
from tpuctl.domain.metering import month_of, split_by_month

CHUNK = 500     # host parameters per IN (...) query

def sec(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp())


def us(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def us_opt(when: datetime | None) -> int | None:
    return None if when is None else us(when)


def dt_us_opt(us: int | None) -> datetime | None:
    return None if us is None else dt_us(us)


def dt(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)


def dt_us(us: int) -> datetime:
    seconds, micro = divmod(us, 1_000_000)
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=micro)


def chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def event_row(event: Event, subject: str | None) -> tuple:
    """The events table's row: id, time, actor, kind, subject (its node or request), the bytes stored."""
    return event.id, us(event.time), event.actor, event.kind, subject, event.to_json()


NODE_COLUMNS = ("subject, zone, node, owner, accelerator_type, generation, chips, spot, lease_until, request_id, "
                 "create_time, status, first_seen, accruing_since, first_ready, seq, last_time_us, last_rank, last_id")


def node_row(state: NodeState) -> tuple:
    s = state.spec
    return (state.subject, s.zone, s.node, s.owner, s.accelerator_type, s.generation, s.chips, int(s.spot),
            us_opt(s.lease_until), s.request_id, us_opt(s.create_time), state.status, sec(state.first_seen),
            sec(state.accruing_since), sec(state.first_ready), state.seq, us(state.last[0]), state.last[1],
            state.last[2])


def node_state(row: tuple) -> NodeState:
    (subject, zone, node, owner, accelerator_type, generation, chips, spot, lease_until, request_id,
     create_time, status, first_seen, accruing_since, first_ready, seq, last_us, last_rank, last_id) = row
    spec = NodeSpec(zone, node, accelerator_type, generation, chips, bool(spot), owner, dt_us_opt(lease_until),
                    request_id, dt_us_opt(create_time))
    return NodeState(subject, spec, dt(first_seen), (dt_us(last_us), last_rank, last_id), status,
                     dt(accruing_since), dt(first_ready), seq)


QUEUED_COLUMNS = ("subject, zone, name, node, owner, accelerator_type, generation, chips, spot, lease_hours, "
                   "request_id, status, ended_time_us, ended_rank, ended_id, since_us")


def queued_row(q: QueuedRequest) -> tuple:
    ended = (None, None, None) if q.ended is None else (us(q.ended[0]), q.ended[1], q.ended[2])
    return (q.subject, q.zone, q.name, q.node, q.owner, q.accelerator_type, q.generation, q.chips, int(q.spot),
            str(q.lease_hours), q.request_id, q.status, *ended, None if q.since is None else us(q.since))


def queued_request(row: tuple) -> QueuedRequest:
    *head, lease_hours, request_id, status, ended_us, ended_rank, ended_id, since_us = row
    subject, zone, name, node, owner, accelerator_type, generation, chips, spot = head
    ended = None if ended_us is None else (dt_us(ended_us), ended_rank, ended_id)
    since = None if since_us is None else dt_us(since_us)
    return QueuedRequest(subject, zone, name, node, owner, accelerator_type, generation, chips, bool(spot),
                         Decimal(lease_hours), request_id, status, ended, since)


def interval_rows(interval: UsageInterval) -> list[tuple]:
    """One row per month the interval touches (most lie within one: those skip the cutting)."""
    s, start, end = interval.spec, interval.start, interval.end
    if (start.tzinfo is timezone.utc is end.tzinfo and start < end
            and start.month == end.month and start.year == end.year):
        parts = [(month_of(start), interval)]
    else:
        parts = split_by_month(interval)
    return [(part.subject, part.seq, month, sec(part.start), sec(part.end), int(part.charged), s.owner, s.zone,
             s.node, s.accelerator_type, s.generation, s.chips, int(s.spot))
            for month, part in parts]


INTERVALS = ("SELECT subject, seq, start, end, charged, owner, zone, node, accelerator_type, generation, chips, spot"
              " FROM intervals")


def usage_intervals(rows: Iterable[tuple]) -> list[UsageInterval]:
    return [UsageInterval(subject, seq, NodeSpec(zone, node, accelerator_type, generation, chips, bool(spot), member,
                                                 None, None, None), dt(start), dt(end), bool(charged))
            for subject, seq, start, end, charged, member, zone, node, accelerator_type, generation, chips, spot
            in rows]


def add_usage(delta: dict[tuple, list[int]], row: tuple, sign: int) -> None:
    """Add (or with sign -1 take back) an intervals row's chip-seconds and seconds to its
    usage_month key; an uncharged interval has seconds but no chip-seconds."""
    _, _, month, start, end, charged, owner, zone, _, accelerator_type, generation, chips, spot = row
    totals = delta.setdefault((month, owner, zone, generation, accelerator_type, spot), [0, 0])
    totals[0] += sign * (chips * (end - start) if charged else 0)
    totals[1] += sign * (end - start)
