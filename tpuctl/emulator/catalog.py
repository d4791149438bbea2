"""What the emulated Cloud TPU offers: zones, accelerator types per zone, runtime versions.

Modelled on the real catalogue (late 2025): which generation lives in which zone, the
topology of each slice size, and the runtime versions of each generation (dated, with
their source, below). Chips and hosts
come from `tpuctl.domain.accelerators`, so the emulator and tpuctl agree on sizes.
"""

from __future__ import annotations

from tpuctl.domain.accelerators import AcceleratorType, parse_accelerator_type

# generation -> AcceleratorConfig.type enum name
CONFIG_TYPES = {"v2": "V2", "v3": "V3", "v4": "V4", "v5e": "V5LITE_POD", "v5p": "V5P", "v6e": "V6E"}
# The numbers the Python client sends (`enum-encoding=int`, proto numbering); gcloud sends names.
CONFIG_TYPE_NUMBERS = {2: "V2", 4: "V3", 7: "V4", 9: "V5LITE_POD", 10: "V5P", 11: "V6E"}

_2D = {1: "1x1", 4: "2x2", 8: "2x4", 16: "4x4", 32: "4x8", 64: "8x8", 128: "8x16", 256: "16x16",
       512: "16x32", 1024: "32x32"}
_3D = {4: "2x2x1", 8: "2x2x2", 16: "2x2x4", 32: "2x4x4", 64: "4x4x4", 128: "4x4x8", 256: "4x8x8",
       512: "8x8x8", 1024: "8x8x16", 2048: "8x16x16"}

# generation -> (type names offered, topology by chip count)
_TYPES = {
    "v2": (["v2-8", "v2-32", "v2-128", "v2-256", "v2-512"], _2D),
    "v3": (["v3-8", "v3-32", "v3-64", "v3-128", "v3-256", "v3-512", "v3-1024", "v3-2048"], _2D),
    "v4": (["v4-8", "v4-16", "v4-32", "v4-64", "v4-128", "v4-256", "v4-512", "v4-1024", "v4-2048",
            "v4-4096"], _3D),
    "v5e": (["v5litepod-1", "v5litepod-4", "v5litepod-8", "v5litepod-16", "v5litepod-32",
             "v5litepod-64", "v5litepod-128", "v5litepod-256"], _2D),
    "v5p": (["v5p-8", "v5p-16", "v5p-32", "v5p-64", "v5p-128", "v5p-256", "v5p-512", "v5p-1024"], _3D),
    "v6e": (["v6e-1", "v6e-4", "v6e-8", "v6e-16", "v6e-32", "v6e-64", "v6e-128", "v6e-256"], _2D),
}

_BASE = "tpu-ubuntu2204-base"
# Runtime (software) versions per generation. The API descriptions gcloud ships (v2, v2alpha1)
# leave `runtimeVersion` a free string, so the list comes from Google's "TPU software versions"
# page (cloud.google.com/tpu/docs/runtimes, last updated 2025-08-11) and the versions Google's
# Cloud TPU samples use (GoogleCloudPlatform/python-docs-samples, tpu/: tpu-vm-tf-2.17.0-pjrt,
# v2-tpuv5-litepod). Older names that still work are kept, so existing configs stay valid.
RUNTIME_VERSIONS_AS_OF = "2025-08-11"
RUNTIME_VERSIONS_SOURCE = ("https://cloud.google.com/tpu/docs/runtimes; "
                           "https://github.com/GoogleCloudPlatform/python-docs-samples/tree/main/tpu")


def _tf(*versions: str, pod: bool = True) -> list[str]:
    """TensorFlow PJRT runtimes: `tpu-vm-tf-X.Y.Z-pjrt` and, for slices, `-pod-pjrt`."""
    return [name for v in versions for name in (f"tpu-vm-tf-{v}-pjrt",) + ((f"tpu-vm-tf-{v}-pod-pjrt",) if pod else ())]


_TF = ("2.16.1", "2.17.0", "2.17.1", "2.18.0")
RUNTIME_VERSIONS = {
    "v2": [_BASE, "tpu-vm-base", *_tf(*_TF), "tpu-vm-pt-2.0"],
    "v3": [_BASE, "tpu-vm-base", *_tf(*_TF), "tpu-vm-pt-2.0"],
    "v4": [_BASE, "tpu-vm-v4-base", *_tf(*_TF), "tpu-vm-v4-pt-2.0"],
    "v5e": [_BASE, "v2-alpha-tpuv5-lite", "v2-tpuv5-litepod", *_tf(*_TF)],
    "v5p": [_BASE, "v2-alpha-tpuv5", *_tf("2.17.0", "2.17.1", "2.18.0")],
    "v6e": [_BASE, "v2-alpha-tpuv6e", *_tf("2.17.0", "2.17.1", "2.18.0")],
}

ZONES = {
    "us-central1-a": ["v2", "v3", "v5e"],
    "us-central1-b": ["v2", "v3"],
    "us-central1-c": ["v2", "v3"],
    "us-central1-f": ["v2", "v3"],
    "us-central2-b": ["v4"],
    "us-east1-d": ["v6e"],
    "us-east5-a": ["v5p", "v6e"],
    "us-west4-a": ["v5e"],
    "europe-west4-a": ["v2", "v3", "v5e", "v6e"],
    "europe-west4-b": ["v5p"],
    "asia-east1-c": ["v2", "v5e"],
}


def topology(accel: AcceleratorType) -> str:
    return _TYPES[accel.generation][1][accel.chips]


def accelerator_types(zone: str) -> list[AcceleratorType]:
    """The types a zone offers, in the catalogue's order."""
    return [parse_accelerator_type(name) for gen in ZONES[zone] for name in _TYPES[gen][0]]


def find_type(zone: str, name: str) -> AcceleratorType | None:
    return next((t for t in accelerator_types(zone) if t.name == name), None)


def find_type_by_config(zone: str, config_type: str, topo: str) -> AcceleratorType | None:
    """The type matching an acceleratorConfig (e.g. V4 + 2x2x1) in this zone, if any."""
    return next((t for t in accelerator_types(zone)
                 if CONFIG_TYPES[t.generation] == config_type and topology(t) == topo), None)


def runtime_versions(zone: str) -> list[str]:
    versions: list[str] = []
    for gen in ZONES[zone]:
        versions += [v for v in RUNTIME_VERSIONS[gen] if v not in versions]
    return versions


def generation_of(generation_or_type: str) -> str:
    """`v4` stays `v4`; a type name such as `v4-8` or `v5litepod-4` gives its generation."""
    if generation_or_type in _TYPES:
        return generation_or_type
    return parse_accelerator_type(generation_or_type).generation
