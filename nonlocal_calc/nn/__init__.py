"""A small, fast MLP trainer in which the activation derivative used by backpropagation is a choice.

``exact`` (f'), ``nonlocal`` (the closed-form nonlocal derivative D_mu f for a kernel and horizon delta) or
``poster`` (the poster's Figure 5 code, as transcribed by the audit); adaptive activation slopes (GAAF,
L-LAAF, N-LAAF with the slope recovery term); the embedded MNIST test set and loaders for IDX, Kaggle CSV
and ``.npz`` files; reproductions of the poster and of the LAAF paper (section 3.1).

The embedded data set is the MNIST test set by Yann LeCun, Corinna Cortes and Christopher J. C. Burges
(CC BY-SA 3.0).

>>> from nonlocal_calc import nn
>>> ds = nn.load_dataset("mnist10k").subset(300, 100)
>>> r = nn.train(nn.TrainConfig(hidden=(8,), iters=5, seed=0), ds, progress=False)
>>> sorted(k for k in r.summary() if "accuracy" in k)
['test_accuracy', 'train_accuracy']
"""

from . import laaf  # noqa: F401  (adds the 'laaf' data set to load_dataset)
from .config import TrainConfig
from .data import DataError, Dataset, load_dataset, load_path
from .derivatives import DERIVATIVES, Pointwise, resolve
from .model import MLP, PreparedInput, prepare_input
from .train import TrainResult, build_model, train

__all__ = [
    "DERIVATIVES",
    "DataError",
    "Dataset",
    "MLP",
    "Pointwise",
    "PreparedInput",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "load_dataset",
    "load_path",
    "prepare_input",
    "resolve",
    "train",
]
