"""Data-parallel linear regression over every chip of a multi-host TPU slice, in JAX.

Each worker (host) runs this same script; jax.distributed.initialize() joins them, each
host feeds its own shard of the batch, and gradients are averaged across all chips with
`pmean`. Worker 0 writes `out/metrics.json`. Settings: STEPS, BATCH_PER_CHIP.
"""

import json
import os
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp

STEPS = int(os.environ.get("STEPS", "200"))
BATCH_PER_CHIP = int(os.environ.get("BATCH_PER_CHIP", "128"))
OUT = Path(os.environ.get("TPUCTL_OUTPUTS", "out"))
FEATURES = 16


@partial(jax.pmap, axis_name="chips")
def train_step(w, x, y):
    def loss(w):
        return jnp.mean((x @ w - y) ** 2)

    value, grad = jax.value_and_grad(loss)(w)
    grad = jax.lax.pmean(grad, "chips")
    return w - 0.1 * grad, jax.lax.pmean(value, "chips")


def main() -> None:
    jax.distributed.initialize()
    local = jax.local_device_count()
    print(f"worker {jax.process_index()} of {jax.process_count()}: {local} local of {jax.device_count()} chips",
          flush=True)
    true_w = jnp.arange(FEATURES, dtype=jnp.float32) / FEATURES
    key = jax.random.fold_in(jax.random.PRNGKey(0), jax.process_index())
    w = jnp.zeros((local, FEATURES))
    for step in range(1, STEPS + 1):
        key, sub = jax.random.split(key)
        x = jax.random.normal(sub, (local, BATCH_PER_CHIP, FEATURES))
        w, loss = train_step(w, x, x @ true_w)
        if step % 50 == 0 and jax.process_index() == 0:
            print(f"step {step}: loss {float(loss[0]):.6f}", flush=True)
    if jax.process_index() == 0:
        OUT.mkdir(parents=True, exist_ok=True)
        error = float(jnp.max(jnp.abs(w[0] - true_w)))
        (OUT / "metrics.json").write_text(json.dumps({"steps": STEPS, "max_weight_error": error}) + "\n")
        print(f"done: max weight error {error:.2e}", flush=True)


if __name__ == "__main__":
    main()
