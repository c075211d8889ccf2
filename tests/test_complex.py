"""Complex numbers: the gradient's convention, programs in every mode, ag.vjp with complex
cotangents, forward mode, the rule table on complex inputs, and the refusals.

The convention is autograd's and JAX's (docs/complex.md): for a real L of z = x + iy,
``ag.grad`` gives ``dL/dx - 1j * dL/dy``. Every check is against central differences that
perturb the real and the imaginary parts separately (``rule_specs_complex``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astgrad.runtime.rules.complex import ComplexGradientError
from rule_specs import SPECS, arguments, differentiable_paths, get_at, shipped_rules
from rule_specs_complex import (
    complex_cotangent,
    complex_gradient,
    complexify,
    directional,
    numeric_complex_vjp,
    real_contract,
)

import astgrad as ag

MODES = ["source", "auto", "tape"]
RNG = np.random.default_rng(0)


def crandom(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


def assert_complex_close(actual, expected, what="", rtol=1e-5, atol=1e-6):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def numeric_grad(f, args, position):
    """The gradient of a real ``f`` in argument ``position``, by central differences."""

    def at(value):
        moved = list(args)
        moved[position] = value
        return float(f(*moved))

    return complex_gradient(at, args[position])


# -- the convention -------------------------------------------------------------------------


def modulus_squared(z):
    return np.abs(z) ** 2


def real_part(z):
    return np.real(z)


def imaginary_part(z):
    return np.imag(z)


def real_of_square(z):
    return np.real(z * z)


# What autograd's and JAX's grad give at z = 1 + 2j (run with both, autograd 1.7 and JAX
# 0.4: identical): dL/dx - 1j dL/dy.
CONVENTION = [
    (modulus_squared, 2 - 4j),
    (real_part, 1 + 0j),
    (imaginary_part, -1j),
    (real_of_square, 2 + 4j),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function, expected", CONVENTION, ids=lambda v: getattr(v, "__name__", ""))
def test_the_convention_is_autograd_and_jax(function, expected, mode):
    got = ag.grad(function, mode=mode)(1 + 2j)
    assert isinstance(got, complex)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("function, expected", CONVENTION, ids=lambda v: getattr(v, "__name__", ""))
def test_the_convention_matches_autograd_when_installed(function, expected):
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as anp

    rewritten = {
        modulus_squared: lambda z: anp.abs(z) ** 2,
        real_part: anp.real,
        imaginary_part: anp.imag,
        real_of_square: lambda z: anp.real(z * z),
    }[function]
    assert autograd.grad(rewritten)(1 + 2j) == pytest.approx(expected)
    assert ag.grad(function)(1 + 2j) == pytest.approx(autograd.grad(rewritten)(1 + 2j))


def test_gradient_descent_steps_along_the_conjugate():
    """The steepest-descent step is -lr * conj(g); the docs say so."""
    target = crandom(4)

    def loss(z):
        return np.sum(np.abs(z - target) ** 2)

    z = np.zeros(4, dtype=complex)
    for _ in range(50):
        z = z - 0.1 * np.conj(ag.grad(loss)(z))
    assert loss(z) < 1e-6 * loss(np.zeros(4, dtype=complex))


# -- programs, in every mode --------------------------------------------------------------


def mixed_real_and_complex(z, x):
    return np.real(np.sum(z * x * z)) + np.sum(np.imag(z) * x)


def fourier_loss(x, target):
    spectrum = np.fft.rfft(x)
    return np.sum(np.abs(spectrum - target) ** 2)


def fourier_filter(z, h):
    filtered = np.fft.ifft(np.fft.fft(z) * h)
    return np.sum(np.abs(np.fft.fftshift(filtered)) ** 2)


def fourier_2d(image, kernel):
    blurred = np.fft.irfft(np.fft.rfft(image) * kernel, n=image.shape[-1])
    power = np.abs(np.fft.fft2(blurred, norm="ortho")) ** 2
    return np.sum(power * np.arange(power.size).reshape(power.shape))


def least_squares(z, a, b):
    residual = a @ z - b
    return np.real(np.vdot(residual, residual))


def phase_retrieval(z, a, y):
    return np.sum((np.abs(a @ z) ** 2 - y) ** 2)


def parts_and_angles(z):
    return np.sum(np.angle(z) ** 2) + np.sum(z.real * z.imag) + np.abs(np.sum(z.conj() * z))


def holomorphic_chain(z):
    w = np.exp(1j * z) * np.log(z) / (1 + z**2)
    return np.real(np.sum(np.sqrt(w) * np.sin(z) + np.tanh(z) ** 3))


def real_input_complex_middle(x):
    w = np.exp(1j * x)
    return np.real(np.sum(w * np.conj(w[::-1]))) + np.sum(np.abs(w + x) ** 2)


def recurrence(z, w):
    for _ in range(3):
        z = z * w + 0.5
    return np.sum(np.abs(z) ** 2)


def element_loop(z):
    total = 0.0
    for i in range(len(z)):
        total = total + np.abs(z[i]) ** 2 * i
    return total


def linear_algebra(m, b):
    x = np.linalg.solve(m, b)
    return np.real(np.trace(np.linalg.inv(m) @ m.conj().T)) + np.sum(np.abs(x) ** 2)


def cast_and_compare(z):
    scaled = np.where(np.abs(z) > 1.0, z, 2 * z)
    return np.sum(np.real(scaled).astype(np.float64) ** 2) + np.real(np.prod(z))


def norms_and_spreads(z, a, b):
    fit = np.linalg.norm(a @ z - b) ** 2 + np.linalg.norm(z, 1) + np.linalg.norm(a, "nuc")
    spread = np.std(z) + np.var(a, axis=0).sum() + np.nanstd(z) + np.nansum(np.nanvar(a, 1))
    return fit + spread + np.linalg.vector_norm(a, ord=3)


def covariance(x, y):
    return np.sum(np.abs(np.cov(x, y) - 1j) ** 2) + np.real(np.sum(np.cov(x.T, rowvar=False)))


def pseudo_inverse_fit(a, b):
    x = np.linalg.pinv(a) @ b
    return np.sum(np.abs(a @ x - b) ** 2) + np.sum(np.abs(x) ** 2)


def log_determinant(m, w):
    sign, logabsdet = np.linalg.slogdet(m)
    return logabsdet + np.real(sign * w) + np.abs(np.linalg.det(m @ m)) ** 0.5


def complex_literals(z):
    return np.sum(np.abs(z * (1 + 2j) - 3j * (2 - 1j)) ** 2)


def complex_numbers(z, w):
    return abs(z * w + 1j) ** 2 + (z / w).real


PROGRAMS = [
    (mixed_real_and_complex, lambda: (crandom(3), RNG.standard_normal(3))),
    (fourier_loss, lambda: (RNG.standard_normal(8), crandom(5))),
    (fourier_filter, lambda: (crandom(6), crandom(6))),
    (fourier_2d, lambda: (RNG.standard_normal((3, 6)), RNG.standard_normal(4))),
    (least_squares, lambda: (crandom(3), crandom(5, 3), crandom(5))),
    (phase_retrieval, lambda: (crandom(3), crandom(6, 3), RNG.uniform(0.5, 2, 6))),
    (parts_and_angles, lambda: (crandom(4),)),
    (holomorphic_chain, lambda: (crandom(3) * 0.5 + 1.5,)),
    (real_input_complex_middle, lambda: (RNG.standard_normal(5),)),
    (recurrence, lambda: (crandom(3), crandom(3) * 0.5)),
    (element_loop, lambda: (crandom(4),)),
    (linear_algebra, lambda: (crandom(3, 3) + 3 * np.eye(3), crandom(3))),
    (cast_and_compare, lambda: (crandom(5),)),
    (norms_and_spreads, lambda: (crandom(3), crandom(4, 3), crandom(4))),
    (covariance, lambda: (crandom(2, 5), RNG.standard_normal(5))),
    (pseudo_inverse_fit, lambda: (crandom(5, 3), crandom(5))),
    (log_determinant, lambda: (crandom(3, 3) + 2 * np.eye(3), 0.7 - 0.2j)),
    (complex_literals, lambda: (crandom(3),)),
    (complex_numbers, lambda: (0.3 + 0.7j, -1.1 + 0.4j)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("program, make", PROGRAMS, ids=[p.__name__ for p, _ in PROGRAMS])
def test_program_gradients_match_complex_finite_differences(program, make, mode):
    args = make()
    positions = tuple(range(len(args)))
    value, grads = ag.value_and_grad(program, wrt=positions, mode=mode)(*args)
    assert value == pytest.approx(program(*args))
    for position, grad in zip(positions, grads):
        expected = numeric_grad(program, args, position)
        if np.iscomplexobj(args[position]):
            assert np.iscomplexobj(grad), f"{program.__name__}: a complex argument's gradient"
        else:
            assert not np.iscomplexobj(grad), f"{program.__name__}: a real argument's gradient"
        assert np.shape(grad) == np.shape(args[position])
        assert_complex_close(grad, expected, f"{program.__name__} argument {position} ({mode})")


@pytest.mark.parametrize("program", [least_squares, phase_retrieval, fourier_filter])
def test_the_transform_differentiates_complex_programs(program):
    """No fallback to the tape: the generated source itself handles complex values."""
    text = ag.source(program, wrt=0)
    assert "tape_call" not in text


def test_gradcheck_style_descent_on_a_least_squares_problem():
    a, b = crandom(8, 3), crandom(8)
    z = np.zeros(3, dtype=complex)
    gradient = ag.grad(least_squares)
    for _ in range(300):
        z = z - 0.02 * np.conj(gradient(z, a, b))
    best = np.linalg.lstsq(a, b, rcond=None)[0]
    assert_complex_close(z, best, "descent reaches the least-squares solution", rtol=1e-4)


def real_elements_times_complex(x, w):
    total = 0.0
    for i in range(len(x)):
        total = total + np.real(x[i] * w[i]) * x[i]
    return total


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
def test_element_loops_over_a_real_array_with_complex_factors(mode):
    """Each element's contribution x[i] * w[i] is complex; added in place into the real x's
    gradient (the accumulate pass's buffer) NumPy keeps its real part, with a
    ComplexWarning: the real part is the gradient of a real argument."""
    x, w = RNG.standard_normal(4), crandom(4)
    grad = ag.grad(real_elements_times_complex, mode=mode)(x, w)
    assert grad.dtype == np.float64
    assert_complex_close(grad, 2 * np.real(x * w), f"element loop ({mode})")


# -- ag.vjp with complex cotangents ------------------------------------------------------------


def holomorphic_map(z, w):
    return np.exp(z) * w + z**2


def mixed_map(z, x):
    return np.conj(z) * x + np.abs(z) + 1j * np.fft.fft(x)


def real_map(z):
    return np.abs(z) ** 2 + np.angle(z)


VJP_CASES = [
    (holomorphic_map, lambda: (crandom(3), crandom(3))),
    (mixed_map, lambda: (crandom(4), RNG.standard_normal(4))),
    (real_map, lambda: (crandom(3),)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function, make", VJP_CASES, ids=[f.__name__ for f, _ in VJP_CASES])
def test_vjp_with_a_complex_cotangent(function, make, mode):
    args = list(make())
    value, pullback = ag.vjp(function, *args, wrt=tuple(range(len(args))), mode=mode)
    c = complex_cotangent(value, RNG)
    grads = pullback(c)
    for position, grad in enumerate(grads):
        expected = numeric_complex_vjp(function, (args, {}), (position,), c)
        assert_complex_close(grad, expected, f"{function.__name__} argument {position} ({mode})")


def test_vjp_of_holomorphic_functions_is_c_times_the_derivative():
    """As autograd and JAX: the pullback of c for f(z) = z ** 2 is c * 2z, no conjugate."""
    z = np.array([1 + 2j])
    _, pullback = ag.vjp(lambda z: z**2, z)
    assert_complex_close(pullback(np.array([1j])), 1j * 2 * z)


# -- forward mode -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function, make", VJP_CASES, ids=[f.__name__ for f, _ in VJP_CASES])
def test_jvp_with_complex_tangents(function, make, mode):
    args = list(make())
    tangents = [crandom(*np.shape(a)) if np.iscomplexobj(a) else RNG.standard_normal(np.shape(a))
                for a in args]  # fmt: skip
    value, tangent = ag.jvp(function, args, tangents, mode=mode)
    expected = directional(function, (args, {}), {(i,): t for i, t in enumerate(tangents)})
    assert_complex_close(value, function(*args))
    assert_complex_close(tangent, expected, f"{function.__name__} ({mode})")


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize("program, make", PROGRAMS[:9], ids=[p.__name__ for p, _ in PROGRAMS[:9]])
def test_jvp_of_programs_agrees_with_their_gradient(program, make, mode):
    """Forward mode on the programs above: the tangent along t is Re(sum(conj?)) of the
    gradient: for a complex z, dL = Re(g * t) with the convention's g."""
    args = list(make())
    tangents = [crandom(*np.shape(a)) if np.iscomplexobj(a) else RNG.standard_normal(np.shape(a))
                for a in args]  # fmt: skip
    _, tangent = ag.jvp(program, args, tangents, mode=mode)
    grads = ag.grad(program, wrt=tuple(range(len(args))))(*args)
    expected = sum(np.real(np.sum(g * t)) for g, t in zip(grads, tangents))
    assert float(np.real(tangent)) == pytest.approx(expected, rel=1e-6, abs=1e-9)


# -- ag.gradcheck -----------------------------------------------------------------------------


def twisted(z):
    return z * np.conj(z[::-1])


def badly_ruled(z):
    return np.sum(np.abs(_wrong_conjugate(z)) ** 2 * np.arange(1.0, 4.0))


def _wrong_conjugate(z):
    return np.conj(z) * (1 + 1j)


@ag.vjp_rule(_wrong_conjugate)
def _wrong_conjugate_vjp(g, ans, z):
    return g * (1 + 1j)  # forgets the conjugate: right for real z only


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_checks_complex_arguments(mode):
    z, a, y = crandom(3), crandom(5, 3), RNG.uniform(0.5, 2, 5)
    assert ag.gradcheck(phase_retrieval, z, a, y, mode=mode)
    assert ag.gradcheck(twisted, crandom(4), mode=mode)  # a complex result
    assert ag.gradcheck(complex_numbers, 0.3 + 0.7j, -1.1 + 0.4j, mode=mode)


def test_gradcheck_finds_a_rule_that_forgets_a_conjugate():
    with pytest.raises(ag.GradcheckError, match="gradcheck failed for 'z'"):
        ag.gradcheck(badly_ruled, crandom(3), mode="source")


# -- second derivatives ----------------------------------------------------------------------


def quartic(z, w):
    return np.sum(np.abs(z) ** 4) + np.real(np.sum(z**3 * w)) + np.sum(np.angle(z + 3) * np.abs(w))


def normalized(z):
    return np.sum(np.real(np.sign(z) * np.conj(z[::-1])) * np.abs(z))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", [quartic, normalized, phase_retrieval, fourier_filter])
def test_hvp_is_the_derivative_of_the_gradient_along_the_tangent(function, mode):
    """ag.hvp of a real function of complex arguments: the directional derivative of the
    gradient (in the convention) along the tangent, by central differences."""
    args = {
        quartic: lambda: (crandom(3), crandom(3)),
        normalized: lambda: (crandom(4),),
        phase_retrieval: lambda: (crandom(3), crandom(5, 3), RNG.uniform(0.5, 2, 5)),
        fourier_filter: lambda: (crandom(5), crandom(5)),
    }[function]()
    moving = (0, 1) if function is quartic else (0,)
    tangents = tuple(crandom(*np.shape(a)) if i in moving else None for i, a in enumerate(args))
    got = ag.hvp(function, args, tangents, mode=mode)
    got = got if isinstance(got, tuple) else (got,)
    gradient = ag.grad(function, wrt=moving)

    def moved(step):
        return gradient(*[a + step * t if t is not None else a for a, t in zip(args, tangents)])

    eps = 1e-6
    for i, (product, up, down) in enumerate(zip(got, moved(eps), moved(-eps))):
        expected = (np.asarray(up) - np.asarray(down)) / (2 * eps)
        assert_complex_close(product, expected, f"{function.__name__} argument {i} ({mode})")


def test_sign_is_z_over_its_modulus_with_a_derivative():
    """np.sign(z) is z / |z| for complex z (NumPy 2), which moves; for reals its gradient
    is zero, as PyTorch's."""
    z = crandom(3)
    assert_complex_close(
        ag.grad(normalized)(z), numeric_grad(normalized, [z], 0), "sign of complex values"
    )
    x = ag.tensor([1.5, -2.0, 0.0], requires_grad=True)
    np.sum(np.sign(x) * 3.0).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


# -- the rule table on complex inputs --------------------------------------------------------


def _rule_cases():
    for rule in shipped_rules():
        for number, spec in enumerate(SPECS.get(rule.primitive, [])):
            if differentiable_paths(spec):
                yield pytest.param(rule, spec, id=f"{rule.name}-{number}")


def _complex_call(spec):
    call = arguments(spec)
    return complexify(call, differentiable_paths(spec), np.random.default_rng(5))


def _quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# Rules whose function NumPy or SciPy computes on complex values but that astgrad does not
# differentiate there: each raises ComplexGradientError (or, for sqrtm, the error about
# complex results it had).
REFUSED = {
    "sqrtm", "ive", "multivariate_normal_logpdf",
    "multivariate_normal_pdf", "dirichlet_logpdf", "dirichlet_pdf", "psi",
    "multivariate_normal_entropy",
    "polyfit",
}  # fmt: skip


def _refused(rule, call):
    """Whether astgrad refuses this call for complex values: REFUSED's rules,
    np.linalg.svd but for the singular values alone (a random cotangent of its vectors
    reads their phases, which are LAPACK's; forward mode refuses them), and scipy.linalg's
    inv and solve of a matrix they read as Hermitian."""
    args, kwargs = call
    if rule.name == "lu_solve":  # (trans=2 solves with a^H)
        return (args[2] if len(args) > 2 else kwargs.get("trans", 0)) in (2, "C")
    if rule.name in ("scipy_inv", "scipy_solve"):
        # (where SciPy reads a Hermitian matrix: its conjugate across the diagonal)
        return kwargs.get("assume_a") in ("her", "hermitian", "pos", "positive definite")
    if rule.name != "svd":
        return rule.name in REFUSED
    compute_uv = args[2] if len(args) > 2 else kwargs.get("compute_uv", True)
    hermitian = args[3] if len(args) > 3 else kwargs.get("hermitian", False)
    return bool(compute_uv or hermitian)


@pytest.mark.parametrize("rule, spec", list(_rule_cases()))
def test_every_rule_is_right_or_refuses_on_complex_inputs(rule, spec):
    if getattr(rule.primitive, "__module__", None) == "math":
        pytest.skip("the math module's functions take real numbers")
    call = _complex_call(spec)
    try:
        out = _quietly(rule.primitive, *call[0], **call[1])
    except (TypeError, ValueError, NotImplementedError, np.linalg.LinAlgError):
        return  # NumPy (or SciPy) refuses complex values itself: nothing to differentiate
    rng = np.random.default_rng(7)
    c = complex_cotangent(out, rng)
    if _refused(rule, call):
        with pytest.raises((ComplexGradientError, NotImplementedError, TypeError)):
            _quietly(rule.vjp, c, out, *call[0], **call[1])
        return
    grads = _quietly(rule.vjp, c, out, *call[0], **call[1])
    if not isinstance(grads, tuple) or type(grads).__name__ == "Parts":
        grads = (grads,)
    for path in differentiable_paths(spec):
        position = rule.param_names.index(path[0]) if isinstance(path[0], str) else path[0]
        grad = grads[position] if position < len(grads) else None
        if grad is None:
            continue
        if len(path) > 1:
            grad = grad[path[1]]
        expected = _quietly(numeric_complex_vjp, rule.primitive, call, path, c, spec.eps)
        if not np.iscomplexobj(get_at(call, path)):
            grad = np.real(grad)  # a real input's gradient: the real part (finish_gradient)
        grad = np.broadcast_to(grad, np.shape(expected))
        assert_complex_close(
            grad, expected, f"{rule.name} input {path}", rtol=10 * spec.rtol, atol=1e-5
        )


@pytest.mark.parametrize("rule, spec", list(_rule_cases()))
def test_every_forward_rule_is_right_or_refuses_on_complex_inputs(rule, spec):
    from astgrad.runtime.rules.forward import tangent_of

    if getattr(rule.primitive, "__module__", None) == "math":
        pytest.skip("the math module's functions take real numbers")
    if rule.forward is None:
        pytest.skip("no forward rule")
    call = _complex_call(spec)
    try:
        out = _quietly(rule.primitive, *call[0], **call[1])
    except (TypeError, ValueError, NotImplementedError, np.linalg.LinAlgError):
        return
    # (the positions forward mode moves: a rule's forward_refused ones it refuses)
    moved = set(rule.forward.differentiable)
    paths = [
        p
        for p in differentiable_paths(spec)
        if len(p) == 1
        and (rule.param_names.index(p[0]) if isinstance(p[0], str) else p[0]) in moved
    ]
    if not paths:
        pytest.skip("inputs inside sequences")
    rng = np.random.default_rng(9)
    tangents = {p: complex_cotangent(get_at(call, p), rng) for p in paths}
    positions = {
        (rule.param_names.index(p[0]) if isinstance(p[0], str) else p[0]): t
        for p, t in tangents.items()
    }
    if _refused(rule, call):
        with pytest.raises((ComplexGradientError, NotImplementedError, TypeError)):
            _quietly(tangent_of, rule, out, tuple(call[0]), call[1], positions)
        return
    got = _quietly(tangent_of, rule, out, tuple(call[0]), call[1], positions)
    expected = _quietly(directional, rule.primitive, call, tangents, spec.eps)
    if isinstance(expected, tuple):
        for i, (g, e) in enumerate(zip(got, expected)):
            if spec.outputs is None or i in spec.outputs:
                assert_complex_close(g, e, f"{rule.name} result {i}", rtol=1e-4, atol=1e-5)
    else:
        assert_complex_close(got, expected, rule.name, rtol=1e-4, atol=1e-5)


def _real_part(c):
    return tuple(_real_part(part) for part in c) if isinstance(c, tuple) else np.real(c)


def _first(value):
    # (cho_solve's gradient of (c, lower) is a tuple whose first part is c's)
    return value[0] if isinstance(value, tuple) else value


@pytest.mark.parametrize("rule, spec", list(_rule_cases()))
def test_every_rule_of_real_values_reads_only_the_real_part_of_a_cotangent(rule, spec):
    """The adjoint of a real value may carry an imaginary part that means nothing (a real
    x times a complex w sends back g * w to x): every rule given real inputs must give, as
    its real part, what it gives for the cotangent's real part, so that the imaginary
    part never reaches a complex argument's gradient (rules/complex.py)."""
    call = arguments(spec)
    try:
        out = _quietly(rule.primitive, *call[0], **call[1])
    except (TypeError, ValueError, NotImplementedError, np.linalg.LinAlgError):
        return
    parts = out if isinstance(out, (list, tuple)) else [out]
    if any(np.iscomplexobj(part) for part in parts):
        return  # (a complex result's cotangent means all of itself)
    c = complex_cotangent(out, np.random.default_rng(3))
    with_imaginary = _quietly(rule.vjp, c, out, *call[0], **call[1])
    real_only = _quietly(rule.vjp, _real_part(c), out, *call[0], **call[1])
    if not isinstance(with_imaginary, tuple) or type(with_imaginary).__name__ == "Parts":
        with_imaginary, real_only = (with_imaginary,), (real_only,)
    for got, want in zip(with_imaginary, real_only):
        if got is None or want is None or isinstance(got, (list, dict)):
            continue
        got, want = np.real(np.asarray(_first(got))), np.asarray(_first(want))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, equal_nan=True)


