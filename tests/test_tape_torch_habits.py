"""PyTorch's spellings on the tape, without torch: ``t.size()``, ``dim()``, ``numel()``,
``mT``, ``dim=``/``keepdim=`` in reductions, ``t.max(dim=...)`` as ``(values, indices)``,
the in-place methods (``add_``, ``sub_``, ``mul_``, ``div_``, ``clamp_``, ``zero_``,
``fill_``, ``copy_``) and ``register_hook``.

``test_torch_parity`` runs the same behaviours against torch where it is installed; this
file checks them against finite differences and values worked out by hand, so that they
are tested on machines without torch too.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from fake_device import fake_cuda
from numeric import assert_close, numeric_vjp

import astgrad as ag

rng = np.random.default_rng(7)
M23 = rng.standard_normal((2, 3))
B423 = rng.standard_normal((4, 2, 3))
POS23 = rng.uniform(0.5, 2.0, (2, 3))
MIXED = np.array([[-1.5, 0.5, 2.0], [3.0, -0.25, 1.0]])  # no ties, no zeros
TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
V3 = np.array([0.3, -1.2, 0.8])


def grads_against_differences(ag_fn, numpy_fn, *arrays):
    """``ag_fn`` on tensors that require grad gives ``numpy_fn``'s value, and each input's
    gradient matches central differences of ``numpy_fn``."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [ag.tensor(a, requires_grad=True) for a in arrays]
    out = ag_fn(*tensors)
    expected = numpy_fn(*arrays)
    assert_close(out.detach().data, expected)
    cotangent = np.random.default_rng(1).standard_normal(np.shape(expected))
    out.backward(ag.tensor(cotangent))
    for i, t in enumerate(tensors):
        want = numeric_vjp(numpy_fn, arrays, i, cotangent)
        assert_close(t.grad.data, want, rtol=1e-5, atol=1e-7)


# -- size, dim, numel, element_size ----------------------------------------------------------


def test_size_is_numpys_int_and_torchs_method():
    t = ag.tensor(B423)
    assert t.size == 24 and isinstance(t.size, int)
    assert t.size() == (4, 2, 3) == t.shape
    assert (t.size(0), t.size(1), t.size(2), t.size(-1), t.size(-3)) == (4, 2, 3, 3, 4)
    assert t.size(dim=1) == 2 and t.size(np.int64(1)) == 2
    assert t.dim() == t.ndimension() == t.ndim == 3
    assert t.numel() == t.nelement() == 24 and type(t.numel()) is int
    assert t.element_size() == 8 and ag.zeros(2, dtype=np.float32).element_size() == 4
    s = ag.tensor(2.0)
    assert s.size == 1 and s.size() == () and s.dim() == 0 and s.numel() == 1


def test_size_errors_name_the_range():
    t = ag.tensor(M23)
    in_range = r"^Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)$"
    with pytest.raises(IndexError, match=in_range):
        t.size(2)
    with pytest.raises(IndexError, match=r"but got -3\)$"):
        t.size(-3)
    with pytest.raises(IndexError, match="^Dimension specified as 0 but tensor has no dimensions$"):
        ag.tensor(1.0).size(0)
    with pytest.raises(TypeError):
        t.size(1.5)


def test_size_is_an_int_everywhere_numpy_code_uses_one():
    t = ag.tensor(M23, requires_grad=True)
    n = t.size
    assert n + 1 == 7 and type(n + 1) is int and n * 2.0 == 12.0 and n // 4 == 1
    assert list(range(n)) == [0, 1, 2, 3, 4, 5] and np.zeros(n).shape == (6,)
    assert f"{n:03d}" == "006" and repr(n) == "6" and str(n) == "6" and hash(n) == hash(6)
    assert np.size(t) == 6 and {n: "x"}[6] == "x"
    assert pickle.loads(pickle.dumps(n)) == 6 and type(pickle.loads(pickle.dumps(n))) is int
    # As a NumPy operand it is the plain int it stands for: NumPy promotes a Python int
    # weakly, but would promote a subclass of int as int64.
    f32 = ag.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    assert (f32 / f32.size).dtype == np.float32
    assert (f32.size * f32).dtype == np.float32
    assert np.divide(f32, f32.size).dtype == np.float32
    assert np.multiply(f32.size, f32).dtype == np.float32
    assert (f32.data / f32.size).dtype == np.float32
    assert (np.float32(1) * f32.size).dtype == np.float32
    assert (np.ones(2, dtype=np.int8) * f32.size).dtype == np.int8
    mean = (f32 * 3).sum() / f32.size
    mean.backward()
    assert f32.grad.dtype == np.float32 and np.allclose(f32.grad.data, 0.5)


