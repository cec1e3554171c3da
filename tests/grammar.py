"""Hypothesis strategies: kernels and activations drawn from the vocabulary a user may type, with their raw formulas.

Every drawn case carries two descriptions of the same function: the way a user hands it to the package (text for
``Kernel.from_expr`` / ``Activation.from_expr``, or a catalogue call such as ``kernels.power(-7/4)`` or
``activations.get("elu", alpha=...)``) and the raw formula the test's reference integrates (SymPy's own reading of
the text, or the catalogue member's textbook definition written out here).

Kernels are odd and keep a positive first moment for every horizon: powers sign(z)|z|^p for -2 < p <= 4 (values
close to -2 included), odd polynomials, Gaussian and exponential factors, compact bumps, scale-invariant
sign-changing profiles, and positive sums of these; the catalogue's by constructor and by spec (``kernels.get``).
Activations: kinks (Max, Min, Abs, Heaviside, sign) anywhere, rational functions, exp/log/tanh/erf/atan
compositions (an outer function of a whole term), products of terms, polynomial growth, sums.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import sympy as sp
from hypothesis import strategies as st
from independent import DELTA, X, Z, exponent_at_zero, kinks, mp_function, parse


def _q(v) -> str:
    """A rational as text the package and SymPy both read exactly, e.g. ``(-7/4)``."""
    v = Fraction(v)
    return f"({v.numerator}/{v.denominator})" if v.denominator != 1 else f"({v.numerator})"


def _code(v) -> str:
    """A parameter as the Python code that makes it (a SymPy rational prints as 1/3, which reads as a float)."""
    if isinstance(v, sp.Rational) and not isinstance(v, sp.Integer):
        return f"sp.Rational({v.p}, {v.q})"
    return repr(v)


# ----------------------------------------------------------------------------- kernels
@dataclass(frozen=True)
class KernelCase:
    """How the kernel is built (``route``: "text" or a catalogue constructor) and its raw formula."""

    route: str
    arg: object  # the text, or the constructor's argument
    raw: sp.Expr | None  # mu(z) as written (odd); None for the point masses
    normalize: bool = True

    def make(self):
        import nonlocal_calc as nlc

        k = nlc.kernels
        if self.route == "text":
            return nlc.Kernel.from_expr(self.arg, normalize=self.normalize)
        if self.route == "power":
            return k.power(self.arg, normalize=self.normalize)
        if self.route == "gaussian":
            return k.gaussian(self.arg, normalize=self.normalize)
        if self.route == "get":  # the spec a user types (the CLI's --kernel)
            return k.get(self.arg, normalize=self.normalize)
        return getattr(k, self.route)(normalize=self.normalize)  # sign, linear, dirac_pair

    def __str__(self) -> str:
        args = [] if self.arg is None else [_code(self.arg)]
        args += [] if self.normalize else ["normalize=False"]
        if self.route == "get":
            args[0] = repr(self.arg)
        call = "Kernel.from_expr" if self.route == "text" else f"kernels.{self.route}"
        return f"{call}({', '.join(args)})"


def is_singular(case: KernelCase) -> bool:
    """Whether mu is unbounded at 0 (measured on the raw formula by the reference's own probe)."""
    if case.raw is None:
        return False
    with mpmath.workdps(30):
        return exponent_at_zero(mp_function(case.raw, (Z, DELTA)), mpmath.mpf(1)) < 0


# p over (-2, 4]: named values (the singular ones near -2 among them) and random fractions
_NAMED_P = [Fraction(-199, 100), Fraction(-39, 20), Fraction(-19, 10), Fraction(-7, 4), Fraction(-3, 2), Fraction(-1),
            Fraction(-1, 2), Fraction(-1, 3), Fraction(0), Fraction(1, 2), Fraction(1), Fraction(3, 2), Fraction(2),
            Fraction(3), Fraction(4)]
powers = st.one_of(
    st.sampled_from(_NAMED_P),
    st.builds(lambda k: Fraction(-2) + Fraction(1, k), st.integers(2, 100)),  # close to -2
    st.builds(lambda n, d: Fraction(n, d), st.integers(-39, 80), st.just(20)).filter(lambda p: -2 < p <= 4),
)
_coef = st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(2), Fraction(3, 7), Fraction(5)])
_rate = st.sampled_from([Fraction(1, 2), Fraction(1), Fraction(3), Fraction(10)])


