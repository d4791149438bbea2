"""The ledger, as every use case reaches it: `Books` (record, observe, admit, price, report,
verify). Syncing with the group store: tpuctl/services/sync.py.

Books holds the group store, the ledger database, a clock, the price table and the acting
member, so the CLI wires real ones and tests wire temp ones. The store is written first: an
event that reached the store is never lost, and a database that missed it catches up at the
next sync.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Protocol

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore, ObjectExists
from tpuctl.domain.budgets import (
    Admission, Budget, Override, RequestRefused, Standing, UsageRequest, admit_request,
)
from tpuctl.domain.clock import Clock
from tpuctl.domain.events import (
    EVENTS_PREFIX, NODE_DELETED, OVERRIDE_GRANTED, UNATTRIBUTED, Event, event_key, key_event_id, new_event,
)
from tpuctl.domain.intervals import NodeState, UsageInterval
from tpuctl.domain.listing import Listing, unreachable_zones
from tpuctl.domain.metering import (
    Amount, PriceKey, check_month, committed_usage, cost, hourly_price, info_subject, merge, month_bounds, month_of,
    observe, observe_queued, price_usage, queued_info_subject,
)
from tpuctl.domain.nodes import NodeInfo
from tpuctl.domain.own_events import check_own_event, stored_as_ours
from tpuctl.domain.prices import NO_PRICE_HINT, NO_PRICE_HINT_FOR_TREASURERS, PriceTable, Pricing, pricing_for
from tpuctl.domain.queued import QueuedInfo
from tpuctl.errors import ConfigError, UnavailableError
from tpuctl.services.admission import admit_logged
from tpuctl.services.genesis import check_own_key, sign_event, uncounted
from tpuctl.services.grants import by_subject, covered_pieces, month_with_grant, request_fit
from tpuctl.services.outbox import KEPT_NOTICE, STORE_NEEDED, keep, keep_cancel
from tpuctl.services.sync import SYNC_BATCH, _ingest_keys, sync_from_store


class Lister(Protocol):
    """What observation needs from the Cloud TPU adapter (tpuctl/adapters/tpu.py): listings
    that name the locations they could not reach."""

    def list_nodes(self, zone: str | None = None) -> Listing[NodeInfo]: ...
    def list_queued_resources(self, zone: str | None = None) -> Listing[QueuedInfo]: ...


class Books:
    """The ledger as every use case reaches it: admit a request against the budgets, record
    what tpuctl does and what changed without it, price, report a month, verify. Synced from
    the store once per command, so admission sees every member's latest events. `table` may be
    None for a use case that prices nothing (a treasurer's decision, a seal)."""

    def __init__(self, store: GroupStore, db: LedgerDB, clock: Clock, table: PriceTable | None, actor: str,
                 lister: Callable[[], Lister] | None = None, notify: Callable[[str], None] | None = None):
        self.store, self.db, self.clock, self.table, self.actor = store, db, clock, table, actor
        self.lister = lister        # the Cloud TPU adapter, made only when a refusal needs a fresh look
        self.notify = notify        # told once when events go to the outbox
        self._synced = False
        self._offline_ok = self._away = False    # may act without the store; the store was away
        self.kept = 0               # events kept in the outbox by this command
        self._view = threading.Lock()   # one SQLite connection: writers in threads (the reaper) take turns

    def allow_offline(self) -> Books:
        """This command stops spending: with the store away it acts, its events wait in the outbox."""
        self._offline_ok = True
        return self

    def sync(self) -> Books:
        if not self._synced:
            try:
                sync_from_store(self.store, self.db)
            except UnavailableError as exc:
                if not self._offline_ok:
                    exc.hint = STORE_NEEDED
                    raise
                self._away = True       # acting on the local view; events go to the outbox
            self._synced = True
        return self

    # --- prices and admission -----------------------------------------------------------------

    def pricing(self) -> Pricing:
        return pricing_for(self.sync().db.rules(), self.table)

    def price_per_hour(self, zone: str, accelerator_type: str, spot: bool, chips: int | None = None) -> Decimal:
        """What a TPU (or all `chips` of a request) costs per hour, with the group's overrides."""
        try:
            return hourly_price(self.pricing(), zone, accelerator_type, spot, chips)
        except ConfigError as exc:
            raise self._to_treasurer(exc)

    def _to_treasurer(self, exc: ConfigError) -> ConfigError:
        """A treasurer refused for want of a price is told what they can do, not to ask a treasurer."""
        if exc.hint == NO_PRICE_HINT and self.db.rules().is_treasurer(self.actor):
            exc.hint = NO_PRICE_HINT_FOR_TREASURERS
        return exc

    def admit(self, request: UsageRequest, override_reason: str | None = None) -> Admission:
        """Admit a create/queue/run request against this month's budgets, or raise RequestRefused
        with the numbers; a treasurer's override is recorded with its reason. Before refusing on
        committed spend, look at the project as `sync` does: a node preempted or deleted since the
        last sync no longer holds its lease. In a signed group, someone whose key the group does
        not know is refused first: nothing they recorded would count."""
        self.sync()
        check_own_key(self.db.rules(), self.actor)
        try:
            try:
                return self._admission(request, override_reason)
            except RequestRefused as refused:
                stale = any(standing.committed.chip_seconds for standing in refused.admission.over)
                if self.lister is None or not stale or not self.observe(self.lister()):
                    raise
            return self._admission(request, override_reason)
        except ConfigError as exc:
            raise self._to_treasurer(exc)
        except RequestRefused as refused:
            if override_reason is None and self.db.rules().is_treasurer(self.actor):
                refused.hint = (f"You are a treasurer: raise the budget (`tpuctl budget set --member "
                                f"{request.member} AMOUNT`) or pass --override \"reason\".")
            raise

    def _admission(self, request: UsageRequest, override_reason: str | None) -> Admission:
        """Committed and requested usage count against the current month in full. The decision
        is written to the month's admission log, so members asking at once cannot all be admitted."""
        db, now = self.db, self.clock.now()
        month = month_of(now)
        rules, open_nodes = db.rules(), db.open_nodes()
        override = Override(self.actor, override_reason) if override_reason else None
        spent, committed = month_with_grant(db, rules, month, now, committed_usage(open_nodes, db.waiting_queued(), now),
                                            open_nodes)
        grant_fit, requested = request_fit(rules, pricing_for(rules, self.table), request, open_nodes, now)

        def decide(pending: Mapping[str, Counter]) -> Admission:     # pending: admitted, not in the ledger yet
            return admit_request(request, month=month, spent=spent, committed=merge(committed, pending), rules=rules,
                                 pricing=pricing_for(rules, self.table), override=override, requested=requested)

        result = replace(admit_logged(self.store, db, self.clock, request, self.actor, decide), grant=grant_fit)
        if result.overridden_by:
            self._write(new_event(OVERRIDE_GRANTED, self.actor, {
                "member": request.member, "request_id": result.request_id, "reason": override_reason,
                "requested": str(result.member.requested.money),
                "left": {s.who: str(s.left) for s in result.over}}, self.clock.now()))
        return result

    # --- recording ------------------------------------------------------------------------------

    def record(self, kind: str, payload: Mapping[str, Any], time: datetime | None = None,
               keep_if_away: bool = False) -> Event | None:
        """Write an event of tpuctl's own doing (store first, then the local view); with the store
        away and offline allowed (or `keep_if_away`), keep it in the outbox (None), saying so once."""
        if not self._away:
            try:
                return self._write(new_event(kind, self.actor, payload, self.clock.now(), time=time))
            except UnavailableError:
                if not (self._offline_ok or keep_if_away):
                    raise
                self._away = True
        with self._view:
            keep(self.db, self.clock, self.actor, kind, payload, time or self.clock.now())
            self._kept_one()
        return None

    def keep_cancel(self, job: str, data: bytes) -> None:
        """A job's cancel (not an event) for the store once it is back."""
        with self._view:
            keep_cancel(self.db, self.clock, job, data, self.actor)
            self._kept_one()

    def _kept_one(self) -> None:
        self.kept += 1
        if self.kept == 1 and self.notify:
            self.notify(KEPT_NOTICE)

    def record_event(self, event: Event) -> Event:
        """Write an event already made (its id and times kept): store first, then the local view."""
        return self._write(event)

    def _write(self, event: Event) -> Event:
        """Write the event to the group store (create-only), then into the local view. An event
        already there with the same bytes is ours (a retried write whose first reply was lost).
        It is signed with the actor's key on this machine first. Threads may write at once: the
        store's writes overlap, the view's are taken in turn."""
        with self._view:
            event = sign_event(event, self.db)
        data = event.to_json()
        check_own_event(event)
        try:
            self.store.create(event.key, data)
        except ObjectExists:
            ours = stored_as_ours(event, self.store.read(event.key))
            if ours is None:
                raise
            event = ours
        with self._view:
            self.db.ingest([event])
        return event

    # --- observing --------------------------------------------------------------------------------

    def observe(self, api: Lister | None = None) -> list[Event]:
        """`tpuctl sync`: read the store again, list every node and queued resource in every zone
        (through `api`, by default the lister) and record what changed without tpuctl. Zones the
        API could not reach are left as they were."""
        sync_from_store(self.store, self.db)
        api = api or self.lister()
        return self.observe_listed(api.list_nodes(zone=None), api.list_queued_resources(zone=None))

    def observe_listed(self, nodes: Listing[NodeInfo], queued: Listing[QueuedInfo]) -> list[Event]:
        """Record what changed without tpuctl, from listings already made (the zones they did not
        reach are left as they were)."""
        db, now, actor = self.db, self.clock.now(), self.actor
        lost = unreachable_zones(nodes, queued)
        known = {state.subject: state for state in db.open_nodes()}
        for state in db.node_states(info_subject(info) for info in nodes):
            known.setdefault(state.subject, state)
        waiting = {request.subject: request for request in db.waiting_queued()}
        for request in db.queued_requests(queued_info_subject(info) for info in queued):
            waiting.setdefault(request.subject, request)
        events = (observe(nodes, known.values(), now, actor, unreachable_zones=lost)
                  + observe_queued(queued, waiting.values(), now, actor, unreachable_zones=lost))
        if any(event.kind == NODE_DELETED for event in events):
            from tpuctl.services.disputes import settle_unlisted

            events = settle_unlisted(self.store, db, events, nodes, actor, now)
        for event in events:
            self._write(event)
        return events

    def observe_nodes(self, nodes: list[NodeInfo]) -> list[Event]:
        """Record these nodes as the API shows them, as a sync would: one never synced is recorded
        from its createTime before tpuctl stops or deletes it, so its usage so far is kept."""
        self.sync()
        events = observe(nodes, self.db.node_states(info_subject(node) for node in nodes), self.clock.now(), self.actor)
        for event in events:
            self.record(event.kind, event.payload, event.time)
        return events

    # --- reading ------------------------------------------------------------------------------------

    def month(self, month: str | None = None, member: str | None = None) -> MonthReport:
        """`budget show` (every member) and `spend` (one member, with each node and its cost), from
        the local view as it is. Committed usage is shown for the current month only."""
        return _month_report(self.db, self.clock, self.table, month, member)

    def cost_of(self, places: Iterable[tuple[str, str]]) -> Amount:
        """What the nodes named (zone, node) have cost so far, in every month and incarnation,
        running ones up to now (a job's TPUs: `tpuctl job`)."""
        now, usage = self.clock.now(), Counter()
        for zone, node in set(places):
            intervals, states = self.db.place_history(zone, node)
            for interval in intervals + [i for state in states if (i := state.open_interval(now))]:
                usage[PriceKey.of(interval.spec)] += interval.chip_seconds
        return price_usage(usage, pricing_for(self.db.rules(), self.table))

    def verify(self) -> list[Problem]:
        """`ledger verify`: read every event key in the store (ingesting any the database missed)
        and report corrupt objects, unusable events and treasurer-only events from non-treasurers."""
        return _verify(self.store, self.db)


# --- reports --------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeSpend:
    subject: str
    node: str
    zone: str
    accelerator_type: str
    spot: bool
    status: str            # created | ready | stopped | preempted | deleted
    seconds: int
    spent: Amount


@dataclass(frozen=True)
class MemberSpend:
    standing: Standing     # spent, committed, budget, left
    nodes: tuple[NodeSpend, ...] = ()

    @property
    def member(self) -> str:
        return self.standing.who


@dataclass(frozen=True)
class MonthReport:
    """A month's standings, the group's and each member's, as `budget show` and `spend` show them."""

    month: str
    currency: str
    as_of: datetime
    treasurers: tuple[str, ...]
    group: Standing
    members: tuple[MemberSpend, ...]
    budgets: tuple[Budget, ...]

    @property
    def unattributed(self) -> Amount:
        return next((m.standing.spent for m in self.members if m.member == UNATTRIBUTED), Amount())


def _total(usage: Mapping[str, Counter]) -> Counter:
    return sum(usage.values(), Counter())


def _node_spend(intervals: list[UsageInterval], states: Mapping[str, NodeState], pricing: Pricing,
                covered: Mapping[str, int] | None = None) -> list[NodeSpend]:
    """One row per node: its intervals' time and cost (none yet for a node in `states` that
    has not accrued this month, e.g. one created a moment ago or stopped all month)."""
    by_subject: dict[str, list[UsageInterval]] = {subject: [] for subject in states}
    for interval in intervals:
        by_subject.setdefault(interval.subject, []).append(interval)
    rows = []
    for subject, parts in sorted(by_subject.items()):
        state = states.get(subject)
        spec = parts[-1].spec if parts else state.spec
        rate = pricing.price_for(spec.generation, spec.zone, spec.spot, spec.accelerator_type)
        chip_seconds = sum(p.chip_seconds for p in parts)
        rows.append(NodeSpend(subject, spec.node, spec.zone, spec.accelerator_type, spec.spot,
                              state.status if state else "deleted", sum(p.seconds for p in parts),
                              Amount(cost(chip_seconds - (covered or {}).get(subject, 0), rate), chip_seconds)))
    return rows


def _month_report(db: LedgerDB, clock: Clock, table: PriceTable, month: str | None,
                  member: str | None) -> MonthReport:
    now = clock.now()
    month = check_month(month) if month else month_of(now)
    start, end = month_bounds(month)
    rules = db.rules()
    pricing = pricing_for(rules, table)
    current = start <= now < end
    open_nodes = db.open_nodes()
    spent, committed = month_with_grant(db, rules, month, now,
                                        committed_usage(open_nodes, db.waiting_queued(), now) if current else {},
                                        open_nodes)
    running = {state.spec.owner for state in open_nodes} if current else set()     # even before a second accrues
    budgeted = {b.member for b in rules.budgets.values() if b.scope == "member" and b.month in (month, "default")}
    names = sorted(({member} if member else set(rules.members) | budgeted | set(spent) | set(committed) | running)
                   - {None})
    open_states = {state.subject: state for state in open_nodes if state.spec.owner == member}
    members = []
    for name in names:
        nodes: tuple[NodeSpend, ...] = ()
        if member:
            running = [i.clipped(start, end) for s in open_states.values() if (i := s.open_interval(min(now, end)))]
            intervals = db.intervals(month, name) + [i for i in running if i is not None]
            subjects = {i.subject for i in intervals} | (set(open_states) if current else set())
            states = {s.subject: s for s in db.node_states(subjects)}
            covered = by_subject(covered_pieces(db, rules, start, end, now)) if rules.trc_grants else {}
            nodes = tuple(_node_spend(intervals, states, pricing, covered))
        standing = Standing(name, rules.budget_for(month, name), price_usage(spent.get(name, Counter()), pricing),
                            price_usage(committed.get(name, Counter()), pricing), Amount())
        members.append(MemberSpend(standing, nodes))
    group = Standing("group", rules.budget_for(month), price_usage(_total(spent), pricing),
                     price_usage(_total(committed), pricing), Amount())
    return MonthReport(month, pricing.currency, now, tuple(sorted(rules.treasurers)), group, tuple(members),
                       tuple(sorted(rules.budgets.values(), key=lambda b: (b.scope, b.member or "", b.month))))


# --- verification ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    message: str
    key: str | None = None
    event_id: str | None = None


def _verify(store: GroupStore, db: LedgerDB) -> list[Problem]:
    keys = list(store.list(EVENTS_PREFIX))
    for start in range(0, len(keys), SYNC_BATCH):
        _ingest_keys(store, db, keys[start:start + SYNC_BATCH], store.parallel_reads)
    problems = [Problem(reason, key=key, event_id=key_event_id(key)) for key, reason in db.bad_objects()]
    stored = {key_event_id(key) for key in keys}
    for event_id in sorted(db.event_ids() - stored):
        problems.append(Problem(f"Event {event_id} is in the local database but not in the group store.",
                                event_key(event_id), event_id))
    for ignored in db.rules().ignored:
        problems.append(Problem(f"Ignored {ignored.kind} event {ignored.event_id} by {ignored.actor}: "
                                f"{ignored.reason}.", None if ignored.event_id == _genesis_id(db) else
                                event_key(ignored.event_id), ignored.event_id))
    return problems + uncounted(store, db)


def _genesis_id(db: LedgerDB) -> str | None:
    genesis = db.genesis()
    return genesis.id if genesis else None
