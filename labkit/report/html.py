"""The report's ``index.html``: the environment, the claims and statements tables, the notebooks and the key plots.

The page is rendered from ``templates/index.html.j2`` with autoescape on (:mod:`labkit.report.render`); this
module only prepares the template's data. Writing it also writes ``claims.csv``, ``guide.html`` and ``answers.html``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.core.results import load
from labkit.report.answers import run_setting, write_answers
from labkit.report.claims import REGISTRY, evaluate, load_registry
from labkit.report.guide import write_guide
from labkit.report.model import NOTEBOOKS, ReportRun
from labkit.report.render import render_template
from labkit.report.statements import STATEMENTS, evaluate_statements, load_statements
from labkit.report.verdicts import RULE, VERDICT_CLASS, VERDICTS

__all__ = ["claims_table", "load_runs", "write_index"]

_ENVIRONMENT = ("spark", "java", "python", "labkit", "cores", "memory_gb", "master", "ansi", "aqe", "platform")


def load_runs(folder: Path) -> dict[str, dict[str, Any]]:
    """Every results JSON in a folder, by notebook name."""
    runs = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.json")):
        doc = load(path)
        runs[doc.get("notebook", path.stem)] = doc
    return runs


def claims_table(run: ReportRun, compare: str | None = None, registry: Path | None = None,
                 notebook_dir: Path = NOTEBOOKS, statements: Path | None = None) -> pd.DataFrame:
    """The claims table of a run: every numeric claim, then every statement, measured or not.

    The ``type`` column says which (``number`` or ``statement``); a statement row has the claim columns, with
    ``guide`` the kind of error checked for and ``how`` its evidence.
    """
    claims = load_registry(registry or REGISTRY)
    runs = {nb.name: (nb.results if nb.status == "ok" else None) for nb in run.notebooks}
    present = {p.stem for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")}
    reference = load_runs(Path(compare)) if compare else None
    numbers = evaluate(claims, runs, present, reference).assign(type="number")
    said = evaluate_statements(load_statements(statements or STATEMENTS), runs, present).assign(type="statement")
    # columns a part leaves all empty (a statement has no spread) are left to the other part's dtype
    return pd.concat([part.dropna(axis=1, how="all") for part in (numbers, said)], ignore_index=True)


def _text(value: Any) -> str:
    """A cell's text: nothing for None."""
    return "" if value is None else str(value)


def _claim_rows(table: pd.DataFrame, htmls: dict[str, str]) -> list[dict[str, str]]:
    """The rows of a claims table as the template shows them (each has an anchor ``claim-<id>`` guide.html links to)."""
    rows = []
    for r in table.to_dict("records"):
        note = _text(r.get("note", ""))
        if r.get("type") == "statement":
            note = (f"{note}. " if note else "") + (f"source: {r['source']}" if r.get("source") else "")
        if r.get("basis"):
            note = f"{r['basis']}. {note}"
        rows.append({"cls": VERDICT_CLASS[r["verdict"]], "id": _text(r["id"]), "claim": _text(r["claim"]),
                     "section": _text(r["section"]), "guide": _text(r["guide"]), "ours": _text(r["ours"]),
                     "note": note, "reference": _text(r.get("reference")), "kind": _text(r["kind"]),
                     "verdict": _text(r["verdict"]), "detail": _text(r.get("detail")),
                     "notebook": _text(r["notebook"]), "href": htmls.get(r["notebook"]), "how": _text(r["how"])})
    return rows


def _tally(part: pd.DataFrame) -> str:
    """How many rows have each verdict, in report order (``3 holds, 1 partly holds``)."""
    counts = part["verdict"].value_counts()
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS if counts.get(v, 0))


def _plots(run: ReportRun) -> list[dict[str, Any]]:
    """Each notebook's saved plots, base64-encoded so that the page works offline."""
    groups = []
    for nb in run.notebooks:
        pngs = sorted(run.run_dir.glob(f"{nb.name}.*.png"))
        if pngs:
            groups.append({"notebook": nb.name, "images": [
                {"alt": p.stem, "data": base64.b64encode(p.read_bytes()).decode()} for p in pngs]})
    return groups


def write_index(run: ReportRun, compare: str | None = None, notebook_dir: Path = NOTEBOOKS) -> Path:
    """Write ``index.html``, ``claims.csv``, ``guide.html`` and ``answers.html`` for a run: environment, claims,
    notebooks, key plots; the interview answers with this run's numbers.

    Parameters
    ----------
    run : ReportRun
        The run, with each notebook's results.
    compare : str, optional
        A reference run folder: its numbers are a column of the claims tables.
    notebook_dir : path
        The lab's notebooks (a claim whose notebook is not there is planned).

    Returns
    -------
    pathlib.Path
        ``index.html``.
    """
    table = claims_table(run, compare=compare, notebook_dir=notebook_dir)
    table.to_csv(run.run_dir / "claims.csv", index=False)
    numbers, said = table[table["type"] == "number"], table[table["type"] == "statement"]
    htmls = {nb.name: nb.html.name for nb in run.notebooks if nb.html}
    present = {p.stem for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")}
    write_guide(run.run_dir, table, present, htmls)
    env = next((nb.results["environment"] for nb in run.notebooks if nb.results), {})
    write_answers(run.run_dir, {nb.name: nb.results for nb in run.notebooks}, table, htmls,
                  run_setting(run.scale, env))
    page = render_template(
        "index.html.j2", run=run, failed=sum(nb.status != "ok" for nb in run.notebooks), compare=bool(compare),
        environment=[(k, env.get(k, "?")) for k in _ENVIRONMENT], rule=RULE,
        numbers=_claim_rows(numbers, htmls), numbers_tally=_tally(numbers),
        statements=_claim_rows(said.assign(reference=""), htmls), statements_tally=_tally(said), plots=_plots(run))
    index = run.run_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
