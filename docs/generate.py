"""Regenerate the documentation's generated tables and figures (everything under docs/generated/).

    python docs/generate.py                      # all parts: derivations, catalogue, gallery, surrogates
    python docs/generate.py catalogue gallery    # some parts
    python docs/generate.py gallery --jobs 2     # the gallery on two processes
    python docs/generate.py gallery-md           # only rewrite gallery.md from gallery.json
    python docs/generate.py --check              # regenerate the text outputs into a temporary directory
                                                 # and report the committed files that differ (exit 1)

The pages in docs/ include these files (pymdownx.snippets); the tests check that they are fresh
(tests/test_docs.py, tests/test_derivations.py). Outputs are written atomically. The time each part
took is printed at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import runpy
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "generated"
sys.path.insert(0, str(ROOT))

import mpmath  # noqa: E402
import sympy as sp  # noqa: E402

import nonlocal_calc as nlc  # noqa: E402
from nonlocal_calc import markup  # noqa: E402
from nonlocal_calc.cache import write_atomic  # noqa: E402
from nonlocal_calc.convergence.text import fixed as _fixed  # noqa: E402
from nonlocal_calc.derivation import COVERAGE_KERNELS  # noqa: E402

#: The gallery's study points: a smooth point and the origin (the kink of the piecewise activations).
GALLERY_POINTS = ("0.3", "0")
GALLERY_INTERVAL = (-1, 1)


# ============================================================== derivations
def derivations(out: Path) -> None:
    """Run the six derivations; each writes its tables and figures into ``out``."""
    os.environ["NLC_DERIVATIONS_OUT"] = str(out)
    sys.path.insert(0, str(ROOT / "derivations"))  # derivations import their shared _common.py
    for path in sorted((ROOT / "derivations").glob("[0-9][0-9]_*.py")):
        prec = mpmath.mp.prec
        t0 = time.perf_counter()
        runpy.run_path(str(path), run_name="__main__")
        mpmath.mp.prec = prec
        print(f"  {path.name}: {time.perf_counter() - t0:.1f} s", flush=True)


# ============================================================== catalogue
#: Table cells that are typed, not computed.
_PM_DELTA, _F3 = r"\pm\delta", r"\,f'''(x)"


def _kernel_rows() -> str:
    head = ["kernel", r"$\mu(z)$, $0 < z < \delta$", r"profile $\rho(s)$", r"$\rho \ge 0$", "$M_3$", "$M_5$",
            "leading error at smooth points", r"$A_2 = \int_0^\delta z^2\mu$"]
    rows = []
    for spec in COVERAGE_KERNELS + ["gaussian"]:
        k = nlc.kernels.get(spec)
        m3, m5 = sp.simplify(k.moment(3)), sp.simplify(k.moment(5))
        lead = sp.simplify(m3 / 6)
        a2 = sp.simplify(k.mu_plus * nlc.delta**2) if k.discrete else sp.simplify(
            sp.integrate((nlc.z**2 * k.mu_plus).subs(nlc.z, _zp), (_zp, 0, nlc.delta)))
        mu = (f"mass {markup.math(sp.latex(k.mu_plus))} at {markup.math(_PM_DELTA)}" if k.discrete
              else markup.math(_tex(k.mu_plus)))
        rows.append([markup.code(k.name), mu, markup.math(_tex(k.rho.subs(nlc.z, _s))),
                     "yes" if k.rho_nonnegative else "no", markup.math(_tex(m3)), markup.math(_tex(m5)),
                     markup.math(_tex(lead) + _F3), markup.math(_tex(a2))])
    return markup.table(head, rows) + "\n"


_zp = sp.Symbol("z_p", positive=True)
_s = sp.Symbol("s", real=True)


def _tex(e: sp.Expr) -> str:
    """LaTeX of an exact expression, or of its 6-digit numerical form when the exact one is unreadable."""
    text = sp.latex(e)
    return text if len(text) <= 80 else sp.latex(sp.N(e, 6))


def _closed_forms() -> str:
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nlc.QuadratureFallbackWarning)
        for act in nlc.activations.names():
            a = nlc.activations.get(act)
            parts.append(f'??? note "{markup.escape(act)}: {markup.math("f(x) = " + sp.latex(a.expr))}"\n')
            for ker in COVERAGE_KERNELS:
                D = nlc.derive(act, ker)
                if D.method == "closed-form":
                    body = f"$$D_\\mu f(x) = {sp.latex(D.expr)}$$"
                else:
                    body = "no closed form: evaluated by quadrature of the defining integral"
                parts.append(f"    {markup.code(ker)} kernel\n\n    {body}\n")
    return "\n".join(parts)


def _lecture_discrepancies() -> str:
    """Where the lecture's activation table and the computation disagree, as a Markdown list."""
    from nonlocal_calc import properties

    return "\n".join(f"- {markup.code(d.activation)}, {markup.escape(d.column.replace('_', ' '))}: the lecture says "
                     f"{markup.prose(d.lecture, cell=False)}; computed {markup.prose(d.computed, cell=False)}. "
                     f"{markup.prose(d.why, cell=False)}" for d in properties.compare_with_lecture())


