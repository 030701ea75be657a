"""The interview questions the notebooks answer: one catalogue, built from the notebooks' tagged cells, and
``answers.html``, every answer hidden until clicked.

One source for every question. A question's home is a markdown cell of the notebook that proves it, tagged
``question``; its cell metadata ``labkit.question`` holds the catalogue's facts::

    {"id": "skew-salting", "guide": ["Data Skewness - Detection and Handling"], "claims": ["skew-salting-5x"],
     "quote": ["sweep.80pct.salted_16.speedup"], "settings": ["spark.sql.adaptive.skewJoin.enabled"],
     "proof": "<the id of the code cell that shows it>"}

``guide`` names the guide's ``###`` questions (keys of ``benchmarks/guide_sections.yaml``) the entry answers
(empty for a notebook's own follow-up); ``claims`` the claim and statement ids it rests on; ``quote`` the results
keys of its notebook whose measured values are *the number to quote* (read from a run's results, never typed);
``settings`` the Spark settings an interviewer asks about with it. The cell's first line is the question. The next
cell, tagged ``answer``, is the 30-second answer inside ``<details>`` (so JupyterLab and the HTML hide it until
clicked); the cells after it tagged ``followup`` are one follow-up each, ``<details><summary>Follow-up: the
question</summary> the answer</details>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markupsafe import Markup

from labkit.report.claims import _fmt, load_registry
from labkit.report.model import NOTEBOOKS
from labkit.report.render import render_template
from labkit.report.statements import load_statements

__all__ = ["CatalogueError", "Question", "catalogue", "guide_questions", "numbers_to_quote", "run_setting",
           "write_answers"]

SECTIONS = NOTEBOOKS.parent / "benchmarks" / "guide_sections.yaml"
_DETAILS = re.compile(r"^\s*<details>\s*<summary>(?P<summary>.*?)</summary>(?P<body>.*)</details>\s*$", re.S)
_FIELDS = {"id", "guide", "claims", "quote", "settings", "proof"}


class CatalogueError(ValueError):
    """A tagged cell the catalogue cannot read: the message names the notebook, the cell id and what is wrong."""


@dataclass(frozen=True)
class Question:
    """One catalogue entry: a question, its 30-second answer, its follow-ups and what it rests on."""

    id: str
    notebook: str
    cell: str  # the id of the question's markdown cell
    question: str
    answer: str  # markdown
    followups: tuple[tuple[str, str], ...]  # (question, answer markdown)
    guide: tuple[str, ...]
    claims: tuple[str, ...]
    quote: tuple[str, ...]
    settings: tuple[str, ...]
    proof: str  # the id of the code cell that shows it


def _text(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _details(cell: Mapping[str, Any], where: str) -> tuple[str, str]:
    """``(summary text, body markdown)`` of a cell that is one ``<details>`` block."""
    found = _DETAILS.match(_text(cell))
    if not found:
        raise CatalogueError(f"{where}: an answer or follow-up cell must be one <details><summary>...</summary> "
                             "... </details> block")
    summary = re.sub(r"<[^>]+>", "", found["summary"]).strip()
    body = found["body"].strip()
    if not body:
        raise CatalogueError(f"{where}: the answer is empty")
    return summary, body


def _meta(cell: Mapping[str, Any], where: str) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("labkit", {}).get("question")
    if not isinstance(meta, dict) or not isinstance(meta.get("id"), str) or not meta.get("proof"):
        raise CatalogueError(f"{where}: a question cell needs metadata labkit.question with an 'id' and a 'proof'")
    unknown = set(meta) - _FIELDS
    if unknown:
        raise CatalogueError(f"{where}: unknown labkit.question fields {sorted(unknown)}; known: {sorted(_FIELDS)}")
    for name in ("guide", "claims", "quote", "settings"):
        value = meta.get(name, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise CatalogueError(f"{where}: labkit.question.{name} must be a list of strings, got {value!r}")
    return meta


def _read_notebook(path: Path) -> list[Question]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    kinds = {c.get("id"): c["cell_type"] for c in cells}
    found, i = [], 0
    while i < len(cells):
        cell = cells[i]
        i += 1
        if "question" not in cell.get("metadata", {}).get("tags", []):
            continue
        where = f"{path.name}, cell {cell.get('id')}"
        meta = _meta(cell, where)
        if kinds.get(meta["proof"]) != "code":
            raise CatalogueError(f"{where}: proof {meta['proof']!r} is not the id of a code cell of {path.name}")
        lines = [ln.strip() for ln in _text(cell).strip().splitlines()]
        text = re.sub(r"^#+\s*(\d+\.\s*)?(Interview question:\s*)?", "", lines[0] if lines else "").strip()
        if cell["cell_type"] != "markdown" or not text:
            raise CatalogueError(f"{where}: a question cell is markdown whose first line is the question")
        answer, followups = None, []
        while i < len(cells) and {"answer", "followup"} & set(cells[i].get("metadata", {}).get("tags", [])):
            tags, at = cells[i]["metadata"]["tags"], f"{path.name}, cell {cells[i].get('id')}"
            summary, body = _details(cells[i], at)
            if "answer" in tags:
                answer = body
            else:
                followups.append((re.sub(r"^Follow-up:\s*", "", summary), body))
            i += 1
        if answer is None:
            raise CatalogueError(f"{where}: the question has no cell tagged 'answer' right after it")
        found.append(Question(meta["id"], path.stem, cell.get("id", ""), text, answer, tuple(followups),
                              *(tuple(meta.get(n, [])) for n in ("guide", "claims", "quote", "settings")),
                              meta["proof"]))
    return found


def catalogue(notebook_dir: str | Path = NOTEBOOKS, sections: str | Path = SECTIONS) -> list[Question]:
    """Every question the notebooks answer, in notebook order, read from their tagged cells.

    Parameters
    ----------
    notebook_dir : path
        The ``NN_topic.ipynb`` notebooks.
    sections : path
        ``guide_sections.yaml``: the guide's questions an entry may name.

    Returns
    -------
    list of Question

    Raises
    ------
    CatalogueError
        For a tagged cell that cannot be read, an id used twice, a ``proof`` that is not a code cell of its
        notebook, a guide question the guide does not have, or a claim no registry holds.
    """
    known_guide = set(yaml.safe_load(Path(sections).read_text(encoding="utf-8")))
    known_claims = {c.id for c in load_registry()} | {s.id for s in load_statements()}
    out: list[Question] = []
    for path in sorted(Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")):
        for q in _read_notebook(path):
            where = f"{q.notebook}, question {q.id!r}"
            if any(q.id == o.id for o in out):
                raise CatalogueError(f"{where}: the id is used by another question")
            if set(q.guide) - known_guide:
                raise CatalogueError(f"{where}: {sorted(set(q.guide) - known_guide)} are not questions of "
                                     f"{Path(sections).name}")
            if set(q.claims) - known_claims:
                raise CatalogueError(f"{where}: no claim or statement {sorted(set(q.claims) - known_claims)}")
            out.append(q)
    return out


def guide_questions(present: set[str], sections: str | Path = SECTIONS) -> list[str]:
    """The guide's ``###`` questions that a notebook of ``present`` covers in part or whole (the catalogue's duty).

    Examples
    --------
    >>> "13. Max Annual CTC per Department" in guide_questions({"09_window_top_per_group"})
    True
    """
    out = []
    for key, value in yaml.safe_load(Path(sections).read_text(encoding="utf-8")).items():
        nbs = {n for part in value.values() for n in part or []} if isinstance(value, dict) else set(value or [])
        if nbs & present:
            out.append(key)
    return out


def numbers_to_quote(question: Question, results: Mapping[str, Any] | None, setting: str) -> list[dict[str, str]]:
    """The measured figures an answer quotes, from its notebook's results in one run, each with its setting.

    Parameters
    ----------
    question : Question
    results : dict or None
        The notebook's results document (``NN.json``: ``results`` maps a key to value, unit, kind and note).
    setting : str
        Where the numbers come from (scale, cores, date), appended to each.

    Returns
    -------
    list of dict
        ``key``, ``text`` (the value with its unit, or why there is none) and ``note``.
    """
    recorded = (results or {}).get("results", {})
    out = []
    for key in question.quote:
        r = recorded.get(key)
        if r is None or r.get("value") is None:
            why = "not in this run" if r is None else (r.get("note") or "not measured in this run")
            out.append({"key": key, "text": why, "note": ""})
            continue
        value = r["value"]
        text = _fmt(value, r.get("unit") or "") if isinstance(value, (int, float)) else str(value)
        out.append({"key": key, "text": f"{text} ({r.get('kind') or 'measured'}, {setting})",
                    "note": r.get("note") or ""})
    return out


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "breaks": False}).enable("table")


def run_setting(scale: str, env: Mapping[str, Any]) -> str:
    """Where a run's numbers come from, in words: ``scale small, 2 cores, Spark 4.3.0, 2026-12-04``.

    Examples
    --------
    >>> run_setting("medium", {"cores": 2, "spark": "4.3.0", "recorded_at": "2026-11-26T04:20:22+00:00"})
    'scale medium, 2 cores, Spark 4.3.0, 2026-11-26'
    """
    parts = [f"scale {scale}"]
    if env.get("cores"):
        parts.append(f"{env['cores']} cores")
    if env.get("spark"):
        parts.append(f"Spark {env['spark']}")
    if env.get("recorded_at"):
        parts.append(str(env["recorded_at"])[:10])
    return ", ".join(parts)


def write_answers(run_dir: str | Path, runs: Mapping[str, Mapping[str, Any] | None], table: Any,
                  htmls: Mapping[str, str], setting: str, questions: Sequence[Question] | None = None,
                  notebook_links: str | None = None, index: bool = True) -> Path:
    """Write ``answers.html`` and ``answers.json`` (the catalogue, with the numbers this run gives) into a run.

    Parameters
    ----------
    run_dir : path
    runs : dict
        Notebook name to its results document (None when it did not run).
    table : pandas.DataFrame
        The run's claims table (``id``, ``verdict``): each claim an answer rests on shows its verdict.
    htmls : dict
        Notebook name to its executed HTML file in ``run_dir``: the deep link to the proving cell.
    setting : str
        The run's scale, cores and date, shown with each number.
    questions : sequence of Question, optional
        Default: :func:`catalogue`.
    notebook_links : str, optional
        Where a notebook without an executed HTML is linked (a relative folder of the ``.ipynb`` files); default:
        no link.
    index : bool
        Whether the folder has the run's ``index.html`` (each claim links to its row there).

    Returns
    -------
    pathlib.Path
        ``answers.html``.
    """
    run_dir = Path(run_dir)
    questions = catalogue() if questions is None else list(questions)
    verdicts = dict(zip(table["id"], table["verdict"], strict=True)) if len(table) else {}
    md, entries = _markdown(), []
    for q in questions:
        if q.notebook in htmls:
            proof = f"{htmls[q.notebook]}#cell-id={q.proof}"
        else:
            proof = f"{notebook_links}/{q.notebook}.ipynb" if notebook_links else None
        entries.append({**asdict(q), "answer_html": Markup(md.render(q.answer)),
                        "followups": [{"q": f, "a": Markup(md.render(a))} for f, a in q.followups],
                        "numbers": numbers_to_quote(q, runs.get(q.notebook), setting), "proof_link": proof,
                        "rests_on": [{"id": c, "verdict": verdicts.get(c, "")} for c in q.claims]})
    page = run_dir / "answers.html"
    page.write_text(render_template("answers.html.j2", entries=entries, setting=setting, has_index=index),
                    encoding="utf-8")
    plain = [{k: v for k, v in e.items() if k not in ("answer_html",)} | {"followups": list(q.followups)}
             for e, q in zip(entries, questions, strict=True)]
    (run_dir / "answers.json").write_text(json.dumps(plain, indent=1, ensure_ascii=False, default=str) + "\n",
                                          encoding="utf-8")
    return page

