# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. The poster's nonlocal ReLU derivative, and the audit of its typos
#
# The poster *Nonlocal approaches to neural network training* replaces ReLU' by $D_{\mu_1}\mathrm{ReLU}$
# for the sign kernel $\mu_1$. Here we derive that function three ways (the toolkit's closed form,
# the running integral of the smoothing profile $\rho$, and mpmath quadrature of the defining
# integral), then compare it with the poster's formula and its Figure 5 code.
#
# Run as a script (`python derivations/01_poster_relu.py`) or open as a notebook (jupytext).
# Outputs go to `docs/generated/` (or `$NLC_DERIVATIONS_OUT`).

# %%
import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

import nonlocal_calc as nlc  # noqa: E402
import nonlocal_calc.parsing  # noqa: E402, F401
from nonlocal_calc import audit  # noqa: E402
from nonlocal_calc.cache import write_atomic  # noqa: E402
from nonlocal_calc.reference import nonlocal_quad  # noqa: E402


def _root() -> Path:
    try:
        return Path(__file__).resolve().parents[1]
    except NameError:  # opened as a notebook from derivations/
        return Path.cwd().resolve().parent


OUT = Path(os.environ.get("NLC_DERIVATIONS_OUT") or _root() / "docs" / "generated")
x, delta = nlc.x, nlc.delta

# %% [markdown]
# ## The closed form
# With $\mu_1 = \operatorname{sign}(z)/\delta^2$ (normalized: $D_\mu x = 1$) the toolkit gives:

# %%
D = nlc.derive("relu", "sign")
print(D.method)
D.expr  # noqa: B018 (displayed in a notebook)

# %% [markdown]
# **Check 1: the $\rho$ representation.** For ReLU, $D_\mu \mathrm{ReLU}(x) = \int_{-\delta}^{x}\rho(s)\,ds$ with the hat
# profile $\rho(s) = (\delta - |s|)/\delta^2$. Integrate it by hand, piece by piece, and compare branch by branch.

# %%
s = sp.Symbol("s", real=True)
hat = (delta - sp.Abs(s)) / delta**2
assert sp.simplify(nlc.kernels.sign().rho.subs(nlc.z, s) - hat) == 0
by_hand = {
    "-delta < x < 0": sp.integrate((delta + s) / delta**2, (s, -delta, x)),
    "0 < x < delta": sp.Rational(1, 2) + sp.integrate((delta - s) / delta**2, (s, 0, x)),
}
branches = {"-delta < x < 0": D.expr.args[1][0], "0 < x < delta": D.expr.args[2][0]}
for where, e in by_hand.items():
    assert sp.simplify(e - branches[where]) == 0, where
    print(f"{where}: {sp.expand(e)}")
assert D.expr.args[0][0] == 0 and D.expr.args[-1][0] == 1

# %% [markdown]
# **Check 2: the defining integral.** Quadrature at 40 digits, at points inside and outside the horizon.

# %%
worst = mpmath.mpf(0)
for xv in ["-0.15", "-0.1", "-0.07", "-0.01", "0", "0.003", "0.05", "0.0999", "0.2"]:
    worst = max(worst, abs(D.evaluate(xv, "0.1", dps=40) - nonlocal_quad(D.activation, D.kernel, xv, "0.1", dps=40)))
print("max |closed form - quadrature| =", mpmath.nstr(worst, 3))
assert worst < mpmath.mpf(10) ** -35

# %% [markdown]
# ## The audit
# `nlc.audit.poster()` transcribes the poster's formula and its Figure 5 code verbatim as SymPy
# expressions and compares them, branch by branch and term by term, with the closed form.

# %%
report = audit.poster()
print(report)

# %% [markdown]
# The findings are computed, so we re-check the headline ones independently here, straight from the
# transcribed code (evaluated with NumPy at the poster's $\delta = 0.1$):

