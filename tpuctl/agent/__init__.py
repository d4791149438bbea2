"""What runs on a TPU VM worker: the agent (runner), how it is started (bootstrap), and the
content-addressed bundles that ship it and each job's workdir."""
