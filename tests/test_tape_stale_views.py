"""Views taken of a tensor that needed no gradient yet, read after a recorded in-place write
gave that tensor a history (``buf = zeros(3); v = buf[1:]; buf[0:2] += x; (v * 3).sum()``):
the view's values are the base's, which depend on x, so its gradient must reach x, as in
PyTorch. It used to stay a constant, and the gradient was silently lost.

Each program is written once against a small namespace (``AG`` or torch's), and checked
against finite differences of the same code on tensors that record nothing (NumPy's
in-place semantics), and, where torch is installed, against PyTorch's gradients."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

RNG = np.random.default_rng(11)
X = RNG.standard_normal(3)
W = RNG.standard_normal(2)
C2 = RNG.standard_normal(2)
M = RNG.standard_normal((3, 2))


class AG:
    """What the programs need, from astgrad."""

    @staticmethod
    def zeros(*shape):
        return ag.zeros(*shape)

    @staticmethod
    def const(array):
        return ag.tensor(array)

    tanh = staticmethod(np.tanh)
    dot = staticmethod(np.dot)

    @staticmethod
    def sum_axis(t, axis):
        return t.sum(axis=axis)

    @staticmethod
    def max(t):
        return t.max()

    @staticmethod
    def flat(t):
        return t.reshape(-1)

    @staticmethod
    def before_inplace(view):
        pass


class TorchNS:
    """The same, from PyTorch (float64)."""

    def __init__(self, torch):
        self.torch = torch

    def zeros(self, *shape):
        return self.torch.zeros(*shape, dtype=self.torch.float64)

    def const(self, array):
        return self.torch.tensor(array, dtype=self.torch.float64)

    def tanh(self, t):
        return self.torch.tanh(t)

    def dot(self, a, b):
        return self.torch.dot(a, b)

    def sum_axis(self, t, axis):
        return t.sum(dim=axis)

    def max(self, t):
        return t.max()

    def flat(self, t):
        return t.reshape(-1)

    def before_inplace(self, view):
        # PyTorch (2.13) refuses an in-place operation on such a view as "a leaf Variable
        # that requires grad" unless its grad_fn was read since its base changed (which
        # rebuilds it): a quirk of its own, which reading it here steps around.
        _ = view.grad_fn


# -- the programs: f(ns, x, w) -> a number; x has 3 elements, w 2 --------------------------


def the_reported_case(ns, x, w):
    buf = ns.zeros(3)
    v = buf[1:]  # taken while buf needs no gradient
    buf[0:2] += x[:2]  # buf gains a history through a view of it
    return (v * 3.0).sum() + (v * w).sum()


def base_iadd(ns, x, w):
    buf = ns.zeros(3)
    v = buf[1:]
    buf += x  # directly on the base
    return (v * ns.const(C2)).sum() + (v * w).sum()


def item_assignment(ns, x, w):
    buf = ns.zeros(3)
    v = buf[1:]
    buf[1] = x[0] * 2.0
    return (v * ns.const(C2)).sum() + (v * w).sum()


def base_imul_after_assignment(ns, x, w):
    buf = ns.zeros(3) + 1.5  # (a new tensor: needs no gradient either)
    v = buf[:2]
    buf *= x
    return (v * w).sum()


def view_of_a_view(ns, x, w):
    buf = ns.zeros(4)
    v = buf[1:]
    u = v[1:]  # a view of a view: its base is buf too
    buf[1:4] += x
    return (u * w).sum()


def reshape_view(ns, x, w):
    buf = ns.zeros(6)
    m = buf.reshape(3, 2)
    buf[2:5] += x
    return ((m @ w) * ns.const(X)).sum()


def transposed_view(ns, x, w):
    buf = ns.zeros(3, 2)
    t = buf.T
    buf[:, 1] += x
    return (t @ ns.const(X) * w).sum()


def several_views(ns, x, w):
    buf = ns.zeros(3)
    a = buf[:2]
    b = buf[1:]
    c = buf[::2]
    buf += x * x
    return (a * w).sum() + (b * ns.const(C2)).sum() + (c * c).sum()


def written_through_a_view(ns, x, w):
    buf = ns.zeros(3)
    a = buf[:2]
    b = buf[1:]
    a += w  # buf gains its history through a; b, taken before, must see it
    ns.before_inplace(b)
    b *= x[:2]
    return (b * ns.const(C2)).sum() + (buf * ns.const(X)).sum()


def base_is_a_view(ns, x, w):
    outer = ns.zeros(5)
    buf = outer[1:4]
    v = buf[1:]
    buf[0:2] += w
    return (v * x[:2]).sum() + (outer * outer).sum()


def two_writes(ns, x, w):
    buf = ns.zeros(3)
    v = buf[1:]
    buf[0:2] += w
    buf[2] = x[1] * x[2]
    return (v * v).sum()


def view_read_between_writes(ns, x, w):
    buf = ns.zeros(3)
    v = buf[1:]
    buf += x
    first = ((v + w) * ns.const(C2)).sum()  # (add saves nothing: v may change after)
    buf[1:] *= w
    return first + (v * ns.const(C2)).sum()


PROGRAMS = [
    the_reported_case,
    base_iadd,
    item_assignment,
    base_imul_after_assignment,
    view_of_a_view,
    reshape_view,
    transposed_view,
    several_views,
    written_through_a_view,
    base_is_a_view,
    two_writes,
    view_read_between_writes,
]

# Every road by which a tensor is read as an operand, each on a stale view: a number.
USES = {
    "mul": lambda ns, v, w: (v * w).sum(),
    "rmul": lambda ns, v, w: (w * v).sum(),
    "rsub_number": lambda ns, v, w: (2.0 - v).sum(),
    "pow": lambda ns, v, w: (v**2).sum(),
    "neg": lambda ns, v, w: (-v).sum(),
    "tanh_method": lambda ns, v, w: v.tanh().sum(),
    "np_tanh": lambda ns, v, w: ns.tanh(v).sum(),
    "sum": lambda ns, v, w: v.sum(),
    "mean": lambda ns, v, w: v.mean(),
    "sum_axis": lambda ns, v, w: ns.sum_axis(v, 0),
    "max": lambda ns, v, w: ns.max(v),
    "index": lambda ns, v, w: v[1] * 3.0,
    "slice": lambda ns, v, w: (v[:1] * w[:1]).sum(),
    "matmul": lambda ns, v, w: (v @ w) * 1.0,
    "matmul_matrix": lambda ns, v, w: (ns.const(M) @ v.reshape(2, 1)).sum(),
    "dot": lambda ns, v, w: ns.dot(v, w),
    "reshape": lambda ns, v, w: (ns.flat(v.reshape(1, 2)) * w).sum(),
    "transpose": lambda ns, v, w: (v.reshape(2, 1).T @ w).sum(),
    "clone": lambda ns, v, w: (v.clone() * w).sum(),
    "inplace_on_view": lambda ns, v, w: _inplace_then_sum(ns, v, w),
}


def _inplace_then_sum(ns, v, w):
    ns.before_inplace(v)
    v *= w  # the stale view is written into: a view that needs a gradient, not a leaf
    return v.sum()


def _use_program(use):
    def program(ns, x, w):
        buf = ns.zeros(3)
        v = buf[1:]
        buf += x * 2.0
        return USES[use](ns, v, w)

    program.__name__ = f"use_{use}"
    return program


ALL = PROGRAMS + [_use_program(use) for use in USES]


def _tape(program, x, w):
    """The value and the gradients of x and w by backward()."""
    xt = ag.tensor(x, requires_grad=True)
    wt = ag.tensor(w, requires_grad=True)
    out = program(AG, xt, wt)
    out.backward()
    return out.item(), _grad(xt), _grad(wt)


def _grad(t):
    return np.zeros(t.shape) if t.grad is None else t.grad.numpy()


def _plain(program, x, w):
    """The same code on tensors that record nothing."""
    with ag.no_grad():
        return program(AG, ag.tensor(x), ag.tensor(w)).item()


@pytest.mark.parametrize("program", ALL, ids=lambda p: p.__name__)
def test_gradients_equal_finite_differences(program):
    value, gx, gw = _tape(program, X, W)
    assert_close(value, _plain(program, X, W), what="value")
    f = lambda x, w: _plain(program, x, w)  # noqa: E731
    dx, dw = numeric_vjp(f, [X, W], 0, 1.0), numeric_vjp(f, [X, W], 1, 1.0)
    # (the programs are written so that the gradient the bug lost is not zero)
    assert np.abs(dx).max() + np.abs(dw).max() > 1e-3
    assert_close(gx, dx, what="d/dx")
    assert_close(gw, dw, what="d/dw")


@pytest.mark.parametrize("program", ALL, ids=lambda p: p.__name__)
def test_gradients_equal_torch(program):
    torch = pytest.importorskip("torch")
    value, gx, gw = _tape(program, X, W)
    xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    out = program(TorchNS(torch), xt, wt)
    out.backward()
    assert_close(value, out.item(), what="value")
    assert_close(gx, _torch_grad(xt), what="d/dx")
    assert_close(gw, _torch_grad(wt), what="d/dw")


def _torch_grad(t):
    return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy()


def test_the_reported_snippet():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    v = buf[1:]
    buf[0:2] += x
    loss = (v * 3.0).sum()
    loss.backward()
    assert_close(x.grad.numpy(), [0.0, 3.0])


def test_the_stale_view_is_no_leaf():
    """Once its base has a history the view needs a gradient and has a node (PyTorch:
    requires_grad True, grad_fn AsStridedBackward0, is_leaf False)."""
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    v = buf[1:]
    assert not v.requires_grad
    buf[0:2] += x
    assert v.requires_grad
    assert not v.is_leaf
    assert v.grad_fn is not None
    with pytest.raises(RuntimeError, match="only change requires_grad"):
        v.requires_grad = False


def test_the_stale_view_as_the_root_of_backward():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    v = buf[1:]
    buf[0:2] += x
    v.backward(ag.tensor([1.0, 10.0]))  # PyTorch: x.grad == [0, 1]
    assert_close(x.grad.numpy(), [0.0, 1.0])


def test_the_stale_view_as_an_output_of_a_pullback():
    def f(x):
        buf = ag.zeros(3)
        v = buf[1:]
        buf[0:2] += x
        return v

    value, pullback = ag.vjp(f, np.array([1.0, 2.0]), mode="tape")
    assert_close(value, [2.0, 0.0])
    assert_close(pullback(np.array([1.0, 10.0])), [0.0, 1.0])


def test_the_stale_view_retains_its_gradient():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    v = buf[1:]
    buf[0:2] += x
    v.retain_grad()
    (v * ag.tensor([4.0, 5.0])).sum().backward()
    assert_close(v.grad.numpy(), [4.0, 5.0])
    assert_close(x.grad.numpy(), [0.0, 4.0])


def test_the_view_read_in_no_grad_gives_its_values():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    v = buf[1:]
    buf[0:2] += x
    with ag.no_grad():
        y = v * 2.0
    assert not y.requires_grad
    assert_close(y.numpy(), [4.0, 0.0])
    (v * 3.0).sum().backward()  # and its history is still there afterwards
    assert_close(x.grad.numpy(), [0.0, 3.0])


def test_a_view_of_a_detached_alias_stays_constant():
    """``buf.detach()[1:]`` views the detached tensor, which never gains a history
    (PyTorch: requires_grad False)."""
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    v = buf.detach()[1:]
    buf[0:2] += x
    assert not v.requires_grad
    assert_close((v * 3.0).numpy(), [6.0, 0.0])


def test_a_view_taken_in_no_grad_is_refused_after_its_base_changed():
    """PyTorch: 'A view was created in no_grad mode and its base or another view of its
    base has been modified inplace with grad mode enabled'."""
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    with ag.no_grad():
        v = buf[1:]
    buf[0:2] += x
    with pytest.raises(RuntimeError, match="no_grad mode"):
        (v * 3.0).sum()
    with pytest.raises(RuntimeError, match="no_grad mode"):
        v.tanh()


