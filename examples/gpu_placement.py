"""Placing a model on a GPU: the tape and generated gradients, on CUDA when there is one.

Run it with ``python examples/gpu_placement.py``. It picks ``cuda`` when CuPy sees a GPU
(``pip install "astgrad[cuda]"``) and says plainly when there is none, then runs the same
code on the CPU. A small two-layer network is fitted to a noisy sine, twice:

* with the tape: parameters made on the CPU, moved with ``.to(device)``, trained with
  ``backward()``, and every ``.grad`` checked to be on the parameters' device;
* with ``@ag.grad``: the same loss written with ``np.`` calls, applied to the arrays of
  the device (CuPy arrays on a GPU); the generated gradient code takes its array module
  from its arguments, so the gradients come back on that device too.

Nothing is copied between host and device until the final loss is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

try:
    import astgrad as ag
except ModuleNotFoundError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import astgrad as ag

from astgrad.runtime import device_of
from astgrad.runtime.device import cuda_unavailable_reason

HIDDEN = 16
STEPS = 300
LEARNING_RATE = 0.1


def pick_device() -> str:
    if ag.cuda_is_available():
        return "cuda"
    print(f"no CUDA device: {cuda_unavailable_reason()}")
    print("running on the CPU instead; the same code runs on a GPU where there is one")
    return "cpu"


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.linspace(-3.0, 3.0, 128)[:, None]
    y = np.sin(x) + 0.05 * rng.standard_normal(x.shape)
    return x, y


def initial_parameters(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((1, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "W2": rng.standard_normal((HIDDEN, 1)) / np.sqrt(HIDDEN),
        "b2": np.zeros(1),
    }


# The model as a plain NumPy function: the tape runs it on tensors, @ag.grad on arrays.
def loss(W1, b1, W2, b2, x, y):
    h = np.tanh(x @ W1 + b1)
    return np.mean((h @ W2 + b2 - y) ** 2)


def train_with_the_tape(device: str) -> tuple[list[float], bool]:
    x_host, y_host = make_data()
    x, y = ag.tensor(x_host).to(device), ag.tensor(y_host).to(device)
    # Made on the CPU, moved once; .to() of a leaf is a computed tensor, so detach to get
    # leaves of our own on the device.
    params = {
        k: ag.tensor(v).to(device).detach().requires_grad_()
        for k, v in initial_parameters().items()
    }
    print(f"tape: parameters on {sorted({str(p.device) for p in params.values()})}")
    losses = []
    grads_in_place = True
    for step in range(STEPS):
        value = loss(**params, x=x, y=y)
        value.backward()
        grads_in_place &= all(p.grad.device == p.device for p in params.values())
        with ag.no_grad():
            for p in params.values():
                p -= LEARNING_RATE * p.grad
                p.grad = None
        if step % 100 == 0 or step == STEPS - 1:
            losses.append(value.item())  # the one copy to the host: a number to print
    return losses, grads_in_place


def train_with_generated_gradients(device: str) -> tuple[list[float], str]:
    x_host, y_host = make_data()
    on_device = lambda a: ag.tensor(a).to(device).data  # noqa: E731 - a raw NumPy or CuPy array
    x, y = on_device(x_host), on_device(y_host)
    params = {k: on_device(v) for k, v in initial_parameters().items()}
    value_and_grads = ag.value_and_grad(loss, wrt=("W1", "b1", "W2", "b2"))
    losses = []
    where = set()
    for step in range(STEPS):
        value, grads = value_and_grads(**params, x=x, y=y)
        where |= {str(device_of(g)) for g in grads}
        params = {k: p - LEARNING_RATE * g for (k, p), g in zip(params.items(), grads)}
        if step % 100 == 0 or step == STEPS - 1:
            losses.append(float(value))
    return losses, ", ".join(sorted(where))


def main() -> None:
    device = pick_device()
    print(f"running on: {ag.zeros(1, device=device).device}")

    tape_losses, in_place = train_with_the_tape(device)
    print("tape: loss " + " -> ".join(f"{v:.4f}" for v in tape_losses))
    print(f"tape: every gradient on its parameter's device: {in_place}")

    source_losses, where = train_with_generated_gradients(device)
    print("generated: loss " + " -> ".join(f"{v:.4f}" for v in source_losses))
    print(f"generated: gradients on {where}")

    same = np.allclose(tape_losses, source_losses, rtol=1e-6)
    falls = tape_losses[-1] < 0.25 * tape_losses[0]
    print(f"tape and generated gradients train alike: {same}")
    print(f"loss falls: {falls}")


if __name__ == "__main__":
    main()
