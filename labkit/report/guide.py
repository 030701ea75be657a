"""``guide.html``: the interview guide, section by section, with every claim marked by its verdict.

Each quantitative claim the registry holds is found in the guide's text (by its
quote, or the fragments of a quote joined with ``/`` or ``…``) and marked inline
with its verdict and a link to its row in ``index.html``; each ``###`` section
names the notebooks that cover it (``benchmarks/guide_sections.yaml``) or says
"not covered yet"; the top gives the coverage: sections covered and claims with
a verdict.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from labkit.report.claims import NOT_MEASURABLE, NOT_MEASURED, VERDICT_CLASS
from labkit.report.html import render_template

__all__ = ["GUIDE", "SECTIONS", "coverage", "locate_claims", "status_table", "write_guide"]

_ROOT = Path(__file__).resolve().parents[2] / "benchmarks"
GUIDE = _ROOT / "guide.md"
SECTIONS = _ROOT / "guide_sections.yaml"
_UNJUDGED = (NOT_MEASURED, NOT_MEASURABLE)


def _fragments(quote: str) -> list[str]:
    """The pieces of a quote that appear verbatim in the guide (joined in the registry with / or …)."""
    parts = [p.strip(" .") for p in re.split(r" / | … |…", quote)]
    return [p for p in parts if len(p) >= 8]


_DROP = set("*`'\",#")


def _normalise(text: str) -> tuple[str, list[int]]:
    """Text without markdown marks, quotes, commas and ``#``, whitespace collapsed; and each char's original offset."""
    out, where, space = [], [], False
    for i, ch in enumerate(text):
        if ch in _DROP:
            continue
        if ch.isspace():
            space = bool(out)
            continue
        if space:
            out.append(" ")
            where.append(i)
            space = False
        out.append(ch)
        where.append(i)
    return "".join(out), where


