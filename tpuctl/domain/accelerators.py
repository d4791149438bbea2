"""What an accelerator type means: generation, chips and hosts.

The number in a type name counts TensorCores on v2, v3, v4 and v5p (two per chip) and chips
on v5e (`v5litepod-N`) and v6e (`v6e-N`). When the API gives `accelerator_config`
(type + topology), the topology is the truth: chips = product of its dimensions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tpuctl.errors import UsageError

# generation -> (name prefix, cores per chip counted in the name, chips per host)
_GENERATIONS = {
    "v2": ("v2", 2, 4),
    "v3": ("v3", 2, 4),
    "v4": ("v4", 2, 4),
    "v5p": ("v5p", 2, 4),
    "v5e": ("v5litepod", 1, 4),
    "v6e": ("v6e", 1, 4),
}
_PREFIX_TO_GENERATION = {prefix: gen for gen, (prefix, _, _) in _GENERATIONS.items()}
# accelerator_config.type enum names -> generation
_CONFIG_TYPE_TO_GENERATION = {
    "V2": "v2", "V3": "v3", "V4": "v4", "V5P": "v5p", "V5LITE_POD": "v5e", "V6E": "v6e",
}
# v5e and v6e fit up to 8 chips on one host; larger slices use 4-chip hosts.
_SINGLE_HOST_MAX_CHIPS = {"v5e": 8, "v6e": 8}

_TYPE_RE = re.compile(r"^(v2|v3|v4|v5p|v5litepod|v6e)-([0-9]{1,5})$")     # the biggest pods have 4 digits


@dataclass(frozen=True)
class AcceleratorType:
    name: str          # e.g. "v4-8"
    generation: str    # "v2" | "v3" | "v4" | "v5e" | "v5p" | "v6e"
    chips: int
    hosts: int         # TPU VM workers (one agent each)

    @property
    def multi_host(self) -> bool:
        return self.hosts > 1


def parse_accelerator_type(name: str) -> AcceleratorType:
    """Parse `v4-8`, `v5litepod-16`, ... or raise a UsageError naming the valid forms."""
    match = _TYPE_RE.match(name.strip().lower())
    if not match:
        raise UsageError(
            f"'{name}' is not a TPU accelerator type.",
            hint="Use a name like v4-8, v5litepod-8, v5p-8 or v6e-8; `tpuctl types` lists a zone's types.",
        )
    prefix, count = match.group(1), int(match.group(2))
    generation = _PREFIX_TO_GENERATION[prefix]
    _, cores_per_chip, _ = _GENERATIONS[generation]
    if count < cores_per_chip or count % cores_per_chip:
        raise UsageError(f"'{name}' is not a TPU accelerator type: the size must be a multiple of {cores_per_chip}.")
    return _make(name.strip().lower(), generation, count // cores_per_chip)


def from_accelerator_config(config_type: str, topology: str, name: str | None = None) -> AcceleratorType:
    """Build the type from the API's accelerator_config (e.g. V4, '2x2x1')."""
    generation = _CONFIG_TYPE_TO_GENERATION.get(config_type.upper())
    if generation is None:
        raise UsageError(f"Unknown accelerator config type '{config_type}'.")
    try:
        chips = math.prod(int(d) for d in topology.lower().split("x"))
    except ValueError:
        raise UsageError(f"'{topology}' is not a TPU topology like 2x2x1.") from None
    if name is None:
        prefix, cores_per_chip, _ = _GENERATIONS[generation]
        name = f"{prefix}-{chips * cores_per_chip}"
    return _make(name, generation, chips)


def _make(name: str, generation: str, chips: int) -> AcceleratorType:
    _, _, chips_per_host = _GENERATIONS[generation]
    single_host_max = _SINGLE_HOST_MAX_CHIPS.get(generation, chips_per_host)
    hosts = 1 if chips <= single_host_max else math.ceil(chips / chips_per_host)
    return AcceleratorType(name=name, generation=generation, chips=chips, hosts=hosts)


def type_name(generation: str, chips: int) -> str:
    """The accelerator type name for a generation and chip count (inverse of parse)."""
    prefix, cores_per_chip, _ = _GENERATIONS[generation]
    return f"{prefix}-{chips * cores_per_chip}"
