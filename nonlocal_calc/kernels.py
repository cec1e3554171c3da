"""Odd interaction kernels mu(z) on the horizon (-delta, delta).

A kernel is stored by its restriction to ``0 < z < delta`` (``mu_plus``); oddness gives
the other half. By default a kernel is normalized so that its first moment
``int z mu(z) dz`` is 1, which makes ``D_mu x = 1``.

>>> from nonlocal_calc import kernels
>>> k = kernels.sign()
>>> k.expr
sign(z)/delta**2
>>> k.moment(3)
delta**2/2
>>> k.rho
(delta - Abs(z))/delta**2
>>> k.rho_nonnegative
True
>>> kernels.power(-2)
Traceback (most recent call last):
...
nonlocal_calc.kernels.KernelError: power kernel with p = -2: the first moment int z*mu(z) dz diverges at z = 0 for p <= -2; choose p > -2
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import mpmath
import sympy as sp

from . import kernel_numeric as _numeric
from . import parameters as _parameters
from .arguments import real_argument, series_order
from .kernel_checks import SYMBOLIC_STEP, moment_mismatch, normalization_mismatch, rho_mismatch
from .kernel_checks import by_antiderivative as _by_antiderivative
from .kernel_checks import definite as _definite
from .parameters import Parameter, ParameterError
from .parsing import ExpressionError, exact_number, parse_expr
from .symbols import delta, z
from .timeouts import DEFAULT_TIMEOUT, DerivationTimeout, attempt, time_budget

#: A positive stand-in for z on the right half of the horizon.
_zp = sp.Symbol("z_p", positive=True)
_s = sp.Symbol("s", positive=True)


class KernelError(ValueError):
    """A kernel fails one of the properties a nonlocal derivative needs."""


def check_delta(value: object) -> None:
    """Refuse a horizon that is not a positive number.

    >>> check_delta(-0.1)
    Traceback (most recent call last):
    ...
    nonlocal_calc.kernels.KernelError: delta must be a positive number (the horizon), got -0.1
    """
    try:
        num = mpmath.mpf(real_argument(value, "delta"))
        ok = num > 0 and mpmath.isfinite(num)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise KernelError(f"delta must be a positive number (the horizon), got {value!r}")


@dataclass(frozen=True, eq=False)
class Kernel:
    """An odd interaction kernel, described by ``mu_plus``: mu(z) for ``0 < z < delta``.

    Build kernels with :func:`power`, :func:`sign`, :func:`linear`, :func:`dirac_pair`,
    :func:`gaussian` or :meth:`Kernel.from_expr`; they validate their input.
    """

    name: str
    mu_plus: sp.Expr  # in z (taken positive) and delta; already scaled if normalized
    normalize: bool = True
    scale: sp.Expr = sp.Integer(1)  # the factor applied to the raw kernel
    discrete: bool = False  # point masses at +-delta (mu_plus is then the mass at +delta)
    power: sp.Expr | None = None  # p for the power family sign(z)|z|^p
    info: dict = field(default_factory=dict)
    #: Free parameters (their symbols appear in mu_plus); :meth:`subs` gives them values.
    parameters: tuple[Parameter, ...] = ()
    #: ``rebuild(values, remaining)``: the kernel for numbers ``values`` ({symbol: number}), built as a direct call
    #: with those numbers builds it.
    rebuild: object = field(default=None, repr=False, compare=False)
    _moments: dict = field(default_factory=dict, init=False, repr=False)  # M_k once checked

    # ----------------------------------------------------------------- builders
    @staticmethod
    def from_expr(text: str | sp.Expr, name: str | None = None, normalize: bool = True,
                  timeout: float | None = DEFAULT_TIMEOUT, params: dict | None = None) -> Kernel:
        """A kernel from a formula in ``z`` (and ``delta``), e.g. ``"z**3"`` or ``"sign(z)*abs(z)**0.5"``.

        The formula gives mu(z) inside the horizon. It is refused, with the reason, when it is not
        odd, when ``int |z mu(z)| dz`` diverges, when its first moment is zero, or when it has
        symbols other than z and delta. The analysis gets ``timeout`` seconds of CPU time (None: no limit; see
        :mod:`nonlocal_calc.timeouts`), each of SymPy's attempts at an integral a few of them; past the budget the
        kernel is refused with a KernelError that says so.

        ``params`` declares free parameters by name and range (see :mod:`nonlocal_calc.parameters`): the
        normalization is then a formula in them, valid over the whole range (else the kernel is refused), and the
        kernel is checked at parameter values spread over the range as a kernel with numbers is.

        >>> Kernel.from_expr("sign(z)*Abs(z)**p", params={"p": "> -2"}).mu_plus
        delta**(-p - 2)*z**p*(p/2 + 1)
        >>> Kernel.from_expr("z**3").mu_plus
        5*z**3/(2*delta**5)
        >>> Kernel.from_expr("z**2")
        Traceback (most recent call last):
        ...
        nonlocal_calc.kernels.KernelError: kernel z**2 is not odd: mu(z) + mu(-z) = 2*z**2, not 0 (an odd kernel is required; e.g. write sign(z)*z**2)
        """
        try:
            declared = _parameters.declare(params)
        except ParameterError as exc:
            raise KernelError(f"kernel {text}: {exc}") from None
        if isinstance(text, str):
            try:
                expr = parse_expr(text, {"z", "delta"}, extra={p.name: p.symbol for p in declared})
            except ExpressionError as exc:
                raise KernelError(str(exc)) from None
        else:
            expr = sp.sympify(text)
        budget = None
        try:
            with time_budget(timeout) as budget:
                if declared:
                    return _parametric(expr, name, normalize, declared)
                return Kernel._from_sympy(expr, name, normalize)
        except DerivationTimeout as exc:
            if exc.budget is not budget:
                raise  # a budget of the caller ran out
            raise KernelError(f"kernel {expr}: its analysis (oddness, integrability, first moment) took more than "
                              f"{timeout:g} s of CPU time; simplify the formula or pass a larger timeout "
                              "(timeout=None: no limit)") from None

    @staticmethod
    def from_surrogate(text: str | sp.Expr, name: str | None = None, normalize: bool = True,
                       timeout: float | None = DEFAULT_TIMEOUT) -> Kernel:
        """The kernel whose smoothing profile is the surrogate gradient ``rho`` (a formula in ``x``, and
        ``delta`` for a profile on the horizon): ``mu(z) = -rho'(z)`` for z > 0, so that ``D_mu H = rho``.

        A formula in x alone is a surrogate on the whole line (arctan, fast sigmoid, sigmoid derivative...): its
        kernel has no delta in it and is not normalized on a finite horizon, where its profile is
        ``rho(x) - rho(delta)`` for ``|x| < delta`` (the surrogate truncated, not renormalized); it is the
        surrogate exactly for ``delta = inf`` (``nonlocal_calc.torch.spike(kernel, delta=float("inf"))``),
        ``kernel.info["surrogate"]`` holds it. A formula in x and delta is a profile on the horizon and must
        vanish at ``+-delta``. Refused, with the reason: not even, negative, not integrable, or (with
        ``normalize=True``) an integral other than 1; ``normalize=False`` keeps a profile of any positive
        integral as it is (then ``D_mu x`` is that integral). See :mod:`nonlocal_calc.profiles`.

        >>> k = Kernel.from_surrogate("(1 - abs(x)/delta)/delta", name="triangle")
        >>> k.mu_plus, k.rho, k.moment(3)
        (delta**(-2), (1 - Abs(z)/delta)/delta, delta**2/2)
        >>> Kernel.from_surrogate("1/(1 + (pi*x)**2)").info["support"]
        'line'
        >>> Kernel.from_surrogate("1/(1 + 25*abs(x))**2")
        Traceback (most recent call last):
        ...
        nonlocal_calc.kernels.KernelError: profile (25*Abs(x) + 1)**(-2) integrates to 2/25, not 1: as a surrogate gradient it gives D_mu x = 2/25; divide it by 2/25 for a normalized kernel, or pass normalize=False to keep it as it is
        """
        from . import profiles

        budget = None
        try:
            with time_budget(timeout) as budget:
                prof = profiles.check(text, normalize)
                return _surrogate_kernel(prof, name or f"surrogate({prof.rho})", normalize)
        except profiles.ProfileError as exc:
            raise KernelError(str(exc)) from None
        except DerivationTimeout as exc:
            if exc.budget is not budget:
                raise
            raise KernelError(f"surrogate {text}: its analysis took more than {timeout:g} s of CPU time; simplify "
                              "the formula or pass a larger timeout (timeout=None: no limit)") from None

    @staticmethod
    def _from_sympy(expr: sp.Expr, name: str | None, normalize: bool) -> Kernel:
        extra = expr.free_symbols - {z, delta}
        if extra:
            names = ", ".join(sorted(str(s) for s in extra))
            raise KernelError(f"kernel {expr} has symbols other than z and delta: {names}; give them numeric values")
        odd_part = sp.simplify(expr + expr.subs(z, -z))
        if odd_part != 0:
            # SymPy may fail to prove a true identity: check numerically before refusing.
            f = sp.lambdify((z, delta), odd_part, "mpmath")
            if any(abs(f(mpmath.mpf(t), 1)) > 1e-20 for t in ("0.1", "0.37", "0.8")):
                raise KernelError(
                    f"kernel {expr} is not odd: mu(z) + mu(-z) = {sp.factor(odd_part)}, not 0 "
                    "(an odd kernel is required; e.g. write sign(z)*z**2)"
                )
        mu_plus = sp.simplify(expr.subs(z, _zp)).subs(_zp, z)
        return _build(name or str(expr), mu_plus, normalize)

    # --------------------------------------------------------------- properties
    @property
    def expr(self) -> sp.Expr:
        """mu(z) inside the horizon, as a formula valid for both signs of z."""
        if self.discrete:
            return sp.Piecewise((self.mu_plus, sp.Eq(z, delta)), (-self.mu_plus, sp.Eq(z, -delta)), (0, True))
        if sp.expand(self.mu_plus + self.mu_plus.subs(z, -z)) == 0:  # already odd as written (e.g. z, z**3)
            return self.mu_plus
        return sp.sign(z) * self.mu_plus.subs(z, sp.Abs(z))

    def moment(self, k: int) -> sp.Expr:
        """The k-th moment ``int z**k mu(z) dz`` over the horizon (zero for even k)."""
        if k % 2 == 0:
            return sp.Integer(0)
        if k not in self._moments:
            self._moments[k] = self._checked_moment(k)
        return self._moments[k]

    def _checked_moment(self, k: int) -> sp.Expr:
        """M_k from SymPy (its conditions resolved), checked against quadrature of its definition; else from the
        antiderivative of z**k mu(z); refused when neither passes."""
        if self.discrete:
            return sp.simplify(2 * delta**k * self.mu_plus)
        if self.parameters:
            return self._parametric_moment(k)
        integrand = (z**k * self.mu_plus).subs(z, _zp)
        failures = []
        for route in (_definite, _by_antiderivative):
            val = 2 * route(integrand, _zp, sp.Integer(0), delta)
            if val.has(sp.Integral):
                continue  # no closed form: not an answer to check
            val = sp.simplify(val)
            failure = moment_mismatch(self, k, val)
            if failure is None:
                return val
            failures.append(failure)
        if not failures:  # SymPy has no closed form: by quadrature, checked the same way
            val = _numeric.moment(self.mu_plus, z, k)
            if val is None:
                val = 2 * _numeric.profile(z**k * self.mu_plus, z, sp.Integer(0))  # the definition, in delta
            failure = moment_mismatch(self, k, val)
            if failure is None:
                return val
            failures.append(failure)
        raise KernelError(f"kernel {self.name}: the moment M_{k} could not be computed reliably "
                          f"({'; '.join(failures)})")

    def series_coefficients(self, n: int) -> list[float] | None:
        """``c_j = M_(2j+1) / ((2j+1)! delta**(2j))`` for ``j < n`` as floats; None if they depend on delta.

        They are the coefficients of the moment series ``D_mu f = sum_j c_j delta**(2j) f^(2j+1)`` of a
        scale-invariant kernel. Exact for point masses, powers and polynomials; otherwise by mpmath
        quadrature at 40 digits at two horizons (SymPy's high moments of e.g. a Gaussian grow without bound).

        >>> sign().series_coefficients(3)
        [1.0, 0.08333333333333333, 0.002777777777777778]
        >>> gaussian().series_coefficients(2)[0]
        1.0
        """
        if self.discrete or self.power is not None or self.is_polynomial:
            mono = self._monomials()
            if mono is not None:  # sum_i a_i z^p_i: M_k = 2 sum_i a_i delta^(k + p_i + 1) / (k + p_i + 1), exactly
                cs = [sp.powsimp(sp.expand(sum(2 * a * delta ** (k + p + 1) / (k + p + 1) for a, p in mono)
                                           / sp.factorial(k) / delta ** (k - 1)))
                      for k in range(1, 2 * n, 2)]  # (a tenth of the time of integrate and simplify)
            else:
                cs = [sp.simplify(self.moment(2 * j + 1) / sp.factorial(2 * j + 1) / delta ** (2 * j))
                      for j in range(n)]
            return None if any(c.free_symbols for c in cs) else [float(c) for c in cs]
        f = self.mu_plus_numeric()
        with mpmath.workdps(40):

            def coefficient(j: int, d: mpmath.mpf) -> mpmath.mpf:
                k = 2 * j + 1
                return 2 * mpmath.quad(lambda t: t**k * f(t, d), [0, d]) / (mpmath.factorial(k) * d ** (k - 1))

            rows = [[coefficient(j, d) for j in range(n)] for d in (mpmath.mpf(1), mpmath.mpf("0.37"))]
            if any(abs(a - b) > mpmath.mpf(10) ** -25 * abs(a) for a, b in zip(*rows)):
                return None
            return [float(c) for c in rows[0]]

    def _monomials(self) -> list[tuple[sp.Expr, sp.Expr]] | None:
        """``[(a_i, p_i)]`` with ``mu = sum a_i z^p_i`` inside the horizon (a_i free of z, p_i > -2 rational: every
        odd moment ``int z^k mu``, k >= 1, converges), or None."""
        if self.discrete:
            return None
        out = []
        for term in sp.Add.make_args(sp.expand(self.mu_plus)):
            a, zpart = term.as_independent(z, as_Add=False)
            base, p = zpart.as_base_exp() if zpart != 1 else (z, sp.Integer(0))
            if base != z or not p.is_Rational or p <= -2:
                return None
            out.append((a, p))
        return out

    @cached_property
    def rho(self) -> sp.Expr:
        """The smoothing profile: ``D_mu f(x) = int f'(x+s) rho(s) ds`` for smooth f (a function of z).

        Derived as ``rho(s) = int_{|s|}^{delta} mu(t) dt``; it is even and integrates to the first moment.
        Checked against its defining identities (``rho(delta) = 0``, ``rho' = -mu`` where mu is smooth, and
        ``int rho = M_1``, i.e. 1 when normalized) at several horizons; SymPy's conditional answers are resolved
        for ``0 < s < delta`` (:mod:`nonlocal_calc.conditions`), never by picking a branch blindly.

        >>> gaussian("1/10").rho.subs(delta, 1).has(sp.Piecewise)
        False
        """
        if self.discrete:
            return self.mu_plus  # a constant on (-delta, delta): the mass at delta spread evenly
        if self.parameters:
            return self._parametric_rho()
        t = sp.Dummy("t", positive=True)
        failures = []
        for route in (_definite, _by_antiderivative):
            r = route(self.mu_plus.subs(z, t), t, _s, delta)
            if r.has(sp.Integral):
                continue  # no closed form: not an answer to check
            r = sp.simplify(r)
            failure = rho_mismatch(self, r, _s)
            if failure is None:
                return r.subs(_s, sp.Abs(z))
            failures.append(failure)
        if not failures:  # SymPy has no closed form: rho is its defining integral, evaluated by quadrature
            return _numeric.profile(self.mu_plus, z, sp.Abs(z))
        raise KernelError(f"kernel {self.name}: the smoothing profile rho could not be computed reliably "
                          f"({'; '.join(failures)})")

    @cached_property
    def rho_nonnegative(self) -> bool:
        """Whether rho >= 0 on the horizon (then D_mu f is an average of f' and 0 <= D s <= 1 when 0 <= s' <= 1).

        Decided by SymPy where it can, otherwise on a grid of 2001 points for several horizons.
        """
        if self.rho.has(sp.Integral):
            return _numeric.tail_nonnegative(self.mu_plus, z)
        r = self.rho.subs(z, _s * delta)  # s in (0, 1) of the horizon
        if r.is_nonnegative:
            return True
        f = sp.lambdify((_s, delta), r, "mpmath")
        for d in ("0.01", "1", "100"):
            for i in range(1, 2001):
                val = f(mpmath.mpf(i) / 2001, mpmath.mpf(d))
                if mpmath.im(val) != 0 or mpmath.re(val) < -mpmath.mpf(10) ** -25:
                    return False
        return True

    @property
    def is_polynomial(self) -> bool:
        """Whether mu_plus is a polynomial in z (then integration by parts gives closed forms)."""
        return not self.discrete and self.mu_plus.is_polynomial(z)

    @property
    def is_singular(self) -> bool:
        """Whether mu is unbounded at z = 0 (e.g. power kernels with p < 0)."""
        if self.discrete:
            return False
        lim = sp.limit(self.mu_plus, z, 0, "+")
        return not lim.is_finite

    def mu_plus_numeric(self):
        """mu on (0, delta) as an mpmath function of (z, delta)."""
        return sp.lambdify((z, delta), self.mu_plus, "mpmath")

    def series(self, n: int = 4) -> sp.Expr:
        """The moment expansion of D_mu f for a generic smooth f, up to ``O(delta**n)``.

        >>> sign().series(4)
        Derivative(f(x), x) + delta**2*Derivative(f(x), (x, 3))/12 + O(delta**4)
        """
        from .symbols import x

        n = series_order(n)
        f = sp.Function("f")
        terms = sum(
            (self.moment(k) / sp.factorial(k) * sp.Derivative(f(x), (x, k)) for k in range(1, n + 2, 2)),
            sp.Integer(0),
        )
        return sp.series(terms, delta, 0, n)

    def __repr__(self) -> str:
        return f"Kernel({self.name}{'' if self.normalize else ', normalize=False'}: mu(z) = {self.expr})"

    def describe(self) -> str:
        """One line: name, formula, normalization."""
        norm = "normalized so that D_mu x = 1" if self.normalize else "raw (not normalized)"
        return f"{self.name}: mu(z) = {self.expr} on (-delta, delta), {norm}"

    def key(self) -> str:
        """A string that identifies the kernel's mathematics (for caches); a parameter's range is part of it."""
        ranges = "".join(f"|{p.name} in {p.domain}" for p in self.parameters)
        return f"{self.discrete}|{sp.srepr(self.mu_plus)}{ranges}"

    # --------------------------------------------------------------- parameters
    def subs(self, **values) -> Kernel:
        """The kernel with numbers for some or all of its parameters, each checked against its range, built as
        a direct call with those numbers builds it.

        >>> power(Parameter("p", "> -2")).subs(p=1).name
        'linear'
        """
        vals = _parameters.values(self.parameters, values)
        remaining = tuple(p for p in self.parameters if p.symbol not in vals)
        return self if not vals else self.rebuild(vals, remaining)

    def _plain(self, vals: dict) -> Kernel:
        """The kernel with ``vals`` substituted in its formulas (for checking the parametric formulas)."""
        return Kernel(name=self.name, mu_plus=self.mu_plus.subs(vals), normalize=self.normalize,
                      scale=sp.sympify(self.scale).subs(vals), power=None if self.power is None else self.power.subs(vals))

    def _parametric_moment(self, k: int) -> sp.Expr:
        """M_k as a formula in the parameters, valid over their ranges, checked at values spread over them."""
        val = _parametric_integral(z**k * self.mu_plus, z, sp.Integer(0), delta, self.parameters)
        if val is None:
            raise KernelError(f"kernel {self.name}: SymPy finds no closed form of M_{k} valid over the whole range of "
                              f"{', '.join(p.name for p in self.parameters)}; give the parameters values (kernel.subs)")
        val = sp.powsimp(sp.simplify(2 * val))
        for vals in _parameters.sample_points(self.parameters, val):
            failure = moment_mismatch(self._plain(vals), k, val.subs(vals))
            if failure is not None:
                raise KernelError(f"kernel {self.name}: SymPy's M_{k} fails its check at {_show(vals)} ({failure})")
        return val

    def _parametric_rho(self) -> sp.Expr:
        """rho as a formula in the parameters (branches where the formula changes, e.g. p = -1), checked."""
        t = sp.Dummy("t", positive=True)
        r = _parametric_integral(self.mu_plus.subs(z, t), t, _s, delta, self.parameters)
        if r is None:
            raise KernelError(f"kernel {self.name}: SymPy finds no closed form of rho valid over the whole range of "
                              f"{', '.join(p.name for p in self.parameters)}; give the parameters values (kernel.subs)")
        r = sp.simplify(r)
        for vals in _parameters.sample_points(self.parameters, r):
            failure = rho_mismatch(self._plain(vals), r.subs(vals), _s)
            if failure is not None:
                raise KernelError(f"kernel {self.name}: SymPy's rho fails its check at {_show(vals)} ({failure})")
        return r.subs(_s, sp.Abs(z))


def _build(name: str, raw_plus: sp.Expr, normalize: bool, first_moment: sp.Expr | None = None, **kw) -> Kernel:
    """Validate a raw kernel half and (optionally) normalize it; the normalized first moment is checked to be 1.

    ``first_moment``, when the caller has it in closed form (the power family), skips the other checks.
    """
    if first_moment is not None:
        scale = 1 / first_moment if normalize else sp.Integer(1)
        return _checked(Kernel(name=name, mu_plus=sp.powsimp(scale * raw_plus), normalize=normalize, scale=scale,
                               **kw))
    zp = _zp
    raw = raw_plus.subs(z, zp)
    if raw.has(sp.I) or raw.has(sp.zoo, sp.nan):
        raise KernelError(f"kernel {name}: mu(z) is not real-valued on 0 < z < delta ({raw_plus})")
    # Weighted integrability: int_0^delta |z mu(z)| dz must converge for D_mu f to exist for smooth f.
    m1 = _definite(zp * raw, zp, sp.Integer(0), delta)
    integrable = _weighted_abs_integrable(raw)
    if m1.has(sp.Integral) and integrable:  # no closed form: by quadrature where it can be
        m1 = _numeric.moment(raw, zp, 1)
        m1 = sp.Integral(zp * raw, (zp, 0, delta)) if m1 is None else m1 / 2
        if m1.has(sp.Integral) and normalize:
            raise KernelError(
                f"kernel {name}: SymPy finds no closed form of its first moment int z*mu(z) dz, and the kernel is "
                "not a fixed shape rescaled with delta (mu(delta*u) = delta**a * g(u)), so the normalization has no "
                "formula; write the kernel in z/delta (e.g. exp(-z**2/delta**2) for exp(-z**2)), or pass "
                "normalize=False")
    if (m1.has(sp.Integral) and not integrable) or not _finite(m1):
        raise KernelError(
            f"kernel {name} is not integrable against z: int_0^delta z*mu(z) dz = {m1} does not converge; "
            "D_mu f(x) needs int |z mu(z)| dz < oo (for z**p kernels, p > -2)"
        )
    if integrable is False:
        raise KernelError(
            f"kernel {name} is not integrable: int_0^delta |z*mu(z)| dz diverges; D_mu f(x) needs it finite"
        )
    m1 = sp.simplify(2 * m1)
    if m1 == 0 or _num(m1) == 0:
        raise KernelError(
            f"kernel {name} has first moment int z*mu(z) dz = 0: D_mu x = 0, so it cannot approximate a "
            "derivative and cannot be normalized"
        )
    scale = sp.simplify(1 / m1) if normalize else sp.Integer(1)
    mu_plus = sp.simplify(scale * raw).subs(zp, z)
    return _checked(Kernel(name=name, mu_plus=mu_plus, normalize=normalize, scale=scale, **kw))


def _surrogate_kernel(prof, name: str, normalize: bool) -> Kernel:
    """The kernel ``mu = -rho'`` of a checked profile (:class:`nonlocal_calc.profiles.Profile`), with its
    smoothing profile set to the profile (lowered by ``rho(delta)`` for a surrogate on the whole line) once that
    passes the defining identities of rho."""
    from .symbols import x

    info = {"surrogate": prof.rho, "support": prof.support, "integral": prof.integral}
    if prof.support == "horizon":
        kernel = _build(name, prof.mu_plus, normalize, info=info)
        rho = prof.rho.subs(x, _s)
    else:  # no delta in mu: not normalized on a finite horizon (its first moment there is below int rho)
        kernel = Kernel(name=name, mu_plus=prof.mu_plus, normalize=False, info=info)
        rho = prof.rho.subs(x, _s) - prof.rho.subs(x, delta)
    failure = rho_mismatch(kernel, rho, _s)
    if failure is not None:
        raise KernelError(f"surrogate {prof.rho}: the profile of its kernel fails its check ({failure})")
    kernel.__dict__["rho"] = rho.subs(_s, sp.Abs(z))  # (the cached_property's slot)
    return kernel


def _checked(kernel: Kernel) -> Kernel:
    """``kernel`` once its first moment is 1 (when normalized) at several horizons, by quadrature."""
    failure = normalization_mismatch(kernel)
    if failure is not None:
        raise KernelError(f"kernel {kernel.name}: SymPy's normalization fails its check ({failure})")
    return kernel


def _num(e: sp.Expr) -> complex:
    """``e`` at delta = 7/10 as a number; an unevaluated integral in it (a moment with no closed form) by mpmath's
    quadrature, which SymPy's evalf does not always do (``Integral(z exp(-exp(z)), (z, 0, 7/10))`` stays as it is)."""
    e = e.subs(delta, sp.Rational(7, 10)).replace(lambda a: isinstance(a, sp.Integral), _quad_integral)
    return complex(e.evalf(30))


def _quad_integral(integral: sp.Integral) -> sp.Expr:
    (var, lo, hi), = integral.limits
    if not (lo.is_number and hi.is_number) or integral.function.free_symbols - {var}:
        return integral
    f = sp.lambdify(var, integral.function, "mpmath")
    with mpmath.workdps(30):
        return sp.Float(mpmath.quad(f, [lo, hi]), 30)


def _finite(e: sp.Expr) -> bool:
    if e.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return False
    try:
        v = _num(e)
    except (TypeError, ValueError):
        return False
    return v == v and abs(v) != float("inf")


def _weighted_abs_integrable(raw: sp.Expr) -> bool | None:
    """Whether ``int_0^delta |z mu(z)| dz < oo`` (at delta = 1): mu continuous inside the horizon, ``mu = O(z**q)``
    with q > -2 at 0, and at the horizon bounded or ``O((delta - z)**q)`` with q > -1. None where SymPy cannot
    tell (each question gets :data:`~nonlocal_calc.kernel_checks.SYMBOLIC_STEP` seconds of CPU time)."""
    at1 = raw.subs(delta, 1)
    verdicts = [attempt(SYMBOLIC_STEP, lambda: _continuous_inside(at1)),
                attempt(SYMBOLIC_STEP, lambda: _integrable_at(at1 * _zp, _zp)),
                attempt(SYMBOLIC_STEP, lambda: _integrable_at(at1.subs(_zp, 1 - _zp), _zp))]
    if False in verdicts:
        return False
    return None if None in verdicts else True


def _continuous_inside(at1: sp.Expr) -> bool | None:
    from sympy.calculus.util import continuous_domain

    try:
        return continuous_domain(at1, _zp, sp.Interval.open(0, 1)) == sp.Interval.open(0, 1)
    except (NotImplementedError, ValueError, TypeError):
        return None


def _integrable_at(f: sp.Expr, w: sp.Symbol) -> bool | None:
    """Whether f (in w > 0) is integrable at w = 0+: its leading power above -1, or a finite limit."""
    try:
        _, q = f.leadterm(w)
        if q.is_number:
            return bool(q > -1)
    except (ValueError, NotImplementedError, TypeError, sp.PoleError):
        pass
    try:
        lim = sp.limit(f, w, 0, "+")
    except (ValueError, NotImplementedError, TypeError):
        return None
    return True if lim.is_finite else None


# ------------------------------------------------------------------ catalogue
def power(p: float | int | str | sp.Expr = 0, normalize: bool = True) -> Kernel:
    """``mu(z) = sign(z) |z|**p`` for real p > -2 (singular for p < 0), normalized by default.

    p is read exactly (:func:`~nonlocal_calc.parsing.exact_number`): a float as the simplest fraction whose float
    it is (``power(-1.6666666666666667)`` is ``power(-5/3)``), text as written (``power("0.3")`` is
    ``power(3/10)``).

    >>> power(-1.6666666666666667).name, power("-1.6666666666666667").name
    ('power(-5/3)', 'power(-16666666666666667/10000000000000000)')
    >>> power(1).mu_plus
    3*z/(2*delta**3)
    >>> power("-1/2").mu_plus
    3/(4*delta**(3/2)*sqrt(z))
    """
    if isinstance(p, Parameter):
        return _power_family(p, normalize)
    pe = exact_number(p, "the power kernel's p")
    if not pe.is_real or pe.free_symbols:
        raise KernelError(f"power kernel needs a real number p > -2, got p = {p!r}")
    if pe <= -2:
        raise KernelError(
            f"power kernel with p = {pe}: the first moment int z*mu(z) dz diverges at z = 0 for p <= -2; choose p > -2"
        )
    names = {0: "sign", 1: "linear"}
    name = names.get(pe, f"power({pe})")
    # int_{-delta}^{delta} z * sign(z)|z|^p dz = 2 delta^(p+2) / (p+2), finite and positive for p > -2
    return _build(name, z**pe, normalize, first_moment=2 * delta ** (pe + 2) / (pe + 2), power=pe)


def _power_family(p: Parameter, normalize: bool) -> Kernel:
    """``power(p)`` for every p of the parameter's range (which must lie in p > -2), checked at values spread
    over it."""
    if not p.domain.is_subset(sp.Interval.open(-2, sp.oo)):
        raise KernelError(f"power kernel with p in {p.domain}: the first moment diverges for p <= -2; declare the "
                          f"parameter within p > -2 (e.g. Parameter({p.name!r}, '> -2'))")
    pe = p.symbol
    scale = (pe + 2) / (2 * delta ** (pe + 2)) if normalize else sp.Integer(1)
    kernel = Kernel(name=f"power({p.name})", mu_plus=sp.powsimp(scale * z**pe), normalize=normalize, scale=scale,
                    power=pe, parameters=(p,), rebuild=lambda vals, rem: power(vals.get(pe, p), normalize))
    return _checked_at_samples(kernel)


def _checked_at_samples(kernel: Kernel) -> Kernel:
    """A parametric kernel once its normalization holds at parameter values spread over their ranges."""
    for vals in _parameters.sample_points(kernel.parameters):
        failure = normalization_mismatch(kernel._plain(vals))
        if failure is not None:
            raise KernelError(f"kernel {kernel.name}: the normalization fails its check at {_show(vals)} ({failure})")
    return kernel


def _show(vals: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in vals.items())


def _parametric_integral(integrand: sp.Expr, var: sp.Symbol, lo: sp.Expr, hi: sp.Expr,
                         parameters: tuple[Parameter, ...]) -> sp.Expr | None:
    """SymPy's ``int_lo^hi integrand d(var)`` with its conditions on the parameters decided over their ranges
    (:func:`~nonlocal_calc.parameters.decide`); branches on the parameters alone that the ranges do not decide are
    kept; None when there is no closed form or a condition on anything else remains."""
    w = sp.Dummy("w", positive=True)
    try:
        r = attempt(SYMBOLIC_STEP, lambda: sp.integrate(integrand.subs(var, w), (w, lo, hi)))
    except DerivationTimeout:
        raise
    except Exception:  # noqa: BLE001  (SymPy's integrate fails with many kinds of exceptions)
        return None
    if r is None or r.has(sp.Integral):
        return None
    r = _parameters.decide(sp.piecewise_fold(r), parameters)
    own = {p.symbol for p in parameters}
    for pw in r.atoms(sp.Piecewise):
        if any(not c.free_symbols <= own for _, c in pw.args):
            return None
    return r


def _parametric(expr: sp.Expr, name: str | None, normalize: bool, declared: tuple[Parameter, ...],
                rebuild=None) -> Kernel:
    """A kernel typed with free parameters: checked as a fixed kernel at parameter values spread over their
    ranges, normalized by a first moment in closed form valid over the whole ranges."""
    own = {p.symbol for p in declared}
    extra = expr.free_symbols - {z, delta} - own
    if extra:
        names = ", ".join(sorted(str(s) for s in extra))
        raise KernelError(f"kernel {expr} has symbols other than z, delta and its parameters: {names}; give them "
                          "numeric values or declare them in params")
    unused = [p.name for p in declared if p.symbol not in expr.free_symbols]
    if unused:
        raise KernelError(f"kernel {expr}: the parameter(s) {', '.join(unused)} do not appear in it")
    for vals in _parameters.sample_points(declared):
        try:
            Kernel._from_sympy(expr.subs(vals), None, normalize)
        except KernelError as exc:
            raise KernelError(f"kernel {expr} at {_show(vals)}: {exc}; declare a range of the parameters where the "
                              "kernel is valid") from None
    raw = sp.simplify(expr.subs(z, _zp)).subs(_zp, z)
    scale = sp.Integer(1)
    if normalize:
        m1 = _parametric_integral(z * raw, z, sp.Integer(0), delta, declared)
        if m1 is None or m1.has(sp.Piecewise):
            raise KernelError(f"kernel {expr}: SymPy finds no closed form of the first moment valid over the whole "
                              f"range of {', '.join(p.name for p in declared)} ({m1}); narrow the range, give the "
                              "parameters values, or pass normalize=False")
        scale = sp.simplify(1 / (2 * m1))
    label = name or str(expr)

    def typed(vals, remaining):
        kw = {"params": {p.name: p for p in remaining}} if remaining else {}
        return Kernel.from_expr(expr.subs(vals), name, normalize, **kw)

    kernel = Kernel(name=label, mu_plus=sp.powsimp(sp.simplify(scale * raw)), normalize=normalize, scale=scale,
                    parameters=declared, rebuild=rebuild or typed)
    return _checked_at_samples(kernel)


def sign(normalize: bool = True) -> Kernel:
    """The poster's mu1: ``sign(z)`` on the horizon, i.e. ``power(0)``."""
    return power(0, normalize)


def linear(normalize: bool = True) -> Kernel:
    """The poster's mu2: ``z`` on the horizon, i.e. ``power(1)``."""
    return power(1, normalize)


def dirac_pair(normalize: bool = True) -> Kernel:
    """Point masses at ``+-delta``: ``D_mu f(x) = (f(x+delta) - f(x-delta)) / (2 delta)``, the central difference.

    >>> dirac_pair().moment(3)
    delta**2
    """
    mass = 1 / (2 * delta) if normalize else sp.Integer(1)
    return Kernel(name="dirac_pair", mu_plus=mass, normalize=normalize, scale=mass, discrete=True)


def gaussian(sigma: float | str | sp.Expr | Parameter | None = None, normalize: bool = True,
             of_delta: bool = False) -> Kernel:
    """``mu(z) = z exp(-z**2 / (2 sigma**2))`` on the horizon (a truncated Gaussian derivative).

    Its smoothing profile rho is a Gaussian bump lowered to vanish at ``+-delta``. ``sigma`` is a
    positive number or a formula in delta; the default is ``delta/2``. With ``of_delta=True`` sigma is a fraction
    of the horizon (``gaussian("1/2", of_delta=True)`` is the default). A
    :class:`~nonlocal_calc.parameters.Parameter` (range within sigma > 0) leaves sigma free: one kernel for every
    width, absolute or as a fraction of delta.

    >>> gaussian().rho_nonnegative
    True
    >>> gaussian(Parameter("r", "(0, 1]"), of_delta=True).name
    'gaussian(sigma=delta*r)'
    """
    if isinstance(sigma, Parameter):
        if not sigma.domain.is_subset(sp.Interval.open(0, sp.oo)):
            raise KernelError(f"gaussian kernel needs sigma > 0 over the whole range of {sigma.name}; declare it "
                              f"'positive' or an interval within it, got {sigma.assumption!r}")
        sig = sigma.symbol * (delta if of_delta else 1)

        def rebuild(vals, remaining):
            return gaussian(vals.get(sigma.symbol, sigma), normalize, of_delta)

        return _parametric(z * sp.exp(-(z**2) / (2 * sig**2)), f"gaussian(sigma={sig})", normalize, (sigma,),
                           rebuild)
    if sigma is None:
        sig = delta / 2
    elif isinstance(sigma, str):
        sig = parse_expr(sigma, {"delta"})
    else:
        sig = exact_number(sigma, "the gaussian kernel's sigma")
    sig = sig * delta if of_delta else sig
    if sig.free_symbols - {delta} or not (sig.subs(delta, 1).is_positive):
        raise KernelError(f"gaussian kernel needs sigma > 0 (a number or a formula in delta), got {sigma!r}")
    return _build(f"gaussian(sigma={sig})", z * sp.exp(-(z**2) / (2 * sig**2)), normalize)


_NAMED = {"sign": sign, "mu1": sign, "linear": linear, "mu2": linear, "dirac_pair": dirac_pair,
          "dirac": dirac_pair, "central": dirac_pair, "gaussian": gaussian, "power": power}


def names() -> list[str]:
    """The kernel names :func:`get` understands."""
    return sorted(_NAMED)


def get(spec: str | Kernel, normalize: bool = True) -> Kernel:
    """A kernel from a short spec: ``"sign"``, ``"linear"``, ``"power(-1/2)"``, ``"dirac_pair"``, ``"gaussian(0.05)"``.

    >>> get("power(2)").name
    'power(2)'
    """
    if isinstance(spec, Kernel):
        return spec
    return _get(str(spec), normalize)


@lru_cache(maxsize=64)
def _get(spec: str, normalize: bool) -> Kernel:
    m = re.fullmatch(r"\s*([A-Za-z_0-9]+)\s*(?:\((.*)\))?\s*", str(spec))
    if not m or m.group(1).lower() not in _NAMED:
        raise KernelError(
            f"unknown kernel {spec!r}; known kernels: {', '.join(names())} "
            "(e.g. 'power(-1/2)', 'gaussian(delta/3)'), or pass a formula with Kernel.from_expr / --kernel-expr"
        )
    build = _NAMED[m.group(1).lower()]
    if m.group(2) is None or not m.group(2).strip():
        return build(normalize=normalize)
    arg = m.group(2).strip()
    if build is power:
        try:
            arg = parse_expr(arg, set())
        except ExpressionError as exc:
            raise KernelError(str(exc)) from None
    elif build is not gaussian:
        raise KernelError(f"kernel {m.group(1)!r} takes no parameter")
    return build(arg, normalize=normalize)
