"""Named workloads in a child Python with its own JVM, each in a SparkSession of its own, and how each run ended.

:func:`run_isolated` runs one workload, :func:`run_in_one_child` several in turn, through
``python -m labkit.experiments.memory '<json steps>' '<json master>'`` and :func:`labkit.tools.child.run_child`:
driver memory is set before the child's JVM starts, an OutOfMemoryError kills only the child, and the notebook's
kernel never dies. The child is bounded in time, runs in its own process group, and is killed with its JVM when it
ends. Each workload gets a new SparkSession (its own SparkContext, with its own settings) after the previous one
stopped, so workloads that share the JVM's settings (driver memory and options) share one JVM start. The child
prints one report line per workload and stops at the first that fails (a failed run may leave the JVM unfit);
the parent reads those lines, classifies the logs of a run that died without one with
:func:`labkit.topics.memory.diagnose` (an :class:`OomOutcome`), and runs what was left in a new child.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit.experiments.memory.workloads import WORKLOADS
from labkit.tools.child import child_session, run_child
from labkit.topics.memory import CATEGORIES, diagnose

__all__ = ["OomOutcome", "jvm_settings", "run_in_one_child", "run_isolated"]

_STATUS = {"driver_oom": "driver_oom", "broadcast_oom": "driver_oom", "executor_oom": "executor_oom",
           "result_too_large": "result_too_large", "container_killed": "container_killed"}
_MARK = "LABKIT-OUTCOME "
_STEP = "LABKIT-STEP "  # starts each workload's part of the child's output, on stdout and on stderr
# JVM settings: fixed when the child's JVM starts, so every workload of one child must have the same
_JVM_SETTINGS = ("spark.driver.memory", "spark.driver.extraJavaOptions", "spark.driver.extraClassPath",
                 "spark.driver.extraLibraryPath")
_CHILD_MODULE = "labkit.experiments.memory"  # its __main__ runs _child


@dataclass
class OomOutcome:
    """How an isolated run ended: ok, an out-of-memory status, a timeout or another error, with its cause."""

    workload: str
    status: str  # ok | driver_oom | executor_oom | result_too_large | container_killed | timeout | error
    error_class: str = ""
    log: list[str] = field(default_factory=list)  # the few lines that show the cause
    wall_s: float = 0.0
    result: Any = None
    fixes: list[str] = field(default_factory=list)
    pgid: int = 0  # the child's process group, killed when the run ended

    def __repr__(self) -> str:
        lines = "\n  ".join(self.log[:3])
        return (f"OomOutcome({self.workload}: {self.status} in {self.wall_s:.1f}s"
                + (f", {self.error_class}" if self.error_class else "") + (f"\n  {lines}" if lines else "") + ")")


def _cause_lines(text: str, limit: int = 6) -> list[str]:
    """The lines of a log that name the cause: errors, OOMs, lost executors, the exception message."""
    keep = re.compile(r"OutOfMemoryError|maxResultSize|Exception|ERROR|Lost (task|executor)|exited with code|"
                      r"Not enough memory|Killed|Caused by")
    lines = [ln.strip() for ln in text.splitlines() if keep.search(ln) and not ln.strip().startswith("at ")]
    return list(dict.fromkeys(lines))[:limit]


def run_isolated(workload: str, conf: Mapping[str, Any] | None = None, master: str = "local[2]",
                 timeout_s: float = 120, params: Mapping[str, Any] | None = None) -> OomOutcome:
    """Run a named workload in a child Python process with its own SparkSession and JVM.

    Parameters
    ----------
    workload : str
        A key of :data:`~labkit.experiments.memory.WORKLOADS`.
    conf : mapping, optional
        Spark settings for the child's session, applied before its JVM starts
        (``spark.driver.memory`` works here, unlike in a running session).
    master : str
        ``local[2]`` by default; ``local-cluster[2,1,1024]`` for separate executor JVMs.
    timeout_s : float
        The child and its JVM are killed after this long (status ``timeout``).
    params : mapping, optional
        The workload's own parameters (rows, salts, partitions, ...).

    Returns
    -------
    OomOutcome
        ``status`` and, on failure, the error class, the lines that show the
        cause, and :func:`~labkit.topics.memory.diagnose`'s fixes; on success the workload's result.
        ``pgid`` is the child's process group, gone when this returns.

    Raises
    ------
    ValueError
        For an unknown workload (the message lists the known ones).
    """
    return run_in_one_child([(workload, conf or {}, params or {})], master, timeout_s)[0]


def run_in_one_child(steps: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]], master: str = "local[2]",
                     timeout_s: float = 120) -> list[OomOutcome]:
    """Run named workloads one after the other in one child Python process and JVM, each in a new SparkSession.

    The child stops at the first workload that does not end ``ok`` or ``result_too_large`` (an
    OutOfMemoryError may leave its JVM unfit); the workloads after it run in a new child, the same way. So put
    the runs expected to fail last: a run that fails first costs a JVM start for the ones after it.

    Parameters
    ----------
    steps : sequence of (workload, conf, params)
        As :func:`run_isolated`'s arguments. The settings fixed when a JVM starts (``spark.driver.memory`` and the
        driver's Java options and paths) must be the same in every step; the others are each step's own.
    master : str
    timeout_s : float
        Per workload: a child is killed after this long times the workloads it was given, and the workload it
        was running then ends ``timeout``.

    Returns
    -------
    list of OomOutcome
        One per step, in order. ``wall_s`` is the step's own time in the child (the JVM's start counts in the
        first step of each child); the steps of one child share its ``pgid``, gone when this returns.

    Raises
    ------
    ValueError
        For an unknown workload, or steps whose JVM settings differ.
    """
    steps = [(w, dict(c or {}), dict(p or {})) for w, c, p in steps]
    for workload, _conf, _params in steps:
        if workload not in WORKLOADS:
            raise ValueError(f"unknown workload {workload!r}; the known ones are {', '.join(WORKLOADS)}")
    jvm = [jvm_settings(c) for _w, c, _p in steps]
    if any(j != jvm[0] for j in jvm):
        raise ValueError(f"run_in_one_child: the steps' JVM settings differ ({jvm}); one JVM has one set of them")
    outcomes: list[OomOutcome] = []
    while len(outcomes) < len(steps):
        outcomes += _one_child(steps[len(outcomes):], master, timeout_s)
    return outcomes


def jvm_settings(conf: Mapping[str, Any]) -> dict[str, str]:
    """The settings of ``conf`` fixed when a JVM starts (driver memory, the driver's Java options and paths).

    Workloads whose JVM settings are equal can share one child (:func:`run_in_one_child`).

    Examples
    --------
    >>> jvm_settings({"spark.driver.memory": "512m", "spark.driver.maxResultSize": "1m"})
    {'spark.driver.memory': '512m'}
    """
    return {k: str(conf[k]) for k in _JVM_SETTINGS if k in conf}


def _one_child(steps: list[tuple[str, dict, dict]], master: str, timeout_s: float) -> list[OomOutcome]:
    """Run ``steps`` in one child; the outcomes of the steps it ran (at least the first), in order."""
    budget = timeout_s * len(steps)
    run = run_child(_CHILD_MODULE, [json.dumps([{"workload": w, "conf": c, "params": p} for w, c, p in steps]),
                                    json.dumps({"master": master})],
                    timeout_s=budget, scratch_prefix=f"labkit-{steps[0][0]}-")
    outs, errs = _parts(run.stdout), _parts(run.stderr)
    outcomes = []
    for i, (workload, _conf, _params) in enumerate(steps):
        if i not in outs and i not in errs and outcomes:
            break  # never started: the child stopped before it
        out, err = outs.get(i, ""), errs.get(i, "")
        reported = any(ln.startswith(_MARK) for ln in out.splitlines())
        wall = _step_wall(out, run.wall_s - sum(o.wall_s for o in outcomes))
        if not reported and run.timed_out:
            outcome = OomOutcome(workload, "timeout", "TimeoutExpired", [f"killed after {budget:.0f} s"], wall)
        else:
            outcome = _outcome(workload, out, err, 0 if reported else run.returncode, wall, master)
        outcome.pgid = run.pgid
        outcomes.append(outcome)
        if not reported or outcome.status not in _CONTINUE:
            break
    return outcomes


_CONTINUE = ("ok", "result_too_large")  # a job the driver aborted leaves the JVM fit for the next step


def _parts(text: str) -> dict[int, str]:
    """A child's output cut at its step markers: step index to the lines it printed (before any marker: step 0)."""
    parts: dict[int, list[str]] = {}
    step = 0
    for line in text.splitlines():
        if line.startswith(_STEP):
            step = int(line[len(_STEP):].split()[0])
            parts.setdefault(step, [])
            continue
        parts.setdefault(step, []).append(line)
    return {k: "\n".join(v) for k, v in parts.items()}


def _step_wall(out: str, rest: float) -> float:
    """A step's wall time from its report line; ``rest`` (what the child ran after the steps before) without one."""
    report = next((json.loads(ln[len(_MARK):]) for ln in out.splitlines() if ln.startswith(_MARK)), None)
    return float(report["wall_s"]) if report and "wall_s" in report else max(rest, 0.0)


def _single_jvm(master: str) -> bool:
    """True for ``local`` and ``local[N]``: the tasks run in the driver's own JVM (not ``local-cluster``)."""
    return master == "local" or master.startswith("local[")


def _outcome(workload: str, out: str, err: str, returncode: int | None, wall: float,
             master: str = "local[2]") -> OomOutcome:
    """Read the child's report line, or classify its logs when it died without one.

    In local mode the executor is a thread pool inside the driver's JVM, so an
    OutOfMemoryError that Spark reports as a lost task is the driver's heap
    running out: it is a ``driver_oom``, with the driver's fixes. Which of the
    two a local run prints depends on which thread allocates last (the task
    building its result, or the driver receiving it), not on the cause.
    """
    report = next((json.loads(ln[len(_MARK):]) for ln in out.splitlines() if ln.startswith(_MARK)), None)
    out = "\n".join(ln for ln in out.splitlines() if not ln.startswith(_MARK))
    text = "\n".join([(report or {}).get("message", ""), err, out])
    if report and report["status"] == "ok":
        return OomOutcome(workload, "ok", wall_s=wall, result=report.get("result"))
    found = diagnose(text)
    status = _STATUS.get(found.category, "error")
    lines = _cause_lines(text) or [found.evidence]
    fixes = found.fixes
    if status == "executor_oom" and _single_jvm(master):
        status, fixes = "driver_oom", CATEGORIES["driver_oom"][1]
        lines = [f"{master}: the tasks run in the driver's JVM, so this task's OutOfMemoryError is the driver's heap",
                 *lines]
    error_class = (report or {}).get("error_class") or f"exit code {returncode}"
    return OomOutcome(workload, status, error_class, lines, wall, fixes=fixes)


def _child(steps: list[dict], master: str) -> None:
    """The child process: each step in a new session with its conf; one report line each; stop at a failure."""
    for i, step in enumerate(steps):
        print(f"{_STEP}{i}", flush=True)
        print(f"{_STEP}{i}", file=sys.stderr, flush=True)
        start = time.monotonic()
        spark = child_session(f"labkit-{step['workload']}", step["conf"], master)
        try:
            result = WORKLOADS[step["workload"]](spark, step["params"])
            report = {"status": "ok", "result": result}
        except Exception as exc:  # the point of the child: report the failure, then stop
            report = {"status": "failed", "error_class": type(exc).__name__, "message": str(exc)[:20000]}
        report["wall_s"] = round(time.monotonic() - start, 3)
        print(_MARK + json.dumps(report, default=str), flush=True)
        if report["status"] != "ok" and _STATUS.get(diagnose(report["message"]).category) not in _CONTINUE:
            break
        spark.stop()
    os._exit(0)  # skip the JVM shutdown hooks: the parent kills the process group