def catalogue(out: Path) -> None:
    """Kernel table, activation table (vs the lecture), coverage matrix, closed forms."""
    from nonlocal_calc import properties

    write_atomic(out / "kernels.md", _kernel_rows())
    write_atomic(out / "activation_table.md", properties.table_markdown() + "\n\nWhere the lecture's table and "
                 "the computation disagree:\n\n" + _lecture_discrepancies() + "\n")
    write_atomic(out / "coverage.md", nlc.coverage_matrix() + "\n")
    write_atomic(out / "closed_forms.md", _closed_forms())


# ============================================================== surrogates
def _moment(entry, k: int) -> sp.Expr:
    """M_k of a library surrogate's kernel: at the infinite horizon, or on the fixed horizon of a compact one."""
    from nonlocal_calc import profiles

    if entry.horizon is None:
        return profiles.line_moment(entry.rho, k)
    return entry.kernel().moment(k).subs(nlc.delta, sp.nsimplify(entry.horizon))


def _number(e: sp.Expr) -> str:
    """LaTeX of a moment: exact when short, else 6 digits; oo as such."""
    if e is sp.oo:
        return r"\infty"
    return sp.latex(sp.Float(e, 6)) if e.is_Float else _tex(e)


def _series(m1: sp.Expr, m3: sp.Expr, m5: sp.Expr) -> str:
    """The moment series of D_mu f, with numbers, as far as the moments are finite."""
    if m3 is sp.oo:
        return r"M_3 = \infty\text{: no series}"
    terms = [(m1, "f'(x)"), (m3 / 6, "f'''(x)")] + ([(m5 / 120, "f^{(5)}(x)")] if m5 is not sp.oo else [])
    text = " + ".join(("" if c == 1 else _number(c) + r"\,") + f for c, f in terms)
    return text + (r" + \dots" if m5 is not sp.oo else r" + \dots\ (M_5 = \infty)")


