"""Members' private keys on this machine: `<config dir>/keys/<member>.ed25519`, owner-only.

A key is made the first time a member records something (or runs `tpuctl whoami`), created
with O_EXCL so two commands starting at once agree on one key. The store never sees it:
only the public half goes into the ledger, through a treasurer's `group add --key`.
"""

from __future__ import annotations

import os
from pathlib import Path

from tpuctl.config import config_path
from tpuctl.domain.signing import SigningKey
from tpuctl.errors import ConfigError

_loaded: dict[Path, SigningKey] = {}


def keys_dir() -> Path:
    """Beside the config file this process uses (TPUCTL_CONFIG, which --config sets)."""
    return config_path().parent / "keys"


def key_path(member: str) -> Path:
    return keys_dir() / f"{member}.ed25519"


def signing_key(member: str) -> SigningKey:
    """The member's key on this machine, made on first use."""
    path = key_path(member)
    if path in _loaded:
        return _loaded[path]
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = _create(path)
    except OSError as exc:
        raise ConfigError(f"Cannot read {member}'s key {path} ({exc.strerror}).") from None
    try:
        key = SigningKey.from_text(text)
    except ValueError:
        raise ConfigError(f"{path} is not an Ed25519 key tpuctl wrote.",
                          hint="Restore it from a backup; a new key must be given to the group by a treasurer "
                               "(`tpuctl group rekey`).") from None
    _loaded[path] = key
    return key


def _create(path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = SigningKey.generate().to_text()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()          # another command made it a moment ago
    except OSError as exc:
        raise ConfigError(f"Cannot write a key to {path} ({exc.strerror}).") from None
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")
    return text
