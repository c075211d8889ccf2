"""In-place operations on views while the tape records (``y[1:] += v``, ``t = y[1:]; t *= w``,
``y.reshape(2, 3)[:, 0] -= v``, ``y[1:][0] = v``, ``y[1:].zero_()``): the new values are
visible through the base, and both the view's and the base's histories say so, so that
gradients equal finite differences of the same code on NumPy arrays."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

RNG = np.random.default_rng(7)
X = RNG.standard_normal(6)
W = RNG.standard_normal(5)
C = RNG.standard_normal(6)


def _eager(program, x, w):
    """``program`` on tensors: the value, and the gradients of x and w by backward()."""
    xt = ag.tensor(x, requires_grad=True)
    wt = ag.tensor(w, requires_grad=True)
    out = program(xt, wt)
    out.backward()
    return out.item(), xt.grad.numpy(), wt.grad.numpy()


def _reference(program, x, w):
    """The same code on tensors that record nothing: NumPy's in-place semantics."""
    with ag.no_grad():
        return program(ag.tensor(x), ag.tensor(w)).item()


def _check_eager(program):
    value, gx, gw = _eager(program, X, W)
    assert_close(value, _reference(program, X, W), what="value")
    f = lambda x, w: _reference(program, x, w)  # noqa: E731
    assert_close(gx, numeric_vjp(f, [X, W], 0, 1.0), what="d/dx")
    assert_close(gw, numeric_vjp(f, [X, W], 1, 1.0), what="d/dw")


def slice_iadd(x, w):
    y = x * 1.0
    y[1:] += w * 2.0
    return (y * ag.tensor(C)).sum()


def named_view(x, w):
    y = x * 1.0
    t = y[1:]
    t += w
    t *= w  # the view stays current after its own in-place operations
    s = (t.clone() ** 2).sum()
    return (y * ag.tensor(C)).sum() + s


def view_of_a_view(x, w):
    y = x.tanh() * 1.0  # (tanh saves its result: writing into it would be an error)
    z = y.reshape(2, 3)[:, 1:]
    z -= w[:4].reshape(2, 2) * w[4]
    return (y**2 * ag.tensor(C)).sum()


def transposed_and_assigned(x, w):
    y = x * 2.0
    yt = y.reshape(2, 3).T  # 3 x 2, not contiguous
    yt[0] = w[:2]
    yt[1:, 1] /= w[2:4]
    return (y * ag.tensor(C)).sum()


def zero_and_item_assignment_on_views(x, w):
    y = x * x
    y[1:][1:3].zero_()
    y[2:][2] = w[0] * 3.0
    return (y * ag.tensor(C)).sum()


def base_without_gradient(x, w):
    y = ag.zeros(6)
    y[1:] += x[:-1] * 2.0
    y[:-1] += w**2
    return (y * x).sum()


def fortran_ordered_base(x, w):
    y = ag.from_numpy(np.asfortranarray(np.arange(12.0).reshape(3, 4)))
    y[:, 1] += x[:3] * w[:3]
    y[1, 1:] *= w[2:]
    return (y**2).sum()


@pytest.mark.parametrize(
    "program",
    [
        slice_iadd,
        named_view,
        view_of_a_view,
        transposed_and_assigned,
        zero_and_item_assignment_on_views,
        base_without_gradient,
        fortran_ordered_base,
    ],
)
def test_inplace_on_views_gives_finite_difference_gradients(program):
    _check_eager(program)


# -- in functions run on the tape ---------------------------------------------------------------


def accumulate_slices(x, w):
    y = np.zeros_like(x)
    y[1:] += x[:-1] * 2.0
    y[:-1] += x[1:] ** 2
    y[2:4] *= w[:2]
    return np.sum(y * x)


def aliased_view(x, w):
    y = x * 1.0
    t = y[1:]
    t += w  # changes y too: the function relies on it
    t *= 2.0
    m = y.reshape(2, 3)
    m[:, 0] -= w[:2]
    return np.sum(y**2) + np.sum(t)


