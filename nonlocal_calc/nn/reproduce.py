"""Reproductions with error bars: the poster's Tables 1-3 and the LAAF paper's section 3.1.

Every cell is run for several seeds; runs are independent and are spread over processes by joblib
(``n_jobs``), or over a Dask cluster through joblib's Dask backend (``scheduler="tcp://host:8786"``, needs
``pip install "dask[distributed]"``). Each reproduction writes, atomically, into its output directory:
``runs.csv`` (one row per run), ``summary.json``, Markdown tables and figures.
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .. import markup
from ..cache import write_atomic
from .curves import new_figure, save_figure

# ----------------------------------------------------------------------------- the poster's numbers
#: Table 1: held-out accuracy with the standard derivative and with "D(ReLU)" (alpha = 0.1, 1500 iterations).
POSTER_T1 = {"exact": 0.89, "nonlocal": 0.92}
#: Table 2: accuracy with the nonlocal ReLU derivative for each learning rate (1500 iterations).
POSTER_T2 = {0.01: 0.54, 0.05: 0.899, 0.1: 0.92, 0.5: 0.948, 0.7: 0.946, 1.0: 0.89}
#: Table 3: (iterations, alpha, derivative) -> (time in seconds, accuracy).
POSTER_T3 = {
    (500, 0.5, "exact"): (3 * 60 + 31, 0.980),
    (500, 0.5, "nonlocal"): (6 * 60 + 32, 0.977),
    (600, 0.65, "exact"): (4 * 60 + 4.7, 0.988),
    (600, 0.65, "nonlocal"): (10 * 60 + 11, 0.985),
}
POSTER_LRS = (0.01, 0.05, 0.1, 0.5, 0.7, 1.0)
DERIV_LABEL = {"exact": "exact ReLU' = [Z > 0]", "nonlocal": "nonlocal D_mu1 ReLU (derived)",
               "poster": "poster's Figure 5 code"}


# --------------------------------------------------------------------------------------- running
def _one_thread() -> int | None:
    """Runs use one BLAS thread when threadpoolctl is there (parallelism comes from running runs side by side)."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return None
    return 1


_ONE_THREAD = _one_thread()


def run_parallel(fn: Callable[[dict], dict], specs: list[dict], n_jobs: int = 1, scheduler: str | None = None,
                 desc: str = "runs", progress: bool | None = None) -> list[dict]:
    """``[fn(spec) for spec in specs]``, computed by joblib (processes, or a Dask cluster), in spec order."""
    from joblib import Parallel, delayed, parallel_config
    from tqdm.auto import tqdm

    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise RuntimeError('a Dask scheduler needs dask.distributed: pip install "dask[distributed]"') from None
        client = Client(scheduler)
        ctx = parallel_config(backend="dask")
        n_jobs = -1
    else:
        client = None
        ctx = parallel_config(backend="loky")
    indexed = [dict(s, _index=i) for i, s in enumerate(specs)]
    out: list[dict | None] = [None] * len(specs)
    try:
        with ctx, _interrupt_parent_only():
            gen = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(_indexed)(fn, s) for s in indexed)
            for i, row in tqdm(gen, total=len(specs), desc=desc, disable=(not progress) if progress is not None else None):
                out[i] = row
    finally:
        if client is not None:
            client.close()
    return out  # type: ignore[return-value]


