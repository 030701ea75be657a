"""Run the notebooks with papermill at a scale and build the HTML report.

``labkit report`` (and ``make report``) call :func:`run`. One failing notebook
does not stop the others: it is marked failed with its error, and the run's
exit status is non-zero.

Nothing secret or identifying leaves a notebook through the report: its error
(name, message, traceback), its executed copy, its results and its kernel's log
pass through :mod:`labkit.report.redact` before ``run.json`` and the HTML are
written. The PHI key is the one in ``LABKIT_PHI_KEY``; when that is unset the run
makes a random one and gives it to every kernel, so the key the notebooks use is
always one the redaction knows.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from labkit.core.paths import REPO
from labkit.core.scales import scale_params
from labkit.report.html import write_index
from labkit.report.model import NOTEBOOKS, NotebookRun, ReportRun
from labkit.report.redact import KEY_ENV, redact_counted, redact_file, redact_notebook, strip_ansi

__all__ = ["NOTEBOOKS", "PARAMS", "discover", "run"]

PARAMS = REPO / "benchmarks" / "params.yaml"


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
    table = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
    per_scale = table.get(scale) or {}
    return {**(per_scale.get("all") or {}), **(per_scale.get(notebook) or {})}


def _progress(i: int, total: int, started: float, name: str, status: str = "") -> None:
    """One progress line: notebooks done out of total, elapsed time, current notebook."""
    mins, secs = divmod(int(time.monotonic() - started), 60)
    print(f"[{i}/{total}] {mins:d}m{secs:02d}s  {name} {status}".rstrip(), file=sys.stderr, flush=True)


def _quiet_kernel_manager(log: Path, env: dict[str, str] | None = None):
    """A kernel manager whose kernel (and the JVM it starts) writes its stderr to ``log``, not to the terminal.

    The kernel's "running over TCP without encryption" notice and the JVM's
    "Using incubator modules" line are noise on a terminal; a real crash is
    still kept, in ``<run>/<notebook>.kernel.log``, and named in the error.
    jupyter_client interrupts (SIGINT) every kernel it shuts down, which the
    kernel logs as "ERROR | KeyboardInterrupt caught in kernel" although the
    notebook had finished: a notebook that ran to its end is not interrupted.
    ``env`` is added to the kernel's environment (the run's PHI key).
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):  # noqa: D102 - AsyncKernelManager.start_kernel, stderr to a file
            kw.setdefault("stderr", log.open("ab"))
            if env:
                kw["env"] = {**(kw.get("env") or os.environ), **env}
            return await super().start_kernel(**kw)

        async def _async_interrupt_kernel(self):  # noqa: D102 - no SIGINT as part of a shutdown
            if self.shutting_down:
                return None
            return await super()._async_interrupt_kernel()

    return QuietKernelManager


_MAX_TRACEBACK = 20_000  # characters of a traceback kept in run.json (its end, where the error is)


def _describe(exc: Exception, kernel_log: Path, keys: Sequence[str]) -> tuple[str, str | None, dict[str, int]]:
    """A notebook's failure as (error line, traceback or None, what redaction removed), all redacted."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    error, counts = redact_counted(strip_ansi(f"{ename}: {evalue}".strip()), keys)
    error = error[:2000] + f" (kernel log: {kernel_log.name})"
    lines = getattr(exc, "traceback", None)
    if not lines:
        return error, None, counts
    trace, more = redact_counted(strip_ansi("\n".join(map(str, lines))), keys)
    for kind, n in more.items():
        counts[kind] = counts.get(kind, 0) + n
    if len(trace) > _MAX_TRACEBACK:
        trace = f"[{len(trace) - _MAX_TRACEBACK} characters cut]\n" + trace[-_MAX_TRACEBACK:]
    return error, trace, counts


def _redact_outputs(stem: str, out_dir: Path, keys: Sequence[str]) -> dict[str, int]:
    """Redact what a notebook left in the run folder: its executed copy, its kernel's log, its results (key only)."""
    total: dict[str, int] = {}
    found = [redact_notebook(p, keys) for p in [out_dir / f"{stem}.ipynb"] if p.exists()]
    found += [redact_file(p, keys) for p in [out_dir / f"{stem}.kernel.log"] if p.exists()]
    results = out_dir / f"{stem}.json"
    if results.exists():
        text, counts = redact_counted(results.read_text(encoding="utf-8"), keys, identifiers=False)
        if counts:
            results.write_text(text, encoding="utf-8")
        found.append(counts)
    for counts in found:
        for kind, n in counts.items():
            total[kind] = total.get(kind, 0) + n
    return total