def test_a_view_taken_in_no_grad_of_a_tensor_with_a_history_is_refused_too():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    with ag.no_grad():
        v = y[1:]
    y += x
    with pytest.raises(RuntimeError, match="no_grad mode"):
        (v * 3.0).sum()


def test_a_view_taken_in_no_grad_works_while_its_base_is_unchanged():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3) + 1.0
    with ag.no_grad():
        v = buf[1:]
    (v * x).sum().backward()
    assert_close(x.grad.numpy(), [1.0, 1.0])
    with ag.no_grad():
        v += 1.0  # (in place in no_grad mode: nothing is recorded)
    assert_close(buf.numpy(), [1.0, 2.0, 2.0])


def test_a_view_taken_in_no_grad_is_refused_in_place_with_grad():
    """PyTorch: 'A view was created in no_grad mode and is being modified inplace with grad
    mode enabled'; it silently left the base without the write's history."""
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    with ag.no_grad():
        v = buf[1:]
    with pytest.raises(RuntimeError, match="no_grad mode"):
        v += x


@pytest.mark.parametrize("case", ["read", "inplace"])
def test_torch_refuses_the_no_grad_views_too(case):
    torch = pytest.importorskip("torch")
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    buf = torch.zeros(3, dtype=torch.float64)
    with torch.no_grad():
        v = buf[1:]
    with pytest.raises(RuntimeError, match="no_grad mode"):
        if case == "read":
            buf[0:2] += x
            (v * 3.0).sum()
        else:
            v += x


