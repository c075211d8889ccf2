"""Programs that change arrays, lists, dicts and objects in place, for the soundness tests.

Each is differentiated with respect to its first argument. ``REFUSED`` are those the
transform must not differentiate itself (an alias, a view or a call could make its
gradient differ from Python's): ``mode="source"`` raises a TransformError naming the line,
``mode="auto"`` runs them on the tape. ``ACCEPTED`` are differentiated by source, and must
match finite differences. In both, the value is the one Python computes.
"""

from __future__ import annotations

import heapq
import warnings

import numpy as np

# -- refused: the transform cannot show it computes what Python computes ------------------


def add_at(x):
    y = np.zeros(3)
    np.add.at(y, [0, 0, 1], x)
    return np.sum(y * y)


def fill_in(buf, x):
    buf[0] = x[0] * 2.0


def helper_writes_into_buffer(x):
    buf = np.zeros(3)
    fill_in(buf, x)
    return np.sum(buf * buf)


def write_through_reshape(x0):
    x = np.copy(x0)
    r = x.reshape(3, 1)
    r[0, 0] = 7.0
    return np.sum(x * x0)


def augmented_alias(x):
    y = np.zeros(3)
    z = y
    y += x
    return np.sum(z * x)


def list_extend(x):
    acc = []
    acc.extend([x * 2.0])
    return np.sum(acc[0] * x)


def out_argument(x):
    buf = np.zeros(3)
    np.multiply(x, 2.0, out=buf)
    return np.sum(buf * x)


def copyto(x):
    buf = np.ones(3)
    np.copyto(buf, x * 3.0)
    return np.sum(buf * buf)


def fill_method(x):
    y = x * 2.0
    y.fill(1.5)
    return np.sum(y * x)


def one_array_twice_in_a_list(x):
    y = x * 1.0
    pair = [y, y]
    first = pair[0]
    first[0] = 5.0
    return np.sum(pair[1] * x)


def dict_update(x):
    d = {"a": x * 2.0}
    d.update(a=x * 3.0)
    return np.sum(d["a"] * x)


class Accumulator:
    def __init__(self):
        self.total = 0.0

    def add(self, v):
        self.total = self.total + np.sum(v)


def method_updates_an_object(x):
    acc = Accumulator()
    acc.add(x * x)
    return acc.total


def slice_view_then_store(x):
    y = x * 1.0
    v = y[1:]
    y[1] = x[0] * 4.0
    return np.sum(v * x[1:])


def rows_scaled_in_place(x):
    m = np.outer(x, x)
    for row in m:
        row *= 2.0
    return np.sum(m * m)


LOG = []


def appends_to_a_global_list(x):
    y = np.tanh(x)
    LOG.append(y)
    return np.sum(y)


def stores_into_its_argument(x):
    x[0] = 0.0
    return np.sum(x * x)


def list_pop(x):
    acc = [x * 2.0, x * 3.0]
    last = acc.pop()
    return np.sum(acc[0] * last)


def sort_in_place(x):
    y = x * 1.0
    y.sort()
    return np.sum(y * np.arange(3.0))


def list_joined_in_place(x):
    acc = [x * 0.7]
    acc += [x * x]
    return np.sum(acc[1] * acc[0])


def list_repeated(x):
    acc = [x * 0.5] * 3
    return np.sum(acc[0] * acc[2])


def dict_element_changed_in_place(x):
    b = np.copy(x)
    d = {"a": b, "b": np.cos(x)}
    d["a"] -= np.sum(b * 0.5)
    return np.sum(b * b) + np.sum(d["a"] * d["b"])


def view_method_then_augmented(x):
    v = np.copy(x)
    s = v.view()
    s -= np.tanh(v) * 0.5
    return np.sum(v * v) + np.sum(s * x)


def shuffled_with_a_seeded_generator(x):
    order = [0, 1, 2]
    y = x[order]
    np.random.default_rng(3).shuffle(order)
    return np.sum(y * x[order])


def heap_of_numbers_from_a_gradient(x):
    heap = [1.0]
    heapq.heappush(heap, np.sum(x * x))
    return heap[0] * heap[1]


W = np.array([0.2, 0.5, 0.9])


def flipped_view_then_base_changed(x):
    y = x * 0.7
    v = np.flip(y)
    y += W
    return np.sum(v * v)


def atleast_1d_is_the_array(x):
    y = x * 0.7
    v = np.atleast_1d(y)
    v += W
    return np.sum(y * y)


