"""Logistic regression trained with astgrad's tape and plain gradient descent.

Run it with ``python examples/train_linear.py``. The data are two overlapping Gaussian
clouds in 2-D drawn with a fixed seed; the model is ``p = sigmoid(x @ w + b)`` and the loss
the mean binary cross-entropy. Each step records the forward pass, calls ``backward()``,
updates the parameters under ``no_grad`` and zeroes their gradients.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

STEPS = 200
LEARNING_RATE = 0.5
REPORT_EVERY = 20


def make_data(n_per_class: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[-1.0, -0.5], [1.0, 0.75]])
    x = np.concatenate([rng.normal(c, 0.9, (n_per_class, 2)) for c in centres])
    y = np.repeat([0.0, 1.0], n_per_class)
    order = rng.permutation(len(y))
    return x[order], y[order]


def bce(p: ag.Tensor, y: ag.Tensor) -> ag.Tensor:
    eps = 1e-12  # keeps log finite if a probability rounds to exactly 0 or 1
    return -(y * (p + eps).log() + (1 - y) * (1 - p + eps).log()).mean()


def main() -> None:
    x_np, y_np = make_data()
    x, y = ag.tensor(x_np), ag.tensor(y_np)
    print(f"data: {x.shape[0]} points in {x.shape[1]} dimensions, {int(y_np.sum())} of class 1")

    w = ag.zeros(2, requires_grad=True)
    b = ag.zeros((), requires_grad=True)

    start = time.perf_counter()
    losses = []
    for step in range(STEPS + 1):
        p = ag.sigmoid(x @ w + b)
        loss = bce(p, y)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            # For this loss the gradient has a closed form: X^T (p - y) / n.
            residual = p.detach().numpy() - y_np
            by_hand = x_np.T @ residual / len(y_np)
            agrees = np.allclose(w.grad.numpy(), by_hand) and np.isclose(
                b.grad.item(), residual.mean()
            )
            print(f"tape gradient matches the closed form X^T (p - y) / n: {agrees}")
        if step % REPORT_EVERY == 0:
            print(
                f"step {step:4d}  loss {loss.item():.6f}  "
                f"|grad w| {np.linalg.norm(w.grad.numpy()):.4f}  grad b {b.grad.item():+.4f}"
            )
        with ag.no_grad():
            w -= LEARNING_RATE * w.grad
            b -= LEARNING_RATE * b.grad
        w.grad.zero_()
        b.grad.zero_()
    elapsed = time.perf_counter() - start

    with ag.no_grad():
        predicted = (ag.sigmoid(x @ w + b) > 0.5).numpy()
    accuracy = float(np.mean(predicted == (y_np > 0.5)))
    falling = all(later <= earlier for earlier, later in zip(losses, losses[1:]))
    print(f"loss fell from {losses[0]:.6f} to {losses[-1]:.6f} (every step lower: {falling})")
    print(f"weights w = {np.round(w.detach().numpy(), 4).tolist()}, b = {b.item():.4f}")
    print(f"final accuracy: {accuracy:.3f}")
    print(f"{STEPS} steps in {elapsed:.2f} s")


if __name__ == "__main__":
    main()
