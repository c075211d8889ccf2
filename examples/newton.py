"""Newton's method with generated second derivatives.

Minimizes the Rosenbrock function in four dimensions: each step solves ``H p = -g`` with
the gradient from ``ag.grad`` and the Hessian from ``ag.hessian`` (one Hessian-vector
product per direction, through generated forward-mode code differentiated again by
reverse mode). Then it takes the same steps matrix-free, solving with conjugate
gradients that only ever ask for ``ag.hvp``, as one would for many variables. Finally it
prints the forward-mode source astgrad generated for the function.

    python examples/newton.py
"""

from __future__ import annotations

import numpy as np

import astgrad as ag


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def newton(x, steps=50, tolerance=1e-8):
    gradient = ag.grad(rosenbrock, mode="source")
    hessian = ag.hessian(rosenbrock, mode="source")
    for step in range(steps):
        g = gradient(x)
        if np.linalg.norm(g) < tolerance:
            break
        H = hessian(x)
        # Far from the minimum H need not be positive definite: shift it until it is
        # (then -H^-1 g points downhill), as a damped Newton method does.
        shift = 0.0
        while True:
            try:
                L = np.linalg.cholesky(H + shift * np.eye(len(x)))
                break
            except np.linalg.LinAlgError:
                shift = max(2 * shift, 1e-3)
        p = -np.linalg.solve(L.T, np.linalg.solve(L, g))
        # a backtracking line search keeps the step a descent one far from the minimum
        t = 1.0
        while rosenbrock(x + t * p) > rosenbrock(x) + 1e-4 * t * (g @ p) and t > 1e-8:
            t *= 0.5
        x = x + t * p
        print(f"  step {step + 1:2d}: f = {rosenbrock(x):.3e}  |g| = {np.linalg.norm(g):.2e}")
    return x


def conjugate_gradients(apply, b, iterations=50, tolerance=1e-12):
    """Solve ``A x = b`` for a symmetric positive definite ``A`` known only through
    ``apply(v) = A @ v``."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    for _ in range(iterations):
        Ap = apply(p)
        alpha = (r @ r) / (p @ Ap)
        x = x + alpha * p
        r_new = r - alpha * Ap
        if np.linalg.norm(r_new) < tolerance:
            break
        p = r_new + (r_new @ r_new) / (r @ r) * p
        r = r_new
    return x


def matrix_free_newton(x, steps=50, tolerance=1e-8):
    gradient = ag.grad(rosenbrock, mode="source")
    taken = 0
    for _ in range(steps):
        g = gradient(x)
        if np.linalg.norm(g) < tolerance:
            break
        taken += 1
        p = conjugate_gradients(lambda v, x=x: ag.hvp(rosenbrock, (x,), (v,), mode="source"), -g)
        if g @ p >= 0:  # not a descent direction (H not positive definite here)
            p = -g / np.linalg.norm(g)
        t = 1.0
        while rosenbrock(x + t * p) > rosenbrock(x) + 1e-4 * t * (g @ p) and t > 1e-8:
            t *= 0.5
        x = x + t * p
    print(f"  matrix-free: {taken} steps, f = {rosenbrock(x):.3e}")
    return x


def main():
    start = np.array([1.2, 1.0, 1.2, 0.8])
    print("Newton's method on the Rosenbrock function, from", start)
    x = newton(start)
    print("minimum found:", np.round(x, 8))
    y = matrix_free_newton(start)
    print("matrix-free minimum:", np.round(y, 8))
    print()
    print("The forward-mode source of rosenbrock (what ag.jvp runs; ag.hvp differentiates it")
    print("again with reverse mode):")
    print(ag.source(rosenbrock, forward=True))


if __name__ == "__main__":
    main()
