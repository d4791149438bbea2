"""The reaper's rules: which TPUs and queued requests to end, and why, as a pure plan.

`plan(nodes, queued, activity, standings, policy, now)` decides; the service (services/reap.py)
only gathers these inputs and carries the actions out. Each rule has its reason:

- preempted or terminated nodes hold quota and their name: delete (a job that asked to resume
  is left to `jobs resume`, which the reaper then runs, so it goes on on a new TPU);
- queued requests FAILED or SUSPENDED, or waiting past their validity, hold quota: delete;
- a lease that ended: warn, then delete after the warning window (`extend` renews it);
- idle (the agents say so, or stopped reporting) for `idle`, counted after a grace from
  creation: stop (keeps the disk) or delete, by policy;
- a member whose month is spent: the group's policy (warn, stop or delete), after a warning.

Only tpuctl's managed nodes, unless asked; a `tpuctl-keep` label protects from idle and
budget rules until its date, never from the lease. A zone whose listing failed gets nothing.
The warning travels with the node as two labels (when, why), so `list` and `describe` show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Collection, Mapping

from tpuctl.domain.activity import NodeActivity
from tpuctl.domain.nodes import JOB_LABEL, MANAGED_LABEL, NodeInfo
from tpuctl.domain.queued import QueuedInfo

KEEP_LABEL = "tpuctl-keep"              # epoch seconds: idle and budget rules spare the node until then
REAP_AT_LABEL = "tpuctl-reap-at"        # epoch seconds: when the reaper acts on a warning
REAP_WHY_LABEL = "tpuctl-reap-why"      # what follows: lease | budget-stop | budget-delete | budget (warn only)
WARNINGS = ("lease", "budget", "budget-stop", "budget-delete")
RULES = ("preempted", "queued", "lease", "idle", "budget")
VERBS = ("delete", "stop", "warn", "resume", "delete_queued")
DESTRUCTIVE = frozenset({"delete", "stop", "delete_queued"})
IDLE_ACTIONS = ("auto", "stop", "delete")      # auto: delete spot, stop on-demand
BUDGET_ACTIONS = ("warn", "stop", "delete")
RUNNING = frozenset({"READY"})


@dataclass(frozen=True)
class ReapPolicy:
    warn: timedelta = timedelta(hours=1)         # between a warning and the act (0: act at once)
    idle: timedelta = timedelta(minutes=30)
    grace: timedelta = timedelta(minutes=15)     # after creation, before idleness counts
    idle_action: str = "auto"
    over_budget: str = "warn"
    include_unmanaged: bool = False


@dataclass(frozen=True)
class Action:
    """One thing the reaper will do, and why (one plain sentence)."""

    verb: str                       # one of VERBS
    rule: str                       # one of RULES
    zone: str
    name: str                       # the node or queued request
    reason: str
    owner: str | None = None
    then: str | None = None         # a warning: what follows at `act_at` (None: nothing, warn only)
    act_at: datetime | None = None
    job: str | None = None          # resume: the job to resume

    @property
    def destructive(self) -> bool:
        return self.verb in DESTRUCTIVE

    @property
    def target(self) -> str:
        return f"{self.zone}/{self.name}"


@dataclass(frozen=True)
class Warning:
    """A warning a node carries: the reaper acts at `at` for `why` unless it stops holding."""

    at: datetime
    why: str                        # one of WARNINGS

    @property
    def rule(self) -> str:
        return self.why.split("-")[0]

    @property
    def then(self) -> str | None:
        return "delete" if self.why in ("lease", "budget-delete") else "stop" if self.why == "budget-stop" else None

    def sentence(self) -> str:
        """e.g. "deleted at 2026-11-30 14:05 UTC: lease ended", as the owner reads it."""
        cause = "lease ended" if self.rule == "lease" else "the owner's budget for the month is spent"
        if self.then is None:
            return f"warned: {cause}"
        return f"{'deleted' if self.then == 'delete' else 'stopped'} at {self.at:%Y-%m-%d %H:%M} UTC: {cause}"


def _epoch(raw: str | None) -> datetime | None:
    if raw and raw.isdigit() and len(raw) <= 11:
        return datetime.fromtimestamp(int(raw), tz=timezone.utc)
    return None


def keep_until(node: NodeInfo) -> datetime | None:
    return _epoch(node.labels.get(KEEP_LABEL))


def warning_of(node: NodeInfo) -> Warning | None:
    at, why = _epoch(node.labels.get(REAP_AT_LABEL)), node.labels.get(REAP_WHY_LABEL)
    return Warning(at, why) if at is not None and why in WARNINGS else None


def warning_labels(labels: Mapping[str, str], warning: Warning | None) -> dict[str, str]:
    """The node's labels with this warning (None: without any)."""
    kept = {k: v for k, v in labels.items() if k not in (REAP_AT_LABEL, REAP_WHY_LABEL)}
    if warning is not None:
        kept[REAP_AT_LABEL], kept[REAP_WHY_LABEL] = str(int(warning.at.timestamp())), warning.why
    return kept


