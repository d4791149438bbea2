"""Every `--json` shape tpuctl prints, declared once (documented in README "JSON output").

Each function takes what a use case returned and gives the plain data `render.emit_json`
prints: amounts as decimal strings to the millionth (`amount`), times in the one canonical
form (`iso`). A field is only ever added (tests/cli/golden holds the shapes).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def job_status(status: Any) -> dict[str, Any]:
    """A job as `jobs`, `run --json` and `jobs resume` show it (built by the jobs domain)."""
    from tpuctl.domain.jobs import status_json

    return status_json(status)


def job_view(view: Any) -> dict[str, Any]:
    """`tpuctl job`: the status, its outputs and what its TPUs cost so far."""
    return {**job_status(view.status), "outputs": list(view.outputs), "ignored": list(view.status.ignored),
            "cost": {"currency": view.currency, "spent": amount(view.spent.money),
                     "chip_hours": amount(view.spent.chip_hours)}}


# -- TPUs and queued requests --------------------------------------------------------------------

def node(node: Any) -> dict[str, Any]:
    return {
        "name": node.name,
        "zone": node.zone,
        "type": node.accelerator_type,
        "chips": node.chip_count,
        "workers": node.workers,
        "state": node.state,
        "health": node.health or None,
        "spot": node.spot,
        "owner": node.owner,
        "lease_until": iso(node.lease_until),
        "runtime_version": node.runtime_version,
        "created": iso(node.create_time),
        "queued_resource": node.queued_resource or None,
        "labels": dict(node.labels),
    }


def claimed(claimed: Any, member: str) -> dict[str, Any]:
    """`claim --json`: the TPU, and who it is billed to from when."""
    return {**node(claimed.node), "claimed": {
        "member": member, "by": claimed.by, "since": iso(claimed.since),
        "unattributed_seconds": claimed.unattributed_seconds, "labelled": claimed.labelled}}


def queued(queued: Any, now: Any) -> dict[str, Any]:
    return {
        "name": queued.name,
        "zone": queued.zone,
        "type": queued.accelerator_type,
        "tier": queued.tier,
        "state": queued.state,
        "nodes": list(queued.node_ids),
        "owner": queued.owner,
        "created": iso(queued.create_time),
        "waited_seconds": int(queued.waited(now)),
        "valid_until": iso(queued.valid_until),
        "valid_after": iso(queued.valid_after),
        "failure": queued.failure or None,
        "labels": dict(queued.labels),
    }


def accelerator_type(acc: Any, price: Any = None) -> dict[str, Any]:
    """`types`: a type with what an hour of it costs (`price`: a services.nodes.TypePrice)."""
    prices = {} if price is None else {"currency": price.currency, "per_hour": amount(price.on_demand),
                                       "spot_per_hour": amount(price.spot)}
    return {"type": acc.name, "generation": acc.generation, "chips": acc.chips, "hosts": acc.hosts, **prices}


def cost(admission: Any, per_hour: Any) -> dict[str, Any]:
    """What a request costs and what it leaves of the member's month."""
    left = admission.member.left
    if admission.grant is not None:
        per_hour = admission.grant.paid_per_hour        # the part inside the TRC grant is free
    return {"currency": admission.currency, "per_hour": amount(per_hour), "lease": amount(admission.member.requested.money),
            "unit": admission.member.unit,
            "left_after": None if left is None else amount(left - admission.member.read(admission.member.requested)),
            "overridden_by": admission.overridden_by, "override_reason": admission.override_reason}


def created(result: Any) -> dict[str, Any]:
    """`create`: the TPU and its cost (or, queued for want of capacity, `queued_request`)."""
    if result.queued is not None:
        return queued_request(result.queued)
    return {**node(result.node), "cost": cost(result.admission, result.per_hour)}


def queued_request(result: Any) -> dict[str, Any]:
    """`queue create`, `create --queue`: the request and its cost."""
    return {**queued(result.queued, result.at), "cost": cost(result.admission, result.per_hour)}


def deleted(result: Any) -> dict[str, Any]:
    if result.dry_run:
        return {"dry_run": True, "would_delete": [node(n) for n in result.nodes]}
    return {"deleted": [n.name for n in result.nodes], "waited": result.waited}


def queue_deleted(result: Any) -> dict[str, Any]:
    if result.dry_run:
        return {"dry_run": True, "would_delete": queued(result.queued, result.at), "force": result.force}
    return {"deleted": result.queued.name, "force": result.force}


def lease_extended(done: Any) -> dict[str, Any]:
    return {**node(done.node), "cleared_warning": done.cleared.sentence() if done.cleared else None}


# -- the ledger and the group -------------------------------------------------------------------

def synced(result: Any) -> dict[str, Any]:
    return {"observed": [{"kind": e.kind, "node": e.payload.get("node"), "owner": e.payload.get("owner")}
                         for e in result.observed]}


def group_rules(rules: Any) -> dict[str, Any]:
    return {"currency": rules.currency, "treasurers": sorted(rules.treasurers), "members": sorted(rules.members)}