def test_mean_by_hand_with_size_on_the_tape():
    """NumPy code that divides by ``x.size``, run on the tape, keeps working."""

    def f(x):
        return (x * x).sum() / x.size

    g = ag.grad(f, mode="tape")(M23)
    assert_close(g, 2 * M23 / 6)


# -- dim= and keepdim= -----------------------------------------------------------------------

REDUCTIONS = [
    ("sum-dim", lambda x: x.sum(dim=0), lambda a: a.sum(axis=0), [M23]),
    (
        "sum-dim-keepdim",
        lambda x: x.sum(dim=1, keepdim=True),
        lambda a: a.sum(1, keepdims=True),
        [M23],
    ),
    ("sum-dim-tuple", lambda x: x.sum(dim=(0, 2)), lambda a: a.sum(axis=(0, 2)), [B423]),
    (
        "sum-axis-keepdim",
        lambda x: x.sum(axis=1, keepdim=True),
        lambda a: a.sum(1, keepdims=True),
        [M23],
    ),
    ("sum-keepdim-only", lambda x: x.sum(keepdim=True), lambda a: a.sum(keepdims=True), [M23]),
    ("mean-dim", lambda x: x.mean(dim=1), lambda a: a.mean(axis=1), [M23]),
    (
        "mean-dim-keepdim",
        lambda x: x.mean(dim=0, keepdim=True),
        lambda a: a.mean(0, keepdims=True),
        [M23],
    ),
    ("prod-dim", lambda x: x.prod(dim=1), lambda a: a.prod(axis=1), [POS23]),
    ("max-keepdim", lambda x: x.max(keepdim=True), lambda a: a.max(keepdims=True), [MIXED]),
    ("amax-dim", lambda x: x.amax(dim=1), lambda a: a.max(axis=1), [MIXED]),
    ("amin-axis", lambda x: x.amin(axis=0), lambda a: a.min(axis=0), [MIXED]),
    ("var-dim-correction", lambda x: x.var(dim=0, correction=1), lambda a: a.var(0, ddof=1), [M23]),  # noqa: E501
    (
        "std-dim-keepdim",
        lambda x: x.std(dim=1, keepdim=True),
        lambda a: a.std(1, keepdims=True),
        [M23],
    ),
    ("cumsum-dim", lambda x: x.cumsum(dim=1), lambda a: a.cumsum(axis=1), [M23]),
    ("cumprod-dim", lambda x: x.cumprod(dim=0), lambda a: a.cumprod(axis=0), [POS23]),
    ("squeeze-dim", lambda x: x.squeeze(dim=1), lambda a: a.squeeze(axis=1), [M23[:, :1]]),
    ("unsqueeze-dim", lambda x: x.unsqueeze(dim=1), lambda a: np.expand_dims(a, 1), [M23]),
    ("unsqueeze-axis", lambda x: x.unsqueeze(axis=-1), lambda a: np.expand_dims(a, -1), [M23]),
]


@pytest.mark.parametrize(
    "ag_fn, numpy_fn, inputs", [pytest.param(a, n, i, id=k) for k, a, n, i in REDUCTIONS]
)
def test_reductions_take_dim_and_keepdim(ag_fn, numpy_fn, inputs):
    grads_against_differences(ag_fn, numpy_fn, *inputs)


