"""Random (activation, kernel, x, delta) drawn from the grammar of accepted inputs (tests/grammar.py), checked
against the test's own reference computed from the raw formulas (tests/independent.py, which shares nothing with
the package: not its rho, moments, kernel halves, breakpoints or quadrature).

For every drawn pair the engine either refuses it with one of its documented errors (ActivationError,
KernelError, ExpressionError) or:

* ``evaluate(x, delta, dps=30)`` agrees with the reference to 25 digits (a PrecisionWarning counts as the
  engine saying it could not certify the value);
* the float64 ufunc is within 1e-13 (1e-12 where it evaluates by quadrature) and the float32 ufunc within 2e-6,
  relative to max(|value|, 1e-2), of the reference at the (rounded) inputs it was given;
* for polynomials of degree <= 3, D_mu f(x) = f'(x) + a_3 M_3 / M_1 exactly (times M_1 for a raw kernel), with
  the moments M_k = int z^k mu(z) dz integrated by the reference: every kernel, every horizon, every x.

Each example is one pair (derived and compiled once) with several points. Failures are collected over the whole
run, not raised at the first one (each new pair costs a derivation and a compilation, so Hypothesis' shrinking is
off), and listed at the end with a reproducer each. Failures of known open bugs (``KNOWN_BUGS``, each naming its
entry in the project's findings list) are reported as KnownBugWarning instead.

Profiles (tests/conftest.py): "ci" runs the explicit pair and one derandomized pair per test (compilation dominates its
time); ``--hypothesis-profile=thorough`` 320 pairs per test (NLC_PROPERTY_PAIRS sets another number). Hypothesis
draws only the pair: its points come from a generator seeded by the pair (grammar.point_rng), so that every new
example is a new pair. Set NLC_PROPERTY_LOG to a file to get one JSON line per pair, with the CPU seconds of each
stage (the thorough run's record; tools/property_log.py sums it up; see docs/dev/property-tests.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import traceback
import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import grammar
import independent as ind
import mpmath
import numpy as np
import sympy as sp
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

import nonlocal_calc as nlc
from nonlocal_calc.activations import ActivationError

N = settings.default.max_examples
THOROUGH = N >= 100
#: pairs per test: each costs a derivation (up to the CPU budget) and a compilation (5-25 s); NLC_PROPERTY_PAIRS
#: sets it in the thorough profile (a run split between the tests)
PAIRS = int(os.environ.get("NLC_PROPERTY_PAIRS", N)) if THOROUGH else 1
#: CPU budget of the symbolic search: the default in the thorough run; shorter in CI (a fallback to quadrature
#: is a correct answer too, and is checked the same way)
BUDGET = {} if THOROUGH else {"timeout": 5.0}
REFUSALS = (ActivationError, nlc.KernelError, nlc.ExpressionError)
TARGETS = {"float64": 1e-13, "float64-quadrature": 1e-12, "float32": 2e-6}
DIGITS = 25
SMALL = 1e-2  # the ufunc targets are relative to max(|value|, SMALL)
SETTINGS = dict(max_examples=PAIRS, phases=[Phase.explicit, Phase.reuse, Phase.generate])
#: CPU seconds one pair may take (construction, derivation, compilation, references, checks); past them the stage
#: that is running is recorded as a failure (a stage of the test's own reference: as a point it could not check)
PAIR_CPU = 900


class PairTimeout(BaseException):
    """The pair ran past PAIR_CPU (a BaseException: the code under test must not swallow it)."""


@contextlib.contextmanager
def cpu_limit(seconds: float):
    """Raise PairTimeout after ``seconds`` of the process's user CPU time (ITIMER_VIRTUAL: the package's own
    budget uses ITIMER_PROF), again every 30 s if it was swallowed."""
    def expire(signum, frame):
        raise PairTimeout

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds, 30)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


class KnownBugWarning(UserWarning):
    """A check failed in the way an open entry of the findings list describes."""


@dataclass
class KnownBug:
    """An open bug: ``applies(case, check, detail)`` says whether a failed check is an instance of it."""

    name: str  # the entry in the findings list
    applies: object


#: Open bugs the properties find, each narrowly matched (kept until the fix lands on main).
KNOWN_BUGS: list[KnownBug] = []


# ----------------------------------------------------------------------------- bookkeeping
@dataclass
class Tally:
    """What one test saw over its pairs."""

    examples: int = 0
    pairs: set = field(default_factory=set)  # distinct (activation, kernel) derived
    refused: int = 0
    points: int = 0
    checks: int = 0
    uncheckable: int = 0  # the reference could not certify its digits, or the integral diverges
    failures: list = field(default_factory=list)
    known: dict = field(default_factory=dict)


@dataclass
class Case:
    activation: object
    kernel: object
    D: object = None
    method: str = ""
    stage: str = ""  # what runs now (named when the pair runs out of time)
    log: dict = field(default_factory=dict)
    since: float = 0.0  # process CPU time when the stage began

    def enter(self, stage: str) -> None:
        """Begin ``stage``; the CPU seconds of the one that ends are added up by kind in the log's "cpu"."""
        now = time.process_time()
        if self.stage:
            kind = self.stage.split("(")[0].split(" at ")[0].strip()
            cpu = self.log.setdefault("cpu", {})
            cpu[kind] = round(cpu.get(kind, 0.0) + now - self.since, 2)
        self.stage, self.since = stage, now

    def reproducer(self, x=None, d=None, call="evaluate(x, delta, dps=30)") -> str:
        text = f"derive({self.activation}, {self.kernel})"
        return text if x is None else f"{text}.{call} at x = {x!r}, delta = {d!r}"


