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
# # 6. The power family in one formula, and its convergence against p
#
# The kernels $\mu_p(z) = c_p\,\operatorname{sign}(z)|z|^p$, $p > -2$, normalized ($M_1 = 1$), hold the sign kernel
# ($p = 0$) and the linear one ($p = 1$). Derived once with $p$ free, ReLU's nonlocal derivative is one formula in
# $w = x/\delta$; its limit $p \to -2$ is the local derivative, but not uniformly. For smooth $f$ the error is
# $\frac{M_3}{6} f'''(x)\,\delta^2$ with $M_3 = \frac{p+2}{p+4}\delta^2$: we measure order and constant member by
# member (`nonlocal_calc.convergence.sweep`), and do the same for the Gaussian kernel of width $\sigma = r\delta$.

# %%
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mpmath  # noqa: E402
import sympy as sp  # noqa: E402
from _common import out_dir  # noqa: E402  (derivations/_common.py)

import nonlocal_calc as nlc  # noqa: E402
from nonlocal_calc import Parameter, kernels, markup  # noqa: E402
from nonlocal_calc.cache import write_atomic  # noqa: E402
from nonlocal_calc.convergence import sweep  # noqa: E402

OUT = out_dir()
x, delta = nlc.x, nlc.delta

# %% [markdown]
# ## ReLU for every p
# Inside the horizon, with $w = x/\delta \in (-1, 1)$:
# $$D_{\mu_p}\operatorname{relu}(x) = \frac12 + \operatorname{sign}(w)\,\frac{(p+2)|w| - |w|^{p+2}}{2(p+1)},
# \qquad p = -1:\ \frac12 + \frac{w\,(1 - \log|w|)}{2}.$$
# We check it against the engine's closed form of the family, member by member, at 30 digits.

# %%
D = nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
p = D.parameters[0].symbol
w = sp.Symbol("w", real=True)
one = sp.Rational(1, 2) + sp.sign(w) * ((p + 2) * sp.Abs(w) - sp.Abs(w) ** (p + 2)) / (2 * (p + 1))
at_minus_one = sp.Rational(1, 2) + w * (1 - sp.log(sp.Abs(w))) / 2
assert sp.simplify(sp.limit(one.subs(w, sp.Rational(1, 3)), p, -1) - at_minus_one.subs(w, sp.Rational(1, 3))) == 0
worst = mpmath.mpf(0)
for pv in (sp.Rational(-19, 10), sp.Rational(-3, 2), sp.Integer(-1), sp.Rational(-1, 3), sp.Integer(0),
           sp.Integer(1), sp.Rational(7, 2)):
    member = D.subs(p=pv)
    for wv in (sp.Rational(-9, 10), sp.Rational(-1, 7), sp.Rational(1, 5), sp.Rational(2, 3)):
        mine = (at_minus_one if pv == -1 else one.subs(p, pv)).subs(w, wv)
        got = member.evaluate(wv / 10, sp.Rational(1, 10), dps=30)
        worst = max(worst, abs(got - sp.N(mine, 30)))
print("one formula vs the engine's closed form, worst difference:", mpmath.nstr(worst, 3))
assert worst < mpmath.mpf(10) ** -25

# %% [markdown]
# ## The limit p → -2
# At fixed $w \ne 0$, $|w|^{p+2} \to 1$ and $(p+2)|w| \to 0$: the formula tends to $\frac12 + \frac12\operatorname{sign}(w)$,
# the Heaviside step, which is ReLU's local derivative. The kernel's mass moves to $z = 0$ ($M_3 \to 0$). The
# limit is not uniform: $D(0) = \frac12$ for every $p$, and $|w|^{p+2} = e^{-1}$ at $|w| = e^{-1/(p+2)}$, a layer
# of width $e^{-20} \approx 2\cdot10^{-9}$ horizons at $p = -1.95$. In $L^1(-1, 1)$ in $w$ the distance to the step
# goes to 0 linearly in $p + 2$: SymPy integrates it exactly (below: $\frac{p+2}{2(p+3)}$), checked by quadrature.

# %%
eps = sp.Symbol("epsilon", positive=True)
right = one.subs(p, eps - 2).subs(w, sp.Symbol("v", positive=True))
v = sp.Symbol("v", positive=True)
gap = sp.simplify(sp.integrate(sp.simplify(1 - right), (v, 0, 1)))  # 1 - D >= 0 on (0, 1); the same on (-1, 0)
l1 = sp.factor(2 * gap)
print("L1 distance to the step, p = -2 + epsilon:", l1)
assert sp.limit(l1, eps, 0) == 0
assert sp.simplify(one.subs({p: eps - 2, w: sp.Rational(1, 2)}).limit(eps, 0) - 1) == 0
for pv in ("-1.99", "-1.9", "-1.5"):
    member = D.subs(p=sp.Rational(pv))
    num = 2 * mpmath.quad(lambda t, m=member: 1 - m.evaluate(t / 10, "0.1", dps=20), [0, mpmath.mpf("1e-12"), 1e-6, 1])
    assert abs(num - l1.subs(eps, sp.Rational(pv) + 2)) < 1e-12, pv
