r"""Markdown fragments from program text: code spans, escaped prose, math for table cells.

What the toolkit writes (expressions such as ``delta**2``, names such as ``leaky_relu``, LaTeX with
``\left|z\right|``) is not Markdown: pasted into a page as it is, ``**`` and ``_`` turn into bold and
italics and ``|`` splits a table cell. Every generated Markdown table and list goes through these.

>>> from nonlocal_calc.markup import code, prose, math
>>> print(code("delta**2*x**2/2"))
`delta**2*x**2/2`
>>> print(prose("delta**2 multiplies where it should divide (a factor delta**4 too many)"))
`delta**2` multiplies where it should divide (a factor `delta**4` too many)
>>> print(prose("f' jumps | a_b [c] <b>"))
f' jumps \| a_b [c] &lt;b>
>>> print(math(r"\left|{z}\right|"))
$\left\vert {z}\right\vert$
"""

from __future__ import annotations

import re

#: What Markdown (with tables and dollar math) reads as markup in running text: backslashes, backticks, stars,
#: dollars and pipes anywhere; underscores not between two letters or digits (``leaky_relu`` is safe, ``_x_`` is not);
#: brackets that would open a link.
_SPECIAL = re.compile(r"[\\`*$|]|(?<![^\W_])_|_(?![^\W_])|\[(?=[^\]]*\][(\[])|(?<=\])(?=[(\[])")
#: Program text inside prose: a product or a power (``delta**2``, ``z*mu(z)``, ``C*delta**1``).
_EXPRESSION = re.compile(r"[\w.()/^-]*\w[\w.()]*(?:\*\*?[-\w.()/]+)+")


def code(text: object) -> str:
    """``text`` as an inline code span (shown verbatim; backticks inside it are fenced by longer runs).

    Python-Markdown does not split a table cell at a ``|`` inside a code span, so code spans are safe in
    table cells as they are.

    >>> code("a`b")
    '``a`b``'
    """
    s = " ".join(str(text).split("\n"))
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def escape(text: object, cell: bool = True) -> str:
    r"""``text`` escaped so that it renders as itself (no emphasis, links, math, HTML, or table cells when
    ``cell``; a ``|`` outside a table needs no escape).

    >>> print(escape("leaky_relu: 2*x, _a_ | [b](c) $5"))
    leaky_relu: 2\*x, \_a\_ \| \[b]\(c) \$5
    >>> print(escape("max |error| in [0, 1]", cell=False))
    max |error| in [0, 1]
    """
    s = " ".join(str(text).split("\n"))
    s = re.sub(r"&(?=#?\w+;)", "&amp;", s)  # only what would read as an entity or a tag: p <= -2 stays as it is
    s = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", s)
    return _SPECIAL.sub(lambda m: m.group(0) if not cell and m.group(0) == "|" else "\\" + m.group(0), s)


def prose(text: object, cell: bool = True) -> str:
    """A sentence that mentions expressions: the expressions as code spans, the rest escaped."""
    s, out, end = str(text), [], 0
    for m in _EXPRESSION.finditer(s):
        out += [escape(s[end:m.start()], cell), code(m.group(0))]
        end = m.end()
    return "".join(out + [escape(s[end:], cell)])


def math(latex: str) -> str:
    r"""Inline math ``$...$`` that can stand in a table cell (``|`` written as ``\vert``).

    >>> print(math(r"\frac{1}{\delta^{2}}"))
    $\frac{1}{\delta^{2}}$
    """
    tex = latex.replace(r"\|", r"\Vert ").replace("|", r"\vert ")
    return f"${' '.join(tex.split())}$"


def row(*cells: object) -> str:
    """One table row from already formatted cells.

    >>> row("`relu`", "closed form")
    '| `relu` | closed form |'
    """
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(head: list[str], rows: list[list[object]]) -> str:
    """A Markdown table from formatted cells (``code``, ``escape``, ``math``...), the header's included.

    >>> print(table(["activation", "f'(x)"], [[code("relu"), code("Heaviside(x)")]]))
    | activation | f'(x) |
    |---|---|
    | `relu` | `Heaviside(x)` |
    """
    return "\n".join([row(*head), "|" + "---|" * len(head)] + [row(*r) for r in rows])


__all__ = ["code", "escape", "prose", "math", "row", "table"]
