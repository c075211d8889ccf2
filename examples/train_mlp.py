"""Train a two-layer tanh MLP on two interleaved spirals with astgrad's generated gradient.

    python examples/train_mlp.py                 # train, print the loss falling
    python examples/train_mlp.py --show-source   # also print the generated gradient

The loss is ordinary NumPy. ``@ag.grad`` reads its source and generates the gradient as
Python source once, on the first call; every later step runs that generated code.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import astgrad as ag


def two_spirals(
    n_per_class: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points on two interleaved spirals in the plane, and their class labels (0 or 1)."""
    turns = np.sqrt(rng.uniform(0.05, 1.0, n_per_class)) * 3 * np.pi
    arm = np.stack([turns * np.cos(turns), turns * np.sin(turns)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(scale=noise, size=(2 * n_per_class, 2))
    y = np.concatenate([np.zeros(n_per_class, dtype=int), np.ones(n_per_class, dtype=int)])
    return x, y


def init_params(hidden: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "W1": rng.normal(scale=1.0, size=(2, hidden)),
        "b1": np.zeros(hidden),
        "W2": rng.normal(scale=1.0 / np.sqrt(hidden), size=(hidden, hidden)),
        "b2": np.zeros(hidden),
        "W3": rng.normal(scale=1.0 / np.sqrt(hidden), size=(hidden, 2)),
        "b3": np.zeros(2),
    }


def logits(W1, b1, W2, b2, W3, b3, x):
    h1 = np.tanh(x @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    return h2 @ W3 + b3


def loss(W1, b1, W2, b2, W3, b3, x, onehot):
    """Softmax cross-entropy of the network's logits, averaged over the batch."""
    z = logits(W1, b1, W2, b2, W3, b3, x)
    z = z - np.max(z, axis=1, keepdims=True)
    log_probs = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(onehot * log_probs, axis=1))


NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
loss_and_grad = ag.value_and_grad(loss, wrt=NAMES)


def accuracy(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    predicted = np.argmax(logits(*(params[n] for n in NAMES), x), axis=1)
    return float(np.mean(predicted == y))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--show-source", action="store_true", help="print the generated gradient source"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    x, y = two_spirals(200, 0.03, rng)
    onehot = np.eye(2)[y]
    params = init_params(args.hidden, rng)

    if args.show_source:
        print("# The gradient astgrad generated for `loss` (and the `logits` it calls):\n")
        print(ag.source(loss, wrt=NAMES))

    print(f"two spirals: {len(x)} points; MLP 2 -> {args.hidden} -> {args.hidden} -> 2 (tanh)")
    start = time.perf_counter()
    for step in range(args.steps + 1):
        value, grads = loss_and_grad(*(params[n] for n in NAMES), x, onehot)
        for name, grad in zip(NAMES, grads):
            params[name] -= args.lr * grad
        if step % max(1, args.steps // 10) == 0:
            print(f"step {step:5d}   loss {value:.4f}   accuracy {accuracy(params, x, y):.3f}")
    elapsed = time.perf_counter() - start
    print(f"trained in {elapsed:.1f} s ({1e3 * elapsed / (args.steps + 1):.2f} ms per step)")
    print(f"final accuracy: {accuracy(params, x, y):.3f}")


if __name__ == "__main__":
    main()
