"""The report's HTML: the index page with the environment, the claims table, the notebooks and the key plots."""

from __future__ import annotations

import base64
import functools
import html
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.report.claims import REGISTRY, evaluate, load_registry
from labkit.report.runner import NOTEBOOKS, Outcome
from labkit.report.statements import STATEMENTS, evaluate_statements, load_statements
from labkit.report.verdicts import RULE, VERDICT_CLASS, VERDICTS

__all__ = ["TEMPLATES", "claims_table", "load_runs", "render_template", "write_index"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.lru_cache(maxsize=1)
def _environment():
    """The Jinja2 environment of the report's pages: templates from :data:`TEMPLATES`, autoescape always on."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def render_template(name: str, **context: Any) -> str:
    """Render one of the report's templates; every value is HTML-escaped unless it is ``markupsafe.Markup``.

    Parameters
    ----------
    name : str
        A file in :data:`TEMPLATES` (today ``guide.html.j2``; ``index.html`` still escapes each value in Python).
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


def _esc(value: Any) -> str:
    """HTML-escape anything."""
    return html.escape("" if value is None else str(value))


def _environment_rows(outcome: Outcome) -> str:
    """The environment table, from the first results file that has one."""
    env = next((nb.results["environment"] for nb in outcome.notebooks if nb.results), {})
    keys = ("spark", "java", "python", "labkit", "cores", "memory_gb", "master", "ansi", "aqe", "platform")
    return "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(env.get(k, '?'))}</td></tr>" for k in keys)


def _notebook_rows(outcome: Outcome) -> str:
    """One row per notebook: status, time, links and error."""
    rows = []
    for nb in outcome.notebooks:
        link = f'<a href="{_esc(nb.html.name)}">{_esc(nb.name)}</a>' if nb.html else _esc(nb.name)
        err = f"<pre>{_esc(nb.error)}</pre>" if nb.error else ""
        if nb.traceback:
            err += f"<details><summary>traceback</summary><pre>{_esc(nb.traceback)}</pre></details>"
        if nb.redacted:
            err += "<small>redacted: " + _esc(", ".join(f"{n} {kind}" for kind, n in sorted(nb.redacted.items())))
            err += "</small>"
        rows.append(f'<tr class="{nb.status}"><td>{link}</td><td>{nb.status}</td><td>{nb.seconds:.0f} s</td>'
                    f'<td><a href="{_esc(nb.output.name)}">.ipynb</a></td><td>{err}</td></tr>')
    return "".join(rows)