def _surrogate_tables() -> str:
    from nonlocal_calc import surrogates

    head = ["surrogate (defaults)", r"profile $\rho(x)$", r"$\mu(z)$, $z > 0$", r"$\int\rho$", "$M_3$", "$M_5$",
            r"$D_\mu f$ for smooth $f$", "order in the width: predicted, measured"]
    rows, refused = [], []
    for s in surrogates.CATALOGUE:
        why = s.refusal()
        name = markup.code(s.call)
        if why is not None:
            refused.append([name, markup.math(sp.latex(s.rho)), markup.escape(why)])
            continue
        k = s.kernel()
        mu = k.mu_plus.subs(nlc.delta, sp.nsimplify(s.horizon)) if s.horizon else k.mu_plus
        m1, m3, m5 = (_moment(s, j) for j in (1, 3, 5))
        where = "" if s.horizon is None else f" on $(-{s.horizon:g}, {s.horizon:g})$"
        rows.append([name, markup.math(_tex(s.at_horizon())) + where, markup.math(_tex(mu)), markup.math(_number(m1)),
                     markup.math(_number(m3)), markup.math(_number(m5)), markup.math(_series(m1, m3, m5)),
                     f"{markup.escape(surrogates.predicted_order(s.rho, m3))}, "
                     f"{surrogates.measured_order(s.rho):.2f}"])
    return (markup.table(head, rows) + "\n\nRefused (not smoothing profiles):\n\n"
            + markup.table(["surrogate (defaults)", "backward factor", "why"], refused) + "\n")


def surrogates(out: Path) -> None:
    """The surrogate gradients of snnTorch and norse as kernels."""
    write_atomic(out / "surrogates.md", _surrogate_tables())


# ============================================================== gallery
def _slug(act: str, ker: str) -> str:
    return f"{act}__{ker.replace('(', '_').replace(')', '').replace('/', '_').replace('-', 'm')}"


