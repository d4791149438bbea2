"""What a TPU VM needs to start its agents: the node metadata tpuctl writes on every TPU it makes.

Two keys: `startup-script`, the shell script Cloud TPU runs on every worker at boot (it
fetches tpuctl's bundle from the group store, installs its requirements and starts the
agent), and `tpuctl-agent`, the same facts as JSON, which local mode reads to start the
agents as local processes. Every value in the script is shell-quoted, and neither key holds
anything secret: the agent finds its jobs, and their env, in the group store. The project and
Cloud TPU endpoint let worker 0's agent delete its TPU when its job ends: "" is Google's
endpoint with the VM's own credentials, "local" the built-in emulator of this machine's data dir.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, fields

AGENT_METADATA_KEY = "tpuctl-agent"
WORKER_NUMBER_URL = "http://metadata.google.internal/computeMetadata/v1/instance/attributes/agent-worker-number"


@dataclass(frozen=True)
class AgentBoot:
    store: str          # the group store's URL
    bundle: str         # store key of this tpuctl's bundle
    zone: str
    node: str
    timing: str         # JobTiming.format()
    version: str
    project: str = ""
    api_endpoint: str | None = None     # None: the agent never deletes its TPU (`tpuctl create` made it)
    devices: str = ""   # comma-separated globs of the TPU device files; "" = the TPU VM's own (local profile: a test's)
    utmp: str = ""      # the login records the SSH probe reads; "" = /var/run/utmp

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AgentBoot:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})

    def agent_args(self, **options: object) -> list[str]:
        """`-m tpuctl agent ...`: the interpreter's arguments; options add `--worker 2` etc."""
        args = ["-m", "tpuctl", "agent", "--store", self.store, "--zone", self.zone, "--node", self.node,
                "--timing", self.timing]
        if self.project and self.api_endpoint is not None:
            args += ["--project", self.project, "--api-endpoint", self.api_endpoint]
        if self.devices:
            args += ["--devices", self.devices]
        if self.utmp:
            args += ["--utmp", self.utmp]
        for name, value in options.items():
            args += [f"--{name}", str(value)]
        return args


def node_metadata(boot: AgentBoot) -> dict[str, str]:
    return {"startup-script": startup_script(boot), AGENT_METADATA_KEY: boot.to_json()}


def startup_script(boot: AgentBoot) -> str:
    """The boot script of every worker. TPUCTL_AGENT_HOME and TPU_WORKER_ID may be preset."""
    q = shlex.quote
    if boot.store.startswith("gs://"):
        fetch = f'gcloud storage cp {q(boot.store.rstrip("/") + "/" + boot.bundle)} "$HOME_DIR/tpuctl.tar.gz"'
    else:
        local = boot.store.removeprefix("file://")
        fetch = f'cp {q(local.rstrip("/") + "/" + boot.bundle)} "$HOME_DIR/tpuctl.tar.gz"'
    agent = " ".join(q(a) for a in boot.agent_args()) + ' --worker "$WORKER" --root "$HOME_DIR/jobs"'
    return f"""#!/bin/bash
# Written by tpuctl {boot.version} for TPU {boot.node}: installs this tpuctl from the group store
# and starts its agent on this worker. Nothing secret is here: jobs come from the store.
set -euo pipefail
HOME_DIR="${{TPUCTL_AGENT_HOME:-/var/lib/tpuctl}}"
WORKER="${{TPU_WORKER_ID:-$(curl -sf -m 5 -H 'Metadata-Flavor: Google' {WORKER_NUMBER_URL} || echo 0)}}"
mkdir -p "$HOME_DIR/src" "$HOME_DIR/jobs"
{fetch}
tar -xzf "$HOME_DIR/tpuctl.tar.gz" -C "$HOME_DIR/src"
python3 -m pip install --quiet --disable-pip-version-check -r "$HOME_DIR/src/tpuctl/requirements.txt"
cd "$HOME_DIR"
TPU_WORKER_ID="$WORKER" PYTHONPATH="$HOME_DIR/src" nohup python3 {agent} \\
  >>"$HOME_DIR/agent-$WORKER.log" 2>&1 </dev/null &
"""
