"""Reading the files a user points tpuctl at (a job config, a price file): a missing or
unreadable file is one sentence in the caller's words, never a traceback."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from tpuctl.domain.prices import PriceTable, parse_price_table
from tpuctl.errors import ConfigError


def read_user_file(path: Path, missing: str, unreadable: str) -> bytes:
    """The file's bytes. `missing` and `unreadable` are the sentences to raise, formatted with
    `path`, and for `unreadable` the OSError as `error` and its plain reason as `reason`."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(missing.format(path=path)) from None
    except OSError as exc:
        raise ConfigError(unreadable.format(path=path, error=exc,
                                            reason=getattr(exc, "strerror", None) or exc)) from None


def load_price_table(path: str | Path | None = None) -> PriceTable:
    """The price file at `path`, or the one shipped with tpuctl."""
    source = Path(path) if path else resources.files("tpuctl") / "data" / "prices.toml"
    text = read_user_file(source, "Price file {path} does not exist.", "Price file {path} cannot be read ({reason}).")
    return _parsed(text, str(source))


@lru_cache(maxsize=4)
def _parsed(text: bytes, origin: str) -> PriceTable:
    """Parsed once per content (a frozen table): a process that runs many commands reads the
    same file each time, and TOML parsing is most of what a command spends on prices."""
    return parse_price_table(text, origin)