def view_of_zeros(x, w):
    y = np.zeros_like(x)  # needs no gradient when the view is taken
    t = y[1:]
    t += x[:-1] * w
    rows = y.reshape(2, 3)
    rows[1] *= w[:3]
    return np.sum(y * x)


@pytest.mark.parametrize("program", [accumulate_slices, aliased_view, view_of_zeros])
def test_inplace_on_views_on_the_tape(program):
    got = ag.grad(program, wrt=(0, 1), mode="tape")(X, W)
    for g, i in zip(got, (0, 1)):
        assert_close(g, numeric_vjp(program, [X, W], i, 1.0), what=f"d/d arg {i}")


# -- what stays an error ------------------------------------------------------------------------


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_is_an_error():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[1:] += 1.0
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[1:][0] = 5.0
    assert x.tolist() == [1.0, 2.0, 3.0]


def test_other_views_of_the_base_follow_it():
    # A view whose base changed in place since the view was taken reads the base's new
    # history where its elements are (as PyTorch's views do).
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = ag.tensor([5.0, 7.0], requires_grad=True)
    y = x * 1.0
    a = y[:2]
    b = y.reshape(3, 1)[1:, 0]
    b *= w
    assert a.tolist() == [1.0, 10.0]
    (a * ag.tensor([1.0, 10.0])).sum().backward()  # = x0 + 10 * x1 * w0
    assert_close(x.grad.numpy(), [1.0, 50.0, 0.0])
    assert_close(w.grad.numpy(), [20.0, 0.0])


def test_a_view_that_no_longer_shares_its_bases_memory_is_stale():
    data = np.arange(3.0)
    data.flags.writeable = False
    base = ag.Tensor(data)
    view = base[1:]
    w = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    base += w  # a read-only buffer is replaced, not written: the view keeps the old one
    with pytest.raises(RuntimeError, match="recorded history is stale"):
        view *= w[1:]


def test_a_value_saved_before_the_write_is_checked():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1.0
    z = y * x  # saves y
    y[1:] += 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_a_view_whose_elements_overlap_is_refused():
    base = ag.Tensor(np.broadcast_to(np.arange(3.0), (2, 3)))
    w = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    view = base[0]
    with pytest.raises(RuntimeError, match=r"in-place \+= on this view"):
        view += w


def test_without_recording_views_write_through_as_before():
    y = ag.zeros(4)
    t = y[1:3]
    t += 2.0
    assert y.tolist() == [0.0, 2.0, 2.0, 0.0] and not y.requires_grad


def _written_through_flat(x):
    m = np.outer(x, x)
    m.flat[[0, 4]] = x[:2] * 2.0
    m.flat[5] = x[2] * 3.0
    return np.sum(m * m) + sum(v for v in m.flat) + m.flat[3] * len(m.flat)


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_flat_reads_and_writes_record(mode):
    # (t.flat raised AttributeError on a tensor: a program using it failed on the tape)
    x = np.array([0.3, -0.5, 0.7])
    step = 1e-6
    want = [
        (_written_through_flat(x + step * e) - _written_through_flat(x - step * e)) / (2 * step)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(ag.grad(_written_through_flat, mode=mode)(x), want, rtol=1e-7)


def _writes_through_an_einsum_diagonal(x):
    y = x * 2.0
    d = np.einsum("ii->i", y)
    d[0] = np.sum(x) * 0.5
    return np.sum(y * y)


def _writes_through_an_einsum_transpose(x):
    y = np.sin(x)
    t = np.einsum("ij->ji", y)
    t[0, 1] = np.sum(x * x)
    return np.sum(y * x) + np.sum(t)


@pytest.mark.parametrize(
    "program", [_writes_through_an_einsum_diagonal, _writes_through_an_einsum_transpose]
)
@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_a_write_through_a_one_operand_einsums_view(program, mode):
    # (NumPy returns a view of the operand; the einsum node kept the operand's value and
    # refused the write as a change of a saved value, though a one-operand einsum's
    # gradient reads the operand's shape alone)
    x = np.array([[0.3, -0.5], [0.7, 1.1]])
    want = numeric_vjp(lambda v: program(v.copy()), [x], 0, 1.0)
    assert_close(ag.grad(program, mode=mode)(x.copy()), want, rtol=1e-7, atol=1e-9, what=mode)


def test_a_write_into_a_two_operand_einsums_operand_still_raises():
    def writes_an_operand(x):
        y = x * 2.0
        z = np.einsum("ij,jk->ik", y, x)
        y[0, 0] = 1.0
        return np.sum(z)

    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ag.grad(writes_an_operand, mode="tape")(np.array([[0.3, -0.5], [0.7, 1.1]]))


def _assert_right_in_x(f) -> None:
    """``f(x, w)``'s gradient with respect to x alone, on the tape and in auto mode, against
    finite differences (each call on fresh copies: ``f`` writes into arrays)."""
    x, w = _X_AND_W
    want = numeric_vjp(lambda a, b: f(a.copy(), b.copy()), [x, w], 0, 1.0)
    for mode in ("tape", "auto"):
        got = ag.grad(f, wrt=0, mode=mode)(x.copy(), w.copy())
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=mode)


