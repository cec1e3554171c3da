"""Kernels from surrogate gradients: D_mu H gives the profile back, moments against mpmath quadrature, refusals,
and (with snnTorch / norse installed) the spike function's backward against the libraries' backward."""

from __future__ import annotations

import math

import mpmath
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import profiles, surrogates
from nonlocal_calc.symbols import delta, x, z

TRIANGLE = "(1 - abs(x)/delta)/delta"
ATAN = "1/(1 + (pi*x)**2)"
SIGMOID = "25*exp(-25*x)/(exp(-25*x) + 1)**2"


def _raw(text: str):
    """The typed formula as an mpmath function of (x, delta), from SymPy's own parser (not the package's)."""
    return sp.lambdify((x, delta), sp.sympify(text.replace("abs", "Abs"), locals={"x": x, "delta": delta}), "mpmath")


def _quad_moment(mu, k: int, d) -> mpmath.mpf:
    """2 int_0^d z**k mu(z) dz, the defining integral of M_k (d may be mpmath.inf)."""
    cuts = [0, d] if d != mpmath.inf else [0, 1, 10, 100, mpmath.inf]
    return 2 * mpmath.quad(lambda t: t**k * mu(t), cuts)


@pytest.mark.parametrize("text", [TRIANGLE, "3*(delta**2 - x**2)/(4*delta**3)"])
def test_profile_on_the_horizon_is_rho_and_D_mu_H(text):
    kernel = nlc.Kernel.from_surrogate(text)
    r = _raw(text)
    D = nlc.derive("binary_step", kernel)
    with mpmath.workdps(30):
        for d in ("0.3", "1", "2.5"):
            for xv in ("-0.93", "-0.41", "0.0731", "0.5", "0.999"):
                xx, dd = mpmath.mpf(xv) * mpmath.mpf(d), mpmath.mpf(d)
                want = r(xx, dd)
                assert abs(D.evaluate(xx, dd, dps=30) - want) < mpmath.mpf(10) ** -25 * (1 + abs(want))
                rho = sp.lambdify((z, delta), kernel.rho, "mpmath")(xx, dd)
                assert abs(rho - want) < mpmath.mpf(10) ** -25 * (1 + abs(want))
            mu = sp.lambdify((z, delta), kernel.mu_plus, "mpmath")
            for k in (1, 3, 5):
                got = sp.lambdify(delta, kernel.moment(k), "mpmath")(mpmath.mpf(d))
                assert abs(got - _quad_moment(lambda t, d=d, mu=mu: mu(t, mpmath.mpf(d)), k, mpmath.mpf(d))) < 1e-20
    assert kernel.normalize and kernel.moment(1) == 1


def test_whole_line_surrogate_truncated_on_a_finite_horizon():
    """rho = r(x) - r(delta) on (-delta, delta): D_mu H by the engine, the kernel's moments by quadrature."""
    kernel = nlc.Kernel.from_surrogate(ATAN)
    assert not kernel.normalize and kernel.info["support"] == "line" and kernel.info["integral"] == 1
    assert delta not in kernel.mu_plus.free_symbols
    r = _raw(ATAN)
    D = nlc.derive("binary_step", kernel)
    mu = sp.lambdify(z, kernel.mu_plus, "mpmath")
    with mpmath.workdps(30):
        for d in (mpmath.mpf("0.7"), mpmath.mpf(3)):
            for xv in ("-2.9", "-0.5", "0.013", "0.6"):
                xx = mpmath.mpf(xv) if abs(mpmath.mpf(xv)) < d else mpmath.mpf(xv) / 5
                want = r(xx, d) - r(d, d)
                assert abs(D.evaluate(xx, d, dps=30) - want) < mpmath.mpf(10) ** -25
            for k in (1, 3):
                got = sp.lambdify(delta, kernel.moment(k), "mpmath")(d)
                assert abs(got - _quad_moment(mu, k, d)) < 1e-20 * abs(got)
            # the first moment is the integral of the truncated profile: below 1 and tending to it
            assert 0 < sp.lambdify(delta, kernel.moment(1), "mpmath")(d) < 1


