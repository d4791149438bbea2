"""Which events count: the group's keys over time, and the checks every event must pass.

Anyone who can write to the group store can write any object, so an event's `actor` is only
a claim. Once a group has a genesis (`ledger/genesis.json`, one create-only object), an
event counts only if:

- it carries this group's id (so an event copied from another group does not count);
- its signature verifies with the key the signed history gave its actor at the moment the
  event was recorded (the time in its id, which the signature covers with the rest);
- a treasurer decision is signed by someone who was a treasurer then;
- an event that adds spending to another member's bill (a TPU made, readied or started, a
  request queued, by tpuctl for someone else) is signed by a treasurer acting for them.
  Observations (`source: observed`, what `sync` saw Cloud TPU list) name the owner the
  node's labels name; they are checked against the next listing instead.

A group without a genesis is a legacy group: its unsigned history counts as before. After
`group seal`, only the events the seal lists (by id and the sha256 of their bytes) still count
unsigned; one changed since does not.

A TPU claimed for a member (`tpuctl claim`) is a treasurer's decision. An observation that a
later sync found no trace of in Cloud TPU's listing is withdrawn by that sync's dispute.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping

from tpuctl.domain.events import (
    GROUP_INITIALIZED, KEY_ROTATED, MEMBER_ADDED, NODE_CLAIMED, NODE_CREATED, NODE_KINDS, NODE_READY, NODE_STARTED,
    QUEUED_CREATED, QUEUED_KINDS, REAP_KINDS, TREASURER_ADDED, UNATTRIBUTED, Event, id_time,
)
from tpuctl.domain.signing import digest

# Events that put spending on their owner's bill: only the owner or a treasurer may write them.
SPENDING_KINDS = frozenset({NODE_CREATED, NODE_READY, NODE_STARTED, QUEUED_CREATED})

Holds = Callable[[Event, str], bool]          # does `event`'s signature verify with this public key?


@dataclass(frozen=True)
class Standing:
    """A member's key and role from a moment on (key None: removed from the group)."""

    since: datetime
    key: str | None
    treasurer: bool


@dataclass
class Roster:
    """Every member's standings in the order the signed history gave them."""

    history: dict[str, list[Standing]] = field(default_factory=dict)

    def at(self, member: str, when: datetime) -> Standing | None:
        found = self.history.get(member)
        if not found:
            return None
        if len(found) == 1:                  # most members: one key for the whole history
            return found[0] if found[0].since <= when else None
        index = bisect_right([s.since for s in found], when)
        return found[index - 1] if index else None

    def now(self, member: str) -> Standing | None:
        found = self.history.get(member)
        return found[-1] if found else None

    def give(self, member: str, since: datetime, key: str | None = ..., treasurer: bool | None = None) -> None:
        """From `since` on, `member` has `key` (unchanged if not given) and role."""
        current = self.now(member)
        new_key = (current.key if current else None) if key is ... else key
        role = (current.treasurer if current else False) if treasurer is None else treasurer
        entries = self.history.setdefault(member, [])
        while entries and entries[-1].since > since:       # replay is in time order; ties keep the latest
            entries.pop()
        entries.append(Standing(since, new_key, role))

    def keys(self) -> dict[str, str]:
        """Each member's current key (members without one left out)."""
        return {m: s[-1].key for m, s in self.history.items() if s and s[-1].key}


@dataclass(frozen=True)
class Trust:
    """What judging an event needs: the group id (None: a legacy group) and the roster."""

    group_id: str | None = None
    roster: Roster = field(default_factory=Roster)
    sealed: Mapping[str, str] = field(default_factory=dict)     # id -> sha256 hex of the bytes a seal kept
    disputed: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> (zone, node, why), by sync

    @property
    def signed(self) -> bool:
        return self.group_id is not None

    def is_sealed(self, event: Event) -> bool:
        """Kept by the group's seal, byte for byte: it counts as it did before signatures."""
        kept = self.sealed.get(event.id)
        return kept is not None and kept == digest(event.to_json()).hex()

    def signature_problem(self, event: Event, holds: Holds, recorded: datetime | None = None) -> str | None:
        """Why `event` is not signed by its actor for this group (None: it is)."""
        if not self.signed:
            return None
        if event.id in self.sealed:
            return None if self.is_sealed(event) else "it was changed after the group's history was sealed"
        if event.sig is None:
            return "it is not signed (the group's history is signed since its genesis)"
        if event.group != self.group_id:
            return f"it belongs to another group ({event.group or 'none'}), not this one ({self.group_id})"
        standing = self.roster.at(event.actor, recorded or id_time(event.id))
        if standing is None or standing.key is None:
            return f"{event.actor} had no key in this group when it was recorded"
        if not holds(event, standing.key):
            return f"its signature does not match {event.actor}'s key {short_key(standing.key)}"
        return None

    def is_treasurer(self, member: str, when: datetime) -> bool:
        standing = self.roster.at(member, when)
        return bool(standing and standing.treasurer and standing.key)

    def usage_problem(self, event: Event, holds: Holds) -> str | None:
        """Why a node, queued-request or reaper event does not count (None: it does)."""
        recorded = id_time(event.id)
        problem = self.signature_problem(event, holds, recorded) or (self.disputed and self.dispute_of(event))
        if problem or not self.signed or event.id in self.sealed:
            return problem or None
        payload = event.payload if type(event.payload) is dict else {}     # checked by the schema on its way in
        owner, source = payload.get("owner"), payload.get("source", "tpuctl")
        if event.kind == NODE_CLAIMED and not self.is_treasurer(event.actor, recorded):
            return f"{event.actor} is not a treasurer, so cannot claim a TPU for {owner}"
        if (event.kind in SPENDING_KINDS and source == "tpuctl" and owner != event.actor
                and not self.is_treasurer(event.actor, recorded)):
            whose = "an unattributed TPU" if owner == UNATTRIBUTED else f"{owner}'s bill"
            return f"{event.actor} is not a treasurer, so cannot put usage on {whose}"
        return None

    def dispute_of(self, event: Event) -> str | None:
        """Why a sync withdrew this observation (only what `sync` observed can be withdrawn)."""
        found = self.disputed.get(event.id)
        if found is None or not isinstance(event.payload, Mapping) or event.payload.get("source") != "observed":
            return None
        zone, node, why = found
        return why if (event.payload.get("zone"), event.payload.get("node")) == (zone, node) else None


def short_key(key: str) -> str:
    """A key as people compare it by eye: ed25519:AbCdEfGh..."""
    return key[:16] + "..."


def keys_named(event: Event) -> list[tuple[str, str]]:
    """The (member, public key) pairs a control event names, whoever wrote it (whether they
    count is the roster's business: tpuctl/domain/budgets.py)."""
    payload = event.payload if type(event.payload) is dict else {}
    if event.kind == GROUP_INITIALIZED:
        return [(m, k) for m, k in (payload.get("keys") or {}).items() if isinstance(k, str)]
    if event.kind in (MEMBER_ADDED, TREASURER_ADDED, KEY_ROTATED) and isinstance(payload.get("key"), str):
        return [(payload["member"], payload["key"])]
    return []


def is_judged(event: Event) -> bool:
    """Usage events, and the reaper's records (what members are told it did to their TPUs):
    each counts only as its actor's, signed."""
    return event.kind in NODE_KINDS or event.kind in QUEUED_KINDS or event.kind in REAP_KINDS
