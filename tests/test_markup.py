"""Generated Markdown renders as the text it was made from: checked by rendering it with the site's Markdown.

Every generator of Markdown (the audit's report, the catalogue, the coverage matrix, convergence tables, the
gallery) goes through ``nonlocal_calc.markup``; here its output is rendered with Python-Markdown and the
extensions of ``mkdocs.yml`` and the text of the HTML is compared with what went in.
"""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from nonlocal_calc import markup

markdown = pytest.importorskip("markdown")  # installed with mkdocs (test extras)

ROOT = Path(__file__).resolve().parents[1]

NASTY = [
    "delta**2 multiplies where it should divide (a factor delta**4 too many)",
    "wrong sign and delta**2*x**2/2", "x**2/(2*delta**2)", "leaky_relu / derivative_monotonic", "_x_ and __init__",
    "max |closed form - quadrature| = 1e-50", "[0, oo) if alpha < 0", "see [this](link) and ![img](a.png)",
    "costs $5 and $6", "a `tick` and ``two``", "<b>bold</b> & &amp; &#42;", "p <= -2; choose p > -2",
    r"back\slash \(x\) \[y\]", "f'(0) = 1 * 2 * 3", "# not a heading", "a\nb", "**", "*", "_", "|", "$", "`",
]


class _Cells(HTMLParser):
    """Text of each table cell, paragraph and list item, and the tags met inside them."""

    BLOCKS = ("td", "th", "p", "li")

    def __init__(self):
        super().__init__()
        self.blocks: list[list] = []  # [tag, text, inner tags]
        self._open: list | None = None

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self._open = [tag, "", []]
            self.blocks.append(self._open)
        elif self._open is not None:
            self._open[2].append(tag)

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open[1] += data


class _Loader(yaml.SafeLoader):
    """mkdocs.yml's tags (``!relative``, ``!!python/name``) read as plain values."""


_Loader.add_multi_constructor("", lambda loader, tag, node: loader.construct_scalar(node)
                              if isinstance(node, yaml.ScalarNode) else None)


def site_markdown_extensions() -> tuple[list[str], dict]:
    """The ``markdown_extensions`` of mkdocs.yml (but snippets, which reads files), with their options."""
    names, configs = [], {}
    for e in yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)["markdown_extensions"]:
        name, opts = next(iter(e.items())) if isinstance(e, dict) else (e, None)
        if name != "pymdownx.snippets":
            names.append(name)
            configs[name] = opts or {}
    return names, configs


def render(md: str) -> list[list]:
    """[tag, text, inner tags] of each block of ``md`` rendered with the site's Markdown extensions."""
    names, configs = site_markdown_extensions()
    parser = _Cells()
    parser.feed(markdown.markdown(md, extensions=names, extension_configs=configs))
    return parser.blocks


def test_escaped_text_renders_as_itself():
    rng = random.Random(1)
    alphabet = "ab_*|$`[]()<>&#!\\ -x2"
    samples = NASTY + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16))) for _ in range(300)]
    for s in samples:
        want = " ".join(s.split("\n"))
        assert render("x " + markup.escape(s) + " y") == [["p", f"x {want} y", []]], s
        cells = render(markup.table(["a", "b"], [[markup.escape(s), markup.code(s)]]))
        assert [c[1].strip() for c in cells] == ["a", "b", want.strip(), want.strip()], s
        assert cells[3][2] == ["code"], s


def test_prose_code_formats_expressions_and_keeps_the_words():
    [[_, text, tags]] = render(markup.prose(NASTY[0]))
    assert text == NASTY[0] and tags == ["code", "code"]


def test_math_in_a_cell_keeps_its_bars():
    cells = render(markup.table(["rho"], [[markup.math(r"\frac{\delta - \left|{s}\right|}{\delta^{2}}")]]))
    assert len(cells) == 2 and r"\left\vert {s}\right\vert" in cells[1][1]


def test_generated_pages_render_without_stray_markup():
    """The committed fragments: the audit's findings read as computed, tables keep their columns."""
    from nonlocal_calc import audit

    gen = ROOT / "docs" / "generated"
    cells = render((gen / "poster_audit.md").read_text())
    findings = [c[1] for c in cells if c[0] == "td"]
    for d in audit.poster().discrepancies:
        assert any(d["what"] in f for f in findings), d["what"]
    for page in sorted(gen.glob("*.md")):
        text = page.read_text()
        for table in re.findall(r"(?:^\|.*\|\n)+", text, re.M):
            rows = render(table)
            n_head = sum(1 for c in rows if c[0] == "th")
            n_rows = table.count("\n") - 2
            assert sum(1 for c in rows if c[0] == "td") == n_head * n_rows, f"{page.name}: a cell was split"
            stray = [c for c in rows if {"strong", "em"} & set(c[2])]
            assert not stray, f"{page.name}: emphasis in a table cell: {stray[:3]}"
