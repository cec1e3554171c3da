"""The LAAF paper's section 3.1 test case and the adaptive-activation variants it compares.

Jagtap, Kawaguchi, Karniadakis, "Locally adaptive activation functions with slope recovery term for deep and
physics-informed neural networks": approximate the discontinuous function

    u(x) = 0.2 sin(6x) for x <= 0,   1 + 0.1 x cos(18x) otherwise,

on [-3, 3] from 300 points with 4 hidden tanh layers of 50 neurons, Adam at learning rate 2e-4, scaling
factor n = 10 with n a initialized to 1; fixed activation (standard), GAAF, L-LAAF and N-LAAF, each adaptive
one with and without the slope recovery term S(a). The slopes themselves live in :class:`~.model.MLP`.

>>> ds = laaf_dataset()
>>> ds.x_train.shape, ds.y_train.shape, float(ds.y_train.max()) > 1.2
((300, 1), (300, 1), True)
"""

from __future__ import annotations

import numpy as np

from .data import Dataset, register

#: The paper's setting (section 3.1).
DOMAIN = (-3.0, 3.0)
N_POINTS = 300
HIDDEN = (50, 50, 50, 50)
LEARNING_RATE = 2.0e-4
SLOPE_SCALE = 10.0
#: Points of the uniform grid on which the error of the fitted function is measured.
N_GRID = 2000

#: The compared variants: label -> (adaptive mode, slope recovery term).
VARIANTS = {
    "standard": ("none", False),
    "GAAF": ("global", False),
    "GAAF + S(a)": ("global", True),
    "L-LAAF": ("layer", False),
    "L-LAAF + S(a)": ("layer", True),
    "N-LAAF": ("neuron", False),
    "N-LAAF + S(a)": ("neuron", True),
}


def target(x: np.ndarray) -> np.ndarray:
    """u(x) of equation (4): 0.2 sin(6x) for x <= 0, 1 + 0.1 x cos(18x) otherwise.

    >>> target(np.array([-np.pi / 12, 0.0, 1.0])).round(6).tolist()
    [-0.2, 0.0, 1.066032]
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0, 0.2 * np.sin(6 * x), 1 + 0.1 * x * np.cos(18 * x))


def laaf_dataset(n: int = N_POINTS, n_grid: int = N_GRID) -> Dataset:
    """Training points: ``n`` equispaced points on [-3, 3] (the paper does not say how they are placed);
    held-out: a uniform grid of ``n_grid`` points, on which the error of the fit is measured."""
    x = np.linspace(*DOMAIN, n)[:, None]
    xg = np.linspace(*DOMAIN, n_grid)[:, None]
    return Dataset(x, target(x), xg, target(xg), "laaf", None, "LAAF paper, section 3.1, equation (4)")


register("laaf", laaf_dataset)


def relative_l2(pred: np.ndarray, truth: np.ndarray) -> float:
    """``||pred - truth||_2 / ||truth||_2``."""
    return float(np.linalg.norm(np.ravel(pred) - np.ravel(truth)) / np.linalg.norm(np.ravel(truth)))
