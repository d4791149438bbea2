"""What a use case works with: the member's profile, the clock, Cloud TPU, the group store
and the books. The CLI's session provides each lazily, so a use case that never calls
Cloud TPU never makes its client."""

from __future__ import annotations

from typing import Any, Protocol

from tpuctl.config import Profile
from tpuctl.domain.clock import Clock


class Context(Protocol):
    profile: Profile
    clock: Clock

    @property
    def api(self) -> Any: ...

    @property
    def store(self) -> Any: ...

    def reachable_store(self) -> Any:
        """The store; for a folder that cannot be opened, one whose every request says so."""

    @property
    def books(self) -> Any: ...

    @property
    def ledger(self) -> Any: ...

    @property
    def prices(self) -> Any: ...

    def emulator_runs_agents(self) -> bool | None: ...
