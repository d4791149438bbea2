"""`tpuctl reap`: gather what the planner needs, then carry its actions out, safely.

One reaper at a time (a lease lock in the group store). Every node and queued request of the
project is listed once (`locations/-`); a zone the API could not reach gets no action. The
planner (domain/reaping.py) decides; over the cap nothing is done. Each action re-reads its
TPU, plans again from that fresh read and acts only if the same act is still asked for, so a
second run after a crash finds done work done. Actions run in parallel; each is idempotent (a
404 on delete is success) and leaves a ledger event with its reason, signed like any member's.
A run ends by sealing old events into segments (tpuctl/services/segments.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from tpuctl.adapters.store import ObjectNotFound
from tpuctl.adapters.tpu import TpuApi
from tpuctl.domain.activity import BadBeat, NodeActivity, node_activity, parse_beat
from tpuctl.domain.events import (
    NODE_DELETED, NODE_STOPPED, QUEUED_DELETED, REAP_ACTED, REAP_RAN, REAP_WARNED,
)
from tpuctl.domain.jobs import node_prefix
from tpuctl.domain.listing import unreachable_zones
from tpuctl.domain.metering import queued_info_payload
from tpuctl.domain.nodes import JOB_LABEL, NodeInfo
from tpuctl.domain.queued import QueuedInfo
from tpuctl.domain.reaping import Action, ReapPolicy, capped, plan, still_holds, warning_for, warning_labels
from tpuctl.domain.times import format_time
from tpuctl.errors import NotFoundError, TpuctlError, UnavailableError
from tpuctl.services.genesis import check_own_key
from tpuctl.services.ledger import Books
from tpuctl.services.nodes import deleted_payload, info_payload
from tpuctl.services.reap_lock import DEFAULT_EVERY, Holder, ReaperLock, record_last_run

DEFAULT_MAX_ACTIONS = 20
WORKERS = 32            # actions at once: each is a few API round trips, mostly waiting


@dataclass(frozen=True)
class Outcome:
    action: Action
    status: str             # done | gone (already so: nothing to do) | skipped (no longer holds) | failed
    detail: str = ""
    code: int = 0           # a failure's exit code (tpuctl/errors.py)


@dataclass
class ReapResult:
    run: str
    at: datetime
    dry_run: bool
    max_actions: int
    planned: list[Action] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    capped: bool = False
    held_by: Holder | None = None
    sealed: Sealing | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


@dataclass(frozen=True)
class Sealing:
    """What a run sealed into segments (as `tpuctl ledger compact` does), or why it could not."""

    events: int = 0
    segments: int = 0
    problem: str | None = None


@dataclass(frozen=True)
class Inputs:
    nodes: list[NodeInfo]
    queued: list[QueuedInfo]
    activity: dict[tuple[str, str], NodeActivity]
    standings: Mapping[str, Any]
    unreachable: set[str]
    resumable: set[str]


def reap(api: TpuApi, books: Books, policy: ReapPolicy, *, dry_run: bool = False,
         max_actions: int = DEFAULT_MAX_ACTIONS, every: timedelta = DEFAULT_EVERY,
         workers: int = WORKERS) -> ReapResult:
    """One reaper run (see the module docstring). A second reaper returns at once with `held_by`."""
    lock = ReaperLock(books.store, books.clock, books.actor)
    result = ReapResult(lock.run, books.clock.now(), dry_run, max_actions)
    if not dry_run:
        result.held_by = lock.acquire()
        if result.held_by is not None:
            return result
    try:
        inputs = gather(api, books, policy, record=not dry_run)
        result.unreachable = sorted(inputs.unreachable)
        result.planned = plan_from(inputs, policy, books.clock.now())
        result.capped = capped(result.planned, max_actions)
        if dry_run:
            return result
        if not result.capped:
            result.outcomes = Reaper(api, books, policy, inputs).carry_out(result.planned, workers)
        _record_run(books, result)
        result.sealed = seal(books)
        if not result.capped and not result.failed and not books.kept:    # (kept: the store went away)
            record_last_run(books.store, books.clock.now(), every, result.run)
        return result
    finally:
        try:
            lock.release()
        except UnavailableError:
            pass                    # the store went away mid-run: the lock's lease runs out by itself


def plan_from(inputs: Inputs, policy: ReapPolicy, now: datetime) -> list[Action]:
    return plan(inputs.nodes, inputs.queued, inputs.activity, inputs.standings, policy, now,
                unreachable=inputs.unreachable, resumable=inputs.resumable)


def gather(api: TpuApi, books: Books, policy: ReapPolicy, record: bool = True) -> Inputs:
    """Everything the planner reads: the project's nodes and queued requests (and what a sync
    would record of them), the agents' reports, each member's month, resumable jobs."""
    books.sync()
    if record:              # in a signed group, what it ends must count: refuse a key the group does not know
        check_own_key(books.db.rules(), books.actor)
    nodes = api.list_nodes(None)
    queued = api.list_queued_resources(None)
    lost = unreachable_zones(nodes, queued)
    if record:
        books.observe_listed(nodes, queued)
    now = books.clock.now()
    watched = [n for n in nodes if n.state == "READY" and n.zone not in lost]
    activity = read_activity(books.store, watched, now)
    report = books.month()
    standings = {m.member: m.standing for m in report.members}
    return Inputs(nodes, queued, activity, standings, lost, resumable_jobs(books, nodes, queued))


def read_activity(store, nodes: list[NodeInfo], now: datetime) -> dict[tuple[str, str], NodeActivity]:
    """What each node's agents last said (agents/<zone>/<node>/beat/w<N>.json), read
    `store.parallel_reads` nodes at a time; an unreadable report says nothing."""
    def one(node: NodeInfo) -> tuple[tuple[str, str], NodeActivity]:
        beats = []
        for key in store.list(f"{node_prefix(node.zone, node.name)}beat/"):
            try:
                beat = parse_beat(store.read(key))
            except (BadBeat, ObjectNotFound):
                continue
            if (beat.zone, beat.node) == (node.zone, node.name):
                beats.append(beat)
        return (node.zone, node.name), node_activity(beats, node.workers, now)

    readers = max(1, getattr(store, "parallel_reads", 1))
    if readers == 1 or len(nodes) < 2:
        return dict(map(one, nodes))
    with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="tpuctl-beat") as pool:
        return dict(pool.map(one, nodes))


def resumable_jobs(books: Books, nodes: list[NodeInfo], queued: list[QueuedInfo]) -> set[str]:
    """Jobs on ended TPUs (or failed requests) that asked to resume and are not over."""
    from tpuctl.services.jobs import read_status

    jobs = {n.labels[JOB_LABEL] for n in nodes if n.state in ("PREEMPTED", "TERMINATED") and JOB_LABEL in n.labels}
    jobs |= {q.labels[JOB_LABEL] for q in queued if q.state in ("FAILED", "SUSPENDED") and JOB_LABEL in q.labels}
    found = set()
    for job in jobs:
        try:
            status = read_status(books.store, job, books.clock)
        except TpuctlError:
            continue
        if status.spec.config.resume and not status.final:
            found.add(job)
    return found


class Reaper:
    """Carries out one run's actions: in parallel, each re-checked, each recorded."""

    def __init__(self, api: TpuApi, books: Books, policy: ReapPolicy, inputs: Inputs):
        self.api, self.books, self.policy, self.inputs = api, books, policy, inputs

    def carry_out(self, actions: list[Action], workers: int) -> list[Outcome]:
        parallel = [a for a in actions if a.verb != "resume"]
        outcomes = []
        if parallel:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(parallel))),
                                    thread_name_prefix="tpuctl-reap") as pool:
                outcomes = list(pool.map(self.one, parallel))
        return outcomes + [self.one(a) for a in actions if a.verb == "resume"]   # admission: one at a time

    def one(self, action: Action) -> Outcome:
        try:
            return self._act(action)
        except TpuctlError as exc:
            return Outcome(action, "failed", exc.message, exc.exit_code)

    def _activity(self, node: NodeInfo, now: datetime) -> dict[tuple[str, str], NodeActivity]:
        """What the node's agents say now; with the store gone mid-run, what they said when planned."""
        if node.state != "READY":
            return {}
        try:
            return read_activity(self.books.store, [node], now)
        except UnavailableError:
            key = (node.zone, node.name)
            return {key: self.inputs.activity[key]} if key in self.inputs.activity else {}

    def _act(self, action: Action) -> Outcome:
        if action.verb == "resume":
            return self._resume(action)
        if action.verb == "delete_queued":
            return self._delete_queued(action)
        try:
            node = self.api.get_node(action.zone, action.name)
        except NotFoundError:
            return Outcome(action, "gone", "it no longer exists")
        now = self.books.clock.now()
        fresh = plan([node], [], self._activity(node, now), self.inputs.standings, self.policy, now)
        if not still_holds(action, fresh):
            return Outcome(action, "skipped", f"no longer holds on a fresh look ({node.state})")
        if action.verb == "warn":
            self.api.set_labels(node.zone, node.name, warning_labels(node.labels, warning_for(action)))
            self.record(REAP_WARNED, {"zone": node.zone, "node": node.name, "owner": node.owner, "rule": action.rule,
                                      "then": action.then, "act_at": format_time(action.act_at),
                                      "reason": action.reason})
            return Outcome(action, "done")
        if action.verb == "stop":
            after = self.api.stop_node(node.zone, node.name, wait=True) or node
            self.record(NODE_STOPPED, info_payload(after))
        else:
            try:
                self.api.delete_node(node.zone, node.name, wait=False)
            except NotFoundError:
                pass                                     # deleted meanwhile: what we wanted
            self.record(NODE_DELETED, deleted_payload(node, f"reaper: {action.reason}"[:500]))
        self._acted(action)
        return Outcome(action, "done")

    def _delete_queued(self, action: Action) -> Outcome:
        try:
            request = self.api.get_queued_resource(action.zone, action.name)
        except NotFoundError:
            return Outcome(action, "gone", "it no longer exists")
        fresh = plan([], [request], {}, self.inputs.standings, self.policy, self.books.clock.now())
        if not still_holds(action, fresh):
            return Outcome(action, "skipped", f"no longer holds on a fresh look ({request.state})")
        try:
            self.api.delete_queued_resource(request.zone, request.name, force=True, wait=False)
        except NotFoundError:
            pass
        self.record(QUEUED_DELETED, queued_info_payload(request, source="tpuctl"))
        self._acted(action)
        return Outcome(action, "done")

    def _resume(self, action: Action) -> Outcome:
        from tpuctl.services.jobs import resume_one

        done = resume_one(self.books, self.api, action.job)
        if done.failed:
            return Outcome(action, "failed", done.failed[0][1].message, done.failed[0][1].exit_code)
        if not done.resumed:
            return Outcome(action, "skipped", f"job {action.job} did not need resuming")
        self._acted(action)
        latest = done.resumed[0].latest
        return Outcome(action, "done", f"attempt {latest.attempt} on TPU {latest.node}")

    def _acted(self, action: Action) -> None:
        payload = {"zone": action.zone, "node": action.name, "owner": action.owner, "rule": action.rule,
                   "action": action.verb, "reason": action.reason[:500]}
        self.record(REAP_ACTED, {**payload, **({"job": action.job} if action.job else {})})

    def record(self, kind: str, payload: dict) -> None:
        """Through the books, like any member's command: signed with the reaper's member key (else
        a signed group would not count what it ended), kept in the outbox if the store went away."""
        self.books.record(kind, payload, keep_if_away=True)


