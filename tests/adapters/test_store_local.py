"""The local-folder group store on real temp folders: what only it promises (plain files,
generations 1, 2, 3), and many writers in threads and processes. The shared contract is in
test_store_contract.py."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.adapters.test_store_contract import increment
from tpuctl.adapters.store import LocalStore, ObjectExists, PreconditionFailed, open_store
from tpuctl.errors import ConfigError


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "group")


def test_objects_are_plain_files(store):
    store.create("ledger/events/2026/05/a.json", b"first")
    assert (store.root / "ledger/events/2026/05/a.json").read_bytes() == b"first"


def test_generations_count_1_2_3_and_a_recreated_object_goes_on_counting(store):
    assert store.write("jobs/j1/status", b"queued", if_generation=0) == 1
    assert store.write("jobs/j1/status", b"running", if_generation=1) == 2
    with pytest.raises(PreconditionFailed, match=r"generation 2, expected 1"):
        store.write("jobs/j1/status", b"stale", if_generation=1)
    assert store.write("jobs/j1/status", b"forced") == 3
    store.create("configs/a.yaml", b"v1")
    assert store.read_versioned("configs/a.yaml") == (b"v1", 1)
    assert store.write("configs/a.yaml", b"v2", if_generation=1) == 2
    store.delete("configs/a.yaml")
    store.create("configs/a.yaml", b"v3")
    assert store.read_versioned("configs/a.yaml") == (b"v3", 3)


def test_list_hides_the_stores_own_files(store):
    store.create("configs/a.yaml", b"x")
    store.write("configs/a.yaml", b"y", if_generation=1)            # leaves a side file under .tpuctl-store
    assert list(store.list()) == ["configs/a.yaml"]
    with pytest.raises(ConfigError, match="is not a valid store key"):
        store.create(".tpuctl-store/gen/x", b"x")


def test_open_store_takes_a_folder_or_file_url(tmp_path):
    assert open_store(str(tmp_path / "a")).root == tmp_path / "a"
    assert open_store((tmp_path / "b").as_uri()).root == tmp_path / "b"
    with pytest.raises(ConfigError, match="unknown scheme 's3'"):
        open_store("s3://bucket")


# --- many writers ---------------------------------------------------------------------------

def _create_many(root: str, writer: int, count: int) -> int:
    store = LocalStore(root)
    for i in range(count):
        store.create(f"ledger/events/2026/05/w{writer:02d}-{i:04d}.json", f"{writer}:{i}".encode())
    return count


def _increment(root: str, times: int) -> int:
    return increment(LocalStore(root), times)


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
    """Each writer in a process of its own, forked from a server that imported this module once
    (a process spawned from scratch imports it again: 0.2 s of CPU per writer)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with context.Pool(len(args_list)) as pool:
        return pool.starmap(fn, args_list)


@pytest.mark.parametrize("run", [_run_threads, pytest.param(_run_processes, marks=pytest.mark.slow)],
                         ids=["threads", "processes"])
def test_many_writers_lose_nothing(tmp_path, run):
    root = str(tmp_path / "group")
    run(_create_many, [(root, writer, 60) for writer in range(8)])
    keys = list(LocalStore(root).list("ledger/events/"))
    assert len(keys) == 480 and len(set(keys)) == 480
    assert not os.listdir(tmp_path / "group" / ".tpuctl-store" / "tmp")        # no temp file left over


@pytest.mark.slow
@pytest.mark.parametrize("run", [_run_threads, _run_processes], ids=["threads", "processes"])
def test_compare_and_swap_is_exact_under_contention(tmp_path, run):
    root = str(tmp_path / "group")
    LocalStore(root).create("jobs/counter", b"0")
    run(_increment, [(root, 40) for _ in range(6)])
    assert LocalStore(root).read_versioned("jobs/counter") == (b"240", 241)


@pytest.mark.parametrize("run", [_run_threads, pytest.param(_run_processes, marks=pytest.mark.slow)],
                         ids=["threads", "processes"])
def test_exactly_one_of_many_creators_wins(tmp_path, run):
    root = str(tmp_path / "group")
    LocalStore(root)
    wins = run(_claim, [(root, writer) for writer in range(12)])
    assert wins.count(True) == 1
    assert LocalStore(root).read("jobs/j1/lease") == str(wins.index(True)).encode()


@pytest.mark.parametrize("write", ["create", "write"])
def test_a_store_folder_that_vanished_is_not_made_again_by_a_write(tmp_path, write):
    """An unmounted disk: the write fails as "store unavailable" (its events wait in the outbox)
    and leaves no empty folder where the mount was, for the next command to take for the store."""
    from tpuctl.errors import UnavailableError

    store = LocalStore(tmp_path / "store")
    store.write("ledger/state.json", b"1")
    (tmp_path / "store").rename(tmp_path / "unmounted")
    with pytest.raises(UnavailableError):
        getattr(store, write)("ledger/events/2026/11/x.json" if write == "create" else "ledger/state.json", b"2")
    assert not (tmp_path / "store").exists()
