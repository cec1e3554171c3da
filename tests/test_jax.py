"""nonlocal_calc.jax: the derivative = D_mu f against the float64 ufunc, its derivatives against finite differences
(jax.test_util.check_grads), jit, vmap, hessian, float32 and low-precision dtypes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import sympy as sp
from conftest import KINK_PAIRS, grid, points_across_in_float32
from independent import dirac_pair, parse

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install -e '.[jax]')")

import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

import nonlocal_calc as nlc  # noqa: E402
from nonlocal_calc.activations import Activation  # noqa: E402
from nonlocal_calc.codegen.accuracy import DELTAS, grid_x  # noqa: E402
from nonlocal_calc.derivation import COVERAGE_KERNELS  # noqa: E402
from nonlocal_calc.jax import nonlocal_activation, nonlocal_derivative, pair  # noqa: E402
from nonlocal_calc.jax.compiled import x64 as enable_x64  # noqa: E402

#: The pairs of the accuracy table (docs/ufuncs.md): the coverage kernels and the Gaussian.
ALL_PAIRS = [(a, k) for a in nlc.activations.names() for k in (*COVERAGE_KERNELS, "gaussian")]
#: Checked on every run: closed forms printed as jax.numpy code (relu, tanh, binary_step, elu...), values by the
#: quadrature (cells with cancellation, polylogarithms, no closed form), kinks under singular kernels.
SAMPLE = [("relu", "sign"), ("tanh", "sign"), ("silu", "sign"), ("gelu", "sign"), ("elu", "linear"),
          ("softsign", "power(-1/2)"), ("softplus", "power(2)"), ("binary_step", "power(-1/2)"),
          ("leaky_relu", "dirac_pair"), ("logistic", "power(-1/2)"), ("arctan", "linear")]
PAIRS = grid(SAMPLE, ALL_PAIRS)  # the others in the slow layer (conftest.grid)
RTOL = 1e-13


@pytest.fixture(autouse=True)
def x64():
    """Every test here runs with 64-bit types enabled (float32 data stays float32); outside, JAX's default."""
    with enable_x64():
        yield


def no_x64():
    """64-bit types disabled within (JAX's default)."""
    import contextlib

    @contextlib.contextmanager
    def off():
        jax.config.update("jax_enable_x64", False)
        try:
            yield
        finally:
            jax.config.update("jax_enable_x64", True)
    return off()


@pytest.fixture(scope="module")
def derived():
    """``derived(act, ker) -> (D, ufunc)``, each pair derived and compiled once for this module."""
    memo = {}

    def get(act, ker):
        if (act, ker) not in memo:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                D = nlc.derive(act, ker)
            memo[act, ker] = D, D.ufunc()
        return memo[act, ker]
    return get


def _grad(act, ker, xs, d, dtype=jnp.float64):
    """The derivative of the activation for a number delta (the quadrature's order planned for it)."""
    x = jnp.asarray(xs, dtype=dtype)
    return jax.grad(lambda v: nonlocal_activation(v, act, ker, d).sum())(x)


@pytest.mark.parametrize("act,ker", PAIRS)
def test_derivative_equals_the_float64_ufunc_on_the_accuracy_grid(derived, act, ker):
    D, u = derived(act, ker)
    worst, at = 0.0, None
    for d in DELTAS:
        xs = np.array(grid_x(d, 6))
        want = u(xs, d)
        got = np.asarray(_grad(act, ker, xs, d))
        assert np.isfinite(got).all() and np.isfinite(want).all()
        err = np.abs(got - want) / np.maximum(np.abs(want), 1e-2)
        i = int(np.argmax(err))
        if err[i] > worst:
            worst, at = float(err[i]), (float(xs[i]), d, float(got[i]), float(want[i]))
    assert worst <= RTOL, f"{act}/{ker}: worst relative error {worst:.2e} at x, delta, jax, ufunc = {at}"


