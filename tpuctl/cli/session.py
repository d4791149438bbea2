"""What every command needs, built lazily: the profile, the Cloud TPU adapter, the clock."""

from __future__ import annotations

import os
import re
from functools import cached_property

from tpuctl.config import Profile, data_dir, resolve_profile
from tpuctl.domain.clock import Clock, SystemClock
from tpuctl.errors import ConfigError, TpuctlError

MAX_RETRIES = 100


def _retries() -> int:
    """TPUCTL_RETRIES: how many times to try a call that meets 429/503 (default 5)."""
    raw = os.environ.get("TPUCTL_RETRIES", "5")
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_RETRIES:
        raise ConfigError(f"TPUCTL_RETRIES must be a whole number from 1 to {MAX_RETRIES}, not '{raw}'.")
    return int(raw)


class Session:
    def __init__(self, config_flag: str | None = None, profile_flag: str | None = None, debug: bool = False):
        self.config_flag = config_flag
        self.profile_flag = profile_flag
        self.debug = debug
        self.clock: Clock = SystemClock()

    def end(self) -> None:
        """When the command is done: the notices due, then the view closed (its lock file let go,
        so a later first sync in this process may fill a fresh view beside it)."""
        from tpuctl.cli.notices import show_after

        try:
            show_after(self)
        finally:
            if "ledger" in self.__dict__:
                self.ledger.close()

    @cached_property
    def profile(self) -> Profile:
        if self.config_flag:        # one config for this command and all it runs (keys live beside it)
            os.environ["TPUCTL_CONFIG"] = str(self.config_flag)
        return resolve_profile(self.config_flag, self.profile_flag)

    @cached_property
    def store(self):
        from tpuctl.adapters.store import open_store

        return open_store(self.profile.store)

    def reachable_store(self):
        """The store, or for a folder that cannot be opened one whose every request says why
        (so a delete can still act and keep its events in the outbox)."""
        from pathlib import Path

        from tpuctl.adapters.store import UnreachableStore

        try:
            return self.store
        except TpuctlError as exc:
            if "://" in self.profile.store and not self.profile.store.startswith("file:"):
                raise
            return UnreachableStore(Path(self.profile.store.removeprefix("file://")).expanduser().resolve().as_uri(),
                                    exc.message, exc.exit_code)

    @cached_property
    def ledger(self):
        """The local SQLite view of the group's ledger (a cache: the store is the truth)."""
        from tpuctl.adapters.ledger_db import LedgerDB

        from tpuctl.services.sync import watch_store

        store = self.reachable_store()
        return watch_store(store, LedgerDB(data_dir() / "ledger" / f"{self.profile.name}.sqlite", store_url=store.url))

    @cached_property
    def prices(self):
        from tpuctl.adapters.user_files import load_price_table

        return load_price_table(os.environ.get("TPUCTL_PRICES") or None)

    @cached_property
    def books(self):
        """The ledger as this member reaches it: admission and recording for the commands that spend
        (create, queue, run, delete), and the month and costs they show."""
        from tpuctl.services.ledger import Books

        from tpuctl.cli import render

        return Books(self.reachable_store(), self.ledger, self.clock, self.prices, self.profile.member,
                     lister=lambda: self.api, notify=lambda text: render.echo(text, err=True))

    @cached_property
    def api(self):
        from tpuctl.adapters.tpu import RetryPolicy, TpuApi

        endpoint, pace = self.profile.api_endpoint, {}
        if self.profile.is_local:
            from tpuctl.adapters.local_emulator import LOCAL_POLL, start_local_emulator

            endpoint, pace = start_local_emulator(data_dir()), LOCAL_POLL
        from tpuctl.cli.render import retry_notice

        return TpuApi(self.profile.project, endpoint, retry=RetryPolicy(attempts=_retries()), on_retry=retry_notice,
                      **pace)

    def member_key(self):
        """This member's public key (made on first use) and the file that holds the private half."""
        from tpuctl.adapters import keys

        member = self.profile.member
        return keys.signing_key(member).public, keys.key_path(member)

    def emulator_runs_agents(self) -> bool | None:
        """Whether the served emulator this profile talks to starts tpuctl agents (None: not one)."""
        from tpuctl.adapters.emulator_control import runs_agents

        return runs_agents(self.profile.api_endpoint)


def agent_parts(store_url: str, project: str | None, endpoint: str | None, root):
    """What `tpuctl agent` runs on: the group store, and (given the project and the Cloud TPU
    endpoint) worker 0's way to delete its TPU when its job ends: the ledger in a file of its
    own, the Cloud TPU client made at the first release (on the local profile, this machine's
    emulator)."""
    from functools import cache

    from tpuctl.adapters.ledger_db import LedgerDB
    from tpuctl.adapters.store import open_store
    from tpuctl.config import LOCAL_ENDPOINT
    from tpuctl.adapters.user_files import load_price_table
    from tpuctl.services.ledger import Books
    from tpuctl.services.release import AgentRelease
    from tpuctl.services.sync import watch_store

    store = open_store(store_url)
    if not project or endpoint is None:
        return store, None

    @cache
    def api():
        from tpuctl.adapters.tpu import TpuApi

        if endpoint == LOCAL_ENDPOINT:
            from tpuctl.adapters.local_emulator import LOCAL_POLL, start_local_emulator

            return TpuApi(project, start_local_emulator(data_dir()), **LOCAL_POLL)
        return TpuApi(project, endpoint)

    @cache
    def ledger():
        return watch_store(store, LedgerDB(root / "ledger.sqlite", store_url=store.url)), load_price_table()

    def books(member: str):
        db, prices = ledger()
        return Books(store, db, clock, prices, member, lister=api)

    clock = SystemClock()
    return store, AgentRelease(store, clock, books, api)
