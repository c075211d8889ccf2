"""Checking gradients: ``gradcheck`` against finite differences, and the dtype rule for
the arguments being differentiated.

Gradients are defined for floating-point and complex values (complex ones in autograd's
and JAX's convention: docs/complex.md). An integer or boolean argument under ``wrt`` is
an error that says so, rather than a gradient of zeros (an integer cannot move by a
small step).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .runtime.objects import is_namedtuple, is_object
from .runtime.rules.shared import matrix_error

__all__ = ["gradcheck", "GradcheckError", "check_differentiable"]

Wrt = None | int | str | Sequence[int | str]


class GradcheckError(AssertionError):
    """astgrad's gradient and the finite-difference gradient disagree."""


# -- the dtype rule ---------------------------------------------------------------------------


def refuse_matrices(args: Sequence[Any], kwargs: dict) -> None:
    """Raise TypeError when any argument is an ``np.matrix``, differentiated or not: its
    ``*`` is a matrix product, which generated code and the rules read as elementwise.

    >>> import warnings
    >>> refuse_matrices([np.zeros(2)], {})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", PendingDeprecationWarning)  # NumPy's, on matrix
    ...     m = np.asmatrix(np.eye(2))
    >>> refuse_matrices([m], {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: argument 0 is an np.matrix, which astgrad does not differentiate...
    """
    for key, value in [*enumerate(args), *kwargs.items()]:
        if isinstance(value, np.matrix):
            raise matrix_error(f"argument {key!r}" if isinstance(key, str) else f"argument {key}")


def check_differentiable(names: Sequence[str], values: Sequence[Any]) -> None:
    """Raise TypeError when an argument being differentiated is not a float (or complex).

    ``names`` and ``values`` are the ``wrt`` parameters and their arguments; containers
    (lists, tuples, dicts) are checked element by element.

    >>> check_differentiable(["x"], [np.zeros(2)])
    >>> check_differentiable(["n"], [np.arange(3)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: cannot differentiate with respect to 'n': it is an integer array (int64)...
    """
    for name, value in zip(names, values):
        if type(value) is float or (type(value) is np.ndarray and value.dtype.kind == "f"):
            continue  # the common case, on every call of a gradient: keep it cheap
        for path, leaf in _leaf_paths(value):
            problem = _not_differentiable(leaf)
            if problem is not None:
                where = name + "".join(f"[{key!r}]" for key in path)
                raise TypeError(f"cannot differentiate with respect to '{where}': {problem}")


def _not_differentiable(value: Any) -> str | None:
    """Why ``value`` has no gradient, or None when it has one."""
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return "it is a bool, which has no gradient. Pass a float if it should have one."
    if isinstance(value, int):
        return (
            f"it is an integer ({value!r}), and gradients are defined for floats only. "
            f"Pass {float(value)!r} instead."
        )
    if value is None or isinstance(value, (str, bytes)):
        return (
            f"it is {value!r} ({type(value).__name__}), not a number or an array. Pass a "
            "float or a float array, or leave this parameter out of wrt."
        )
    if is_object(value) or is_namedtuple(value):
        return None  # its float attributes get gradients, the others None (issue 17)
    dtype = getattr(value, "dtype", None)
    if dtype is None or not hasattr(dtype, "kind"):
        if isinstance(value, (float, complex)):
            return None
        # A library's object (objects of the user's classes were let through above).
        return (
            f"it is a {type(value).__qualname__} object, which astgrad does not "
            "differentiate: it differentiates floats, float arrays, tuples, lists and dicts "
            "of them, and objects of your own classes (their float attributes)."
        )
    what = "array" if getattr(value, "ndim", 0) else "scalar"
    if dtype.kind in "iub":
        kind = "a boolean" if dtype.kind == "b" else "an integer"
        return (
            f"it is {kind} {what} ({dtype}), and gradients are defined for floats only "
            f"(an integer cannot move by a small step). Convert it to float first: "
            f".astype(np.float64)."
        )
    return None  # floats, and complex numbers (docs/complex.md: the gradient's convention)


