"""The activation of a network and the derivative its backward pass uses, both as SymPy expressions.

``resolve(activation, derivative, kernel)`` returns a :class:`Pointwise`: the forward expression (the
catalogue activation) and the backward expression chosen by ``derivative``:

* ``exact``: the ordinary derivative f'(x) of the activation (the left one at a kink: ReLU' = [Z > 0]);
* ``nonlocal``: the closed form of the nonlocal derivative D_mu f for the kernel (``nlc.derive``), with
  ``delta`` left symbolic and supplied at run time;
* ``poster``: the poster's Figure 5 code as transcribed by the audit (ReLU only), so its effect on
  training can be measured.

Both are compiled to Numba scalar functions ``(x, delta) -> float`` by :func:`nonlocal_calc.codegen.jit_scalar`;
for ``nonlocal`` the backward pass uses the stable generated kernel of the derivative (the one behind its ufunc).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..codegen import fast_kernel, jit_scalar
from ..symbols import delta as delta_sym
from ..symbols import x as x_sym

DERIVATIVES = ("exact", "nonlocal", "poster")


@dataclass(eq=False)
class Pointwise:
    """A forward activation and the derivative used in backpropagation, as expressions and compiled.

    >>> import sympy as sp
    >>> from nonlocal_calc.symbols import x
    >>> pw = Pointwise(sp.tanh(x), 1 - sp.tanh(x)**2, name="tanh/exact")
    >>> round(pw.f(0.5, 0.0), 6), round(pw.g(0.0, 0.0), 6)
    (0.462117, 1.0)
    """

    forward_expr: sp.Expr
    backward_expr: sp.Expr
    delta: float = 0.0
    name: str = ""
    info: dict = field(default_factory=dict)
    #: compile the backward pass from this instead of ``backward_expr`` (a NonlocalDerivative: its stable kernel)
    backward_source: object = None

    def __post_init__(self) -> None:
        self.forward_expr = sp.sympify(self.forward_expr)
        self.backward_expr = sp.sympify(self.backward_expr)
        self.delta = float(self.delta)
        self.f = jit_scalar(self.forward_expr)
        self.g = jit_scalar(self.backward_source if self.backward_source is not None else self.backward_expr)
        #: ``(prep, kfast)`` when the backward kernel has a hoistable fast path (see codegen.fast_kernel)
        self.g_fast = fast_kernel(self.backward_source) if self.backward_source is not None else None

    def describe(self) -> dict:
        return {"name": self.name, "forward": str(self.forward_expr), "backward": str(self.backward_expr),
                "delta": self.delta, **self.info}


def _exact_derivative(act) -> sp.Expr:
    """f'(x), taking the left one-sided derivative at a kink: ReLU' = [Z > 0], as in the poster's Figure 4
    and in PyTorch (the activation itself is right-continuous; only the value exactly at a kink differs).

    >>> from nonlocal_calc import activations
    >>> _exact_derivative(activations.get("relu"))
    Piecewise((0, x <= 0), (1, True))
    """
    pieces = [sp.diff(p, x_sym) for p in getattr(act, "pieces", (act.expr,))]
    kinks = getattr(act, "breakpoints", ())
    if not kinks:
        return pieces[0]
    return sp.Piecewise(*[(p, x_sym <= b) for p, b in zip(pieces, kinks)], (pieces[-1], True))


def _poster_expr() -> sp.Expr:
    """The audit's transcription of the poster's Figure 5 code (a Piecewise in x and delta)."""
    from ..audit import poster_code_expr

    return poster_code_expr()


def resolve(
    activation: str | object = "relu", derivative: str = "exact", kernel: str | object = "sign", delta: float = 0.1
) -> Pointwise:
    """The :class:`Pointwise` pair for a catalogue activation and a derivative option.

    >>> pw = resolve("relu", "nonlocal", "sign", 0.1)
    >>> tuple(round(pw.g(v, 0.1), 6) for v in (-0.2, -0.05, 0.05, 0.2))
    (0.0, 0.125, 0.875, 1.0)
    """
    from .. import activations, kernels
    from ..kernels import check_delta

    if derivative not in DERIVATIVES:
        raise ValueError(f"unknown derivative option {derivative!r}; choose one of {', '.join(DERIVATIVES)}")
    act = activations.get(activation) if isinstance(activation, str) else activation
    act_name = getattr(act, "name", str(activation))
    forward = act.expr
    info: dict = {"activation": act_name, "derivative": derivative}
    source = None
    if derivative == "exact":
        backward = _exact_derivative(act)
        used_delta = 0.0
    else:
        check_delta(delta)
        used_delta = float(delta)
        if derivative == "nonlocal":
            from .. import derive

            ker = kernels.get(kernel) if isinstance(kernel, str) else kernel
            D = derive(act, ker)
            if getattr(D, "method", "closed-form") != "closed-form":
                raise ValueError(
                    f"the nonlocal derivative of {act_name} for kernel {ker.name} has no closed form "
                    f"({getattr(D, 'note', '')}); the trainer needs a closed form: choose another kernel"
                )
            backward, source = D.expr, D
            info["kernel"] = ker.name
        else:
            if act_name != "relu":
                raise ValueError(f"the poster's derivative code is for ReLU only, not {act_name!r}; use --activation relu")
            backward = _poster_expr()
            info["kernel"] = "sign (poster's Figure 5 code, as transcribed)"
    extra = (sp.sympify(backward).free_symbols | sp.sympify(forward).free_symbols) - {x_sym, delta_sym}
    if extra:
        raise ValueError(f"activation {act_name!r} has free parameters {sorted(map(str, extra))}; give them values")
    name = f"{act_name}/{derivative}" + (f"/{info.get('kernel')}/delta={used_delta:g}" if derivative != "exact" else "")
    return Pointwise(forward, backward, used_delta, name, info, source)
