"""The documentation: every code example runs, generated pages are fresh, and ``mkdocs build --strict`` passes.

What runs, page by page (one namespace per page, like a notebook):

* fenced ``python``/``pycon``/``py`` blocks: doctest when they contain ``>>>`` prompts (output compared with
  ELLIPSIS and NORMALIZE_WHITESPACE), plain ``exec`` otherwise;
* fenced ``console`` blocks: each ``$ nonlocal-calc ...`` line runs in-process and its output is compared
  with the lines below it (ELLIPSIS allowed); other commands are not run.

Examples run in a temporary working directory. Blocks fenced as ``bash``, ``text`` and so on are shown,
not run. Pages under docs/dev/ (notes for
contributors) and docs/generated/ (tables written by docs/generate.py) are not scanned.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import mpmath
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if not {"dev", "generated"} & set(p.relative_to(DOCS).parts))
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def code_blocks(text: str):
    """(language, body, line number) of each fenced block."""
    for m in FENCE.finditer(text):
        lang = (m.group("info").split() or [""])[0].lstrip(".{").rstrip("}").lower()
        body = textwrap.dedent("\n".join(line[len(m.group("indent")):] for line in m.group("body").splitlines()))
        yield lang, body, text.count("\n", 0, m.start()) + 2


def run_console(body: str, where: str) -> list[str]:
    """Run the ``$ nonlocal-calc`` commands of a console block; return the failures."""
    from nonlocal_calc.cli import main

    failures = []
    for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
        cmd, _, expected = chunk.partition("\n")
        argv = shlex.split(cmd)
        if not argv or argv[0] != "nonlocal-calc":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(argv[1:])
        if code != 0:
            failures.append(f"{where}: `{cmd}` exited with {code}")
        elif not doctest.OutputChecker().check_output(expected.rstrip() + "\n", out.getvalue(), FLAGS):
            failures.append(f"{where}: `{cmd}` printed\n{out.getvalue()}\nexpected\n{expected}")
    return failures


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_code_examples_run(page, tmp_path, monkeypatch):
    if page.name == "torch.md":
        pytest.importorskip("torch", reason="PyTorch is not installed (the [torch] extra)")
    if page.name == "jax.md":
        pytest.importorskip("jax", reason="JAX is not installed (the [jax] extra)")
    monkeypatch.chdir(tmp_path)  # examples that write files (plots, curves) write them here
    text = page.read_text()
    globs: dict = {"__name__": f"docs.{page.stem}"}
    failures, ran = [], 0
    prec = mpmath.mp.prec
    try:
        for lang, body, line in code_blocks(text):
            where = f"{page.relative_to(ROOT)}:{line}"
            if body.lstrip().startswith("--8<--"):
                continue  # a file included at build time (a derivation, run by tests/test_derivations.py)
            if lang in ("python", "pycon", "py"):
                ran += 1
                if ">>>" in body:
                    test = doctest.DocTestParser().get_doctest(body, globs, where, str(page), line - 1)
                    report = io.StringIO()
                    runner = doctest.DocTestRunner(optionflags=FLAGS)
                    runner.run(test, out=report.write, clear_globs=False)
                    globs.update(test.globs)
                    if runner.failures:
                        failures.append(report.getvalue())
                else:
                    exec(compile(body, where, "exec"), globs)  # the documentation's own example code
            elif lang == "console":
                ran += 1
                failures += run_console(body, where)
    finally:
        mpmath.mp.prec = prec
    assert not failures, "\n".join(failures)
    if page.name in ("index.md",):
        assert ran >= 5, "the Getting started page lost its examples"


def test_console_runner_catches_wrong_output():
    body = "$ nonlocal-calc converge relu --x 0 --deltas 1/4 1/8 --no-progress\nsomething else entirely\n"
    assert run_console(body, "here")
    assert not run_console("$ nonlocal-calc converge relu --x 0 --deltas 1/4 1/8 --no-progress\n...\n", "here")


# ------------------------------------------------------------------ generated pages are fresh
def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_catalogue_pages_are_fresh(tmp_path):
    gen = _generator()
    gen.catalogue(tmp_path)
    for out in sorted(tmp_path.glob("*.md")):
        committed = DOCS / "generated" / out.name
        assert committed.read_text() == out.read_text(), f"{committed} is stale: run `python docs/generate.py catalogue`"


def test_gallery_is_complete_and_fresh():
    gen = _generator()
    from nonlocal_calc import activations
    from nonlocal_calc.derivation import COVERAGE_KERNELS

    data = json.loads((DOCS / "generated" / "gallery.json").read_text())
    pairs = [(r["activation"], r["kernel"]) for r in data]
    assert sorted(pairs) == sorted((a, k) for a in activations.names() for k in COVERAGE_KERNELS)
    for a, k in pairs:
        assert (DOCS / "generated" / "gallery" / f"{gen._slug(a, k)}.png").exists()
    assert not [r for r in data for s in r["studies"] if s["disagreements"]]
    # Recompute two pairs (a kink with norms, a smooth pair with a singular kernel) and compare every number.
    for a, k in [("relu", "sign"), ("tanh", "dirac_pair")]:
        fresh = gen.gallery_pair(a, k)
        stored = next(r for r in data if (r["activation"], r["kernel"]) == (a, k))
        assert fresh["studies"] == stored["studies"], f"gallery entry {a}/{k} is stale: run docs/generate.py gallery"
    md = (DOCS / "generated" / "gallery.md").read_text()
    assert md == gen.gallery_markdown(data)


# ------------------------------------------------------------------ the site builds
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = (tmp_path / "site" / "theory.html").read_text()
    assert "rho" in built and "arithmatex" in built
    assert (tmp_path / "site" / "api.html").read_text().count("nonlocal_calc.convergence.study") >= 1
    # docstring examples are code in the API reference, not prose (``delta**2`` would turn bold)
    api = (tmp_path / "site" / "api.html").read_text()
    assert '<span class="gp">&gt;&gt;&gt; </span>' in api and "<p>&gt;&gt;&gt;" not in api


# ------------------------------------------------------------------ the site reads offline
def test_site_assets_ship_with_it():
    """No script, style or font is fetched from the network: every asset mkdocs.yml names is in docs/."""
    text = (ROOT / "mkdocs.yml").read_text()
    assert "http://" not in text and "https://" not in text
    assets = re.findall(r"^\s+- ((?:vendor|javascripts|stylesheets)/\S+)$", text, re.M)
    assert len(assets) >= 4 and all((DOCS / a).is_file() for a in assets), assets
    assert re.search(r"^\s+font: false$", text, re.M), "the theme would load its fonts from the web"
    for vendored in ("katex", "iframe-worker"):
        assert (DOCS / "vendor" / vendored / "LICENSE").is_file()


def test_api_reference_hook_fences_doctests_and_plains_roles():
    spec = importlib.util.spec_from_file_location("doctest_blocks", DOCS / "hooks" / "doctest_blocks.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    text = "Intro with :class:`~nonlocal_calc.kernels.Kernel`.\n\n>>> x**2\ny**2\n\n```python\n>>> kept\n```\n"
    out = hook.plain_roles(hook.fence_doctests(text))
    assert out == ("Intro with `Kernel`.\n\n```pycon\n>>> x**2\ny**2\n```\n\n```python\n>>> kept\n```\n")


#: A path in a code span of the developer notes: a file or directory name with a suffix, or one ending in "/".
DEV_PATH = re.compile(r"`([\w./-]+(?:\.(?:py|md|yml|cfg|toml|json)|/))`")


def named_paths(text: str) -> list[str]:
    return [m for m in DEV_PATH.findall(text) if not m.startswith(("http", "."))]


def path_exists(name: str) -> bool:
    """Named from the repository root, the package, or a subpackage at any depth (a table of nn/ may say
    `nn/train.py`, one of codegen/runtime/ `loops.py`)."""
    return any((base / name).exists() for base in (ROOT, ROOT / "nonlocal_calc", *ROOT.glob("nonlocal_calc/**/")))


def test_developer_notes_name_only_files_that_exist():
    assert named_paths("`nn/train.py`, `convergence/`, `x < a`, `setup.cfg`") == ["nn/train.py", "convergence/",
                                                                              "setup.cfg"]
    assert not path_exists("convergence.py") and path_exists("nn/state.py") and path_exists("native.py")
    for page in sorted((DOCS / "dev").glob("*.md")):
        missing = [n for n in named_paths(page.read_text()) if not path_exists(n)]
        assert not missing, f"{page.relative_to(ROOT)} names files that do not exist: {missing}"
