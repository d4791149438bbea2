"""A two-layer network for scikit-learn's 8x8 handwritten digits, in plain numpy.

Trains with mini-batch SGD, writes `out/checkpoint.npz` after every epoch (and continues
from it when it exists, so a resumed job picks up where it stopped) and `out/metrics.json`
at the end. Settings come from the environment: EPOCHS, SEED, HIDDEN, LEARNING_RATE.
"""

import json
import os
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

OUT = Path(os.environ.get("TPUCTL_OUTPUTS", "out"))
EPOCHS = int(os.environ.get("EPOCHS", "40"))
SEED = int(os.environ.get("SEED", "0"))
HIDDEN = int(os.environ.get("HIDDEN", "64"))
LEARNING_RATE = float(os.environ.get("LEARNING_RATE", "0.1"))
BATCH = 32


def init(rng):
    return {"w1": rng.normal(0, np.sqrt(2 / 64), (64, HIDDEN)), "b1": np.zeros(HIDDEN),
            "w2": rng.normal(0, np.sqrt(2 / HIDDEN), (HIDDEN, 10)), "b2": np.zeros(10)}


def forward(params, x):
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0)
    logits = hidden @ params["w2"] + params["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return hidden, probs / probs.sum(axis=1, keepdims=True)


def sgd_step(params, x, y):
    hidden, probs = forward(params, x)
    loss = -np.log(probs[np.arange(len(y)), y] + 1e-12).mean()
    grad = probs
    grad[np.arange(len(y)), y] -= 1
    grad /= len(y)
    grads = {"w2": hidden.T @ grad, "b2": grad.sum(axis=0)}
    back = (grad @ params["w2"].T) * (hidden > 0)
    grads.update(w1=x.T @ back, b1=back.sum(axis=0))
    for name in params:
        params[name] -= LEARNING_RATE * grads[name]
    return loss


def accuracy(params, x, y):
    return float((forward(params, x)[1].argmax(axis=1) == y).mean())


def save(params, epoch, rng):
    """Atomically: a preemption mid-write must not leave a broken checkpoint."""
    OUT.mkdir(parents=True, exist_ok=True)
    temp = OUT / "checkpoint.tmp.npz"
    np.savez(temp, epoch=epoch, rng=json.dumps(rng.bit_generator.state), **params)
    temp.replace(OUT / "checkpoint.npz")


def load(rng):
    path = OUT / "checkpoint.npz"
    if not path.exists():
        return init(rng), 0
    saved = np.load(path)
    rng.bit_generator.state = json.loads(str(saved["rng"]))
    print(f"resuming from the checkpoint of epoch {int(saved['epoch'])}", flush=True)
    return {name: saved[name] for name in ("w1", "b1", "w2", "b2")}, int(saved["epoch"])


def main():
    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=SEED)
    rng = np.random.default_rng(SEED)
    params, start = load(rng)
    print(f"worker {os.environ.get('TPU_WORKER_ID', '0')}: {len(x_train)} training and {len(x_test)} test images, "
          f"epochs {start + 1} to {EPOCHS}", flush=True)
    began = time.time()
    for epoch in range(start + 1, EPOCHS + 1):
        order = rng.permutation(len(x_train))
        losses = [sgd_step(params, x_train[i], y_train[i]) for i in np.array_split(order, len(order) // BATCH)]
        save(params, epoch, rng)
        if epoch % 5 == 0 or epoch == EPOCHS:
            print(f"epoch {epoch:3d}  loss {np.mean(losses):.4f}  test accuracy {accuracy(params, x_test, y_test):.3f}",
                  flush=True)
    metrics = {"epochs": EPOCHS, "test_accuracy": accuracy(params, x_test, y_test),
               "train_accuracy": accuracy(params, x_train, y_train), "seconds": round(time.time() - began, 2)}
    (OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"done: test accuracy {metrics['test_accuracy']:.3f}", flush=True)


if __name__ == "__main__":
    main()