#: x inside and outside the horizons of JUMP_DELTAS (the jump of binary_step at 0: its term is J rho(|x|))
JUMP_X = np.array([-0.7, -0.2, 0.05, 0.3, 0.9, 1.5])
JUMP_DELTAS = (0.5, 1.0, 2.0)


def test_a_jump_under_the_gaussian_kernel_against_the_ufunc(derived):
    # the jump's term in d/dx and d/ddelta of D_mu f differentiates the stable rho, an expm1: the module did not build
    D, u = derived("binary_step", "gaussian")
    for d in JUMP_DELTAS:
        want = u(JUMP_X, d)
        got = np.asarray(_grad("binary_step", "gaussian", JUMP_X, d))
        err = np.abs(got - want) / np.maximum(np.abs(want), 1e-2)
        assert err.max() <= RTOL, f"delta = {d}: jax {got}, ufunc {want}"
    x = jnp.asarray(JUMP_X)

    def dsum(v, dv):
        return nonlocal_derivative(v, "binary_step", "gaussian", dv).sum()

    gxx, gd = jax.grad(dsum, argnums=(0, 1))(x, jnp.asarray(0.8))
    h = 1e-5
    fx = (u(JUMP_X + h, 0.8) - u(JUMP_X - h, 0.8)) / (2 * h)
    fd = (u(JUMP_X, 0.8 + h) - u(JUMP_X, 0.8 - h)).sum() / (2 * h)
    np.testing.assert_allclose(np.asarray(gxx), fx, rtol=1e-8, atol=1e-8)
    assert abs(float(gd) - fd) <= 1e-8 * max(1.0, abs(fd))


@pytest.mark.parametrize("act,ker", [("relu", "sign"), ("gelu", "sign")])
def test_forward_is_the_activation(derived, act, ker):
    D, _ = derived(act, ker)
    xs = np.array([-30.0, -2.5, -0.3, 0.0, 0.2, 1.7, 40.0])
    f = sp.lambdify(nlc.x, D.activation.expr, "mpmath")
    got = np.asarray(nonlocal_activation(jnp.asarray(xs), act, ker, 0.1))
    np.testing.assert_allclose(got, [float(f(v)) for v in xs], rtol=1e-15, atol=1e-300)


# ---------------------------------------------------------------- derivatives of the derivative
#: x away from the kinks of D (at b and b +- delta for a kink b of f: finite differences cross them otherwise)
GRAD_X = [-1.3, -0.71, -0.23, -0.05, 0.04, 0.27, 0.62, 1.9]


@pytest.mark.parametrize("act,ker", [("relu", "sign"), ("gelu", "sign"), ("softsign", "power(-1/2)"),
                                     ("elu", "linear"), ("binary_step", "power(2)"), ("tanh", "dirac_pair")])
def test_check_grads_of_the_derivative_and_of_the_gradient_map_with_delta(act, ker):
    x = jnp.asarray(GRAD_X)
    d = jnp.asarray(0.5)
    p = pair(act, ker)
    # D_mu f(x, delta) against finite differences in x and in delta, to second order (its first derivatives are
    # derived, d/dx D_mu f and d/ddelta D_mu f; the second ones JAX's derivatives of those)
    check_grads(p.nonlocal_derivative, (x, d), order=2, modes=("fwd", "rev"), eps=1e-4, atol=1e-6, rtol=1e-6)

    # the gradient map (x, delta) -> w D_mu f as jax.grad computes it through the activation's rule, differentiated
    # again. (The activation itself is not checked against finite differences of f: its derivative is D_mu f,
    # not f', on purpose; so the weights w are constants.)
    w = jnp.cos(x)

    def gradient(v, dv):
        return jax.grad(lambda u: (p.nonlocal_activation(u, dv) * w).sum())(v)

    check_grads(gradient, (x, d), order=2, modes=("fwd", "rev"), eps=1e-4, atol=1e-6, rtol=1e-6)