@contextlib.contextmanager
def _interrupt_parent_only() -> Iterator[None]:
    """Ctrl-C stops this process, which stops its workers, and prints one line.

    A terminal sends SIGINT to the whole process group, and every worker would print its own
    KeyboardInterrupt traceback. So SIGINT is blocked in this thread while the workers are started
    (they inherit the signal mask), and a thread started before the block, waiting on an event,
    receives it for this process: Python then raises KeyboardInterrupt here, and joblib ends the workers.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    from multiprocessing import resource_tracker

    from joblib.externals.loky.backend import resource_tracker as loky_tracker

    # the resource trackers unblock SIGINT when they start: start them first
    resource_tracker.ensure_running()
    loky_tracker.ensure_running()
    done = threading.Event()
    threading.Thread(target=done.wait, name="sigint-receiver", daemon=True).start()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        done.set()


def _indexed(fn: Callable[[dict], dict], spec: dict) -> tuple[int, dict]:
    spec = dict(spec)
    i = spec.pop("_index")
    return i, fn(spec)


@functools.lru_cache(maxsize=4)
def _dataset(name: str, n_train: int | None, n_test: int | None):  # noqa: ANN202
    from .data import load_dataset

    ds = load_dataset(name)
    return ds.subset(n_train, n_test) if (n_train or n_test) else ds


def mean_std(values: Iterable[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof = 1; None for a single value: no spread was measured).

    >>> mean_std([1.0, 2.0, 3.0])
    (2.0, 1.0)
    >>> mean_std([0.5])
    (0.5, None)
    """
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else None


def _pm(m: float, s: float | None, spec: str, spread_spec: str | None = None) -> str:
    """``m ± s`` with the given format specs, or ``m (n = 1)`` when a single run gave no spread.

    >>> _pm(0.5, None, ".2f"), _pm(-0.25, 0.125, "+.2f", ".2f")
    ('0.50 (n = 1)', '-0.25 ± 0.12')
    """
    return f"{m:{spec}} (n = 1)" if s is None else f"{m:{spec}} ± {s:{spread_spec or spec}}"


def _scaled(s: float | None) -> float | None:
    return None if s is None else 100 * s


def _write_csv(path: Path, rows: list[dict], cols: list[str]) -> None:
    lines = [",".join(cols)] + [",".join("" if r.get(c) is None else str(r.get(c)) for c in cols) for r in rows]
    write_atomic(path, "\n".join(lines) + "\n")


def _pct(m: float, s: float | None) -> str:
    return _pm(100 * m, None if s is None else 100 * s, ".1f")


# -------------------------------------------------------------------------------------- the poster
def poster_run(spec: dict) -> dict:
    """One run of the poster's network: 784-10-10 ReLU, softmax cross-entropy, full-batch gradient descent."""
    from .train import TrainConfig, train

    ds = _dataset("mnist10k", spec.get("n_train"), spec.get("n_test"))
    cfg = TrainConfig(hidden=(10,), activation="relu", derivative=spec["derivative"], kernel="sign", delta=0.1,
                      optimizer="gd", lr=spec["lr"], iters=spec["iters"], batch_size=0, seed=spec["seed"],
                      dtype=spec.get("dtype", "float32"), init=spec.get("init", "uniform"), log_every=10)
    r = train(cfg, ds, progress=False, threads=_ONE_THREAD)
    h = r.history
    return {**{k: spec[k] for k in ("table", "derivative", "lr", "iters", "seed", "dtype")},
            "poster_iters": spec.get("poster_iters"),
            "test_accuracy": r.test_accuracy, "train_accuracy": r.train_accuracy, "final_loss": r.final_loss,
            "train_time": r.train_time, "time_per_iteration": r.time_per_iteration, "status": r.status,
            "curve_iteration": h["iteration"], "curve_test_accuracy": h["test_accuracy"],
            "curve_train_loss": h["train_loss"]}


