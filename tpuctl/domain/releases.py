"""A job's TPU released when the job ends: the two store objects that say so, and their shape.

Write first, then act: `intent` (create-only) says the TPU is to go and why, before Cloud TPU
is asked; `done` (create-only) says when Cloud TPU accepted the delete, who asked and how,
and carries the ledger event that records it. Whoever finds an intent without `done` (a
follower, `tpuctl jobs resume`) finishes the release, so a releaser killed in between loses
nothing. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

RELEASE_KINDS = ("intent", "done")


def release_prefix(job: str, attempt: int) -> str:
    return f"jobs/{job}/a{attempt}/release/"


def release_key(job: str, attempt: int, kind: str) -> str:
    return f"{release_prefix(job, attempt)}{kind}.json"


def release_reason(job: str, state: str) -> str:
    return f"released: job {job} ended ({state})"


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc) if text else None


@dataclass(frozen=True)
class Release:
    """The release of one attempt's TPU: asked for, and (once `time` is set) confirmed."""

    reason: str
    asked_by: str
    asked: datetime
    by: str | None = None            # who deleted it: the member whose tpuctl (or agent) asked Cloud TPU
    via: str | None = None           # how: "its agent", "run --follow", "cancel", "jobs resume", ...
    time: datetime | None = None     # when Cloud TPU accepted the delete (or found it gone)
    deleted: bool = False            # False: the TPU was already gone, nothing was deleted
    event_id: str | None = None      # the ledger's node.deleted event

    @property
    def done(self) -> bool:
        return self.time is not None

    @classmethod
    def from_records(cls, intent: dict[str, Any] | None, done: dict[str, Any] | None) -> Release | None:
        if intent is None:
            return None
        done = done or {}
        return cls(intent["reason"], intent["by"], _time(intent["time"]), done.get("by"), done.get("via"),
                   _time(done.get("time")), bool(done.get("deleted")), (done.get("event") or {}).get("id"))

    def to_json(self, iso) -> dict[str, Any]:
        return {"reason": self.reason, "asked_by": self.asked_by, "asked": iso(self.asked), "released": iso(self.time),
                "released_by": self.by, "via": self.via, "deleted": self.deleted, "event_id": self.event_id}

    def describe(self, iso) -> str:
        """One line for `tpuctl job`."""
        if not self.done:
            return f"pending since {iso(self.asked)} (asked by {self.asked_by}; {self.reason})"
        what = "deleted" if self.deleted else "found already gone"
        return f"{what} at {iso(self.time)} by {self.by} ({self.via}); {self.reason}"