_X_AND_W = (np.linspace(0.1, 0.6, 6), np.linspace(-0.5, 0.5, 6))


def _array_then_split(x, w):
    v = np.array(w)  # (on the tape a tensor that needs no gradient, until the write)
    part = np.array_split(v, 3)[1]
    v[1:3] += np.tanh(x)[:2]
    return np.sum(part * part)


def _copy_then_split(x, w):
    v = np.copy(w)
    part = np.split(v, 3)[1]
    v[1:3] += np.tanh(x)[:2]
    return np.sum(part * part)


@pytest.mark.parametrize("f", [_array_then_split, _copy_then_split], ids=lambda f: f.__name__)
def test_a_split_part_of_a_constant_sees_a_later_write(f):
    # np.split and np.array_split return lists: their parts were left plain arrays, views
    # of the tensor's memory that a write needing a gradient changed with no gradient
    # (hostile random program 780 differentiated with respect to x alone)
    _assert_right_in_x(f)


def _constant_out_into_a_view_base(x, w):
    v = np.sin(x) * 0.8
    part = np.array_split(v, 3)[1]
    np.add(w, w, out=v)  # v holds a constant now: no gradient through its old value
    return np.sum(part * part)


def _constant_out_then_add(x, w):
    v = np.sin(x) * 0.8
    np.add(w, w, out=v)
    v += x
    return np.sum(v * v)


def _recorded_out(x, w):
    v = x * 1.0
    part = v[2:4]
    np.multiply(x, w, out=v)  # the result needs a gradient: it flows into v and its view
    return np.sum(part * part) + np.sum(v)


@pytest.mark.parametrize(
    "f",
    [_constant_out_into_a_view_base, _constant_out_then_add, _recorded_out],
    ids=lambda f: f.__name__,
)
def test_a_ufunc_writing_into_a_tensor_records_the_write(f):
    # np.add(..., out=t) wrote the raw result into t's memory and left t's node computing
    # its old value: silently wrong with respect to x (hostile random programs 3109 and
    # 3205 differentiated with respect to one argument)
    _assert_right_in_x(f)
    # with respect to w alone, v is a plain array: storing w's result into it is refused,
    # as before, by name
    x, w = _X_AND_W
    for mode in ("tape", "auto"):
        with pytest.raises(ag.GradientLostError, match=r"out=array\) would store"):
            ag.grad(f, wrt=1, mode=mode)(x.copy(), w.copy())


def test_out_with_where_into_a_tensor_is_refused():
    def f(x):
        v = x * 1.0
        np.add(x, x, out=v, where=x > 0.3)
        return np.sum(v)

    with pytest.raises(ag.GradientLostError, match="where= cannot be recorded"):
        ag.grad(f, mode="tape")(np.linspace(0.1, 0.6, 6))