def poster_specs(seeds: int, iters: int = 1500, t3_iters: tuple[int, int] = (500, 600), n_train: int | None = None,
                 n_test: int | None = None, dtype: str = "float32",
                 poster_code_all_lrs: bool = False) -> tuple[list[dict], list[dict]]:
    """The runs of Tables 1-2 (Table 1 is the alpha = 0.1 row of Table 2) and, separately, of Table 3."""
    _check_counts(seeds=seeds, iters=iters, table3_iters=min(t3_iters))
    sub = {"n_train": n_train, "n_test": n_test}
    main = [{"table": "1-2", "derivative": deriv, "lr": lr, "iters": iters, "seed": seed, "dtype": dtype, **sub}
            for seed in range(seeds) for deriv in ("exact", "nonlocal", "poster") for lr in POSTER_LRS
            if deriv != "poster" or lr == 0.1 or poster_code_all_lrs]
    timing = []
    for seed in range(seeds):  # interleaved, so that load changes hit exact and nonlocal alike
        for it, (p_it, lr) in zip(t3_iters, ((500, 0.5), (600, 0.65))):
            for deriv in ("exact", "nonlocal"):
                timing.append({"table": "3", "derivative": deriv, "lr": lr, "iters": it, "seed": seed,
                               "poster_iters": p_it, "dtype": dtype, **sub})
    return main, timing


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _cell(rows: list[dict], **match) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def poster_tables(rows: list[dict], timing: list[dict]) -> tuple[str, dict]:
    """Markdown for Tables 1-3 and the summary dict, from the run rows."""
    summary: dict = {"table1": {}, "table2": {}, "table3": {}}
    n = len({r["seed"] for r in rows})
    iters = rows[0]["iters"]
    md = [f"### Table 1: exact vs nonlocal vs poster derivative (alpha = 0.1, {iters} iterations, {n} seeds)", "",
          "| backward derivative | held-out accuracy % | training accuracy % | poster |", "|---|---|---|---|"]
    for d in ("exact", "nonlocal", "poster"):
        c = _cell(rows, derivative=d, lr=0.1)
        te, tr = mean_std(r["test_accuracy"] for r in c), mean_std(r["train_accuracy"] for r in c)
        poster = POSTER_T1.get(d, POSTER_T1["nonlocal"])
        note = "" if d != "poster" else " (its D(ReLU) row)"
        md.append(f"| {markup.escape(DERIV_LABEL[d])} | {_pct(*te)} | {_pct(*tr)} | {100 * poster:.0f}%{note} |")
        summary["table1"][d] = {"test_accuracy": te, "train_accuracy": tr, "poster": poster, "n": len(c)}
    for d in ("nonlocal", "poster"):
        diffs = _paired(rows, d, "exact", lr=0.1)
        m, s = mean_std(diffs)
        md.append(f"| paired difference {d} - exact | {_pm(100 * m, _scaled(s), '+.2f', '.2f')} | | "
                  f"{100 * (POSTER_T1['nonlocal'] - POSTER_T1['exact']):+.0f} |")
        summary["table1"][f"{d}-exact"] = {"mean": m, "std": s, "n": len(diffs)}
    md += ["", f"### Table 2: learning rates (held-out accuracy %, {iters} iterations, {n} seeds)", "",
           "| alpha | nonlocal D_mu1 ReLU | exact | nonlocal - exact (paired) | poster's Figure 5 code "
           "| poster (nonlocal) |", "|---|---|---|---|---|---|"]
    for lr in POSTER_LRS:
        cells = {d: mean_std(r["test_accuracy"] for r in _cell(rows, derivative=d, lr=lr))
                 for d in ("nonlocal", "exact", "poster") if _cell(rows, derivative=d, lr=lr)}
        diverged = {d: sum(r["status"] != "completed" for r in _cell(rows, derivative=d, lr=lr)) for d in cells}
        txt = {d: _pct(*cells[d]) + (f" ({diverged[d]} diverged)" if diverged[d] else "") for d in cells}
        summary["table2"][str(lr)] = {d: {"test_accuracy": cells[d], "diverged": diverged[d]} for d in cells}
        summary["table2"][str(lr)]["poster_number"] = POSTER_T2[lr]
        pm, ps = mean_std(_paired(rows, "nonlocal", "exact", lr=lr))
        md.append(f"| {lr:g} | {txt['nonlocal']} | {txt['exact']} | {_pm(100 * pm, _scaled(ps), '+.2f', '.2f')} "
                  f"| {txt.get('poster', 'not run')} | {100 * POSTER_T2[lr]:.1f}% |")
        summary["table2"][str(lr)]["nonlocal-exact"] = {"mean": pm, "std": ps}
    if timing:
        nt = len({r["seed"] for r in timing})
        md += ["", f"### Table 3: time and accuracy ({timing[0]['dtype']}, {nt} seeds, runs one after another)", "",
               "| iterations | alpha | derivative | time per run, s | ms per iteration | held-out accuracy % "
               "| training accuracy % | poster: time, accuracy |", "|---|---|---|---|---|---|---|---|"]
        for (p_it, lr, d), (pt, pa) in POSTER_T3.items():
            c = _cell(timing, derivative=d, lr=lr, poster_iters=p_it)
            if not c:
                continue
            it = c[0]["iters"]
            tt, tpi = mean_std(r["train_time"] for r in c), mean_std(1e3 * r["time_per_iteration"] for r in c)
            te, tr = mean_std(r["test_accuracy"] for r in c), mean_std(r["train_accuracy"] for r in c)
            md.append(f"| {it} | {lr:g} | {d} | {_pm(*tt, '.2f')} | {_pm(*tpi, '.2f')} | {_pct(*te)} "
                      f"| {_pct(*tr)} | {int(pt // 60)}m {pt % 60:g}s, {100 * pa:.1f}% |")
            summary["table3"][f"{it}/{lr:g}/{d}"] = {"train_time": tt, "ms_per_iteration": tpi, "test_accuracy": te,
                                                     "train_accuracy": tr, "poster_time": pt, "poster_accuracy": pa}
        md += ["", "| iterations | time ratio nonlocal / exact (paired by seed) | poster's ratio |", "|---|---|---|"]
        for p_it, lr in ((500, 0.5), (600, 0.65)):
            ex = {r["seed"]: r["train_time"] for r in _cell(timing, derivative="exact", poster_iters=p_it)}
            nl = {r["seed"]: r["train_time"] for r in _cell(timing, derivative="nonlocal", poster_iters=p_it)}
            ratios = [nl[s] / ex[s] for s in ex if s in nl]
            if ratios:
                it = _cell(timing, derivative="exact", poster_iters=p_it)[0]["iters"]
                m, s = mean_std(ratios)
                pr = POSTER_T3[(p_it, lr, "nonlocal")][0] / POSTER_T3[(p_it, lr, "exact")][0]
                md.append(f"| {it} | {_pm(m, s, '.3f')} | {pr:.2f} |")
                summary["table3"][f"ratio/{p_it}"] = {"mean": m, "std": s, "poster": pr}
    return "\n".join(md) + "\n", summary


