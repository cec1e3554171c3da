"""The surrogate gradients of snnTorch and norse, transcribed from their sources, as smoothing profiles.

Each :class:`LibrarySurrogate` holds the backward formula of one surrogate as its library computes it (with the
library's default parameters), and turns it into a kernel with :meth:`nonlocal_calc.Kernel.from_surrogate`
(``normalize=False``: the library's scale is kept, so that the kernel's gradient is the library's). Surrogates that
are not smoothing profiles (not even, negative, not integrable) are refused by the same checks, with the reason.
Compact surrogates of fixed width are written on their horizon (``horizon``: the delta at which the kernel's
profile is the library's). The versions transcribed are :data:`VERSIONS`.

>>> s = get("snntorch", "atan")
>>> s.rho
1/(pi**2*x**2 + 1)
>>> s.kernel().info["integral"]
1
>>> get("snntorch", "spike_rate_escape").refusal()[:40]
'profile 25*exp(-Abs(x - 1)) is not even:'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import mpmath
import sympy as sp

from .kernels import Kernel, KernelError
from .parsing import exact_number, parse_expr
from .symbols import delta, x

#: The library versions whose sources the formulas are transcribed from.
VERSIONS = {"snntorch": "1.0.0", "norse": "1.1.0"}


@dataclass(frozen=True, eq=False)
class LibrarySurrogate:
    """One library surrogate: ``call`` (how it is made, with its defaults), ``formula`` (its backward factor in x
    and the parameters, as in the library's source), ``defaults`` (the parameters' default values), ``horizon``
    (the half-width of a compact surrogate written in x and delta, else None), ``note`` (what the source does
    that the formula alone does not say)."""

    library: str
    name: str
    call: str
    formula: str
    defaults: dict = field(default_factory=dict)
    horizon: float | None = None
    note: str = ""

    @cached_property
    def rho(self) -> sp.Expr:
        """The backward factor with the default parameters, a formula in x (and delta for a compact one)."""
        values = {k: exact_number(v) for k, v in self.defaults.items()}
        return parse_expr(self.formula, {"x", "delta"}, extra=values)

    def kernel(self) -> Kernel:
        """The kernel whose profile is this surrogate (KernelError with the reason when there is none)."""
        return _kernel(self.library, self.name)

    def refusal(self) -> str | None:
        """Why the surrogate is not a smoothing profile (None when it is)."""
        try:
            self.kernel()
        except KernelError as exc:
            return str(exc)
        return None

    def at_horizon(self) -> sp.Expr:
        """The profile as the library evaluates it (delta set to the fixed horizon of a compact surrogate)."""
        return self.rho if self.horizon is None else self.rho.subs(delta, sp.nsimplify(self.horizon))


_KERNELS: dict = {}


def _kernel(library: str, name: str) -> Kernel:
    key = (library, name)
    if key not in _KERNELS:
        s = get(library, name)
        try:
            _KERNELS[key] = Kernel.from_surrogate(s.rho, name=f"{library}.{name}", normalize=False)
        except KernelError as exc:
            _KERNELS[key] = exc
    found = _KERNELS[key]
    if isinstance(found, KernelError):
        raise found
    return found


CATALOGUE = (
    LibrarySurrogate("snntorch", "atan", "snntorch.surrogate.atan(alpha=2.0)", "alpha/2/(1 + (pi/2*alpha*x)**2)",
                     {"alpha": 2}),
    LibrarySurrogate("snntorch", "fast_sigmoid", "snntorch.surrogate.fast_sigmoid(slope=25)",
                     "1/(slope*abs(x) + 1)**2", {"slope": 25}),
    LibrarySurrogate("snntorch", "sigmoid", "snntorch.surrogate.sigmoid(slope=25)",
                     "slope*exp(-slope*x)/(exp(-slope*x) + 1)**2", {"slope": 25},
                     note="computed as written: exp(-slope*x) overflows for slope*x < -44 in float32 (0), < -88 (NaN)"),
    LibrarySurrogate("snntorch", "spike_rate_escape", "snntorch.surrogate.spike_rate_escape(beta=1, slope=25)",
                     "slope*exp(-beta*abs(x - 1))", {"beta": 1, "slope": 25}),
    LibrarySurrogate("snntorch", "triangular", "snntorch.surrogate.triangular(threshold=1)", "-threshold*sign(x)",
                     {"threshold": 1}, note="threshold for x < 0, -threshold for x >= 0"),
    LibrarySurrogate("snntorch", "straight_through_estimator", "snntorch.surrogate.straight_through_estimator()",
                     "1", note="on a finite horizon: kernels.dirac_pair(normalize=False), rho = 1 on (-delta, delta)"),
    LibrarySurrogate("snntorch", "heaviside", "snntorch.surrogate.heaviside()", "heaviside(x)",
                     note="the backward is the forward's output, 1 for x > 0 and 0 otherwise"),
    LibrarySurrogate("norse", "super", 'norse threshold(x, "super", alpha=100)', "1/(abs(x) + 1)**2",
                     {"alpha": 100}, note="SuperSpike's backward ignores alpha in norse 1.1.0"),
    LibrarySurrogate("norse", "triangle", 'norse threshold(x, "triangle", alpha=0.3)', "alpha*(1 - abs(x)/delta)",
                     {"alpha": "3/10"}, horizon=1.0, note="alpha*relu(1 - |x|): the profile on the horizon delta = 1"),
    LibrarySurrogate("norse", "tanh", 'norse threshold(x, "tanh", alpha=100)', "1 - tanh(alpha*x)**2",
                     {"alpha": 100}),
    LibrarySurrogate("norse", "circ", 'norse threshold(x, "circ", alpha=100)',
                     "(-(x**2/(2*(alpha**2 + x**2)**(3/2))) + 1/(2*(alpha**2 + x**2)**(1/2)))*2*alpha",
                     {"alpha": 100}),
    LibrarySurrogate("norse", "heavi_erfc", 'norse threshold(x, "heavi_erfc", alpha=100)',
                     "2*exp(-(alpha*x)**2)/sqrt(pi)", {"alpha": 100}),
)


def get(library: str, name: str) -> LibrarySurrogate:
    """The catalogue entry of a library's surrogate."""
    for s in CATALOGUE:
        if (s.library, s.name) == (library, name):
            return s
    known = ", ".join(f"{s.library}.{s.name}" for s in CATALOGUE)
    raise KeyError(f"no surrogate {library}.{name} in the catalogue; known: {known}")


