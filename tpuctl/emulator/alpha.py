"""v2alpha1 beside v2: one world, two ways of showing it.

Both versions serve the same records (`/v2/...` and `/v2alpha1/...`, paths as in the
v2alpha1 discovery document gcloud ships). What differs is only the wire form:

- v2alpha1 names a request's multi-node spec `multiNodeParams`, v2 `multisliceParams`
  (the world keeps v2's name and accepts both);
- fields only v2alpha1 has (a node's `autocheckpointEnabled` and `bootDiskConfig`, a queued
  resource's `bestEffort` tier) are left out of v2 replies;
- typed payloads (`@type` of an operation's response and metadata) name the version asked.
"""

from __future__ import annotations

V2, V2ALPHA1 = "v2", "v2alpha1"
VERSIONS = (V2, V2ALPHA1)
ALPHA_ONLY = frozenset({"autocheckpointEnabled", "bootDiskConfig", "bestEffort"})
_RENAMED = {"multisliceParams": "multiNodeParams"}   # v2 name -> v2alpha1 name


def version_of(path: str) -> str:
    """`/v2alpha1/projects/...` -> v2alpha1; anything else the API serves is shown as v2."""
    head = path.lstrip("/").split("/", 1)[0]
    return head if head in VERSIONS else V2


def present(data, version: str):
    """A reply as `version` shows it (a copy; the stored records are not touched)."""
    if isinstance(data, list):
        return [present(item, version) for item in data]
    if not isinstance(data, dict):
        return data
    shown = {}
    for key, value in data.items():
        if version == V2 and key in ALPHA_ONLY:
            continue
        if key == "apiVersion" and value == "V2" and version == V2ALPHA1:
            continue                                  # v2alpha1's enum has no V2: unspecified
        if key == "@type" and isinstance(value, str) and version == V2ALPHA1:
            value = value.replace("google.cloud.tpu.v2.", "google.cloud.tpu.v2alpha1.")
        shown[_RENAMED.get(key, key) if version == V2ALPHA1 else key] = present(value, version)
    return shown