def seal(books: Books) -> Sealing:
    """Seal what is old enough into segments: whoever runs the reaper keeps the group's first
    syncs fast without anyone running `ledger compact`. A clock too far off the store's, a store
    gone away or one that refuses the clock probe is said and left for the next run."""
    from tpuctl.services.segments import compact

    if books.kept:
        return Sealing(problem="the group store went away during the run")
    try:
        done = compact(books.store, books.db, books.clock)
    except TpuctlError as exc:              # (a clock off, the store away or refusing): never fails the run
        return Sealing(problem=exc.message)
    return Sealing(sum(s.events for s in done.sealed), len(done.sealed))


def _record_run(books: Books, result: ReapResult) -> None:
    """A run that planned anything leaves one event with its counts (quiet runs leave none)."""
    if not result.planned:
        return
    warned = sum(1 for o in result.outcomes if o.status == "done" and o.action.verb == "warn")
    payload = {"run": result.run, "planned": len(result.planned), "acted": result.count("done") - warned,
               "warned": warned, "failed": len(result.failed), "capped": result.capped,
               "unreachable": result.unreachable[:200], "max_actions": result.max_actions}
    books.record(REAP_RAN, payload, keep_if_away=True)



@dataclass(frozen=True)
class ReapAsk:
    """What `tpuctl reap` was asked, as typed (durations like 30m; 0 acts at once)."""

    dry_run: bool = False
    warn: str = "1h"
    idle: str = "30m"
    idle_action: str = "auto"
    over_budget: str = "warn"
    max_actions: int = DEFAULT_MAX_ACTIONS
    include_unmanaged: bool = False
    every: str = "5m"