# ------------------------------------------------------------------ how close D_mu is to f'
def smoothing_error(rho: sp.Expr, omega: str | float) -> mpmath.mpf:
    """``1 - phi(omega)/phi(0)`` with phi the Fourier transform of rho: D_mu f / int rho = f' (1 - error) for
    ``f = sin(omega x)``, the relative error of the (renormalized) nonlocal derivative at frequency omega. By mpmath
    at 40 digits (the difference cancels about 2 log10(1/omega) of them; quadosc for the oscillating tail of a
    surrogate on the whole line); rho in x, or in x and delta for a profile on its horizon (then at delta = 1).

    >>> float(smoothing_error(sp.exp(-x**2 / 2), "0.01"))  # 1 - exp(-omega**2/2)
    4.999875002083307e-05
    """
    with mpmath.workdps(40):
        on_horizon = delta in rho.free_symbols
        fn = sp.lambdify(x, rho.subs(delta, 1) if on_horizon else rho, "mpmath")
        w = mpmath.mpf(omega)
        if on_horizon:
            total = mpmath.quad(fn, [0, 1])
            phi = mpmath.quad(lambda s: mpmath.cos(w * s) * fn(s), [0, 1])
        else:
            total = mpmath.quad(fn, [0, 1, 10, 100, mpmath.inf])
            phi = mpmath.quad(lambda s: mpmath.cos(w * s) * fn(s), [0, 1]) + mpmath.quadosc(
                lambda s: mpmath.cos(w * s) * fn(s), [1, mpmath.inf], omega=w)
        return 1 - phi / total


def width(rho: sp.Expr) -> mpmath.mpf:
    """The half-width of the box of the same height and area, ``int rho / (2 rho(0))`` (delta = 1 for a profile
    on its horizon): the scale at which the profile smooths."""
    r = rho.subs(delta, 1)
    fn = sp.lambdify(x, r, "mpmath")
    with mpmath.workdps(30):
        total = mpmath.quad(fn, [0, 1] if delta in rho.free_symbols else [0, 1, 10, 100, mpmath.inf])
        return total / fn(mpmath.mpf(0))


def measured_order(rho: sp.Expr, scale: str = "0.01") -> float:
    """The order p of ``smoothing_error ~ C omega**p`` between ``omega = scale / width`` and omega/2 (the order in
    the width of the family ``rho(x/w)/w`` as w -> 0, for a fixed f)."""
    omega = mpmath.mpf(scale) / width(rho)
    hi, lo = smoothing_error(rho, omega), smoothing_error(rho, omega / 2)
    return float(mpmath.log(hi / lo, 2))


def tail_exponent(rho: sp.Expr) -> float | None:
    """a of ``rho(x) ~ c |x|**-a`` at large |x| (between 1e8 and 1e16); None when rho decays faster than every
    power (or has compact support)."""
    if delta in rho.free_symbols:
        return None
    fn = sp.lambdify(x, rho, "mpmath")
    with mpmath.workdps(120):  # (norse's circ surrogate is a difference of two terms that cancel 30 digits there)
        a, b = fn(mpmath.mpf("1e8")), fn(mpmath.mpf("1e16"))
        if a == 0 or b == 0 or b < a * mpmath.mpf(10) ** -80:
            return None
        return float(-mpmath.log(b / a, 10) / 8)


def predicted_order(rho: sp.Expr, m3: sp.Expr) -> str:
    """The order in the width of D_mu f -> (int rho) f': 2 when M_3 is finite (the series' next term,
    M_3/6 f'''), ``a - 1`` for tails ``|x|**-a`` with 2 <= a < 3 (M_3 diverges)."""
    if m3 is not sp.oo:
        return "2"
    a = tail_exponent(rho)
    if a is None:
        return "?"
    return "2 (times a logarithm)" if abs(a - 3) < 1e-3 else f"{round(a - 1, 3):g}"
