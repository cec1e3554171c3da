import pytest
import sympy as sp

from nonlocal_calc.parsing import ExpressionError, parse_expr
from nonlocal_calc.symbols import delta, x, z


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('id')",
        "x.__class__",
        "(lambda: 1)()",
        "[x for x in ()]",
        "open('/etc/passwd')",
        "x if x else 1",
        "globals()",
        "exp(x, y=1)",
        "x[0]",
        "'abc'",
    ],
)
def test_dangerous_or_foreign_text_is_refused(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExpressionError, match="cannot parse"):
        parse_expr(text, {"x"})


def test_injection_does_not_run_code(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ExpressionError):
        parse_expr(f"__import__('os').system('touch {marker}')", {"x"})
    assert not marker.exists()


def test_vocabulary():
    assert parse_expr("x/(1+exp(-x))", {"x"}) == x / (1 + sp.exp(-x))
    assert parse_expr("sign(z)*abs(z)**0.5/delta", {"z", "delta"}) == sp.sign(z) * sp.sqrt(sp.Abs(z)) / delta
    assert parse_expr("0.01*x", {"x"}) == sp.Rational(1, 100) * x  # exact numbers
    assert parse_expr("x^2", {"x"}) == x**2


def test_symbols_outside_the_allowed_set_are_named():
    with pytest.raises(ExpressionError, match="unknown name 'z'"):
        parse_expr("x + z", {"x"})
    with pytest.raises(ExpressionError, match="unknown function 'foo'"):
        parse_expr("foo(x)", {"x"})
    with pytest.raises(ExpressionError, match="invalid syntax"):
        parse_expr("x +* 2", {"x"})