def test_delta_gradient_through_nested_grad_equals_finite_differences_of_the_ufunc(derived):
    D, u = derived("silu", "sign")
    xs = np.array([-2.0, -0.4, 0.1, 0.9, 3.0])
    x = jnp.asarray(xs)

    def gsum(d):
        return jax.grad(lambda v: nonlocal_activation(v, "silu", "sign", d).sum())(x).sum()

    np.testing.assert_allclose(float(gsum(jnp.asarray(0.3))), u(xs, 0.3).sum(), rtol=1e-13)
    h = 1e-5
    fd = (u(xs, 0.3 + h) - u(xs, 0.3 - h)).sum() / (2 * h)
    assert abs(float(jax.grad(gsum)(jnp.asarray(0.3))) - fd) <= 1e-8 * max(1.0, abs(fd))


# ---------------------------------------------------------------- jit, vmap, hessian
@pytest.mark.parametrize("act,ker", [("relu", "sign"), ("silu", "sign"), ("softsign", "power(-1/2)")])
def test_jit_gives_the_results_without_jit(act, ker):
    x = jnp.linspace(-2, 2, 41)

    def run(v):
        f = lambda u: (nonlocal_activation(u, act, ker, 0.2) * jnp.cos(u)).sum()  # noqa: E731
        return f(v), jax.grad(f)(v), jax.vmap(jax.grad(jax.grad(lambda u: nonlocal_activation(u, act, ker, 0.2))))(v)

    eager, compiled = run(x), jax.jit(run)(x)
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-13, atol=1e-15)


def test_vmap_of_grad_and_grad_of_grad(derived):
    D, u = derived("gelu", "sign")
    xs = np.linspace(-3, 3, 13)
    x = jnp.asarray(xs)
    f = lambda v: nonlocal_activation(v, "gelu", "sign", 0.25)  # noqa: E731
    want = u(xs, 0.25)
    np.testing.assert_allclose(np.asarray(jax.grad(lambda v: f(v).sum())(x)), want, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(f))(x)), want, rtol=1e-13)
    gg = jax.vmap(jax.grad(jax.grad(f)))(x)
    np.testing.assert_allclose(np.asarray(gg), np.asarray(pair("gelu", "sign").derivs(x, jnp.asarray(0.25))[0]),
                               rtol=1e-14)