rows_l1 = [[pv, sp.nsimplify(l1.subs(eps, sp.Rational(pv) + 2)), mpmath.nstr(sp.N(l1.subs(eps, sp.Rational(pv) + 2)), 6)]
           for pv in ("-1.99", "-1.9", "-1.5", "-1/2", "0", "1")]

# %% [markdown]
# ## Order and constant against p
# $f = x^5$ at $x = 0.3$: $f''' = 60x^2 = 5.4$, so the predicted constant is $\frac{p+2}{6(p+4)}\cdot 5.4$
# (the $\delta^4$ term, $\frac{p+2}{p+6}\delta^4$, decides how fast the observed constant settles).

# %%
quintic = nlc.Activation.from_expr("x**5")
P = nlc.derive(quintic, kernels.power(Parameter("p", "> -2")))
deltas = [f"1/{2**k}" for k in range(2, 10)]
pvalues = ["-19/10", "-3/2", "-1", "-1/2", "0", "1", "2", "4", "8"]
sp_p = sweep(P, "p", pvalues, x="0.3", deltas=deltas, dps=30)
print(sp_p.table())
for pv, st in zip(pvalues, sp_p.studies):
    theory = (sp.Rational(pv) + 2) / (6 * (sp.Rational(pv) + 4)) * sp.Rational(54, 10)
    assert st.predicted_order == 2 and abs(st.observed_order - 2) < 0.01, pv
    assert abs(st.predicted_constant - sp.N(theory, 30)) < 1e-25, pv
    assert abs(st.observed_constant / st.predicted_constant - 1) < 1e-4, pv
    assert not st.disagreements, pv

# %% [markdown]
# ## The Gaussian against sigma/delta
# $\mu(z) \propto z\,e^{-z^2/(2\sigma^2)}$ on $(-\delta, \delta)$ with $\sigma = r\delta$, $0 < r \le 1$: every member is
# second order, with a constant that grows from 0 (all mass near 0) towards the linear kernel's $\frac1{10} f'''$
# as $r \to \infty$ (the Gaussian flattens into $z$ on the horizon).

# %%
G = nlc.derive(quintic, kernels.gaussian(Parameter("r", "(0, 1]"), of_delta=True))
rvalues = ["1/10", "1/5", "1/3", "1/2", "3/4", "1"]
sp_r = sweep(G, "r", rvalues, x="0.3", deltas=deltas, dps=30)
print(sp_r.table())
for rv, st in zip(rvalues, sp_r.studies):
    assert st.predicted_order == 2 and abs(st.observed_order - 2) < 0.01, rv
    assert abs(st.observed_constant / st.predicted_constant - 1) < 1e-4, rv
    assert not st.disagreements, rv
consts = [float(c) for c in sp_r.predicted_constants]
assert all(a < b for a, b in zip(consts, consts[1:])) and consts[-1] < 5.4 / 10

# %% [markdown]
# ## Figure and tables for the docs

# %%
fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
sp_p.plot(axes[0], theory=lambda t: (t + 2) / (6 * (t + 4)) * 5.4, xlabel="p")
sp_r.plot(axes[1], xlabel="sigma / delta")
axes[0][0].set_title(r"$x^5$ at $x = 0.3$, power kernels: order", fontsize=10)
axes[0][1].set_title(r"constant, theory $\frac{p+2}{6(p+4)} f'''$", fontsize=10)
axes[1][0].set_title(r"Gaussian kernels $\sigma = r\delta$: order", fontsize=10)
axes[1][1].set_title(r"constant, theory $\frac{M_3}{6\delta^2} f'''$", fontsize=10)
for ax in axes[:, 0]:
    ax.set_ylim(1.9, 2.1)
fig.tight_layout()
buf = io.BytesIO()
fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
plt.close(fig)
write_atomic(OUT / "power_family.png", buf.getvalue())
write_atomic(OUT / "power_family.md",
             f"$$D_{{\\mu_p}}\\operatorname{{relu}}(x) = {sp.latex(one)},\\qquad w = x/\\delta \\in (-1, 1)$$\n\n"
             f"$L^1(-1, 1)$ distance to the step, $p = -2 + \\epsilon$:\n\n$${sp.latex(l1)}$$\n\n"
             + markup.table(["p", "L1 distance", "value"], rows_l1) + "\n\n"
             + "Power kernels, $f = x^5$ at $x = 0.3$, $\\delta = 1/4 \\ldots 1/512$, 30 digits:\n\n"
             + sp_p.table() + "\n\nGaussian kernels of width $\\sigma = r\\delta$, the same study:\n\n"
             + sp_r.table() + "\n")