def _embedded_png(path: Path) -> str:
    """An <img> with the PNG inlined, so the page works offline."""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{_esc(path.stem)}" src="data:image/png;base64,{data}">'


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
tr.failed td{background:#fde2e2}tr.ok td:nth-child(2){color:#276227}pre{white-space:pre-wrap;margin:0}
tr.holds td{background:#e6f4e6}tr.partly td{background:#fff6d9}tr.fails td{background:#fde2e2}tr.na td{color:#777}
tr.noeffect td{background:#eef1f7}
small{color:#555}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""


def load_runs(folder: Path) -> dict[str, dict[str, Any]]:
    """Every results JSON in a folder, by notebook name."""
    from labkit.core.results import load

    runs = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.json")):
        doc = load(path)
        runs[doc.get("notebook", path.stem)] = doc
    return runs


def claims_table(outcome: Outcome, compare: str | None = None, registry: Path | None = None,
                 notebook_dir: Path = NOTEBOOKS, statements: Path | None = None) -> pd.DataFrame:
    """The claims table of a run: every numeric claim, then every statement, measured or not.

    The ``type`` column says which (``number`` or ``statement``); a statement row has the claim columns, with
    ``guide`` the kind of error checked for and ``how`` its evidence.
    """
    claims = load_registry(registry or REGISTRY)
    runs = {nb.name: (nb.results if nb.status == "ok" else None) for nb in outcome.notebooks}
    present = {p.stem for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")}
    reference = load_runs(Path(compare)) if compare else None
    numbers = evaluate(claims, runs, present, reference).assign(type="number")
    said = evaluate_statements(load_statements(statements or STATEMENTS), runs, present).assign(type="statement")
    # columns a part leaves all empty (a statement has no spread) are left to the other part's dtype
    return pd.concat([part.dropna(axis=1, how="all") for part in (numbers, said)], ignore_index=True)


def _claim_rows(table, outcome: Outcome) -> str:
    """The claims table as HTML rows (each with an anchor ``claim-<id>`` that guide.html links to)."""
    htmls = {nb.name: nb.html.name for nb in outcome.notebooks if nb.html}
    rows = []
    for r in table.to_dict("records"):
        if r.get("type") == "statement":
            r["note"] = (f"{r['note']}. " if r.get("note") else "") + (f"source: {r['source']}" if r.get("source")
                                                                       else "")
        if r.get("basis"):
            r["note"] = f"{r['basis']}. {r['note'] or ''}"
        link = (f'<a href="{_esc(htmls[r["notebook"]])}">{_esc(r["notebook"])}</a>' if r["notebook"] in htmls
                else _esc(r["notebook"]))
        ref = f"<td>{_esc(r.get('reference'))}</td>" if "reference" in r else ""
        rows.append(f'<tr class="{VERDICT_CLASS[r["verdict"]]}" id="claim-{_esc(r["id"])}">'
                    f'<td>{_esc(r["claim"])}<br><small>'
                    f'{_esc(r["section"])}</small></td><td>{_esc(r["guide"])}</td><td>{_esc(r["ours"])}<br><small>'
                    f'{_esc(r.get("note", ""))}</small></td>'
                    f'{ref}<td>{_esc(r["kind"])}</td><td><b>{_esc(r["verdict"])}</b><br><small>{_esc(r.get("detail"))}'
                    f'</small></td><td>{link}<br><small>'
                    f'{_esc(r["how"])}</small></td></tr>')
    return "".join(rows)


def _plots_by_notebook(outcome: Outcome) -> str:
    """Each notebook's saved plots, embedded, under its name."""
    parts = []
    for nb in outcome.notebooks:
        pngs = sorted(outcome.run_dir.glob(f"{nb.name}.*.png"))
        if pngs:
            parts.append(f"<h3>{_esc(nb.name)}</h3>" + "".join(_embedded_png(p) for p in pngs))
    return "".join(parts) or "<p>No plots were saved.</p>"


def write_index(outcome: Outcome, compare: str | None = None, notebook_dir: Path = NOTEBOOKS) -> Path:
    """Write ``index.html`` and ``claims.csv`` for a run: environment, claims, notebooks, key plots."""
    table = claims_table(outcome, compare=compare, notebook_dir=notebook_dir)
    table.to_csv(outcome.run_dir / "claims.csv", index=False)
    numbers, said = table[table["type"] == "number"], table[table["type"] == "statement"]

    def tally(part):
        counts = part["verdict"].value_counts()
        return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS if counts.get(v, 0))
    from labkit.report.guide import write_guide

    present = {p.stem for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")}
    write_guide(outcome.run_dir, table, present, {nb.name: nb.html.name for nb in outcome.notebooks if nb.html})
    failed = sum(nb.status != "ok" for nb in outcome.notebooks)
    ref_head = "<th>reference</th>" if compare else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Spark interview lab - {outcome.scale}</title>
<style>{CSS}</style></head><body>
<h1>Spark interview lab report</h1>
<p>Scale <b>{_esc(outcome.scale)}</b>, {len(outcome.notebooks)} notebooks, {failed} failed,
{outcome.seconds:.0f} s in all. Every verdict holds for this scale and this machine only; projected numbers
replay task durations measured here onto more cores.</p>
<h2>Environment</h2><table>{_environment_rows(outcome)}</table>
<h2>The guide's claims against our measurements</h2>
<p>{len(numbers)} claims: {tally(numbers)}. <a href="guide.html">The guide, annotated with these verdicts</a>.</p>
<p><small>{_esc(RULE)}</small></p>
<table><tr><th>claim</th><th>guide</th><th>ours</th>{ref_head}<th>measured / projected</th><th>verdict</th>
<th>where and how</th></tr>{_claim_rows(numbers, outcome)}</table>
<h2>The guide's statements against our checks</h2>
<p>{len(said)} statements without a number (code, APIs, advice), each checked in its notebook or judged from its
public source: {tally(said)}.</p>
<table><tr><th>statement (the guide)</th><th>checked for</th><th>ours</th>{ref_head}<th>checked / documented</th>
<th>verdict</th><th>evidence</th></tr>{_claim_rows(said.assign(reference="") if compare else said, outcome)}</table>
<h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th><th>time</th><th>source</th><th>error</th></tr>
{_notebook_rows(outcome)}</table>
<h2>Key plots</h2>{_plots_by_notebook(outcome)}
</body></html>"""
    index = outcome.run_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