def test_argmax_any_all_take_dim_and_keepdim():
    t = ag.tensor(MIXED)
    assert t.argmax(dim=1).tolist() == [2, 0]
    assert t.argmin(dim=0, keepdim=True).tolist() == [[0, 1, 1]]
    assert (t > 0).any(dim=1).tolist() == [True, True]
    assert (t > 0).all(dim=0, keepdim=True).tolist() == [[False, False, True]]


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.sum(axis=1, dim=1),
        lambda x: x.sum(0, dim=0),
        lambda x: x.sum(keepdims=True, keepdim=True),
        lambda x: x.sum(keepdims=False, keepdim=False),
        lambda x: x.mean(axis=0, dim=0),
        lambda x: x.max(axis=0, dim=0),
        lambda x: x.min(keepdims=True, keepdim=True),
        lambda x: x.prod(axis=0, dim=0),
        lambda x: x.amax(axis=0, dim=0),
        lambda x: x.var(axis=0, dim=0),
        lambda x: x.std(ddof=1, correction=1),
        lambda x: x.argmax(axis=0, dim=0),
        lambda x: x.cumsum(axis=0, dim=0),
        lambda x: x.squeeze(0, dim=0),
        lambda x: x.unsqueeze(0, dim=0),
    ],
)
def test_both_names_of_one_argument_are_refused(call):
    with pytest.raises(TypeError, match=r"got both .*two names of one argument"):
        call(ag.tensor(M23, requires_grad=True))


def test_unsqueeze_needs_an_axis():
    with pytest.raises(TypeError, match="missing the axis"):
        ag.tensor(M23).unsqueeze()


def test_numpy_names_are_unchanged():
    x = ag.tensor(MIXED, requires_grad=True)
    assert x.max(axis=1).tolist() == [2.0, 3.0]  # values only, as NumPy's
    assert x.max(1).tolist() == [2.0, 3.0]
    assert x.sum(0, True).shape == (1, 3) and x.mean(axis=None, keepdims=False).shape == ()
    assert x.sum().grad_fn.name() == "SumBackward"


# -- max and min with dim= ---------------------------------------------------------------------


@pytest.mark.parametrize("keepdim", [False, True])
def test_max_with_dim_gives_values_and_indices(keepdim):
    x = ag.tensor(TIES, requires_grad=True)
    out = x.max(dim=1, keepdim=keepdim)
    values, indices = out
    assert out.values is values and out.indices is indices and type(out).__name__ == "max"
    assert repr(out).startswith("max(values=tensor(")
    shape = (2, 1) if keepdim else (2,)
    assert values.shape == indices.shape == shape
    assert values.data.ravel().tolist() == [3.0, 2.0]
    assert indices.data.ravel().tolist() == [1, 0]  # the first of tied elements
    assert values.requires_grad and not indices.requires_grad and indices.dtype.kind == "i"
    values.backward(ag.tensor(np.array([2.0, 3.0]).reshape(shape)))
    # all of each row's gradient goes to the element indices names, as in torch
    assert x.grad.tolist() == [[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]]


def test_min_with_dim_gives_values_and_indices():
    x = ag.tensor(TIES, requires_grad=True)
    values, indices = x.min(dim=0)
    assert values.tolist() == [1.0, 2.0, 0.0] and indices.tolist() == [0, 1, 1]
    values.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]
    m = x.detach().min(dim=-1)
    assert type(m).__name__ == "min" and m.indices.tolist() == [0, 2]
    assert not m.values.requires_grad


def test_max_with_dim_takes_one_dimension():
    with pytest.raises(TypeError, match="takes one dimension"):
        ag.tensor(B423).max(dim=(0, 1))


def test_max_over_an_axis_still_shares_ties():
    x = ag.tensor(TIES, requires_grad=True)
    x.max(axis=1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]]


# -- T and mT ------------------------------------------------------------------------------------


