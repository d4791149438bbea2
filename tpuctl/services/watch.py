"""What a use case tells while it runs, for whoever shows it: the admission it got, a change
of plan, and the steps it waits on. The CLI shows these live (a spinner, a line on stderr);
a caller that shows nothing passes `Quiet()`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from tpuctl.domain.budgets import Admission


class Watch(Protocol):
    def admitted(self, admission: Admission) -> None:
        """The request was weighed against the budgets (and perhaps let through by an override)."""

    def queueing(self, request: Any) -> None:
        """The zone had no capacity, so the request goes to the queue instead."""

    def waiting(self, message: str, *, lines: bool = False) -> AbstractContextManager[Callable[[str], None]]:
        """A step that takes a while; yields a function taking its current state."""


class Quiet:
    """A watch that shows nothing."""

    def admitted(self, admission: Admission) -> None:
        pass

    def queueing(self, request: Any) -> None:
        pass

    @contextmanager
    def waiting(self, message: str, *, lines: bool = False) -> Iterator[Callable[[str], None]]:
        yield lambda state: None
