"""The books against ground truth: random interleavings of tpuctl's actions, actions taken
outside tpuctl (gcloud creates and deletes, preemptions), tpuctl killed between its API call
and its ledger write, and syncs. After a final sync, each member's metered chip-seconds must
equal what the emulator says ran, within one sync interval per node (usage that ended
without tpuctl is only seen at the next sync) and a second per interval edge (billing is per
second); every incarnation is billed once, and nothing gone is still open in the ledger.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import ZONE
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.config import resolve_profile
from tpuctl.domain.events import UNATTRIBUTED
from tpuctl.domain.intervals import FREE_PREEMPTION
from tpuctl.domain.nodes import OWNER_LABEL
from tpuctl.emulator.models import WorldSettings
from tpuctl.errors import PermissionDeniedError, TpuctlError
from tests.conftest import enrol
from tpuctl.adapters.user_files import load_price_table
from tpuctl.services import nodes
from tpuctl.services.ledger import Books
from tpuctl.services import group as group_svc

T0 = datetime(2026, 5, 31, 22, 0, tzinfo=timezone.utc)      # runs cross a month boundary
NAMES = ("n0", "n1", "n2")
MEMBERS = ("alice", "bob")

step = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(MEMBERS), st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.just("gcloud_create"), st.none(), st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.just("killed_create"), st.sampled_from(MEMBERS), st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.sampled_from(["delete", "stop", "start", "gcloud_delete", "killed_delete", "preempt"]),
              st.sampled_from(MEMBERS), st.sampled_from(NAMES), st.none()),
    st.tuples(st.just("sync"), st.none(), st.none(), st.none()),
    st.tuples(st.just("wait"), st.none(), st.sampled_from([5, 50, 600, 3600]), st.none()),
)


class World:
    """One group against the emulator; remembers how late the ledger may learn of each end."""

    def __init__(self, root: Path, api, emulator):
        self.api, self.emulator, self.clock = api, emulator, emulator.clock
        self.store, self.db = LocalStore(root / "store"), LedgerDB(root / "ledger.db")
        self.table = load_price_table()
        group_svc.init_group(self.store, self.db, self.clock, "tess", ["tess"])
        enrol(self.store, self.db, self.clock, "alice", "bob", "cron")
        self.unseen: list[datetime] = []           # when nodes stopped accruing without tpuctl
        self.born: dict[str, datetime] = {}        # made without tpuctl since the last sync
        self.late = 0                              # chip-seconds the ledger may be off by for those

    def books(self, member: str) -> Books:
        return Books(self.store, self.db, self.clock, self.table, member, lister=lambda: self.api)

    def node(self, name: str):
        try:
            return self.api.get_node(ZONE, name)
        except TpuctlError:
            return None

    def run(self, action: str, member: str | None, name, spot) -> None:
        found = self.node(name) if isinstance(name, str) else None
        if action in ("create", "killed_create", "gcloud_create") and found is None:
            request = nodes.build_create_request(resolve_profile(), name, "v4-8", zone=ZONE, runtime_version=None,
                                                 spot=bool(spot), hours=2, labels={})
            if action == "create":
                books = self.books(member)
                nodes.create_node(self.api, books, request, books.admit(request.usage(books.actor)))
            else:                                   # made without a ledger write (gcloud, or tpuctl killed)
                labels = nodes.owner_labels(member, T0 + timedelta(days=9), request.request_id) \
                    if action == "killed_create" else {}
                self.api.create_node(ZONE, name, accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base",
                                     spot=bool(spot), labels=labels)
                self.born[name] = self.clock.now()
        elif found is None or found.state in ("DELETING",):
            return
        elif action == "delete":
            nodes.delete_node(self.api, self.books(member), found)
        elif action == "stop" and found.state == "READY":
            nodes.stop_node(self.api, self.books(member), found)
        elif action == "start" and found.state == "STOPPED":
            with suppress(PermissionDeniedError):       # a TPU billed to nobody: only a treasurer starts it
                nodes.start_node(self.api, self.books(member), found)
        elif action in ("gcloud_delete", "killed_delete"):
            self.outside_end(found)
            self.api.delete_node(ZONE, name)
        elif action == "preempt" and found.spot and found.state == "READY":
            self.outside_end(found, preempted=True)
            self.emulator.preempt(ZONE, name)
        elif action == "sync":
            self.sync()
        if action == "wait":
            self.clock.advance(name)

    def outside_end(self, node, preempted: bool = False) -> None:
        if node.state == "READY" and preempted and self.clock.now() - node.create_time <= FREE_PREEMPTION:
            # Free on the bill, but Cloud TPU gives no preemption time: a ledger that learns of it
            # at the next sync cannot tell it fell in the first minute, and bills from READY.
            self.unseen.append(node.create_time)
        elif node.state == "READY":
            self.unseen.append(self.clock.now())
        if node.name in self.born:                 # its whole life fell between two syncs
            self.late += 4 * int((self.clock.now() - self.born.pop(node.name)).total_seconds() + 1)

    def sync(self) -> None:
        self.books("cron").observe(self.api)
        now = self.clock.now()
        self.late += sum(4 * int((now - ended).total_seconds() + 1) for ended in self.unseen)
        self.unseen.clear()                        # counted until this sync saw them
        self.born.clear()

    def metered(self) -> Counter:
        now, total = self.clock.now(), Counter()
        for month in self.db.months():
            for interval in self.db.intervals(month):
                total[interval.member] += interval.chip_seconds
        for state in self.db.open_nodes():
            if (interval := state.open_interval(now)) is not None:
                total[interval.member] += interval.chip_seconds
        return total


def truth(emulator) -> tuple[Counter, Counter, int]:
    """Charged chip-seconds per owner, incarnations per node name, and READY intervals."""
    ran, incarnations, spans = Counter(), Counter(), 0
    for node in emulator.usage():
        owner = node["labels"].get(OWNER_LABEL, UNATTRIBUTED)
        incarnations[node["node"]] += 1
        for interval in node["intervals"]:
            spans += 1
            if interval["charged"]:
                ran[owner] += float(interval["chipSeconds"])
    return ran, incarnations, spans


@pytest.fixture
def world_factory(api, emulator):
    roots = []

    def make() -> World:
        emulator.reset(WorldSettings(boot_seconds=0))
        emulator.clock.set(T0)
        roots.append(Path(tempfile.mkdtemp(prefix="tpuctl-truth-")))
        return World(roots[-1], api, emulator)

    yield make
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=14))
@example(steps=[("create", "bob", "n2", False), ("stop", "alice", "n2", None), ("start", "alice", "n2", None)])
def test_metered_chip_seconds_equal_what_ran(world_factory, steps):
    world = world_factory()
    for action, member, name, spot in steps:
        world.run(action, member, name, spot)
        world.clock.advance(7)
    world.sync()
    ran, incarnations, spans = truth(world.emulator)
    metered = world.metered()
    late = world.late                           # one sync interval per node that ended unseen
    edges = 4 * 2 * spans                       # whole seconds at each end of each READY stretch
    for member in set(ran) | set(metered):
        assert abs(metered[member] - ran[member]) <= late + edges, (member, metered, ran, steps)
    assert sum(metered.values()) >= sum(ran.values()) - edges - late    # never billed less than ran
    billed = Counter(s.spec.node for s in world.db.node_states(
        row[0] for row in world.db.conn.execute("SELECT subject FROM nodes")))
    assert all(billed[name] <= made for name, made in incarnations.items())     # none billed twice
    listed = {n.name for n in world.api.list_nodes(None) if n.state not in ("DELETING",)}
    assert {s.spec.node for s in world.db.open_nodes()} <= listed   # nothing gone is still open
