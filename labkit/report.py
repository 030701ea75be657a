"""Run the notebooks with papermill at a scale and build the HTML report.

``labkit report`` (and ``make report``) call :func:`run`. One failing notebook
does not stop the others: it is marked failed with its error, and the run's
exit status is non-zero.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["NotebookRun", "Outcome", "discover", "run", "save_reference"]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
PARAMS = REPO / "benchmarks" / "params.yaml"


@dataclass
class NotebookRun:
    """One notebook's run: where it went, how long it took, and its error if it failed."""

    name: str
    status: str  # "ok" | "failed"
    seconds: float
    output: Path
    html: Path | None = None
    error: str | None = None
    results: dict[str, Any] | None = None


@dataclass
class Outcome:
    """A whole report run."""

    run_dir: Path
    scale: str
    notebooks: list[NotebookRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every notebook ran."""
        return all(nb.status == "ok" for nb in self.notebooks)


def discover(notebook_dir: Path = NOTEBOOKS, only: Sequence[str] | None = None) -> list[Path]:
    """The notebooks to run, in name order, optionally filtered by names or prefixes.

    Raises
    ------
    ValueError
        When a name in ``only`` matches no notebook (the message lists them).
    """
    found = sorted(Path(notebook_dir).glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return found
    chosen = []
    for want in only:
        hits = [p for p in found if p.stem == want or p.stem.startswith(want)]
        if not hits:
            raise ValueError(f"--only {want!r} matches no notebook; there are {[p.stem for p in found]}")
        chosen += [p for p in hits if p not in chosen]
    return sorted(chosen)


def _scale_parameters(scale: str, notebook: str, params_file: Path = PARAMS) -> dict[str, Any]:
    """Extra parameters for one notebook at one scale, from benchmarks/params.yaml."""
    if not params_file.exists():
        return {}
    import yaml

    table = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
    per_scale = table.get(scale) or {}
    return {**(per_scale.get("all") or {}), **(per_scale.get(notebook) or {})}


def _progress(i: int, total: int, started: float, name: str, status: str = "") -> None:
    """One progress line: notebooks done out of total, elapsed time, current notebook."""
    mins, secs = divmod(int(time.monotonic() - started), 60)
    print(f"[{i}/{total}] {mins:d}m{secs:02d}s  {name} {status}".rstrip(), file=sys.stderr, flush=True)


def _execute(path: Path, out_dir: Path, parameters: dict[str, Any], timeout: int) -> NotebookRun:
    """Run one notebook with papermill; a failure is caught and described, not raised."""
    import papermill as pm

    target = out_dir / path.name
    t0 = time.monotonic()
    error = None
    try:
        pm.execute_notebook(str(path), str(target), parameters=parameters, kernel_name="python3",
                            cwd=str(path.parent), execution_timeout=timeout, progress_bar=False)
    except Exception as exc:  # papermill raises PapermillExecutionError, or a timeout / kernel death
        ename = getattr(exc, "ename", type(exc).__name__)
        evalue = getattr(exc, "evalue", str(exc))
        error = f"{ename}: {evalue}".strip()[:2000]
    seconds = time.monotonic() - t0
    run = NotebookRun(path.stem, "failed" if error else "ok", seconds, target, error=error)
    results = out_dir / f"{path.stem}.json"
    if results.exists():
        run.results = json.loads(results.read_text(encoding="utf-8"))
    if target.exists():
        run.html = _to_html(target)
    return run


def _to_html(notebook: Path) -> Path | None:
    """Executed notebook to a standalone HTML page (images embedded)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(embed_images=True).from_filename(str(notebook))
    out = notebook.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def _link_latest(out: Path, run_dir: Path) -> None:
    """Point ``<out>/latest`` at the newest run."""
    latest = out / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_dir.name, target_is_directory=True)


def _new_run_dir(out: Path, scale: str) -> Path:
    """A fresh ``<out>/<timestamp>-<scale>`` folder; a suffix keeps two runs in one second apart."""
    stem = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{scale}"
    for n in range(1, 100):
        run_dir = out / (stem if n == 1 else f"{stem}-{n}")
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {out}")


