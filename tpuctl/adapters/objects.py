"""The agent protocol's objects in the group store: read one, checked, or learn it is absent.

Every reader of a job's objects (the agent on a TPU VM, `tpuctl job`, the releasers) goes
through `read_object`, so each object is parsed in one place (tpuctl/domain/jobs/protocol.py).
"""

from __future__ import annotations

import uuid
from typing import Callable, TypeVar

from tpuctl.adapters.store import GroupStore, ObjectExists, ObjectNotFound
from tpuctl.domain.jobs.layout import cancel_key, cancels_prefix
from tpuctl.domain.jobs.protocol import BadObject, Cancel, load

T = TypeVar("T")


def read_object(store: GroupStore, cls: type[T], key: str) -> T | None:
    """The object at `key`, checked; None if there is none. BadObject (with the key and why) if
    it is malformed or from a newer tpuctl."""
    try:
        data = store.read(key)
    except ObjectNotFound:
        return None
    return load(cls, data, key)


def read_cancel(store: GroupStore, job: str, ignored: Callable[[BadObject], None]) -> Cancel | None:
    """The job's cancel, if asked: cancel.json, or when that holds something unreadable, the
    first readable one under cancels/ (`write_cancel`). What cannot be read goes to `ignored`."""
    try:
        return read_object(store, Cancel, cancel_key(job))
    except BadObject as exc:
        ignored(exc)
    for key in store.list(cancels_prefix(job)):
        try:
            found = read_object(store, Cancel, key)
        except BadObject as exc:
            ignored(exc)
            continue
        if found is not None:
            return found
    return None


def write_cancel(store: GroupStore, job: str, data: bytes, by: str) -> None:
    """Ask the job to stop (create-only). A readable cancel already there is as good; one a
    member wrote by hand to block cancels is stepped around, under cancels/."""
    try:
        store.create(cancel_key(job), data)
        return
    except ObjectExists:
        pass
    try:
        read_object(store, Cancel, cancel_key(job))
    except BadObject:
        store.create(f"{cancels_prefix(job)}{by}-{uuid.uuid4().hex}.json", data)
