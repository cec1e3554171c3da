"""Speed of nonlocal_calc.torch against PyTorch's own activation backward, timed side by side in one run.

For each activation (the sign kernel, one delta), on the same ``--n`` CPU values:

* ``torch``: the backward of PyTorch's own activation (``torch.relu``, ``torch.tanh``, ``F.silu``, ``F.gelu``):
  ``torch.autograd.grad(y, x, g)`` of a graph built before the clock starts;
* ``nonlocal``: the same for :class:`nonlocal_calc.torch.NonlocalActivation` (backward = D_mu f): eager, large
  tensors are evaluated by the compiled functions (``fused``), and beside them by the eager blocks of torch
  operations (``plain``, ``NLC_TORCH_FUSE=0``), with the time of the first fused call (torch.compile's
  compilation; ``--cold`` with an empty Inductor cache, in a folder of its own);
* with ``--compile``, both again with ``loss = (act(x) * g).sum()`` compiled by ``torch.compile(fullgraph=True)``,
  timing ``loss(x).backward()`` (forward and backward: a compiled graph's backward is not timed alone);
* with ``--steps``, a whole training step (forward, cross-entropy, backward, SGD update) of two models on 28 x 28
  inputs, the same weights with torch's activation and with the nonlocal one: ``mlp`` (784-10-10) and ``cnn``
  (two 3 x 3 convolutions of 8 and 16 channels, each followed by the activation and a 2 x 2 max-pool, then a
  linear layer to 10), batch ``--batch``; eager, and with ``--compile`` the loss compiled by
  ``torch.compile(fullgraph=True)`` (the update stays eager).

The contenders alternate within each round; the median over ``--rounds`` rounds is printed, with the ratio
nonlocal / torch.

    python benchmarks/bench_torch.py                          # 10^6 float32 values, delta = 0.1, 1 thread
    python benchmarks/bench_torch.py --n 1000000,10000000 --cold   # fused and plain eager, two sizes
    python benchmarks/bench_torch.py --n 10000000 --dtype float64 --compile --rounds 5
    python benchmarks/bench_torch.py --n 0 --steps --compile --rounds 15   # training steps only
    python benchmarks/bench_torch.py --baseline old/torch    # and the modules of an earlier version (eager)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

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


def eager(flag: str, timer):
    """``timer`` with the nonlocal modules' compiled evaluation on (``flag`` "1") or off ("0")."""
    def run(*args):
        os.environ["NLC_TORCH_FUSE"] = flag
        return timer(*args)
    return run


def step_time(loss, x: torch.Tensor, g: torch.Tensor) -> float:
    xx = x.detach().requires_grad_(True)
    t0 = time.perf_counter()
    loss(xx, g).backward()
    return time.perf_counter() - t0


def compiled_loss(act):
    def loss(x, g):
        return (act(x) * g).sum()
    return torch.compile(loss, fullgraph=True)


def model(kind: str, act: torch.nn.Module) -> torch.nn.Module:
    """``mlp`` (784-10-10) or ``cnn`` (conv 8, act, pool, conv 16, act, pool, linear 10) on 28 x 28 inputs."""
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10), act, torch.nn.Linear(10, 10))
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), act, torch.nn.MaxPool2d(2),
                               torch.nn.Conv2d(8, 16, 3, padding=1), act, torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(16 * 7 * 7, 10))


class Trainer:
    """One SGD training step of a model (the loss compiled with ``torch.compile(fullgraph=True)`` if asked)."""

    def __init__(self, net: torch.nn.Module, compiled: bool, reps: int):
        self.net, self.reps = net, reps
        self.opt = torch.optim.SGD(net.parameters(), lr=1e-3)

        def loss(x, y):
            return F.cross_entropy(net(x), y)
        self.loss = torch.compile(loss, fullgraph=True) if compiled else loss

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Seconds per step, over ``reps`` steps."""
        t0 = time.perf_counter()
        for _ in range(self.reps):
            self.opt.zero_grad(set_to_none=True)
            self.loss(x, y).backward()
            self.opt.step()
        return (time.perf_counter() - t0) / self.reps


def trainers(kind: str, name: str, args, dtype, compiled: bool) -> tuple[Trainer, Trainer]:
    """Two trainers of the same initial weights: torch's activation and the nonlocal one."""
    torch.manual_seed(0)
    native = model(kind, Activation(NATIVE[name])).to(dtype)
    ours = model(kind, NonlocalActivation(name, args.kernel, delta=args.delta)).to(dtype)
    ours.load_state_dict(native.state_dict(), strict=False)
    return Trainer(native, compiled, args.reps), Trainer(ours, compiled, args.reps)