def gallery_pair(act: str, ker: str) -> dict:
    """The studies of one catalogue pair: pointwise at GALLERY_POINTS, norms over GALLERY_INTERVAL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nonlocal_calc import convergence

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nlc.QuadratureFallbackWarning)
        D = nlc.derive(act, ker)
    kinked = bool(D.activation.breakpoints)
    norms = ["L1", "L2", "Linf"] if kinked else ["L2"]
    if D.method == "quadrature":
        norms = []  # a norm of a quadrature pair is a nested quadrature: minutes, left out of the gallery
    if act == "binary_step" and not convergence.kernel_is_bounded(D.kernel):
        norms = [n for n in norms if n != "Linf"]  # rho(0) = oo: the sup is infinite for every delta
    studies, notes = [], []
    for xv in GALLERY_POINTS:
        try:
            studies.append(convergence.study(D, x=xv, dps=50, progress=False))
        except ValueError as exc:
            notes.append(f"x = {xv}: {exc}")
    for norm in norms:
        studies.append(convergence.study(D, interval=GALLERY_INTERVAL, norm=norm, dps=30, progress=False))
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for s in studies:
        what = f"x = {mpmath.nstr(s.x, 3)}" if s.mode == "pointwise" else f"{s.mode} on [-1, 1]"
        obs = "exact" if s.observed_order is None and s.exact_below else (
            "-" if s.observed_order is None else _fixed(s.observed_order, 3))
        s.plot(ax=ax, label=f"{what}: order {obs}")
    ax.set_title(f"{act}, {D.kernel.name} kernel ({D.method})", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return {"activation": act, "kernel": ker, "method": D.method, "studies": [s.to_dict() for s in studies],
            "notes": notes, "png": buf.getvalue().hex(), "seconds": time.perf_counter() - t0}


def _order(v) -> str:
    if v is None:
        return "-"
    from nonlocal_calc.convergence.text import fmt_order

    return fmt_order(v)


def _study_row(ker: str, s: dict) -> list[str]:
    what = f"x = {s['x']}" if s["mode"] == "pointwise" else f"{s['mode']} on [-1, 1]"
    if s["observed_order"] is not None:
        lo, hi = s["fit_range"]
        obs = f"{_fixed(s['observed_order'], 4)} ({s['fit_points']} pts, {lo:.3g}..{hi:.3g})"
    elif s["exact_below"] is not None:
        obs = f"exact for delta <= {s['exact_below']:.3g}"
    else:
        obs = "-"
    if s["disagreements"]:
        obs += " **disagreement**"  # deliberate bold: a cross-check failed
    pc = "-" if s["predicted_constant"] is None else mpmath.nstr(mpmath.mpf(s["predicted_constant"]), 8)
    oc = "-" if s["observed_constant"] is None else mpmath.nstr(mpmath.mpf(s["observed_constant"]), 8)
    return [markup.code(ker), markup.escape(what), markup.escape(_order(s["predicted_order"])), obs, pc, oc]


def gallery_markdown(results: list[dict]) -> str:
    """Per activation: its figures (one per kernel), then the table of its studies."""
    head = ["kernel", "study", "predicted order", "observed order (fit range)", "predicted constant",
            "observed constant"]
    lines = []
    for act in dict.fromkeys(r["activation"] for r in results):
        rs = [r for r in results if r["activation"] == act]
        lines += [f"### {markup.escape(act)}", ""]
        figures = [f"generated/gallery/{_slug(act, r['kernel'])}.png" for r in rs]  # two a row, a click enlarges
        lines += [f'[![{markup.escape(act)}, {markup.escape(r["kernel"])}]({f}){{ width="49%" }}]({f})'
                  for r, f in zip(rs, figures)]
        rows = [_study_row(r["kernel"], s) for r in rs for s in r["studies"]]
        rows += [[markup.code(r["kernel"]), markup.prose(n), "", "", "", ""] for r in rs for n in r["notes"]]
        lines += ["", markup.table(head, rows), ""]
    return "\n".join(lines)


def gallery(out: Path, jobs: int = 1, pairs: list[tuple[str, str]] | None = None) -> list[dict]:
    """One figure per catalogue pair, a table of observed and predicted orders, the numbers as JSON."""
    pairs = pairs or [(a, k) for a in nlc.activations.names() for k in COVERAGE_KERNELS]
    if jobs > 1:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=jobs)(delayed(gallery_pair)(a, k) for a, k in pairs)
    else:
        from tqdm.auto import tqdm

        results = [gallery_pair(a, k) for a, k in tqdm(pairs, desc="gallery", delay=1.0)]
    for r in results:
        write_atomic(out / "gallery" / f"{_slug(r['activation'], r['kernel'])}.png", bytes.fromhex(r.pop("png")))
    data = [{k: v for k, v in r.items() if k != "seconds"} for r in results]
    write_atomic(out / "gallery.json", json.dumps(data, indent=1) + "\n")
    write_atomic(out / "gallery.md", gallery_markdown(results))
    slow = max(results, key=lambda r: r["seconds"])
    print(f"  gallery: {len(results)} pairs, slowest {slow['activation']}/{slow['kernel']} {slow['seconds']:.1f} s")
    return results


def gallery_md(out: Path) -> None:
    """Rewrite gallery.md from the committed gallery.json (no recomputation)."""
    write_atomic(out / "gallery.md", gallery_markdown(json.loads((OUT / "gallery.json").read_text())))


PARTS = {"derivations": derivations, "catalogue": catalogue, "gallery": gallery, "gallery-md": gallery_md,
         "surrogates": surrogates}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", choices=[*PARTS, []], help="parts to regenerate (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="processes for the gallery (default 1)")
    ap.add_argument("--check", action="store_true", help="compare freshly generated text outputs with the committed")
    args = ap.parse_args(argv)
    parts = args.parts or ["derivations", "catalogue", "gallery", "surrogates"]
    out = Path(tempfile.mkdtemp(prefix="nlc-docs-")) if args.check else OUT
    times = {}
    for name in parts:
        t0 = time.perf_counter()
        print(f"{name} ...", flush=True)
        if name == "gallery":
            gallery(out, jobs=args.jobs)
        else:
            PARTS[name](out)
        times[name] = time.perf_counter() - t0
    print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()) + f"; total {sum(times.values()):.1f} s")
    if args.check:
        stale = [p.relative_to(out) for p in sorted(out.rglob("*")) if p.suffix in (".md", ".json")
                 and (OUT / p.relative_to(out)).read_text() != p.read_text()]
        for p in stale:
            print(f"stale: docs/generated/{p}")
        return 1 if stale else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
