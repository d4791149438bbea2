"""`tpuctl doctor`: is everything a member's commands need in place? One line per check,
ok or what to fix, so a member far from the bucket (or offline) knows before they spend.

Checked: Google credentials and the Cloud TPU API in the profile's zone, the group store
readable and writable, the member known to the group, this machine's clock against the
store's own timestamps (late events are safe within SYNC_LOOKBACK; sealing needs less than
MAX_SEAL_SKEW), and the local outbox of events still waiting for the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.domain.clock import Clock
from tpuctl.errors import TpuctlError

SKEW_OK = timedelta(minutes=1)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str          # what was found, or what to do


def _fix(exc: TpuctlError) -> str:
    return f"{exc.message} {exc.hint}" if exc.hint else exc.message


def run_checks(api: Callable[[], object], store: GroupStore, db: LedgerDB, clock: Clock, member: str,
               zone: str) -> list[Check]:
    from tpuctl.services.sync import sync_from_store
    from tpuctl.services.outbox import waiting
    from tpuctl.services.segments import store_skew

    checks = []
    try:
        types = api().list_accelerator_types(zone)
        checks.append(Check("Cloud TPU API", True, f"credentials accepted; {len(types)} accelerator types in {zone}"))
    except TpuctlError as exc:
        checks.append(Check("Cloud TPU API", False, _fix(exc)))
    skew = None
    try:
        skew = store_skew(store, clock)
        sync_from_store(store, db)
        checks.append(Check("group store", True, f"{store.url} is readable and writable"))
    except TpuctlError as exc:
        checks.append(Check("group store", False, _fix(exc)))
    if skew is not None:
        rules = db.rules()
        known, mine = rules.key_of(member), _own_key(member)
        if (member in rules.members or member in rules.treasurers) and rules.trust.signed and known != mine:
            checks.append(Check("member", False, f"{member} is in the group, but the group knows "
                                                 f"{'no key' if known is None else 'another key'} for them, so nothing "
                                                 f"they record counts: a treasurer runs `tpuctl group "
                                                 f"{'add' if known is None else 'rekey'} {member} --key {mine}`."))
        elif member in rules.members or member in rules.treasurers:
            checks.append(Check("member", True, f"{member} is {'a treasurer' if member in rules.treasurers else 'a member'} "
                                                f"of the group{' with this machine' + chr(39) + 's key' if known else ''}"))
        else:
            checks.append(Check("member", False, f"{member} is not in the group: ask a treasurer to run "
                                                 f"`tpuctl group add {member}`." if rules.currency else
                                "The group has not been started: a treasurer runs `tpuctl group init`."))
        off = abs(skew).total_seconds()
        way = "behind" if skew > timedelta() else "ahead of"
        checks.append(Check("clock", abs(skew) <= SKEW_OK,
                            f"{off:.1f} s {way} the store's" if abs(skew) <= SKEW_OK else
                            f"This machine's clock is {off:.0f} s {way} the store's: set it right (NTP)."))
        checks.append(_reaper_check(store, clock))
    kept = waiting(db)
    checks.append(Check("outbox", not kept, "empty" if not kept else
                        f"{len(kept)} ledger event(s) wait in the local outbox: run `tpuctl sync` once the store "
                        "is reachable."))
    return checks


def _own_key(member: str) -> str:
    from tpuctl.adapters import keys

    return keys.signing_key(member).public


def _reaper_check(store: GroupStore, clock: Clock) -> Check:
    """When the reaper last ran (cron dies silently); never run is not a failure of this machine."""
    from tpuctl.services.reap_lock import last_run

    found = last_run(store)
    if found is None:
        return Check("reaper", True, "has never run for this group (`tpuctl reap --cron-line` sets up cron)")
    late = found.overdue(clock.now())
    return Check("reaper", late is None, late[0].upper() + late[1:] if late else
                 f"last ran {found.at:%Y-%m-%d %H:%M} UTC (every {int(found.every.total_seconds() // 60)} min)")