@pytest.mark.parametrize("text, moments", [
    (ATAN, {1: 1, 3: sp.oo}),
    (SIGMOID, {1: 1, 3: sp.pi**2 / 625}),
    ("exp(-abs(x))/2", {1: 1, 3: 6, 5: 120}),
])
def test_moments_at_the_infinite_horizon(text, moments):
    r = _raw(text)
    mu = sp.lambdify(z, nlc.Kernel.from_surrogate(text).mu_plus, "mpmath")
    with mpmath.workdps(30):
        for k, want in moments.items():
            got = profiles.line_moment(profiles.parse(text), k)
            if want is sp.oo:
                assert got is sp.oo
                continue
            quad = _quad_moment(mu, k, mpmath.inf)  # int z^k mu, the definition (not the by-parts form)
            by_parts = 2 * k * mpmath.quad(lambda t, k=k: t ** (k - 1) * r(t, 1), [0, 1, 10, 100, mpmath.inf])
            assert abs(mpmath.mpf(sp.N(got, 30)) - quad) < 1e-20 * abs(quad)
            assert abs(mpmath.mpf(sp.N(want, 30)) - quad) < 1e-20 * abs(quad)
            assert abs(by_parts - quad) < 1e-20 * abs(quad)


def test_sigmoid_third_moment_closed_form():
    """M_3 = 3 int x^2 rho = 3 Var of the logistic distribution of scale 1/25 = 3 pi^2/(3 * 625) = pi^2/625."""
    got = profiles.line_moment(profiles.parse(SIGMOID), 3)
    assert abs(sp.N(got - sp.pi**2 / 625, 30)) < 1e-25


@pytest.mark.parametrize("text, normalize, words", [
    ("exp(-abs(x - 1))", False, "is not even"),
    ("(x**2 - 1/4)*exp(-x**2)", False, "is negative at x = 0"),
    ("1/(1 + 25*abs(x))**2", True, "integrates to 2/25, not 1"),
    ("1/(1 + abs(x))", False, "is not integrable over the line"),
    ("1", False, "is not integrable over the line"),
    ("1/(2*delta)", True, "does not vanish at the horizon"),
    ("max(0, 1 - abs(x))", False, "vanishes at x = 1.3"),
    ("x*exp(-x**2)", False, "is not even"),
    ("__import__('os')", True, "cannot parse"),
])
def test_refusals_name_the_problem(text, normalize, words):
    with pytest.raises(nlc.kernels.KernelError, match=words):
        nlc.Kernel.from_surrogate(text, normalize=normalize)


def test_unnormalized_profile_kept_as_it_is():
    k = nlc.Kernel.from_surrogate("1/(1 + 25*abs(x))**2", normalize=False)
    assert k.info["integral"] == sp.Rational(2, 25)
    assert profiles.line_moment(k.info["surrogate"], 1) == sp.Rational(2, 25)


# ------------------------------------------------------------------ against the libraries
torch = pytest.importorskip("torch")
DTYPES = [torch.float32, torch.float64]


def _grid(dtype):
    dense = torch.linspace(-3, 3, 481, dtype=torch.float64)
    wide = torch.tensor([-1e3, -40.0, -12.5, -5.0, 5.0, 12.5, 40.0, 1e3, 1e-7, -1e-7, 0.0], dtype=torch.float64)
    return torch.cat([dense, wide]).to(dtype)


def _backward(fn, v):
    v = v.detach().clone().requires_grad_(True)
    fn(v).sum().backward()
    return v.grad


def _library(entry):
    if entry.library == "snntorch":
        surrogate = pytest.importorskip("snntorch.surrogate")
        args = {k: (float(v) if k == "alpha" else v) for k, v in entry.defaults.items()}
        return getattr(surrogate, entry.name)(**args)
    threshold = pytest.importorskip("norse.torch.functional.threshold")
    alpha = float(sp.nsimplify(entry.defaults["alpha"]))
    return lambda v: threshold.threshold(v, entry.name, alpha)


