"""Element loops (stencils, particle chains, scalar recurrences over arrays): the facts the
transform takes from an array argument's ndim (``transform.ranks``), the adjoints added
into in place (``transform.accumulate``), and the places where neither may apply.

Every gradient is checked against central differences; the generated source is checked
only for what says which path a case took."""

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def check(function, args, wrt, mode="source"):
    """The gradient of ``function`` at ``args`` with respect to the positions ``wrt`` is
    the one finite differences give."""
    gradients = ag.grad(function, wrt=wrt, mode=mode)(*args)
    if not isinstance(gradients, tuple):  # (wrt=(0,) gives a tuple of one)
        gradients = (gradients,)
    for position, gradient in zip(wrt, gradients):
        assert_close(gradient, numeric_vjp(function, list(args), position, 1.0))
    return gradients


def heat(u, k):
    n = u.shape[0]
    for _ in range(6):
        u_new = np.zeros(n)
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
    return np.sum(u * u)


def test_heat_equation_adds_into_its_adjoints_in_place():
    u = np.sin(np.linspace(0.0, 3.0, 12))
    check(heat, (u, 0.1), (0, 1))
    source = ag.source(heat, u, 0.1, wrt=(0, 1))
    assert "du = gradient_buffer(du, u)" in source
    assert "du[i + 1] = du[i + 1] + " in source
    # u[i] of a vector is a number: no shapes kept, no unbroadcast, no scatter per element
    for helper in ("shaped_like", "add_at", "assigned_adjoint", "scatter_grad", "restore_item"):
        assert helper not in source
    # the index temporaries are recomputed from the counter, not pushed
    assert "push(sub_2)" not in source and "push(add)" not in source


def test_heat_equation_with_respect_to_u_alone_keeps_no_shapes():
    # k, a float not differentiated, is a number to the transform too (its kind is part
    # of the derivative's key): u[i] + k * (...) is a number, as with wrt=(0, 1).
    u = np.sin(np.linspace(0.0, 3.0, 12))
    check(heat, (u, 0.1), (0,))
    source = ag.source(heat, u, 0.1)
    for helper in ("shaped_like", "unbroadcast", "scatter_grad"):
        assert helper not in source, source


def weighted_elements(u, c):
    total = 0.0
    for i in range(u.shape[0]):
        total = total + u[i] * c[i]
    return np.sum(total)


def test_an_argument_not_differentiated_gets_a_derivative_per_ndim():
    # c[i] is a number for a vector c and a row for a matrix: the derivative made for one
    # must not serve the other (nor a plan made for one).
    g = ag.grad(weighted_elements)
    u = np.array([0.5, -1.0, 2.0])
    vector, matrix = np.array([1.0, -2.0, 3.0]), np.arange(6.0).reshape(3, 2)
    for c in (vector, vector, matrix, matrix, vector, np.ones((3, 4)), matrix):
        expected = numeric_vjp(weighted_elements, [u, c], 0, 1.0)
        assert_close(g(u, c), expected)
    assert "unbroadcast" not in ag.source(weighted_elements, u, vector)
    assert ag.source(weighted_elements, u, vector) != ag.source(weighted_elements, u, matrix)


def springs(x, k):
    # A chain of particles, every pair joined by a spring: a double element loop.
    n = x.shape[0]
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            d = x[j] - x[i] - (j - i)
            energy = energy + 0.5 * k * d * d
    return energy


def test_pairwise_springs():
    x = np.arange(6.0) + 0.1 * np.cos(np.arange(6.0))
    check(springs, (x, 2.0), (0, 1))
    assert "dx[j] = dx[j] + " in ag.source(springs, x, 2.0, wrt=(0, 1))


def euler(y0, rates, h):
    # A scalar ODE stepped in an element loop, its rates read one element per step.
    y = y0
    path = np.zeros(rates.shape[0])
    for i in range(rates.shape[0]):
        y = y + h * (rates[i] * y - y * y * y)
        path[i] = y
    return np.sum(path)


def test_scalar_euler_in_an_element_loop():
    check(euler, (0.5, np.linspace(0.5, 1.5, 10), 0.1), (0, 1, 2))


def rows(A, B):
    # A matrix indexed by one int is a row, not a number: A[i] + B broadcasts it over B's
    # rows, and its gradient must be summed back.
    total = 0.0
    for i in range(A.shape[0]):
        total = total + np.sum(np.sin(A[i] + B))
    return total


