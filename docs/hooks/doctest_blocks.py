"""Griffe extension for the API reference: docstring examples and cross-references shown as code.

The package's docstrings carry their examples as bare doctest blocks, which the Google-style parser
leaves as prose: ``delta**2`` in an output line then renders as bold. This wraps each block (from a
``>>>`` line to the next blank line) in a ``pycon`` fence before mkdocstrings renders the docstring,
and shows Sphinx roles (``:class:`~nonlocal_calc.kernels.Kernel```) as the code span of the name.
"""

from __future__ import annotations

import re

import griffe

_BLOCK = re.compile(r"^(?P<indent>[ \t]*)>>>.*?(?=\n[ \t]*\n|\Z)", re.M | re.S)
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`~?([^`]+)`")


def plain_roles(text: str) -> str:
    """Sphinx roles as code spans (``~`` keeps the last name only, as Sphinx shows it).

    >>> plain_roles(":class:`~nonlocal_calc.kernels.Kernel` and :func:`derive`")
    '`Kernel` and `derive`'
    """
    return _ROLE.sub(lambda m: f"`{m[1].rsplit('.', 1)[-1] if m[0].count('~') else m[1]}`", text)


def fence_doctests(text: str) -> str:
    """``text`` with each doctest block outside a fence wrapped in a ``pycon`` fence.

    >>> fence_doctests("Example:\\n\\n>>> 2**3\\n8\\n\\nMore.").splitlines()
    ['Example:', '', '```pycon', '>>> 2**3', '8', '```', '', 'More.']
    """
    parts = re.split(r"(^[ \t]*(?:```|~~~).*?^[ \t]*(?:```|~~~)[ \t]*$)", text, flags=re.M | re.S)
    for i in range(0, len(parts), 2):  # even parts are outside the existing fences
        parts[i] = _BLOCK.sub(lambda m: f"{m['indent']}```pycon\n{m.group(0)}\n{m['indent']}```", parts[i])
    return "".join(parts)


class DoctestBlocks(griffe.Extension):
    """Fence the doctest blocks and plain the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(fence_doctests(obj.docstring.value))
