"""Markdown to HTML with spans of the source marked: markdown-it-py renders, and each span becomes a ``<mark>``.

The guide's claims are located in its markdown source, by offsets. Each span's two ends are written into the
source as placeholder words (letters and digits only, with a prefix the document does not contain, so markdown
parses the text as before), and the renderer's rules for text, inline code and code blocks turn them back into the
mark's tags. A mark never crosses an element: where its span does (bold text, a line break, a code block, a
heading), it is closed at the end of one text piece and opened again in the next, so the page stays well nested.
The badges that end a mark are written once, where its span ends. Raw HTML in the markdown is shown as text.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll

__all__ = ["Mark", "MarkedMarkdown"]

_CLOSE = "</mark>"
# what may open a line before its text: indentation, list markers, quote marks, heading marks
_LEAD = re.compile(r"[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+|>[ \t]?|#{1,6}[ \t]+)*")


@dataclass(frozen=True)
class Mark:
    """A span of the source to mark: its offsets, the tag that opens the mark, and the HTML written where it ends.

    ``open`` and ``badges`` are HTML the caller built with escaping (``markupsafe.Markup.format``).
    """

    start: int
    end: int
    open: str
    badges: str = ""


class MarkedMarkdown:
    """One markdown document rendered piece by piece, in order, with marks that may run from one piece on.

    Parameters
    ----------
    text : str
        The whole document; :meth:`render` takes the offsets of a piece of it.
    marks : sequence of Mark
        Spans of ``text`` that do not overlap.

    Examples
    --------
    >>> doc = "Salting makes **the join 5x faster** here."
    >>> md = MarkedMarkdown(doc, [Mark(doc.index("the"), doc.index("** here"), '<mark class="holds">', "[ok]")])
    >>> md.render(0, len(doc))
    '<p>Salting makes <strong><mark class="holds">the join 5x faster[ok]</mark></strong> here.</p>\\n'
    >>> md.placed
    {0}
    """

    def __init__(self, text: str, marks: Sequence[Mark]):
        spans = sorted((m.start, m.end) for m in marks)
        if any(a[1] > b[0] for a, b in itertools.pairwise(spans)):
            raise ValueError("marks overlap: join them into one before rendering")
        self.text, self.marks = text, list(marks)
        self._starts = [self._after_markers(m.start, m.end) for m in self.marks]
        prefix = "LabkitMark"
        while prefix in text:
            prefix += "X"
        self._prefix, self._word = prefix, re.compile(prefix + r"(\d+)([SE])")
        self._env: dict[str, Any] = {"open": None, "placed": set()}
        self._md = _parser(self)

    @property
    def placed(self) -> set[int]:
        """The indexes of the marks placed so far, each opened and ended in text (not lost in a link's address)."""
        return set(self._env["placed"])

    def render(self, start: int, end: int) -> str:
        """``text[start:end]`` as HTML, with the mark ends that fall inside it placed.

        A mark still open at the end of the previous piece goes on in this one.
        """
        cuts = sorted([(s, 1, f"{self._prefix}{i}S") for i, s in enumerate(self._starts) if start <= s < end]
                      + [(m.end, 0, f"{self._prefix}{i}E") for i, m in enumerate(self.marks) if start < m.end <= end])
        pieces, at = [], start
        for offset, _, word in cuts:  # at one offset, a mark ends before the next one starts
            pieces += [self.text[at:offset], word]
            at = offset
        html = self._md.render("".join(pieces) + self.text[at:end], self._env)
        if self._env["open"] is not None and self.marks[self._env["open"]].end <= end:
            self._env["open"] = None  # its end fell in a link's address: the mark is lost (not placed), not run on
        return self._word.sub("", html)  # a placeholder in an address: removed, the address kept

    def _after_markers(self, start: int, end: int) -> int:
        """Where a mark starting at ``start`` opens: after the list, quote or heading marks that begin its line, so
        that its placeholder leaves the line's structure as it was."""
        line = self.text.rfind("\n", 0, start) + 1
        lead = _LEAD.match(self.text, line).end()
        return min(lead, end - 1) if start < lead else start

    def _mark_text(self, content: str) -> str:
        """Escaped ``content`` with its placeholders as mark tags; a mark open at its end is closed (and reopened)."""
        env, out = self._env, []
        if env["open"] is not None:
            out.append(str(self.marks[env["open"]].open))
        at = 0
        for m in self._word.finditer(content):
            out.append(escapeHtml(content[at:m.start()]))
            at, i = m.end(), int(m.group(1))
            if m.group(2) == "S" and env["open"] is None:
                env["open"] = i
                out.append(str(self.marks[i].open))
            elif m.group(2) == "E" and env["open"] == i:
                env["open"] = None
                env["placed"].add(i)
                out.append(str(self.marks[i].badges) + _CLOSE)
        out.append(escapeHtml(content[at:]))
        if env["open"] is not None:  # closed here, opened again in the next piece of text (an empty mark is dropped)
            while out and not out[-1]:
                out.pop()
            if out and out[-1] == str(self.marks[env["open"]].open):
                out.pop()
            else:
                out.append(_CLOSE)
        return "".join(out)


def _parser(doc: MarkedMarkdown) -> MarkdownIt:
    """CommonMark with tables, raw HTML off, line breaks kept, headings one level down (the page's own title is
    the only ``<h1>``), and text, inline code and code blocks rendered through :meth:`MarkedMarkdown._mark_text`."""
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "xhtmlOut": False}).enable("table")

    def text(self, tokens, idx, options, env):
        return doc._mark_text(tokens[idx].content)

    def code_inline(self, tokens, idx, options, env):
        return f"<code{self.renderAttrs(tokens[idx])}>{doc._mark_text(tokens[idx].content)}</code>"

    def code_block(self, tokens, idx, options, env):
        return f"<pre><code>{doc._mark_text(tokens[idx].content)}</code></pre>\n"

    def fence(self, tokens, idx, options, env):
        info = unescapeAll(tokens[idx].info).strip()
        lang = info.split(maxsplit=1)[0] if info else ""
        cls = f' class="{escapeHtml(options.langPrefix + lang)}"' if lang else ""
        return f"<pre><code{cls}>{doc._mark_text(tokens[idx].content)}</code></pre>\n"

    def heading_open(self, tokens, idx, options, env):
        return f"<h{min(int(tokens[idx].tag[1]) + 1, 6)}>"

    def heading_close(self, tokens, idx, options, env):
        return f"</h{min(int(tokens[idx].tag[1]) + 1, 6)}>\n"

    for name, rule in {"text": text, "code_inline": code_inline, "code_block": code_block, "fence": fence,
                       "heading_open": heading_open, "heading_close": heading_close}.items():
        md.add_render_rule(name, rule)
    return md
