"""What a user reaches from ``import nonlocal_calc``, and the reproduction command's options and tables."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nonlocal_calc"


def test_subpackages_the_docs_use_are_reachable_from_the_package_in_a_fresh_process():
    code = ("import sys, nonlocal_calc as nlc\n"
            "heavy = [m for m in ('numba', 'matplotlib', 'nonlocal_calc.nn') if m in sys.modules]\n"
            "assert not heavy, heavy  # imported on first use only\n"
            "assert callable(nlc.convergence.study) and callable(nlc.nn.train) and callable(nlc.audit.poster)\n"
            "assert callable(nlc.codegen.make_ufunc) and callable(nlc.properties.compare_with_lecture)\n"
            "assert {'convergence', 'nn'} <= set(dir(nlc))\n"
            "try:\n    nlc.no_such_thing\nexcept AttributeError:\n    print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr


# ---------------------------------------------------------------- import graph
def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at module level or inside a function (a lazy import still
    ties the two modules together). ``from . import x`` counts as importing the module ``x``; imports under
    ``if TYPE_CHECKING:`` do not count (they never run: annotations only)."""
    root = package.parent
    mods = {}
    for p in package.rglob("*.py"):
        parts = list(p.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, (path, is_pkg) in mods.items():
        here = m.split(".") if is_pkg else m.split(".")[:-1]
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for guard in ast.walk(tree) if isinstance(guard, ast.If)
                       and ast.unparse(guard.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                       for stmt in guard.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[: len(here) - node.level + 1] if node.level else [])
                mod = ".".join(filter(None, [base, node.module or ""]))
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
            else:
                continue
            for t in filter(None, map(known, targets)):
                if t != m and not m.startswith(t + "."):  # a submodule importing its own package is no cycle
                    graph[m].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


#: Import cycles the package is allowed: none (a lower module that needs a name of a higher one gets it passed in,
#: or the name moves down).
KNOWN_CYCLES: set[frozenset[str]] = set()


def test_cycle_finder_sees_lazy_imports_and_not_typing_only_ones(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("from ..b import g\n")
    (pkg / "b.py").write_text("def g():\n    from .sub import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nfrom . import b\nif TYPE_CHECKING:\n    from . import d\n")
    (pkg / "d.py").write_text("from . import c\n")  # a cycle with c in annotations only: none at run time
    assert cycles(import_graph(pkg)) == [frozenset({"pkg.b", "pkg.sub.a"})]


def test_no_import_cycles():
    graph = import_graph(PACKAGE)
    assert "nonlocal_calc.nn.data" in graph["nonlocal_calc.nn.laaf"]  # the graph is read at all
    found = set(cycles(graph))
    assert found <= KNOWN_CYCLES, sorted(map(sorted, found - KNOWN_CYCLES))


# ---------------------------------------------------------------- reproduce: options reach every run
@pytest.mark.parametrize("argv, iters, t3_iters", [
    ([], 1500, (500, 600)),
    (["--iters", "7"], 7, (7, 7)),
    (["--iters", "7", "--table3-iters", "3", "4"], 7, (3, 4)),
])
def test_reproduce_iters_reach_every_table(argv, iters, t3_iters, tmp_path, monkeypatch, capsys):
    from nonlocal_calc.cli import main
    from nonlocal_calc.nn import reproduce

    seen = {}

    def fake(out, **kw):
        seen.update(kw)
        (out / "tables.md").parent.mkdir(parents=True, exist_ok=True)
        (out / "tables.md").write_text("tables\n")

    monkeypatch.setattr(reproduce, "reproduce_poster", fake)
    assert main(["reproduce", "poster", "--seeds", "1", "--out", str(tmp_path / "o"), *argv]) == 0
    assert seen["iters"] == iters and seen["t3_iters"] == t3_iters


def test_reproduction_api_refuses_zero_iterations(tmp_path):
    from nonlocal_calc.nn import reproduce

    with pytest.raises(ValueError, match="iters must be an integer >= 1"):
        reproduce.reproduce_poster(tmp_path, seeds=1, iters=0)
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        reproduce.reproduce_laaf(tmp_path, seeds=0)


# ---------------------------------------------------------------- one seed: no spread is claimed
def _fake_poster_rows(seeds: int):
    from nonlocal_calc.nn import reproduce

    main, timing = reproduce.poster_specs(seeds, iters=10, t3_iters=(5, 6))
    for k, r in enumerate(main + timing):
        r.update(test_accuracy=0.8 + 0.001 * k, train_accuracy=0.85 + 0.001 * k, status="completed",
                 train_time=1.0 + 0.01 * k, time_per_iteration=0.1 + 0.001 * k)
    return main, timing


def test_one_seed_tables_say_n_1_instead_of_a_zero_spread():
    from nonlocal_calc.nn import reproduce

    md, summary = reproduce.poster_tables(*_fake_poster_rows(1))
    assert "± 0.0" not in md and "±" not in md.replace("mean ± std", "")
    assert md.count("(n = 1)") >= 20
    assert summary["table1"]["exact"]["test_accuracy"][1] is None  # no spread measured, none stored
    md, _ = reproduce.poster_tables(*_fake_poster_rows(3))
    assert "(n = 1)" not in md and md.count(" ± ") >= 20


def test_one_seed_laaf_table_says_n_1():
    from nonlocal_calc.nn import reproduce
    from nonlocal_calc.nn.laaf import VARIANTS

    rows = [{"variant": v, "seed": 0, "iters": 10, "mse": 1e-3, "rel_l2_train": 0.01, "rel_l2_grid": 0.02,
             "iters_to_0.01": 5, "iters_to_0.001": None, "final_slopes": []} for v in VARIANTS]
    md, _ = reproduce.laaf_tables(rows)
    assert " ± " not in md.split("\n", 1)[1] and "(n = 1)" in md


# ---------------------------------------------------------------- the array frameworks stay optional
FRAMEWORKS = ("torch", "jax")


def test_only_the_framework_subpackages_import_their_frameworks():
    """torch and jax are imported by nonlocal_calc.torch and nonlocal_calc.jax only (the [torch] and [jax]
    extras), and those subpackages only by themselves and, on request, by ``nonlocal-calc codegen --backend``."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent)
        owner = rel.parts[1] if len(rel.parts) > 2 else None
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                if top in FRAMEWORKS and owner != top:
                    offenders.append(f"{rel}: import {name}")
    assert not offenders, offenders
    graph = import_graph(PACKAGE)
    users = {m for m, deps in graph.items() for d in deps
             if d.split(".")[1:2] in (["torch"], ["jax"]) and m.split(".")[1] != d.split(".")[1]}
    assert users <= {"nonlocal_calc.cli.codegen"}, users


def test_the_package_never_imports_an_array_framework():
    code = ("import sys, warnings\nimport nonlocal_calc as nlc\nwarnings.simplefilter('ignore')\n"
            "D = nlc.derive('relu', 'sign'); nlc.codegen.make_ufunc(D)\n"
            "nlc.convergence.study(D, x=0.3); nlc.audit.poster()\n"
            f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout == "[]\n", r.stderr