def duration(text: str, flag: str) -> timedelta:
    from tpuctl.domain.durations import parse_duration

    if text.strip().lower().rstrip("smhd") in ("0", "0.0"):
        return timedelta(0)
    return parse_duration(text, flag)


def every_of(text: str) -> timedelta:
    """How often cron runs the reaper: at most once a minute."""
    from tpuctl.errors import UsageError

    interval = duration(text, "--every")
    if interval.total_seconds() < 60:
        raise UsageError("--every must be at least 1m (cron runs once a minute at most).")
    return interval


def run(ctx: Any, ask: ReapAsk) -> ReapResult:
    """`tpuctl reap`: check what was asked, then one reaper run."""
    from tpuctl.domain.reaping import BUDGET_ACTIONS, IDLE_ACTIONS
    from tpuctl.errors import UsageError

    interval = every_of(ask.every)
    if ask.idle_action not in IDLE_ACTIONS or ask.over_budget not in BUDGET_ACTIONS:
        raise UsageError(f"--idle-action is one of {', '.join(IDLE_ACTIONS)}; --over-budget one of "
                         f"{', '.join(BUDGET_ACTIONS)}.")
    if not 0 <= ask.max_actions <= 10_000:
        raise UsageError("--max-actions must be from 0 to 10000.")
    policy = ReapPolicy(warn=duration(ask.warn, "--warn"), idle=duration(ask.idle, "--idle"),
                        idle_action=ask.idle_action, over_budget=ask.over_budget,
                        include_unmanaged=ask.include_unmanaged)
    return reap(ctx.api, ctx.books, policy, dry_run=ask.dry_run, max_actions=ask.max_actions, every=interval)


def too_large(result: ReapResult) -> TpuctlError:
    """A plan over --max-actions: nothing was done (exit 10)."""
    from tpuctl.errors import Aborted

    return Aborted(f"The reaper planned {len(result.planned)} actions, more than --max-actions {result.max_actions}; "
                   "it did nothing.",
                   hint="Look at `tpuctl reap --dry-run`; if the plan is right, run it with a larger --max-actions.")
