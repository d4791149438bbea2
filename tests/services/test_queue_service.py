"""`--wait` for a queued resource: the live status, success, and the failure sentence."""

from __future__ import annotations

import pytest

from tests.conftest import ZONE
from tpuctl.config import resolve_profile
from tpuctl.domain.clock import ManualClock, SystemClock
from tpuctl.errors import CapacityError
from tpuctl.services import queue as svc


@pytest.fixture
def full_zone(api, emulator):
    emulator.set_capacity(ZONE, "v4", 4)
    api.create_node(ZONE, "blocker", accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base",
                    spot=False, labels={})
    return emulator


@pytest.fixture
def books(tmp_path):
    from tpuctl.adapters.ledger_db import LedgerDB
    from tpuctl.adapters.store import LocalStore
    from tpuctl.adapters.user_files import load_price_table
    from tpuctl.services.ledger import Books

    return Books(LocalStore(tmp_path / "store"), LedgerDB(tmp_path / "ledger.db"), SystemClock(), load_price_table(),
                 "alice")


class Meanwhile(ManualClock):
    """A clock whose every wait runs `meanwhile(seconds)` and takes no real time."""

    def __init__(self, meanwhile):
        super().__init__()
        self.meanwhile = meanwhile

    def sleep(self, seconds: float) -> None:
        self.meanwhile(seconds)
        super().sleep(seconds)


def queue(api, books, name: str, **kwargs):
    profile = resolve_profile()
    request = svc.build_queue_request(profile, name, "v4-8", now=SystemClock().now(), zone=ZONE, **kwargs)
    return svc.queue_create(api, books, request, books.admit(request.usage(books.actor)))


def test_wait_follows_the_request_until_active(api, books, full_zone):
    queued = queue(api, books, "patient")
    updates: list[str] = []

    def sleep(_seconds: float) -> None:
        if len(updates) == 1:
            api.delete_node(ZONE, "blocker")
        full_zone.advance_clock(30)

    done = svc.wait_queued(api, queued, Meanwhile(sleep), on_progress=updates.append)
    assert done.state == "ACTIVE"
    assert updates[-1] == "ACTIVE"           # the state only: the live line shows the time elapsed
    assert all(u in ("ACCEPTED", "WAITING_FOR_RESOURCES", "PROVISIONING") for u in updates[:-1])
    assert api.get_node(ZONE, "patient").owner == "alice"


def test_wait_says_why_a_request_failed(api, books, full_zone):
    queued = queue(api, books, "hopeless", valid_for="1h")
    with pytest.raises(CapacityError) as failure:
        svc.wait_queued(api, queued, Meanwhile(lambda _s: full_zone.advance_clock(3600)))
    assert failure.value.message.startswith("Queued resource 'hopeless' failed: ")
    assert failure.value.hint == "It still holds its place until deleted: `tpuctl queue delete hopeless`."