def locate_claims(text: str, table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Where each claim's quote is in the guide: ``{claim id: (start, end)}`` of its first fragment found.

    Quotes are matched ignoring markdown marks, quotes, commas, ``#`` and line breaks (a quote
    of a code line keeps its words, not its layout). Two claims quoting the same words share a span.

    Parameters
    ----------
    text : str
        The guide.
    table : pandas.DataFrame
        :func:`labkit.report.claims.evaluate` output (``id`` and ``claim`` columns).

    Returns
    -------
    dict
        Claims whose quote was not found are absent (``write_guide`` lists them at the top).
    """
    flat, where = _normalise(text)
    found: dict[str, tuple[int, int]] = {}
    for r in table.to_dict("records"):
        for frag in _fragments(r["claim"]):
            needle = _normalise(frag)[0]
            start = flat.find(needle) if needle else -1
            if start >= 0:
                found[r["id"]] = (where[start], where[start + len(needle) - 1] + 1)
                break
    return found


_HEADING = re.compile(r"#{2,3} [A-Z0-9]")  # a markdown heading that also ends a code block the guide never closed


def _sections(text: str) -> list[tuple[str, int, int]]:
    """(heading, start, end) of each ``###`` section, outside code fences.

    The guide has a code block that is cut off and never closed (its line ``"spark.driver---``); a ``##``/``###``
    heading at the start of a line ends such a block.
    """
    heads, fence, pos = [], False, 0
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fence = not fence
        elif fence and _HEADING.match(line):
            fence = False
        if not fence and line.startswith("### "):
            heads.append((line[4:].strip(), pos))
        pos += len(line)
    return [(h, s, heads[i + 1][1] if i + 1 < len(heads) else len(text)) for i, (h, s) in enumerate(heads)]


def _notebooks_for(heading: str, mapping: dict[str, list[str]]) -> list[str] | None:
    """The notebooks mapped to a heading (None when the heading is not in the map)."""
    for start, notebooks in mapping.items():
        if heading.startswith(start):
            return list(notebooks or [])
    return None


def coverage(text: str, mapping: dict[str, list[str]], present: set[str], table: pd.DataFrame) -> dict[str, Any]:
    """Sections covered by an existing notebook, and claims with a verdict.

    Returns
    -------
    dict
        ``sections``, ``sections_covered``, ``claims``, ``claims_judged``, ``uncovered`` (headings).
    """
    secs = _sections(text)
    covered = [h for h, _, _ in secs if set(_notebooks_for(h, mapping) or []) & present]
    judged = int((~table["verdict"].isin(_UNJUDGED)).sum())
    return {"sections": len(secs), "sections_covered": len(covered), "claims": len(table),
            "claims_judged": judged, "uncovered": [h for h, _, _ in secs if h not in covered]}


def status_table(notebook_dir: Path | None = None, sections: Path = SECTIONS) -> pd.DataFrame:
    """The lab's notebooks, generated from what exists: ready ones with their title, planned ones from the section map.

    Parameters
    ----------
    notebook_dir : path, optional
        ``notebooks/`` of this repository by default.
    sections : path
        The guide's section → notebooks map (it names the planned notebooks).

    Returns
    -------
    pandas.DataFrame
        Indexed by notebook: ``title``, ``status`` (ready | planned), ``claims`` (registry entries it checks).
    """
    import json

    import yaml

    from labkit.report.claims import load_registry

    notebook_dir = Path(notebook_dir) if notebook_dir else Path(__file__).resolve().parents[2] / "notebooks"
    mapping = yaml.safe_load(Path(sections).read_text(encoding="utf-8")) or {}
    per_nb: dict[str, int] = {}
    for c in load_registry():
        per_nb[c.notebook] = per_nb.get(c.notebook, 0) + 1
    rows = {}
    for path in sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"]).splitlines()[0] if cells else path.stem
        rows[path.stem] = {"title": first.lstrip("# ").split("·", 1)[-1].strip(), "status": "ready"}
    for name in sorted({n for nbs in mapping.values() for n in (nbs or [])} | set(per_nb)):
        rows.setdefault(name, {"title": name[3:].replace("_", " "), "status": "planned"})
    table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    table["claims"] = [per_nb.get(n, 0) for n in table.index]
    return table


def _render(block: str) -> str:
    """Markdown-ish text to HTML: code fences as <pre>, headings, bold, line breaks (already escaped marks kept)."""
    out, fence, buf = [], False, []
    for line in block.split("\n"):
        if line.startswith("```"):
            if fence:
                out.append("<pre>" + "\n".join(buf) + "</pre>")
                buf = []
            fence = not fence
            continue
        if fence and _HEADING.match(line):  # the guide's unclosed block ends at the next heading
            out.append("<pre>" + "\n".join(buf) + "</pre>")
            buf, fence = [], False
        if fence:
            buf.append(line)
            continue
        m = re.match(r"(#{1,5}) (.*)", line)
        if m:
            level = min(len(m.group(1)) + 1, 6)
            out.append(f"<h{level}>{m.group(2)}</h{level}>")
        elif line.strip():
            bold = re.sub(r"\*\*([^<>*]+?)\*\*", r"<b>\1</b>", line)  # not across a mark's tags
            out.append(bold.replace("**", "") + "<br>")
    if buf:
        out.append("<pre>" + "\n".join(buf) + "</pre>")
    return "\n".join(out)


def write_guide(run_dir: Path, table: pd.DataFrame, present: set[str], htmls: dict[str, str],
                guide: Path = GUIDE, sections: Path = SECTIONS) -> Path:
    """Write ``guide.html`` into a run folder.

    Parameters
    ----------
    run_dir : path
        The report's folder (``index.html`` is beside it: claims link to ``index.html#claim-<id>``).
    table : pandas.DataFrame
        :func:`labkit.report.claims.evaluate` output for this run.
    present : set of str
        Notebooks that exist in the lab.
    htmls : mapping of notebook name to its HTML file name in the run, for links.
    guide, sections : path
        The guide's text and the section → notebooks map.

    Returns
    -------
    pathlib.Path
    """
    import yaml

    text = re.sub(r"\A<!--.*?-->\s*", "", Path(guide).read_text(encoding="utf-8"), flags=re.S)  # our provenance note
    mapping = yaml.safe_load(Path(sections).read_text(encoding="utf-8")) or {}
    where = locate_claims(text, table)
    rows = {r["id"]: r for r in table.to_dict("records")}
    # sentinels around each located claim, so escaping the text keeps them
    spans: dict[tuple[int, int], list[str]] = {}
    for cid, span in where.items():
        spans.setdefault(span, []).append(cid)
    taken: list[tuple[int, int]] = []
    for s, e in sorted(spans, key=lambda se: (se[0], -se[1])):  # a span inside another one joins the outer mark
        outer = next((t for t in taken if t[0] <= s and e <= t[1]), None)
        if outer:
            spans[outer] += spans.pop((s, e))
        else:
            taken.append((s, e))
    for s, e in sorted(spans, reverse=True):
        text = text[:s] + f"\x00{'|'.join(spans[(s, e)])}\x01" + text[s:e] + "\x02" + text[e:]
    escaped = html.escape(text)

    def mark(m: re.Match) -> str:
        ids = m.group(1).split("|")
        first = rows[ids[0]]
        title = html.escape(" | ".join(f"{i}: guide {rows[i]['guide']}, ours {rows[i]['ours']}. "
                                       f"{rows[i]['detail'] or ''}"
                                       for i in ids), quote=True)
        badges = "".join(f'<a class="badge" href="index.html#claim-{html.escape(i)}">[{html.escape(rows[i]["verdict"])}'
                         f': {html.escape(str(rows[i]["ours"]))}]</a>' for i in ids)
        return f'<mark class="{VERDICT_CLASS[first["verdict"]]}" title="{title}">{m.group(2)}{badges}</mark>'

    escaped = re.sub("\x00([^\x01]+)\x01(.*?)\x02", mark, escaped, flags=re.S)
    cov = coverage(Path(guide).read_text(encoding="utf-8"), mapping, present, table)
    lost = [r for r in table.to_dict("records") if r["id"] not in where]
    page = render_template("guide.html.j2", cov=cov, marked=len(where), lost=lost, htmls=dict(htmls),
                           **_body(escaped, mapping, present))
    dest = Path(run_dir) / "guide.html"
    dest.write_text(page, encoding="utf-8")
    return dest


def _body(escaped: str, mapping: dict[str, list[str]], present: set[str]) -> dict[str, Any]:
    """The escaped, marked guide cut into its sections for the template: markup, and the notebook names as data.

    Each section's HTML is split after its heading, where the template puts the note naming its notebooks (the
    names stay plain strings, so the template escapes them). Text before the first section is the preamble.
    """
    secs = _sections(escaped)
    sections = []
    for heading, start, end in secs:
        nbs = _notebooks_for(html.unescape(heading), mapping) or []
        head, cut, rest = _render(escaped[start:end]).partition("</h4>")
        sections.append({"head": Markup(head + cut if cut else ""), "rest": Markup(rest if cut else head),
                         "have": [n for n in nbs if n in present], "planned": [n for n in nbs if n not in present]})
    return {"preamble": Markup(_render(escaped[:secs[0][1]]) if secs else ""), "sections": sections}