def test_mT_swaps_the_last_two_axes():
    grads_against_differences(lambda x: x.mT, lambda a: np.swapaxes(a, -1, -2), B423)
    grads_against_differences(lambda x: x.mT @ x, lambda a: a.T @ a, M23)
    assert ag.tensor(B423, requires_grad=True).mT.grad_fn.name() == "TransposeBackward"
    grads_against_differences(lambda x: x.T, lambda a: a.T, B423)
    message = "^tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.$"
    with pytest.raises(RuntimeError, match=message):
        _ = ag.tensor([1.0, 2.0]).mT


# -- in-place methods --------------------------------------------------------------------------


def _on_a_copy(op):
    """``op`` applied in place to a computed copy of the first input: recorded in place."""
    return lambda x, *rest: op(x * 1, *rest)


IN_PLACE = [
    ("add_", lambda t, y: t.add_(y), lambda a, y: a + y, [M23, M23 * 2]),
    ("add_-alpha", lambda t, y: t.add_(y, alpha=2.5), lambda a, y: a + 2.5 * y, [M23, V3]),
    ("add_-number", lambda t: t.add_(3.0), lambda a: a + 3.0, [M23]),
    (
        "add_-list-alpha",
        lambda t: t.add_([1.0, 2.0, 3.0], alpha=2),
        lambda a: a + [2.0, 4.0, 6.0],
        [M23],
    ),
    ("sub_", lambda t, y: t.sub_(y), lambda a, y: a - y, [M23, V3]),
    ("sub_-alpha", lambda t, y: t.sub_(y, alpha=-0.5), lambda a, y: a + 0.5 * y, [M23, M23 * 2]),
    ("mul_", lambda t, y: t.mul_(y), lambda a, y: a * y, [M23, POS23]),
    ("div_", lambda t, y: t.div_(y), lambda a, y: a / y, [M23, POS23]),
    ("clamp_", lambda t: t.clamp_(-0.5, 0.9), lambda a: np.clip(a, -0.5, 0.9), [MIXED]),
    ("clamp_-min", lambda t: t.clamp_(min=0.0), lambda a: np.clip(a, 0.0, None), [MIXED]),
    ("clamp_-max", lambda t: t.clamp_(max=0.7), lambda a: np.clip(a, None, 0.7), [MIXED]),
    (
        "clamp_-tensor-bounds",
        lambda t, lo, hi: t.clamp_(lo, hi),
        np.clip,
        [MIXED, V3 - 0.5, V3 + 1.0],
    ),
    ("fill_-tensor", lambda t, w: t.fill_(w), lambda a, w: a * 0 + w, [M23, np.array(2.0)]),
    ("copy_-broadcast", lambda t, v: t.copy_(v), lambda a, v: a * 0 + v, [M23, V3]),
    ("zero_-then-add_", lambda t, y: t.zero_().add_(y), lambda a, y: a * 0 + y, [M23, M23 * 2]),
    (
        "chain",
        lambda t, y: t.mul_(y).add_(y).clamp_(min=-0.2),
        lambda a, y: np.clip(a * y + y, -0.2, None),
        [M23, POS23],
    ),
]


@pytest.mark.parametrize(
    "op, numpy_fn, inputs", [pytest.param(o, n, i, id=k) for k, o, n, i in IN_PLACE]
)
def test_in_place_methods_record(op, numpy_fn, inputs):
    grads_against_differences(_on_a_copy(op), numpy_fn, *inputs)


@pytest.mark.parametrize(
    "op, numpy_fn, inputs", [pytest.param(o, n, i, id=k) for k, o, n, i in IN_PLACE]
)
def test_in_place_methods_without_gradients(op, numpy_fn, inputs):
    tensors = [ag.tensor(a) for a in inputs]
    first = tensors[0]
    assert op(*tensors) is first
    assert_close(first.data, numpy_fn(*inputs))
    assert not first.requires_grad and first.grad_fn is None and first._version >= 1


