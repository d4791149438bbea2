from __future__ import annotations

import pytest

from tpuctl.domain.accelerators import from_accelerator_config, parse_accelerator_type, type_name
from tpuctl.errors import UsageError


@pytest.mark.parametrize(
    "name, generation, chips, hosts",
    [
        ("v2-8", "v2", 4, 1), ("v2-32", "v2", 16, 4), ("v3-8", "v3", 4, 1), ("v4-8", "v4", 4, 1),
        ("v4-32", "v4", 16, 4), ("v5p-8", "v5p", 4, 1), ("v5litepod-1", "v5e", 1, 1),
        ("v5litepod-8", "v5e", 8, 1), ("v5litepod-16", "v5e", 16, 4), ("v6e-8", "v6e", 8, 1),
        ("v6e-256", "v6e", 256, 64),
    ],
)
def test_chips_count_cores_on_older_generations_and_chips_on_v5e_v6e(name, generation, chips, hosts):
    acc = parse_accelerator_type(name)
    assert (acc.generation, acc.chips, acc.hosts) == (generation, chips, hosts)
    assert type_name(generation, chips) == name


@pytest.mark.parametrize("bad", ["v4", "v9-8", "v4-3", "gpu-8", "", "v4-8x"])
def test_bad_type_names_are_refused(bad):
    with pytest.raises(UsageError):
        parse_accelerator_type(bad)


def test_topology_is_the_truth_when_given():
    assert from_accelerator_config("V4", "2x2x4").chips == 16
    assert from_accelerator_config("V5LITE_POD", "2x4").name == "v5litepod-8"