def split_parts_are_views(x):
    y = np.concatenate([x, x]) * 0.7
    a, b = np.split(y, 2)
    a += W
    return np.sum(y * y)


def asarray_of_the_same_dtype(x):
    y = x * 0.7
    v = np.asarray(y, dtype=np.float64)
    v += W
    return np.sum(y * y)


def astype_without_a_copy(x):
    y = x * 0.7
    v = y.astype(np.float64, copy=False)
    v += W
    return np.sum(y * y)


def asanyarray_is_the_array(x):
    y = x * 0.7
    v = np.asanyarray(y)
    v += W
    return np.sum(y * y)


def element_taken_back_by_builtins(x):
    y = x * 0.7
    z = next(iter([y]))
    z += W
    return np.sum(y * y)


def attribute_read_by_getattr(x):
    y = x * 0.7
    v = getattr(y, "T")  # noqa: B009 (the spelling is the point: a builtin that returns what it got)
    v += W
    return np.sum(y * y)


def list_slice_assigned(x):
    acc = [x * 0.5, x * 1.0, np.sin(x)]
    acc[1:] = [np.cos(x)]
    return np.sum(acc[0] * acc[-1]) + len(acc)


class Holder:
    """A plain object: attributes set on it by setattr."""


def attribute_set_by_setattr(x):
    holder = Holder()
    setattr(holder, "w", x * 2.0)  # noqa: B010 (the spelling is the point)
    return np.sum(holder.w * x)


class Scaled:
    """A layer made from a differentiated value, then called."""

    def __init__(self, a):
        self.w = a * 2.0

    def __call__(self, v):
        return np.sum(self.w * v)


def object_built_from_a_gradient_then_called(x):
    layer = Scaled(x)
    return layer(2.0) + layer(x)


# NumPy functions whose result is a writable view of an argument that is not the first, or
# that the analysis once took for a new array (each gave a wrong gradient in source mode,
# einsum's on the tape too)
def einsum_diagonal_written(x):
    m = np.outer(x, x)
    d = np.einsum("ii->i", m)
    d *= 2.0
    return np.sum(m * W)


def einsum_transpose_written(x):
    m = np.outer(x, W) * 1.0
    t = np.einsum("ij->ji", m)
    t[0, 1] = x[0] * 3.0
    return np.sum(m * m)


def einsum_of_itself_written(x):
    y = x * 1.0
    z = np.einsum(y, [0], [0])
    z += x
    return np.sum(y * y)


def real_if_close_is_the_array(x):
    y = x * 1.0
    z = np.real_if_close(y)
    z += W
    return np.sum(y * y)


def unstack_rows_are_views(x):
    m = np.outer(x, x) * 1.0
    rows = np.unstack(m)
    rows[0][:] = x * 2.0
    return np.sum(m * m)


def trim_zeros_is_a_view(x):
    y = np.concatenate([np.zeros(1), x * 1.0])
    z = np.trim_zeros(y)
    z *= 2.0
    return np.sum(y * x[0])


def asarray_chkfinite_is_the_array(x):
    y = x * 1.0
    z = np.asarray_chkfinite(y)
    z *= 3.0
    return np.sum(y * x)


# helpers the transform cannot read (``*args``, ``try``), called on the tape or plainly,
# that write into a differentiated argument: the tape changes a copy, Python the caller's
# array (both gave wrong gradients, found by hand probes)
def _write_first_of_all(*values):
    values[0][0] = values[1][1] * 2.0
    return values[0]


def star_args_helper_writes_its_argument(x):
    y = x * 1.0
    _write_first_of_all(y, x * W)
    return np.sum(y * y)


def _add_into_trying(buf, a):
    try:
        buf += a
    except ValueError:
        pass
    return buf


def helper_on_the_tape_adds_into_its_argument(x):
    buf = x * 1.0
    r = _add_into_trying(buf, x * W)
    return np.sum(buf * x) + np.sum(r)


REFUSED = [
    add_at, helper_writes_into_buffer, write_through_reshape, augmented_alias, list_extend,
    out_argument, copyto, fill_method, one_array_twice_in_a_list, dict_update,
    slice_view_then_store, rows_scaled_in_place,
    appends_to_a_global_list, stores_into_its_argument, list_pop, sort_in_place,
    list_joined_in_place, list_repeated, dict_element_changed_in_place,
    view_method_then_augmented, shuffled_with_a_seeded_generator,
    heap_of_numbers_from_a_gradient, flipped_view_then_base_changed, atleast_1d_is_the_array,
    split_parts_are_views, asarray_of_the_same_dtype, astype_without_a_copy,
    asanyarray_is_the_array, element_taken_back_by_builtins, attribute_read_by_getattr,
    list_slice_assigned, attribute_set_by_setattr, einsum_diagonal_written,
    einsum_transpose_written, einsum_of_itself_written, real_if_close_is_the_array,
    unstack_rows_are_views, trim_zeros_is_a_view, asarray_chkfinite_is_the_array,
    star_args_helper_writes_its_argument, helper_on_the_tape_adds_into_its_argument,
]  # fmt: skip

