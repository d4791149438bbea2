"""What the emulated Cloud TPU world says ran: its Cloud Billing export, for reconciling the books."""

from __future__ import annotations

import re
from pathlib import Path

from tpuctl.config import Profile
from tpuctl.errors import ConfigError, UsageError

_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def billing_export(month: str, endpoint: str | None, profile: Profile | None, data_dir: Path) -> str:
    """The emulator's billing export of invoice month `month` (YYYY-MM) as CSV text.

    From the emulator at `endpoint` if given, else the profile's: the local profile's world
    on disk (read in this process), or the emulator a profile's http:// endpoint names.
    """
    if not _MONTH_RE.match(month):
        raise UsageError(f"'{month}' is not a month like 2026-05.")
    if endpoint is None and profile is not None and profile.is_local:
        from tpuctl.adapters.local_emulator import local_billing_export

        return local_billing_export(data_dir, month)
    if endpoint is None and profile is not None and profile.is_emulated:
        endpoint = profile.api_endpoint
    if endpoint is None:
        name = profile.name if profile is not None else "this"
        raise ConfigError(f"The {name} profile talks to Google's Cloud TPU API, which has no billing export here.",
                          hint="Give --endpoint http://HOST:PORT of a tpuctl emulator, or use --profile local; "
                               "the real bill is in your Cloud Billing export.")
    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint '{endpoint}' is not an http:// URL.")
    from tpuctl.adapters.emulator_control import fetch_billing_export

    return fetch_billing_export(endpoint, month)
