"""``nonlocal-calc derive``: the closed form of D_mu f for one activation and one kernel."""

from __future__ import annotations

import argparse
import json
import re
import warnings

import sympy as sp

from ..parsing import exact_number
from .options import add_search_arguments, positive_int


def add_pair_arguments(p: argparse.ArgumentParser, activation_required: bool = False) -> None:
    """The arguments that name an activation and a kernel (shared by several subcommands)."""
    p.add_argument("activation", nargs="?" if not activation_required else None,
                   help="catalogue name (relu, tanh, sigmoid, ...); see `nonlocal-calc catalogue --names`")
    p.add_argument("--activation-expr", metavar="EXPR", help='a formula in x instead of a name, e.g. "x/(1+exp(-x))"')
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="activation parameter, e.g. --param slope=0.1 (leaky_relu), --param alpha=0.5 (elu, prelu, isru); "
                        "for a parameter declared with --free: its value in the family's result")
    p.add_argument("--free", action="append", default=[], metavar="NAME=RANGE",
                   help="a free parameter and its range, e.g. --free 'p=> -2' with --kernel 'power(p)', --free "
                        "beta=positive with --activation-expr 'x/(1+exp(-beta*x))', --free slope=real with leaky_relu "
                        "(ranges: positive, nonnegative, negative, nonpositive, real, '> -2', '(0, 1]')")
    p.add_argument("--kernel", default="sign", help="kernel spec: sign, linear, power(P), dirac_pair, gaussian(SIGMA)")
    p.add_argument("--kernel-expr", metavar="EXPR", help='a kernel formula in z and delta instead, e.g. "z**3"')
    p.add_argument("--no-normalize", action="store_true", help="keep the raw kernel (default: first moment 1)")


def resolve_pair(args):
    """(Activation, Kernel) from the parsed arguments, with clear errors; analysing them (a typed kernel's
    moments, say) gets the same CPU-time budget as the search, ``--timeout``."""
    from ..derivation import DEFAULT_TIMEOUT
    from ..timeouts import DerivationTimeout, time_budget

    seconds = getattr(args, "timeout", DEFAULT_TIMEOUT)
    budget = None
    try:
        with time_budget(seconds) as budget:
            return _resolve_pair(args)
    except ValueError as exc:
        if "params={" not in str(exc):
            raise
        raise ValueError(f"{exc}; on the command line: --free NAME=RANGE") from None
    except DerivationTimeout as exc:
        if exc.budget is not budget:
            raise
        raise ValueError(f"analysing the activation and the kernel took more than {seconds:g} s of CPU time "
                         "(--timeout): simplify the formula, or allow more time") from None


def _free_parameters(args) -> dict:
    """``--free NAME=RANGE`` as {name: Parameter}."""
    from ..parameters import Parameter

    free = {}
    for item in getattr(args, "free", []):
        name, sep, domain = item.partition("=")
        name = name.strip()
        if name in free:
            raise ValueError(f"--free {name}: declared twice")
        free[name] = Parameter(name, domain.strip() if sep and domain.strip() else "real")
    return free


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text))


