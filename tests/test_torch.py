"""nonlocal_calc.torch: backward = D_mu f against the float64 ufunc, gradients of the backward against finite
differences, torch.func, torch.compile, low-precision dtypes, surrogate gradients."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import sympy as sp
from conftest import KINK_PAIRS, grid, points_across_in_float32
from independent import dirac_pair, parse

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[torch]')")

import nonlocal_calc as nlc  # noqa: E402
from nonlocal_calc.activations import Activation  # noqa: E402
from nonlocal_calc.codegen.accuracy import DELTAS, grid_x  # noqa: E402
from nonlocal_calc.derivation import COVERAGE_KERNELS  # noqa: E402
from nonlocal_calc.torch import NonlocalActivation, nonlocal_activation, pair, spike  # noqa: E402

#: The pairs of the accuracy table (docs/ufuncs.md): the coverage kernels and the Gaussian.
ALL_PAIRS = [(a, k) for a in nlc.activations.names() for k in (*COVERAGE_KERNELS, "gaussian")]
#: Checked on every run: closed forms printed as torch code (relu, tanh, binary_step, elu...), values by the
#: quadrature (cells with cancellation, polylogarithms, no closed form), kinks under singular kernels.
SAMPLE = [("relu", "sign"), ("tanh", "sign"), ("silu", "sign"), ("gelu", "sign"), ("elu", "linear"),
          ("softsign", "power(-1/2)"), ("softplus", "power(2)"), ("binary_step", "power(-1/2)"),
          ("leaky_relu", "dirac_pair"), ("logistic", "power(-1/2)"), ("arctan", "linear")]
PAIRS = grid(SAMPLE, ALL_PAIRS)  # the others in the slow layer (conftest.grid)
RTOL = 1e-13


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


def _grad(act, ker, xs, d, dtype=torch.float64):
    """The backward for a number delta (the quadrature's order planned for it)."""
    x = torch.tensor(xs, dtype=dtype, requires_grad=True)
    nonlocal_activation(x, act, ker, d).sum().backward()
    return x.grad


@pytest.mark.parametrize("act,ker", PAIRS)
def test_backward_equals_the_float64_ufunc_on_the_accuracy_grid(derived, act, ker):
    D, u = derived(act, ker)
    worst, at = 0.0, None
    for d in DELTAS:
        xs = np.array(grid_x(d, 6))
        want = u(xs, d)
        got = _grad(act, ker, xs, d).numpy()
        assert np.isfinite(got).all() and np.isfinite(want).all()
        err = np.abs(got - want) / np.maximum(np.abs(want), 1e-2)
        i = int(np.argmax(err))
        if err[i] > worst:
            worst, at = float(err[i]), (float(xs[i]), d, float(got[i]), float(want[i]))
    assert worst <= RTOL, f"{act}/{ker}: worst relative error {worst:.2e} at x, delta, torch, ufunc = {at}"


#: x inside and outside the horizons of JUMP_DELTAS (the jump of binary_step at 0: its term is J rho(|x|))
JUMP_X = np.array([-0.7, -0.2, 0.05, 0.3, 0.9, 1.5])
JUMP_DELTAS = (0.5, 1.0, 2.0)


@pytest.mark.parametrize("act", ["binary_step", "tanh"])
def test_the_gaussian_kernel_against_the_ufunc(derived, act):
    # binary_step: the jump's term in d/dx and d/ddelta of D_mu f differentiates the stable rho, an expm1 (the module
    # did not build); tanh: without kinks, the weight's torch.expm1 was called on a Python float (did not load)
    D, u = derived(act, "gaussian")
    for d in JUMP_DELTAS:
        want = u(JUMP_X, d)
        got = _grad(act, "gaussian", JUMP_X, d).numpy()
        err = np.abs(got - want) / np.maximum(np.abs(want), 1e-2)
        assert err.max() <= RTOL, f"delta = {d}: torch {got}, ufunc {want}"
    x = torch.tensor(JUMP_X, requires_grad=True, dtype=torch.float64)
    d = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(nonlocal_activation(x, act, "gaussian", d).sum(), x, create_graph=True)
    gxx, gd = torch.autograd.grad(gx.sum(), (x, d))
    h = 1e-5
    fx = (u(JUMP_X + h, 0.8) - u(JUMP_X - h, 0.8)) / (2 * h)
    fd = (u(JUMP_X, 0.8 + h) - u(JUMP_X, 0.8 - h)).sum() / (2 * h)
    np.testing.assert_allclose(gxx.numpy(), fx, rtol=1e-8, atol=1e-8)
    assert abs(gd.item() - fd) <= 1e-8 * max(1.0, abs(fd))


@pytest.mark.parametrize("act,ker", [("relu", "sign"), ("gelu", "sign")])
def test_forward_is_the_activation(derived, act, ker):
    D, _ = derived(act, ker)
    xs = np.array([-30.0, -2.5, -0.3, 0.0, 0.2, 1.7, 40.0])
    f = sp.lambdify(nlc.x, D.activation.expr, "mpmath")
    x = torch.tensor(xs, dtype=torch.float64)
    got = nonlocal_activation(x, act, ker, 0.1).numpy()
    np.testing.assert_allclose(got, [float(f(v)) for v in xs], rtol=1e-15, atol=1e-300)


# ---------------------------------------------------------------- gradients of the backward
#: x away from the kinks of D (at b and b +- delta for a kink b of f: finite differences cross them otherwise)
GRAD_X = [-1.3, -0.71, -0.23, -0.05, 0.04, 0.27, 0.62, 1.9]


@pytest.mark.parametrize("act,ker", [("relu", "sign"), ("gelu", "sign"), ("softsign", "power(-1/2)"),
                                     ("elu", "linear"), ("binary_step", "power(2)"), ("tanh", "dirac_pair")])
def test_gradcheck_of_the_backward_and_double_backward_with_delta(act, ker):
    x = torch.tensor(GRAD_X, dtype=torch.float64, requires_grad=True)
    d = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    p = pair(act, ker)
    # the derivative D_mu f(x, delta) against finite differences in x and in delta
    assert torch.autograd.gradcheck(p.Derivative.apply, (x, d), eps=1e-6, atol=1e-7, rtol=1e-6)

    # the activation's backward (x, delta) -> w D_mu f as autograd computes it (create_graph: the double backward
    # of the activation), differentiated again against finite differences. (The activation itself is not checked
    # against finite differences of f: its backward is D_mu f, not f', on purpose; so the weights w are constants.)
    w = torch.cos(x.detach())

    def backward(v, dv):
        return torch.autograd.grad((p.Activation.apply(v, dv) * w).sum(), v, create_graph=True)[0]

    assert torch.autograd.gradcheck(backward, (x, d), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_delta_gradient_through_create_graph_equals_finite_differences_of_the_ufunc(derived):
    D, u = derived("silu", "sign")
    xs = np.array([-2.0, -0.4, 0.1, 0.9, 3.0])
    x = torch.tensor(xs, requires_grad=True, dtype=torch.float64)
    d = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(nonlocal_activation(x, "silu", "sign", d).sum(), x, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), u(xs, 0.3), rtol=1e-13)
    (gd,) = torch.autograd.grad(gx.sum(), d)
    h = 1e-5
    fd = (u(xs, 0.3 + h) - u(xs, 0.3 - h)).sum() / (2 * h)
    assert abs(gd.item() - fd) <= 1e-8 * max(1.0, abs(fd))


# ---------------------------------------------------------------- torch.func, compile, dtypes
def test_torch_func_grad_and_vmap(derived):
    D, u = derived("gelu", "sign")
    xs = np.linspace(-3, 3, 13)
    x = torch.tensor(xs, dtype=torch.float64)
    f = lambda v: nonlocal_activation(v, "gelu", "sign", 0.25)  # noqa: E731
    g = torch.func.grad(lambda v: f(v).sum())(x)
    gv = torch.func.vmap(torch.func.grad(f))(x)
    want = u(xs, 0.25)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-13)
    np.testing.assert_allclose(gv.numpy(), want, rtol=1e-13)
    # the second derivative through torch.func as well (grad of grad)
    gg = torch.func.vmap(torch.func.grad(torch.func.grad(f)))(x)
    np.testing.assert_allclose(gg.numpy(), pair("gelu", "sign").derivs(x, torch.tensor(0.25,
                               dtype=torch.float64))[0].numpy(), rtol=1e-14)