def _execute(path: Path, out_dir: Path, parameters: dict[str, Any], timeout: int,
             keys: Sequence[str] = ()) -> NotebookRun:
    """Run one notebook with papermill; a failure is caught and described (redacted), not raised."""
    import papermill as pm

    target = out_dir / path.name
    kernel_log = out_dir / f"{path.stem}.kernel.log"
    t0 = time.monotonic()
    error, trace, counts = None, None, {}
    env = {KEY_ENV: keys[0]} if keys else None
    try:
        pm.execute_notebook(str(path), str(target), parameters=parameters, kernel_name="python3",
                            cwd=str(path.parent), execution_timeout=timeout, progress_bar=False,
                            kernel_manager_class=_quiet_kernel_manager(kernel_log, env))
    except Exception as exc:  # papermill raises PapermillExecutionError, or a timeout / kernel death
        error, trace, counts = _describe(exc, kernel_log, keys)
    seconds = time.monotonic() - t0
    run = NotebookRun(path.stem, "failed" if error else "ok", seconds, target, error=error, traceback=trace)
    run.redacted = _redact_outputs(path.stem, out_dir, keys)
    for kind, n in counts.items():
        run.redacted[kind] = run.redacted.get(kind, 0) + n
    results = out_dir / f"{path.stem}.json"
    if results.exists():
        run.results = json.loads(results.read_text(encoding="utf-8"))
    if target.exists():
        run.html = _to_html(target)
    return run


def _run_key() -> str:
    """The PHI key the run's kernels use: ``LABKIT_PHI_KEY`` if set, else a random one for this run only."""
    return os.environ.get(KEY_ENV) or secrets.token_hex(16)


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
        notebook_dir: Path = NOTEBOOKS) -> ReportRun:
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
    ReportRun
        Every notebook's run, in order: a notebook that failed (an error, a cell over ``timeout``, a kernel that
        died or exited) has status ``"failed"`` and its error, and the next notebook still runs.
    """
    scale_params(scale)  # validates the name
    if compare and not Path(compare).is_dir():
        raise ValueError(f"--compare {compare!r} is not a folder of results")
    paths = discover(notebook_dir, only)
    if not paths:
        raise ValueError(f"no notebooks found in {notebook_dir}")
    out = Path(out).resolve()
    run_dir = _new_run_dir(out, scale)
    result = ReportRun(run_dir, scale)
    keys = [_run_key()]
    started = time.monotonic()
    for i, path in enumerate(paths):
        _progress(i, len(paths), started, path.stem, "running")
        params = {"scale": scale, "output_dir": str(run_dir), **_scale_parameters(scale, path.stem)}
        if master:
            params["spark_master"] = master
        nb = _execute(path, run_dir, params, timeout, keys)
        result.notebooks.append(nb)
        _progress(i + 1, len(paths), started, path.stem, f"{nb.status} in {nb.seconds:.0f}s")
    result.seconds = time.monotonic() - started
    (run_dir / "run.json").write_text(json.dumps({
        "scale": scale, "seconds": result.seconds, "date": datetime.now().strftime("%Y-%m-%d"),
        "notebooks": {nb.name: {"status": nb.status, "seconds": round(nb.seconds, 1), "error": nb.error,
                                "traceback": nb.traceback, "redacted": nb.redacted}
                      for nb in result.notebooks}}, indent=2) + "\n", encoding="utf-8")
    write_index(result, compare=compare, notebook_dir=notebook_dir)
    _link_latest(out, run_dir)
    print(f"report: {run_dir / 'index.html'}", file=sys.stderr)
    return result