def _paired(rows: list[dict], a: str, b: str, **match) -> list[float]:
    ra = {r["seed"]: r["test_accuracy"] for r in _cell(rows, derivative=a, **match)}
    rb = {r["seed"]: r["test_accuracy"] for r in _cell(rows, derivative=b, **match)}
    return [ra[s] - rb[s] for s in sorted(ra) if s in rb]


def _poster_figure(rows: list[dict], path: Path) -> None:
    fig = new_figure((10, 4))
    axes = fig.subplots(1, 2)
    for d, color in (("exact", "C0"), ("nonlocal", "C1"), ("poster", "C3")):
        c = _cell(rows, derivative=d, lr=0.1)
        it = np.asarray(c[0]["curve_iteration"])
        acc = np.array([r["curve_test_accuracy"] for r in c], dtype=float)
        loss = np.array([r["curve_train_loss"] for r in c], dtype=float)
        for ax, v in ((axes[0], loss), (axes[1], 100 * acc)):
            m, s = v.mean(0), v.std(0, ddof=1) if len(v) > 1 else 0 * v[0]
            ax.plot(it, m, color=color, label=DERIV_LABEL[d])
            ax.fill_between(it, m - s, m + s, color=color, alpha=0.2)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training loss (cross-entropy)")
    axes[1].set_ylabel("held-out accuracy %")
    axes[1].set_ylim(0, 100)
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.legend()
    fig.suptitle(f"784-10-10 ReLU, full-batch GD, alpha = 0.1 (mean ± std over {len(c)} seeds)")
    save_figure(fig, path)


