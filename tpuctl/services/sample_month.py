"""A scripted month of a study group, played against an emulator with a clock that only
moves when told: the month the golden tests check, and the one examples/month-end ships.

May 2026, treasurer tess, members alice, bob and carol (all at list prices, us regions):

| who | TPU | what happens | chip-hours | cost |
|---|---|---|---|---|
| alice | alice-v4, v4-8 on-demand | 05-04 09:00-13:00, deleted by alice | 16 | $51.52 |
| bob | bob-v5e, v5litepod-8 spot (us-west4: $0.4692) | 05-05 10:00, preempted 12:30 | 20 | $9.384 |
| carol | carol-v6e, v6e-4 on-demand, 2 h lease | 05-10 08:00, reaped by cron 11:00 | 12 | $32.40 |
| nobody | stray-v4, v4-8 made with gcloud | 05-12 14:00-16:00, seen by cron's sync | 8 | $25.76 |
| alice | digits-k3x9q2, v4-8 spot (a job) | 05-20 09:00-15:00 | 24 | $22.08 |
| bob | bob-v4, v4-8 on-demand | 05-25 18:00-20:30 | 10 | $32.20 |

Contributions: alice $100, bob $60, carol $40. Budgets: group $500, members $100, alice $150.
Total: 90 chip-hours (44 spot, $31.464), $173.344. Settled in proportion to chip-hours, the
unattributed $25.76 is alice $12.57, bob $9.42, carol $3.77; balances alice $13.83, bob $9.00,
carol $3.83; the pot holds $26.66.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tpuctl.adapters import keys
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.adapters.tpu import TpuApi
from tpuctl.config import Profile
from tpuctl.domain.clock import ManualClock
from tpuctl.domain.jobs import index_key
from tpuctl.domain.prices import PriceTable
from tpuctl.services import group as group_svc
from tpuctl.services import nodes
from tpuctl.services import pot
from tpuctl.services.ledger import Books

MONTH = "2026-05"
START = datetime(2026, 5, 1, tzinfo=timezone.utc)
TREASURER = "tess"
MEMBERS = ("alice", "bob", "carol")
RUNTIME = "tpu-ubuntu2204-base"


@dataclass
class Month:
    """What the script needs: the API (pointed at an emulator whose clock is `clock`), the
    group store, the ledger view, the prices, and a hook to preempt a spot TPU."""

    api: TpuApi
    store: GroupStore
    db: LedgerDB
    clock: ManualClock
    table: PriceTable
    profile: Profile
    preempt: object       # callable(zone, node)

    def at(self, day: int, hour: int, minute: int = 0) -> None:
        self.clock.set(datetime(2026, 5, day, hour, minute, tzinfo=timezone.utc))

    def books(self, actor: str) -> Books:
        return Books(self.store, self.db, self.clock, self.table, actor, lister=lambda: self.api)

    def create(self, member: str, name: str, accelerator_type: str, zone: str, spot: bool, hours: float) -> None:
        books = self.books(member)
        request = nodes.build_create_request(self.profile, name, accelerator_type, zone=zone, runtime_version=RUNTIME,
                                             spot=spot, hours=hours, labels={})
        nodes.create_node(self.api, books, request, books.admit(request.usage(books.actor)))

    def delete(self, actor: str, name: str, zone: str) -> None:
        nodes.delete_node(self.api, self.books(actor), self.api.get_node(zone, name))

    def sync(self) -> None:
        self.books(TREASURER).observe(self.api)     # cron runs as the treasurer


def play(month: Month) -> None:
    """Play May 2026 into the store (and the emulator's world)."""
    m = month
    m.clock.set(START)
    group_svc.init_group(m.store, m.db, m.clock, TREASURER, [TREASURER])
    for member in MEMBERS:
        group_svc.add_member(m.store, m.db, m.clock, TREASURER, member, key=keys.signing_key(member).public)
    group_svc.set_budget(m.store, m.db, m.clock, TREASURER, "500", group=True)
    group_svc.set_budget(m.store, m.db, m.clock, TREASURER, "100")
    group_svc.set_budget(m.store, m.db, m.clock, TREASURER, "150", member="alice")
    m.at(1, 9)
    for member, amount in (("alice", "100"), ("bob", "60"), ("carol", "40")):
        pot.contribute(m.store, m.db, m.clock, TREASURER, member, amount, note="May")

    m.at(4, 9)
    m.create("alice", "alice-v4", "v4-8", "us-central2-b", spot=False, hours=8)
    m.at(4, 13)
    m.delete("alice", "alice-v4", "us-central2-b")

    m.at(5, 10)
    m.create("bob", "bob-v5e", "v5litepod-8", "us-west4-a", spot=True, hours=6)
    m.at(5, 12, 30)
    m.preempt("us-west4-a", "bob-v5e")
    m.sync()
    m.at(5, 13)
    m.delete("bob", "bob-v5e", "us-west4-a")

    m.at(10, 8)
    m.create("carol", "carol-v6e", "v6e-4", "us-east1-d", spot=False, hours=2)
    m.at(10, 11)                                  # the lease ended at 10:00: the reaper deletes it
    m.delete(TREASURER, "carol-v6e", "us-east1-d")

    m.at(12, 14)
    m.api.create_node("us-central2-b", "stray-v4", accelerator_type="v4-8", runtime_version=RUNTIME, spot=False,
                      labels={})                  # made with gcloud: no owner
    m.at(12, 15)
    m.sync()
    m.at(12, 16)
    m.api.delete_node("us-central2-b", "stray-v4")
    m.sync()

    m.at(20, 9)
    job = "digits-k3x9q2"                         # a job's TPU is named after the job, as `tpuctl run` does
    m.store.create(index_key(m.clock.now(), job), b'{"id": "digits-k3x9q2", "member": "alice"}')
    m.create("alice", job, "v4-8", "us-central2-b", spot=True, hours=8)
    m.at(20, 15)
    m.delete("alice", job, "us-central2-b")

    m.at(25, 18)
    m.create("bob", "bob-v4", "v4-8", "us-central2-b", spot=False, hours=4)
    m.at(25, 20, 30)
    m.delete("bob", "bob-v4", "us-central2-b")
    m.clock.set(START + timedelta(days=31, hours=12))      # June 1st, noon: the month is over
    m.sync()
