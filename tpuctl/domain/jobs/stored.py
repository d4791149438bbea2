"""Stored job configs: the two lines tpuctl adds to a pushed config and where versions live.

`# tpuctl-config: NAME@vN` says which version a file started from; `# tpuctl-code: sha256:...`
names the bundle of the code pushed with it. No I/O here."""

from __future__ import annotations

import re
from datetime import datetime

from tpuctl.domain.jobs.layout import iso, key_number

HEADER_RE = re.compile(r"^# tpuctl-config: ([a-z][a-z0-9-]*)@v(\d+)\b(?: \(pushed by (\S+) at (\S+?);)?")


def config_header(name: str, version: int, member: str, when: datetime) -> str:
    return (f"# tpuctl-config: {name}@v{version} (pushed by {member} at {iso(when)}; "
            "`tpuctl configs push` reads this line)\n")


def read_header(text: str) -> tuple[str, int] | None:
    match = HEADER_RE.match(text)
    return (match.group(1), int(match.group(2))) if match else None


def pushed_by(text: str) -> tuple[str, str] | tuple[None, None]:
    """(member, time) from a stored config's header."""
    match = HEADER_RE.match(text)
    return (match.group(3), match.group(4)) if match and match.group(3) else (None, None)


CODE_RE = re.compile(r"^# tpuctl-code: sha256:([0-9a-f]{64})\b.*\n?")


def code_line(digest: str, files: int, size: int) -> str:
    """The stored config's second line: the content-addressed bundle of its workdir."""
    return f"# tpuctl-code: sha256:{digest} ({files} file{'s' if files != 1 else ''}, {shown_size(size)})\n"


def read_code(text: str) -> str | None:
    """The digest of a stored config's code, if it was pushed with it."""
    match = CODE_RE.match(text.partition("\n")[2] if HEADER_RE.match(text) else text)
    return match.group(1) if match else None


def strip_header(text: str) -> str:
    """The config as the member wrote it: without the header line and the code line tpuctl adds."""
    text = text.partition("\n")[2] if HEADER_RE.match(text) else text
    match = CODE_RE.match(text)
    return text[match.end():] if match else text


def shown_size(size: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def config_key(name: str, version: int) -> str:
    return f"configs/{name}/v{version}.yaml"


def config_version(key: str) -> int | None:
    return key_number(r"configs/[a-z0-9-]+/v(\d+)\.yaml", key)