def reproduce_poster(out: str | Path, seeds: int = 5, n_jobs: int = 1, scheduler: str | None = None,
                     iters: int = 1500, t3_iters: tuple[int, int] = (500, 600), n_train: int | None = None,
                     n_test: int | None = None, progress: bool | None = None, dtype: str = "float32",
                     poster_code_all_lrs: bool = False) -> dict:
    """Run the poster's Tables 1-3 and write ``tables.md``, ``runs.csv``, ``summary.json``, ``curves.png``.

    The poster's derivative code is run at alpha = 0.1 (Table 1), and for every learning rate of Table 2
    with ``poster_code_all_lrs``."""
    out = Path(out)
    main, timing = poster_specs(seeds, iters, t3_iters, n_train, n_test, dtype, poster_code_all_lrs)
    rows = run_parallel(poster_run, main, n_jobs, scheduler, "poster tables 1-2", progress)
    trows = run_parallel(poster_run, timing, 1, None, "poster table 3 (timing, sequential)", progress)
    md, summary = poster_tables(rows, trows)
    cols = ["table", "derivative", "lr", "iters", "poster_iters", "seed", "dtype", "test_accuracy", "train_accuracy",
            "final_loss", "train_time", "time_per_iteration", "status"]
    _write_csv(out / "runs.csv", rows + trows, cols)
    write_atomic(out / "tables.md", md)
    summary["setup"] = {"seeds": seeds, "iters": iters, "table3_iters": list(t3_iters), "n_jobs": n_jobs,
                        "network": f"784-10-10 ReLU, softmax cross-entropy, full-batch GD, delta = 0.1, {dtype}, "
                                   "weights and biases uniform on [-0.5, 0.5)",
                        "data": "mnist10k (embedded MNIST test set: 9,000 train / 1,000 held out)"}
    write_atomic(out / "summary.json", json.dumps(summary, indent=1))
    _poster_figure(rows, out / "curves.png")
    return summary


# ------------------------------------------------------------------------------------------ LAAF
#: Loss thresholds for "iterations to reach", a direct measure of training speed.
THRESHOLDS = (1e-2, 1e-3)


def laaf_run(spec: dict) -> dict:
    """One run of section 3.1 for one variant and seed."""
    from .laaf import HIDDEN, LEARNING_RATE, SLOPE_SCALE, VARIANTS, relative_l2
    from .train import TrainConfig, train

    ds = _dataset("laaf", None, None)
    adaptive, recovery = VARIANTS[spec["variant"]]
    cfg = TrainConfig(hidden=HIDDEN, activation="tanh", derivative="exact", loss="mse", optimizer="adam",
                      lr=spec.get("lr", LEARNING_RATE), iters=spec["iters"], seed=spec["seed"], dtype="float64",
                      init="glorot", adaptive=adaptive, slope_scale=SLOPE_SCALE, slope_recovery=recovery,
                      log_every=spec.get("log_every", 25))
    r = train(cfg, ds, progress=False, threads=_ONE_THREAD)
    model = r.model
    pred_grid = model.predict_logits(ds.x_test)
    pred_train = model.predict_logits(ds.x_train)
    h = r.history
    reach = {}
    for thr in THRESHOLDS:
        hit = [it for it, v in zip(h["iteration"], h["train_loss"]) if v <= thr]
        reach[f"iters_to_{thr:g}"] = hit[0] if hit else None
    slopes = {k: v for k, v in h.items() if k.startswith("slope_")}
    return {"variant": spec["variant"], "seed": spec["seed"], "iters": spec["iters"], "status": r.status,
            "mse": r.train_loss, "objective": r.final_loss, "slope_recovery": r.slope_recovery,
            "rel_l2_train": relative_l2(pred_train, ds.y_train), "rel_l2_grid": relative_l2(pred_grid, ds.y_test),
            "max_err_grid": float(np.max(np.abs(pred_grid - ds.y_test))),
            "time_per_iteration": r.time_per_iteration, **reach,
            "final_slopes": [float(np.mean(s)) for s in r.slopes] if r.slopes else [],
            "curve_iteration": h["iteration"], "curve_mse": h["train_loss"], "curve_S": h["slope_recovery"],
            "curve_slopes": slopes, "pred_grid": pred_grid.ravel().tolist() if spec["seed"] == 0 else None}