def _leaf_paths(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """The values inside (nested) lists, tuples and dicts, each with its path of keys."""
    if is_namedtuple(value):
        yield path, value  # like an object: its fields that are not floats get None
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaf_paths(item, path + (i,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaf_paths(item, path + (key,))
    else:
        yield path, value


# -- gradcheck --------------------------------------------------------------------------------


def gradcheck(
    fun: Callable,
    *args: Any,
    wrt: Wrt = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    mode: str = "auto",
    seed: int = 0,
    order: int = 1,
) -> bool:
    """Check astgrad's gradient of ``fun(*args)`` against central finite differences.

    ``wrt`` names the arguments to check as ``ag.grad`` does (a position, a parameter name
    or a tuple of them); None checks every argument that is a float or a float array (or a
    list, tuple or dict of them), complex ones included: their real and imaginary parts
    move apart, and the gradient is compared in the convention of docs/complex.md. Both
    sides are computed in float64 (complex128), on such copies of those arguments. A
    function with a non-scalar or complex value is checked through one random cotangent
    ``u`` (from ``seed``; complex for a complex value): the gradient of
    ``Re(sum(fun(*args) * u))``. ``mode`` picks how astgrad differentiates, as for
    ``ag.grad``.

    Returns True when every entry satisfies ``|astgrad - numeric| <= atol + rtol *
    |numeric|``; otherwise raises :class:`GradcheckError` naming the argument, the worst
    index and both values.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def f(x, y):
    ...     return np.sum(np.tanh(x) * y)
    >>> ag.gradcheck(f, np.array([0.1, 0.2]), np.array([1.0, -2.0]))
    True

    ``order=2`` checks second derivatives instead: ``ag.hvp`` of a scalar ``fun`` along a
    random direction (from ``seed``) against central differences of astgrad's gradient
    along it.

    >>> ag.gradcheck(f, np.array([0.1, 0.2]), np.array([1.0, -2.0]), order=2)
    True
    """
    from .api import vjp  # the API imports this module for its dtype check

    positions = _positions(fun, args, wrt)
    if not positions:
        raise ValueError(
            "gradcheck: no argument to check; pass float arrays or floats, or name them with wrt="
        )
    if order not in (1, 2):
        raise ValueError(f"gradcheck: order is 1 or 2, not {order!r}")
    args = list(args)
    for p in positions:
        args[p] = _as_float64(args[p])
    if order == 2:
        return _check_second_order(fun, args, positions, eps, rtol, atol, mode, seed)
    value, pullback = vjp(fun, *args, wrt=tuple(positions), mode=mode)
    cotangent = _cotangent(value, seed)
    analytic = pullback(cotangent)
    names = _parameter_names(fun, len(args))

    def projected(*xs: Any) -> float:
        out = _as_float64(np.asarray(fun(*xs)))
        if cotangent is None:
            return float(np.sum(out))
        # (a complex result: the real number its cotangent stands for, docs/complex.md)
        return float(np.real(np.sum(out * cotangent)))

    for p, grad in zip(positions, analytic):
        for path, leaf in _leaf_paths(args[p]):
            numeric = _central_differences(projected, args, p, path, leaf, eps)
            grad_leaf = grad
            for key in path:
                grad_leaf = grad_leaf[key]
            where = names[p] + "".join(f"[{key!r}]" for key in path)
            _compare(where, p, _as_float64(np.asarray(grad_leaf)), numeric, rtol, atol)
    return True


def _check_second_order(
    fun: Callable,
    args: list,
    positions: list[int],
    eps: float,
    rtol: float,
    atol: float,
    mode: str,
    seed: int,
) -> bool:
    """``gradcheck(order=2)``: Hessian-vector products against differences of gradients."""
    from .api import grad
    from .higher import hvp

    rng = np.random.default_rng(seed)
    tangents: list[Any] = [None] * len(args)
    for p in positions:
        value = args[p]
        if not (isinstance(value, float) or isinstance(value, np.ndarray)):
            raise TypeError("gradcheck(order=2) checks float and float-array arguments only")
        tangents[p] = (
            float(rng.standard_normal()) if isinstance(value, float)
            else rng.standard_normal(value.shape)
        )  # fmt: skip
    products = hvp(fun, args, tangents, mode=mode)
    products = products if isinstance(products, tuple) else (products,)
    gradient = grad(fun, wrt=tuple(positions), mode=mode)

    def moved(step: float) -> tuple:
        out = list(args)
        for p in positions:
            out[p] = args[p] + step * tangents[p]
        return gradient(*out)

    up, down = moved(eps), moved(-eps)
    names = _parameter_names(fun, len(args))
    for p, product, u, d in zip(positions, products, up, down):
        numeric = (np.asarray(u, dtype=np.float64) - np.asarray(d, dtype=np.float64)) / (2 * eps)
        where = f"the Hessian-vector product for {names[p]}"
        _compare(where, p, np.asarray(product, dtype=np.float64), numeric, rtol, atol)
    return True


def _positions(fun: Callable, args: tuple, wrt: Wrt) -> list[int]:
    """Positions of the arguments to check."""
    if wrt is None:
        return [i for i, a in enumerate(args) if _is_float_valued(a)]
    requested = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
    params = list(inspect.signature(fun).parameters)
    positions = []
    for item in requested:
        if isinstance(item, str):
            if item not in params[: len(args)]:
                raise ValueError(f"gradcheck: wrt={item!r} is not one of the arguments passed")
            positions.append(params.index(item))
        else:
            positions.append(item % len(args) if -len(args) <= item < len(args) else item)
    return positions


def _is_float_valued(value: Any) -> bool:
    """Whether every leaf is a float or complex number or array."""
    leaves = [leaf for _, leaf in _leaf_paths(value)]
    return bool(leaves) and all(
        isinstance(leaf, (float, complex))
        or getattr(getattr(leaf, "dtype", None), "kind", None) in ("f", "c")
        for leaf in leaves
    )


def _as_float64(value: Any) -> Any:
    """A float64 copy of an argument (containers rebuilt), so the check runs in float64."""
    if isinstance(value, (list, tuple)):
        items = [_as_float64(v) for v in value]
        return type(value)(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: _as_float64(v) for k, v in value.items()}
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, complex):
        return complex(value)
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind in ("f", "c"):
        return np.array(value, dtype=np.complex128 if kind == "c" else np.float64)
    return value  # integers and the like: ag.vjp says why they cannot be differentiated


def _cotangent(value: Any, seed: int) -> Any:
    """None for a real scalar value (the gradient itself); else a random array of its
    shape (complex for a complex value)."""
    complex_value = np.iscomplexobj(value)
    if np.ndim(value) == 0 and np.size(value) == 1 and not complex_value:
        return None
    rng = np.random.default_rng(seed)
    cotangent = rng.standard_normal(np.shape(value))
    return cotangent + 1j * rng.standard_normal(np.shape(value)) if complex_value else cotangent


def _parameter_names(fun: Callable, count: int) -> list[str]:
    try:
        params = [
            p.name
            for p in inspect.signature(fun).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i}" for i in range(count)]


def _replaced(container: Any, path: tuple, new: Any) -> Any:
    """``container`` with the leaf at ``path`` replaced, rebuilt rather than changed."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(container, dict):
        return {**container, head: _replaced(container[head], rest, new)}
    items = list(container)
    items[head] = _replaced(items[head], rest, new)
    return type(container)(items) if isinstance(container, tuple) else items


def _central_differences(
    projected: Callable, args: list, position: int, path: tuple, leaf: Any, eps: float
) -> np.ndarray:
    """d projected / d leaf, one entry at a time: (f(x + eps) - f(x - eps)) / (2 eps)."""

    def at(new_leaf: Any) -> float:
        moved = list(args)
        moved[position] = _replaced(args[position], path, new_leaf)
        return projected(*moved)

    if isinstance(leaf, float):
        return np.asarray((at(leaf + eps) - at(leaf - eps)) / (2 * eps))
    if isinstance(leaf, complex):
        along = (at(leaf + eps) - at(leaf - eps)) / (2 * eps)
        across = (at(leaf + 1j * eps) - at(leaf - 1j * eps)) / (2 * eps)
        return np.asarray(along - 1j * across)  # the convention: dL/dRe - 1j dL/dIm
    base = _as_float64(np.asarray(leaf))
    grad = np.zeros(base.shape, dtype=base.dtype)
    # a complex leaf moves its real and its imaginary parts apart: dL/dRe - 1j dL/dIm
    directions = (1, 1j) if base.dtype.kind == "c" else (1,)
    for index in np.ndindex(base.shape):
        for direction in directions:
            step = np.zeros(base.shape, dtype=base.dtype)
            step[index] = direction * eps
            slope = (at(base + step) - at(base - step)) / (2 * eps)
            grad[index] += np.conj(direction) * slope
    return grad


def _compare(
    where: str, position: int, analytic: np.ndarray, numeric: np.ndarray, rtol: float, atol: float
) -> None:
    if analytic.shape != numeric.shape:
        raise GradcheckError(
            f"gradcheck: the gradient for '{where}' (argument {position}) has shape "
            f"{analytic.shape}, but the argument has shape {numeric.shape}"
        )
    error = np.abs(analytic - numeric)
    allowed = atol + rtol * np.abs(numeric)
    bad = ~(error <= allowed)  # NaN in either counts as a failure
    if not bad.any():
        return
    excess = np.where(bad, np.nan_to_num(error - allowed, nan=np.inf), -np.inf)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), analytic.shape))
    raise GradcheckError(
        f"gradcheck failed for '{where}' (argument {position}) at index {worst}: "
        f"astgrad gives {analytic[worst].item()!r}, central differences give "
        f"{numeric[worst].item()!r} "
        f"(|difference| {error[worst]:.3g} > atol + rtol * |numeric| = {allowed[worst]:.3g}); "
        f"{int(bad.sum())} of {bad.size} entries differ"
    )
