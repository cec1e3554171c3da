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
# # 4. Designing a kernel of higher accuracy order
#
# For smooth $f$, $D_\mu f(x) - f'(x) = \frac{M_3}{6} f'''(x) + \frac{M_5}{120} f^{(5)}(x) + \cdots$ with
# $M_k = \int z^k\mu$. Every kernel with $\mu \ge 0$ on $(0, \delta)$ has $M_3 > 0$: second order. To reach fourth
# order we need $M_1 = 1$ and $M_3 = 0$. We build such a kernel from the sign and $p = 2$ power kernels,
# and verify the fourth order at 50 digits.

# %%
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mpmath  # noqa: E402
import sympy as sp  # noqa: E402
from _common import out_dir  # noqa: E402  (derivations/_common.py)

import nonlocal_calc as nlc  # noqa: E402
from nonlocal_calc import markup  # noqa: E402
from nonlocal_calc.cache import write_atomic  # noqa: E402
from nonlocal_calc.convergence import study  # noqa: E402

OUT = out_dir()
x, z, delta = nlc.x, nlc.z, nlc.delta

# %% [markdown]
# ## The design
# Both normalized kernels have $M_1 = 1$, so every combination $a\,\mu_{\rm sign} + (1-a)\,\mu_{p=2}$ does too.
# Its third moment is linear in $a$; solve for the root.

# %%
k_sign, k_p2 = nlc.kernels.sign(), nlc.kernels.power(2)
a = sp.Symbol("a")
m3 = a * k_sign.moment(3) + (1 - a) * k_p2.moment(3)
print("M3(a) =", sp.factor(m3))
(a_star,) = sp.solve(m3, a)
print("a =", a_star)
assert a_star == 4
mu = sp.expand(a_star * k_sign.mu_plus + (1 - a_star) * k_p2.mu_plus)  # on 0 < z < delta
print("mu(z) on (0, delta):", mu)

# %% [markdown]
# Build it from the formula a user would type (validated and normalized by `Kernel.from_expr`):

# %%
formula = "sign(z)*(4/delta**2 - 6*z**2/delta**4)"
k4 = nlc.Kernel.from_expr(formula, name="order4")
assert sp.simplify(k4.mu_plus - mu) == 0  # normalization left it unchanged: M1 = 1 already
moments = {k: sp.simplify(k4.moment(k)) for k in (1, 3, 5)}
print("M1, M3, M5 =", moments)
assert moments == {1: 1, 3: 0, 5: -delta**4 / 6}

# %% [markdown]
# The price: since $M_3 = 3\int s^2\rho(s)\,ds$, a vanishing third moment forces the profile $\rho$ to change sign.
# (This kernel is the counterexample of derivation 5.)

# %%
rho = sp.simplify(k4.rho)
print("rho(s) =", rho, "  nonnegative:", k4.rho_nonnegative)
u = sp.Symbol("u", positive=True)
rho_u = sp.simplify(rho.subs(z, u * delta) * delta)  # the profile at delta = 1, s = u in (0, 1)
crit = [c for c in sp.solve(sp.diff(rho_u, u), u) if 0 < c < 1]
rho_min = min(rho_u.subs(u, c) for c in crit + [1])
print("min of delta*rho:", rho_min, "=", float(rho_min))
assert not k4.rho_nonnegative and rho_min < 0

# %% [markdown]
# ## Fourth order, measured at 50 digits
# The predicted constant is $\frac{M_5}{120} f^{(5)}(x) = -\frac{\delta^4}{720} f^{(5)}(x)$; below it is
# recomputed with `mpmath.diff`, independently of the toolkit.

# %%
mpmath.mp.dps = 50
deltas = ["1/4", "1/8", "1/16", "1/32", "1/64", "1/128", "1/256", "1/512"]
funcs = {"tanh": mpmath.tanh, "logistic": lambda t: 1 / (1 + mpmath.exp(-t)),
         "gelu": lambda t: t * (1 + mpmath.erf(t / mpmath.sqrt(2))) / 2}
HEAD = ["activation", "kernel", "predicted order", "observed order", "predicted constant", "observed constant"]
rows = []
studies = {}
for name, fn in funcs.items():
    for kname, ker in (("sign", k_sign), ("order4", k4)):
        st = study(nlc.derive(name, ker), x="0.3", deltas=deltas, dps=50, progress=False)
        studies[(name, kname)] = st
        assert not st.disagreements
        rows.append([markup.code(name), markup.escape(kname), st.predicted_order, f"{st.observed_order:.4f}",
                     mpmath.nstr(st.predicted_constant, 12), mpmath.nstr(st.observed_constant, 12)])
    s4 = studies[(name, "order4")]
    expected = -mpmath.diff(fn, mpmath.mpf("0.3"), 5) / 720
    print(f"{name}: order {s4.observed_order:.4f}, constant {mpmath.nstr(s4.observed_constant, 10)}, "
          f"predicted {mpmath.nstr(expected, 10)}")
    assert s4.predicted_order == 4 and abs(s4.predicted_constant - expected) < 1e-30
    assert abs(s4.observed_order - 4) < 0.01 and abs(s4.observed_constant / expected - 1) < 1e-3
    assert studies[(name, "sign")].predicted_order == 2
table = markup.table(HEAD, rows)
print(table)

# %% [markdown]
# ## No gain at a kink
# Higher moments only help where $f$ is smooth. At a kink the error is set by the one-sided moments
# $A_k = \int_0^\delta z^k\mu$, which do not vanish: softsign stays first order at 0, ReLU first order in $L^1$.

# %%
kink = study(nlc.derive("softsign", k4), x=0, deltas=deltas, dps=50, progress=False)
band = study(nlc.derive("relu", k4), interval=(-1, 1), norm="L1", deltas=deltas[:6], dps=30, progress=False)
print(kink.summary())
print(band.summary())
assert kink.predicted_order == 1 and abs(kink.observed_order - 1) < 0.01
assert band.predicted_order == 1 and abs(band.observed_order - 1) < 1e-6
rows_k = [[f"{markup.code('softsign')} at its kink x = 0", "pointwise", kink.predicted_order,
           f"{kink.observed_order:.4f}", mpmath.nstr(kink.predicted_constant, 12),
           mpmath.nstr(kink.observed_constant, 12)],
          [f"{markup.code('relu')} on [-1, 1]", "L1", band.predicted_order, f"{band.observed_order:.4f}",
           mpmath.nstr(band.predicted_constant, 12), mpmath.nstr(band.observed_constant, 12)]]

# %% [markdown]
# ## Figure and table for the docs

# %%
fig, ax = plt.subplots(figsize=(6, 4))
studies[("tanh", "sign")].plot(ax=ax, label="tanh, sign kernel")
studies[("tanh", "order4")].plot(ax=ax, label="tanh, order-4 kernel")
ax.set_title(r"$|D_\mu \tanh(0.3) - \tanh'(0.3)|$ at 50 digits", fontsize=10)
fig.tight_layout()
buf = io.BytesIO()
fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
plt.close(fig)
write_atomic(OUT / "higher_order_kernel.png", buf.getvalue())
write_atomic(OUT / "higher_order_kernel.md",
             f"$$\\mu(z) = \\operatorname{{sign}}(z)\\Bigl({sp.latex(mu)}\\Bigr),\\qquad M_1 = 1,\\ M_3 = 0,\\ "
             f"M_5 = {sp.latex(moments[5])},\\qquad \\min \\delta\\rho = {sp.latex(rho_min)}$$\n\n{table}\n\n"
             + markup.table(["where", "study"] + HEAD[2:], rows_k) + "\n")
