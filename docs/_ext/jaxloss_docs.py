"""A Sphinx extension: a public function's ``Args:`` section must match its signature.

autodoc and napoleon render whatever a docstring says, so a renamed argument whose docstring
still names the old one builds silently. This extension warns (an error under ``-W``) for an
argument the docstring describes but the signature lacks, or the other way round.
``tests/test_docs.py`` runs the same check on every export without building the docs.
"""

from __future__ import annotations

import inspect
import re

# "name:", "name (type):", "*args:" or several names sharing one entry, "input1, input2:".
_ENTRY = re.compile(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*)(?: \([^)]*\))?:")


def documented_args(doc: str) -> list[str]:
    """The argument names of the Google-style ``Args:`` section of a cleaned docstring."""
    names: list[str] = []
    lines = inspect.cleandoc(doc).splitlines()
    headers = [i for i, line in enumerate(lines) if line.strip() in ("Args:", "Arguments:")]
    if not headers:
        return names
    start = headers[0]
    header_indent = len(lines[start]) - len(lines[start].lstrip())
    entry_indent = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= header_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        if indent == entry_indent:
            match = _ENTRY.match(line.strip())
            if match:
                names.extend(n.lstrip("*") for n in match.group(1).split(", "))
    return names


def signature_args(func) -> list[str]:
    """The parameter names of ``func``'s signature (``*args``/``**kwargs`` by their names)."""
    return list(inspect.signature(func).parameters)


def args_mismatch(func) -> tuple[list[str], list[str]]:
    """(undocumented parameters, documented names that are not parameters) of ``func``."""
    documented = documented_args(inspect.getdoc(func) or "")
    params = signature_args(func)
    return (
        [p for p in params if p not in documented],
        [d for d in documented if d not in params],
    )


def _check(app, what, name, obj, options, lines):
    # autosummary's tables fire this event too: report each function once.
    if what not in ("function", "method") or not callable(obj) or name in _reported:
        return
    _reported.add(name)
    from sphinx.util import logging

    missing, unknown = args_mismatch(obj)
    logger = logging.getLogger(__name__)
    location = f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]}"
    if missing:
        logger.warning(
            "%s: the docstring's Args section does not describe %s",
            name,
            ", ".join(missing),
            location=location,
        )
    if unknown:
        logger.warning(
            "%s: the docstring's Args section describes %s, which the signature lacks "
            "(renamed or removed?)",
            name,
            ", ".join(unknown),
            location=location,
        )


_reported: set[str] = set()


def setup(app):
    app.connect("autodoc-process-docstring", _check, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
