"""nonlocal_calc.torch's compiled eager evaluation: large tensors outside torch.compile, without autograd
recording, are evaluated by a torch.compile'd copy of the printed functions (one fused loop).

The reference is the eager evaluation of the same formulas (``NLC_TORCH_FUSE=0``: blocks of torch operations,
checked against the float64 ufunc and finite differences in tests/test_torch.py). The two agree to rounding, not
bit for bit: Inductor's vectorized ``exp``, ``tanh`` and ``erf`` are not ATen's (torch.compile of ``torch.exp`` alone
differs from eager ``torch.exp`` by up to 1 ulp on 1 value in 12), so every result is compared within a few units
of the last place (``TOL``), the sums over the tensor (delta's gradient) within that bound summed over its terms.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[torch]')")

from nonlocal_calc.torch import nonlocal_activation, pair  # noqa: E402

#: Closed forms (relu, tanh), quadratures summed in float64 (silu, gelu) and a Gaussian-kernel quadrature.
PAIRS = [("relu", "sign"), ("tanh", "sign"), ("silu", "sign"), ("gelu", "sign"), ("relu", "gaussian")]
#: Units in the last place allowed between the fused and the eager results (measured: at most 2.5 for tanh/sign
#: in float32, 1.5 for the Gaussian pair), relative to max(|value|, 1): the quadratures' sums of terms of size 1
#: carry absolute, not relative, rounding.
TOL = 4

#: Elements of the test tensors: above FUSE_MIN (2^16), and not a multiple of a vector length.
N = (1 << 17) + 5


def _data(dtype):
    gen = torch.Generator().manual_seed(7)
    x = (torch.linspace(-1, 1, N, dtype=torch.float64) ** 3 * 4).to(dtype)  # dense near 0, where the cells are
    g = torch.rand(N, generator=gen, dtype=torch.float64).to(dtype)
    return x, g


def _close(fused: torch.Tensor, plain: torch.Tensor, scale=None) -> None:
    eps = torch.finfo(plain.dtype).eps
    bound = TOL * eps * (torch.maximum(plain.abs(), torch.ones_like(plain)) if scale is None else scale)
    err = (fused - plain).abs()
    assert fused.dtype == plain.dtype and fused.shape == plain.shape
    assert bool((err <= bound).all()), f"{(err / bound).max().item():.3g} x the bound"


def _backward(act, ker, x, g, delta):
    xx = x.clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(nonlocal_activation(xx, act, ker, delta), xx, g)
    return gx


@pytest.fixture
def fuse(monkeypatch):
    monkeypatch.setenv("NLC_TORCH_FUSE", "1")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("act,ker", PAIRS)
def test_fused_backward_is_the_eager_backward(act, ker, dtype, fuse, monkeypatch):
    """The backward of a large tensor (delta a number) by the compiled function equals the eager one within TOL
    ulp; it does go through the compiled function (GELU's, which stays eager on CPU, made to)."""
    m = pair(act, ker)
    monkeypatch.setattr(m, "_EAGER_DEVICES", ())
    x, g = _data(dtype)
    fused = _backward(act, ker, x, g, 0.3)
    assert m._grad_value in m._FUSED and not m._FUSE_FAILED
    monkeypatch.setenv("NLC_TORCH_FUSE", "0")
    _close(fused, _backward(act, ker, x, g, 0.3))


@pytest.mark.parametrize("act,ker,dtype", [("relu", "sign", torch.float32), ("silu", "sign", torch.float64)])
def test_fused_gradients_with_a_delta_that_requires_grad(act, ker, dtype, fuse, monkeypatch):
    """delta a tensor that requires grad and a penalty on the gradient (create_graph=True: the first backward
    records, the value of D and the second backward are compiled): x's and delta's gradients equal the eager ones
    (delta's, a sum over the tensor, within TOL ulp of the sum of its terms' magnitudes)."""
    m = pair(act, ker)
    x, g = _data(dtype)

    def grads():
        xx = x.clone().requires_grad_(True)
        d = torch.tensor(0.3, dtype=dtype, requires_grad=True)
        (gx,) = torch.autograd.grad(nonlocal_activation(xx, act, ker, d), xx, g, create_graph=True)
        (gx * gx).sum().backward()
        return gx.detach(), xx.grad, d.grad

    fused = grads()
    assert m._value_of in m._FUSED and m._grad_derivs in m._FUSED and not m._FUSE_FAILED
    monkeypatch.setenv("NLC_TORCH_FUSE", "0")
    plain = grads()
    _close(fused[0], plain[0])
    # x's gradient is 2 g gx * g d/dx D: the product of two results within TOL ulp
    _close(fused[1], plain[1], scale=2 * torch.maximum(plain[1].abs(), (2 * g * g).to(dtype)))
    with torch.no_grad():  # delta's: the sum of 2 g gx * g d/ddelta D over the tensor
        _, dd = m.derivs(x, torch.tensor(0.3, dtype=dtype), None)
        terms = (2 * g * g * (plain[0].abs() + 1) * (dd.abs() + 1)).sum()
    _close(fused[2], plain[2], scale=2 * terms)


def test_fused_derivative_value(fuse, monkeypatch):
    """``Derivative.apply`` (the value of D_mu f, a forward: never recorded) of a large tensor is compiled too;
    float16 data computed in float32 and rounded once: within one float16 ulp of the eager result (the float32
    values within TOL float32 ulp can round to neighbouring float16 numbers)."""
    m = pair("tanh", "sign")
    x, _ = _data(torch.float32)
    d = torch.tensor(0.3)
    fused = m.Derivative.apply(x, d, 3)
    half = m.Derivative.apply(x.half(), d, 3)
    monkeypatch.setenv("NLC_TORCH_FUSE", "0")
    _close(fused, m.Derivative.apply(x, d, 3))
    plain = m.Derivative.apply(x.half(), d, 3).float()
    assert half.dtype == torch.float16
    assert bool(((half.float() - plain).abs() <= 2.0**-10 * plain.abs() + 2.0**-24).all())


def test_a_compile_error_warns_once_and_falls_back(fuse, monkeypatch):
    """A torch.compile that fails (forced here: no working compiler) gives a RuntimeWarning naming the reason and
    the switch, once; the values are the eager ones bit for bit, and the module does not try again."""
    m = pair("relu", "sign")
    x, g = _data(torch.float32)
    calls = []

    def broken(fn, **kwargs):
        def run(*args):
            calls.append(fn.__name__)
            raise RuntimeError("no C++ compiler found (test)")
        return run

    monkeypatch.setattr(m, "_FUSED", {})
    monkeypatch.setattr(m, "_FUSE_FAILED", [])
    monkeypatch.setattr(m.torch, "compile", broken)
    with pytest.warns(RuntimeWarning, match=r"no C\+\+ compiler found \(test\).*NLC_TORCH_FUSE=0"):
        first = _backward("relu", "sign", x, g, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = _backward("relu", "sign", x, g, 0.3)
    assert calls == ["_grad_value"]
    monkeypatch.setattr(m, "_FUSE_FAILED", [])
    monkeypatch.setenv("NLC_TORCH_FUSE", "0")
    plain = _backward("relu", "sign", x, g, 0.3)
    assert torch.equal(first, plain) and torch.equal(second, plain)


@pytest.mark.parametrize("setting", ["0", "false", "off"])
def test_the_switch_and_small_tensors_stay_eager(setting, monkeypatch):
    """NLC_TORCH_FUSE=0 (or false, off) keeps large tensors eager, and tensors below FUSE_MIN are eager whatever
    it says: torch.compile is not called."""
    m = pair("relu", "sign")
    monkeypatch.setattr(m.torch, "compile", lambda *a, **k: pytest.fail("torch.compile called"))
    monkeypatch.setattr(m, "_FUSED", {})
    x, g = _data(torch.float32)
    monkeypatch.setenv("NLC_TORCH_FUSE", setting)
    big = _backward("relu", "sign", x, g, 0.3)
    monkeypatch.setenv("NLC_TORCH_FUSE", "1")
    small = _backward("relu", "sign", x[: m.FUSE_MIN - 1], g[: m.FUSE_MIN - 1], 0.3)
    assert torch.equal(small, big[: m.FUSE_MIN - 1])
    assert m._FUSED == {}
    # and it is D_mu relu for the sign kernel: (x + delta)^2 / (2 delta^2) on [-delta, 0], 1 - (delta - x)^2 /
    # (2 delta^2) on [0, delta]
    xs, d = x.double(), 0.3
    inner = torch.where(xs < 0, (xs + d) ** 2 / (2 * d * d), 1 - (d - xs) ** 2 / (2 * d * d))
    want = torch.where(xs.abs() < d, inner, (xs > 0).double()) * g.double()
    assert float((big.double() - want).abs().max()) <= 1e-6


def test_pairs_with_erf_stay_eager_on_cpu(fuse, monkeypatch):
    """A pair whose formulas call erf or erfc (GELU's) stays eager on CPU, where the compiled erfc is slower than
    eager torch's; the others are compiled."""
    assert pair("gelu", "sign")._EAGER_DEVICES == ("cpu",) and pair("silu", "sign")._EAGER_DEVICES == ()
    m = pair("gelu", "sign")
    monkeypatch.setattr(m.torch, "compile", lambda *a, **k: pytest.fail("torch.compile called"))
    monkeypatch.setattr(m, "_FUSED", {})
    x, g = _data(torch.float32)
    fused = _backward("gelu", "sign", x, g, 0.3)
    monkeypatch.setenv("NLC_TORCH_FUSE", "0")
    assert torch.equal(fused, _backward("gelu", "sign", x, g, 0.3))