def _power_text(p: Fraction) -> str:
    if p.denominator == 1 and p % 2 == 1 and p > 0:
        return "z" if p == 1 else f"z**{p}"
    if p == 0:
        return "sign(z)"
    return f"sign(z)*Abs(z)**{_q(p)}"


kernel_terms = st.one_of(
    powers.map(_power_text),
    st.builds(lambda p: f"z*Abs(z)**{_q(p - 1)}", powers),  # sign(z)|z|^p spelled another way
    st.lists(st.tuples(_coef, st.integers(0, 3)), min_size=1, max_size=3).map(
        lambda cs: " + ".join(f"{_q(c)}*z**{2 * k + 1}" for c, k in cs)),  # odd polynomials
    st.builds(lambda a: f"z*exp(-{_q(a)}*z**2)", _rate),  # Gaussian factors
    st.builds(lambda a: f"z*exp(-{_q(a)}*z**2/delta**2)", _rate),
    st.builds(lambda a: f"sign(z)*exp(-{_q(a)}*Abs(z))", _rate),  # exponential factor
    st.builds(lambda k: f"z*(delta**2 - z**2)**{k}", st.integers(1, 3)),  # compact bumps
    st.builds(lambda k: f"sign(z)*(delta - Abs(z))**{k}", st.integers(1, 3)),
    st.builds(lambda a: f"sign(z)*(1 - {_q(a)}*z**2/delta**2)", st.sampled_from([Fraction(1, 2), Fraction(3, 2)])),
    st.builds(lambda p, a: f"sign(z)*Abs(z)**{_q(p)}*exp(-{_q(a)}*z**2)", powers, _rate),  # power x Gaussian
    st.builds(lambda a: f"sign(z)*exp(-{_q(a)}*Abs(z)/delta)", _rate),  # exponential factor on the horizon's scale
    st.builds(lambda p, a: f"sign(z)*Abs(z)**{_q(p)}*exp(-{_q(a)}*Abs(z))", powers, _rate),  # power x exponential
    st.builds(lambda p, k: f"sign(z)*Abs(z)**{_q(p)}*(delta - Abs(z))**{k}", powers, st.integers(1, 2)),  # singular bump
)
kernel_texts = st.lists(st.tuples(_coef, kernel_terms), min_size=1, max_size=3, unique_by=lambda t: t[1]).map(
    lambda terms: terms[0][1] if len(terms) == 1 else " + ".join(f"{_q(c)}*({t})" for c, t in terms))


def _sigma_raw(sigma) -> sp.Expr:
    """The Gaussian kernel's sigma as the constructor documents it: delta/2 by default, a number, or a formula."""
    if sigma is None:
        return DELTA / 2
    return parse(sigma) if isinstance(sigma, str) else sp.Rational(str(sigma))


def _gaussian(sigma) -> KernelCase:
    s = _sigma_raw(sigma)
    return KernelCase("gaussian", sigma, Z * sp.exp(-(Z**2) / (2 * s**2)))


def _power(p: Fraction, spelling: str) -> KernelCase:
    arg = {"fraction": sp.Rational(p.numerator, p.denominator), "text": f"{p.numerator}/{p.denominator}",
           "float": float(p)}[spelling]
    # a float p means the simplest fraction whose float it is: p itself, whose denominator is small
    return KernelCase("power", arg, _power_raw(sp.Rational(p.numerator, p.denominator)))


def _power_raw(p: sp.Rational) -> sp.Expr:
    return sp.sign(Z) * sp.Abs(Z) ** p


def _spec(case: KernelCase) -> KernelCase:
    """The same catalogue kernel asked for by its spec, as ``kernels.get("power(-7/4)")``: text is read as written,
    so a float's digits are its exact decimal value."""
    arg = "" if case.arg is None else f"({case.arg})"
    raw = _power_raw(sp.Rational(str(case.arg))) if isinstance(case.arg, float) and case.route == "power" else case.raw
    return KernelCase("get", f"{case.route}{arg}", raw)


catalogue_kernels = st.one_of(
    st.builds(_power, powers, st.sampled_from(["fraction", "text", "float"])),
    st.builds(_gaussian, st.sampled_from([None, 0.1, 0.3, 2, "delta/3", "delta/10"])),
    st.builds(_power, powers, st.just("text")).map(_spec),
    st.builds(_gaussian, st.sampled_from([0.05, "delta/4"])).map(_spec),
    st.just(KernelCase("sign", None, sp.sign(Z))),
    st.just(KernelCase("linear", None, Z)),
    st.just(KernelCase("dirac_pair", None, None)),
)


