"""Kernels from surrogate gradients: D_mu H gives the profile back, moments against mpmath quadrature, refusals,
and (with snnTorch / norse installed) the spike function's backward against the libraries' backward."""

from __future__ import annotations

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


def test_surrogates_page_is_fresh(tmp_path):
    import importlib.util
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    spec = importlib.util.spec_from_file_location("docs_generate", docs / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.surrogates(tmp_path)
    committed = docs / "generated" / "surrogates.md"
    assert committed.read_text() == (tmp_path / "surrogates.md").read_text(), \
        "docs/generated/surrogates.md is stale: run `python docs/generate.py surrogates`"


def test_catalogue_refuses_what_is_not_a_profile():
    refused = {s.name: s.refusal() for s in surrogates.CATALOGUE if s.refusal() is not None}
    assert set(refused) == {"spike_rate_escape", "triangular", "straight_through_estimator", "heaviside"}
    assert "not integrable" in refused["straight_through_estimator"]
    assert all("not even" in refused[n] for n in ("spike_rate_escape", "triangular", "heaviside"))


@pytest.mark.parametrize("text, phi", [
    ("exp(-abs(x))/2", lambda w: 1 / (1 + w**2)),          # Laplace: error 2nd order
    ("1/(pi*(1 + x**2))", lambda w: mpmath.exp(-w)),        # Cauchy: error 1st order
])
def test_smoothing_error_against_the_fourier_transform(text, phi):
    rho = profiles.parse(text)
    for w in ("0.01", "0.3"):
        with mpmath.workdps(30):
            want = 1 - phi(mpmath.mpf(w))
        assert abs(surrogates.smoothing_error(rho, w) - want) < 1e-15 * want
    m3 = profiles.line_moment(rho, 3)
    assert surrogates.predicted_order(rho, m3) == ("2" if m3 is not sp.oo else "1")
    assert abs(surrogates.measured_order(rho) - float(surrogates.predicted_order(rho, m3))) < 0.01