def test_vmap_over_delta_and_its_gradient(derived):
    """One delta per vmapped example: the derivative, and the gradient of its sum with respect to delta (through
    jax.grad of jax.grad), against the ufunc and its central differences in delta."""
    D, u = derived("silu", "sign")
    m = pair("silu", "sign")
    x = jnp.linspace(-2, 1, 5)
    ds = jnp.asarray([0.1, 0.3, 0.7])

    def gsum(d):
        return jax.grad(lambda v: m.nonlocal_activation(v, d).sum())(x).sum()

    xs, h = np.asarray(x), 1e-6
    want = [u(xs, float(d)).sum() for d in ds]
    np.testing.assert_allclose(np.asarray(jax.vmap(gsum)(ds)), want, rtol=1e-13)
    fd = [(u(xs, float(d) + h).sum() - u(xs, float(d) - h).sum()) / (2 * h) for d in ds]
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(gsum))(ds)), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("act,ker", [("tanh", "sign"), ("softsign", "power(-1/2)")])
def test_hessian_is_diagonal_with_the_derived_second_derivative(derived, act, ker):
    """jax.hessian (forward over reverse) of sum(f(x)): diagonal, d/dx D_mu f on the diagonal; d/dx D_mu f
    against central differences of the float64 ufunc."""
    D, u = derived(act, ker)
    xs = np.array(GRAD_X)
    x = jnp.asarray(xs)
    hess = np.asarray(jax.hessian(lambda v: nonlocal_activation(v, act, ker, 0.3).sum())(x))
    diag = np.diag(hess)
    assert np.all(hess - np.diag(diag) == 0)
    m = pair(act, ker)
    np.testing.assert_allclose(diag, np.asarray(m.derivs(x, jnp.asarray(0.3), m.order_for(0.3))[0]), rtol=1e-15)
    h = 1e-5
    fd = (u(xs + h, 0.3) - u(xs - h, 0.3)) / (2 * h)
    np.testing.assert_allclose(diag, fd, rtol=1e-7, atol=1e-8)


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("act,ker", [("tanh", "sign"), ("gelu", "sign"), ("softsign", "power(-1/2)")])
def test_float32_and_low_precision(derived, act, ker):
    """float32 within the float32 target of the ufuncs (2e-6 relative, of max(|v|, 1e-2)), against the float64
    ufunc at the float32-rounded inputs, on the accuracy grid and a dense grid; float16 and bfloat16 computed
    in float32 and rounded once."""
    D, u = derived(act, ker)
    for d in (1e-4, 0.1, 0.2, 1.0):
        xs = np.array(grid_x(d, 6) + list(np.linspace(-4, 4, 801)), dtype=np.float32).astype(np.float64)
        d32 = float(np.float32(d))
        want = u(xs, d32)
        g32 = _grad(act, ker, xs, d32, jnp.float32)
        assert g32.dtype == jnp.float32
        err = np.abs(np.asarray(g32, dtype=np.float64) - want) / np.maximum(np.abs(want), 1e-2)
        assert err.max() <= 2e-6, (d, xs[err.argmax()], err.max())
    xs = np.linspace(-4, 4, 33)
    for dt, ulp in ((jnp.float16, 2.0**-11), (jnp.bfloat16, 2.0**-8)):
        g = _grad(act, ker, xs, 0.5, dt)
        assert g.dtype == dt
        x = np.asarray(jnp.asarray(xs, dtype=dt), dtype=np.float64)
        want = u(x, 0.5)
        # rounded once from float32: half an ulp of the low-precision type, plus the float32 error
        assert np.all(np.abs(np.asarray(g, dtype=np.float64) - want)
                      <= ulp * np.abs(want) + 2e-6 * np.maximum(np.abs(want), 1e-2) + 6e-8)


@pytest.mark.parametrize("act,ker,bound", [("tanh", "sign", 2e-6), ("gelu", "sign", 1e-5)])
def test_float32_without_64_bit_types(derived, act, ker, bound):
    """JAX's default (jax_enable_x64 off): everything in float32. A closed form within the float32 target; the
    quadrature of a sign-changing f' (GELU's), which with 64-bit types runs in float64, summed in float32 loses
    more (4.0e-6 measured at x = -0.78, delta = 0.2, where D crosses 0)."""
    D, u = derived(act, ker)
    with no_x64():
        xs = np.linspace(-4, 4, 801, dtype=np.float32).astype(np.float64)
        g = jax.jit(jax.grad(lambda v: nonlocal_activation(v, act, ker, 0.2).sum()))(jnp.asarray(xs))
        assert g.dtype == jnp.float32
    want = u(xs, float(np.float32(0.2)))
    err = np.abs(np.asarray(g, dtype=np.float64) - want) / np.maximum(np.abs(want), 1e-2)
    assert err.max() <= bound, (xs[err.argmax()], err.max())


