"""Speed of nonlocal_calc.torch against PyTorch's own activation backward, timed side by side in one run.

For each activation (the sign kernel, one delta), on the same ``--n`` CPU values:

* ``torch``: the backward of PyTorch's own activation (``torch.relu``, ``torch.tanh``, ``F.silu``, ``F.gelu``):
  ``torch.autograd.grad(y, x, g)`` of a graph built before the clock starts;
* ``nonlocal``: the same for :class:`nonlocal_calc.torch.NonlocalActivation` (backward = D_mu f);
* with ``--compile``, both again with ``loss = (act(x) * g).sum()`` compiled by ``torch.compile(fullgraph=True)``,
  timing ``loss(x).backward()`` (forward and backward: a compiled graph's backward is not timed alone).

The contenders alternate within each round; the median over ``--rounds`` rounds is printed, with the ratio
nonlocal / torch.

    python benchmarks/bench_torch.py                          # 10^6 float32 values, delta = 0.1, 1 thread
    python benchmarks/bench_torch.py --n 10000000 --dtype float64 --compile --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from nonlocal_calc.torch import NonlocalActivation

NATIVE = {"relu": torch.relu, "tanh": torch.tanh, "silu": F.silu, "gelu": F.gelu}


def backward_time(fn, x: torch.Tensor, g: torch.Tensor) -> float:
    xx = x.detach().requires_grad_(True)
    y = fn(xx)
    t0 = time.perf_counter()
    torch.autograd.grad(y, xx, g)
    return time.perf_counter() - t0


def step_time(loss, x: torch.Tensor, g: torch.Tensor) -> float:
    xx = x.detach().requires_grad_(True)
    t0 = time.perf_counter()
    loss(xx, g).backward()
    return time.perf_counter() - t0


def compiled_loss(act):
    def loss(x, g):
        return (act(x) * g).sum()
    return torch.compile(loss, fullgraph=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--acts", default="relu,tanh,silu,gelu")
    ap.add_argument("--kernel", default="sign")
    ap.add_argument("--delta", type=float, default=0.1)
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="also time both under torch.compile(fullgraph=True)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(args.n, generator=gen, dtype=torch.float64) * 8 - 4).to(dtype)
    g = torch.rand(args.n, generator=gen, dtype=torch.float64).to(dtype)
    print(f"{args.n} {args.dtype} values, kernel {args.kernel}, delta = {args.delta}, {args.threads} thread(s), "
          f"median of {args.rounds} interleaved rounds (ms)")
    print(f"{'activation':<10} {'mode':<9} {'torch':>9} {'nonlocal':>9} {'ratio':>7}")
    for name in args.acts.split(","):
        mod = NonlocalActivation(name, args.kernel, delta=args.delta).to(dtype)
        modes = [("eager", NATIVE[name], mod, backward_time)]
        if args.compile:
            torch._dynamo.reset()
            modes.append(("compiled", compiled_loss(NATIVE[name]), compiled_loss(mod), step_time))
        for mode, native, nonlocal_, timer in modes:
            timer(native, x, g), timer(nonlocal_, x, g)  # warm-up (and compilation)
            tn, tl = [], []
            for _ in range(args.rounds):
                tn.append(timer(native, x, g))
                tl.append(timer(nonlocal_, x, g))
            a, b = statistics.median(tn) * 1e3, statistics.median(tl) * 1e3
            print(f"{name:<10} {mode:<9} {a:9.2f} {b:9.2f} {b / a:7.2f}", flush=True)


if __name__ == "__main__":
    main()
