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
# # 2. The linear kernel $\mu_2$ with ReLU
#
# The poster's second kernel is $\mu_2(z) = z$ on the horizon. We derive $D_{\mu_2}\mathrm{ReLU}$, show why
# the kernel must be normalized, compare it with the sign kernel $\mu_1$, and measure how both converge.

# %%
import io

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
from nonlocal_calc.convergence import study  # noqa: E402

OUT = out_dir()
x, z, delta = nlc.x, nlc.z, nlc.delta

# %% [markdown]
# ## Normalization
# Taken literally, $\mu_2(z) = z$ gives $D_{\mu_2} x = \int_{-\delta}^{\delta} z^2\,dz = 2\delta^3/3$, which tends
# to 0, not to 1: the raw kernel approximates $\tfrac{2\delta^3}{3} f'$. Normalizing divides by that first moment.

# %%
raw = nlc.kernels.linear(normalize=False)
print("raw first moment:", raw.moment(1))
assert sp.simplify(raw.moment(1) - 2 * delta**3 / 3) == 0
mu2 = nlc.kernels.linear()
print("normalized kernel:", mu2.expr, "  first moment:", mu2.moment(1))
assert mu2.moment(1) == 1 and sp.simplify(mu2.mu_plus - 3 * z / (2 * delta**3)) == 0
D_raw = nlc.derive("identity", raw)
assert sp.simplify(D_raw.expr - 2 * delta**3 / 3) == 0  # D x for the raw kernel

# %% [markdown]
# ## The closed form, and its derivation by hand from $\rho$
# The profile of $\mu_2$ is the parabola $\rho(s) = \int_{|s|}^{\delta} \tfrac{3t}{2\delta^3}dt = \tfrac{3(\delta^2 - s^2)}{4\delta^3}$,
# and $D_{\mu_2}\mathrm{ReLU}(x) = \int_{-\delta}^{x}\rho$:

# %%
s = sp.Symbol("s", real=True)
rho = 3 * (delta**2 - s**2) / (4 * delta**3)
assert sp.simplify(mu2.rho.subs(z, s) - rho) == 0
by_hand = sp.expand(sp.integrate(rho, (s, -delta, x)))
D2 = nlc.derive("relu", "linear")
print(D2.expr)
assert sp.simplify(D2.expr.args[1][0] - by_hand) == 0 and D2.expr.args[0][0] == 0 and D2.expr.args[-1][0] == 1
by_hand  # noqa: B018 (displayed in a notebook)

# %% [markdown]
# One cubic on the whole band $(-\delta, \delta)$, against two quadratics for $\mu_1$. Both are $C^1$ (their
# derivative is $\rho$, continuous and zero at $\pm\delta$) and neither is $C^2$: $\rho'$ jumps at $\pm\delta$
# (and, for the hat profile of $\mu_1$, also at 0).

# %%
D1 = nlc.derive("relu", "sign")


def jumps_of_second_derivative(expr):
    pieces = [e for e, _ in expr.args]
    cuts = [c.rhs for _, c in expr.args[:-1]]
    out = {}
    for i, c in enumerate(cuts):
        left, right = (sp.diff(pieces[j], x, 2).subs(x, c) for j in (i, i + 1))
        jump = sp.simplify(right - left)
        if jump != 0:
            out[c] = jump
    return out


j1, j2 = jumps_of_second_derivative(D1.expr), jumps_of_second_derivative(D2.expr)
print("mu1: jumps of the second derivative:", j1)
print("mu2: jumps of the second derivative:", j2)
assert set(j1) == {-delta, 0, delta} and set(j2) == {-delta, delta}
for e in (D1.expr, D2.expr):  # C^1: values and first derivatives match at every cut
    for (a, c), (b, _) in zip(e.args[:-1], e.args[1:]):
        for k in (0, 1):
            assert sp.simplify(sp.diff(a, x, k).subs(x, c.rhs) - sp.diff(b, x, k).subs(x, c.rhs)) == 0

