"""A job's TPU released when the job ends: the two store objects that say so, and their shape.

Write first, then act: `intent` (create-only) says the TPU is to go and why, before Cloud TPU
is asked; `done` (create-only) says when Cloud TPU accepted the delete, who asked and how,
and carries the ledger event that records it. Whoever finds an intent without `done` (a
follower, `tpuctl jobs resume`) finishes the release, so a releaser killed in between loses
nothing. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tpuctl.domain.times import shown_time as format_time

if TYPE_CHECKING:                # the protocol's package imports this module
    from tpuctl.domain.jobs.protocol import ReleaseDone, ReleaseIntent

RELEASE_KINDS = ("intent", "done")


def release_prefix(job: str, attempt: int) -> str:
    return f"jobs/{job}/a{attempt}/release/"


def release_key(job: str, attempt: int, kind: str) -> str:
    return f"{release_prefix(job, attempt)}{kind}.json"


def release_reason(job: str, state: str) -> str:
    return f"released: job {job} ended ({state})"


@dataclass(frozen=True)
class Release:
    """The release of one attempt's TPU: asked for, and (once `time` is set) confirmed."""

    reason: str
    asked_by: str
    asked: datetime
    by: str | None = None            # who deleted it: the member whose tpuctl (or agent) asked Cloud TPU
    via: str | None = None           # how: "its agent", "run --follow", "cancel", "jobs resume", ...
    time: datetime | None = None     # when Cloud TPU accepted the delete (or found it gone)
    deleted: bool = False            # its node.deleted closed the TPU's billing (False: already deleted and recorded)
    event_id: str | None = None      # the ledger's node.deleted event

    @property
    def done(self) -> bool:
        return self.time is not None

    @classmethod
    def from_records(cls, intent: ReleaseIntent | None, done: ReleaseDone | None) -> Release | None:
        """The release its two store objects (tpuctl/domain/jobs/protocol.py) describe."""
        if intent is None:
            return None
        if done is None:
            return cls(intent.reason, intent.by, intent.time)
        return cls(intent.reason, intent.by, intent.time, done.by, done.via, done.time, done.deleted,
                   (done.event or {}).get("id"))

    def to_json(self) -> dict[str, Any]:
        """Its part of the job's `--json` (documented in the README)."""
        return {"reason": self.reason, "asked_by": self.asked_by, "asked": format_time(self.asked),
                "released": format_time(self.time) if self.time else None, "released_by": self.by, "via": self.via,
                "deleted": self.deleted, "event_id": self.event_id}

    def describe(self) -> str:
        """One line for `tpuctl job`."""
        if not self.done:
            return f"pending since {format_time(self.asked)} (asked by {self.asked_by}; {self.reason})"
        what = "deleted" if self.deleted else "found already gone"
        return f"{what} at {format_time(self.time)} by {self.by} ({self.via}); {self.reason}"
