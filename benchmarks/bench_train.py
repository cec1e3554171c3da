"""Time per iteration of the poster's network (784-10-10 ReLU, full batch, embedded MNIST), side by side.

Contenders, all timed in this one process, interleaved round by round so that load changes hit all alike:

* ``trainer exact f32`` / ``trainer nonlocal f32``: :func:`nonlocal_calc.nn.train`, float32, backward with
  ReLU' = [Z > 0] (from the activation's expression) or with D_mu1 ReLU (the derived closed form, delta 0.1);
* ``numpy exact f64`` / ``numpy poster-code f64``: NumPy code written as in the poster (float64, full batch,
  ``W.dot(X)`` with X of shape 784 x m, Figure 4's ``(Z > 0).astype(float)`` or Figure 5's nested
  ``np.where``);
* ``torch f32``: PyTorch on the CPU with autograd, only when torch is installed (it is not a dependency).

Prints the median time per iteration of each and the ratios the project promises:
nonlocal / exact in the trainer (goal <= 1.05) and trainer float32 / NumPy float64 (goal <= 0.5).

    python benchmarks/bench_train.py                 # 7 rounds of 100 iterations
    python benchmarks/bench_train.py --threads 1     # BLAS and Numba limited to one thread (needs threadpoolctl)
    python benchmarks/bench_train.py --json docs/results/bench_train.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


def poster_style(X_T: np.ndarray, Y: np.ndarray, deriv: str, iters: int, seed: int = 0) -> float:
    """Seconds per iteration of gradient descent written as in the poster (float64, columns are samples)."""

    def ReLU(Z):
        return np.maximum(Z, 0)

    def softmax(Z):
        A = np.exp(Z) / sum(np.exp(Z))
        return A

    def ReLU_deriv_standard(Z):  # the poster's Figure 4
        return (Z > 0).astype(float)

    def ReLU_deriv_poster(Z, delta=0.1):  # the poster's Figure 5, verbatim
        return np.where(Z <= -delta, 0,  # Z < -delta, return 0
               np.where(Z >= delta, 1,  # Z > delta, return 1 (m)
               np.where(Z < 0, (Z / delta) - 1 / 2 + (Z**2 / 2 * delta**2),  # Z between -delta and 0 (*m)
               (Z / delta) - 1 / 2 + (Z**2 / 2 * delta**2))))  # Z between 0 and delta (*m)

    ReLU_deriv = ReLU_deriv_standard if deriv == "exact" else ReLU_deriv_poster

    def one_hot(Y):
        one_hot_Y = np.zeros((Y.size, Y.max() + 1))
        one_hot_Y[np.arange(Y.size), Y] = 1
        return one_hot_Y.T

    rng = np.random.default_rng(seed)
    W1, b1 = rng.random((10, 784)) - 0.5, rng.random((10, 1)) - 0.5
    W2, b2 = rng.random((10, 10)) - 0.5, rng.random((10, 1)) - 0.5
    m = Y.size
    alpha = 0.1

    def step(W1, b1, W2, b2):
        Z1 = W1.dot(X_T) + b1
        A1 = ReLU(Z1)
        Z2 = W2.dot(A1) + b2
        A2 = softmax(Z2)
        dZ2 = A2 - one_hot(Y)
        dW2 = 1 / m * dZ2.dot(A1.T)
        db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
        dZ1 = W2.T.dot(dZ2) * ReLU_deriv(Z1)
        dW1 = 1 / m * dZ1.dot(X_T.T)
        db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
        return W1 - alpha * dW1, b1 - alpha * db1, W2 - alpha * dW2, b2 - alpha * db2

    p = step(W1, b1, W2, b2)
    t0 = time.perf_counter()
    for _ in range(iters):
        p = step(*p)
    return (time.perf_counter() - t0) / iters


def trainer(ds, deriv: str, iters: int, dtype: str = "float32") -> float:
    from nonlocal_calc.nn import TrainConfig, train

    cfg = TrainConfig(hidden=(10,), activation="relu", derivative=deriv, kernel="sign", delta=0.1, optimizer="gd",
                      lr=0.1, iters=iters, dtype=dtype, init="uniform", log_every=iters)
    return train(cfg, ds, progress=False).time_per_iteration


def torch_cpu(X: np.ndarray, y: np.ndarray, iters: int, threads: int | None = None) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    net = torch.nn.Sequential(torch.nn.Linear(784, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    lossf = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(net(Xt), yt)
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - t0) / iters


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=100, help="iterations per timing")
    ap.add_argument("--threads", type=int, default=None, help="limit BLAS (threadpoolctl) and Numba threads")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)

    limiter = None
    if args.threads:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.threads, user_api="blas")
        import numba

        numba.set_num_threads(args.threads)  # the trainer's sparse first layer runs on Numba's threads
    from nonlocal_calc.nn import load_dataset

    ds = load_dataset("mnist10k")
    x32, y, _, _ = ds.arrays("float32")
    # the poster's layout: float64, one column per image (data.T / 255.)
    X_T = (np.ascontiguousarray(ds.x_train).astype(np.int64).T / 255.0)
    contenders = {
        "trainer exact f32": lambda: trainer(ds, "exact", args.iters),
        "trainer nonlocal f32": lambda: trainer(ds, "nonlocal", args.iters),
        "numpy exact f64": lambda: poster_style(X_T, y, "exact", args.iters),
        "numpy poster-code f64": lambda: poster_style(X_T, y, "poster", args.iters),
    }
    try:
        import torch  # noqa: F401

        contenders["torch f32"] = lambda: torch_cpu(x32, y, args.iters, args.threads)
    except ImportError:
        pass
    for fn in contenders.values():  # warm up (compilation, caches)
        fn()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.rounds):
        for k, fn in contenders.items():
            times[k].append(fn())
    med = {k: statistics.median(v) for k, v in times.items()}

    def paired(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    ratios = {
        "trainer nonlocal / trainer exact (goal <= 1.05)": paired("trainer nonlocal f32", "trainer exact f32"),
        "trainer exact f32 / numpy exact f64 (goal <= 0.5)": paired("trainer exact f32", "numpy exact f64"),
        "trainer nonlocal f32 / numpy poster-code f64": paired("trainer nonlocal f32", "numpy poster-code f64"),
        "numpy poster-code / numpy exact (the poster's overhead, in NumPy)": paired("numpy poster-code f64",
                                                                                    "numpy exact f64"),
    }
    if "torch f32" in med:
        ratios["trainer exact f32 / torch f32"] = paired("trainer exact f32", "torch f32")
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i.get('internal_api')} {i.get('version')} threads={i.get('num_threads')}" for i in threadpool_info()
                if i.get("user_api") == "blas"]
    except ImportError:
        blas = ["(threadpoolctl not installed: BLAS thread count unknown)"]
    import numba

    blas.append(f"Numba threads={numba.get_num_threads()}")
    print(f"poster network 784-10-10 ReLU, full batch of {len(y)} MNIST images; {args.rounds} rounds x "
          f"{args.iters} iterations; median ms per iteration")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}; "
          f"BLAS: {'; '.join(blas)}")
    for k, v in med.items():
        spread = f"(min {1e3 * min(times[k]):.3f}, max {1e3 * max(times[k]):.3f})"
        print(f"  {k:28s} {1e3 * v:8.3f} ms  {spread}")
    if "torch f32" not in med:
        print("  torch f32                    not installed (optional): no PyTorch comparison")
    print("ratios (median over rounds of the per-round ratio):")
    for k, v in ratios.items():
        print(f"  {k:66s} {v:.3f}")
    if args.json:
        from nonlocal_calc.cache import write_atomic

        write_atomic(args.json, json.dumps({"ms_per_iteration": {k: 1e3 * v for k, v in med.items()},
                                            "all_ms": {k: [1e3 * t for t in v] for k, v in times.items()},
                                            "ratios": ratios, "blas": blas, "rounds": args.rounds,
                                            "iters": args.iters, "threads": args.threads,
                                            "load_average": os.getloadavg()[0]}, indent=1))
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