def _resolve_pair(args):
    from .. import activations, kernels
    from ..parsing import parse_expr

    free = _free_parameters(args)
    used: set[str] = set()
    args.member = {}  # values of free parameters, substituted in the derivative (see member())
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--param needs NAME=VALUE, got {item!r}")
        if name.strip() in free:
            args.member[name.strip()] = value.strip()
        else:
            params[name.strip()] = parse_expr(value, set())
    if args.activation_expr:
        if params:
            raise ValueError(f"--param {', '.join(params)}: an --activation-expr takes no constructor parameters; "
                             "write the numbers into the formula, or declare the names with --free")
        mine = {n: p for n, p in free.items() if n in _names_in(args.activation_expr)}
        used |= set(mine)
        act = activations.Activation.from_expr(args.activation_expr, params=mine or None)
    elif args.activation:
        for n, par in free.items():
            if n in _constructor_parameters(args.activation):
                params[n] = par
                used.add(n)
        act = activations.get(args.activation, **params)
    else:
        raise ValueError("name an activation (e.g. relu) or give --activation-expr")
    normalize = not args.no_normalize
    if args.kernel_expr:
        mine = {n: p for n, p in free.items() if n in _names_in(args.kernel_expr)}
        used |= set(mine)
        ker = kernels.Kernel.from_expr(args.kernel_expr, normalize=normalize, timeout=None,  # --timeout governs
                                       params=mine or None)
    else:
        m = re.fullmatch(r"\s*(power|gaussian)\s*\(\s*([A-Za-z_][A-Za-z_0-9]*)\s*\)\s*", args.kernel, re.IGNORECASE)
        if m and m.group(2) in free:
            used.add(m.group(2))
            build = kernels.power if m.group(1).lower() == "power" else kernels.gaussian
            ker = build(free[m.group(2)], normalize=normalize)
        else:
            ker = kernels.get(args.kernel, normalize=normalize)
    unused = sorted(set(free) - used)
    if unused:
        raise ValueError(f"--free {', '.join(unused)}: not a parameter of the activation or the kernel (use the name in "
                         "--activation-expr, --kernel-expr, --kernel 'power(NAME)' or 'gaussian(NAME)', or a "
                         "catalogue activation's parameter such as leaky_relu's slope)")
    return act, ker


def _constructor_parameters(name: str) -> set[str]:
    """The keyword parameters of a catalogue activation's constructor (empty for an unknown name)."""
    import inspect

    from .. import activations

    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    build = activations.CATALOGUE.get(activations.ALIASES.get(key, key))
    return set(inspect.signature(build).parameters) if build is not None else set()


def _show(domain) -> str:
    from ..parameters import _show as show

    return show(domain)


def member(D, args):
    """D with the values ``--param NAME=VALUE`` gave to its free parameters (checked against their ranges)."""
    values = getattr(args, "member", {})
    return D.subs(**values) if values else D


def register(sub) -> None:
    p = sub.add_parser(
        "derive",
        help="closed form of D_mu f for an activation and a kernel",
        description="Derive D_mu f(x) = int [f(x+z) - f(x)] mu(z) dz in closed form (or say it falls back to quadrature).",
        epilog="examples:\n  nonlocal-calc derive relu --kernel sign\n  nonlocal-calc derive tanh --kernel linear --series 4\n"
               '  nonlocal-calc derive --activation-expr "x/(1+exp(-x))" --kernel-expr "z**3" --latex\n'
               "  nonlocal-calc derive relu --delta 0.1 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pair_arguments(p)
    p.add_argument("--latex", action="store_true", help="print LaTeX")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--series", type=positive_int, metavar="N", help="also print the expansion in delta up to O(delta**N)")
    p.add_argument("--delta", type=float, metavar="VALUE", help="substitute a value for delta")
    add_search_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..derivation import QuadratureFallbackWarning, derive
    from ..kernels import check_delta
    from ..symbols import delta

    act, ker = resolve_pair(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        D = member(derive(act, ker, timeout=args.timeout, cache=not args.no_cache), args)
    expr = D.expr
    if args.delta is not None:
        check_delta(args.delta)
        expr = expr.subs(delta, exact_number(args.delta))
    series = D.series(args.series) if args.series else None
    if args.json:
        out = D.to_dict()
        if args.delta is not None:
            out["delta"] = args.delta
            out["expr"] = str(expr)
        if series is not None:
            out["series"] = str(series)
        print(json.dumps(out, indent=2))
        return 0
    if args.latex:
        print(sp.latex(expr) if args.delta is not None else D.latex())
        if series is not None:
            print(sp.latex(series))
        return 0
    print(f"activation: {D.activation.name}: f(x) = {D.activation.expr}")
    print(f"kernel:     {D.kernel.describe()}")
    print(f"method:     {D.method}" + (f"  ({D.note})" if D.note else ""))
    if D.parameters:
        print("parameters: " + ", ".join(f"{p.name} in {_show(p.domain)}" for p in D.parameters))
    print()
    print(f"D_mu {act.name}(x) =")
    print(sp.pretty(expr, use_unicode=False))
    if series is not None:
        print(f"\nseries in delta (valid where f is smooth on the horizon):\n{series}")
    return 0
