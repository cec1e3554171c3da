"""Convergence studies: how fast does ``D_mu f`` approach ``f'`` as the horizon shrinks?

:func:`study` measures the error of a nonlocal derivative for a sequence of horizons, either at a
point or in an ``L1``/``L2``/``Linf`` norm over an interval, at high precision (mpmath). It fits the
observed order, compares it with the order and constant that theory predicts (the moment expansion
``D.series`` at smooth points; the one-sided expansion at kinks; the band estimate in norms, see the
Theory page of the docs), and cross-checks every closed-form value against an independent mpmath
quadrature of the defining integral: a disagreement is reported in the study, never hidden.

>>> import nonlocal_calc as nlc
>>> s = nlc.convergence.study(nlc.derive("tanh", "sign"), x=0.3)
>>> s.predicted_order, round(s.observed_order, 3), s.fit_range
(2, 1.999, (0.0009765625, 0.25))
>>> import mpmath
>>> mpmath.nstr(s.predicted_constant, 15)       # delta**2/12 * tanh'''(0.3): the moment expansion
'-0.113692175508427'
>>> mpmath.nstr(s.observed_constant, 15)        # error / delta**2 at delta = 1/1024
'-0.113692159312643'
>>> relu = nlc.derive("relu", "sign")
>>> k = nlc.convergence.study(relu, x=0)       # at the kink: the average of the one-sided slopes
>>> float(k.limit), k.exact_below
(0.5, 0.5)
>>> n = nlc.convergence.study(relu, interval=(-1, 1), norm="L1", dps=30)
>>> n.predicted_order, round(n.observed_order, 6), round(n.observed_constant, 6) == round(n.predicted_constant, 6)
(1, 1.0, True)

The package, one job a module: :mod:`~.studies` runs a study (horizons, errors, cross-checks) and
:mod:`~.result` holds what it found; :mod:`~.theory` predicts the order and constant, :mod:`~.norms` computes
L^p norms and suprema of piecewise smooth functions, :mod:`~.fitting` fits the observed order,
:mod:`~.crosscheck` evaluates D and its independent reference, :mod:`~.sweep` studies the members of a parametric
family against its parameter, :mod:`~.pieces` holds an activation's pieces in
mpmath, :mod:`~.text` and :mod:`~.plot` present a study.
"""

from .fitting import fit_order
from .result import ConvergenceStudy, ConvergenceWarning
from .studies import DEFAULT_DELTAS, NORMS, study
from .sweep import ParameterSweep, sweep
from .theory import kernel_is_bounded

__all__ = [
    "DEFAULT_DELTAS",
    "NORMS",
    "ConvergenceStudy",
    "ConvergenceWarning",
    "ParameterSweep",
    "fit_order",
    "kernel_is_bounded",
    "study",
    "sweep",
]