def test_vmap_over_delta_and_its_gradient(derived):
    """One delta per vmapped example: the backward, and the gradient of its sum with respect to delta (through
    torch.func.grad of torch.func.grad), against the ufunc and its central differences in delta."""
    D, u = derived("silu", "sign")
    m = pair("silu", "sign")
    x = torch.linspace(-2, 1, 5, dtype=torch.float64)
    ds = torch.tensor([0.1, 0.3, 0.7], dtype=torch.float64)

    def gsum(d):
        return torch.func.grad(lambda v: m.Activation.apply(v, d).sum())(x).sum()

    xs, h = x.numpy(), 1e-6
    want = [u(xs, float(d)).sum() for d in ds]
    np.testing.assert_allclose(torch.func.vmap(gsum)(ds).numpy(), want, rtol=1e-13)
    fd = [(u(xs, float(d) + h).sum() - u(xs, float(d) - h).sum()) / (2 * h) for d in ds]
    np.testing.assert_allclose(torch.func.vmap(torch.func.grad(gsum))(ds).numpy(), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("act,ker", [("relu", "sign"), ("silu", "sign")])
def test_compile_fullgraph_gives_the_eager_gradients(act, ker):
    m = NonlocalActivation(act, ker, delta=0.2).double()
    x0 = torch.linspace(-2, 2, 41, dtype=torch.float64)

    def run(fn):
        x = x0.clone().requires_grad_(True)
        (fn(x) * torch.cos(x)).sum().backward()
        return x.grad

    torch._dynamo.reset()
    eager, compiled = run(m), run(torch.compile(m, fullgraph=True))
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("act,ker", [("tanh", "sign"), ("gelu", "sign"), ("softsign", "power(-1/2)")])
def test_float32_and_low_precision(derived, act, ker):
    """float32 within the float32 target of the ufuncs (2e-6 relative, of max(|v|, 1e-2)), against the float64
    ufunc at the float32-rounded inputs, on the accuracy grid (float32 has its own quadrature orders);
    float16 and bfloat16 computed in float32 and rounded once."""
    D, u = derived(act, ker)
    for d in (1e-4, 0.1, 0.2, 1.0):
        # the accuracy grid, and a dense grid (GELU's f' changes sign near x = -0.75: summed in float32, the
        # quadrature was 2.3e-6 off at x = -0.776, delta = 0.2)
        xs = np.array(grid_x(d, 6) + list(np.linspace(-4, 4, 801)), dtype=np.float32).astype(np.float64)
        d32 = float(np.float32(d))
        want = u(xs, d32)
        g32 = _grad(act, ker, xs, d32, torch.float32)
        assert g32.dtype == torch.float32
        err = np.abs(g32.double().numpy() - want) / np.maximum(np.abs(want), 1e-2)
        assert err.max() <= 2e-6, (d, xs[err.argmax()], err.max())
    xs = np.linspace(-4, 4, 33)
    for dt, ulp in ((torch.float16, 2.0**-11), (torch.bfloat16, 2.0**-8)):
        g = _grad(act, ker, xs, 0.5, dt)
        assert g.dtype == dt
        x = torch.tensor(xs, dtype=dt).double().numpy()
        want = u(x, 0.5)
        # rounded once from float32: half an ulp of the low-precision type, plus the float32 error
        assert np.all(np.abs(g.double().numpy() - want) <= ulp * np.abs(want) + 2e-6 * np.maximum(np.abs(want), 1e-2)
                      + 6e-8)  # (float16 below 6e-5: subnormal, steps of 6e-8)


@pytest.mark.parametrize("act,kinks", KINK_PAIRS)
def test_float32_cell_choice_at_a_kink_away_from_zero(act, kinks):
    """Float32 x within rounding of a cell end ``b +- delta`` (b != 0): the closed form chose its cell by ``x < b +-
    delta`` computed in float32 and took the wrong side's formula (1.0 where D = 0.99979820 for Max(x - 1/3, 0) at
    x = 0.33334136, delta = 8.03e-6), and computed x - 1/3 with 1/3 rounded to float32 (0.99917966 once the cell was
    right). Against the central difference (dirac_pair) of f at 40 digits (:mod:`independent`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        act_obj = Activation.from_expr(act)
    f = parse(act)
    for dv in (8.03e-6, 1e-4, 0.0123):
        d = np.float32(dv)
        xs = [xv for b in kinks for xv in points_across_in_float32(sp.Rational(b), d)]
        assert xs, (act, dv)  # (else the test checks nothing)
        want = np.array([float(dirac_pair(f, xv, float(d))) for xv in xs])
        got = _grad(act_obj, "dirac_pair", xs, float(d), torch.float32).double().numpy()
        err = np.abs(got - want) / np.maximum(np.abs(want), 1e-2)
        assert err.max() <= 2e-6, (act, float(d), xs[err.argmax()], got[err.argmax()], want[err.argmax()])


def _bfloat16_points_across(b: sp.Rational, dv: float) -> list[tuple[float, float]]:
    """(x, d): a bfloat16 x near ``b +- dv`` and a float32 d (within 400 ulps of |x - b|) for which ``x < b +- d``
    computed in float32 (as the package computes bfloat16 data) and exactly disagree."""
    out = []
    for s in (1, -1):
        x0 = float(torch.tensor(float(b + s * sp.Rational(dv)), dtype=torch.bfloat16))
        d0 = np.float32(abs(float(sp.Rational(x0) - b)))
        for toward in (np.inf, 0.0):
            d = d0
            for _ in range(400):
                d = np.nextafter(d, np.float32(toward), dtype=np.float32)
                rounded = np.float32(np.float32(s) * d + np.float32(float(b)))
                if (np.float32(x0) < rounded) != (sp.Rational(x0) < b + s * sp.Rational(float(d))):
                    out.append((x0, float(d)))
                    break
    return out


def test_bfloat16_cell_choice_under_autocast():
    """bfloat16 data (under CPU autocast) computes in float32: a bfloat16 x within float32 rounding of a cell end
    took the wrong cell there too. Max(x - 1/3, 0) with dirac_pair at x = 0.33203125, delta = 0.0013020833:
    -3.8e-6 where D = 0 (x is just below 1/3 - delta); the horizons are searched for such x, since bfloat16 x are
    sparse. Against the central difference at 40 digits, rounded once to bfloat16."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        act_obj = Activation.from_expr("Max(x - 1/3, 0)")
    f = parse("Max(x - 1/3, 0)")
    points = [p for dv in (1e-3, 1e-2) for p in _bfloat16_points_across(sp.Rational(1, 3), dv)]
    assert len(points) >= 4, points  # (else the test checks little)
    for x0, d in points:
        act = NonlocalActivation(act_obj, "dirac_pair", delta=d)
        x = torch.tensor([x0], dtype=torch.bfloat16, requires_grad=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = act(x)
        y.float().sum().backward()
        assert x.grad.dtype == torch.bfloat16
        got, want = x.grad.item(), float(dirac_pair(f, x0, d))
        assert abs(got - want) <= 2.0**-8 * abs(want) + 2e-6 * max(abs(want), 1e-2), (x0, d, got, want)


def test_eager_blocks_give_the_values_of_one_call(monkeypatch):
    """Large tensors are evaluated block by block in eager mode: bit for bit the values of one call (elementwise
    formulas), for the value, both derivatives and the activation, with a shape that is not a multiple of the
    block (the compiled evaluation switched off: tests/test_torch_fused.py)."""
    monkeypatch.setenv("NLC_TORCH_FUSE", "0")
    m = pair("gelu", "sign")
    x = torch.linspace(-6, 6, 7 * (2**14 + 3), dtype=torch.float64).reshape(-1, 7)[:, :5].contiguous()
    d = torch.tensor(0.3, dtype=torch.float64)
    assert x.numel() > 4 * m.BLOCK_BYTES // 8
    with torch.no_grad():
        assert torch.equal(m.Derivative.apply(x, d, 6), m.value(x, d, 6))
        assert torch.equal(m.Activation.apply(x, d), m.activation(x))
        for a, b in zip(m._blocks(m.derivs, x, d, 6), m.derivs(x, d, 6)):
            assert torch.equal(a, b)


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int32 if t.dtype == torch.float32 else torch.int64)


def test_branch_free_select_gives_the_bits_of_torch_where(monkeypatch):
    """The eager select of the generated modules (``_where``: the floats' bits chosen by integer operations, no
    branch per element) gives torch.where's bits, dtype and shape: mixed conditions, NaN, infinities, -0.0,
    numbers for a side, broadcasting, a condition of one element."""
    m = pair("relu", "sign")
    gen = torch.Generator().manual_seed(3)
    for dtype in (torch.float32, torch.float64):
        a = torch.randn(64, 128, generator=gen, dtype=dtype)
        a[0, :4] = torch.tensor([math.nan, math.inf, -math.inf, -0.0], dtype=dtype)
        b = torch.randn(128, generator=gen, dtype=dtype)  # broadcast along the rows
        c = torch.rand(64, 128, generator=gen) < 0.5
        cases = [(c, a, b), (c, a, 0.0), (c, -0.0, b), (c, b, math.nan), (c, a, torch.tensor(2.5)),
                 (torch.tensor(True), a, math.nan), (torch.tensor([False]), b, 1.0), (c[:1], a, b)]
        with torch.no_grad():
            want = [torch.where(*args) for args in cases]
            with monkeypatch.context() as mp:  # the large conditions must not reach torch.where
                mp.setattr(m.torch, "where", lambda *args: pytest.fail("torch.where called"))
                got = [m._where(*args) for args in cases[:-1]]
            got.append(m._where(*cases[-1]))
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape and torch.equal(_bits(g), _bits(w))


@pytest.mark.parametrize("act,ker", [("relu", "sign"), ("silu", "sign")])
def test_values_without_autograd_are_those_with_autograd(act, ker, monkeypatch):
    """D_mu f and its derivatives computed without autograd (the branch-free select, in blocks) are bit for bit
    those computed while autograd records (torch.where, one call); the compiled evaluation switched off."""
    monkeypatch.setenv("NLC_TORCH_FUSE", "0")
    m = pair(act, ker)
    for dtype in (torch.float32, torch.float64):
        x = torch.linspace(-1, 1, 100003, dtype=dtype) ** 3
        d = torch.tensor(0.3, dtype=dtype)
        with torch.no_grad():
            n = m.order_for(0.3, dtype)
            fast = [m.Derivative.apply(x, d, n), *m._blocks(m.derivs, x, d, n)]
        xr = x.clone().requires_grad_(True)
        slow = [m.value(xr, d, n), *m.derivs(xr, d, n)]
        for f, s in zip(fast, slow):
            assert torch.equal(_bits(f), _bits(s.detach()))


@pytest.mark.parametrize("act", ["identity", "relu", "silu"])
def test_outputs_are_new_tensors_of_the_broadcast_shape(act):
    """The printed functions leave out the zeros that broadcast them where x and delta appear in them: the outputs
    still have the shape of x and delta broadcast together, and are never x itself (identity's f = x)."""
    m = pair(act, "sign")
    x = torch.linspace(-1, 1, 5, dtype=torch.float64)
    d = torch.tensor([[0.1], [0.5], [2.0]], dtype=torch.float64)
    with torch.no_grad():
        y = m.Activation.apply(x, d)
        assert y.shape == x.shape and y.data_ptr() != x.data_ptr()
        assert m.Derivative.apply(x, d).shape == (3, 5)
        assert all(t.shape == (3, 5) for t in m.derivs(x, d))


def test_under_cpu_autocast_bfloat16():
    """Under autocast the activation receives bfloat16 (a linear layer's output), computes in float32 and returns
    bfloat16; its backward is D_mu f of those bfloat16 values, rounded once."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 16)
    act = NonlocalActivation("silu", "sign", delta=1.0)  # (D_mu silu differs from silu' by up to 0.024 here)
    x = torch.randn(32, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = lin(x)
        h.retain_grad()
        y = act(h)
    assert h.dtype == torch.bfloat16 and y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert lin.weight.grad.dtype == torch.float32 and torch.isfinite(lin.weight.grad).all()
    want = pair("silu", "sign").value(h.detach().double(), torch.tensor(1.0, dtype=torch.float64))
    np.testing.assert_allclose(h.grad.double().numpy(), want.numpy(), rtol=2.0**-8, atol=1e-6)


# ---------------------------------------------------------------- surrogate gradients
@pytest.mark.parametrize("ker", ["sign", "linear", "power(2)", "power(-1/2)"])
def test_spike_is_heaviside_with_rho_as_gradient(ker):
    s = spike(ker, delta=0.8)
    xs = np.array([-1.0, -0.79, -0.3, -0.01, 0.02, 0.4, 0.75, 2.0])
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = s(x)
    y.sum().backward()
    assert y.tolist() == [float(v >= 0) for v in xs]
    rho = sp.lambdify((nlc.z, nlc.delta), nlc.kernels.get(ker).rho, "mpmath")
    np.testing.assert_allclose(x.grad.numpy(), [float(rho(v, 0.8)) if abs(v) < 0.8 else 0.0 for v in xs],
                               rtol=1e-13, atol=1e-16)


def test_bad_arguments_are_refused_with_a_message():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="delta must be positive"):
        nonlocal_activation(x, "relu", "sign", -0.1)
    with pytest.raises(TypeError, match="floating-point torch tensor"):
        nonlocal_activation(np.zeros(3), "relu", "sign", 0.1)
    with pytest.raises(TypeError, match="delta must be"):
        NonlocalActivation("relu", "sign", delta="0.1")


def test_the_package_never_imports_torch():
    code = ("import sys, warnings\nimport nonlocal_calc as nlc\nwarnings.simplefilter('ignore')\n"
            "D = nlc.derive('relu', 'sign'); nlc.codegen.make_ufunc(D)\n"
            "nlc.convergence.study(D, x=0.3); nlc.audit.poster()\n"
            "print('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout == "False\n", r.stderr


def test_codegen_backend_torch_writes_a_module_that_needs_only_torch(tmp_path):
    from nonlocal_calc.cli import main

    out = tmp_path / "elu_linear_torch.py"
    assert main(["codegen", "elu", "--kernel", "linear", "--backend", "torch", "-o", str(out)]) == 0
    code = ("import json, sys, torch, elu_linear_torch as m\n"
            "x = torch.tensor([-0.3, 0.0, 0.2], dtype=torch.float64, requires_grad=True)\n"
            "m.Activation.apply(x, torch.tensor(0.5, dtype=torch.float64)).sum().backward()\n"
            "print(json.dumps([x.grad.tolist(), any(k.startswith('nonlocal_calc') for k in sys.modules)]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    grads, imported = json.loads(r.stdout)
    want = nlc.derive("elu", "linear").ufunc()(np.array([-0.3, 0.0, 0.2]), 0.5)
    np.testing.assert_allclose(grads, want, rtol=1e-13)
    assert imported is False
