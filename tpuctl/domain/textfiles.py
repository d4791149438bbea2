"""Reading the text formats people write by hand (config, price file): the flaws every
such file can have, each turned into one sentence that names the file.

A file is bytes until proven UTF-8; a parser that recurses (TOML arrays, YAML) meets its
limit on a deeply nested file; Python refuses numbers of more than 4300 digits.
"""

from __future__ import annotations

import gc
import re
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from tpuctl.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAX_DIGITS = 4300     # sys.get_int_max_str_digits() by default
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_text(data: bytes | str, name: str) -> str:
    """`name` is how a sentence starts, e.g. "The config file /x/config.toml"."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{name} is not UTF-8 text (byte {exc.start + 1} is {data[exc.start]:#04x}).",
                              hint="Save it as UTF-8, or move it away.") from None
    if _SURROGATE.search(text):
        raise ConfigError(f"{name} is not UTF-8 text (it holds a lone surrogate).", hint="Save it as UTF-8.")
    return text


@contextmanager
def deep_parse() -> Iterator[None]:
    """Keep the cyclic collector off while a recursive parser may reach the recursion limit: a
    finalizer it ran there would fail as well, and print "Exception ignored ..." around the
    one sentence a too-deep file gets."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def too_deep(name: str) -> ConfigError:
    return ConfigError(f"{name} nests its values too deeply to be read.",
                       hint="A few levels of tables and lists are all tpuctl needs.")


def too_long(name: str) -> ConfigError:
    return ConfigError(f"{name} has a number with more than {MAX_DIGITS} digits.")


def load_toml(data: bytes | str, name: str, hint: str | None = None, **options: Any) -> dict[str, Any]:
    """Parse TOML; any flaw is one ConfigError sentence starting with `name`."""
    text = decode_text(data, name)
    try:
        with deep_parse():
            return tomllib.loads(text, **options)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name} is not valid TOML ({exc}).", hint=hint) from None
    except RecursionError:
        raise too_deep(name) from None
    except ValueError:          # int(): more digits than Python converts
        raise too_long(name) from None