def _log(entry: dict) -> None:
    path = os.environ.get("NLC_PROPERTY_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")


def _fail(tally: Tally, case: Case, check: str, message: str, detail: dict) -> None:
    """Record a failed check: as an instance of a known open bug if one matches it, else as a failure."""
    for bug in KNOWN_BUGS:
        if bug.applies(case, check, detail):
            tally.known.setdefault(bug.name, []).append(message)
            case.log.setdefault("known", []).append([bug.name, message])
            return
    tally.failures.append(message)
    case.log.setdefault("failures", []).append(message)


def _finish(tally: Tally, what: str) -> None:
    for name, msgs in tally.known.items():
        warnings.warn(f"{len(msgs)} failed checks of the open bug '{name}', e.g. {msgs[0]}", KnownBugWarning,
                      stacklevel=2)
    summary = (f"{what}: {tally.examples} examples, {len(tally.pairs)} distinct pairs derived ({tally.refused} "
               f"refused), {tally.points} points, {tally.checks} checks, {tally.uncheckable} points without a "
               f"certified reference")
    print(summary)
    assert tally.pairs
    assert not tally.failures, f"{summary}; {len(tally.failures)} failed:\n" + "\n".join(tally.failures[:40])


def _derive(case: Case, tally: Tally) -> bool:
    """Build and derive the pair; False (counted) when the engine refuses it with a documented error; a failure
    for any other exception."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nlc.QuadratureFallbackWarning)
            case.enter("Activation construction")
            act = case.activation.make()
            case.enter("Kernel construction")
            ker = case.kernel.make()
            case.enter("derive")
            case.D = nlc.derive(act, ker, **BUDGET)
    except REFUSALS as exc:
        tally.refused += 1
        case.log["refused"] = f"{type(exc).__name__}: {exc}"
        kcase = case.kernel
        if kcase.route == "power" or kcase.route == "get" and kcase.arg.startswith("power"):
            # the catalogue documents every p > -2, which is all the grammar draws
            _fail(tally, case, "refused", f"{case.reproducer()} refused: {type(exc).__name__}: {exc}", {"exc": exc})
        return False
    except Exception as exc:  # noqa: BLE001 (every other exception is a bug)
        _fail(tally, case, "derive", f"{case.reproducer()}: {type(exc).__name__}: {exc}", {"exc": exc})
        return False
    case.method = case.D.method
    case.log["method"] = case.method
    return True


def _timeout(case: Case, tally: Tally) -> None:
    case.log["timeout"] = case.stage
    if case.stage == "reference":
        tally.uncheckable += 1  # the test's own reference, not the engine
        return
    _fail(tally, case, "timeout", f"{case.reproducer()}: {case.stage} ran past {PAIR_CPU} s of CPU",
          {"stage": case.stage})


def _ufunc(case: Case, tally: Tally):
    case.enter("compile")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u = case.D.ufunc()
    except Exception as exc:  # noqa: BLE001
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        _fail(tally, case, "compile", f"{case.reproducer()}.ufunc(): {tb[:300]}", {"exc": exc})
        return None
    case.log["ufunc_method"] = u.method
    return u


# ----------------------------------------------------------------------------- references
def reference(case: Case, xv: float, dv: float, dps: int = 30):
    """D f(x) from the raw formulas; None where the reference cannot certify it (counted, not checked)."""
    acase, kcase = case.activation, case.kernel
    case.enter("reference")
    try:
        if kcase.raw is None:
            return ind.dirac_pair(acase.raw, xv, dv, dps, kcase.normalize)
        return ind.nonlocal_derivative(acase.raw, kcase.raw, xv, dv, dps, kcase.normalize)
    except (ind.Divergent, ind.Inaccurate):
        return None


def _check_evaluate(case: Case, tally: Tally, xv: float, dv: float, want) -> None:
    tally.checks += 1
    case.enter(f"evaluate({xv!r}, {dv!r}, dps=30)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = case.D.evaluate(xv, dv, dps=30)
    except Exception as exc:  # noqa: BLE001
        _fail(tally, case, "evaluate", f"{case.reproducer(xv, dv)}: {type(exc).__name__}: {exc}",
              {"x": xv, "delta": dv, "exc": exc})
        return
    if any(issubclass(w.category, nlc.PrecisionWarning) for w in caught):
        case.log.setdefault("precision_warnings", []).append([xv, dv])
        return  # the engine says it could not certify this value
    with mpmath.workdps(60):
        err = abs(mpmath.mpf(got) - want)
        ok = mpmath.isfinite(got) and err <= mpmath.mpf(10) ** -DIGITS * max(abs(want), mpmath.mpf(10) ** -80)
    if not ok:
        _fail(tally, case, "evaluate", f"{case.reproducer(xv, dv)} = {mpmath.nstr(got, 30)}, reference "
              f"{mpmath.nstr(want, 30)} (method {case.method})", {"x": xv, "delta": dv, "got": got, "want": want})


def _check_ufunc(case: Case, tally: Tally, u, dtype, xs: list[float], dv: float, wants: list) -> None:
    """``u`` over the array ``xs`` with a scalar delta (the loop its users run), against the reference values."""
    name = np.dtype(dtype).name
    rtol = TARGETS["float64-quadrature" if name == "float64" and u.method == "quadrature" else name]
    case.enter(f"the {name} ufunc at delta = {dv!r}")
    with np.errstate(all="ignore"):
        got = u(np.array(xs, dtype=dtype), dtype(dv))
    for xv, g, want in zip(xs, got, wants):
        if want is None:
            continue
        tally.checks += 1
        w = float(want)
        g = float(g)
        if not (np.isfinite(g) and abs(g - w) <= rtol * max(abs(w), SMALL)):
            err = abs(g - w) / max(abs(w), SMALL) if np.isfinite(g) else float("inf")
            _fail(tally, case, name, f"{case.reproducer(xv, dv, 'ufunc()')} in {name} = {g!r}, reference {w!r} "
                  f"(error {err:.2g} of max(|value|, 1e-2), target {rtol:g}; method {u.method})",
                  {"x": xv, "delta": dv, "got": g, "want": w, "err": err})


def _as(dtype, v: float) -> float:
    return float(dtype(v))


def _distinct(pts: list) -> list:
    """The drawn points without repeats: {delta: [x, ...]} in drawing order."""
    out: dict[float, list[float]] = {}
    for dv, xs in pts:
        out.setdefault(dv, [])
        out[dv] += [xv for xv in xs if xv not in out[dv]]
    return list(out.items())


def _text(t: str) -> grammar.ActivationCase:
    return grammar.ActivationCase("text", t, ind.parse(t))


#: One pair per test that every run checks besides the drawn ones (the CI profile draws two, which may be
#: trivial or hit a known bug): a typed activation with kinks away from 0 and a smooth bend, with a typed sum of
#: a singular power and a Gaussian factor; a cubic with a raw Gaussian kernel (a_3 M_3 / M_1 away from 0).
EXPLICIT = {
    "reference": (_text("Min(Max((2)*(x - (1/2)), -1), 1) + (1/2)*(tanh((x - (-1))))"),
                  grammar.KernelCase("text", "sign(z)*Abs(z)**(-1/2) + z*exp(-(3)*z**2/delta**2)",
                                     ind.parse("sign(z)*Abs(z)**(-1/2) + z*exp(-(3)*z**2/delta**2)", (ind.Z,)))),
    "polynomial": (("(1/3)*x**1 + (-5/2)*x**2 + (7)*x**3", [Fraction(0), Fraction(1, 3), Fraction(-5, 2), Fraction(7)]),
                   grammar.KernelCase("gaussian", 0.3, ind.Z * sp.exp(-ind.Z**2 / (2 * sp.Rational(3, 10)**2)),
                                      normalize=False)),
}


# ----------------------------------------------------------------------------- (a), (b), (c)
_CHECKED: set = set()  # (test, activation, kernel) of the pairs this process has run


def _run_pair(test: str, tally: Tally, case: Case, kink_points: tuple, wanted) -> None:
    """Derive and compile one pair, draw its points and check evaluate and both ufuncs against
    ``wanted(dtype, xs, delta)`` (reference values, None where there is none), within PAIR_CPU; logged."""
    key = (test, str(case.activation), str(case.kernel))
    if key in _CHECKED:  # drawn again: the same points (seeded by the pair), the same checks
        return
    _CHECKED.add(key)
    case.log.update(test=test, activation=str(case.activation), kernel=str(case.kernel))
    _log({"start": test, "activation": str(case.activation), "kernel": str(case.kernel)})
    start, checks = time.time(), tally.checks
    try:
        with cpu_limit(PAIR_CPU):
            if not _derive(case, tally):
                return
            pts = _distinct(grammar.points(grammar.point_rng(test, str(case.activation), str(case.kernel)), kink_points))
            tally.examples += 1
            tally.pairs.add((str(case.activation), str(case.kernel)))
            case.log["points"] = pts
            u = _ufunc(case, tally)
            for dv, xs in pts:
                for dtype in (np.float64, np.float32):
                    d = _as(dtype, dv)
                    if d <= 0:
                        continue
                    xd = [_as(dtype, xv) for xv in xs]
                    wants = wanted(dtype, xd, d)
                    if dtype is np.float64:
                        for xv, want in zip(xd, wants):
                            if want is not None:
                                _check_evaluate(case, tally, xv, d, want)
                    if u is not None:
                        _check_ufunc(case, tally, u, dtype, xd, d, wants)
    except PairTimeout:
        _timeout(case, tally)
    finally:
        case.enter("")
        case.log.update(seconds=round(time.time() - start, 1), checks=tally.checks - checks)
        _log(case.log)


def test_random_pairs_against_the_independent_reference():
    """evaluate to 25 digits, float64 and float32 ufuncs to their targets, at random points of random pairs."""
    tally = Tally()

    @settings(**SETTINGS)
    @given(grammar.activations, grammar.kernels())
    @example(*EXPLICIT["reference"])
    def run(acase, kcase):
        case = Case(acase, kcase)
        refs = {}  # (the float32 inputs are often the float64 ones)

        def wanted(dtype, xs, d):
            for xv in xs:
                if (xv, d) not in refs:
                    refs[(xv, d)] = reference(case, xv, d)
                    tally.points += 1
                    tally.uncheckable += refs[(xv, d)] is None
            return [refs[(xv, d)] for xv in xs]

        _run_pair("reference", tally, case, acase.kinks, wanted)

    run()
    _finish(tally, "random pairs against the reference")


# ----------------------------------------------------------------------------- (d)
_poly_coef = st.sampled_from([Fraction(0), Fraction(1), Fraction(-1), Fraction(1, 3), Fraction(-5, 2), Fraction(7)])


@st.composite
def polynomials(draw):
    """a0 + a1 x + a2 x^2 + a3 x^3 with a nonzero leading coefficient (degree 1 to 3), and its coefficients."""
    deg = draw(st.integers(1, 3))
    coefs = [draw(_poly_coef) for _ in range(deg)] + [draw(_poly_coef.filter(bool))]
    text = " + ".join(f"{grammar._q(c)}*x**{k}" for k, c in enumerate(coefs) if c)
    return text, coefs + [Fraction(0)] * (3 - deg)


def _moments(kcase, dv: float):
    """(M_1, M_3) of the raw kernel at the horizon dv, integrated by the reference (point masses: 2 delta^k)."""
    if kcase.raw is None:
        with mpmath.workdps(60):
            return 2 * mpmath.mpf(dv), 2 * mpmath.mpf(dv) ** 3
    m1 = ind.odd_integral(None, kcase.raw, 0, dv, dps=40)[0]
    m3 = ind.odd_integral(ind.X**3, kcase.raw, 0, dv, dps=40)[0]  # int_0^d [w^3 - (-w)^3] mu = M_3
    return m1, m3


def test_polynomials_have_their_exact_derivative_for_every_kernel():
    """D_mu (a0 + a1 x + a2 x^2 + a3 x^3) = a1 + 2 a2 x + 3 a3 x^2 + a3 M_3/M_1 (odd mu: the even moments vanish),
    times M_1 when the kernel is not normalized; evaluate to 25 digits and both ufuncs to their targets."""
    tally = Tally()

    @settings(**SETTINGS)
    @given(polynomials(), grammar.kernels())
    @example(*EXPLICIT["polynomial"])
    def run(poly, kcase):
        text, (_, a1, a2, a3) = poly
        case = Case(grammar.ActivationCase("text", text, ind.parse(text)), kcase)

        def wanted(dtype, xs, d):
            case.enter("reference")
            m1, m3 = _moments(kcase, d)
            tally.points += len(xs)
            with mpmath.workdps(60):
                c1, c2, c3 = (mpmath.mpf(c.numerator) / c.denominator for c in (a1, a2, a3))
                fp = [c1 + 2 * c2 * xv + 3 * c3 * mpmath.mpf(xv) ** 2 for xv in xs]
                return [v + c3 * m3 / m1 if kcase.normalize else v * m1 + c3 * m3 for v in fp]

        _run_pair("polynomial", tally, case, (), wanted)

    run()
    _finish(tally, "polynomials")