@pytest.mark.parametrize(
    "op",
    [
        lambda x: x.add_(1.0),
        lambda x: x.add_(x, alpha=2),
        lambda x: x.sub_(1.0),
        lambda x: x.mul_(2.0),
        lambda x: x.div_(2.0),
        lambda x: x.clamp_(0.0, 1.0),
        lambda x: x.zero_(),
        lambda x: x.fill_(3.0),
        lambda x: x.copy_(x * 2),
    ],
)
def test_in_place_methods_on_a_leaf_that_requires_grad(op):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    refused = "leaf Variable that requires grad is being used in an in-place operation"
    with pytest.raises(RuntimeError, match=refused):
        op(x)
    assert x.tolist() == [1.0, 2.0] and x._version == 0
    with ag.no_grad():  # allowed there: a parameter update
        assert op(x) is x
    assert x._version == 1 and x.is_leaf and x.grad_fn is None and x.requires_grad


@pytest.mark.parametrize(
    "op",
    [
        lambda y: y.add_(1.0),
        lambda y: y.sub_(1.0, alpha=3),
        lambda y: y.mul_(2.0),
        lambda y: y.div_(2.0),
        lambda y: y.clamp_(max=0.0),
        lambda y: y.zero_(),
        lambda y: y.fill_(1.0),
        lambda y: y.copy_(ag.tensor([5.0, 6.0])),
    ],
)
def test_in_place_methods_count_versions_and_check_saved_values(op):
    x, w = ag.tensor([1.0, 2.0], requires_grad=True), ag.tensor([0.5, 3.0], requires_grad=True)
    y = x * 2
    out = y * w  # saves y for w's gradient
    assert op(y) is y and y._version == 1 and not y.is_leaf
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0 instead"):
        out.sum().backward()
    # nothing saved y: no error
    z = x * 3
    out = z * 0.5
    op(z)
    out.sum().backward()
    assert x.grad.tolist() == [1.5, 1.5]


def test_in_place_method_through_a_view():
    x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    w = ag.tensor([0.5, -1.5], requires_grad=True)
    y = x * 2
    y[1:3].mul_(w).add_(1.0)
    y.reshape(2, 2)[:, 0].clamp_(max=2.5)
    (y * y).sum().backward()

    def f(x, w):
        y = x * 2
        y[1:3] = y[1:3] * w + 1.0
        y[0::2] = np.minimum(y[0::2], 2.5)
        return (y * y).sum()

    assert_close(x.grad.data, numeric_vjp(f, [x.detach().data, w.detach().data], 0, 1.0))
    assert_close(w.grad.data, numeric_vjp(f, [x.detach().data, w.detach().data], 1, 1.0))


def test_fill_and_copy_details():
    w = ag.tensor(2.0, requires_grad=True)
    z = ag.zeros((2, 3))
    assert z.fill_(w) is z and z.requires_grad and not z.is_leaf
    z.sum().backward()
    assert w.grad.item() == 6.0
    message = "^fill_ only supports 0-dimension value tensor but got tensor with 1 dimensions.$"
    with pytest.raises(RuntimeError, match=message):
        ag.zeros(2).fill_(ag.tensor([1.0]))
    i = ag.zeros(2, dtype=np.int64)
    i.copy_(ag.tensor([1.7, -2.5]))  # cast, as torch's copy_
    assert i.tolist() == [1, -2] and i.dtype == np.int64
    with pytest.raises(ValueError):
        ag.zeros(2).copy_(ag.tensor([1.0, 2.0, 3.0]))


def test_copy_moves_between_devices():
    with fake_cuda():
        src = ag.tensor([1.0, 2.0], device="cuda", requires_grad=True)
        dst = ag.zeros(2)
        dst.copy_(src)
        assert dst.device == "cpu" and dst.tolist() == [1.0, 2.0]
        (dst * 3).sum().backward()
        assert src.grad.device == "cuda:0" and src.grad.tolist() == [3.0, 3.0]


def test_clamp_needs_a_bound():
    for call in (lambda t: t.clamp(), lambda t: t.clamp_()):
        with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
            call(ag.tensor([1.0]))


