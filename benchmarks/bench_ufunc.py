"""Speed of the compiled ufuncs against NumPy, timed side by side in one run (ratios are what matter).

Contenders, on the same 10**7 values (float64, then float32):

* ``copyto``: ``np.copyto(out, x)``, the memory-bandwidth floor;
* ``ufunc``: ``D.ufunc()`` (``nonlocal_calc.codegen.make_ufunc``) writing into ``out``;
* ``parallel``: ``make_ufunc(D, target="parallel")`` (2 threads here);
* ``public``: with ``--public-route``, the ufunc of the public-API route (``NONLOCAL_CALC_INTERNALS=0``:
  ``numba.vectorize`` over one element, no Numba or NumPy internals; see ``nonlocal_calc/codegen/internals.py``);
* ``lambdify``: SymPy ``lambdify((x, delta), D.expr, "numpy")`` of the closed form;
* ``numpy-stable``: NumPy evaluating the same stable closed form the generated code uses (the cells of
  :mod:`nonlocal_calc.codegen.stable`, each on its mask; Li_s(-e^u) as a NumPy port of the generated series);
* ``poster``: the poster's ``np.where`` code (ReLU with the sign kernel only).

Each contender runs ``--repeat`` times, interleaved with the others; the minimum is kept.

    python benchmarks/bench_ufunc.py                     # default pairs, delta = 0.1 and 1
    python benchmarks/bench_ufunc.py --pairs relu/sign --delta 0.1 --n 1000000
    python benchmarks/bench_ufunc.py --pairs all --delta 0.1 --n 1000000 --repeat 3 --no-parallel
    python benchmarks/bench_ufunc.py --update-docs docs/ufuncs.md
    python benchmarks/bench_ufunc.py --public-route --no-parallel --n 1000000   # the two routes side by side
    python benchmarks/bench_ufunc.py --pairs all --delta 0.1 --n 1000000 --repeat 3 --no-parallel \
        --update-docs docs/ufuncs.md     # the second table: every closed-form pair against lambdify
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np
import sympy as sp

from nonlocal_calc import markup

DEFAULT_PAIRS = ["relu/sign", "tanh/sign", "logistic/sign", "softplus/sign", "silu/sign", "elu/sign",
                 "arctan/linear", "gelu/sign"]


# ---------------------------------------------------------------- NumPy ports of the helper functions
def np_log1pexp(u):
    u = np.asarray(u)
    return np.maximum(u, 0) + np.log1p(np.exp(-np.abs(u)))


def np_linegexp(s, u):
    """Li_s(-exp(u)) vectorized: the w-series of the generated code, inversion for u > 0."""
    from nonlocal_calc.codegen import specfun

    s = int(s)
    u = np.asarray(u, dtype=float)
    c = [float(v) for v in specfun.li_w_coeffs(s)]
    w = -np.log1p(np.exp(-np.abs(u)))
    core = np.full_like(w, c[-1])
    for ck in c[-2::-1]:
        core = core * w + ck
    p = specfun._inversion_poly(s)
    poly = np.full_like(u, float(p[-1]))
    for pk in p[-2::-1]:
        poly = poly * u + float(pk)
    sign = -1.0 if s % 2 == 0 else 1.0
    return np.where(u <= 0, core, sign * core + poly)


def numpy_fast(D):
    """NumPy evaluating exactly the formula of the generated fast path (same hoisting, same shared exponential)."""
    from nonlocal_calc.codegen import cells, fastpath
    from nonlocal_calc.codegen.printer import NumbaPrinter
    from nonlocal_calc.symbols import delta, x

    if D.method != "closed-form":
        return None
    found = cells.closed_form_block(NumbaPrinter(), D)
    sym = found.value
    if found.checked or sym is None:
        return None
    body, n, hoisted = fastpath.fast_formula(sym)
    E = sp.Symbol("E", positive=True)
    mods = [{"expm1": np.expm1, "log1p": np.log1p}, "numpy"]
    hs = [sp.lambdify(delta, e, mods) for _, e in hoisted]
    f = sp.lambdify((x, E, delta, *[s_ for s_, _ in hoisted]), body, mods)

    def run(xv, dv):
        Ev = np.exp(-np.abs(xv) / n) if n else None
        return f(xv, Ev, dv, *[h(dv) for h in hs])

    return run


def numpy_stable(D):
    """A NumPy function (x, delta) evaluating the stable closed form cell by cell (None if not applicable)."""
    fast = numpy_fast(D)
    if fast is not None:
        return fast
    from nonlocal_calc.codegen import stable
    from nonlocal_calc.symbols import delta, x

    mods = [{"LiNegExp": np_linegexp, "Log1pExp": np_log1pexp, "expm1": np.expm1, "log1p": np.log1p}, "numpy"]
    if isinstance(D.expr, sp.Piecewise) or D.method != "closed-form":
        return None
    e = stable.protect(D.expr)
    region = stable.Region()
    lc = stable.log_combine(e)
    cells = []
    if lc is not None:
        pref, (neg, pos) = lc
        cells = [(stable.Region(None, sp.Integer(0)), pref * stable.log1p(neg)),
                 (stable.Region(sp.Integer(0), None), pref * stable.log1p(pos))]
    else:
        inv = stable.invert_exponentials(e, region)
        if inv is None:
            return None
        cells = inv
    fns = []
    for reg, ex in cells:
        lo = None if reg.lo is None else sp.lambdify(delta, reg.lo, "numpy")
        fns.append((lo, sp.lambdify((x, delta), ex, mods)))

    def f(xv, dv):
        out = np.empty_like(xv)
        for lo, fn in fns:
            m = np.ones(xv.shape, bool) if lo is None else (xv >= lo(dv))
            out[m] = fn(xv[m], dv)
        return out

    return f


def poster_relu():
    from nonlocal_calc.audit import POSTER_CODE

    ns = {"np": np}
    exec(POSTER_CODE, ns)  # the poster's verbatim code (a constant of the package, not user input)
    return ns["ReLU_deriv"]


def _time(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def public_ufunc(D):
    """The ufunc of the public-API route (built under its own cache key beside the fast route's)."""
    from nonlocal_calc.codegen import internals, make_ufunc

    before = os.environ.get(internals.ENV_VAR)
    os.environ[internals.ENV_VAR] = "0"
    try:
        return make_ufunc(D)
    finally:
        if before is None:
            del os.environ[internals.ENV_VAR]
        else:
            os.environ[internals.ENV_VAR] = before


def bench_pair(pair: str, n: int, deltas, repeat: int, parallel: bool, public: bool = False) -> list[dict]:
    import nonlocal_calc as nlc
    from nonlocal_calc.codegen import make_ufunc
    from nonlocal_calc.symbols import delta, x

    act, ker = pair.split("/", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = nlc.derive(act, ker)
    u = make_ufunc(D)
    up = make_ufunc(D, target="parallel") if parallel else None
    upub = public_ufunc(D) if public else None
    lam = None
    if D.method == "closed-form" and not D.expr.has(sp.polylog):  # NumPy has no polylog
        lam = sp.lambdify((x, delta), D.expr, "numpy")
    stab = numpy_stable(D)
    rows = []
    rng = np.random.default_rng(0)
    base = rng.uniform(-4.0, 4.0, n)
    for dt in (np.float64, np.float32):
        xs = base.astype(dt)
        out = np.empty_like(xs)
        for dv in deltas:
            d = dt(dv)
            cont = {"copyto": lambda xs=xs, out=out: np.copyto(out, xs),
                    "ufunc": lambda xs=xs, d=d, out=out: u(xs, d, out=out)}
            if up is not None:
                cont["parallel"] = lambda xs=xs, d=d, out=out: up(xs, d, out=out)
            if upub is not None:
                cont["public"] = lambda xs=xs, d=d, out=out: upub(xs, d, out=out)
            if lam is not None:
                cont["lambdify"] = lambda xs=xs, d=d: lam(xs, d)
            if stab is not None:
                cont["numpy-stable"] = lambda xs=xs, d=d: stab(xs, d)
            if pair == "relu/sign":
                poster = poster_relu()
                cont["poster"] = lambda xs=xs, d=d, pr=poster: pr(xs, d)
            with np.errstate(all="ignore"):
                for k in list(cont):  # warm-up (compilation, page faults); drop what NumPy cannot evaluate
                    try:
                        cont[k]()
                    except (TypeError, NameError, AttributeError) as exc:  # e.g. erf, polylog: no NumPy version
                        print(f"{pair}: {k} unavailable ({type(exc).__name__}: {exc})")
                        del cont[k]
                times = {k: math.inf for k in cont}
                for _ in range(repeat):  # interleaved: load changes hit every contender alike
                    for k, f in cont.items():
                        times[k] = min(times[k], _time(f, 1))
            rows.append({"pair": pair, "dtype": np.dtype(dt).name, "delta": dv, **times})
    return rows


def table(rows: list[dict]) -> str:
    public = any("public" in r for r in rows)
    head = ("| pair | dtype | delta | ufunc ms | ufunc / copyto | lambdify / ufunc | numpy-stable / ufunc "
            "| poster / ufunc | ufunc / parallel |" + (" public route / ufunc |" if public else ""))
    lines = [head, "|" + "---|" * (10 if public else 9)]
    for r in rows:
        u = r["ufunc"]

        def ratio(a, b):
            return f"{a / b:.2f}" if a is not None and b is not None and math.isfinite(a) else "-"

        lines.append(f"| {markup.escape(r['pair'])} | {r['dtype']} | {r['delta']:g} | {u * 1e3:.1f} | {ratio(u, r['copyto'])} | "
                     f"{ratio(r.get('lambdify'), u)} | {ratio(r.get('numpy-stable'), u)} | "
                     f"{ratio(r.get('poster'), u)} | {ratio(u, r.get('parallel'))} |"
                     + (f" {ratio(r.get('public'), u)} |" if public else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default=",".join(DEFAULT_PAIRS),
                    help="comma-separated activation/kernel pairs, or 'all' (every closed-form pair)")
    ap.add_argument("--delta", default="0.1,1", help="comma-separated horizons")
    ap.add_argument("--n", type=int, default=10**7)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-parallel", action="store_true")
    ap.add_argument("--public-route", action="store_true",
                    help="also time the ufunc of the public-API route (NONLOCAL_CALC_INTERNALS=0)")
    ap.add_argument("--update-docs", metavar="FILE", help="replace the table between the bench markers in FILE")
    args = ap.parse_args(argv)
    import numba  # noqa: F401  (reported with the table)

    deltas = [float(v) for v in args.delta.split(",")]
    rows = []
    pairs = args.pairs.split(",")
    if args.pairs == "all":  # every closed-form pair of the coverage matrix
        import nonlocal_calc as nlc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pairs = [f"{a}/{k}" for a in nlc.activations.names()
                     for k in ("sign", "linear", "power(2)", "power(-1/2)", "dirac_pair")
                     if nlc.derive(a, k).method == "closed-form"]
    for pair in pairs:
        rows += bench_pair(pair, args.n, deltas, args.repeat, not args.no_parallel, args.public_route)
        print(table(rows[-2 * len(deltas):]).splitlines()[-2 * len(deltas):], flush=True)
    text = table(rows)
    print(text)
    if args.update_docs:
        from nonlocal_calc.cache import write_atomic

        tag = "bench-all-table" if args.pairs == "all" else "bench-table"  # two tables: default pairs, all pairs
        begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
        doc = open(args.update_docs).read()
        i, j = doc.index(begin) + len(begin), doc.index(end)
        cmd = "python benchmarks/bench_ufunc.py " + " ".join(argv if argv is not None else sys.argv[1:])
        import numba

        info = f"numpy {np.__version__}, numba {numba.__version__}, {os.cpu_count()} CPUs, n = {args.n}"
        write_atomic(args.update_docs, doc[:i] + f"\n<!-- generated by: {cmd.strip()} ({info}) -->\n\n{text}\n\n"
                     + doc[j:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
