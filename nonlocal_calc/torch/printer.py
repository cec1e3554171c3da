"""A SymPy -> PyTorch printer for the stable forms of the code generator.

:class:`TorchCodePrinter` is the torch dialect of :class:`~nonlocal_calc.codegen.tensor.printer.TensorCodePrinter`
(built like SymPy's own :class:`~sympy.printing.pytorch.TorchPrinter`, but strict and dtype-generic): numbers are
Python floats (weakly typed: a float32 tensor stays float32), a Piecewise is a chain of ``_where`` whose
constant branches take the dtype of a reference tensor, and the functions of :mod:`nonlocal_calc.codegen.stable`
get their accurate torch counterparts (``expm1``, ``log1p``, ``Log1pExp -> _log1pexp``; ``where -> _where``, a
select without branches in eager mode). Anything without a
torch counterpart (polylogarithms, ``erfi``) raises :class:`~nonlocal_calc.codegen.PrinterError`, so that the
caller takes the quadrature instead. Torch is not imported by this module (it writes text; SymPy's printer
module imports torch).

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> p = TorchCodePrinter()
>>> p.doprint(sp.Piecewise((0, x < -delta), ((x + delta) ** 2 / (2 * delta**2), x < 0), (1, True)))
'_where((delta < -x), torch.full_like(x, 0.0), _where((x < 0.0), (0.5)*(delta + x)**2/delta**2, torch.full_like(x, 1.0)))'
>>> p.doprint(sp.log(1 + sp.exp(x)))
'_log1pexp(x)'
"""

from __future__ import annotations

from ..codegen.tensor.printer import TensorCodePrinter, assignments

__all__ = ["TorchCodePrinter", "assignments", "FUNCTIONS", "HELPERS"]

#: The functions and operations of :data:`~nonlocal_calc.codegen.tensor.printer.ONE_ARGUMENT` and their torch names.
FUNCTIONS = {
    "exp": "torch.exp", "log": "torch.log", "sin": "torch.sin", "cos": "torch.cos", "tan": "torch.tan",
    "sinh": "torch.sinh", "cosh": "torch.cosh", "tanh": "torch.tanh", "asin": "torch.asin", "acos": "torch.acos",
    "atan": "torch.atan", "asinh": "torch.asinh", "acosh": "torch.acosh", "atanh": "torch.atanh",
    "erf": "torch.special.erf", "erfc": "torch.special.erfc", "expm1": "torch.expm1", "log1p": "torch.log1p",
    "Abs": "torch.abs", "sign": "torch.sign", "loggamma": "torch.special.gammaln", "Log1pExp": "_log1pexp",
    "sqrt": "torch.sqrt", "rsqrt": "torch.rsqrt", "pow": "torch.pow", "atan2": "torch.atan2",
    "maximum": "torch.maximum", "minimum": "torch.minimum", "where": "torch.where",
}

#: The helper functions a printed module defines (those its code calls).
HELPERS = {
    "_log1pexp": ("def _log1pexp(u):\n"
                  "    \"\"\"log(1 + exp(u)) without overflow or cancellation.\"\"\"\n"
                  "    return torch.clamp(u, min=0.0) + torch.log1p(torch.exp(-torch.abs(u)))\n"),
    "_where": '''#: Integer types of the float types' bits, for the select of _where.
_BITS = {torch.float32: torch.int32, torch.float64: torch.int64}


def _where(c, a, b):
    """``torch.where(c, a, b)``; on CPU tensors in eager mode without autograd, the same bits chosen without a
    branch per element, ``b ^ ((a ^ b) & -c)`` on the integers of the floats' bits, where torch's CPU ``where``
    branches on each element and mispredicts on mixed conditions (6-7x slower on 32768 random ones; times in
    docs/dev/performance.md), and one side whole for a condition of one element."""
    if (torch.is_grad_enabled() or torch.compiler.is_compiling() or not isinstance(c, torch.Tensor)
            or c.device.type != "cpu" or not (isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor))
            or any(isinstance(v, torch.Tensor) and (v.device != c.device or _wrapped(v)) for v in (c, a, b))):
        return torch.where(c, a, b)
    dtype = torch.result_type(a, b)
    if dtype not in _BITS:
        return torch.where(c, a, b)
    if c.numel() == 1:
        shape = torch.broadcast_shapes(*(v.shape for v in (c, a, b) if isinstance(v, torch.Tensor)))
        side = a if c.item() else b
        return torch.as_tensor(side, dtype=dtype, device=c.device).expand(shape).clone(memory_format=torch.contiguous_format)
    if c.numel() < 4096:
        return torch.where(c, a, b)
    ia, ib = (torch.as_tensor(v, dtype=dtype, device=c.device).view(_BITS[dtype]) for v in (a, b))
    r = torch.bitwise_and(torch.bitwise_xor(ia, ib), c.to(ia.dtype).neg_())
    return r.bitwise_xor_(ib).view(dtype)
''',
}


class TorchCodePrinter(TensorCodePrinter):
    """Print real SymPy expressions in ``x``, ``delta`` (and other named symbols) as torch expressions.

    ``names`` maps symbols to variable names; ``ref`` is the name of a tensor whose dtype, device and shape
    constant branches of a Piecewise take. ``helpers`` collects the :data:`HELPERS` the printed code calls.
    """

    printmethod = "_torchcode_nonlocal"
    MODULE = "torch"
    FUNCTIONS = FUNCTIONS
    HELPERS = HELPERS
    FEWER_PASSES = True

    def where(self, cond: str, a: str, b: str) -> str:
        self.helpers.add("_where")
        return f"_where({cond}, {a}, {b})"

    def clip(self, value: str, lo: str | None, hi: str | None) -> str:
        return f"torch.clamp({value}, min={lo}, max={hi})"

    def clip01(self, value: str) -> str:
        return f"torch.clamp({value}, 0.0, 1.0)"

    def bound(self, value: str, limit: str, upper: bool) -> str:
        return f"torch.clamp({value}, {'max' if upper else 'min'}={limit})"

    def cast(self, value: str, like: str) -> str:
        return f"{value}.to({like}.dtype)"
