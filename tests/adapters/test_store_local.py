"""The local-folder group store on real temp folders: the contract the GCS backend will
also meet, and what many writers at once (threads and processes) can and cannot do."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tpuctl.adapters.store import LocalStore, ObjectExists, ObjectNotFound, PreconditionFailed, open_store
from tpuctl.errors import ConfigError, ConflictError, ExitCode


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "group")


def test_create_is_create_only(store):
    store.create("ledger/events/2026/05/a.json", b"first")
    with pytest.raises(ObjectExists) as caught:
        store.create("ledger/events/2026/05/a.json", b"second")
    assert isinstance(caught.value, ConflictError) and caught.value.exit_code == ExitCode.CONFLICT
    assert caught.value.message == "ledger/events/2026/05/a.json already exists in the group store."
    assert store.read("ledger/events/2026/05/a.json") == b"first"
    assert (store.root / "ledger/events/2026/05/a.json").read_bytes() == b"first"    # a plain file


def test_missing_objects_are_not_found(store):
    with pytest.raises(ObjectNotFound, match="configs/x.yaml is not in the group store."):
        store.read("configs/x.yaml")
    with pytest.raises(ObjectNotFound):
        store.read_versioned("configs/x.yaml")
    with pytest.raises(ObjectNotFound):
        store.delete("configs/x.yaml")


def test_compare_and_swap_by_generation(store):
    assert store.write("jobs/j1/status", b"queued", if_generation=0) == 1
    data, generation = store.read_versioned("jobs/j1/status")
    assert (data, generation) == (b"queued", 1)
    assert store.write("jobs/j1/status", b"running", if_generation=1) == 2
    with pytest.raises(PreconditionFailed, match=r"generation 2, expected 1"):
        store.write("jobs/j1/status", b"stale", if_generation=1)
    with pytest.raises(PreconditionFailed, match="already exists"):
        store.write("jobs/j1/status", b"again", if_generation=0)
    assert store.write("jobs/j1/status", b"forced") == 3
    assert store.read_versioned("jobs/j1/status") == (b"forced", 3)


def test_a_created_object_is_generation_1_and_a_recreated_one_never_reuses_a_generation(store):
    store.create("configs/a.yaml", b"v1")
    assert store.read_versioned("configs/a.yaml") == (b"v1", 1)
    assert store.write("configs/a.yaml", b"v2", if_generation=1) == 2
    store.delete("configs/a.yaml")
    store.create("configs/a.yaml", b"v3")
    assert store.read_versioned("configs/a.yaml") == (b"v3", 3)
    with pytest.raises(PreconditionFailed):
        store.write("configs/a.yaml", b"late writer who read v2", if_generation=2)


def test_list_is_in_key_order_after_start_after_and_hides_the_stores_own_files(store):
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
    assert list(store.list("ledger/ev")) == sorted(k for k in keys if k.startswith("ledger/ev"))
    assert list(store.list("nothing/here/")) == []


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../escape", "ledger/./x", ".tpuctl-store/gen/x", "a b"])
def test_keys_that_could_escape_or_collide_are_refused(store, key):
    with pytest.raises(ConfigError, match="is not a valid store key"):
        store.create(key, b"x")


def test_open_store_takes_a_folder_or_file_url_and_says_gcs_is_not_here_yet(tmp_path):
    assert open_store(str(tmp_path / "a")).root == tmp_path / "a"
    assert open_store((tmp_path / "b").as_uri()).root == tmp_path / "b"
    with pytest.raises(ConfigError) as caught:
        open_store("gs://study-group/tpuctl")
    assert caught.value.message == ("Group store gs://study-group/tpuctl is on Google Cloud Storage, which this "
                                    "tpuctl does not support yet.")
    with pytest.raises(ConfigError, match="unknown scheme 's3'"):
        open_store("s3://bucket")


# --- many writers ---------------------------------------------------------------------------

def _create_many(root: str, writer: int, count: int) -> int:
    store = LocalStore(root)
    for i in range(count):
        store.create(f"ledger/events/2026/05/w{writer:02d}-{i:04d}.json", f"{writer}:{i}".encode())
    return count


def _increment(root: str, times: int) -> int:
    """Add 1 to a shared counter `times` times with read / compare-and-swap / retry."""
    store, retries = LocalStore(root), 0
    for _ in range(times):
        while True:
            data, generation = store.read_versioned("jobs/counter")
            try:
                store.write("jobs/counter", str(int(data) + 1).encode(), if_generation=generation)
                break
            except PreconditionFailed:
                retries += 1
    return retries


def _claim(root: str, writer: int) -> bool:
    try:
        LocalStore(root).create("jobs/j1/lease", str(writer).encode())
        return True
    except ObjectExists:
        return False


def _run_threads(fn, args_list):
    with ThreadPoolExecutor(len(args_list)) as pool:
        return list(pool.map(lambda args: fn(*args), args_list))


def _run_processes(fn, args_list):
    with multiprocessing.get_context("spawn").Pool(len(args_list)) as pool:
        return pool.starmap(fn, args_list)


@pytest.mark.parametrize("run", [_run_threads, _run_processes], ids=["threads", "processes"])
def test_many_writers_lose_nothing(tmp_path, run):
    root = str(tmp_path / "group")
    run(_create_many, [(root, writer, 60) for writer in range(8)])
    keys = list(LocalStore(root).list("ledger/events/"))
    assert len(keys) == 480 and len(set(keys)) == 480
    assert not os.listdir(tmp_path / "group" / ".tpuctl-store" / "tmp")        # no temp file left over


@pytest.mark.parametrize("run", [_run_threads, _run_processes], ids=["threads", "processes"])
def test_compare_and_swap_is_exact_under_contention(tmp_path, run):
    root = str(tmp_path / "group")
    LocalStore(root).create("jobs/counter", b"0")
    run(_increment, [(root, 40) for _ in range(6)])
    assert LocalStore(root).read_versioned("jobs/counter") == (b"240", 241)


@pytest.mark.parametrize("run", [_run_threads, _run_processes], ids=["threads", "processes"])
def test_exactly_one_of_many_creators_wins(tmp_path, run):
    root = str(tmp_path / "group")
    LocalStore(root)
    wins = run(_claim, [(root, writer) for writer in range(12)])
    assert wins.count(True) == 1
    assert LocalStore(root).read("jobs/j1/lease") == str(wins.index(True)).encode()
