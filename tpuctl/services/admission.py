"""Budget admission through the group's admission log (see tpuctl/domain/admission_log.py).

One admission costs one listing of the month's log (after the last entry this machine has
read), a read of each entry written since, and one create-only write. A lost race (someone
else wrote that entry number first) reads the new entries and decides again.
"""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Callable, Mapping

from tpuctl.adapters.admission_db import AdmissionView
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore, ObjectExists, ObjectNotFound
from tpuctl.domain.admission_log import (
    ADMISSION_GRACE, EntryFormatError, entry_key, key_seq, log_prefix, new_entry, parse_entry, pending_usage,
)
from tpuctl.domain.budgets import Admission, UsageRequest
from tpuctl.domain.clock import Clock
from tpuctl.domain.metering import month_bounds, month_of
from tpuctl.errors import ConflictError

MAX_ATTEMPTS = 20        # each lost race means another member's request went through

# Given what admitted requests hold before the ledger shows them (chip-seconds per member and
# pricing key), admit the request or raise RequestRefused.
Decide = Callable[[Mapping[str, Counter]], Admission]


def _read(store: GroupStore, keys: list[str]) -> list[bytes | None]:
    """The entries at `keys` (None where one vanished), several at once on a bucket."""
    def one(key: str) -> bytes | None:
        try:
            return store.read(key)
        except ObjectNotFound:
            return None

    if store.parallel_reads <= 1 or len(keys) < 2:
        return [one(key) for key in keys]
    with ThreadPoolExecutor(max_workers=min(store.parallel_reads, len(keys))) as pool:
        return list(pool.map(one, keys))


def catch_up(store: GroupStore, db: LedgerDB, month: str) -> int:
    """Read the entries of `month` written since this machine last looked; returns the number
    of the last one. Unreadable entries are skipped and set aside for `ledger verify`."""
    view = AdmissionView(db)
    last = view.last_seq(month)
    keys = list(store.list(log_prefix(month), start_after=entry_key(month, last) if last else None))
    numbered = [(key, seq) for key in keys if (seq := key_seq(key, month)) is not None]
    for key in set(keys) - {key for key, _ in numbered}:
        db.record_bad_object(key, f"{key} is not named like an admission entry (<10 digits>.json).")
    entries = []
    for (key, _), data in zip(numbered, _read(store, [key for key, _ in numbered])):
        try:
            if data is None:
                raise EntryFormatError(f"{key} was listed but is gone from the group store.")
            entries.append(parse_entry(data, key))
        except EntryFormatError as exc:
            db.record_bad_object(key, exc.message)
    top = max([last, *(seq for _, seq in numbered)])
    if numbered:
        view.add(month, entries, top)
    return top


def admit_logged(store: GroupStore, db: LedgerDB, clock: Clock, request: UsageRequest, actor: str,
                 decide: Decide, grace: timedelta = ADMISSION_GRACE, attempts: int = MAX_ATTEMPTS) -> Admission:
    """Decide with every entry of the month's log read, and write the admission down as the
    next entry; RequestRefused (from `decide`) writes nothing."""
    if not request.request_id:
        request = replace(request, request_id=uuid.uuid4().hex[:20])
    view = AdmissionView(db)
    for _ in range(attempts):
        now = clock.now()
        month = month_of(now)
        last = catch_up(store, db, month)
        recent = view.recent(month, now - grace, now)
        start, _ = month_bounds(month)
        if now - start < grace:             # last month's newest requests may not be in the ledger yet
            before = month_of(start - timedelta(microseconds=1))
            catch_up(store, db, before)
            recent += view.recent(before, now - grace, now)
        admission = decide(pending_usage(recent, view.reflected(e.request_id for e in recent), now, grace))
        entry = new_entry(month, last + 1, request, admission, actor, now)
        data = entry.to_json()
        try:
            store.create(entry.key, data)
        except ObjectExists:
            if store.read(entry.key) != data:     # another member's entry: read it and decide again
                continue
        view.add(month, [entry], entry.seq)     # (equal bytes: our own write, its reply lost)
        return replace(admission, request_id=request.request_id)
    raise ConflictError(f"Admission lost the race for the next entry of the group's admission log {attempts} "
                        "times in a row, so nothing was created.",
                        hint="Many members are asking at once: run the command again in a moment.")
