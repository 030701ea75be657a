"""``guide.html``: the interview guide, section by section, with every claim marked by its verdict.

Each quantitative claim the registry holds is found in the guide's text (by its
quote, or the fragments of a quote joined with ``/`` or ``…``) and marked inline
with its verdict and a link to its row in ``index.html``; each ``###`` section
names the notebooks that cover it (``benchmarks/guide_sections.yaml``) or says
"not covered yet"; the top gives the coverage: sections covered and claims with
a verdict. The guide's markdown is rendered by markdown-it-py, with the marks
placed by :mod:`labkit.report.marked`, and the page by ``templates/guide.html.j2``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from markupsafe import Markup

from labkit.core.paths import REPO
from labkit.report.claims import NOT_MEASURABLE, NOT_MEASURED, VERDICT_CLASS, load_registry
from labkit.report.marked import Mark, MarkedMarkdown
from labkit.report.model import NOTEBOOKS
from labkit.report.render import render_template

__all__ = ["GUIDE", "SECTIONS", "close_fences", "coverage", "locate_claims", "status_table", "structure_notes", "units",
           "write_guide"]

_ROOT = REPO / "benchmarks"
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


def _headings(text: str, level: int) -> list[tuple[str, int]]:
    """(heading, offset) of each heading of ``level`` hashes, outside code fences.

    The guide has a code block that is cut off and never closed (its line ``"spark.driver---``); a ``##``/``###``
    heading at the start of a line ends such a block.
    """
    heads, fence, pos, mark = [], False, 0, "#" * level + " "
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fence = not fence
        elif fence and _HEADING.match(line):
            fence = False
        if not fence and line.startswith(mark):
            heads.append((line[len(mark):].strip(), pos))
        pos += len(line)
    return heads


def _sections(text: str) -> list[tuple[str, int, int]]:
    """(heading, start, end) of each ``###`` section, outside code fences."""
    heads = _headings(text, 3)
    return [(h, s, heads[i + 1][1] if i + 1 < len(heads) else len(text)) for i, (h, s) in enumerate(heads)]


def _parts(text: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """(heading, start, end) of each ``####`` part of the section ``text[start:end]``, in offsets of ``text``."""
    heads = [(h, start + p) for h, p in _headings(text[start:end], 4)]
    return [(h, s, heads[i + 1][1] if i + 1 < len(heads) else end) for i, (h, s) in enumerate(heads)]


def _lookup(heading: str, mapping: dict) -> tuple[bool, Any]:
    """The value mapped to a heading by the start of its text: (found, value)."""
    for start, value in (mapping or {}).items():
        if heading.startswith(start):
            return True, value
    return False, None


def _notebooks_for(heading: str, mapping: dict) -> list[str] | None:
    """The notebooks mapped to a ``###`` question without parts (None when the heading is not in the map)."""
    found, value = _lookup(heading, mapping)
    if not found:
        return None
    return [n for part in value.values() for n in part or []] if isinstance(value, dict) else list(value or [])


def units(text: str, mapping: dict) -> list[dict[str, Any]]:
    """The parts coverage counts: each ``####`` answer, or a ``###`` question without parts, with its notebooks.

    Parameters
    ----------
    text : str
        The guide.
    mapping : dict
        ``benchmarks/guide_sections.yaml``: a question maps to its notebooks, or (when it has ``####`` parts) to a
        map of each part to its notebooks.

    Returns
    -------
    list of dict
        ``section``, ``part`` (``""`` for a question without parts), ``notebooks``, ``mapped`` (False when the map
        does not name it: it counts as not covered).

    Raises
    ------
    ValueError
        When a question with parts is mapped to one list: each part must be mapped on its own.
    """
    out = []
    for heading, start, end in _sections(text):
        found, value = _lookup(heading, mapping)
        parts = _parts(text, start, end)
        if parts and found and not isinstance(value, dict):
            raise ValueError(f"guide_sections.yaml: {heading!r} has {len(parts)} '####' parts; map each part")
        if not parts:
            out.append({"section": heading, "part": "", "notebooks": list(value or []) if found else [],
                        "mapped": found})
            continue
        for part, _, _ in parts:
            hit, nbs = _lookup(part, value if isinstance(value, dict) else {})
            out.append({"section": heading, "part": part, "notebooks": list(nbs or []), "mapped": hit})
    return out


_TOC = re.compile(r"^\d+\. \[([^\]]+)\]\(#[^)]*\)", re.M)


def structure_notes(text: str) -> list[str]:
    r"""What the guide's own structure gets wrong: table-of-contents entries with no section, and question numbers
    that skip.

    Examples
    --------
    >>> structure_notes("## Table of Contents\n1. [A](#a)\n2. [B](#b)\n## A\n### 1. x\n### 3. y\n")
    ['The table of contents lists "B", a section the guide does not have.', 'A: questions 1, 3; 2 is missing.']
    """
    notes = []
    level2 = [h for h, _ in _headings(text, 2)]
    for name in _TOC.findall(text):
        if name not in level2:
            notes.append(f'The table of contents lists "{name}", a section the guide does not have.')
    groups = [(h, p) for h, p in _headings(text, 2) if h != "Table of Contents"]
    for i, (group, start) in enumerate(groups):
        end = groups[i + 1][1] if i + 1 < len(groups) else len(text)
        numbers = [int(m.group(1)) for h, _ in _headings(text[start:end], 3) if (m := re.match(r"(\d+)\.", h))]
        missing = sorted(set(range(1, max(numbers, default=0) + 1)) - set(numbers))
        if missing:
            gone = ", ".join(map(str, missing))
            notes.append(f"{group}: questions {', '.join(map(str, numbers))}; {gone} "
                         f"{'is' if len(missing) == 1 else 'are'} missing.")
    return notes


def coverage(text: str, mapping: dict, present: set[str], table: pd.DataFrame) -> dict[str, Any]:
    """Parts covered by an existing notebook, and claims with a verdict.

    A part is a ``####`` answer, or a ``###`` question that has none; a question is never covered because one of
    its parts is.

    Returns
    -------
    dict
        ``sections`` (``###`` questions), ``parts``, ``parts_covered``, ``claims``, ``claims_judged``,
        ``uncovered`` ("question › part" of each part not covered), ``structure`` (:func:`structure_notes`).
    """
    every = units(text, mapping)
    covered = [u for u in every if set(u["notebooks"]) & present]
    judged = int((~table["verdict"].isin(_UNJUDGED)).sum())
    return {"sections": len(_sections(text)), "parts": len(every), "parts_covered": len(covered),
            "claims": len(table), "claims_judged": judged,
            "uncovered": [u["section"] + (f" › {u['part']}" if u["part"] else "") for u in every if u not in covered],
            "structure": structure_notes(text)}


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
    notebook_dir = Path(notebook_dir) if notebook_dir else NOTEBOOKS
    mapping = yaml.safe_load(Path(sections).read_text(encoding="utf-8")) or {}
    named = {n for value in mapping.values()
             for n in ([m for v in value.values() for m in v or []] if isinstance(value, dict) else value or [])}
    per_nb: dict[str, int] = {}
    for c in load_registry():
        per_nb[c.notebook] = per_nb.get(c.notebook, 0) + 1
    rows = {}
    for path in sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"]).splitlines()[0] if cells else path.stem
        rows[path.stem] = {"title": first.lstrip("# ").split("·", 1)[-1].strip(), "status": "ready"}
    for name in sorted(named | set(per_nb)):
        rows.setdefault(name, {"title": name[3:].replace("_", " "), "status": "planned"})
    table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    table["claims"] = [per_nb.get(n, 0) for n in table.index]
    return table


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
    raw = Path(guide).read_text(encoding="utf-8")
    text = close_fences(re.sub(r"\A<!--.*?-->\s*", "", raw, flags=re.S))  # without our provenance note
    mapping = yaml.safe_load(Path(sections).read_text(encoding="utf-8")) or {}
    rows = {r["id"]: r for r in table.to_dict("records")}
    groups = _mark_groups(locate_claims(text, table))
    doc = MarkedMarkdown(text, [_mark(s, e, [rows[i] for i in ids]) for (s, e), ids in groups])
    body = _body(doc, mapping, present)
    placed = {cid for n in doc.placed for cid in groups[n][1]}
    lost = [r for r in table.to_dict("records") if r["id"] not in placed]
    page = render_template("guide.html.j2", cov=coverage(raw, mapping, present, table), marked=len(placed), lost=lost,
                           htmls=dict(htmls), **body)
    dest = Path(run_dir) / "guide.html"
    dest.write_text(page, encoding="utf-8")
    return dest


def close_fences(text: str) -> str:
    r"""The guide with each code block it never closed closed before the heading that ends it (as :func:`_headings`
    reads it), so that a markdown parser ends it there too.

    Examples
    --------
    >>> close_fences("```\nspark.driver---\n\n## Next part\ntext\n")
    '```\nspark.driver---\n\n```\n## Next part\ntext\n'
    """
    out, fence = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fence = not fence
        elif fence and _HEADING.match(line):
            out.append("```\n")
            fence = False
        out.append(line)
    return "".join(out)


def _mark_groups(where: dict[str, tuple[int, int]]) -> list[tuple[tuple[int, int], list[str]]]:
    """The located claims as disjoint spans, in order: a span inside or overlapping another joins it (one mark)."""
    groups: list[tuple[tuple[int, int], list[str]]] = []
    for cid, (s, e) in sorted(where.items(), key=lambda item: (item[1][0], -item[1][1])):
        if groups and s < groups[-1][0][1]:
            (gs, ge), ids = groups[-1]
            groups[-1] = ((gs, max(ge, e)), [*ids, cid])
        else:
            groups.append(((s, e), [cid]))
    return groups


def _mark(start: int, end: int, rows: list[dict[str, Any]]) -> Mark:
    """The mark of one span: coloured by its first claim's verdict, the evidence as its title, a badge per claim."""
    title = " | ".join(f"{r['id']}: guide {r['guide']}, ours {r['ours']}. {r['detail'] or ''}" for r in rows)
    badges = Markup("").join(Markup('<a class="badge" href="index.html#claim-{}">[{}: {}]</a>').format(
        r["id"], r["verdict"], str(r["ours"])) for r in rows)
    return Mark(start, end, Markup('<mark class="{}" title="{}">').format(VERDICT_CLASS[rows[0]["verdict"]], title),
                badges)


def _split(markup: str, tag: str) -> tuple[Markup, Markup]:
    """Rendered HTML cut after its first heading ``tag`` (where the template puts a note), or all of it as the rest."""
    head, cut, rest = markup.partition(f"</{tag}>")
    return (Markup(head + cut), Markup(rest)) if cut else (Markup(""), Markup(head))


def _names(nbs: list[str] | None, present: set[str]) -> dict[str, list[str]]:
    """A part's notebooks as data for the template: those that exist, and the planned ones."""
    nbs = list(nbs or [])
    return {"have": [n for n in nbs if n in present], "planned": [n for n in nbs if n not in present]}


def _body(doc: MarkedMarkdown, mapping: dict, present: set[str]) -> dict[str, Any]:
    """The guide cut into its sections and parts for the template, each rendered with its marks; notebook names as data.

    A question without ``####`` parts gets its note after its heading; a question with parts gets one after each
    part's heading (coverage counts parts). The names stay plain strings, so the template escapes them. Text before
    the first section is the preamble. The pieces are rendered in the guide's order: a mark may run on into the next.
    """
    secs = _sections(doc.text)
    preamble = Markup(doc.render(0, secs[0][1]) if secs else doc.render(0, len(doc.text)))
    sections = []
    for heading, start, end in secs:
        _, value = _lookup(heading, mapping)
        parts = _parts(doc.text, start, end)
        head, rest = _split(doc.render(start, parts[0][1] if parts else end), "h4")
        section = {"head": head, "rest": rest, "parts": [],
                   **_names(None if parts or isinstance(value, dict) else value, present)}
        for part, ps, pe in parts:
            _, nbs = _lookup(part, value if isinstance(value, dict) else {})
            phead, prest = _split(doc.render(ps, pe), "h5")
            section["parts"].append({"head": phead, "rest": prest, **_names(nbs, present)})
        sections.append(section)
    return {"preamble": preamble, "sections": sections}