def test_a_view_whose_memory_is_no_longer_the_bases_is_refused():
    """The view's values are no longer found in its base: rebuilding it from the base would
    be wrong, and keeping it constant unchecked is what lost gradients: a clear error."""
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    buf = ag.zeros(3)
    v = buf[1:]
    buf.data = np.zeros(3)  # the base's values replaced, not written into
    buf[0:2] += x
    with pytest.raises(RuntimeError, match="stale"):
        (v * 3.0).sum()


def test_dead_views_are_forgotten():
    buf = ag.zeros(100)
    for i in range(50):
        buf[i : i + 2].sum()
    kept = buf._counter[2] if len(buf._counter) > 2 else {}
    assert len(kept) == 0
    views = [buf[i:] for i in range(3)]
    assert len(buf._counter[2]) == 3
    del views
    assert len(buf._counter[2]) == 0


def test_no_view_is_kept_for_a_base_with_a_history():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    v = y[1:]
    assert v.requires_grad
    assert y._counter is None or len(y._counter) == 2


def test_a_tensor_with_kept_views_still_pickles_and_copies():
    import copy
    import pickle

    buf = ag.zeros(3)
    v = buf[1:]
    for clone in (pickle.loads(pickle.dumps(buf)), copy.deepcopy(buf)):
        assert_close(clone.numpy(), [0.0, 0.0, 0.0])
        # (no views kept: no counter yet, as a deep copy makes a tensor of its own)
        counter = clone._counter
        assert counter is None or len(counter) == 2 or len(counter[2]) == 0
    assert len(buf._counter[2]) == 1
    del v
