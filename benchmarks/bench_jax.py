"""Speed of nonlocal_calc.jax against JAX's own activation derivatives, timed side by side in one run, under jit.

For each activation (the sign kernel, one delta), on the same ``--n`` float32 values (uniform on [-4, 4]) and
cotangents g:

* ``jax``: ``jax.jit`` of the vector-Jacobian product ``g * f'(x)`` of ``jax.nn``'s own activation
  (``jax.nn.relu``, ``jnp.tanh``, ``jax.nn.silu``, ``jax.nn.gelu(approximate=False)``, the erf form the
  catalogue's GELU is), through ``jax.vjp``;
* ``nonlocal``: the same for :func:`nonlocal_calc.jax.nonlocal_activation` (``g * D_mu f(x)``).

Under jit XLA removes the forward value neither derivative needs, so both time the derivative alone. The contenders
alternate within each round (one warm-up call each: compilation); the median over ``--rounds`` rounds is printed
with the ratio nonlocal / jax, for each size of ``--n``.

    python benchmarks/bench_jax.py                           # 10^6 and 10^7 float32 values, delta = 0.1, 1 thread
    python benchmarks/bench_jax.py --n 1000000 --rounds 15 --acts tanh,gelu
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def contenders(name: str, kernel: str, delta: float):
    """``(jax's vjp, nonlocal vjp)``, both jitted functions of (x, g)."""
    import jax
    import jax.numpy as jnp

    from nonlocal_calc.jax import nonlocal_activation

    native = {"relu": jax.nn.relu, "tanh": jnp.tanh, "silu": jax.nn.silu,
              "gelu": lambda v: jax.nn.gelu(v, approximate=False)}[name]

    def vjp(act):
        return jax.jit(lambda x, g: jax.vjp(act, x)[1](g)[0])

    return vjp(native), vjp(lambda v: nonlocal_activation(v, name, kernel, delta))


def seconds(fn, x, g) -> float:
    t0 = time.perf_counter()
    fn(x, g).block_until_ready()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--acts", default="relu,tanh,silu,gelu")
    ap.add_argument("--kernel", default="sign")
    ap.add_argument("--delta", type=float, default=0.1)
    ap.add_argument("--n", default="1000000,10000000", help="sizes, comma-separated")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="1: XLA's CPU backend on one thread; 0: its default")
    args = ap.parse_args(argv)
    if args.threads == 1:  # (read when JAX starts: before its import)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    import jax
    import numpy as np

    print(f"jax {jax.__version__}, float32, kernel {args.kernel}, delta = {args.delta}, "
          f"{'1 thread' if args.threads == 1 else 'default threads'}, median of {args.rounds} interleaved rounds (ms)")
    print(f"{'n':>9} {'activation':<10} {'jax':>9} {'nonlocal':>9} {'ratio':>7}")
    rng = np.random.default_rng(0)
    for n in map(int, args.n.split(",")):
        x = jax.device_put((rng.random(n) * 8 - 4).astype(np.float32))
        g = jax.device_put(rng.random(n).astype(np.float32))
        for name in args.acts.split(","):
            native, nonlocal_ = contenders(name, args.kernel, args.delta)
            seconds(native, x, g), seconds(nonlocal_, x, g)  # warm-up (and compilation)
            tn, tl = [], []
            for _ in range(args.rounds):
                tn.append(seconds(native, x, g))
                tl.append(seconds(nonlocal_, x, g))
            a, b = statistics.median(tn) * 1e3, statistics.median(tl) * 1e3
            print(f"{n:>9} {name:<10} {a:9.2f} {b:9.2f} {b / a:7.2f}", flush=True)


if __name__ == "__main__":
    main()
