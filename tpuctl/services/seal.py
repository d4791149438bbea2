"""`tpuctl group seal`: a group started before signatures keeps its history and signs from now on.

The treasurer's terminal states the unsigned history it has read (every event's id and the
sha256 of its bytes) in one create-only object named by its own digest, then writes the
group's genesis (create-only, at the fixed name) stating that digest, signed with the
treasurer's key. From then on an unsigned event counts only if the statement lists it with
the same bytes: one written or edited by hand later is set aside and named by `ledger verify`.
A `group.sealed` event follows, so every member's view, which looks for a genesis only when
something new arrives, reads the ledger again by it at its next sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.domain.clock import Clock
from tpuctl.domain.events import GROUP_SEALED, Event
from tpuctl.errors import ConflictError, NotFoundError, PermissionDeniedError
from tpuctl.services.genesis import sealed_key, write_statement
from tpuctl.services.group import write_genesis
from tpuctl.services.ledger import Books
from tpuctl.services.sync import sync_from_store


@dataclass(frozen=True)
class Sealed:
    genesis: Event
    events: int            # unsigned events the seal keeps
    key: str               # where its statement is


def seal_group(store: GroupStore, db: LedgerDB, clock: Clock, actor: str) -> Sealed:
    """Seal a legacy group's history up to now (its treasurers only)."""
    sync_from_store(store, db)
    genesis = db.genesis()
    if genesis is not None:
        raise ConflictError(f"The group's history is already signed, since its genesis by {genesis.actor} on "
                            f"{genesis.time:%Y-%m-%d}, so there is nothing to seal.")
    rules = db.rules()
    if rules.currency is None:
        raise NotFoundError("There is no group to seal in this store.",
                            hint="A treasurer starts a signed group with `tpuctl group init --treasurer NAME`.")
    if not rules.is_treasurer(actor):
        raise PermissionDeniedError(f"{actor} is not a treasurer of this group, so cannot seal its history.",
                                    hint="Ask a treasurer; `tpuctl group show` lists them.")
    stated = write_statement(store, db) or {"events": 0, "digest": sha256(b"").hexdigest(), "last": None}
    genesis = write_genesis(store, db, clock, actor, {"treasurers": sorted(rules.treasurers),
                                                      "currency": rules.currency, "sealed": stated})
    sync_from_store(store, db)          # the view, read again by the genesis
    Books(store, db, clock, None, actor).record(GROUP_SEALED, stated)
    return Sealed(genesis, stated["events"], sealed_key(stated["digest"]))


def seal(ctx) -> Sealed:
    """`tpuctl group seal` as the session's member."""
    return seal_group(ctx.store, ctx.ledger, ctx.clock, ctx.profile.member)
