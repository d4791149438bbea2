"""What runs on a TPU VM worker: the agent (runner) and what it looks at to say its VM is in
use (probes). How it is started is in tpuctl/domain/agent_boot.py; the bundles that ship it
and each job's workdir in tpuctl/adapters/bundles.py."""
