"""The group store contract, run on every backend: a local folder, a GCS bucket (a real
fake-gcs-server), and a folder inside a GCS bucket. Generations are compared, never spelled out:
GCS numbers them by time, the local store 1, 2, 3 (test_store_local.py pins that)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tpuctl.adapters.gcs_store import GcsStore
from tpuctl.adapters.store import GroupStore, LocalStore, ObjectExists, ObjectNotFound, PreconditionFailed
from tpuctl.errors import ConfigError, ConflictError, ExitCode


@pytest.fixture(params=["local", "gcs", "gcs-prefix"])
def store(request, tmp_path) -> GroupStore:
    if request.param == "local":
        return LocalStore(tmp_path / "group")
    bucket = request.getfixturevalue("gcs_bucket")
    return GcsStore(f"gs://{bucket}/groups/ml" if request.param == "gcs-prefix" else f"gs://{bucket}")


def test_create_is_create_only(store):
    store.create("ledger/events/2026/05/a.json", b"first")
    with pytest.raises(ObjectExists) as caught:
        store.create("ledger/events/2026/05/a.json", b"second")
    assert isinstance(caught.value, ConflictError) and caught.value.exit_code == ExitCode.CONFLICT
    assert caught.value.message == "ledger/events/2026/05/a.json already exists in the group store."
    assert store.read("ledger/events/2026/05/a.json") == b"first"


def test_missing_objects_are_not_found(store):
    with pytest.raises(ObjectNotFound, match="configs/x.yaml is not in the group store."):
        store.read("configs/x.yaml")
    with pytest.raises(ObjectNotFound):
        store.read_versioned("configs/x.yaml")
    with pytest.raises(ObjectNotFound):
        store.delete("configs/x.yaml")


def test_compare_and_swap_by_generation(store):
    first = store.write("jobs/j1/status", b"queued", if_generation=0)
    assert store.read_versioned("jobs/j1/status") == (b"queued", first)
    second = store.write("jobs/j1/status", b"running", if_generation=first)
    assert second > first
    with pytest.raises(PreconditionFailed, match="jobs/j1/status changed in the group store"):
        store.write("jobs/j1/status", b"stale", if_generation=first)
    with pytest.raises(PreconditionFailed, match="jobs/j1/status already exists in the group store"):
        store.write("jobs/j1/status", b"again", if_generation=0)
    with pytest.raises(PreconditionFailed):
        store.write("jobs/j2/status", b"never there", if_generation=first)
    forced = store.write("jobs/j1/status", b"forced")
    assert forced > second
    assert store.read_versioned("jobs/j1/status") == (b"forced", forced)
    assert store.read("jobs/j1/status") == b"forced"


def test_a_recreated_object_never_reuses_a_generation(store):
    store.create("configs/a.yaml", b"v1")
    _, first = store.read_versioned("configs/a.yaml")
    second = store.write("configs/a.yaml", b"v2", if_generation=first)
    store.delete("configs/a.yaml")
    with pytest.raises(ObjectNotFound):
        store.read("configs/a.yaml")
    store.create("configs/a.yaml", b"v3")
    data, third = store.read_versioned("configs/a.yaml")
    assert data == b"v3" and third > second > first
    for late in (first, second):
        with pytest.raises(PreconditionFailed):
            store.write("configs/a.yaml", b"late writer", if_generation=late)


def test_list_is_in_key_order_after_start_after(store):
    keys = ["ledger/events/2026/05/01B.json", "ledger/events/2026/05/01A.json", "ledger/events/2026/06/01C.json",
            "ledger/events-old", "ledger/events/2026/05-notes", "jobs/j1/log", "configs/train.yaml"]
    for key in keys:
        store.create(key, b"x")
    assert list(store.list()) == sorted(keys)
    assert list(store.list("ledger/events/")) == ["ledger/events/2026/05-notes", "ledger/events/2026/05/01A.json",
                                                  "ledger/events/2026/05/01B.json", "ledger/events/2026/06/01C.json"]
    assert list(store.list("ledger/events/", start_after="ledger/events/2026/05/01A.json")) == [
        "ledger/events/2026/05/01B.json", "ledger/events/2026/06/01C.json"]
    assert list(store.list("ledger/events/", start_after="ledger/events/2026/05/01")) == [
        "ledger/events/2026/05/01A.json", "ledger/events/2026/05/01B.json", "ledger/events/2026/06/01C.json"]
    assert list(store.list("ledger/events/", start_after="ledger/events/2026/06/01C.json")) == []
    assert list(store.list(start_after="jobs/j1/log")) == sorted(k for k in keys if k > "jobs/j1/log")
    assert list(store.list("ledger/ev")) == sorted(k for k in keys if k.startswith("ledger/ev"))
    assert list(store.list("nothing/here/")) == []


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../escape", "ledger/./x", "ledger/", ".hidden", "a b"])
def test_keys_that_could_escape_or_collide_are_refused(store, key):
    for attempt in (lambda: store.create(key, b"x"), lambda: store.write(key, b"x"), lambda: store.read(key),
                    lambda: store.read_versioned(key), lambda: store.delete(key)):
        with pytest.raises(ConfigError, match="is not a valid store key"):
            attempt()


# --- many writers (threads sharing one store; processes: test_store_local.py) ---------------

def _run_threads(fn, args_list):
    with ThreadPoolExecutor(len(args_list)) as pool:
        return list(pool.map(lambda args: fn(*args), args_list))


def test_exactly_one_of_many_creators_wins(store):
    def claim(writer: int) -> bool:
        try:
            store.create("jobs/j1/lease", str(writer).encode())
            return True
        except ObjectExists:
            return False

    wins = _run_threads(claim, [(writer,) for writer in range(12)])
    assert wins.count(True) == 1
    assert store.read("jobs/j1/lease") == str(wins.index(True)).encode()


def increment(store, times: int) -> int:
    """Add 1 to a shared counter `times` times with read / compare-and-swap / retry; returns the retries."""
    retries = 0
    for _ in range(times):
        while True:
            data, generation = store.read_versioned("jobs/counter")
            try:
                store.write("jobs/counter", str(int(data) + 1).encode(), if_generation=generation)
                break
            except PreconditionFailed:
                retries += 1
    return retries


def test_compare_and_swap_is_exact_under_contention(store):
    store.create("jobs/counter", b"0")
    _run_threads(increment, [(store, 15) for _ in range(6)])
    assert store.read("jobs/counter") == b"90"


def test_many_writers_lose_nothing(store):
    def create_many(writer: int, count: int) -> None:
        for i in range(count):
            store.create(f"ledger/events/2026/05/w{writer:02d}-{i:04d}.json", f"{writer}:{i}".encode())

    _run_threads(create_many, [(writer, 25) for writer in range(8)])
    keys = list(store.list("ledger/events/"))
    assert keys == sorted(f"ledger/events/2026/05/w{w:02d}-{i:04d}.json" for w in range(8) for i in range(25))