# -- refusals ---------------------------------------------------------------------------------


def complex_polynomial_fit(z):
    return np.real(np.sum(np.polyfit(z[0], z[1], 1)))


def hermitian_singular_values(z):
    # (NumPy computes them with eigh; the general ones have gradients: test_complex_linalg)
    return np.sum(np.linalg.svd(z @ np.conj(z.T), compute_uv=False, hermitian=True))


def complex_result(z):
    return np.sum(z * z)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", [complex_polynomial_fit, hermitian_singular_values])
def test_rules_for_real_values_refuse_complex_ones(function, mode):
    with pytest.raises(ComplexGradientError, match=r"of a complex value has no derivative"):
        ag.grad(function, mode=mode)(crandom(3, 3))


@pytest.mark.parametrize("mode", MODES)
def test_a_complex_result_has_no_gradient(mode):
    with pytest.raises((TypeError, RuntimeError), match="complex"):
        ag.grad(complex_result, mode=mode)(crandom(3))


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_and_hessian_refuse_complex_values(mode):
    """A complex function has no one Jacobian (df/dz and df/dconj(z)): refused, where the
    real parts of one would come back; ag.vjp, ag.jvp and ag.hvp take complex values."""
    with pytest.raises(TypeError, match=r"ag.jacobian\(holomorphic_map\) does not take complex"):
        ag.jacobian(holomorphic_map, mode=mode)(crandom(3), crandom(3))
    with pytest.raises(TypeError, match="does not take complex values"):
        ag.jacobian(real_input_complex_middle_map, mode=mode)(RNG.standard_normal(3))
    with pytest.raises(TypeError, match=r"ag.hessian\(quartic\) does not take complex"):
        ag.hessian(quartic)(crandom(3), crandom(3))


def real_input_complex_middle_map(x):
    return np.exp(1j * x)


def test_forward_rules_for_real_values_refuse_complex_ones():
    z = crandom(3, 4)
    with pytest.raises(ComplexGradientError, match="np.linalg.svd"):
        ag.jvp(hermitian_singular_values, (z,), (crandom(3, 4),))


def test_real_contract_is_the_real_part():
    assert real_contract(np.array([1j, 2.0]), np.array([1j, 1.0])) == pytest.approx(1.0)
