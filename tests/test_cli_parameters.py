"""Free parameters on the command line: ``--free NAME=RANGE`` declares one, ``--param NAME=VALUE`` gives it a value
(the member), or it stays free (derive prints the family, codegen writes the family's module)."""

import importlib.util
import json

import numpy as np
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import Parameter, kernels
from nonlocal_calc.cli import main


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_derive_keeps_a_declared_parameter_free(capsys):
    code, out, err = _run(["derive", "relu", "--kernel", "power(p)", "--free", "p=> -2", "--json"], capsys)
    assert code == 0, err
    code, text, err = _run(["derive", "relu", "--kernel", "power(p)", "--free", "p=> -2"], capsys)
    assert code == 0 and "parameters: p in (-2, oo)" in text
    family = nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
    assert json.loads(out)["expr"] == str(family.expr)


@pytest.mark.parametrize("argv, member", [
    (["relu", "--kernel", "power(p)", "--free", "p=> -2", "--param", "p=1"], ("relu", "linear")),
    (["leaky_relu", "--free", "slope=real", "--param", "slope=1/10"], (nlc.activations.leaky_relu("1/10"), "sign")),
    (["--activation-expr", "x/(1+exp(-beta*x))", "--free", "beta=positive", "--param", "beta=1"], ("silu", "sign")),
])
def test_param_gives_the_member(argv, member, capsys):
    code, out, err = _run(["derive", *argv, "--delta", "0.1", "--json"], capsys)
    assert code == 0, err
    direct = nlc.derive(*member)
    got = sp.sympify(json.loads(out)["expr"], locals={"x": nlc.x})
    for xv in ("-0.13", "0.02", "0.31"):
        assert abs(float(got.subs(nlc.x, sp.Rational(xv))) - float(direct.evaluate(xv, "0.1"))) < 1e-13, xv


@pytest.mark.parametrize("argv, message", [
    (["relu", "--kernel", "power(p)", "--free", "p=> -2", "--param", "p=-3"], "p = -3 is outside its range (-2, oo)"),
    (["relu", "--kernel", "power(p)", "--free", "p=bigger"], "cannot read the range 'bigger'"),
    (["relu", "--kernel", "power(q)", "--free", "p=> -2"], "on the command line: --free NAME=RANGE"),
    (["relu", "--kernel", "sign", "--free", "p=> -2"], "--free p: not a parameter of the activation or the kernel"),
    (["relu", "--kernel", "power(p)", "--free", "p=> -2", "--free", "p=real"], "--free p: declared twice"),
    (["--activation-expr", "x/(1+exp(-beta*x))", "--free", "beta=positive", "--param", "beta=0"],
     "beta = 0 is outside its range (0, oo)"),
])
def test_bad_parameters_exit_2_with_one_line(argv, message, capsys):
    code, out, err = _run(["derive", *argv], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_codegen_writes_the_family_module(tmp_path, capsys, monkeypatch):
    path = tmp_path / "relu_power.py"
    code, out, err = _run(["codegen", "relu", "--kernel", "power(p)", "--free", "p=> -2", "-o", str(path)], capsys)
    assert code == 0 and "ufunc(x, delta, p)" in err
    spec = importlib.util.spec_from_file_location("relu_power", path)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec.loader.exec_module(mod)
    family = nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
    assert "p in (-2, oo)" in mod.__doc__
    got = mod.ufunc(np.array([-0.04, 0.02, 0.07]), 0.1, np.array([[-1.5], [2.0]]))
    assert got.shape == (2, 3) and np.array_equal(got, family.ufunc()(np.array([-0.04, 0.02, 0.07]), 0.1,
                                                                       np.array([[-1.5], [2.0]])))
    assert np.isnan(mod.ufunc(0.02, 0.1, -2.5))
    code, _, err = _run(["codegen", "relu", "--kernel", "power(p)", "--free", "p=> -2", "--backend", "torch",
                         "-o", str(tmp_path / "t.py")], capsys)
    assert code == 2 and "needs numbers for the free parameters (p)" in err
