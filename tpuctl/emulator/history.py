"""The ground truth of what ran: every node incarnation's state history, and its READY spans.

The world keeps one record per node incarnation in `state["history"]` (a node deleted and
created again under the same name is a new incarnation), so the history lives in the state
file with everything else, is shared by every process on that file and is emptied by a
reset. A record is plain JSON: what the node was (project, zone, type, chips, spot,
labels) and each state it entered with the exact world-clock time, ending in `DELETED`
when the node is gone.

Billing follows the Cloud TPU rule (FACTS.md; cloud.google.com/tpu/pricing and
/tpu/docs/preemptible): a node accrues per second while READY only; a spot or preemptible
node preempted less than a minute after it became READY is not charged for that minute.
`ready_spans` turns a record into those spans; `usage` is what tests compare a ledger with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

DELETED = "DELETED"  # the last entry of a node that is gone
FREE_PREEMPTION = timedelta(minutes=1)  # preempted sooner after READY: that span is not charged


def _stamp(t: float) -> str:
    """A world time (epoch seconds) as an aware UTC datetime's ISO text, to the microsecond."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds")


def born(state: dict, node: dict, at: float) -> None:
    """Open a new incarnation record for a node just added to the world (CREATING)."""
    history = state.setdefault("history", [])
    name = node["name"]
    scheduling = node.get("schedulingConfig") or {}
    node["_history"] = len(history)
    history.append({
        "node": name,
        "incarnation": 1 + sum(1 for r in history if r["node"] == name),
        "id": node.get("id", ""),
        "project": name.split("/")[1],
        "zone": node["_zone"],
        "acceleratorType": node["acceleratorType"],
        "generation": node["_gen"],
        "chips": node["_chips"],
        "spot": bool(scheduling.get("spot")),
        "preemptible": bool(scheduling.get("preemptible")),
        "queuedResource": node.get("queuedResource"),
        "labels": dict(node.get("labels") or {}),
        "transitions": [[node["state"], _stamp(at)]],
    })


def moved(state: dict, node: dict, new_state: str, at: float) -> None:
    """Note that a node entered `new_state` (or `DELETED`) at `at`."""
    record = _record(state, node, at)
    if record["transitions"][-1][0] != new_state:
        record["transitions"].append([new_state, _stamp(at)])


def relabelled(state: dict, node: dict, at: float) -> None:
    """Keep the record's labels those of the node now (the export shows the latest labels)."""
    _record(state, node, at)["labels"] = dict(node.get("labels") or {})


def _record(state: dict, node: dict, at: float) -> dict:
    """The node's record; a node from a state file written before histories were kept gets one
    that starts in its current state at the time it entered it."""
    history = state.setdefault("history", [])
    index = node.get("_history")
    if index is None or index >= len(history) or history[index]["node"] != node["name"]:
        born(state, node, node.get("_since", at))
        index = node["_history"]
    return history[index]


@dataclass(frozen=True)
class ReadySpan:
    """One stretch of READY: [start, end). `end` is None while the node is still READY."""

    start: datetime
    end: datetime | None
    ended_by: str | None   # the state that ended it (STOPPING, PREEMPTED, DELETING, DELETED, ...)

    def until(self, now: datetime) -> datetime:
        return self.end if self.end is not None else max(now, self.start)

    def charged(self, spot: bool) -> bool:
        """False for a spot/preemptible node preempted within its first minute of READY."""
        return not (spot and self.ended_by == "PREEMPTED" and self.end - self.start < FREE_PREEMPTION)


@dataclass(frozen=True)
class Incarnation:
    """A history record read back: the node as billing sees it."""

    node: str
    incarnation: int
    id: str
    project: str
    zone: str
    accelerator_type: str
    generation: str
    chips: int
    spot: bool                      # spot or preemptible: what the pricing model depends on
    labels: dict
    queued_resource: str | None
    transitions: tuple[tuple[str, datetime], ...]

    @classmethod
    def of(cls, record: dict) -> Incarnation:
        return cls(
            node=record["node"], incarnation=record["incarnation"], id=record["id"], project=record["project"],
            zone=record["zone"], accelerator_type=record["acceleratorType"], generation=record["generation"],
            chips=int(record["chips"]), spot=bool(record["spot"] or record["preemptible"]),
            labels=dict(record["labels"]), queued_resource=record.get("queuedResource"),
            transitions=tuple((s, datetime.fromisoformat(t)) for s, t in record["transitions"]))

    @property
    def region(self) -> str:
        return self.zone.rsplit("-", 1)[0]

    def ready_spans(self) -> list[ReadySpan]:
        spans, start = [], None
        for state, at in self.transitions:
            if state == "READY" and start is None:
                start = at
            elif state != "READY" and start is not None:
                spans.append(ReadySpan(start, at, state))
                start = None
        if start is not None:
            spans.append(ReadySpan(start, None, None))
        return spans

    def charged_spans(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """The [start, end) stretches the bill charges, open ones cut at `now`."""
        return [(s.start, s.until(now)) for s in self.ready_spans() if s.charged(self.spot)]


def incarnations(state: dict) -> list[Incarnation]:
    return [Incarnation.of(record) for record in state.get("history", [])]


def usage(state: dict, now: datetime) -> list[dict]:
    """Per node incarnation, what ran: its READY intervals with chips, zone, labels and spot.

    Each interval says whether it is charged and its chip-seconds (Decimal, exact to the
    microsecond); an interval still open ends at `now` with `running` true.
    """
    result = []
    for inc in incarnations(state):
        intervals = []
        for span in inc.ready_spans():
            end = span.until(now)
            seconds = Decimal((end - span.start) // timedelta(microseconds=1)) / 1_000_000
            intervals.append({"start": span.start, "end": end, "running": span.end is None,
                              "endedBy": span.ended_by, "charged": span.charged(inc.spot),
                              "chipSeconds": seconds * inc.chips})
        result.append({"node": inc.node, "incarnation": inc.incarnation, "id": inc.id, "project": inc.project,
                       "zone": inc.zone, "acceleratorType": inc.accelerator_type, "generation": inc.generation,
                       "chips": inc.chips, "spot": inc.spot, "labels": inc.labels,
                       "queuedResource": inc.queued_resource,
                       "states": [{"state": s, "at": at} for s, at in inc.transitions],
                       "intervals": intervals})
    return result