class Activation(torch.nn.Module):
    """A torch function as a module."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def interleaved(a, b, rounds: int, *inputs, more=()) -> tuple[float, ...]:
    """Medians (ms) of ``a(*inputs)``, ``b(*inputs)`` and those of ``more`` (each returning its seconds),
    alternating within each round, after a warm-up call of each."""
    fns = (a, b, *more)
    times = [[] for _ in fns]
    for _ in range(rounds + 1):
        for fn, ts in zip(fns, times):
            ts.append(fn(*inputs))
    return tuple(statistics.median(ts[1:]) * 1e3 for ts in times)


def goal(ratio: float, compiled: bool) -> str:
    """Whether a ratio meets the goal: at most 1.3 in eager mode, 1.1 compiled."""
    return "met" if ratio <= (1.1 if compiled else 1.3) else "not met"


def steps(args, dtype) -> None:
    """The training-step table."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, 1, 28, 28, generator=gen).to(dtype)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    print(f"training step (forward, cross-entropy, backward, SGD), batch {args.batch}, {args.dtype}, kernel "
          f"{args.kernel}, delta = {args.delta}, {args.threads} thread(s), median of {args.rounds} interleaved rounds "
          f"of {args.reps} steps (ms per step)")
    print(f"{'model':<5} {'activation':<10} {'mode':<9} {'torch':>9} {'nonlocal':>9} {'ratio':>7}  goal")
    for kind in args.models.split(","):
        for name in args.acts.split(","):
            for compiled in (False, True) if args.compile else (False,):
                torch._dynamo.reset()
                a, b = interleaved(*trainers(kind, name, args, dtype, compiled), args.rounds, x, y)
                mode = "compiled" if compiled else "eager"
                print(f"{kind:<5} {name:<10} {mode:<9} {a:9.3f} {b:9.3f} {b / a:7.2f}  {goal(b / a, compiled)}",
                      flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--acts", default="relu,tanh,silu,gelu")
    ap.add_argument("--kernel", default="sign")
    ap.add_argument("--delta", type=float, default=0.1)
    ap.add_argument("--n", default="1000000", help="values per tensor; several, comma-separated, one table each")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="also time both under torch.compile(fullgraph=True)")
    ap.add_argument("--steps", action="store_true", help="also time training steps of the mlp and cnn models")
    ap.add_argument("--baseline", metavar="DIR", help="also time, eager, the modules an earlier version generated "
                    "in DIR (a copy of the cache's torch folder)")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=10, help="training steps per timed sample")
    ap.add_argument("--cold", action="store_true", help="compile into an empty Inductor cache (the first call's "
                    "cost on a new machine)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.cold:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="nlc-bench-inductor-")
    dtype = getattr(torch, args.dtype)
    for n in (int(v) for v in args.n.split(",")):
        if n > 0:
            values(args, n, dtype)
    if args.steps:
        steps(args, dtype)


def values(args, n: int, dtype) -> None:
    """The table of backward times on ``n`` values: eager (the nonlocal module compiled, ``fused``, and in eager
    blocks, ``plain``) and with ``--compile`` under torch.compile."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(n, generator=gen, dtype=torch.float64) * 8 - 4).to(dtype)
    g = torch.rand(n, generator=gen, dtype=torch.float64).to(dtype)
    print(f"{n} {args.dtype} values, kernel {args.kernel}, delta = {args.delta}, {args.threads} thread(s), "
          f"median of {args.rounds} interleaved rounds (ms); eager nonlocal: fused (compiled, the default) and "
          f"plain (NLC_TORCH_FUSE=0); first: the first fused call (s); load average {os.getloadavg()[0]:.1f}")
    extra = f" {'baseline':>9} {'ratio':>7} {'nonlocal/baseline':>17}" if args.baseline else ""
    print(f"{'activation':<10} {'mode':<9} {'torch':>9} {'nonlocal':>9} {'ratio':>7} {'plain':>9} {'ratio':>7} "
          f"{'first':>7}{extra}")
    for name in args.acts.split(","):
        mod = NonlocalActivation(name, args.kernel, delta=args.delta).to(dtype)
        modes = [("eager", NATIVE[name], mod, backward_time)]
        if args.compile:
            modes.append(("compiled", compiled_loss(NATIVE[name]), compiled_loss(mod), step_time))
        for mode, native, nonlocal_, timer in modes:
            if mode == "eager":
                first = eager("1", timer)(nonlocal_, x, g)
                more = [partial(eager("0", timer), nonlocal_, x, g)]
                if args.baseline:
                    more.append(partial(timer, baseline(args.baseline, name, args.kernel, args.delta, dtype), x, g))
                a, b, p, *c = interleaved(partial(timer, native, x, g), partial(eager("1", timer), nonlocal_, x, g),
                                          args.rounds, more=more)
                mid = f" {p:9.2f} {p / a:7.2f} {first:7.2f}"
            else:
                torch._dynamo.reset()
                a, b, *c = interleaved(partial(timer, native, x, g), partial(timer, nonlocal_, x, g), args.rounds)
                mid = f" {'':>9} {'':>7} {'':>7}"
            tail = f" {c[0]:9.2f} {c[0] / a:7.2f} {b / c[0]:17.2f}" if c else ""
            print(f"{name:<10} {mode:<9} {a:9.2f} {b:9.2f} {b / a:7.2f}{mid}{tail}", flush=True)


def baseline(folder: str, name: str, kernel: str, delta: float, dtype):
    """The activation of the torch module of the pair in ``folder`` (modules an earlier version generated, e.g. a
    copy of the cache's ``torch`` folder), for comparing versions in one run."""
    import importlib.util

    head = f"D_mu {name} for the kernel {kernel} in PyTorch"
    paths = [p for p in sorted(Path(folder).glob("*.py")) if p.read_text().startswith(f'"""{head}')]
    if not paths:
        raise SystemExit(f"no module of {name}/{kernel} in {folder}")
    spec = importlib.util.spec_from_file_location(f"baseline_{name}_{paths[0].stem}", paths[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = torch.tensor(delta, dtype=dtype)
    return lambda v: mod.Activation.apply(v, d, mod.order_for(delta, dtype))


if __name__ == "__main__":
    main()
