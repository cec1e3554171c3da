import pytest
import sympy as sp

from nonlocal_calc import activations
from nonlocal_calc.activations import Activation, ActivationError
from nonlocal_calc.symbols import x

LECTURE = ["identity", "binary_step", "logistic", "tanh", "arctan", "softsign", "isru", "relu", "leaky_relu", "prelu"]


def test_catalogue_has_the_lecture_table_and_the_additions():
    assert set(LECTURE + ["softplus", "elu", "silu", "gelu"]) <= set(activations.names())


@pytest.mark.parametrize("alias, name", [("sigmoid", "logistic"), ("swish", "silu"), ("atan", "arctan"),
                                         ("step", "binary_step"), ("Leaky-ReLU", "leaky_relu")])
def test_aliases(alias, name):
    assert activations.get(alias).name == name


def test_parameters_and_defaults():
    assert activations.get("leaky_relu").params["slope"] == sp.Rational(1, 100)  # the lecture's 0.01
    assert activations.get("elu").params["alpha"] == 1
    assert activations.get("elu", alpha=0.5).pieces[0] == (sp.exp(x) - 1) / 2
    assert activations.get("prelu", alpha=0.2).pieces[0] == x / 5
    with pytest.raises(ActivationError, match="does not take parameters"):
        activations.get("relu", alpha=2)
    with pytest.raises(ActivationError, match="alpha > 0"):
        activations.get("isru", alpha=-1)


def test_numeric_values_match_definitions():
    import math

    for name, ref in [("logistic", lambda v: 1 / (1 + math.exp(-v))), ("softplus", lambda v: math.log1p(math.exp(v))),
                      ("silu", lambda v: v / (1 + math.exp(-v))), ("gelu", lambda v: v * (1 + math.erf(v / 2**0.5)) / 2),
                      ("softsign", lambda v: v / (1 + abs(v))), ("elu", lambda v: v if v >= 0 else math.expm1(v))]:
        f = sp.lambdify(x, activations.get(name).expr, "math")
        for v in (-2.5, -0.3, 0.0, 0.7, 3.0):
            assert abs(f(v) - ref(v)) < 1e-14, name


def test_from_expr_finds_kinks():
    a = Activation.from_expr("x/(1+abs(x))")
    assert a.breakpoints == (0,)
    assert sp.simplify(a.pieces[1] - x / (1 + x)) == 0
    h = Activation.from_expr("min(max(x, -1), 1)", name="hardtanh")
    assert h.breakpoints == (-1, 1) and h.pieces == (-1, x, 1)


def test_from_expr_of_a_long_kinked_sum_is_quick_and_exact():
    """A typed three-term sum with a kink: the pieces (33 operations each) were simplified, 50 s of CPU and more;
    now kept as written, and still the formula on each side of each kink."""
    import time

    text = ("exp(tanh(x - 15/8))*(x + 1)/(1 + (x + 1)**2) + log(1 + exp(x - 2/7))*tanh((x - 1/2)/2)/2"
            " + 5*Max((x - 13/8)/2, (x - 13/8)**3/2)*x*tanh(log(1 + exp(x)))")
    start = time.process_time()
    a = Activation.from_expr(text)
    a.derivative, [a.kink_derivative(b) for b in a.breakpoints]
    assert time.process_time() - start < 10
    smooth = sp.sympify(text, locals={"x": x})
    for v in (-3, 1, sp.Rational(17, 8), 3):
        value = smooth.subs(x, v)
        assert abs(sp.N(a.piece_at(v).subs(x, v) - value, 30)) < 1e-25, v


def test_unknown_and_bad():
    with pytest.raises(ActivationError, match="unknown activation"):
        activations.get("mish")
    with pytest.raises(ActivationError, match="symbols other than x"):
        Activation.from_expr(sp.Symbol("a") * x)
    with pytest.raises(ActivationError, match="cannot parse"):
        Activation.from_expr("__import__('os')")
