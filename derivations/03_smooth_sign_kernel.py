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
# # 3. Smooth activations with the sign kernel, and their stable forms
#
# For the sign kernel $\mu_1 = \operatorname{sign}(z)/\delta^2$ and an antiderivative $F$ of $f$,
#
# $$D_{\mu_1} f(x) = \frac{1}{\delta^2}\Bigl[\int_0^\delta f(x+z)\,dz - \int_{-\delta}^0 f(x+z)\,dz\Bigr]
#   = \frac{F(x+\delta) - 2F(x) + F(x-\delta)}{\delta^2},$$
#
# a second difference. That is how closed forms arise (one antiderivative), and also why they are
# numerically treacherous: in floating point the numerator cancels and loses about $2\log_{10}(1/\delta)$
# digits. We derive the closed forms, check the second-difference identity at 50 digits, then derive
# cancellation-free forms for tanh and the logistic function and measure their float64 accuracy.

# %%
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import out_dir  # noqa: E402  (derivations/_common.py)
from sympy.codegen.cfunctions import log1p  # noqa: E402

import nonlocal_calc as nlc  # noqa: E402
from nonlocal_calc import markup  # noqa: E402
from nonlocal_calc.cache import write_atomic  # noqa: E402

OUT = out_dir()
x, delta = nlc.x, nlc.delta
SMOOTH = ["logistic", "tanh", "arctan", "softplus", "silu", "gelu"]

# %% [markdown]
# ## Closed forms, and the second-difference identity at 50 digits
# $F$ is computed here independently of the toolkit: $F(t) = \int_0^t f$ by mpmath quadrature.

# %%
rows = []
derived = {}
mpmath.mp.dps = 50
for name in SMOOTH:
    D = nlc.derive(name, "sign")
    assert D.method == "closed-form", name
    derived[name] = D
    f = sp.lambdify(x, D.activation.expr, "mpmath")

    def F(t, f=f):
        return mpmath.quad(f, [0, t])

    worst = mpmath.mpf(0)
    for xv in ("-2.5", "-0.7", "0", "0.3", "1.9"):
        for dv in ("0.5", "0.01", "0.0001"):
            xm, dm = mpmath.mpf(xv), mpmath.mpf(dv)
            second_difference = (F(xm + dm) - 2 * F(xm) + F(xm - dm)) / dm**2
            worst = max(worst, abs(D.evaluate(xm, dm, dps=50) - second_difference))
    print(f"{name:9s} max |D.evaluate - second difference of F| = {mpmath.nstr(worst, 3)}")
    assert worst < mpmath.mpf(10) ** -35, name
    rows.append([markup.code(name), markup.math(sp.latex(D.expr)), mpmath.nstr(worst, 2)])

# %% [markdown]
# ## Stable forms
# **tanh.** With $F = \log\cosh$, the closed form is a log of a ratio, and
# $\cosh(x+\delta)\cosh(x-\delta) = \cosh^2 x + \sinh^2\delta$, so
#
# $$D_{\mu_1}\tanh(x) = \frac{1}{\delta^2}\log\Bigl(1 + \frac{\sinh^2\delta}{\cosh^2 x}\Bigr)
#   \quad(\texttt{log1p}: \text{no cancellation}).$$
#
# **logistic.** With $F = \log(1 + e^x)$ the same manipulation gives
#
# $$D_{\mu_1}\sigma(x) = \frac{1}{\delta^2}\log\Bigl(1 + 4\,\sigma(x)\,\sigma(-x)\,\sinh^2\tfrac{\delta}{2}\Bigr).$$
#
# SymPy confirms both identities symbolically (the ratio inside the logarithm), and mpmath at 50 digits.

# %%
stable = {  # log1p(y) = log(1 + y), evaluated without forming 1 + y
    "tanh": log1p(sp.sinh(delta) ** 2 / sp.cosh(x) ** 2) / delta**2,
    "logistic": log1p(4 * sp.sinh(delta / 2) ** 2 / ((1 + sp.exp(-x)) * (1 + sp.exp(x)))) / delta**2,
}
ratios = {
    "tanh": ((sp.exp(2 * x - 2 * delta) + 1) * (sp.exp(2 * x + 2 * delta) + 1) / (sp.exp(2 * x) + 1) ** 2,
             1 + sp.sinh(delta) ** 2 / sp.cosh(x) ** 2),
    "logistic": ((sp.exp(x - delta) + 1) * (sp.exp(x + delta) + 1) / (sp.exp(x) + 1) ** 2,
                 1 + 4 * sp.sinh(delta / 2) ** 2 / ((1 + sp.exp(-x)) * (1 + sp.exp(x)))),
}
for name, (ratio, claimed) in ratios.items():
    assert sp.simplify((ratio - claimed).rewrite(sp.exp)) == 0, name
    fs = sp.lambdify((x, delta), stable[name], "mpmath")
    for xv, dv in (("0.3", "0.1"), ("-4", "1e-5"), ("7", "0.9")):
        assert abs(fs(mpmath.mpf(xv), mpmath.mpf(dv)) - derived[name].evaluate(xv, dv, dps=50)) < 1e-45
    print(f"{name}: stable form confirmed")