def whoami(member: str, key: str, key_file: Any) -> dict[str, Any]:
    return {"member": member, "key": key, "key_file": str(key_file)}


def standing(standing: Any, currency: str) -> dict[str, Any]:
    return {"who": standing.who, "unit": standing.unit, "currency": currency,
            "budget": amount(standing.budget.amount) if standing.budget else None,
            "spent": amount(standing.spent.money), "spent_chip_hours": amount(standing.spent.chip_hours),
            "committed": amount(standing.committed.money), "committed_chip_hours": amount(standing.committed.chip_hours),
            "left": None if standing.left is None else amount(standing.left)}


def spend(report: Any, notes: list) -> dict[str, Any]:
    mine = report.members[0]
    return {"month": report.month, **standing(mine.standing, report.currency),
            "nodes": [{"node": n.node, "zone": n.zone, "type": n.accelerator_type, "spot": n.spot,
                       "status": n.status, "seconds": n.seconds, "cost": amount(n.spent.money)} for n in mine.nodes],
            "reaper": [reaper_note(note) for note in notes]}


def budgets(report: Any) -> dict[str, Any]:
    standings = [report.group, *(m.standing for m in report.members)]
    return {"month": report.month, "treasurers": list(report.treasurers),
            "standings": [standing(x, report.currency) for x in standings]}


def problems(found: list) -> list[dict[str, Any]]:
    return [{"message": p.message, "key": p.key, "event_id": p.event_id} for p in found]


def rebuilt(store_url: str, result: Any) -> dict[str, Any]:
    return {"store": store_url, "events": result.new_events, "set_aside": result.bad_objects}


def compacted(result: Any) -> dict[str, Any]:
    return {"sealed": [{"key": x.key, "start": iso(x.start), "end": iso(x.end), "events": x.events}
                       for x in result.sealed],
            "raced": result.raced, "waiting": result.waiting}


def checks(found: list) -> list[dict[str, Any]]:
    return [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in found]


def pot(books: Any, members: list[str]) -> dict[str, Any]:
    return {"currency": books.currency, "rule": books.rule, "pot": str(books.held),
            "months": [{"member": r.member, "month": r.month, "contributed": str(r.contributed),
                        "charged": str(r.charged), "balance": str(r.balance)} for r in books.rows],
            "members": [{"member": m, "balance": str(books.balance(m))} for m in members]}


def price_sheet(sheet: Any) -> dict[str, Any]:
    return {"price_file": sheet.origin, "as_of": sheet.as_of.isoformat(), "source": sheet.source,
            "currency": sheet.currency, "unit": "chip-hour",
            "prices": [{"generation": r.generation, "region": r.region, "type": r.type, "override": r.override,
                        "on_demand": amount(r.rates.on_demand), "spot": amount(r.rates.spot)} for r in sheet.rows],
            "free_quota": [{"zone": f.zone, "type": f.type, "model": f.model} for f in sheet.free]}


# -- the reaper ---------------------------------------------------------------------------------

def reap_action(a: Any) -> dict[str, Any]:
    return {"action": a.verb, "rule": a.rule, "zone": a.zone, "name": a.name, "owner": a.owner, "reason": a.reason,
            "then": a.then, "act_at": iso(a.act_at), "job": a.job}


def reap_result(result: Any) -> dict[str, Any]:
    held = result.held_by
    return {"run": result.run, "at": iso(result.at), "dry_run": result.dry_run, "capped": result.capped,
            "max_actions": result.max_actions, "unreachable": result.unreachable,
            "held_by": None if held is None else {"who": held.who, "run": held.run, "until": iso(held.until)},
            "planned": [reap_action(a) for a in result.planned],
            "outcomes": [{**reap_action(o.action), "status": o.status, "detail": o.detail} for o in result.outcomes],
            "counts": {status: result.count(status) for status in ("done", "gone", "skipped", "failed")},
            "sealed": None if result.sealed is None else {"events": result.sealed.events, "segments": result.sealed.segments,
                                                          "problem": result.sealed.problem}}


def reaper_note(note: Any) -> dict[str, Any]:
    return {"node": note.node, "zone": note.zone, "kind": note.kind, "action": note.action, "rule": note.rule,
            "time": iso(note.time), "act_at": iso(note.act_at), "reason": note.reason}


# -- configs, the profile -----------------------------------------------------------------------

def profile(profile: Any, config_file: Any, values: dict) -> dict[str, Any]:
    return {"profile": profile.name, "config_file": str(config_file), "values": values, "sources": profile.sources}


def stored_configs(found: list) -> list[dict[str, Any]]:
    """`configs list`: (config, pushed by, pushed at) each."""
    return [{"name": c.name, "version": c.version, "pushed_by": who, "pushed_at": when} for c, who, when in found]


def stored_config(stored: Any, text: str, code: Any) -> dict[str, Any]:
    return {"name": stored.name, "version": stored.version, "text": text,
            "code": None if code is None else {"digest": f"sha256:{code.digest}",
                                               "files": [{"path": p, "bytes": n} for p, n in code.files]}}