def test_a_matrix_indexed_by_one_int_stays_a_row():
    A = np.arange(12.0).reshape(3, 4) / 10
    B = np.linspace(-1.0, 1.0, 8).reshape(2, 4)
    check(rows, (A, B), (0, 1))
    source = ag.source(rows, A, B, wrt=(0, 1))
    assert "unbroadcast" in source  # A[i]'s gradient summed back over B's rows


def copy_rows(A):
    # Rows of a matrix taken out of their adjoint: not in place (a row is a view, which
    # zeroing the slot after it would change); elements of it may be.
    out = np.zeros(A.shape)
    for i in range(A.shape[0]):
        out[i] = A[i] * A[i, 0]
    return np.sum(out * out)


def test_rows_taken_from_an_adjoint_are_not_changed_in_place():
    A = np.arange(1.0, 7.0).reshape(2, 3) / 4
    check(copy_rows, (A,), (0,))
    assert "assigned_adjoint(dout, out, i)" in ag.source(copy_rows, A)


def square_elements(u):
    total = 0.0
    for i in range(u.shape[0]):
        total = total + np.sum(u[i] * u[i])
    return total


def test_calls_with_another_ndim_get_their_own_derivative():
    g = ag.grad(square_elements)
    vector, matrix = np.array([1.0, -2.0, 3.0]), np.arange(6.0).reshape(2, 3)
    for x in (vector, matrix, vector, matrix, matrix.T.copy(), vector):
        assert_close(g(x), 2 * x)  # plans, and the general path when the ndim changes
    assert "scatter_grad" not in ag.source(square_elements, vector)
    assert ag.source(square_elements, vector) != ag.source(square_elements, matrix)


def read_whole_in_loop(u):
    # du also takes the gradient of np.sum(u) inside the loop: not only elements.
    total = 0.0
    for i in range(u.shape[0]):
        total = total + u[i] * np.sum(u)
    return total


def aliased(u):
    total = 0.0
    for i in range(u.shape[0]):
        w = u
        total = total + w[i] * u[i]
    return total


@pytest.mark.parametrize("function", [read_whole_in_loop, aliased])
def test_no_adjoint_changed_in_place_where_it_is_used_whole(function):
    u = np.array([0.5, -1.0, 2.0, 1.5])
    check(function, (u,), (0,))
    assert "gradient_buffer(du, u)" not in ag.source(function, u)


def maybe_bound(x, n):
    if n > 0:
        y = np.zeros(3)
    total = 0.0
    for i in range(n):
        y[i % 3] = y[i % 3] + x[i]
        total = total + y[i % 3] * x[i]
    return total


def test_an_array_that_may_be_unbound_gets_no_buffer():
    x = np.array([0.3, -0.7, 1.1, 0.4])
    check(maybe_bound, (x, 4), (0,))
    assert_close(ag.grad(maybe_bound)(x, 0), np.zeros(4))
    assert "gradient_buffer(dy, y)" not in ag.source(maybe_bound, x, 4)


def one_slot(x, y0):
    # One element written again and again, read back each time: taken out and added
    # into the same adjoint in one loop, in the order the statements run.
    y = np.ones(2)
    y[0] = y0
    for i in range(x.shape[0]):
        y[0] = y[0] * x[i] + y[1]
        y[1] = y[1] * 0.5 + y[0]
    return y[0] + 2 * y[1]


def test_one_element_overwritten_in_a_loop():
    x = np.array([0.9, 1.1, -0.4, 0.7])
    check(one_slot, (x, 0.3), (0, 1))
    assert "dy[0] = 0" in ag.source(one_slot, x, 0.3, wrt=(0, 1))


def test_float32_arrays_keep_their_dtype():
    u = np.sin(np.linspace(0.0, 3.0, 12)).astype(np.float32)
    du, dk = ag.grad(heat, wrt=(0, 1))(u, 0.1)
    assert du.dtype == np.float32
    expected = ag.grad(heat, wrt=(0, 1))(u.astype(np.float64), 0.1)[0]
    assert_close(du, expected, rtol=1e-4, atol=1e-5)


def test_forward_mode_of_an_element_loop():
    u = np.sin(np.linspace(0.0, 3.0, 12))
    du = np.cos(np.arange(12.0))
    _, tangent = ag.jvp(heat, (u, 0.1), (du, 0.0))
    assert_close(tangent, np.sum(numeric_vjp(heat, [u, 0.1], 0, 1.0) * du))


# -- the facts themselves (transform.ranks), after the shapes pass ---------------------------