def managed(labels: Mapping[str, str], policy: ReapPolicy) -> bool:
    return policy.include_unmanaged or labels.get(MANAGED_LABEL) == "true"


def plan(nodes: Collection[NodeInfo], queued: Collection[QueuedInfo], activity: Mapping[tuple[str, str], NodeActivity],
         standings: Mapping[str, object], policy: ReapPolicy, now: datetime, *,
         unreachable: Collection[str] = (), resumable: Collection[str] = ()) -> list[Action]:
    """Everything the reaper should do now, at most one action per node or request.

    `activity` maps (zone, node) to what its agents say; `standings` maps a member to their
    month (anything with `left`: None means no budget); `resumable` names jobs that asked to
    resume; `unreachable` zones get no action."""
    actions: list[Action] = []
    spent = {who for who, standing in standings.items() if getattr(standing, "left", None) is not None
             and standing.left <= 0}
    resumed: set[str] = set()
    for node in sorted(nodes, key=lambda n: (n.zone, n.name)):
        if node.zone in unreachable or not managed(node.labels, policy):
            continue
        action = _node_action(node, activity.get((node.zone, node.name)), spent, policy, now, resumable)
        if action is not None and action.verb == "resume":
            if action.job in resumed:
                continue
            resumed.add(action.job)
        if action is not None:
            actions.append(action)
    for request in sorted(queued, key=lambda q: (q.zone, q.name)):
        if request.zone in unreachable or not managed(request.labels, policy):
            continue
        action = _queued_action(request, now, resumable)
        if action is not None and not (action.verb == "resume" and action.job in resumed):
            resumed.add(action.job or "")
            actions.append(action)
    return actions


def _queued_action(request: QueuedInfo, now: datetime, resumable: Collection[str]) -> Action | None:
    job = request.labels.get(JOB_LABEL)
    if request.state in ("FAILED", "SUSPENDED"):
        why = f"queued request is {request.state.lower()}" + (f" ({request.failure})" if request.failure else "")
    elif request.waiting and request.valid_until is not None and request.valid_until <= now:
        why = f"queued request waited past its validity ({request.valid_until:%Y-%m-%d %H:%M} UTC)"
    else:
        return None
    if job and job in resumable:
        return Action("resume", "queued", request.zone, request.name, f"{why}; its job {job} resumes on a new TPU",
                      request.owner, job=job)
    return Action("delete_queued", "queued", request.zone, request.name, f"{why}; it holds quota", request.owner)