def laaf_tables(rows: list[dict]) -> tuple[str, dict]:
    from .laaf import VARIANTS

    n = len({r["seed"] for r in rows})
    iters = rows[0]["iters"]
    head = ["variant", "training MSE", "relative L2 error (300 points)", "relative L2 error (2000-point grid)",
            "iterations to MSE <= 1e-2", "iterations to MSE <= 1e-3", "final n*a, mean per layer"]
    md = [f"### Section 3.1: final errors after {iters} Adam iterations (mean ± std over {n} seeds)", "",
          markup.row(*map(markup.escape, head)), "|---" * len(head) + "|"]
    summary = {}
    for v in VARIANTS:
        c = _cell(rows, variant=v)
        mse, e_tr, e_g = (mean_std(r[k] for r in c) for k in ("mse", "rel_l2_train", "rel_l2_grid"))
        reach = []
        for thr in THRESHOLDS:
            vals = [r[f"iters_to_{thr:g}"] for r in c]
            hit = [x for x in vals if x is not None]
            if hit:
                m, s = mean_std(hit)
                reach.append(_pm(m, s, ".0f") + (f" ({len(vals) - len(hit)} never)" if len(hit) < len(vals) else ""))
            else:
                reach.append("never")
        slopes = np.mean([r["final_slopes"] for r in c], axis=0) if c[0]["final_slopes"] else []
        sl = ", ".join(f"{s:.2f}" for s in slopes) if len(slopes) else "(fixed: 1)"
        md.append(f"| {markup.escape(v)} | {_pm(*mse, '.2e', '.1e')} | {_pm(*e_tr, '.4f')} | {_pm(*e_g, '.4f')} "
                  f"| {reach[0]} | {reach[1]} | {sl} |")
        summary[v] = {"mse": mse, "rel_l2_train": e_tr, "rel_l2_grid": e_g, "reach": reach,
                      "final_slopes": [float(s) for s in slopes], "n": len(c)}
    return "\n".join(md) + "\n", summary


