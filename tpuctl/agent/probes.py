"""What the agent looks at to say whether its TPU VM is in use, besides its own jobs.

- device: a process outside tpuctl holds the TPU device open (`/dev/accel*` on v2-v4,
  `/dev/vfio/*` on v5e and later), found by scanning `/proc/*/fd`; a job's own processes
  (the agent's descendants) are not counted, the job already is.
- ssh: a user is logged in from another host (USER_PROCESS records with a host in utmp,
  whose process still runs).
- touch: a member ran `tpuctl touch NAME` and its time has not run out (read from the store).

A probe that cannot look (no permission to read a process's files, a malformed utmp, the
store away) says so: the agent then reports the node busy with kind "probe" and the reason,
never idle. A missing utmp file means nobody is logged in (systems without login records).
"""

from __future__ import annotations

import glob
import os
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tpuctl.adapters.objects import read_object
from tpuctl.domain.activity import Busy
from tpuctl.domain.jobs import touch_prefix
from tpuctl.domain.jobs.protocol import BadObject, Touch
from tpuctl.domain.times import shown_time

DEFAULT_DEVICES = ("/dev/accel*", "/dev/vfio/*")
DEFAULT_UTMP = "/var/run/utmp"
UTMP_RECORD = struct.Struct("<hxxi32s4s32s256shhiii4i20x")     # glibc's struct utmp on 64-bit Linux
USER_PROCESS = 7
MAX_TOUCH = timedelta(hours=24)       # a touch record never keeps a TPU busy longer than this


class ProbeFailed(Exception):
    """A probe could not look; its message is the reason the node reports."""


@dataclass(frozen=True)
class Probes:
    devices: tuple[str, ...] = DEFAULT_DEVICES
    utmp: str = DEFAULT_UTMP
    proc: str = "/proc"

    @classmethod
    def from_options(cls, devices: str | None, utmp: str | None) -> Probes:
        patterns = tuple(p.strip() for p in (devices or "").split(",") if p.strip())
        return cls(devices=patterns or DEFAULT_DEVICES, utmp=utmp or DEFAULT_UTMP)

    def busy(self, agent_pid: int) -> list[Busy]:
        """Every reason the VM is in use that the device and SSH probes see."""
        reasons: list[Busy] = []
        for kind, probe in (("device", lambda: self.device_holders(agent_pid)), ("ssh", self.ssh_logins)):
            try:
                reasons += [Busy(kind, detail) for detail in probe()]
            except (ProbeFailed, OSError) as exc:
                reasons.append(Busy("probe", f"the {kind} probe failed: {exc}"))
        return reasons

    def device_holders(self, agent_pid: int) -> list[str]:
        paths = {p for pattern in self.devices for p in glob.glob(pattern)}
        if not paths:
            return []
        targets = paths | {os.path.realpath(p) for p in paths}
        found = []
        for entry in os.scandir(self.proc):
            if not entry.name.isdigit() or int(entry.name) == agent_pid:
                continue
            held = self._held(entry.path, targets)
            if held and not self._descends(int(entry.name), agent_pid):
                found.append(f"pid {entry.name} ({self._comm(entry.path)}) holds {held}")
        return found

    def _held(self, pid_dir: str, targets: set[str]) -> str | None:
        try:
            fds = os.listdir(f"{pid_dir}/fd")
        except (FileNotFoundError, ProcessLookupError):
            return None                                   # it ended while we looked
        except PermissionError:
            raise ProbeFailed(f"cannot see which files process {Path(pid_dir).name} holds (permission denied)") from None
        for fd in fds:
            try:
                target = os.readlink(f"{pid_dir}/fd/{fd}")
            except OSError:
                continue
            if target in targets:
                return target
        return None

    def _descends(self, pid: int, ancestor: int) -> bool:
        """Is `pid` a descendant of `ancestor` (a job the agent started)?"""
        for _ in range(64):
            try:
                stat = Path(f"{self.proc}/{pid}/stat").read_text()
                pid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return False
            if pid == ancestor:
                return True
            if pid <= 1:
                return False
        return False

    def _comm(self, pid_dir: str) -> str:
        try:
            return Path(f"{pid_dir}/comm").read_text().strip()
        except OSError:
            return "?"

    def ssh_logins(self) -> list[str]:
        try:
            data = Path(self.utmp).read_bytes()
        except FileNotFoundError:
            return []
        if len(data) % UTMP_RECORD.size:
            raise ProbeFailed(f"{self.utmp} is {len(data)} bytes, not whole login records")
        found = []
        for record in UTMP_RECORD.iter_unpack(data):
            kind, pid, line, _, user, host = record[:6]
            if kind != USER_PROCESS or not host.strip(b"\0") or not os.path.exists(f"{self.proc}/{pid}"):
                continue
            found.append(f"{_text(user)} from {_text(host)} on {_text(line)}")
        return found


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def touches(store, zone: str, node: str, now: datetime) -> list[Busy]:
    """`tpuctl touch` records still in force (a malformed one is ignored: anyone can write one)."""
    found = []
    for key in store.list(touch_prefix(zone, node)):
        try:
            touch = read_object(store, Touch, key)
        except BadObject:
            continue
        if touch is None:
            continue
        until = min(touch.until, touch.time + MAX_TOUCH)
        if touch.time <= now + timedelta(minutes=5) and now < until:
            found.append(Busy("touch", f"touched by {touch.by} until {shown_time(until)}"))
    return found