def _exact(entry, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The surrogate at the (rounded) inputs by mpmath at 40 digits, and its tolerance: 8 eps (1 + |x r'(x)/r(x)|),
    the condition number of r at x (the rounding of the first operation on x costs that much in any formula:
    exp(-(100 x)**2) at x = 0.075 amplifies it 113 times)."""
    r = entry.at_horizon()
    rf, drf = profiles.exact_function(r), profiles.exact_function(sp.diff(r, x))
    eps, tiny = torch.finfo(v.dtype).eps, torch.finfo(v.dtype).tiny
    exact, tol = [], []
    for t in v.double().tolist():
        inside = entry.horizon is None or abs(t) < entry.horizon
        val = rf(t) if inside else 0.0
        cond = abs(t * drf(t) / val) if inside and val != 0 and t != 0 else 0.0
        exact.append(val)
        tol.append(8 * eps * (1 + cond) * abs(val) + tiny * 2**24)
    return torch.tensor(exact, dtype=torch.float64), torch.tensor(tol, dtype=torch.float64)


ACCEPTED = [s for s in surrogates.CATALOGUE if s.refusal() is None]


@pytest.mark.parametrize("entry", ACCEPTED, ids=lambda s: f"{s.library}.{s.name}")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_spike_backward_matches_library(entry, dtype):
    """Ours is the surrogate to rounding (against mpmath, within the condition number of the formula) at every
    point; the library's is too at most points, and there the two agree. Where the library's own formula loses
    digits (cancellation in norse's tanh and circ, snnTorch's sigmoid overflowing, norse rounding sqrt(pi) to
    float32), it is the library that is off."""
    from nonlocal_calc.torch import spike

    fn = spike(entry.kernel(), delta=float("inf") if entry.horizon is None else entry.horizon)
    v = _grid(dtype)
    ours, theirs = _backward(fn, v).double(), _backward(_library(entry), v).double()
    exact, tol = _exact(entry, v)
    assert _backward(fn, v).dtype == dtype and torch.isfinite(ours).all()
    bad = (ours - exact).abs() > tol
    assert not bad.any(), (entry.name, v[bad][:5].tolist(), ours[bad][:5].tolist(), exact[bad][:5].tolist())
    library_right = (theirs - exact).abs() <= tol
    assert library_right.sum() >= 10  # (norse's tanh is right only for |x| < 0.19 in float64, 0.09 in float32)
    assert ((ours - theirs).abs() <= 2 * tol)[library_right].all()
    # the libraries' forward is x > 0 and ours x >= 0: the same step away from 0
    assert torch.equal(fn(v)[v != 0], _library(entry)(v)[v != 0].to(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_spike_backward_where_the_library_overflows_is_the_surrogate(dtype):
    """snnTorch's sigmoid returns 0 or NaN far below the threshold; the kernel's profile is finite, against
    mpmath."""
    from nonlocal_calc.torch import spike

    entry = surrogates.get("snntorch", "sigmoid")
    v = torch.tensor([-50.0, -20.0, -4.0, -2.0], dtype=dtype)
    ours = _backward(spike(entry.kernel(), delta=float("inf")), v)
    theirs = _backward(_library(entry), v)
    assert not torch.isfinite(theirs[0]) or theirs[0] == 0
    r = sp.lambdify(x, entry.rho, "mpmath")
    with mpmath.workdps(30):
        for got, t in zip(ours.tolist(), v.tolist()):
            want = float(r(mpmath.mpf(t)))
            assert abs(got - want) <= 8 * torch.finfo(dtype).eps * want + torch.finfo(dtype).tiny * 2**24


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_straight_through_estimator_is_the_dirac_pair_on_its_horizon(dtype):
    from nonlocal_calc.torch import spike

    entry = surrogates.get("snntorch", "straight_through_estimator")
    fn = spike(nlc.kernels.dirac_pair(normalize=False), delta=10.0)
    v = _grid(dtype)
    v = v[v.abs() < 10]
    assert torch.equal(_backward(fn, v), _backward(_library(entry), v))


def test_infinite_horizon_needs_a_whole_line_surrogate():
    from nonlocal_calc.torch import spike

    with pytest.raises(ValueError, match="surrogate on the whole line"):
        spike("sign", delta=float("inf"))


def test_infinite_spike_double_backward():
    from nonlocal_calc.torch import spike

    fn = spike(nlc.Kernel.from_surrogate(ATAN), delta=float("inf"))
    v = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn(v).sum(), v, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), v)
    want = [-2 * math.pi**2 * t / (1 + (math.pi * t) ** 2) ** 2 for t in (0.3, -0.7)]
    assert torch.allclose(h, torch.tensor(want, dtype=torch.float64), rtol=1e-14)