def _node_action(node: NodeInfo, activity: NodeActivity | None, spent: set[str], policy: ReapPolicy,
                 now: datetime, resumable: Collection[str]) -> Action | None:
    def act(verb: str, rule: str, reason: str, **more) -> Action:
        return Action(verb, rule, node.zone, node.name, reason, node.owner, **more)

    if node.state in ("PREEMPTED", "TERMINATED"):
        if node.queued_resource:
            return None                     # its queued request (SUSPENDED) is ended instead, with it
        job = node.labels.get(JOB_LABEL)
        if job and job in resumable:
            return act("resume", "preempted", f"{node.state.lower()}; its job {job} resumes on a new TPU", job=job)
        return act("delete", "preempted", f"{node.state.lower()}; it holds quota and its name")
    if node.state not in RUNNING and node.state != "STOPPED":
        return None                         # creating, deleting, stopping...: look again next run
    warned = warning_of(node)
    lease = node.lease_until
    if lease is not None and lease <= now:
        ended = f"lease ended at {lease:%Y-%m-%d %H:%M} UTC"
        if policy.warn <= timedelta(0) or (warned and warned.why == "lease" and warned.at <= now):
            return act("delete", "lease", ended)
        if not (warned and warned.why == "lease"):
            at = now + policy.warn
            return act("warn", "lease", f"{ended}; deleted at {at:%Y-%m-%d %H:%M} UTC unless extended",
                       then="delete", act_at=at)
        return None                         # warned; the window is still open
    kept = keep_until(node)
    if node.state not in RUNNING or (kept is not None and kept > now):
        return None
    idle = _idle_action(node, activity, policy, now)
    if idle is not None:
        return act(*idle)
    if node.owner in spent:
        return _budget_action(node, warned, policy, now, act)
    return None


def _idle_action(node: NodeInfo, activity: NodeActivity | None, policy: ReapPolicy,
                 now: datetime) -> tuple[str, str, str] | None:
    """(verb, rule, reason) when the node has been idle long enough, counted after the grace."""
    if node.create_time is None:
        return None
    activity = activity or NodeActivity("silent")
    counted_from = node.create_time + policy.grace
    if activity.status == "busy":
        return None
    if activity.status == "idle":
        since = max(activity.idle_since or now, counted_from)
        said = "its agents report nothing running and nobody logged in"
    else:
        since = max(activity.last_report or node.create_time, counted_from)
        said = "no tpuctl agent has reported" + (f" since {activity.last_report:%H:%M} UTC"
                                                  if activity.last_report else "")
    if now - since < policy.idle:
        return None
    verb = idle_verb(node, policy.idle_action)
    minutes = int((now - since).total_seconds() // 60)
    return verb, "idle", f"idle for {minutes} min ({said})" + _stop_note(node, policy.idle_action, verb)


def idle_verb(node: NodeInfo, choice: str) -> str:
    """Stop keeps the disk, but a multi-host slice cannot stop: it is deleted."""
    verb = ("delete" if node.spot else "stop") if choice == "auto" else choice
    return "delete" if verb == "stop" and _multi_host(node) else verb


def _multi_host(node: NodeInfo) -> bool:
    try:
        return node.workers > 1 or node.accelerator.multi_host
    except Exception:                                   # a type tpuctl does not know: assume it cannot stop
        return True


def _stop_note(node: NodeInfo, choice: str, verb: str) -> str:
    return "; a multi-host slice cannot stop" if verb == "delete" and choice != "delete" and not node.spot else ""


def _budget_action(node: NodeInfo, warned: Warning | None, policy: ReapPolicy, now: datetime, act) -> Action | None:
    why = f"{node.owner}'s budget for the month is spent"
    then = None if policy.over_budget == "warn" else idle_verb(node, policy.over_budget)
    if warned and warned.rule == "budget" and warned.then == then:
        if then is None or warned.at > now:
            return None
        return act(then, "budget", why)
    if then is not None and policy.warn <= timedelta(0):
        return act(then, "budget", why)
    at = now + policy.warn
    tail = f"; {'stopped' if then == 'stop' else 'deleted'} at {at:%Y-%m-%d %H:%M} UTC" if then else ""
    return act("warn", "budget", why + tail, then=then, act_at=at)


def still_holds(action: Action, fresh: list[Action]) -> bool:
    """Whether a plan made again from a fresh read of the target asks for the same act."""
    return any(a.verb == action.verb and a.target == action.target for a in fresh)


def capped(actions: list[Action], max_actions: int) -> bool:
    """More than the cap: act on nothing, so one bad input cannot end the whole project."""
    return len(actions) > max_actions


def warning_for(action: Action) -> Warning:
    """The labels' warning a `warn` action leaves on its node."""
    why = action.rule if action.rule == "lease" or action.then is None else f"budget-{action.then}"
    return Warning(action.act_at, why)