# -- accepted: in-place changes the transform differentiates itself ------------------------


def preallocated_recurrence(x):
    h = np.zeros((4, 3))
    for t in range(1, 4):
        h[t] = np.tanh(h[t - 1] * 0.5 + x * t)
    return np.sum(h * h)


def copy_then_store(x):
    y = np.copy(x)
    y[0] = 2.0 * x[1]
    return np.sum(y * y)


def augmented_on_a_new_array(x):
    y = x * 1.0
    y += x * x
    y *= 0.5
    return np.sum(y * y)


def appends_in_a_loop(x):
    acc = []
    for i in range(3):
        acc.append(x[i] * x)
    total = 0.0
    for v in acc:
        total = total + np.sum(v * v)
    return total


def rebinds_an_argument(x, w):
    x += w * 0.5
    return np.sum(x * w)


def rebind_param(p, q):
    p += q * 2.0
    return p * q


def helper_rebinds_a_temporary(x):
    return np.sum(rebind_param(x * 1.0, x) * x)


def reads_a_view_without_writing(x):
    y = x * 2.0
    v = y[1:]
    return np.sum(v * v) + np.sum(y)


def prints_and_draws(x):
    rng = np.random.default_rng(0)
    noise = rng.normal(size=3)
    print(end="")
    return np.sum(np.sin(x) + noise * 0.0)


def nested_lists(x):
    grid = [[x[i] * x[j] for j in range(3)] for i in range(3)]
    return sum(sum(row) for row in grid)


def store_after_the_last_read_of_a_view(x):
    y = x * 1.0
    v = y[1:]
    s = np.sum(v * x[1:])
    y[1] = x[0] * 4.0
    return s + np.sum(y * y)


def repeated_index_add(x):
    y = np.zeros(3)
    y[[0, 0]] += x[:2]
    return np.sum(y * y)


def rows_accumulated_into_an_array(x):
    h = np.zeros((2, 3))
    h[0] += x
    h[1] += x * x
    return np.sum(h * h)


def dict_of_numbers_changed_in_place(x):
    counts = {"n": 0.0}
    counts["n"] += np.sum(x * x)
    return counts["n"] * 2.0


def einsum_contraction_added_to_in_place(x):
    # (a contraction makes a new array: adding into it changes no argument)
    h = np.einsum("ij,j->i", np.outer(W, W), x)
    h += W
    d = np.einsum("ii->i", np.outer(x, W))
    return np.sum(h * h) + np.sum(d * x)


def warnings_silenced(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = np.log(x * x + 1.0)
    return np.sum(y)


def scales_a_copy_of_another_argument_in_place(x, w):
    # v1[:] *= ... reads the old v1 through the view ``v1[:]`` that desugaring makes; the
    # restore that puts it back is needed though v1 itself is not read afterwards (w is
    # not differentiated: dead code dropped it, and the gradient read the new values)
    v1 = np.copy(w)
    v1[:] *= np.sum(x - v1) * 0.2
    return np.sum(v1 * v1)


def an_alias_read_before_the_write(x):
    # u shares new's memory and is read before new[0] is written: the backward pass reads
    # u after putting back new[0], which dead code dropped (new itself is not read then)
    new = x * 2.0
    u = new
    s = np.sum(u * u)
    new[0] = 5.0
    return s + np.sum(new)


ACCEPTED = [
    scales_a_copy_of_another_argument_in_place,
    an_alias_read_before_the_write,
    preallocated_recurrence, copy_then_store, augmented_on_a_new_array, appends_in_a_loop,
    rebinds_an_argument, helper_rebinds_a_temporary, reads_a_view_without_writing,
    prints_and_draws, nested_lists, store_after_the_last_read_of_a_view, repeated_index_add,
    rows_accumulated_into_an_array, dict_of_numbers_changed_in_place, warnings_silenced,
    einsum_contraction_added_to_in_place,
    object_built_from_a_gradient_then_called,  # (issue 17: __init__ inline, make_object)
    method_updates_an_object,  # (issue 17: the method inline on the object made inline)
]  # fmt: skip