@st.composite
def kernels(draw) -> KernelCase:
    """A kernel typed as text or built by a catalogue constructor, normalized (mostly) or raw."""
    case = draw(st.one_of(kernel_texts.map(lambda t: KernelCase("text", t, parse(t, (Z,)))), catalogue_kernels))
    normalize = draw(st.sampled_from([True, True, True, False]))
    return KernelCase(case.route, case.arg, case.raw, normalize)


# ----------------------------------------------------------------------------- activations
@dataclass(frozen=True)
class ActivationCase:
    """How the activation is built (``route``: "text" or a catalogue name with ``params``) and its raw formula."""

    route: str
    arg: object  # the text, or the catalogue name
    raw: sp.Expr
    params: tuple = ()

    def make(self):
        import nonlocal_calc as nlc

        if self.route == "text":
            return nlc.Activation.from_expr(self.arg)
        return nlc.activations.get(self.arg, **dict(self.params))

    @property
    def kinks(self) -> tuple:
        return kinks(self.raw)

    def __str__(self) -> str:
        if self.route == "text":
            return f"Activation.from_expr({self.arg!r})"
        args = "".join(f", {k}={_code(v)}" for k, v in self.params)
        return f"activations.get({self.arg!r}{args})"


_shift = st.one_of(st.sampled_from([Fraction(0), Fraction(0), Fraction(1, 2), Fraction(-1), Fraction(2, 7)]),
                   st.builds(Fraction, st.integers(-16, 16), st.just(8)))
_scale = st.sampled_from([Fraction(1), Fraction(1), Fraction(1, 2), Fraction(2), Fraction(3)])


@st.composite
def _argument(draw) -> str:
    """a*(x - b): kinks and inflection points anywhere, not only at 0."""
    a, b = draw(_scale), draw(_shift)
    u = "x" if b == 0 else f"(x - {_q(b)})"
    return u if a == 1 else f"{_q(a)}*{u}"


_SMOOTH = ["tanh({u})", "erf({u})", "atan({u})", "1/(1 + exp(-{u}))", "log(1 + exp({u}))", "{u}/(1 + exp(-{u}))",
           "{u}*(1 + erf({u}/sqrt(2)))/2", "{u}/sqrt(1 + {u}**2)", "exp(-{u}**2)", "{u}/(1 + {u}**2)",
           "log(1 + {u}**2)", "sqrt(1 + {u}**2)", "{u}**2", "{u}**3", "sin({u})", "tanh({u})**2"]
_KINKED = ["Max(0, {u})", "Min(0, {u})", "Abs({u})", "Heaviside({u})", "sign({u})", "Max({u}, {u}/10)",
           "Min(Max({u}, -1), 1)", "{u}*Abs({u})", "Max(0, {u})**2", "{u}/(1 + Abs({u}))", "Abs({u})**3",
           "exp(-Abs({u}))", "log(1 + Abs({u}))", "tanh(Max(0, {u}))", "erf(Abs({u}))", "Max({u}, {u}**3)",
           "Min({u}, 1/2)", "Max(0, 1 - Abs({u}))"]
_SMOOTH += ["{u}*tanh(log(1 + exp({u})))", "log(cosh({u}))", "asinh({u})", "erfc({u})", "{u}*erf({u})",
            "exp(tanh({u}))", "{u}*atan({u})"]
#: bounded outer functions applied to a whole term: compositions two deep (tanh(erf(u)), erf(Max(0, u)**2)...)
_OUTER = ["tanh({v})", "erf({v})", "atan({v})", "exp(-({v})**2)", "1/(1 + exp(-({v})))", "log(1 + ({v})**2)"]
_simple_terms = st.builds(lambda form, u: form.format(u=u), st.sampled_from(_SMOOTH + _KINKED), _argument())
activation_terms = st.one_of(
    _simple_terms, _simple_terms, _simple_terms,
    st.builds(lambda outer, v: outer.format(v=v), st.sampled_from(_OUTER), _simple_terms),  # compositions
    st.builds(lambda v, w: f"({v})*({w})", _simple_terms, _simple_terms),  # products
)
activation_texts = st.lists(st.tuples(_coef, activation_terms), min_size=1, max_size=3, unique_by=lambda t: t[1]).map(
    lambda terms: terms[0][1] if len(terms) == 1 else " + ".join(f"{_q(c)}*({t})" for c, t in terms))

