"""Training behaviour: derivative options from expressions, repeatability, resume, divergence, early stopping,
dropout, mini-batches, optimizers, curves, adaptive slopes on MNIST, the CLI and the reproductions (tiny)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from test_nn_gradients import check, data

import nonlocal_calc as nlc
from nonlocal_calc.cli import main
from nonlocal_calc.nn import MLP, TrainConfig, load_dataset, resolve, train
from nonlocal_calc.nn.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist10k").subset(600, 200)


def test_derivative_options_come_from_the_expressions() -> None:
    exact = resolve("relu", "exact")
    relu = nlc.activations.get("relu")
    # the activation's derivative, with the left value at the kink (ReLU' = [Z > 0])
    assert exact.backward_expr.args[0][0] == relu.derivative.args[0][0]
    assert exact.g(0.0, 0.0) == 0.0 and exact.g(1e-300, 0.0) == 1.0 and exact.g(-1e-300, 0.0) == 0.0
    nonlocal_ = resolve("relu", "nonlocal", "sign", 0.1)
    assert nonlocal_.backward_expr == nlc.derive("relu", "sign").expr
    from nonlocal_calc.audit import poster_code_expr

    poster = resolve("relu", "poster", delta=0.1)
    assert poster.backward_expr == poster_code_expr()
    # the compiled functions agree with the expressions
    for pw in (exact, nonlocal_, poster):
        for v in (-0.3, -0.07, -0.02, 0.03, 0.08, 0.5):
            want = float(pw.backward_expr.subs({nlc.x: v, nlc.delta: 0.1}))
            assert pw.g(v, 0.1) == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError, match="poster's derivative code is for ReLU only"):
        resolve("tanh", "poster")
    with pytest.raises(ValueError, match="unknown derivative option 'fractional'"):
        resolve("relu", "fractional")
    with pytest.raises(ValueError, match="delta must be a positive number"):
        resolve("relu", "nonlocal", "sign", -1.0)


@pytest.mark.parametrize("option", ["exact", "nonlocal", "poster"])
@pytest.mark.parametrize("adaptive", ["none", "neuron"])
def test_gradients_of_every_derivative_option(option: str, adaptive: str) -> None:
    X, Y = data(n_in=5, m=9)
    X = X * 0.1  # pre-activations of a few tenths: inside and outside the band (-delta, delta)
    net = MLP([5, 6, 4, 3], resolve("relu", option, "sign", 0.1), adaptive=adaptive, slope_recovery=adaptive != "none",
              seed=3, init="glorot")
    check(net, X, Y, linearized=True)
    if option == "exact":
        check(net, X, Y, linearized=False)


@pytest.mark.parametrize("kernel", ["linear", "power(-1/2)"])
def test_gradients_with_other_kernels_and_activations(kernel: str) -> None:
    X, Y = data()
    net = MLP([5, 4, 3], resolve("relu", "nonlocal", kernel, 0.2), seed=0)
    check(net, X, Y, linearized=True)
    net = MLP([5, 4, 3], resolve("elu", "exact"), seed=0)
    check(net, X, Y, linearized=False)


def test_same_seed_same_bits_and_resume(tmp_path: Path, small) -> None:
    cfg = TrainConfig(hidden=(12,), derivative="nonlocal", iters=40, batch_size=128, optimizer="adam", lr=0.01,
                      dropout=0.2, seed=7, log_every=5)
    a = train(cfg, small, progress=False)
    b = train(cfg, small, progress=False)
    assert np.array_equal(a.params, b.params) and a.history["train_loss"] == b.history["train_loss"]
    c = train(TrainConfig(**{**cfg.to_dict(), "seed": 8}), small, progress=False)
    assert not np.array_equal(a.params, c.params)
    ck = tmp_path / "run.npz"
    half = TrainConfig(**{**cfg.to_dict(), "iters": 23})
    train(half, small, progress=False, checkpoint=ck, checkpoint_every=10)
    resumed = train(cfg, small, progress=False, checkpoint=ck, resume=True)
    assert np.array_equal(resumed.params, a.params)
    assert resumed.history["train_loss"] == a.history["train_loss"]
    other = TrainConfig(**{**cfg.to_dict(), "lr": 0.02})
    with pytest.raises(CheckpointError, match="differs in lr"):
        train(other, small, progress=False, checkpoint=ck, resume=True)
    with pytest.raises(CheckpointError, match="another data set"):
        train(cfg, small.subset(500, 200), progress=False, checkpoint=ck, resume=True)


def test_full_batch_sparse_path_is_repeatable_and_agrees_with_the_dense_products(monkeypatch) -> None:
    """Full batches of >= 2**20 input values go through prepare_input (sparse for MNIST, Numba threads): the
    same bits with one thread or two, and the same training as the plain BLAS products up to rounding."""
    from nonlocal_calc.nn import batches, prepare_input

    ds = load_dataset("mnist10k").subset(1400, 100)
    cfg = TrainConfig(hidden=(10,), derivative="nonlocal", iters=30, lr=0.1, init="uniform", dtype="float64",
                      log_every=30)
    a = train(cfg, ds, progress=False)
    b = train(cfg, ds, progress=False, threads=1)
    assert prepare_input(ds.arrays("float64")[0]).sparse
    assert np.array_equal(a.params, b.params)
    monkeypatch.setattr(batches, "PREPARE_MIN_SIZE", 1 << 62)  # plain products
    c = train(cfg, ds, progress=False)
    assert not np.array_equal(a.params, c.params)  # another summation order...
    np.testing.assert_allclose(a.params, c.params, rtol=1e-9, atol=1e-12)  # ...the same training


def test_divergence_stops_and_keeps_the_last_good_parameters(small) -> None:
    # a linear network on a squared loss with a step far above 2 / (largest curvature): geometric blow-up
    cfg = TrainConfig(hidden=(10,), activation="identity", loss="mse", iters=200, lr=50, dtype="float32", log_every=1)
    r = train(cfg, small, progress=False)
    assert r.status == "diverged" and "lower the learning rate" in r.message
    assert np.all(np.isfinite(r.params)) and r.iterations < 200
    assert np.isfinite(r.final_loss)
    assert r.iterations == len(r.history["iteration"])  # logged every iteration up to the last good one


def test_early_stopping_restores_the_best_parameters(small) -> None:
    cfg = TrainConfig(hidden=(32,), iters=2000, optimizer="adam", lr=0.05, batch_size=64, early_stopping=3,
                      log_every=10)
    r = train(cfg, small, progress=False)
    assert r.status == "early_stopped" and r.iterations < 2000
    best = min(r.history["test_loss"])
    assert r.test_loss == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_optimizers_learn_mnist(optimizer: str, small) -> None:
    lr = {"gd": 0.5, "momentum": 0.1, "adam": 0.01}[optimizer]
    r = train(TrainConfig(hidden=(32,), optimizer=optimizer, lr=lr, iters=60, seed=0), small, progress=False)
    assert r.train_accuracy > 0.75 and r.test_accuracy > 0.6
    assert r.history["train_loss"][-1] < r.history["train_loss"][0]


def test_adaptive_slopes_on_mnist_and_curves(tmp_path: Path, small) -> None:
    cfg = TrainConfig(hidden=(16, 16), activation="tanh", optimizer="adam", lr=0.01, iters=30, adaptive="layer",
                      slope_recovery=True, log_every=5)
    r = train(cfg, small, progress=False, curves=tmp_path / "curves")
    assert len(r.slopes) == 2 and any(abs(s[0] - 1.0) > 1e-4 for s in r.slopes)  # the slopes moved
    assert r.slope_recovery == pytest.approx(2 / sum(np.exp(np.array(s[0]) / 10) for s in r.slopes))
    header = (tmp_path / "curves.csv").read_text().splitlines()[0].split(",")
    assert {"iteration", "train_loss", "test_accuracy", "slope_mean_1", "slope_std_2"} <= set(header)
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_mse_on_classification_and_bad_options(small) -> None:
    r = train(TrainConfig(hidden=(16,), activation="tanh", loss="mse", optimizer="adam", lr=0.01, iters=60), small,
              progress=False)
    assert r.test_accuracy > 0.6
    with pytest.raises(ValueError, match="slope recovery term needs adaptive slopes"):
        train(TrainConfig(slope_recovery=True, iters=1), small, progress=False)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        train(TrainConfig(optimizer="rmsprop", iters=1), small, progress=False)


def test_custom_expression_network() -> None:
    from nonlocal_calc.nn import Pointwise
    from nonlocal_calc.nn.laaf import laaf_dataset

    pw = Pointwise(sp.sin(nlc.x), sp.cos(nlc.x), name="sin")
    r = train(TrainConfig(hidden=(8,), optimizer="adam", lr=0.01, iters=50), laaf_dataset(60, 50), pointwise=pw,
              progress=False)
    assert r.test_accuracy is None and r.history["train_loss"][-1] < r.history["train_loss"][0]


def test_cli_train_json(capsys, tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **{k: v for k, v in zip(
        ("x_train", "y_train", "x_test", "y_test"), load_dataset("mnist10k").subset(300, 100).arrays("float32"))})
    code = main(["train", "--data", str(tmp_path / "d.npz"), "--hidden", "8,8", "--derivative", "nonlocal",
                 "--iters", "15", "--lr", "0.5", "--json", "--no-progress", "--curves", str(tmp_path / "c")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"test_accuracy", "train_accuracy", "final_loss", "time_per_iteration"} <= set(out)
    assert out["config"]["hidden"] == [8, 8] and out["derivative"]["kernel"] == "sign"
    assert (tmp_path / "c.csv").exists()
    assert main(["train", "--data", str(tmp_path / "missing.npz"), "--iters", "1"]) == 2
    assert "missing.npz: no such file" in capsys.readouterr().err


def test_reproductions_tiny(tmp_path: Path) -> None:
    from nonlocal_calc.nn import reproduce as R

    s = R.reproduce_poster(tmp_path / "p", seeds=2, iters=12, t3_iters=(5, 6), n_train=400, n_test=100,
                           progress=False)
    assert s["table1"]["exact"]["n"] == 2 and "ratio/500" in s["table3"]
    md = (tmp_path / "p" / "tables.md").read_text()
    assert "| 0.01 |" in md and "54.0%" in md and (tmp_path / "p" / "curves.png").exists()
    s = R.reproduce_laaf(tmp_path / "l", seeds=2, iters=30, log_every=10, progress=False)
    assert set(s["variants"]) == {"standard", "GAAF", "GAAF + S(a)", "L-LAAF", "L-LAAF + S(a)", "N-LAAF",
                                  "N-LAAF + S(a)"}
    assert len(s["variants"]["L-LAAF"]["final_slopes"]) == 4
    for f in ("table.md", "runs.csv", "loss.png", "slopes.png", "solution.png"):
        assert (tmp_path / "l" / f).exists()
