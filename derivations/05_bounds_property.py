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
# # 5. The bound $0 \le D_\mu s \le 1$, and a counterexample
#
# The fuzzy-ReLU note asks of an activation $s$ that $0 \le s' \le 1$. Does its nonlocal derivative keep that?
#
# **Claim.** If $\rho \ge 0$ and $0 \le s' \le 1$, then $0 \le D_\mu s \le 1$.
# **Proof.** $D_\mu s(x) = \int_{-\delta}^{\delta} s'(x+t)\,\rho(t)\,dt$ is an average of values of $s'$ in $[0, 1]$,
# because $\rho \ge 0$ and $\int\rho = M_1 = 1$. (For piecewise smooth $s$ the representation holds as long as $s$
# is continuous; the binary step, whose derivative is a Dirac mass, is not covered.)
#
# Below: which catalogue activations satisfy the hypothesis (computed), a numerical check of the claim for
# every such activation and every kernel with $\rho \ge 0$ of the catalogue, and a kernel with a sign-changing
# $\rho$ for which the bound fails.

# %%
import io
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import out_dir  # noqa: E402  (derivations/_common.py)

import nonlocal_calc as nlc  # noqa: E402
from nonlocal_calc import markup  # noqa: E402
from nonlocal_calc.cache import write_atomic  # noqa: E402

OUT = out_dir()
x, z, delta = nlc.x, nlc.z, nlc.delta
mpmath.mp.dps = 30

# %% [markdown]
# ## Which activations have $0 \le s' \le 1$?
# $\inf s'$ and $\sup s'$ on each smooth piece: a grid on $[-30, 30]$, refined by golden-section search,
# plus the one-sided values at the kinks. The binary step is left out: its derivative is a Dirac mass.

# %%
def extremes(act):
    vals = []
    edges = [-30, *[float(b) for b in act.breakpoints], 30]
    for i, piece in enumerate(act.pieces):
        fp = sp.lambdify(x, sp.diff(piece, x), "mpmath")
        lo, hi = mpmath.mpf(edges[i]), mpmath.mpf(edges[i + 1])
        grid = [lo + (hi - lo) * k / 600 for k in range(601)]
        ys = [mpmath.mpf(fp(t)) for t in grid]
        for sgn in (1, -1):
            j = max(range(len(ys)), key=lambda k: sgn * ys[k])
            if 0 < j < len(ys) - 1:
                t = mpmath.findroot(lambda t, fp=fp: mpmath.diff(fp, t), grid[j])
                if lo < t < hi:
                    ys.append(mpmath.mpf(fp(t)))
        vals += ys
    return min(vals), max(vals)


table = []
qualifying = []
for name in nlc.activations.names():
    if name == "binary_step":
        table.append([markup.code(name), "(Dirac mass at 0)", "", "no"])
        continue
    lo, hi = extremes(nlc.activations.get(name))
    ok = lo >= -mpmath.mpf(10) ** -25 and hi <= 1 + mpmath.mpf(10) ** -25
    if ok:
        qualifying.append(name)
    table.append([markup.code(name), mpmath.nstr(lo, 6), mpmath.nstr(hi, 6), "yes" if ok else "no"])
table = markup.table(["activation", "inf s'", "sup s'", "0 <= s' <= 1"], table)
print(table)
assert "silu" not in qualifying and "gelu" not in qualifying  # s' exceeds 1 (and is negative somewhere)
assert {"relu", "tanh", "logistic", "softsign", "elu", "softplus"} <= set(qualifying)

# %% [markdown]
# ## The claim, checked for every qualifying activation and kernel with $\rho \ge 0$
# Minimum and maximum of $D_\mu s$ on 31 points of $[-3, 3]$ for $\delta = 0.1$ and $\delta = 1$, at 30 digits.
# Pairs without a closed form (quadrature) are checked on 7 points.

# %%
kernels = ["sign", "linear", "power(2)", "power(-1/2)", "dirac_pair"]
for k in kernels:
    assert nlc.kernels.get(k).rho_nonnegative, k
worst_low, worst_high = mpmath.inf, -mpmath.inf
rows = []
for name in qualifying:
    cells = []
    for k in kernels:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nlc.QuadratureFallbackWarning)
            D = nlc.derive(name, k)
        pts = np.linspace(-3, 3, 31 if D.method == "closed-form" else 7)
        vals = [D.evaluate(float(p), d, dps=30) for p in pts for d in ("0.1", "1")]
        lo, hi = min(vals), max(vals)
        worst_low, worst_high = min(worst_low, lo), max(worst_high, hi)
        assert lo >= -mpmath.mpf(10) ** -25 and hi <= 1 + mpmath.mpf(10) ** -25, (name, k, lo, hi)
        cells.append(markup.escape(f"[{mpmath.nstr(lo, 4)}, {mpmath.nstr(hi, 4)}]"))
    rows.append([markup.code(name)] + cells)
