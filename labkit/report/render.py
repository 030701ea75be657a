"""The report's templates: one Jinja2 environment that escapes every value by default.

``index.html`` and ``guide.html`` are rendered from ``labkit/report/templates/*.j2``. A value reaches a page
unescaped only when it is ``markupsafe.Markup``: HTML that labkit built from escaped text (the guide's rendered
markdown, an embedded plot).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["TEMPLATES", "render_template"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The Jinja2 environment of the report's pages: templates from :data:`TEMPLATES`, autoescape always on."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def render_template(name: str, **context: Any) -> str:
    """Render one of the report's templates; every value is HTML-escaped unless it is ``markupsafe.Markup``.

    Parameters
    ----------
    name : str
        A file in :data:`TEMPLATES` (``index.html.j2``, ``guide.html.j2``).
    **context
        The template's variables (a missing one is an error, not an empty string).

    Returns
    -------
    str

    Examples
    --------
    >>> "<script>" in render_template("guide.html.j2", cov=dict(sections=1, parts=1, parts_covered=0, claims=0,
    ...     claims_judged=0, structure=[]), marked=0, lost=[], htmls={}, preamble="", sections=[
    ...     {"head": "", "rest": "", "parts": [], "have": [], "planned": ["<script>alert(1)</script>"]}])
    False
    """
    return _environment().get_template(name).render(**context)
