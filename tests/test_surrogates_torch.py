"""The spike function of kernels from surrogate gradients against the backward of snnTorch and norse (skipped
without torch; each library's tests skipped without it)."""

from __future__ import annotations

import math

import mpmath
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import profiles, surrogates
from nonlocal_calc.symbols import x

ATAN = "1/(1 + (pi*x)**2)"

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