rows = markup.table(["activation"] + [markup.code(k) for k in kernels], rows)
print(rows)
print("overall range of D_mu s:", mpmath.nstr(worst_low, 6), mpmath.nstr(worst_high, 6))

# %% [markdown]
# ## The counterexample: a sign-changing profile
# The fourth-order kernel of derivation 4, $\mu(z) = \operatorname{sign}(z)\,(4/\delta^2 - 6z^2/\delta^4)$, has
# $\rho < 0$ near $\pm\delta$. Then $D_\mu\mathrm{ReLU}(x) = \int_{-\delta}^x\rho$ dips below 0 and overshoots 1.
# The extremes are where $\rho = 0$; SymPy finds them exactly.

# %%
k4 = nlc.Kernel.from_expr("sign(z)*(4/delta**2 - 6*z**2/delta**4)", name="order4")
assert not k4.rho_nonnegative
D = nlc.derive("relu", k4)
print(D.expr)
u = sp.Symbol("u", positive=True)
rho_u = sp.expand(k4.rho.subs(z, u * delta) * delta)  # the profile at delta = 1, s = u > 0
print("delta*rho(u*delta) =", rho_u, "=", sp.factor(rho_u))
roots = [r for r in sp.solve(rho_u, u) if r < 1]
s0 = [sp.nsimplify(roots[0]) * delta]
low = sp.simplify(D.expr.args[1][0].subs(x, -s0[0]))  # the branch on (-delta, 0)
high = sp.simplify(D.expr.args[2][0].subs(x, s0[0]))
print("rho = 0 at |x| =", s0, "; min D relu =", low, "=", float(low), "; max =", high, "=", float(high))
assert low < 0 and high > 1
assert abs(D.evaluate(-float(s0[0].subs(delta, 1) / 10), "0.1", dps=30) - float(low)) < 1e-15
grid = [D.evaluate(float(t), "0.1") for t in np.linspace(-0.1, 0.1, 2001)]
assert float(low) - 1e-12 <= min(grid) < 0 and 1 < max(grid) <= float(high) + 1e-12
# A kernel with rho >= 0 never does this, e.g. the sign kernel on the same grid:
assert min(nlc.derive("relu", "sign").evaluate(float(t), "0.1") for t in np.linspace(-0.2, 0.2, 41)) >= 0

# %% [markdown]
# ## Figure and table for the docs

# %%
f4 = sp.lambdify((x, delta), D.expr, "numpy")
f1 = sp.lambdify((x, delta), nlc.derive("relu", "sign").expr, "numpy")
zz = np.linspace(-0.15, 0.15, 601)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4))
ax.plot(zz, f1(zz, 0.1), label=r"sign kernel ($\rho \geq 0$)")
ax.plot(zz, f4(zz, 0.1), "--", label=r"order-4 kernel ($\rho$ changes sign)")
ax.axhline(0, color="gray", lw=0.6)
ax.axhline(1, color="gray", lw=0.6)
ax.set_title(r"$D_\mu$ReLU, $\delta = 0.1$", fontsize=10)
ax.set_xlabel("x")
ax.legend(fontsize=8)
rho_f = sp.lambdify((z, delta), k4.rho, "numpy")
rho_1 = sp.lambdify((z, delta), nlc.kernels.sign().rho, "numpy")
ss = np.linspace(-0.1, 0.1, 401)
bx.plot(ss, rho_1(ss, 0.1), label="sign kernel")
bx.plot(ss, rho_f(ss, 0.1), "--", label="order-4 kernel")
bx.axhline(0, color="gray", lw=0.6)
bx.set_title(r"profiles $\rho(s)$", fontsize=10)
bx.set_xlabel("s")
bx.legend(fontsize=8)
fig.tight_layout()
buf = io.BytesIO()
fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
plt.close(fig)
write_atomic(OUT / "bounds_property.png", buf.getvalue())
write_atomic(OUT / "bounds_property.md",
             table + "\n\nRange of $D_\\mu s$ (min, max over the grid) for the activations with "
             "$0 \\le s' \\le 1$ and the kernels with $\\rho \\ge 0$:\n\n" + rows
             + f"\n\nCounterexample (order-4 kernel): $\\min D_\\mu\\mathrm{{ReLU}} = {sp.latex(low)} \\approx "
             f"{float(low):.6f}$ and $\\max D_\\mu\\mathrm{{ReLU}} = {sp.latex(high)} \\approx {float(high):.6f}$, "
             f"attained at $x = \\mp {sp.latex(s0[0])}$.\n")
