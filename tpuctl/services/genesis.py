"""The group's genesis and the signing of what tpuctl records.

The genesis is one create-only object at a fixed name, `ledger/genesis.json`: a signed
group.initialized event naming the first treasurers and their keys. Its id is the group's
id, which every later event carries under its signature. Whoever creates it first started
the group; a backdated group.initialized written anywhere else never competes with it.

A genesis may keep history recorded before it (`group seal`, or `group init` in a store
members already used): it states the digest of a create-only statement listing each kept
event's id and the sha256 of its bytes. A view that finds a genesis after reading events
without one reads the ledger again, judged by it.
"""

from __future__ import annotations

from tpuctl.adapters import keys
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore, ObjectNotFound
from tpuctl.domain.budgets import GroupRules
from tpuctl.domain.events import EVENTS_PREFIX, GENESIS_KEY, GROUP_INITIALIZED, Event, EventFormatError
from tpuctl.domain.trust import short_key
from tpuctl.errors import PermissionDeniedError

SEALED_PREFIX = "ledger/sealed/"      # `group seal`'s statement: one "<id> <sha256 of its bytes>" line per event


def sealed_key(statement_digest: str) -> str:
    """Where a seal's statement lives: named by its own digest, which the genesis states."""
    return f"{SEALED_PREFIX}{statement_digest}.txt"


# A legacy group (events, but no genesis) is looked at again only when new events arrived
# since the last look, so a sync with nothing new still costs two listings; sealing a group
# must therefore also write an event. An empty store is looked at every time (`group init`).
NO_GENESIS_NOTE = "no_genesis_through"


def note_no_genesis(db: LedgerDB) -> None:
    """After a sync of a group without genesis: remember how far that was known to hold."""
    if db.genesis() is None:
        db.set_note(NO_GENESIS_NOTE, _progress(db))


def _progress(db: LedgerDB) -> str:
    """How far the view has read the ledger: its events cursor and its sealed segments."""
    horizon = db.segment_horizon()
    return f"{db.cursor(EVENTS_PREFIX) or ''}|{horizon.isoformat() if horizon else ''}"


def sync_genesis(store: GroupStore, db: LedgerDB, may_skip: bool = False) -> Event | None:
    """The group's genesis, read once from the store (it can never change); None for a group
    started before signatures and not sealed yet."""
    known = db.genesis()
    if known is not None:
        return known
    progress = _progress(db)
    if may_skip and progress != "|" and db.note(NO_GENESIS_NOTE) == progress:
        return None             # a legacy group: looked at the end of the last sync, and no event came since
    try:
        data = store.read(GENESIS_KEY)
    except ObjectNotFound:
        return None
    genesis = parse_genesis(data)
    statement = b""
    if genesis.payload.get("sealed"):
        try:
            statement = store.read(sealed_key(genesis.payload["sealed"]["digest"]))
        except ObjectNotFound:
            statement = b""
    if db.event_count():
        db.reset()              # what this view read was judged without the genesis: read it again by it
    db.set_genesis(genesis.to_json(), sealed_ids(genesis, statement))
    return db.genesis()


def parse_genesis(data: bytes) -> Event:
    genesis = Event.from_json(data, origin=GENESIS_KEY)
    if genesis.kind != GROUP_INITIALIZED or genesis.group != genesis.id or genesis.sig is None:
        raise EventFormatError(f"{GENESIS_KEY} is not a signed group.initialized event naming itself as the group.",
                               hint="A group's genesis cannot be replaced: start a new group store.")
    return genesis


def sealed_ids(genesis: Event, statement: bytes) -> list[tuple[str, str]]:
    """(id, sha256 hex) of the events a seal kept, if `statement` is the one the genesis
    states (else none: a missing or changed statement keeps nothing unsigned)."""
    from tpuctl.domain.signing import digest

    stated = genesis.payload.get("sealed")
    if not stated or digest(statement).hex() != stated["digest"]:
        return []
    kept = [tuple(line.split(" ")) for line in statement.decode().splitlines()]
    if len(kept) != stated["events"] or any(len(pair) != 2 for pair in kept):
        return []
    return kept


def statement_of(history: list[tuple[str, str]]) -> bytes:
    """The seal's statement: one line per event, "<id> <sha256 hex of its bytes>"."""
    return "".join(f"{event_id} {held}\n" for event_id, held in history).encode()


def write_statement(store: GroupStore, db: LedgerDB) -> dict | None:
    """Store (create-only, named by its digest) the statement of every event this view holds,
    for a genesis to keep them; None when there is nothing to keep."""
    from hashlib import sha256

    from tpuctl.adapters.store import ObjectExists
    from tpuctl.adapters.trust_db import history

    kept = history(db.conn)
    if not kept:
        return None
    statement = statement_of(kept)
    stated_digest = sha256(statement).hexdigest()
    try:
        store.create(sealed_key(stated_digest), statement)
    except ObjectExists:
        if store.read(sealed_key(stated_digest)) != statement:
            raise
    return {"events": len(kept), "digest": stated_digest, "last": kept[-1][0]}


def uncounted(store: GroupStore, db: LedgerDB) -> list:
    """`ledger verify`'s word on signatures: usage events that do not count, each with its key
    and why, and a genesis object that is no longer the one this view started from."""
    from tpuctl.domain.events import event_key
    from tpuctl.services.ledger import Problem

    problems = [Problem(f"{event_key(event_id)}: {kind} by {actor} does not count: {reason}.", event_key(event_id),
                        event_id) for event_id, actor, kind, reason in db.rejected.reasons()]
    known = db.genesis()
    if known is not None:
        try:
            stored = store.read(GENESIS_KEY)
        except ObjectNotFound:
            stored = None
        if stored != known.to_json():
            problems.append(Problem(f"{GENESIS_KEY} is not the genesis this view started from ({known.id}): "
                                    "someone replaced or deleted it.", GENESIS_KEY, known.id))
    return problems


def sign_event(event: Event, db: LedgerDB) -> Event:
    """The event signed with its actor's key on this machine, for this group."""
    if event.sig is not None:
        return event
    genesis = db.genesis()
    return event.signed(keys.signing_key(event.actor), genesis.id if genesis else None)


def check_own_key(rules: GroupRules, actor: str) -> None:
    """In a signed group, refuse up front what every terminal would ignore: events signed
    with a key the group does not know for `actor`."""
    if not rules.trust.signed:
        return
    known, mine = rules.key_of(actor), keys.signing_key(actor).public
    a_treasurer = "another treasurer" if rules.is_treasurer(actor) else "a treasurer"     # never yourself
    if known is None:
        raise PermissionDeniedError(
            f"The group knows no key for {actor}, so nothing {actor} records would count.",
            hint=f"{a_treasurer.capitalize()} adds it: `tpuctl group add {actor} --key {mine}` "
                 "(`tpuctl whoami` prints it).")
    if known != mine:
        raise PermissionDeniedError(
            f"Your key on this machine ({short_key(mine)}) is not the one the group knows for {actor} "
            f"({short_key(known)}), so nothing you record would count.",
            hint=f"Use the machine that holds {actor}'s key, or ask {a_treasurer}: "
                 f"`tpuctl group rekey {actor} --key {mine}`.")