# %% [markdown]
# **Any smooth activation** has a cancellation-free form through the profile: $D_{\mu_1} f(x) =
# \int_{-1}^{1} f'(x + \delta u)\,(1 - |u|)\,du$, an average of $f'$; a 20-point Gauss-Legendre rule on each half
# evaluates it in float64 to rounding accuracy for the horizons used in practice.

# %%
gl_u, gl_w = np.polynomial.legendre.leggauss(20)
gl_u, gl_w = (gl_u + 1) / 2, gl_w / 2  # nodes and weights on (0, 1)


def profile_form(fprime, xs, d):
    xs = np.asarray(xs, dtype=float)[..., None]
    return ((fprime(xs + d * gl_u) + fprime(xs - d * gl_u)) * (1 - gl_u) * gl_w).sum(-1)


# %% [markdown]
# ## Float64 accuracy: closed form vs stable forms
# Error against the 30-digit value, relative to the largest $|D_{\mu_1} f|$ on 21 points in $[-3, 3]$,
# for shrinking $\delta$.
# The closed form is evaluated with a 53-bit mantissa (mpmath at double precision: NumPy has no polylog or erf);
# the stable forms and the profile form in NumPy float64.

# %%
xs = np.linspace(-3, 3, 21)
deltas = np.logspace(-7, 0, 8)
errors = {}
for name in ("tanh", "logistic", "softplus", "gelu"):
    D = derived[name]
    naive = sp.lambdify((x, delta), D.expr, "mpmath")  # evaluated with a 53-bit mantissa: double precision
    fprime = sp.lambdify(x, sp.diff(D.activation.expr, x), [{"erf": np.vectorize(math.erf)}, "numpy"])

    def closed_double(xv, d, naive=naive):
        with mpmath.workprec(53):
            return [float(mpmath.re(naive(mpmath.mpf(float(v)), mpmath.mpf(float(d))))) for v in xv]

    forms = {"closed form": closed_double,
             "profile (Gauss-Legendre)": lambda xv, d, fp=fprime: profile_form(fp, xv, d)}
    if name in stable:
        forms["stable closed form"] = sp.lambdify((x, delta), stable[name], "numpy")
    for label, fn in forms.items():
        errs = []
        for d in deltas:
            ref = np.array([float(D.evaluate(float(v), float(d), dps=30)) for v in xs])
            got = np.asarray(fn(xs, d), dtype=float)
            errs.append(float(np.max(np.abs(got - ref)) / np.max(np.abs(ref))))
        errors[(name, label)] = errs
        print(f"{name:9s} {label:26s} worst error {max(errs):.2e} (at delta = {deltas[int(np.argmax(errs))]:.0e})")

for name in ("tanh", "logistic"):
    assert max(errors[(name, "stable closed form")]) < 1e-14
    assert errors[(name, "closed form")][0] > 1e-4  # delta = 1e-7: cancellation eats the digits
for name in ("tanh", "logistic", "softplus", "gelu"):
    assert max(errors[(name, "profile (Gauss-Legendre)")]) < 1e-14

# %% [markdown]
# ## Figure and table for the docs

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), sharey=True)
for ax, name in zip(axes, ("tanh", "logistic", "softplus", "gelu")):
    for (n, label), errs in errors.items():
        if n == name:
            ax.loglog(deltas, np.maximum(errs, 1e-17), "o-" if label == "closed form" else "s--", ms=3, label=label)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("delta")
    ax.grid(True, which="both", alpha=0.3)
axes[0].set_ylabel("float64 error / max |D f|")
axes[0].legend(fontsize=7)
fig.tight_layout()
buf = io.BytesIO()
fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
plt.close(fig)
write_atomic(OUT / "smooth_sign_stability.png", buf.getvalue())
stable_md = "\n".join(f"- {markup.code(name)}: "
                      + markup.math(rf"D_{{\mu_1}}\,\mathrm{{{name}}}(x) = {sp.latex(e.rewrite(sp.log))}")
                      for name, e in stable.items())
table = markup.table(["activation", r"closed form of $D_{\mu_1} f(x)$",
                      "max difference from the second difference of $F$"], rows)
write_atomic(OUT / "smooth_sign_kernel.md", table + "\n\nStable forms (verified symbolically and at 50 "
             "digits):\n\n" + stable_md + "\n")
