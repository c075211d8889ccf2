"""Programs with control flow, containers, array mutation, nested functions, no_grad, and
calls the transform must hand to the tape.

Each program is tagged with what it exercises. Programs tagged ``static`` must be
transformed entirely into source (``ag.explain(f).mode == "source"``); programs tagged
``fallback`` send at least one call to the tape (``mode == "mixed"``), and ``tape`` ones run
wholly on it. Every program is checked against float64 central finite differences in the
modes test_control.py lists.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from conformance import Program

import astgrad as ag


def _normal(r, *shape):
    return r.standard_normal(shape)


def _positive(r, *shape):
    return r.uniform(0.5, 1.5, shape)


# -- branches ----------------------------------------------------------------------------------


def branch_on_sum(x):
    if np.sum(x) > 0:
        y = x * 2.0
    else:
        y = -x
    return np.sum(y * x)


def branch_elif(x):
    s = np.sum(x)
    if s > 1.0:
        y = np.sin(x)
    elif s > -1.0:
        y = x**2
    else:
        y = np.exp(x)
    return np.sum(y)


def branch_nested(x, w):
    if np.mean(x) > 0:
        if np.mean(w) > 0:
            out = x * w
        else:
            out = x - w
    else:
        out = x + w * w
    return np.sum(out)


def branch_without_else(x):
    y = x * 1.5
    if np.max(x) > 0.5:
        y = y * y
    return np.sum(y)


def branch_conditional_expression(x):
    y = x * 3.0 if np.sum(x) > 0 else np.tanh(x)
    return np.sum(y)


def branch_on_shape(x):
    if x.shape[0] > 2:
        y = x[:2]
    else:
        y = x
    return np.sum(y**3)


def branch_on_argument(x, flag):
    if flag:
        return np.sum(np.cos(x))
    return np.sum(np.sin(x))


def branch_returns_early(x):
    if np.sum(x) < -10.0:
        return np.sum(x)
    y = x * x
    if np.sum(y) > 100.0:
        return np.sum(y) * 0.0
    return np.sum(y * x)


def branch_scalar_float(x):
    if x > 0.2:
        y = math.sin(x) * x
    else:
        y = math.exp(x)
    return y * y


def branch_boolean_operators(x):
    s = np.sum(x)
    if s > -5.0 and np.max(x) < 5.0 or s > 100.0:
        y = x * s
    else:
        y = x
    return np.sum(y)


def branch_test_reassigned(x):
    big = np.sum(x) > 0
    if big:
        big = False
        x = x * 2.0
    return np.sum(x * x)


def branch_overwrites_input(x):
    if np.sum(x) > 0:
        x = np.tanh(x)
    x = x * x
    return np.sum(x)


# -- for loops over ranges -----------------------------------------------------------------


def loop_range_accumulate(x):
    total = 0.0
    for i in range(4):
        total = total + np.sum(x * i)
    return total


def loop_overwrite(x):
    for _ in range(5):
        x = np.sin(x) + x * 0.5
    return np.sum(x)


def loop_recurrence(a):
    for _ in range(100):
        a = a * 0.99 + 0.01 * a * a
    return a


def loop_data_count(x, n):
    y = x
    for _ in range(n):
        y = y * x
    return np.sum(y)


def loop_count_from_data(x):
    steps = int(np.sum(np.abs(x))) % 4 + 1
    y = x
    for _ in range(steps):
        y = np.tanh(y) * 1.5
    return np.sum(y)


def loop_range_start_stop_step(x):
    total = 0.0
    for i in range(1, 9, 3):
        total = total + np.sum(x**2) * i
    return total


def loop_over_len(x):
    total = 0.0
    for i in range(len(x)):
        total = total + x[i] * x[i] * (i + 1)
    return total


def loop_nested(x):
    total = 0.0
    for i in range(3):
        for j in range(2):
            total = total + np.sum(x * (i + 1) * (j + 2))
    return total


def loop_nested_dependent_bounds(x):
    total = 0.0
    for i in range(len(x)):
        for j in range(i):
            total = total + x[i] * x[j]
    return total


def loop_with_branch(x):
    y = x
    for i in range(6):
        if i % 2 == 0:
            y = y * 1.1
        else:
            y = np.sin(y)
    return np.sum(y)


def loop_branch_on_data(x):
    y = x
    for _ in range(4):
        if np.sum(y) > 0:
            y = y - 0.3
        else:
            y = y * 1.2
    return np.sum(y * y)


def loop_multiple_carried(x, w):
    h = x
    c = w
    for _ in range(3):
        h, c = np.tanh(h * c), c + h * 0.1
    return np.sum(h + c)


def loop_augmented_assign(x):
    total = 0.0
    y = x * 1.0
    for i in range(3):
        y *= 1.5
        y += x
        total += np.sum(y) * i
    return total


# -- for loops over sequences --------------------------------------------------------------


def loop_rows(X):
    total = 0.0
    for row in X:
        total = total + np.sum(row**2) * np.max(row)
    return total


def loop_list_argument(xs):
    total = 0.0
    for x in xs:
        total = total + np.sum(np.sin(x))
    return total


def loop_tuple_literal(x):
    total = 0.0
    for scale in (0.5, 1.5, -2.0):
        total = total + np.sum(np.tanh(x * scale))
    return total


def loop_enumerate(xs):
    total = 0.0
    for i, x in enumerate(xs):
        total = total + (i + 1) * np.sum(x * x)
    return total


def loop_enumerate_start(X):
    total = 0.0
    for i, row in enumerate(X, 1):
        total = total + i * np.sum(np.exp(row))
    return total


def loop_zip(xs, ws):
    total = 0.0
    for x, w in zip(xs, ws):
        total = total + np.sum(x * w)
    return total


def loop_enumerate_zip(xs, ws):
    total = 0.0
    for i, (x, w) in enumerate(zip(xs, ws)):
        total = total + i * np.sum(x * w) + np.sum(x)
    return total


def loop_dict_items(params):
    total = 0.0
    for name, value in params.items():
        total = total + np.sum(value**2) * len(name)
    return total


def loop_dict_values(params):
    total = 0.0
    for value in params.values():
        total = total + np.sum(np.cos(value))
    return total


def loop_dict_keys(params):
    total = 0.0
    for key in params:
        total = total + np.sum(params[key] * 2.0)
    return total


def loop_array_of_weights(x, W):
    out = x
    for w in W:
        out = np.tanh(out * w)
    return np.sum(out)


def loop_unpack_pairs(pairs):
    total = 0.0
    for a, b in pairs:
        total = total + np.sum(a * b)
    return total


# -- while loops -----------------------------------------------------------------------------


def while_data_condition(x):
    y = x
    steps = 0
    while np.sum(y) < 10.0:
        y = y * 1.5 + 0.1
        steps += 1
    return np.sum(y) + steps


def while_counter(x):
    i = 0
    y = x
    while i < 5:
        y = np.sin(y) + x
        i += 1
    return np.sum(y)


def while_true_break(x):
    y = x
    while True:
        y = y * 0.5
        if np.max(np.abs(y)) < 0.1:
            break
    return np.sum(y * x)


def while_else(x):
    y = x
    n = 0
    while n < 3:
        y = y + np.sin(y)
        n += 1
    else:
        y = y * 2.0
    return np.sum(y)


def while_break_skips_else(x):
    y = x
    n = 0
    while n < 10:
        y = y * 1.1
        if np.sum(y) > 3.0:
            break
        n += 1
    else:
        y = y * 0.0
    return np.sum(y * y)


def while_newton_sqrt(a):
    guess = a
    k = 0
    while k < 8:
        guess = 0.5 * (guess + a / guess)
        k += 1
    return guess


def while_nested(x):
    i = 0
    total = 0.0
    while i < 3:
        j = 0
        while j < i + 1:
            total = total + np.sum(x) * (j + 1)
            j += 1
        i += 1
    return total * np.sum(x)


# -- break, continue, else, return in loops --------------------------------------------------


def break_in_for(x):
    y = x
    for i in range(10):
        y = y * 1.3
        if i == 3:
            break
    return np.sum(y)


def break_on_data(x):
    total = 0.0
    for i in range(20):
        total = total + np.sum(x * x) * (i + 1)
        if total > 8.0:
            break
    return total


def continue_in_for(x):
    s = 0.0
    for i in range(6):
        if i % 2 == 0:
            continue
        s = s + np.sum(x) * i
    return s * np.sum(x)


def continue_on_data(X):
    total = 0.0
    for row in X:
        if np.sum(row) < 0:
            continue
        total = total + np.sum(row**2)
    return total + np.sum(X) * 0.1


def for_else(x):
    acc = x
    for i in range(5):
        if i == 7:
            break
        acc = acc * 1.2
    else:
        acc = acc + 1
    return np.sum(acc)


def for_else_broken(x):
    acc = x
    for i in range(5):
        acc = acc * 1.2
        if i == 2:
            break
    else:
        acc = acc * 0.0
    return np.sum(acc * acc)


def return_inside_loop(x):
    total = 0.0
    for i in range(10):
        total = total + np.sum(x) * i
        if total > 5:
            return total * 2
    return total


def return_inside_nested_loop(x):
    for i in range(3):
        for j in range(3):
            if i * j == 2:
                return np.sum(x * i + x * x * j)
    return np.sum(x)


def return_inside_while(x):
    y = x
    while True:
        y = np.sin(y) + 0.5
        if np.sum(y) > 1.0:
            return np.sum(y * x)


def break_and_continue(x):
    total = 0.0
    for i in range(10):
        if i == 1:
            continue
        if i == 6:
            break
        total = total + np.sum(np.sin(x * i))
    return total


# -- containers --------------------------------------------------------------------------------


def tuple_literal(x):
    pair = (x * 2.0, np.sin(x))
    a, b = pair
    return np.sum(a * b + pair[1])


def list_literal(x, y):
    items = [x, y, x * y]
    return np.sum(items[0] * items[2]) + np.sum(items[1])


def list_append_loop(x):
    out = []
    for i in range(4):
        out.append(x * (i + 1))
    return np.sum(out[0] * out[3]) + np.sum(out[2])


def list_append_sum(xs):
    out = []
    for x in xs:
        out.append(x * 2)
    return sum(v.sum() for v in out)


def list_of_arrays_stacked(x):
    parts = []
    for k in range(3):
        parts.append(np.tanh(x + k))
    return np.sum(np.stack(parts) ** 2)


def list_index_negative(x):
    history = [x]
    for _ in range(3):
        history.append(np.sin(history[-1]))
    return np.sum(history[-1] * history[0])


def list_setitem(x):
    items = [x, x * 2.0, x * 3.0]
    items[1] = np.exp(x)
    return np.sum(items[0] + items[1] * items[2])


def dict_literal(x, y):
    d = {"a": x * 2.0, "b": y}
    return np.sum(d["a"] * d["b"])


def dict_setitem(x):
    cache = {}
    cache["sq"] = x * x
    cache["cube"] = cache["sq"] * x
    return np.sum(cache["cube"] + cache["sq"])


def dict_argument(params, x):
    h = np.tanh(x @ params["W"] + params["b"])
    return np.sum(h**2)


def nested_containers(x):
    layers = [{"w": x, "s": (x * 2.0, 3.0)}, {"w": np.sin(x), "s": (x, 1.0)}]
    total = 0.0
    for layer in layers:
        total = total + np.sum(layer["w"] * layer["s"][0]) * layer["s"][1]
    return total


def list_comprehension(x):
    parts = [x * k for k in range(3)]
    return sum(np.sum(p * p) for p in parts)


def list_comprehension_filtered(X):
    kept = [row for row in X if np.sum(row) > 0]
    return sum(np.sum(r**2) for r in kept) + np.sum(X) * 0.01


def dict_comprehension(x):
    powers = {k: x**k for k in range(1, 4)}
    return np.sum(powers[1] * powers[3] + powers[2])


def generator_sum(x):
    return sum(v * v for v in x)


def generator_max(x):
    return max(np.sum(x * k) for k in (1.0, -2.0, 0.5))


def nested_comprehension(x):
    grid = [[x[i] * x[j] for j in range(3)] for i in range(3)]
    return sum(sum(row) for row in grid)


def starred_arguments(x, y):
    args = (x, y)
    return np.sum(np.multiply(*args)) + np.sum(np.hypot(*[x, y]))


def returns_tuple_structure(x):
    a, *rest = (x, x * 2.0, x * 3.0)
    return np.sum(a * rest[0] * rest[1])


def wrt_tuple(pair, x):
    a, b = pair
    return np.sum(a * x + b * b)


def wrt_list(weights, x):
    h = x
    for w in weights:
        h = np.tanh(h @ w)
    return np.sum(h)


def wrt_dict(params, x):
    return np.sum(np.tanh(x * params["scale"] + params["shift"]) ** 2)


def min_builtin_of_list(x):
    return min([np.sum(x), np.sum(x * x), 5.0])


# -- assignment into arrays --------------------------------------------------------------------


def setitem_int(x):
    y = np.zeros(4)
    y[0] = x[1] * 2
    y[2] = np.sin(x[0])
    return np.sum(y * x)


def setitem_slice(x):
    y = np.zeros(5)
    y[1:4] = x[:3] ** 2
    return np.sum(y * y)


def setitem_mask(x):
    y = x * 1.0
    y[y > 0.2] = 1.0
    return np.sum(y * x)


def setitem_copy_then_mutate(x):
    y = np.copy(x)
    y[0] = y[1] * y[2]
    return np.sum(y * y)


def setitem_overwrites_active(x):
    y = x * 2.0
    y[1] = y[0] * y[1]
    y[0] = 3.0
    return np.sum(y * x)


def setitem_in_loop(x):
    out = np.zeros(len(x))
    for i in range(len(x)):
        out[i] = x[i] * x[i - 1]
    return np.sum(out**2)


def setitem_rows(X):
    Y = X.copy()
    for i in range(1, X.shape[0]):
        Y[i] = Y[i - 1] * 0.5 + X[i]
    return np.sum(Y**2)


def setitem_2d(X):
    Y = np.zeros_like(X)
    Y[:, 0] = X[:, 1] * X[:, 2]
    Y[1, :] = np.tanh(X[0])
    return np.sum(Y * X)


def setitem_accumulate(x):
    y = np.zeros(3)
    for i in range(3):
        y[i] += x[i] * 2.0
        y[i] *= x[i]
    return np.sum(y)


def setitem_integer_array(x):
    y = x * 1.0
    y[np.array([0, 2])] = x[np.array([1, 3])] ** 2
    return np.sum(y * y)


# -- nested functions, lambdas, closures -------------------------------------------------


def nested_def(x, w):
    def inner(v, scale=2.0):
        return v * w * scale

    sq = lambda v: v * v  # noqa: E731
    return np.sum(sq(inner(x)) + inner(x, scale=1.0))


def nested_def_with_loop(x):
    def step(h):
        for _ in range(2):
            h = np.tanh(h) + 0.1
        return h

    return np.sum(step(step(x)))


def closure_reads_enclosing(x):
    scale = np.sum(x)

    def scaled(v):
        return v * scale

    return np.sum(scaled(x) ** 2)


def lambda_in_loop(x):
    f = lambda v: np.sin(v) * v  # noqa: E731
    y = x
    for _ in range(3):
        y = f(y)
    return np.sum(y)


def nested_def_branch(x):
    def pick(v):
        if np.sum(v) > 0:
            return v * 2.0
        return v * v

    return np.sum(pick(x) + pick(-x))


def nested_def_returns_tuple(x):
    def stats(v):
        return np.mean(v), np.std(v)

    m, s = stats(x)
    return m * s + m


# -- no_grad and stop_gradient --------------------------------------------------------------


def no_grad_block(x):
    with ag.no_grad():
        m = np.mean(x)
    return np.sum((x - m) ** 2)


def overwritten_in_a_with_block(x):
    # The block's body overwrites a value the backward pass reads: it must be saved as
    # anywhere else (it was not, and the gradient came out silently wrong).
    s = np.sin(x)
    with np.errstate(divide="ignore"):
        s = s * x
        t = s * s
    return np.sum(s * x + t)


def _rebinds_in_one_branch(a, b):
    v = a * 1.0
    if np.sum(a) > 10.0:  # not taken
        a = np.abs(v * v) * 0.3
        v = np.sum(b) * 0.1 + v
    else:
        v = np.sin(b)
    return np.sum(a) * 0.1 + a + b


def helper_rebinds_in_an_untaken_branch(x):
    # The helper's backward function freed ``v`` after the branch, bound there only by
    # the pop of the branch not taken: UnboundLocalError (a name the forward pass bound
    # is bound in a backward function only when saved or bound there).
    return np.sum(_rebinds_in_one_branch(x, x * 2.0))


def _constant_of(a, b):
    return np.exp(np.tanh(b)) / (1.5 + a * a)


def rebound_by_a_helper_of_constants(x, w):
    # Differentiated with respect to w alone: the helper's value is a constant, and what
    # the loss left in dw belongs to it, not to the argument (the helper's binding left
    # it in dw, which came out as the gradient of an argument the loss never reads).
    k = 0
    while k < 1:
        w = _constant_of(x * 1.0, x)
        k += 1
    return np.sum(w * w)


def a_loop_target_named_twice(x, w):
    # Differentiated with respect to w alone: the second loop's item is an item of a
    # constant tuple, but the body's adjoint wrote into d item, which the first loop's
    # replay then sent to w.
    v = []
    for item in (x, w):
        v.append(np.tanh(item) * 0.5)
    s = v[0] + v[-1]
    u = []
    for item in (x, x * 2.0):
        u.append(np.tanh(item) * 0.5)
    return np.sum(s * s) + np.sum(u[0] * u[-1])


def stop_gradient_expression(x):
    m = ag.stop_gradient(np.mean(x))
    return np.sum((x - m) ** 2)


# -- calls that go to the tape ---------------------------------------------------------------


def recursive_scale(x, n):
    if n == 0:
        return x
    return recursive_scale(x * 1.1, n - 1)


def uses_try(x):
    try:
        return x * 2.0
    except ValueError:
        return x


def make_powers(x):
    for k in range(1, 4):
        yield x**k


class Affine:
    def __init__(self, scale):
        self.scale = scale

    def __call__(self, x):
        return x * self.scale + 1.0

    def energy(self, x):
        return np.sum((x * self.scale) ** 2)


OFFSET = 0.25


def reads_global(x):
    global OFFSET
    return x + OFFSET


def uses_match(x, kind):
    match kind:
        case "sin":
            return np.sin(x)
        case _:
            return np.cos(x)


triple = functools.partial(np.multiply, 3.0)


def fallback_recursion(x):
    return np.sum(recursive_scale(x, 3) * x)


def fallback_try(x):
    return np.sum(uses_try(np.sin(x)) * x)


def fallback_partial(x):
    return np.sum(triple(x) * x)


def fallback_generator(x):
    total = 0.0
    for p in make_powers(x):
        total = total + np.sum(p)
    return total


def fallback_method(x):
    model = Affine(1.5)
    return np.sum(model(x) ** 2) + model.energy(x)


def fallback_global(x):
    return np.sum(reads_global(x) ** 2)


def fallback_match(x):
    return np.sum(uses_match(x, "sin") * uses_match(x, "cos"))


def fallback_in_loop(x):
    y = x
    for _ in range(3):
        y = uses_try(y) * 0.5 + np.sin(y)
    return np.sum(y)


def tape_whole_function(x):
    try:
        y = np.tanh(x)
    except FloatingPointError:
        y = x
    return np.sum(y * y)


# -- small models --------------------------------------------------------------------------


def logistic_regression(W, b, X, y):
    p = 1.0 / (1.0 + np.exp(-(X @ W + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def logistic_regression_steps(W, X, y):
    # Gradient of the loss after two steps of gradient descent written out by hand.
    for _ in range(2):
        p = 1.0 / (1.0 + np.exp(-(X @ W)))
        W = W - 0.1 * X.T @ (p - y) / len(y)
    p = 1.0 / (1.0 + np.exp(-(X @ W)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def mlp_softmax_cross_entropy(params, X, labels):
    h = X
    for W, b in params[:-1]:
        h = np.tanh(h @ W + b)
    W, b = params[-1]
    logits = h @ W + b
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(log_probs * labels, axis=1))


def rnn(Wx, Wh, xs):
    h = np.zeros(Wh.shape[0])
    total = 0.0
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h)
        total = total + np.sum(h**2)
    return total


def attention(Q, K, V):
    scores = Q @ K.T / math.sqrt(Q.shape[1])
    scores = scores - np.max(scores, axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / np.sum(weights, axis=-1, keepdims=True)
    return np.sum((weights @ V) ** 2)


def layer_norm(x, gamma, beta):
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=-1, keepdims=True)
    normed = (x - mean) / np.sqrt(var + 1e-5)
    return np.sum((normed * gamma + beta) ** 3)


def physics_springs(positions, velocities):
    # Masses on springs to their neighbours, integrated with symplectic Euler.
    dt = 0.05
    x = positions
    v = velocities
    for _ in range(20):
        stretch = x[1:] - x[:-1] - 1.0
        force = np.zeros(len(x))
        force[:-1] = force[:-1] + stretch
        force[1:] = force[1:] - stretch
        v = v + dt * force
        x = x + dt * v
    return np.sum(x**2) + 0.5 * np.sum(v**2)


def ode_while(y0, k):
    # dy/dt = -k * y * |y|, integrated with fixed steps until t reaches 1.
    t = 0.0
    y = y0
    dt = 0.1
    while t < 1.0 - 1e-9:
        y = y + dt * (-k * y * np.abs(y))
        t = t + dt
    return np.sum(y)


def gru_cell_sequence(W, U, xs):
    h = np.zeros(U.shape[0])
    for x in xs:
        z = 1.0 / (1.0 + np.exp(-(W @ x + U @ h)))
        candidate = np.tanh(W @ x + U @ (z * h))
        h = (1 - z) * h + z * candidate
    return np.sum(h)


def _programs():
    static = ("static",)
    P = Program
    n = _normal
    pos = _positive
    return [
        # branches
        P(branch_on_sum, lambda r: (n(r, 4),), tags=static),
        P(branch_elif, lambda r: (n(r, 4),), tags=static),
        P(branch_elif, lambda r: (n(r, 4) + 1.0,), tags=static),
        P(branch_elif, lambda r: (n(r, 4) - 1.5,), tags=static),
        P(branch_nested, lambda r: (n(r, 3), n(r, 3)), (0, 1), tags=static),
        P(branch_without_else, lambda r: (n(r, 4),), tags=static),
        P(branch_conditional_expression, lambda r: (n(r, 4),), tags=static),
        P(branch_on_shape, lambda r: (n(r, 4),), tags=static),
        P(branch_on_argument, lambda r: (n(r, 3), True), tags=static),
        P(branch_on_argument, lambda r: (n(r, 3), False), tags=static),
        P(branch_returns_early, lambda r: (n(r, 4),), tags=static),
        P(branch_scalar_float, lambda r: (float(r.uniform(0.3, 1.0)),), tags=static),
        P(branch_scalar_float, lambda r: (float(r.uniform(-1.0, 0.0)),), tags=static),
        P(branch_boolean_operators, lambda r: (n(r, 4),), tags=static),
        P(branch_test_reassigned, lambda r: (n(r, 3),), tags=static),
        P(branch_overwrites_input, lambda r: (n(r, 3),), tags=static),
        # for over ranges
        P(loop_range_accumulate, lambda r: (n(r, 3),), tags=static),
        P(loop_overwrite, lambda r: (n(r, 3),), tags=static),
        P(loop_recurrence, lambda r: (float(r.uniform(0.1, 0.5)),), tags=static),
        P(loop_data_count, lambda r: (n(r, 3), 3), tags=static),
        P(loop_count_from_data, lambda r: (n(r, 3),), tags=static),
        P(loop_range_start_stop_step, lambda r: (n(r, 3),), tags=static),
        P(loop_over_len, lambda r: (n(r, 4),), tags=static),
        P(loop_nested, lambda r: (n(r, 3),), tags=static),
        P(loop_nested_dependent_bounds, lambda r: (n(r, 4),), tags=static),
        P(loop_with_branch, lambda r: (n(r, 3),), tags=static),
        P(loop_branch_on_data, lambda r: (n(r, 3),), tags=static),
        P(loop_multiple_carried, lambda r: (n(r, 3), n(r, 3)), (0, 1), tags=static),
        P(loop_augmented_assign, lambda r: (n(r, 3),), tags=static),
        # for over sequences
        P(loop_rows, lambda r: (n(r, 4, 3),), tags=static),
        P(loop_list_argument, lambda r: ([n(r, 3), n(r, 2)],), tags=static),
        P(loop_list_argument, lambda r: ((n(r, 3), n(r, 2), n(r, 1)),), tags=static),
        P(loop_tuple_literal, lambda r: (n(r, 3),), tags=static),
        P(loop_enumerate, lambda r: ([n(r, 3), n(r, 3), n(r, 2)],), tags=static),
        P(loop_enumerate_start, lambda r: (n(r, 3, 2),), tags=static),
        P(loop_zip, lambda r: ([n(r, 3), n(r, 3)], [n(r, 3), n(r, 3)]), (0, 1), tags=static),
        P(
            loop_enumerate_zip,
            lambda r: ([n(r, 2), n(r, 2)], [n(r, 2), n(r, 2)]),
            (0, 1),
            tags=static,
        ),
        P(loop_dict_items, lambda r: ({"w": n(r, 3), "bias": n(r, 2)},), tags=static),
        P(loop_dict_values, lambda r: ({"w": n(r, 3), "b": n(r, 2)},), tags=static),
        P(loop_dict_keys, lambda r: ({"w": n(r, 3), "b": n(r, 2)},), tags=static),
        P(loop_array_of_weights, lambda r: (n(r, 3), n(r, 4, 3)), (0, 1), tags=static),
        P(loop_unpack_pairs, lambda r: ([(n(r, 2), n(r, 2)), (n(r, 2), n(r, 2))],), tags=static),
        # while
        P(while_data_condition, lambda r: (pos(r, 3),), tags=static),
        P(while_counter, lambda r: (n(r, 3),), tags=static),
        P(while_true_break, lambda r: (n(r, 3),), tags=static),
        P(while_else, lambda r: (n(r, 3),), tags=static),
        P(while_break_skips_else, lambda r: (pos(r, 3),), tags=static),
        P(while_newton_sqrt, lambda r: (float(r.uniform(1.0, 4.0)),), tags=static),
        P(while_nested, lambda r: (n(r, 3),), tags=static),
        # break, continue, else, return
        P(break_in_for, lambda r: (n(r, 3),), tags=static),
        P(break_on_data, lambda r: (pos(r, 3),), tags=static),
        P(continue_in_for, lambda r: (n(r, 3),), tags=static),
        P(continue_on_data, lambda r: (n(r, 5, 2),), tags=static),
        P(for_else, lambda r: (n(r, 3),), tags=static),
        P(for_else_broken, lambda r: (n(r, 3),), tags=static),
        P(return_inside_loop, lambda r: (pos(r, 3),), tags=static),
        P(return_inside_loop, lambda r: (-pos(r, 3),), tags=static),
        P(return_inside_nested_loop, lambda r: (n(r, 3),), tags=static),
        P(return_inside_while, lambda r: (n(r, 3),), tags=static),
        P(break_and_continue, lambda r: (n(r, 3),), tags=static),
        # containers
        P(tuple_literal, lambda r: (n(r, 3),), tags=static),
        P(list_literal, lambda r: (n(r, 3), n(r, 3)), (0, 1), tags=static),
        P(list_append_loop, lambda r: (n(r, 3),), tags=static),
        P(list_append_sum, lambda r: ([n(r, 3), n(r, 2)],), tags=static),
        P(list_of_arrays_stacked, lambda r: (n(r, 3),), tags=static),
        P(list_index_negative, lambda r: (n(r, 3),), tags=static),
        P(list_setitem, lambda r: (n(r, 3),), tags=static),
        P(dict_literal, lambda r: (n(r, 3), n(r, 3)), (0, 1), tags=static),
        P(dict_setitem, lambda r: (n(r, 3),), tags=static),
        P(dict_argument, lambda r: ({"W": n(r, 3, 2), "b": n(r, 2)}, n(r, 4, 3)), tags=static),
        P(nested_containers, lambda r: (n(r, 3),), tags=static),
        P(list_comprehension, lambda r: (n(r, 3),), tags=static),
        P(list_comprehension_filtered, lambda r: (n(r, 5, 2),), tags=static),
        P(dict_comprehension, lambda r: (n(r, 3),), tags=static),
        P(generator_sum, lambda r: (n(r, 4),), tags=static),
        P(generator_max, lambda r: (n(r, 3),), tags=static),
        P(nested_comprehension, lambda r: (n(r, 3),), tags=static),
        P(starred_arguments, lambda r: (n(r, 3), n(r, 3)), (0, 1), tags=static),
        P(returns_tuple_structure, lambda r: (n(r, 3),), tags=static),
        P(wrt_tuple, lambda r: ((n(r, 3), n(r, 3)), n(r, 3)), (0, 1), tags=static),
        P(wrt_list, lambda r: ([n(r, 3, 3), n(r, 3, 2)], n(r, 4, 3)), (0, 1), tags=static),
        P(wrt_dict, lambda r: ({"scale": n(r, 3), "shift": n(r, 3)}, n(r, 3)), (0, 1), tags=static),
        P(min_builtin_of_list, lambda r: (n(r, 3) * 0.3,), tags=static),
        # assignment into arrays
        P(setitem_int, lambda r: (n(r, 4),), tags=static),
        P(setitem_slice, lambda r: (n(r, 4),), tags=static),
        P(setitem_mask, lambda r: (n(r, 6),), tags=static),
        P(setitem_copy_then_mutate, lambda r: (n(r, 4),), tags=static),
        P(setitem_overwrites_active, lambda r: (n(r, 3),), tags=static),
        P(setitem_in_loop, lambda r: (n(r, 4),), tags=static),
        P(setitem_rows, lambda r: (n(r, 4, 3),), tags=static),
        P(setitem_2d, lambda r: (n(r, 3, 3),), tags=static),
        P(setitem_accumulate, lambda r: (n(r, 3),), tags=static),
        P(setitem_integer_array, lambda r: (n(r, 4),), tags=static),
        # nested functions
        P(nested_def, lambda r: (n(r, 3), n(r, 3)), (0, 1), tags=static),
        P(nested_def_with_loop, lambda r: (n(r, 3),), tags=static),
        P(closure_reads_enclosing, lambda r: (n(r, 3),), tags=static),
        P(lambda_in_loop, lambda r: (n(r, 3),), tags=static),
        P(nested_def_branch, lambda r: (n(r, 3),), tags=static),
        P(nested_def_returns_tuple, lambda r: (n(r, 4),), tags=static),
        # no_grad and stop_gradient
        P(no_grad_block, lambda r: (n(r, 4),), tags=static),
        P(overwritten_in_a_with_block, lambda r: (n(r, 4),), tags=static),
        P(helper_rebinds_in_an_untaken_branch, lambda r: (n(r, 4),), tags=static),
        P(rebound_by_a_helper_of_constants, lambda r: (n(r, 3), n(r, 3)), (1,), tags=static),
        P(a_loop_target_named_twice, lambda r: (n(r, 3), n(r, 3)), (1,), tags=static),
        P(stop_gradient_expression, lambda r: (n(r, 4),), tags=static),
        # fallbacks
        P(fallback_recursion, lambda r: (n(r, 3),), tags=("fallback",)),
        P(fallback_try, lambda r: (n(r, 3),), tags=("fallback",)),
        P(fallback_partial, lambda r: (n(r, 3),), tags=("fallback",)),
        P(fallback_generator, lambda r: (n(r, 3),), tags=("fallback",)),
        # (Affine's methods were the tape's before issue 17: now generated source)
        P(fallback_method, lambda r: (n(r, 3),), tags=("static",)),
        P(fallback_global, lambda r: (n(r, 3),), tags=("fallback",)),
        P(fallback_match, lambda r: (n(r, 3),), tags=("fallback",)),
        P(fallback_in_loop, lambda r: (n(r, 3),), tags=("fallback",)),
        P(tape_whole_function, lambda r: (n(r, 3),), tags=("tape",)),
        # models
        P(
            logistic_regression,
            lambda r: (n(r, 3), n(r, 1), n(r, 6, 3), r.integers(0, 2, 6).astype(float)),
            (0, 1),
            tags=static,
        ),
        P(
            logistic_regression_steps,
            lambda r: (n(r, 3), n(r, 6, 3), r.integers(0, 2, 6).astype(float)),
            tags=static,
        ),
        P(
            mlp_softmax_cross_entropy,
            lambda r: (
                [
                    (n(r, 3, 4) * 0.5, n(r, 4) * 0.1),
                    (n(r, 4, 4) * 0.5, n(r, 4) * 0.1),
                    (n(r, 4, 3), n(r, 3)),
                ],
                n(r, 5, 3),
                np.eye(3)[r.integers(0, 3, 5)],
            ),
            tags=static,
        ),
        P(rnn, lambda r: (n(r, 4, 3) * 0.5, n(r, 4, 4) * 0.5, n(r, 5, 3)), (0, 1, 2), tags=static),
        P(attention, lambda r: (n(r, 3, 4), n(r, 5, 4), n(r, 5, 2)), (0, 1, 2), tags=static),
        P(layer_norm, lambda r: (n(r, 3, 4), n(r, 4), n(r, 4)), (0, 1, 2), tags=static),
        P(
            physics_springs,
            lambda r: (np.arange(4.0) + 0.1 * n(r, 4), 0.1 * n(r, 4)),
            (0, 1),
            tags=static,
        ),
        P(ode_while, lambda r: (pos(r, 3), float(r.uniform(0.5, 1.5))), (0, 1), tags=static),
        P(
            gru_cell_sequence,
            lambda r: (n(r, 3, 2) * 0.5, n(r, 3, 3) * 0.5, n(r, 4, 2)),
            (0, 1, 2),
            tags=static,
        ),
    ]


PROGRAMS = _programs()