def _laaf_figures(rows: list[dict], out: Path) -> None:
    from .laaf import VARIANTS, laaf_dataset

    colors = {v: f"C{i}" for i, v in enumerate(VARIANTS)}
    # loss curves: without the slope recovery term (left), with it (right); standard in both
    fig = new_figure((11, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, group in ((axes[0], ("standard", "GAAF", "L-LAAF", "N-LAAF")),
                      (axes[1], ("standard", "GAAF + S(a)", "L-LAAF + S(a)", "N-LAAF + S(a)"))):
        for v in group:
            c = _cell(rows, variant=v)
            it = np.asarray(c[0]["curve_iteration"])
            logs = np.log10(np.array([r["curve_mse"] for r in c], dtype=float))
            m, s = logs.mean(0), logs.std(0, ddof=1) if len(logs) > 1 else 0 * logs[0]
            ax.plot(it, 10**m, color=colors[v], label=v)
            ax.fill_between(it, 10 ** (m - s), 10 ** (m + s), color=colors[v], alpha=0.15)
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.legend()
    axes[0].set_ylabel("training MSE (geometric mean ± 1 std of log10 over seeds)")
    axes[0].set_title("without slope recovery")
    axes[1].set_title("with slope recovery S(a)")
    save_figure(fig, out / "loss.png")
    # slopes n*a over training (seed-mean of the layer mean; shaded: neuron std for N-LAAF)
    adaptive = [v for v in VARIANTS if v != "standard"]
    fig = new_figure((12, 6.5))
    axes = fig.subplots(2, 3, sharex=True).ravel()
    for ax, v in zip(axes, adaptive):
        c = _cell(rows, variant=v)
        it = np.asarray(c[0]["curve_iteration"])
        n_layers = len([k for k in c[0]["curve_slopes"] if k.startswith("slope_mean_")])
        for k in range(1, n_layers + 1):
            m = np.mean([r["curve_slopes"][f"slope_mean_{k}"] for r in c], axis=0)
            sd = np.mean([r["curve_slopes"][f"slope_std_{k}"] for r in c], axis=0)
            ax.plot(it, m, label=f"layer {k}" if "G" not in v else None)
            if "N-LAAF" in v:
                ax.fill_between(it, m - sd, m + sd, alpha=0.15)
            if "G" in v:
                break
        ax.set_title(v)
        ax.set_ylabel("n a")
        if "G" not in v:
            ax.legend(fontsize=7)
    for ax in axes[3:]:
        ax.set_xlabel("iteration")
    fig.suptitle(f"activation slopes n*a during training (mean over {len(c)} seeds; N-LAAF: ± std over neurons)")
    save_figure(fig, out / "slopes.png")
    # solutions of seed 0 and their pointwise errors
    ds = laaf_dataset()
    xg, yg = ds.x_test.ravel(), ds.y_test.ravel()
    fig = new_figure((11, 4.2))
    axes = fig.subplots(1, 2)
    axes[0].plot(xg, yg, "k", lw=2.5, alpha=0.4, label="u(x)")
    for v in VARIANTS:
        r0 = next((r for r in _cell(rows, variant=v) if r["pred_grid"] is not None), None)
        if r0 is None:
            continue
        p = np.asarray(r0["pred_grid"])
        axes[0].plot(xg, p, color=colors[v], lw=1, label=v)
        axes[1].semilogy(xg, np.abs(p - yg) + 1e-12, color=colors[v], lw=0.8, label=v)
    axes[0].legend(fontsize=7)
    axes[0].set_title("fit (seed 0)")
    axes[1].set_title("pointwise absolute error (seed 0)")
    for ax in axes:
        ax.set_xlabel("x")
    save_figure(fig, out / "solution.png")


def reproduce_laaf(out: str | Path, seeds: int = 5, iters: int = 10000, n_jobs: int = 1, scheduler: str | None = None,
                   progress: bool | None = None, log_every: int = 25) -> dict:
    """Run the seven variants of section 3.1 and write ``table.md``, ``runs.csv``, ``summary.json`` and
    ``loss.png``, ``slopes.png``, ``solution.png``."""
    from .laaf import VARIANTS

    _check_counts(seeds=seeds, iters=iters, log_every=log_every)
    out = Path(out)
    specs = [{"variant": v, "seed": s, "iters": iters, "log_every": log_every} for s in range(seeds) for v in VARIANTS]
    rows = run_parallel(laaf_run, specs, n_jobs, scheduler, "LAAF section 3.1", progress)
    md, summary = laaf_tables(rows)
    cols = ["variant", "seed", "iters", "status", "mse", "objective", "slope_recovery", "rel_l2_train", "rel_l2_grid",
            "max_err_grid", "iters_to_0.01", "iters_to_0.001", "time_per_iteration"]
    _write_csv(out / "runs.csv", rows, cols)
    write_atomic(out / "table.md", md)
    summary = {"variants": summary, "setup": {
        "seeds": seeds, "iters": iters, "n_jobs": n_jobs,
        "network": "1-50-50-50-50-1 tanh, Adam lr 2e-4, full batch, n = 10 with n*a = 1 initially, Glorot normal "
                   "weights, zero biases, float64", "data": "300 equispaced points on [-3, 3]; error grid 2000 points"}}
    write_atomic(out / "summary.json", json.dumps(summary, indent=1))
    _laaf_figures(rows, out)
    return summary
