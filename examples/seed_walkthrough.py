"""The PyTorch autograd tutorials, replayed step by step with astgrad's tape.

Run it with ``python examples/seed_walkthrough.py``. Every step prints what it did; the
steps that the tutorials show failing are run too, and their error messages printed.
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


def step(title: str) -> None:
    print()
    print(f"== {title}")


def show(label: str, value: object) -> None:
    text = str(value)
    if "\n" in text:
        print(f"{label}:")
        print("    " + text.replace("\n", "\n    "))
    else:
        print(f"{label}: {text}")


def expect_error(what: str, action) -> None:
    """Run ``action``, which the tutorials show failing, and print the error it raises."""
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - printing whatever the tape raises is the point
        print(f"{what} raises {type(exc).__name__}:")
        print(f"    {exc}")
    else:
        raise SystemExit(f"expected {what} to raise, but it did not")


def main() -> None:
    ag.manual_seed(0)

    step("1. Tensors from NumPy arrays")
    array = np.arange(6.0).reshape(2, 3)
    shared = ag.from_numpy(array)
    copied = ag.tensor(array)
    array[0, 0] = 100.0
    show("array after array[0, 0] = 100", array)
    show("ag.from_numpy(array) shares its memory", shared)
    show("ag.tensor(array) took a copy", copied)
    show("and back to NumPy with .numpy()", type(copied.numpy()).__name__)

    step("2. Tensors from shapes")
    show("ag.zeros(3, 5).shape", ag.zeros(3, 5).shape)
    show("ag.ones((2, 2))", ag.ones((2, 2)))
    show("ag.empty(3, 5).shape (values are whatever memory held)", ag.empty(3, 5).shape)
    show("ag.randn((3, 3))", ag.randn((3, 3)))
    show("ag.eye(3)", ag.eye(3))

    step("3. requires_grad in the constructor, or set afterwards")
    t1 = ag.randn((3, 3), requires_grad=True)
    show("t1 = ag.randn((3, 3), requires_grad=True); t1.requires_grad", t1.requires_grad)
    t2 = ag.zeros(3, 3)
    show("t2 = ag.zeros(3, 3); t2.requires_grad", t2.requires_grad)
    t2.requires_grad = True
    show("after t2.requires_grad = True", t2.requires_grad)
    t3 = ag.ones(2).requires_grad_()
    show("ag.ones(2).requires_grad_() gives", t3)
    expect_error(
        "ag.tensor([1, 2], requires_grad=True)",
        lambda: ag.tensor([1, 2], requires_grad=True),
    )
    x, y = ag.rand(5, 5), ag.rand(5, 5)
    z = ag.rand((5, 5), requires_grad=True)
    show("(x + y).requires_grad, where neither requires grad", (x + y).requires_grad)
    show("(x + z).requires_grad, where z requires grad", (x + z).requires_grad)

    step("4. The graph: b = w1*a; c = w2*a; d = w3*b + w4*c; L = 10 - d")
    a = ag.randn((3, 3), requires_grad=True)
    w1, w2, w3, w4 = (ag.randn((3, 3), requires_grad=True) for _ in range(4))
    b = w1 * a
    c = w2 * a
    d = w3 * b + w4 * c
    L = 10 - d
    show("a.grad_fn (a leaf made by the user)", a.grad_fn)
    show("d.grad_fn", d.grad_fn)
    show("L.grad_fn", L.grad_fn)
    show("d.grad_fn.next_functions", d.grad_fn.next_functions)
    for name, t in [("a", a), ("w1", w1), ("b", b), ("d", d), ("L", L)]:
        print(f"{name}.is_leaf = {t.is_leaf}, {name}.requires_grad = {t.requires_grad}")

    step("5. backward() on a non-scalar output")
    expect_error("L.backward()", lambda: L.backward())

    print("fix 1: reduce to a scalar first, L.sum().backward()")
    L.sum().backward()
    first = {name: t.grad.detach() for name, t in [("a", a), ("w1", w1), ("w3", w3)]}
    show("a.grad", a.grad)

    print("fix 2: pass the gradient of L itself, L.backward(ag.ones(L.shape))")
    for t in (a, w1, w2, w3, w4):
        t.grad = None
    L = 10 - (w3 * (w1 * a) + w4 * (w2 * a))  # the first graph was freed by its backward
    L.backward(ag.ones(L.shape))
    same = all(
        np.allclose(first[n].data, t.grad.data) for n, t in [("a", a), ("w1", w1), ("w3", w3)]
    )
    show("both fixes give the same gradients", same)

    step("6. Reading .grad, checked against the hand-derived formulas")
    A, W1, W2, W3, W4 = (t.detach().numpy() for t in (a, w1, w2, w3, w4))
    checks = {
        "dL/da = -(w3*w1 + w4*w2)": np.allclose(a.grad.data, -(W3 * W1 + W4 * W2)),
        "dL/dw1 = -w3*a": np.allclose(w1.grad.data, -W3 * A),
        "dL/dw2 = -w4*a": np.allclose(w2.grad.data, -W4 * A),
        "dL/dw3 = -w1*a": np.allclose(w3.grad.data, -W1 * A),
        "dL/dw4 = -w2*a": np.allclose(w4.grad.data, -W2 * A),
    }
    for formula, ok in checks.items():
        print(f"{formula}: {'ok' if ok else 'MISMATCH'}")
    show("b.grad is not kept for a non-leaf (None; a UserWarning says why)", _quiet_grad(b))

    step("7. One step of gradient descent")
    learning_rate = 0.01
    before = w1.detach().numpy().copy()
    w1 = w1 - learning_rate * w1.grad
    show("w1 = w1 - lr * w1.grad moved w1 by", np.abs(w1.detach().numpy() - before).max())
    show("but the new w1 is computed, not a leaf: w1.is_leaf", w1.is_leaf)
    print("the usual form updates the parameter in place, outside the graph:")
    with ag.no_grad():
        w2 -= learning_rate * w2.grad
    show("with ag.no_grad(): w2 -= lr * w2.grad; w2.is_leaf", w2.is_leaf)
    expect_error("w3 -= lr * w3.grad outside no_grad", lambda: w3.__isub__(learning_rate * w3.grad))
    w2.grad.zero_()
    show("w2.grad.zero_() before the next step", w2.grad.abs().max().item())

    step("8. A second backward through the same graph")
    p = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (p * p).sum()
    loss.backward()
    expect_error("loss.backward() a second time", lambda: loss.backward())
    p.grad = None
    loss = (p * p).sum()
    loss.backward(retain_graph=True)
    show("with retain_graph=True, after the first backward p.grad", p.grad)
    loss.backward()
    show("after the second backward (gradients add up)", p.grad)

    step("9. The gradient argument: Q = 3a^3 - b^2")
    qa = ag.tensor([2.0, 3.0], requires_grad=True)
    qb = ag.tensor([6.0, 4.0], requires_grad=True)
    Q = 3 * qa**3 - qb**2
    Q.backward(gradient=ag.tensor([1.0, 1.0]))
    show("a.grad == 9 a^2", bool(np.allclose(qa.grad.data, 9 * qa.detach().data ** 2)))
    show("b.grad == -2 b", bool(np.allclose(qb.grad.data, -2 * qb.detach().data)))

    step("10. no_grad: computing without recording")
    with ag.no_grad():
        frozen = a * 2
    show("inside no_grad, (a * 2).requires_grad", frozen.requires_grad)
    show("and its grad_fn", frozen.grad_fn)
    show("outside, (a * 2).grad_fn", (a * 2).grad_fn)
    show("detach() gives the values without the graph", a.detach().requires_grad)

    print()
    print("walkthrough finished")


def _quiet_grad(t: ag.Tensor):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return t.grad


if __name__ == "__main__":
    main()
