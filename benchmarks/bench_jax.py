"""Speed of nonlocal_calc.jax against JAX's own activation derivatives, timed side by side in one run, under jit.

For each activation (the sign kernel, one delta), on the same ``--n`` float32 values (uniform on [-4, 4]) and
cotangents g:

* ``jax``: ``jax.jit`` of the vector-Jacobian product ``g * f'(x)`` of ``jax.nn``'s own activation
  (``jax.nn.relu``, ``jnp.tanh``, ``jax.nn.silu``, ``jax.nn.gelu(approximate=False)``, the erf form the
  catalogue's GELU is), through ``jax.vjp``;
* ``nonlocal``: the same for :func:`nonlocal_calc.jax.nonlocal_activation` (``g * D_mu f(x)``).

With ``--steps``, a whole jitted training step (forward, cross-entropy, gradient, SGD update) of two models on
28 x 28 inputs with JAX's activation and with the nonlocal one, the same weights: ``mlp`` (784-10-10) and ``cnn``
(two 3 x 3 convolutions, ``jax.lax.conv_general_dilated``, of 8 and 16 channels, each followed by the activation
and a 2 x 2 max-pool, then a dense layer to 10), batch ``--batch``.

Under jit XLA removes the forward value neither derivative needs, so both time the derivative alone. The contenders
alternate within each round (one warm-up call each: compilation); the median over ``--rounds`` rounds is printed
with the ratio nonlocal / jax, for each size of ``--n``.

    python benchmarks/bench_jax.py                           # 10^6 and 10^7 float32 values, delta = 0.1, 1 thread
    python benchmarks/bench_jax.py --n 1000000 --rounds 15 --acts tanh,gelu
    python benchmarks/bench_jax.py --n 0 --steps --rounds 15            # training steps only
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial


def contenders(name: str, kernel: str, delta: float):
    """``(jax's vjp, nonlocal vjp)``, both jitted functions of (x, g)."""
    import jax

    from nonlocal_calc.jax import nonlocal_activation

    native = native_act(name)

    def vjp(act):
        return jax.jit(lambda x, g: jax.vjp(act, x)[1](g)[0])

    return vjp(native), vjp(lambda v: nonlocal_activation(v, name, kernel, delta))


def native_act(name: str):
    import jax
    import jax.numpy as jnp

    return {"relu": jax.nn.relu, "tanh": jnp.tanh, "silu": jax.nn.silu,
            "gelu": lambda v: jax.nn.gelu(v, approximate=False)}[name]


def init(kind: str, key):
    """Initial weights of ``mlp`` (784-10-10) or ``cnn`` (conv 8, conv 16, dense 10), as a list of (w, b)."""
    import jax

    shapes = ([(784, 10), (10, 10)] if kind == "mlp" else [(8, 1, 3, 3), (16, 8, 3, 3), (16 * 7 * 7, 10)])
    keys = jax.random.split(key, len(shapes))
    out = []
    for k, shp in zip(keys, shapes):
        fan_in = shp[0] if len(shp) == 2 else shp[1] * 9
        bias = shp[1] if len(shp) == 2 else shp[0]
        out.append((jax.random.normal(k, shp) / fan_in**0.5, jax.numpy.zeros(bias)))
    return out


def forward(kind: str, act, params, x):
    """The logits of a batch x of shape (batch, 1, 28, 28)."""
    import jax
    import jax.numpy as jnp

    if kind == "mlp":
        (w1, b1), (w2, b2) = params
        return act(x.reshape(x.shape[0], -1) @ w1 + b1) @ w2 + b2
    h = x
    for w, b in params[:2]:
        h = jax.lax.conv_general_dilated(h, w, (1, 1), "SAME") + b[None, :, None, None]
        h = jax.lax.reduce_window(act(h), -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    w, b = params[2]
    return h.reshape(h.shape[0], -1) @ w + b


def train_step(kind: str, act):
    """The jitted SGD step ``(params, x, y) -> params`` of a model with activation ``act``."""
    import jax

    def loss(params, x, y):
        logits = forward(kind, act, params, x)
        return -jax.numpy.mean(jax.nn.log_softmax(logits)[jax.numpy.arange(y.shape[0]), y])

    @jax.jit
    def step(params, x, y):
        grads = jax.grad(loss)(params, x, y)
        return jax.tree_util.tree_map(lambda p, d: p - 1e-3 * d, params, grads)

    return step


def steps(args) -> None:
    """The training-step table."""
    import jax

    from nonlocal_calc.jax import nonlocal_activation

    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (args.batch, 1, 28, 28))
    y = jax.random.randint(jax.random.PRNGKey(1), (args.batch,), 0, 10)
    print(f"jitted training step (forward, cross-entropy, gradient, SGD), batch {args.batch}, float32, median of "
          f"{args.rounds} interleaved rounds of {args.reps} steps (ms per step)")
    print(f"{'model':<5} {'activation':<10} {'jax':>9} {'nonlocal':>9} {'ratio':>7}  goal (1.1x)")
    for kind in args.models.split(","):
        params = init(kind, jax.random.PRNGKey(2))
        for name in args.acts.split(","):
            ours = train_step(kind, lambda v, name=name: nonlocal_activation(v, name, args.kernel, args.delta))
            timers = [stepper(train_step(kind, native_act(name)), params, x, y, args.reps),
                      stepper(ours, params, x, y, args.reps)]
            a, b = interleaved(*timers, rounds=args.rounds)
            print(f"{kind:<5} {name:<10} {a:9.3f} {b:9.3f} {b / a:7.2f}  {'met' if b / a <= 1.1 else 'not met'}",
                  flush=True)


def stepper(step, params, x, y, reps: int):
    """A timer of ``reps`` training steps from ``params`` (seconds per step)."""
    def run() -> float:
        p = params
        t0 = time.perf_counter()
        for _ in range(reps):
            p = step(p, x, y)
        jax_block(p)
        return (time.perf_counter() - t0) / reps
    return run


def jax_block(tree) -> None:
    import jax

    jax.block_until_ready(tree)


def interleaved(a, b, rounds: int) -> tuple[float, float]:
    """Medians (ms) of ``a()`` and ``b()`` (each returning its seconds), alternating, after a warm-up of each."""
    a(), b()
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(a())
        tb.append(b())
    return statistics.median(ta) * 1e3, statistics.median(tb) * 1e3


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
    ap.add_argument("--steps", action="store_true", help="also time training steps of the mlp and cnn models")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=10, help="training steps per timed sample")
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
    for n in (int(v) for v in args.n.split(",") if int(v) > 0):
        x = jax.device_put((rng.random(n) * 8 - 4).astype(np.float32))
        g = jax.device_put(rng.random(n).astype(np.float32))
        for name in args.acts.split(","):
            native, nonlocal_ = contenders(name, args.kernel, args.delta)
            a, b = interleaved(partial(seconds, native, x, g), partial(seconds, nonlocal_, x, g), args.rounds)
            print(f"{n:>9} {name:<10} {a:9.2f} {b:9.2f} {b / a:7.2f}", flush=True)
    if args.steps:
        steps(args)


if __name__ == "__main__":
    main()
