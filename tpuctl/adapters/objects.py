"""The agent protocol's objects in the group store: read one, checked, or learn it is absent.

Every reader of a job's objects (the agent on a TPU VM, `tpuctl job`, the releasers) goes
through `read_object`, so each object is parsed in one place (tpuctl/domain/jobs/protocol.py).
"""

from __future__ import annotations

from typing import TypeVar

from tpuctl.adapters.store import GroupStore, ObjectNotFound
from tpuctl.domain.jobs.protocol import load

T = TypeVar("T")


def read_object(store: GroupStore, cls: type[T], key: str) -> T | None:
    """The object at `key`, checked; None if there is none. BadObject (with the key and why) if
    it is malformed or from a newer tpuctl."""
    try:
        data = store.read(key)
    except ObjectNotFound:
        return None
    return load(cls, data, key)
