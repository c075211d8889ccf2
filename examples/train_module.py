"""Train a small model written as classes with astgrad's generated gradient.

    python examples/train_module.py

A ``Dense`` layer holds ``W`` and ``b`` and is called on its input; an ``MLP`` holds a
list of layers, calls them in turn, and its loss is a method.
``ag.value_and_grad(MLP.loss, wrt="self")`` differentiates with respect to the model
itself: the gradient is an ``MLP`` whose layers are ``Dense`` objects holding the
gradients of ``W`` and ``b``, so a step of gradient descent walks the two side by side.
The gradient is generated source (no tape): the script prints it at the end.
"""

from __future__ import annotations

import numpy as np

import astgrad as ag


class Dense:
    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator) -> None:
        self.W = rng.normal(scale=1.0 / np.sqrt(n_in), size=(n_in, n_out))
        self.b = np.zeros(n_out)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x @ self.W + self.b


class MLP:
    def __init__(self, sizes: list[int], rng: np.random.Generator) -> None:
        self.layers = [Dense(a, b, rng) for a, b in zip(sizes[:-1], sizes[1:])]
        self.name = "mlp"  # not a float: its gradient is None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers[:-1]:
            x = np.tanh(layer(x))
        return self.layers[-1](x)

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean squared error of the network's output."""
        return np.mean((self(x) - y) ** 2)


def step(model: MLP, grad: MLP, rate: float) -> None:
    """Gradient descent on every layer, in place: the gradient has the model's shape."""
    for layer, d in zip(model.layers, grad.layers):
        layer.W -= rate * d.W
        layer.b -= rate * d.b


loss_and_grad = ag.value_and_grad(MLP.loss, wrt="self")


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(128, 1))
    y = np.sin(2 * x)
    model = MLP([1, 16, 16, 1], rng)
    for epoch in range(301):
        loss, grad = loss_and_grad(model, x, y)
        step(model, grad, 0.1)
        if epoch % 100 == 0:
            print(f"epoch {epoch:3d}  loss {loss:.4f}")
    print(
        f"gradient: an {type(grad).__name__} of {len(grad.layers)} "
        f"{type(grad.layers[0]).__name__} layers; its name is {grad.name}"
    )
    print(f"explain: {ag.explain(MLP.loss, model, x, y, wrt='self').mode}")
    print()
    print(ag.source(MLP.loss, model, x, y, wrt="self"))


if __name__ == "__main__":
    main()
