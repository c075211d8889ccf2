"""SciPy's Python functions on the tape (``mode="tape"``, and calls ``mode="auto"`` runs
there): NumPy's functions and SciPy's ufuncs dispatch to tensors, but SciPy's Python
functions converted a tensor to an array and raised GradientLostError. Code on the tape
now sees them through stand-ins that record their rules, whichever way they are imported:
``scipy.special.logsumexp``, ``from scipy.linalg import cho_factor``, ``import
scipy.linalg as sla``, ``from scipy.stats import norm``."""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

pytest.importorskip("scipy")
import scipy.linalg as sla  # noqa: E402
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402
from scipy.linalg import cho_factor, cho_solve  # noqa: E402
from scipy.special import logsumexp  # noqa: E402
from scipy.stats import norm  # noqa: E402
from scipy.stats import t as student  # noqa: E402


def log_partition(x):
    return logsumexp(x * 2.0) + scipy.special.logsumexp(x, b=np.ones(3))


def cholesky_solve(a):
    c = cho_factor(np.outer(a, a) + np.eye(3) * 2.0)
    return np.sum(cho_solve(c, np.ones(3))) + np.sum(np.log(np.diag(c[0])))


def triangular_and_norm(x):
    upper = np.triu(np.outer(x, x) + np.eye(3))
    return np.sum(scipy.stats.norm.logpdf(x, loc=0.5, scale=2.0)) + np.sum(
        sla.solve_triangular(upper, x)
    )


def distributions_imported(x):
    return np.sum(norm.logcdf(x)) + np.sum(student.logpdf(x, 3.0))


def helper_calls_scipy(x):
    return log_partition(x) * 0.5


PROGRAMS = [
    log_partition,
    cholesky_solve,
    triangular_and_norm,
    distributions_imported,
    helper_calls_scipy,
]


@pytest.mark.parametrize("mode", ["tape", "auto"])
@pytest.mark.parametrize("function", PROGRAMS, ids=lambda f: f.__name__)
def test_matches_finite_differences(function, mode):
    x = np.array([0.3, -0.2, 0.9])
    assert_close(ag.grad(function, mode=mode)(x), numeric_vjp(function, [x], 0, 1.0))


def test_plain_values_run_scipy_unchanged():
    def f(x):
        return x * float(logsumexp(np.array([1.0, 2.0])))

    assert_close(ag.grad(f, mode="tape")(2.0), np.log(np.exp(1.0) + np.exp(2.0)))
