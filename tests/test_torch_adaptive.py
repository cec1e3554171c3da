"""AdaptiveActivation and slope_recovery in PyTorch against the NumPy trainer's GAAF, L-LAAF and N-LAAF on the LAAF
paper's section 3.1 problem: same initial weights, same loss trajectory under Adam."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nonlocal_calc.nn import laaf, optim  # noqa: E402
from nonlocal_calc.nn.laaf import VARIANTS, laaf_dataset  # noqa: E402
from nonlocal_calc.nn.train import TrainConfig, build_model  # noqa: E402
from nonlocal_calc.torch.adaptive import AdaptiveActivation, slope_recovery  # noqa: E402

STEPS = 15


def _numpy_model(variant: str, seed: int):
    adaptive, recovery = VARIANTS[variant]
    cfg = TrainConfig(hidden=laaf.HIDDEN, activation="tanh", derivative="exact", loss="mse", optimizer="adam",
                      lr=laaf.LEARNING_RATE, iters=STEPS, seed=seed, dtype="float64", init="glorot",
                      adaptive=adaptive, slope_scale=laaf.SLOPE_SCALE, slope_recovery=recovery)
    return build_model(cfg, laaf_dataset())


def _torch_copy(net) -> torch.nn.Sequential:
    """The same network in torch, with the NumPy model's initial weights and slopes."""
    layers, shared, off = [], None, 0
    a = torch.tensor(net.slopes_raw.copy())
    for k, L in enumerate(net.layers):
        lin = torch.nn.Linear(L.fan_in, L.fan_out, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(net.W(k).T.copy()))
            lin.bias.copy_(torch.tensor(net.b(k).copy()))
        layers.append(lin)
        if k == len(net.layers) - 1:
            break
        scope = {"none": None, "global": "global", "layer": "layer", "neuron": "neuron"}[net.adaptive]
        if scope is None:
            layers.append(torch.nn.Tanh())
            continue
        act = AdaptiveActivation("tanh", scope, n=net.slope_scale, features=L.fan_out, slope=shared,
                                 dtype=torch.float64)
        with torch.no_grad():
            if scope == "global":
                act.slope.copy_(a[0])
                shared = act.slope
            elif scope == "layer":
                act.slope.copy_(a[k])
            else:
                act.slope.copy_(a[off:off + L.fan_out])
                off += L.fan_out
        layers.append(act)
    return torch.nn.Sequential(*layers).double()


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "standard"])
def test_loss_trajectory_matches_the_numpy_trainer(variant):
    seed = 3
    net = _numpy_model(variant, seed)
    model = _torch_copy(net)
    ds = laaf_dataset()
    X, Y = ds.x_train.astype(np.float64), ds.y_train.astype(np.float64)
    opt_np = optim.make("adam", net.n_params, np.float64, lr=laaf.LEARNING_RATE)
    opt_t = torch.optim.Adam(model.parameters(), lr=laaf.LEARNING_RATE)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    ours, theirs = [], []
    for _ in range(STEPS):
        loss, _ = net.loss_and_grad(X, Y)
        theirs.append(loss + net.slope_recovery_term())
        opt_np.step(net.params, net.grad)
        opt_t.zero_grad()
        obj = ((model(Xt) - Yt) ** 2).mean() + (slope_recovery(model) if net.slope_recovery else 0.0)
        obj.backward()
        opt_t.step()
        ours.append(obj.item())
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)  # measured: 2e-15 at most
    assert theirs[-1] < theirs[0]  # it trains
    slopes = torch.cat([m.slope.detach().reshape(-1) for m in model.modules() if isinstance(m, AdaptiveActivation)])
    want = net.slopes_raw if net.adaptive != "global" else np.repeat(net.slopes_raw, len(net.layers) - 1)
    np.testing.assert_allclose(slopes.numpy(), want, rtol=1e-9)


def test_refusals():
    with pytest.raises(ValueError, match="needs features"):
        AdaptiveActivation("tanh", "neuron")
    with pytest.raises(ValueError, match="unknown scope"):
        AdaptiveActivation("tanh", "row")
    with pytest.raises(ValueError, match="unknown activation"):
        AdaptiveActivation("no_such_function")