def run(scale: str = "small", only: Sequence[str] | None = None, master: str | None = None,
        out: str | os.PathLike = "reports", timeout: int = 3600, compare: str | None = None,
        notebook_dir: Path = NOTEBOOKS) -> Outcome:
    """Run notebooks at a scale and write ``<out>/<timestamp>/`` with the report.

    Parameters
    ----------
    scale : {"tiny", "small", "medium", "large"}
    only : list of str, optional
        Notebook names or prefixes; all by default.
    master : str, optional
        Spark master passed to every notebook as ``spark_master``.
    out : path
        Parent folder of the run folders; ``<out>/latest`` points at the newest.
    timeout : int
        Seconds a single cell may run.
    compare : str, optional
        A reference run folder (results JSON) to compare against.
    notebook_dir : path
        Where the notebooks are.

    Returns
    -------
    Outcome
    """
    from labkit.scales import scale_params

    scale_params(scale)  # validates the name
    if compare and not Path(compare).is_dir():
        raise ValueError(f"--compare {compare!r} is not a folder of results")
    paths = discover(notebook_dir, only)
    if not paths:
        raise ValueError(f"no notebooks found in {notebook_dir}")
    out = Path(out).resolve()
    run_dir = _new_run_dir(out, scale)
    outcome = Outcome(run_dir, scale)
    started = time.monotonic()
    for i, path in enumerate(paths):
        _progress(i, len(paths), started, path.stem, "running")
        params = {"scale": scale, "output_dir": str(run_dir), **_scale_parameters(scale, path.stem)}
        if master:
            params["spark_master"] = master
        nb = _execute(path, run_dir, params, timeout)
        outcome.notebooks.append(nb)
        _progress(i + 1, len(paths), started, path.stem, f"{nb.status} in {nb.seconds:.0f}s")
    outcome.seconds = time.monotonic() - started
    (run_dir / "run.json").write_text(json.dumps({
        "scale": scale, "seconds": outcome.seconds, "date": datetime.now().strftime("%Y-%m-%d"),
        "notebooks": {nb.name: {"status": nb.status, "seconds": round(nb.seconds, 1), "error": nb.error}
                      for nb in outcome.notebooks}}, indent=2) + "\n", encoding="utf-8")
    write_index(outcome, compare=compare, notebook_dir=notebook_dir)
    _link_latest(out, run_dir)
    print(f"report: {run_dir / 'index.html'}", file=sys.stderr)
    return outcome


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
small{color:#555}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""


def _load_runs(folder: Path) -> dict[str, dict[str, Any]]:
    """Every results JSON in a folder, by notebook name."""
    from labkit.results import load

    runs = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.json")):
        doc = load(path)
        runs[doc.get("notebook", path.stem)] = doc
    return runs


def claims_table(outcome: Outcome, compare: str | None = None, registry: Path | None = None,
                 notebook_dir: Path = NOTEBOOKS):
    """The claims table of a run (every registry entry, measured or not)."""
    from labkit.claims import REGISTRY, evaluate, load_registry

    claims = load_registry(registry or REGISTRY)
    runs = {nb.name: (nb.results if nb.status == "ok" else None) for nb in outcome.notebooks}
    present = {p.stem for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")}
    reference = _load_runs(Path(compare)) if compare else None
    return evaluate(claims, runs, present, reference)


_VERDICT_CLASS = {"holds": "holds", "partly holds": "partly", "does not hold at this scale": "fails",
                  "not measurable here": "na", "not measured yet": "na"}


def _claim_rows(table, outcome: Outcome) -> str:
    """The claims table as HTML rows."""
    htmls = {nb.name: nb.html.name for nb in outcome.notebooks if nb.html}
    rows = []
    for r in table.to_dict("records"):
        link = (f'<a href="{_esc(htmls[r["notebook"]])}">{_esc(r["notebook"])}</a>' if r["notebook"] in htmls
                else _esc(r["notebook"]))
        ref = f"<td>{_esc(r.get('reference'))}</td>" if "reference" in r else ""
        rows.append(f'<tr class="{_VERDICT_CLASS[r["verdict"]]}"><td>{_esc(r["claim"])}<br><small>'
                    f'{_esc(r["section"])}</small></td><td>{_esc(r["guide"])}</td><td>{_esc(r["ours"])}<br><small>'
                    f'{_esc(r.get("note", ""))}</small></td>'
                    f'{ref}<td>{_esc(r["kind"])}</td><td><b>{_esc(r["verdict"])}</b></td><td>{link}<br><small>'
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
    counts = table["verdict"].value_counts()
    tally = ", ".join(f"{counts.get(v, 0)} {v}" for v in _VERDICT_CLASS)
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
<p>{len(table)} claims: {tally}.</p>
<table><tr><th>claim</th><th>guide</th><th>ours</th>{ref_head}<th>measured / projected</th><th>verdict</th>
<th>where and how</th></tr>{_claim_rows(table, outcome)}</table>
<h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th><th>time</th><th>source</th><th>error</th></tr>
{_notebook_rows(outcome)}</table>
<h2>Key plots</h2>{_plots_by_notebook(outcome)}
</body></html>"""
    index = outcome.run_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


README = REPO / "README.md"
KEY_PLOTS = ("01_partitioning_and_file_formats.pruning.png", "02_data_skew_and_salting.speedup_vs_skew.png",
             "02_data_skew_and_salting.projected_speedup.png", "03_broadcast_joins.crossover.png")
_START, _END = "<!-- reference-results:start -->", "<!-- reference-results:end -->"


def _short(text: str, n: int = 90) -> str:
    """A quote cut to ``n`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def readme_section(dest: Path) -> str:
    """The README's reference-results section, generated from a saved reference run."""
    import pandas as pd

    table = pd.read_csv(dest / "claims.csv").fillna("")
    meta = json.loads((dest / "run.json").read_text(encoding="utf-8"))
    env = meta.get("environment", {})
    lines = [_START, "",
             f"Reference run: scale **{meta['scale']}**, {env.get('cores', '?')} cores, "
             f"{env.get('memory_gb', '?')} GB, "
             f"Spark {env.get('spark', '?')}, Java {env.get('java', '?')}, Python {env.get('python', '?')}, "
             f"{meta['seconds'] / 60:.0f} min in all ({meta['date']}). Generated by `labkit reference`; "
             "every verdict holds for that scale and machine only.", "",
             "| claim (the guide) | guide | ours | measured / projected | verdict | note |",
             "|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        lines.append(f"| {_short(r['claim']).replace('|', '/')} | {r['guide']} | {_short(r['ours'], 60)} | "
                     f"{r['kind']} | {r['verdict']} | {_short(r.get('note', ''), 70).replace('|', '/')} |")
    lines.append("")
    for name in KEY_PLOTS:
        if (dest / name).exists():
            lines.append(f"![{name}]({(dest / name).relative_to(REPO).as_posix()})")
    return "\n".join([*lines, "", _END])


def save_reference(run_dir: str | Path, dest: str | Path = REPO / "benchmarks" / "reference",
                   readme: Path = README) -> Path:
    """Keep a run as the committed reference: results JSON, claims.csv, key plots; refresh the README table.

    Parameters
    ----------
    run_dir : path
        A folder written by :func:`run` (``reports/<timestamp>``).
    dest : path
        Where the reference goes (its old content is replaced).
    readme : path
        The README whose reference-results section is regenerated.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    run_dir, dest = Path(run_dir), Path(dest)
    if not (run_dir / "claims.csv").exists():
        raise ValueError(f"{run_dir} is not a report run (no claims.csv)")
    dest.mkdir(parents=True, exist_ok=True)
    for old in [*dest.glob("*.json"), *dest.glob("*.png"), *dest.glob("*.csv")]:
        old.unlink()
    docs = _load_runs(run_dir)
    for name in docs:
        shutil.copy(run_dir / f"{name}.json", dest / f"{name}.json")
    shutil.copy(run_dir / "claims.csv", dest / "claims.csv")
    for name in KEY_PLOTS:
        if (run_dir / name).exists():
            shutil.copy(run_dir / name, dest / name)
    first = next(iter(docs.values()), {})
    summary = json.loads((run_dir / "run.json").read_text(encoding="utf-8")) if (run_dir / "run.json").exists() else {}
    meta = {"scale": (first.get("parameters") or {}).get("scale", "?"), "environment": first.get("environment", {}),
            "seconds": summary.get("seconds", 0.0), "date": summary.get("date", ""),
            "notebooks": summary.get("notebooks", {})}
    (dest / "run.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    text = readme.read_text(encoding="utf-8")
    if _START in text and _END in text:
        head, rest = text.split(_START, 1)
        text = head + readme_section(dest) + rest.split(_END, 1)[1]
        readme.write_text(text, encoding="utf-8")
    return dest