# The catalogue's members as their textbook definitions, written here (the parameters as the catalogue names them)
_CATALOGUE = {
    "identity": lambda: "x", "binary_step": lambda: "Heaviside(x)", "logistic": lambda: "1/(1 + exp(-x))",
    "tanh": lambda: "tanh(x)", "arctan": lambda: "atan(x)", "softsign": lambda: "x/(1 + Abs(x))",
    "isru": lambda alpha=1: f"x/sqrt(1 + {_q(alpha)}*x**2)", "relu": lambda: "Max(0, x)",
    "leaky_relu": lambda slope=Fraction(1, 100): f"Piecewise(({_q(slope)}*x, x < 0), (x, True))",
    "prelu": lambda alpha=Fraction(1, 4): f"Piecewise(({_q(alpha)}*x, x < 0), (x, True))",
    "softplus": lambda: "log(1 + exp(x))", "elu": lambda alpha=1: f"Piecewise(({_q(alpha)}*(exp(x) - 1), x < 0), (x, True))",
    "silu": lambda: "x/(1 + exp(-x))", "gelu": lambda: "x*(1 + erf(x/sqrt(2)))/2",
}
_PARAMS = {"isru": "alpha", "leaky_relu": "slope", "prelu": "alpha", "elu": "alpha"}
_param_values = st.sampled_from([Fraction(1, 10), Fraction(1, 3), Fraction(1, 2), Fraction(2), Fraction(3, 2)])


@st.composite
def catalogue_activations(draw) -> ActivationCase:
    name = draw(st.sampled_from(sorted(_CATALOGUE)))
    params = ()
    if name in _PARAMS and draw(st.booleans()):
        v = draw(_param_values)
        # the user's spelling: a float for the decimal ones, else a SymPy rational
        typed = float(v) if v.denominator in (2, 10) else sp.Rational(v.numerator, v.denominator)
        params = ((_PARAMS[name], typed),)
        text = _CATALOGUE[name](v)
    else:
        text = _CATALOGUE[name]()
    return ActivationCase("catalogue", name, parse(text), params)


activations = st.one_of(activation_texts.map(lambda t: ActivationCase("text", t, parse(t))), catalogue_activations())


# ----------------------------------------------------------------------------- points
# The points are drawn from a generator seeded by the pair, not by Hypothesis: with no choice left after the pair,
# every new example Hypothesis makes (its mutations too) is a new pair, where about two thirds of them were new
# points of pairs it had already derived and compiled.
def point_rng(*key: object) -> random.Random:
    """A generator seeded by ``key`` (the pair's text): the same pair gets the same points in every run."""
    return random.Random(hashlib.sha256(repr(key).encode()).digest())


def delta_value(rng: random.Random) -> float:
    """Log-uniform over 1e-6 .. 5 (three digits), or one of the tiny and large horizons."""
    if rng.random() < 0.2:
        return rng.choice([1e-12, 1e-9, 30.0, 1000.0])
    return float(f"{10 ** rng.uniform(-6, 0.7):.3g}")


def abscissa(rng: random.Random, kink_points: tuple, dv: float) -> float:
    """x uniform, in the tails, or at/near a kink and the cell edges b +- delta (where the closed forms switch)."""
    kind = rng.choice(["uniform", "uniform", "tail", "kink", "kink", "kink"] if kink_points
                      else ["uniform", "uniform", "tail", "origin"])
    if kind == "uniform":
        return rng.uniform(-4, 4)
    if kind == "tail":
        return rng.choice([-1, 1]) * rng.uniform(8, 40)
    b = float(rng.choice(kink_points)) if kind == "kink" else 0.0
    side = rng.choice([-1, 0, 1])
    nudge = rng.choice([0.0, 1e-12, -1e-12, 1e-6, -1e-6, 0.01, -0.01, 0.5, -0.5])
    return b + side * dv + nudge * dv


def points(rng: random.Random, kink_points: tuple, n_deltas: int = 2, n_x: int = 3) -> list[tuple[float, list[float]]]:
    """[(delta, [x, ...]), ...]: a few horizons and a few abscissae for each.

    >>> points(point_rng("relu", "sign"), (0,)) == points(point_rng("relu", "sign"), (0,))
    True
    """
    out = []
    for _ in range(n_deltas):
        dv = delta_value(rng)
        out.append((dv, [abscissa(rng, kink_points, dv) for _ in range(n_x)]))
    return out


__all__ = ["ActivationCase", "KernelCase", "activations", "is_singular", "kernels", "point_rng", "points", "X", "Z", "DELTA"]