def test_clamp_out_of_place():
    grads_against_differences(lambda x: x.clamp(-0.5, 0.9), lambda a: np.clip(a, -0.5, 0.9), MIXED)
    grads_against_differences(
        lambda x, lo: x.clamp(min=lo), lambda a, lo: np.clip(a, lo, None), MIXED, V3
    )


def test_in_place_methods_are_in_place_in_a_function_run_on_the_tape():
    """In a function run on the tape a 0-d tensor stands for a number, which ``+=`` rebinds;
    ``add_`` says "in place", and writes into it."""

    def f(x):
        total = x.sum() * 0
        total.add_(x[0], alpha=3)
        total.mul_(x[1])
        return total

    x = np.array([2.0, 5.0])
    assert_close(ag.grad(f, mode="tape")(x), [15.0, 6.0])


def test_docstring_examples_of_the_tensor_module():
    import doctest
    import sys

    module = sys.modules["astgrad.runtime.tensor"]  # (ag.runtime.tensor is the factory)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed


# -- hooks ---------------------------------------------------------------------------------------


def test_hook_on_a_leaf():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    handle = x.register_hook(lambda g: g * 3)
    (x * x + x).sum().backward()
    assert seen == [[3.0, 5.0]]  # the whole gradient of the pass, once
    assert x.grad.tolist() == [9.0, 15.0]
    handle.remove()
    handle.remove()  # twice is once
    (x * x).sum().backward()
    assert x.grad.tolist() == [11.0, 19.0]
    assert seen == [[3.0, 5.0], [2.0, 4.0]]


def test_hook_on_a_leaf_used_as_the_root():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 4)
    x.backward(np.array([1.0, -1.0]))
    assert x.grad.tolist() == [4.0, -4.0]


def test_hook_on_a_computed_tensor():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = np.exp(x)
    seen = []
    y.register_hook(lambda g: seen.append((g.tolist(), g.requires_grad, ag.is_grad_enabled())))
    y.register_hook(lambda g: g + 1)  # in order: (g + 1) * 10
    y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    e = np.exp([1.0, 2.0])
    assert seen == [((2 * e).tolist(), False, False)]
    assert_close(x.grad.data, (2 * e + 1) * 10 * e)
    assert ag.is_grad_enabled()


def test_hook_on_the_root():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g * 5)
    y.backward(np.array([1.0, -1.0]))
    assert x.grad.tolist() == [10.0, -10.0]


@pytest.mark.parametrize("retain_first", [True, False])
def test_retain_grad_sees_the_gradient_after_hooks(retain_first):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    if retain_first:
        y.retain_grad()
    y.register_hook(lambda g: g * 10)
    if not retain_first:
        y.retain_grad()
    (y * y).sum().backward()
    assert y.grad.tolist() == [40.0, 80.0] and x.grad.tolist() == [80.0, 160.0]


def test_hook_modifying_its_argument_in_place_counts():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2

    def double(g):
        g *= 2

    y.register_hook(double)
    (y * 1).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_hook_may_return_an_array():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: np.full(2, 7.0))
    (x * 3).sum().backward()
    assert x.grad.tolist() == [7.0, 7.0]


def test_hook_stays_with_the_value_before_an_in_place_change():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(("before", g.tolist())))
    y.mul_(3)
    y.register_hook(lambda g: seen.append(("after", g.tolist())))
    y.sum().backward()
    assert seen == [("after", [1.0, 1.0]), ("before", [3.0, 3.0])]


def test_hook_handle_as_a_context_manager_and_removal_inside_a_hook():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with x.register_hook(lambda g: g * 100):
        (x * 1).sum().backward()
    assert x.grad.tolist() == [100.0, 100.0]
    x.grad = None
    calls = []

    def once(g):
        calls.append(1)
        handle.remove()

    handle = x.register_hook(once)
    x.register_hook(lambda g: g * 2)
    (x * 1).sum().backward()
    (x * 1).sum().backward()
    assert calls == [1] and x.grad.tolist() == [4.0, 4.0]