# %%
poster_code = sp.lambdify((x, delta), audit.poster_code_expr(), "numpy")
right = sp.lambdify((x, delta), D.expr, "numpy")
zs = np.linspace(-0.1, 0.1, 20001)
err = np.abs(poster_code(zs, 0.1) - right(zs, 0.1))
print("poster code at 0:", float(poster_code(0.0, 0.1)), " right:", float(right(0.0, 0.1)))
print("max |poster code - right| on [-delta, delta]:", err.max())
assert float(poster_code(0.0, 0.1)) == -0.5 and float(right(0.0, 0.1)) == 0.5
# The sup is approached as x -> -delta from inside the band (the code jumps there): take that limit exactly.
# The code's band branch, as printed in Figure 5: (Z / delta) - 1 / 2 + (Z**2 / 2 * delta**2)
band = nlc.parsing.parse_expr("(x / delta) - 1 / 2 + (x**2 / 2 * delta**2)", {"x", "delta"})
tenth = sp.Rational(1, 10)
assert audit.poster_code_expr().subs({delta: tenth, x: -tenth / 2}) == band.subs({delta: tenth, x: -tenth / 2})
sup = sp.Abs(band.subs({delta: tenth, x: -tenth}) - D.expr.args[1][0].subs({delta: tenth, x: -tenth}))
print("sup as x -> -delta+:", sup)
assert sup == sp.Rational(29999, 20000) and 1.4998 < err.max() <= float(sup)
assert report.effects["code"]["max_error_on_band"] == str(sup)
assert report.effects["code"]["value_at_0"] == "-1/2"
kinds = {(d["source"], d["kind"]) for d in report.discrepancies}
assert ("formula", "interval") in kinds and ("code", "term") in kinds

# %% [markdown]
# The corrected NumPy function emitted by the audit agrees with the closed form:

# %%
ns: dict = {}
exec(compile(report.corrected_source, "<corrected>", "exec"), ns)  # generated by the toolkit itself
assert np.allclose(ns["relu_deriv"](zs, 0.1), right(zs, 0.1), rtol=0, atol=1e-15)
print(report.corrected_source)

# %% [markdown]
# ## Figure and table for the docs

# %%
fig, ax = plt.subplots(figsize=(6, 3.6))
zz = np.linspace(-0.2, 0.2, 801)
ax.plot(zz, right(zz, 0.1), lw=2.2, label=r"derived $D_{\mu_1}$ReLU")
ax.plot(zz, poster_code(zz, 0.1), "--", lw=1.4, label="poster, Figure 5 code")
ax.plot(zz, (zz > 0).astype(float), ":", color="gray", label="ReLU' (step)")
ax.axvspan(-0.1, 0.1, color="0.92", zorder=0)
ax.set_xlabel("x")
ax.set_title(r"$\delta = 0.1$: derived closed form vs the poster's code", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
buf = io.BytesIO()
fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
plt.close(fig)
write_atomic(OUT / "poster_relu.png", buf.getvalue())

rows = ["| source | interval | finding |", "|---|---|---|"]
for d in report.discrepancies:
    what = (f"term `{d['term']}`: poster `{d['poster']}`, right `{d['right']}` ({d['what']})"
            if d["kind"] == "term" else d["what"])
    rows.append(f"| {d['source']} | ${sp.latex(sp.sympify(d['interval'].split(' < ')[0]))} < x < "
                f"{sp.latex(sp.sympify(d['interval'].split(' < ')[-1]))}$ | {what} |")
e = report.effects["code"]
effects = [
    "| effect of the poster's code ($\\delta = 0.1$) | poster | derived |", "|---|---|---|",
    f"| value at 0 | {e['value_at_0']} | {e['right_value_at_0']} |",
    "| jumps | " + ", ".join(f"{v} at x = {k}" for k, v in e["jumps"].items() if v != "0") + " | none |",
    f"| max error on $[-\\delta, \\delta]$ | {e['max_error_on_band']} = {e['max_error_on_band_float']:.6g} | 0 |",
]
write_atomic(OUT / "poster_audit.md", "\n".join(rows) + "\n\n" + "\n".join(effects) + "\n\n"
             + "Corrected NumPy function (emitted and checked by `nlc.audit.poster()`):\n\n```python\n"
             + report.corrected_source + "```\n")
print((OUT / "poster_audit.md").read_text())
