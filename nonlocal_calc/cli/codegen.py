"""``nonlocal-calc codegen``: write a standalone compiled module for one activation and one kernel."""

from __future__ import annotations

import argparse
import sys
import warnings

from .derive import add_pair_arguments, member, resolve_pair
from .options import add_search_arguments

#: The array frameworks a module can be written for: (the package it needs, the extra that installs it).
FRAMEWORKS = {"torch": ("PyTorch", "torch"), "jax": ("JAX", "jax")}


def register(sub) -> None:
    p = sub.add_parser(
        "codegen",
        help="write a standalone Numba module (ufunc + scalar kernel), PyTorch or JAX module for D_mu f",
        description="Write a Python module that imports only numpy, numba and math and defines the NumPy ufunc "
                    "`ufunc(x, delta)` and the Numba scalar function `kernel(x, delta)` for D_mu f. Its docstring "
                    "states the formula, the kernel, its normalization and the accuracy measured against mpmath. "
                    "It uses Numba's public API only (numba.njit, numba.vectorize), so later Numba releases run it.",
        epilog="examples:\n  nonlocal-calc codegen relu --kernel sign -o relu_sign.py\n"
               "  nonlocal-calc codegen tanh --kernel linear -o tanh_linear.py --no-measure\n"
               '  nonlocal-calc codegen --activation-expr "x/(1+exp(-x))" -o swish_sign.py\n\n'
               "  nonlocal-calc codegen gelu --kernel sign --backend torch -o gelu_sign_torch.py\n"
               "  nonlocal-calc codegen gelu --kernel sign --backend jax -o gelu_sign_jax.py\n\n"
               "then:  python -c \"import relu_sign; print(relu_sign.ufunc([-1.0, 0.0, 1.0], 0.1))\"\n"
               "a torch module defines value(x, delta), derivs(x, delta), activation(x) and the autograd Functions\n"
               "Activation and Derivative (docs/torch.md); a JAX module the same plain functions and\n"
               "nonlocal_activation(x, delta), nonlocal_derivative(x, delta) with jax.custom_jvp rules (docs/jax.md)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pair_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.py", help="the module to write")
    p.add_argument("--no-measure", action="store_true",
                   help="skip the accuracy measurement against mpmath (faster; the docstring then says so)")
    p.add_argument("--fast-internals", action="store_true",
                   help="write the fast loops that make_ufunc uses instead (vectorized paths: faster on arrays, "
                        "see docs/ufuncs.md); they use Numba internals and are tied to the Numba versions they were "
                        "verified on")
    p.add_argument("--backend", choices=("numba", "torch", "jax"), default="numba",
                   help="numba (default): the ufunc module; torch: a module that imports only math and torch, with "
                        "the autograd Functions of nonlocal_calc.torch (needs PyTorch: the [torch] extra); jax: a "
                        "module that imports only math and jax, with the custom JVP rules of nonlocal_calc.jax "
                        "(needs JAX: the [jax] extra)")
    add_search_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..codegen import write_module
    from ..derivation import QuadratureFallbackWarning, derive

    if not args.output.endswith(".py"):
        raise ValueError(f"--output must name a .py file, got {args.output!r}")
    stem = args.output.rsplit("/", 1)[-1][:-3]
    if not stem.isidentifier():
        raise ValueError(f"--output {args.output!r}: the file name must be a valid module name (e.g. relu_sign.py)")
    act, ker = resolve_pair(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        D = member(derive(act, ker, timeout=args.timeout, cache=not args.no_cache), args)
    if D.parameters and (args.backend in FRAMEWORKS or args.fast_internals):
        names = ", ".join(p.name for p in D.parameters)
        option = f"--backend {args.backend}" if args.backend in FRAMEWORKS else "--fast-internals"
        raise ValueError(f"{option} needs numbers for the free parameters ({names}): give them with --param "
                         "NAME=VALUE")
    if args.backend in FRAMEWORKS:
        import importlib.util

        package, extra = FRAMEWORKS[args.backend]
        if importlib.util.find_spec(args.backend) is None:
            raise ValueError(f"--backend {args.backend} needs {package}: pip install 'nonlocal-calc[{extra}]'")
        if args.backend == "torch":
            from ..torch.compiled import write_module as write_framework
        else:
            from ..jax.compiled import write_module as write_framework
        write_framework(D, args.output)
    else:
        write_module(D, args.output, measure=not args.no_measure, fast_internals=args.fast_internals)
    free = f"; ufunc(x, delta, {', '.join(p.name for p in D.parameters)})" if D.parameters else ""
    print(f"wrote {args.output}: D_mu {act.name} for the kernel {ker.name} ({D.method}{free})", file=sys.stderr)
    return 0