def test_hook_on_one_output_of_several():
    x = ag.tensor(np.array([[2.0, 1.0], [1.0, 3.0]]), requires_grad=True)
    q, r = np.linalg.qr(x)
    r.register_hook(lambda g: g * 0)
    (q.sum() + r.sum()).backward()
    x2 = ag.tensor(x.detach().data, requires_grad=True)
    q2, _ = np.linalg.qr(x2)
    q2.sum().backward()
    assert_close(x.grad.data, x2.grad.data)


def test_hook_on_a_tensor_in_a_function_run_on_the_tape():
    def f(x):
        y = x * 2
        y.register_hook(lambda g: g * 10)
        return (y * y).sum()

    assert_close(ag.grad(f, mode="tape")(np.array([1.0, 2.0])), [80.0, 160.0])


def test_hook_errors():
    message = "^cannot register a hook on a tensor that doesn't require gradient"
    with pytest.raises(RuntimeError, match=message):
        ag.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="must be callable"):
        ag.tensor([1.0], requires_grad=True).register_hook(3)

    def run(hook):
        x = ag.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(hook)
        (x * x).sum().backward()
        return x

    with pytest.raises(RuntimeError, match="^hook '<lambda>' has changed the size of value"):
        run(lambda g: g.sum())
    message = r"^hook '<lambda>' has changed the type of value \(was float64 got float32\)"
    with pytest.raises(RuntimeError, match=message):
        run(lambda g: g.astype(np.float32))
    with pytest.raises(TypeError, match="^expected a tensor, but hook 'three' returned 'int'"):

        def three(g):
            return 3

        run(three)
    # a failed backward leaves .grad as it was
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError):
        (x * x).sum().backward()
    assert x.grad is None


def test_hooks_run_in_a_backward_pass_that_records():
    """With create_graph=True a hook is given the recorded gradient and its result is
    recorded: d/dx of the hooked gradient is the derivative of what the hook returned."""
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    handle = y.register_hook(lambda g: g * g)  # dL/dy = 3 y**2 becomes 9 y**4
    (y**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    assert_close(x.grad.data, 288 * x.data**4)  # 2 * 9 * (2 x) ** 4
    first, x.grad = x.grad, None
    handle.remove()  # (else it would square the gradient reaching y in this pass too)
    first.sum().backward()
    assert_close(x.grad.data, 1152 * x.data**3)


def test_leaf_hooks_run_in_every_pass_that_records():
    leaf = ag.tensor(2.0, requires_grad=True)
    calls = []
    leaf.register_hook(lambda g: calls.append(g.requires_grad) or g * 3)
    (leaf**2).backward(create_graph=True)
    assert leaf.grad.item() == 12.0 and leaf.grad.requires_grad  # 3 * 2 * leaf
    slope, leaf.grad = leaf.grad, None
    slope.backward()
    assert leaf.grad.item() == 18.0  # 3 * d(6 leaf)/d leaf: the hook runs again
    assert calls == [True, False]  # grad mode is on in the pass that records only


def test_autograd_grad_runs_hooks_and_captures_their_result():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.data.copy()) or g + 1)
    x.register_hook(lambda g: g * 2)
    loss = (y * y).sum()
    (gx,) = ag.autograd_grad(loss, x, retain_graph=True)
    assert_close(seen[0], 2 * y.data)
    assert_close(gx.data, 2 * 3 * (2 * y.data + 1))  # y's hook, then x's
    assert x.grad is None
    (gy,) = ag.autograd_grad(loss, y, retain_graph=True)  # a computed input: hooked too
    assert_close(gy.data, 2 * y.data + 1)
    gx2, gy2 = ag.autograd_grad(loss, (x, y), create_graph=True)
    assert_close(gx2.data, gx.data)
    assert_close(gy2.data, gy.data)
    assert gx2.requires_grad


def test_graphs_without_hooks_keep_the_plain_path():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.grad_fn._extra is None
    assert x._accumulator is None or x._accumulator._extra is None
    y.register_hook(lambda g: g)
    assert y.grad_fn._extra.hooks