def _kink_points(act, kinks):
    """(activation, [(delta, float32 x near a cell end, the central difference of f there)]) for
    :func:`test_float32_cell_choice_at_a_kink_away_from_zero`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        act_obj = Activation.from_expr(act)
    f = parse(act)
    out = []
    for dv in (8.03e-6, 1e-4, 0.0123):
        d = np.float32(dv)
        xs = [xv for b in kinks for xv in points_across_in_float32(sp.Rational(b), d)]
        assert xs, (act, dv)  # (else the test checks nothing)
        out.append((float(d), xs, np.array([float(dirac_pair(f, xv, float(d))) for xv in xs])))
    return act_obj, out


@pytest.mark.parametrize("act,kinks", KINK_PAIRS)
def test_float32_cell_choice_at_a_kink_away_from_zero(act, kinks):
    """Float32 x within rounding of a cell end ``b +- delta`` (b != 0): the closed form chose its cell by ``x < b +-
    delta`` computed in float32 and took the wrong side's formula (1.0 where D = 0.99979820 for Max(x - 1/3, 0) at
    x = 0.33334136, delta = 8.03e-6); with 64-bit types it decides in float64. Against the central difference
    (dirac_pair) of f at 40 digits (:mod:`independent`), with and without ``jax.jit``."""
    act_obj, cases = _kink_points(act, kinks)
    for d, xs, want in cases:
        g = jax.grad(lambda u, d=d: nonlocal_activation(u, act_obj, "dirac_pair", d).sum())
        for got in (g(jnp.asarray(xs, dtype=jnp.float32)), jax.jit(g)(jnp.asarray(xs, dtype=jnp.float32))):
            assert got.dtype == jnp.float32
            got = np.asarray(got, dtype=np.float64)
            err = np.abs(got - want) / np.maximum(np.abs(want), 1e-2)
            assert err.max() <= 2e-6, (act, d, xs[err.argmax()], got[err.argmax()], want[err.argmax()])


def test_float32_cell_choice_without_64_bit_types():
    """JAX's default (jax_enable_x64 off) has no float64 to decide a cell in: decided by exact float32 arithmetic
    (``_exact_sign``); a float32 comparison with the rounded cell end took the wrong cell's formula (Max(x - 1/3, 0)
    with dirac_pair at x = 0.33334136, delta = 8.03e-6: 1.0 for 0.99979820, 2.0e-4 off). With and without
    ``jax.jit``."""
    act_obj, cases = _kink_points(*KINK_PAIRS[1])
    with no_x64():
        for d, xs, want in cases:
            g = jax.grad(lambda u, d=d: nonlocal_activation(u, act_obj, "dirac_pair", d).sum())
            for got in (g(jnp.asarray(xs)), jax.jit(g)(jnp.asarray(xs))):
                assert got.dtype == jnp.float32
                err = np.abs(np.asarray(got, dtype=np.float64) - want) / np.maximum(np.abs(want), 1e-2)
                assert err.max() <= 2e-6, (d, xs[err.argmax()], err.max())


def test_exact_condition_decides_x_against_a_rounded_cell_end_exactly():
    """``_exact_condition`` (the cell choice without 64-bit types) against exact rational arithmetic: float32 x at
    and within 4 ulps of b + k delta (random rationals b, k; float32 delta from 1e-25 to 1e3) and random x beyond,
    the four comparisons, one delta (a 0-d array: the end placed once among the floats) and an array of deltas
    (each x signed exactly), with and without ``jax.jit`` (which would fold the constants of the error-free sums
    without their barrier). The data include x on which a float32 comparison with the rounded end is wrong, and
    ends x equals."""
    import operator
    from fractions import Fraction

    from nonlocal_calc.jax.printer import HELPERS, linear_integers

    scope = {"jax": jax, "jnp": jnp}
    exec(HELPERS["_exact_condition"], scope)  # the helpers' text, as every module that needs them defines it
    ops = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
    rng = np.random.default_rng(7)
    xw, dw = sp.Symbol("_xw", real=True), sp.Symbol("_dw", positive=True)
    wrong_in_float32 = ties = 0
    with no_x64():
        for _ in range(40):
            b = Fraction(int(rng.integers(-200, 200)), int(rng.choice([1, 3, 4, 7, 10, 16, 31, 49])))
            k = Fraction(int(rng.choice([-5, -3, -2, -1, 1, 2, 3, 7])), int(rng.choice([1, 1, 2, 3, 10])))
            d = np.float32(10 ** rng.uniform(-25, 3))
            end = b + k * Fraction(float(d))
            flip = bool(rng.integers(2))  # the condition as b + k delta - x op 0 (x's coefficient negative)
            lin = xw - (sp.Rational(b.numerator, b.denominator) + sp.Rational(k.numerator, k.denominator) * dw)
            a, c, r = linear_integers(-lin if flip else lin)
            x0 = np.float32(float(end))
            xs = [x0] + [np.float32(v) for v in rng.normal(float(end), 1 + abs(float(end)), 4)]
            for side in (np.inf, -np.inf):
                v = x0
                for _ in range(4):
                    v = np.nextafter(v, np.float32(side), dtype=np.float32)
                    xs.append(v)
            xs = np.array(xs, dtype=np.float32)
            diff = [(Fraction(float(v)) - end) * (-1 if flip else 1) for v in xs]
            naive = np.sign(xs - (np.float32(float(b)) + np.float32(float(k)) * d))
            wrong_in_float32 += int((naive != np.sign([float(v) for v in diff]) * (-1 if flip else 1)).sum())
            ties += sum(v == 0 for v in diff)
            for op, fn in ops.items():
                want = np.array([fn(v, 0) for v in diff])

                def cond(u, de, a=a, c=c, r=r, op=op):
                    return scope["_exact_condition"](u, de, a, c, r, op)
                for de in (jnp.float32(d), jnp.full(xs.shape, d, dtype=jnp.float32)):
                    for got in (cond(jnp.asarray(xs), de), jax.jit(cond)(jnp.asarray(xs), de)):
                        got = np.asarray(got)
                        assert (got == want).all(), (b, k, d, op, flip, de.shape, xs[got != want])
    assert wrong_in_float32 > 10 and ties > 0, (wrong_in_float32, ties)


# ---------------------------------------------------------------- arguments, standalone modules
def test_bad_arguments_are_refused_with_a_message():
    x = jnp.zeros(3)
    with pytest.raises(ValueError, match="delta must be positive"):
        nonlocal_activation(x, "relu", "sign", -0.1)
    with pytest.raises(TypeError, match="floating-point JAX or NumPy array"):
        nonlocal_activation(jnp.zeros(3, dtype=jnp.int32), "relu", "sign", 0.1)
    with pytest.raises(TypeError, match="delta must be"):
        nonlocal_derivative(x, "relu", "sign", "0.1")


def test_codegen_backend_jax_writes_a_module_that_needs_only_jax(tmp_path):
    from nonlocal_calc.cli import main

    out = tmp_path / "elu_linear_jax.py"
    assert main(["codegen", "elu", "--kernel", "linear", "--backend", "jax", "-o", str(out)]) == 0
    code = ("import json, sys, jax\njax.config.update('jax_enable_x64', True)\n"
            "import jax.numpy as jnp, elu_linear_jax as m\n"
            "x = jnp.array([-0.3, 0.0, 0.2])\n"
            "g = jax.grad(lambda v: m.nonlocal_activation(v, 0.5).sum())(x)\n"
            "print(json.dumps([g.tolist(), any(k.startswith(('nonlocal_calc', 'torch', 'numba')) "
            "for k in sys.modules)]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    grads, imported = json.loads(r.stdout)
    want = nlc.derive("elu", "linear").ufunc()(np.array([-0.3, 0.0, 0.2]), 0.5)
    np.testing.assert_allclose(grads, want, rtol=1e-13)
    assert imported is False


def test_a_pair_first_used_inside_jit_is_built_and_planned_outside_the_trace(tmp_path):
    code = ("import jax, jax.numpy as jnp\nfrom nonlocal_calc.jax import nonlocal_activation\n"
            "g = jax.jit(jax.grad(lambda v: nonlocal_activation(v, 'relu', 'sign', 0.1).sum()))\n"
            "print(g(jnp.array([-1.0, -0.05, 0.05])).tolist())\n")
    env = dict(os.environ, NONLOCAL_CALC_CACHE=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == "[0.0, 0.125, 0.875]\n"