VECTOR, MATRIX = ("value", "ndarray", 1), ("value", "ndarray", 2)


def facts_of(function, **kinds):
    from astgrad.transform import pipeline

    _, ctx = pipeline.pass_input(function, tuple(kinds), "checkpoint", param_kinds=kinds)
    return ctx.shape_classes.ranks


def test_facts_of_the_heat_equation():
    facts = facts_of(heat, u=VECTOR, k=("value", "float"))
    assert facts["u"] == facts["u_new"] == ("ndarray", 1)  # a NumPy vector, every binding
    assert facts["i"] == facts["n"] == "int"
    assert facts["k"] == 0


def elements_and_rows(A, x):
    row = A[0]
    element = A[0, 1]
    picked = np.where(x > 0)  # a tuple of index arrays, not an array of x's ndim
    parts = np.modf(x)  # a tuple too
    j = 0
    for _ in range(3):
        j = j + 0.5  # an int, then a float: no fact
    return np.sum(row) + element + np.sum(x[picked[0]]) + np.sum(parts[0]) + j


def test_facts_of_rows_elements_and_tuples():
    facts = facts_of(elements_and_rows, A=MATRIX, x=VECTOR)
    assert facts["row"] == ("ndarray", 1)
    assert facts["element"] == 0
    for name in ("picked", "parts", "j"):
        assert name not in facts
    A, x = np.arange(6.0).reshape(2, 3), np.array([0.5, -1.3, 2.2])  # (modf: no integers)
    check(elements_and_rows, (A, x), (0, 1), mode="auto")


def products(A, B, x, y, T):
    inner = x @ y  # two vectors: a number
    row = x @ A  # a vector times a matrix: a vector
    column = np.dot(A, y)
    pair = A.dot(B)
    batch = np.matmul(T, A)  # a stack of matrices times a matrix
    scaled = np.dot(inner, A)  # a number times a matrix: the matrix's ndim
    return inner + np.sum(row) + np.sum(column) + np.sum(pair) + np.sum(batch) + np.sum(scaled)


def test_facts_of_products():
    facts = facts_of(products, A=MATRIX, B=MATRIX, x=VECTOR, y=VECTOR, T=("value", "ndarray", 3))
    assert facts["inner"] == 0
    assert facts["row"] == facts["column"] == ("ndarray", 1)
    assert facts["pair"] == facts["scaled"] == ("ndarray", 2)
    assert facts["batch"] == ("ndarray", 3)
    A, B = np.arange(9.0).reshape(3, 3) / 9, np.eye(3) + 0.5
    x, y = np.array([0.5, -1.3, 2.2]), np.array([1.0, 0.3, -0.7])
    T = np.stack([A, B])
    check(products, (A, B, x, y, T), (0, 1, 2, 3, 4))


def per_sample(w, X, y):
    loss = 0.0
    for i in range(X.shape[0]):
        r = X[i] @ w - y[i]
        loss = loss + r * r
    return loss / X.shape[0]


def test_a_loop_over_samples_keeps_no_shapes():
    # X[i] @ w of two vectors is a number: the residual, the loss and its count too
    rng = np.random.default_rng(8)
    args = (rng.normal(size=4), rng.normal(size=(6, 4)), rng.normal(size=6))
    check(per_sample, args, (0,))
    source = ag.source(per_sample, *args)
    assert "shaped_like" not in source and "unbroadcast" not in source, source
    assert "dr = 2 * dloss * r" in source, source


def test_without_argument_kinds_nothing_is_known_of_arrays():
    facts = facts_of(heat, u=("value",), k=("value", "float"))
    assert "u" not in facts and "u_new" not in facts  # u: unknown; u = u_new joins it


def heat_copying_by_method(u, k):
    # The boundary kept by copying u: a copy of a NumPy array is a NumPy array of its ndim.
    n = u.shape[0]
    for _ in range(4):
        u_new = u.copy()
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
    return np.sum(u**2)


def heat_copying_by_function(u, k):
    n = u.shape[0]
    for _ in range(4):
        u_new = np.copy(u)
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
    return np.sum(u**2)


@pytest.mark.parametrize("function", [heat_copying_by_method, heat_copying_by_function])
def test_element_loops_over_copies(function):
    u = np.sin(np.linspace(0.0, 3.0, 10))
    check(function, (u, 0.2), (0, 1))
    assert "du_new = gradient_buffer(du_new, u_new)" in ag.source(function, u, 0.2)