# -- the treasurer's report and its reconciliation with the bill -------------------------------

REPORT_SCHEMA = "tpuctl.report/1"


def grants(rows: list) -> dict[str, Any]:
    """`grant show --json`: each grant, its chips in use and free now, and its days left."""
    from tpuctl.domain.times import format_time

    return {"grants": [{"zone": r.grant.zone, "generation": r.grant.generation,
                        "model": r.grant.model.replace("_", "-"), "chips": r.grant.chips,
                        "running_chips": r.running_chips, "in_use_chips": r.in_use_chips,
                        "free_chips": r.free_chips, "start": format_time(r.grant.start),
                        "until": format_time(r.grant.until), "days_left": r.days_left, "status": r.status,
                        "set_by": r.grant.set_by} for r in rows]}


def _num(value: Any) -> str | None:
    from tpuctl.domain.metering import MONEY_QUANTUM

    return None if value is None else str(value.quantize(MONEY_QUANTUM))


def report_line(line: Any) -> dict[str, Any]:
    return {"key": line.key, "chip_hours": _num(line.chip_hours), "spot_chip_hours": _num(line.spot_chip_hours),
            "free_chip_hours": _num(line.free_chip_hours), "estimate": _num(line.estimate),
            "spot_estimate": _num(line.spot_estimate), "budget": _num(line.budget),
            "used": None if line.used is None else str(line.used.quantize(Decimal("0.0001"))),
            "actual": _num(line.actual), "forecast": _num(line.forecast)}


def report(r: Any) -> dict[str, Any]:
    """`report --format json`: its own schema name, so readers can tell versions apart; the
    bill's figures to the cent, every other amount to the millionth."""
    from tpuctl.domain.report import chip_hours, summary

    closed = r.closed
    return {
        "schema": REPORT_SCHEMA, "period": {"start": f"{r.start:%Y-%m-%d}", "end": r.last_day, "month": r.month},
        "by": r.by, "currency": r.currency, "as_of": iso(r.as_of), "settlement_rule": r.rule,
        "summary": summary(r),
        "closed": None if closed is None else {
            "actual": _num(closed.actual), "estimate": _num(closed.estimate), "credits": _num(closed.credits),
            "invoice_month": closed.invoice_month, "source": closed.source, "closed_by": closed.by,
            "closed_at": iso(closed.time)},
        "lines": [report_line(line) for line in r.lines], "total": report_line(r.total),
        "unattributed": report_line(r.unattributed),
        "top_jobs": [{"job": j.job, "member": j.member, "chip_hours": _num(chip_hours(j.chip_seconds)),
                      "estimate": _num(j.estimate)} for j in r.top_jobs],
        "preemptions": [{"node": p.node, "zone": p.zone, "member": p.member, "time": iso(p.time),
                         "chip_hours": _num(chip_hours(p.chip_seconds)), "estimate": _num(p.estimate)}
                        for p in r.preemptions],
        "ended": [{"node": e.node, "zone": e.zone, "member": e.member, "time": iso(e.time), "by": e.by,
                   "reason": e.reason} for e in r.ended],
    }


def reconciliation(r: Any) -> dict[str, Any]:
    members = sorted(set(r.estimates) | set(r.actuals))
    return {"month": r.month, "invoice_month": r.invoice_month, "currency": r.currency, "source": r.source,
            "closed": r.closed, "rows": r.rows, "late_rows": r.late_rows, "left_out": dict(r.left_out),
            "actual": str(r.actual), "credits": str(r.credits), "estimate": str(r.estimate.quantize(r.actual)),
            "gap": str(r.gap),
            "days": [{"day": x.day, "generation": x.generation, "spot": x.spot, "zone": x.zone,
                      "metered_chip_hours": str(x.metered_chip_hours), "billed_chip_hours": str(x.billed_chip_hours),
                      "estimate": str(x.estimate), "actual": str(x.actual), "gap": str(x.gap)} for x in r.lines],
            "members": [{"member": m, "estimate": str(r.estimates.get(m, 0)), "actual": str(r.actuals.get(m, 0))}
                        for m in members]}


# -- errors -------------------------------------------------------------------------------------

def error(exc: Any) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message, "hint": exc.hint, "exit_code": exc.exit_code,
                      **(exc.details or {})}}


# -- the two forms every shape uses -------------------------------------------------------------

def iso(value: Any) -> str | None:
    """Every time tpuctl shows, in the one canonical form (`2026-11-30T12:00:00.000000Z`)."""
    from tpuctl.domain.times import format_time

    return format_time(value) if value else None


def amount(value: Any) -> str | None:
    """Every amount in --json, money or chip-hours: a decimal string to the millionth, as the
    ledger keeps costs (`"12.880000"`); a price the price file gives more finely keeps its digits."""
    if value is None:
        return None
    from decimal import Decimal

    from tpuctl.domain.metering import MONEY_QUANTUM

    number = Decimal(str(value))
    rounded = number.quantize(MONEY_QUANTUM)
    return f"{rounded:f}" if rounded == number else f"{number.normalize():f}"