# %% [markdown]
# ## Convergence, computed at high precision
# At the kink both give exactly $1/2$ (the average of the one-sided slopes); away from it, exactly
# $\mathrm{ReLU}'$ as soon as $\delta$ is smaller than the distance to the kink. Over $[-1, 1]$ the error
# lives on the band: order $1/p$ in $L^p$.

# %%
rows = []
studies = {}
for kname, d in (("sign (mu1)", D1), ("linear (mu2)", D2)):
    k = study(d, x=0, dps=30, progress=False)
    assert float(k.limit) == 0.5 and all(e == 0 for e in k.errors)
    for norm in ("L1", "L2", "Linf"):
        st = study(d, interval=(-1, 1), norm=norm, dps=30, deltas=[2.0**-j for j in range(2, 10)], progress=False)
        studies[(kname, norm)] = st
        assert abs(st.observed_order - st.predicted_order) < 1e-6 and not st.disagreements
        assert abs(st.observed_constant / st.predicted_constant - 1) < 1e-12
        rows.append([markup.escape(kname), norm, st.predicted_order, f"{round(st.observed_order, 6) + 0.0:.6f}",
                     mpmath.nstr(st.predicted_constant, 10), mpmath.nstr(st.observed_constant, 10)])
table = markup.table(["kernel", "norm", "predicted order", "observed order", "predicted constant",
                      "observed constant"], rows)
print(table)

# %% [markdown]
# The band constants can be checked by hand. For $\mu_2$ the error on the band is
# $e(\delta u) = R(u) - H(u)$ with $R(u) = \tfrac12 + \tfrac34 u - \tfrac14 u^3$, so $\lVert e\rVert_1 = \tfrac38\,\delta$:

# %%
u = sp.Symbol("u", real=True)
R = sp.Rational(1, 2) + sp.Rational(3, 4) * u - u**3 / 4
L1_by_hand = sp.integrate(R, (u, -1, 0)) + sp.integrate(1 - R, (u, 0, 1))
print("L1 constant by hand:", L1_by_hand)
assert L1_by_hand == sp.Rational(3, 8)
assert abs(studies[("linear (mu2)", "L1")].predicted_constant - mpmath.mpf(3) / 8) < 1e-15
assert abs(studies[("sign (mu1)", "L1")].predicted_constant - mpmath.mpf(1) / 3) < 1e-15  # 20-digit norms

# %% [markdown]
# ## Figure and table for the docs

# %%
f1 = sp.lambdify((x, delta), D1.expr, "numpy")
f2 = sp.lambdify((x, delta), D2.expr, "numpy")
fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4))
zz = np.linspace(-0.2, 0.2, 801)
ax.plot(zz, f1(zz, 0.1), label=r"$D_{\mu_1}$ReLU (sign)")
ax.plot(zz, f2(zz, 0.1), "--", label=r"$D_{\mu_2}$ReLU (linear)")
ax.plot(zz, (zz > 0).astype(float), ":", color="gray", label="ReLU'")
ax.set_title(r"$\delta = 0.1$", fontsize=10)
ax.set_xlabel("x")
ax.legend(fontsize=8)
for (kname, norm), st in studies.items():
    if norm != "Linf":
        bx.loglog([float(d) for d in st.deltas], [float(e) for e in st.errors], "o-" if "mu1" in kname else "s--",
                  ms=3, label=f"{kname}, {norm}: order {st.observed_order:.3f}")
bx.set_xlabel("delta")
bx.set_ylabel("norm of D f - f' on [-1, 1]")
bx.grid(True, which="both", alpha=0.3)
bx.legend(fontsize=7)
fig.tight_layout()
buf = io.BytesIO()
fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
plt.close(fig)
write_atomic(OUT / "linear_kernel_relu.png", buf.getvalue())
write_atomic(OUT / "linear_kernel_relu.md",
             f"$$D_{{\\mu_2}}\\mathrm{{ReLU}}(x) = {sp.latex(D2.expr)}$$\n\n{table}\n")
