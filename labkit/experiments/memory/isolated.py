"""A named workload in a child Python with its own SparkSession and JVM, and how the run ended.

:func:`run_isolated` runs ``python -m labkit.experiments.memory <workload> '<json conf>' '<json params>'``
through :func:`labkit.tools.child.run_child`: driver memory is set before the child's JVM starts, an
OutOfMemoryError kills only the child, and the notebook's kernel never dies. The child is bounded in time, runs
in its own process group, and is killed with its JVM when it ends. The child prints one report line; the
parent reads it, or classifies the child's logs with :func:`labkit.topics.memory.diagnose` when it died
without one (an :class:`OomOutcome`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labkit.experiments.memory.workloads import WORKLOADS
from labkit.tools.child import child_session, run_child
from labkit.topics.memory import CATEGORIES, diagnose

__all__ = ["OomOutcome", "run_isolated"]

_STATUS = {"driver_oom": "driver_oom", "broadcast_oom": "driver_oom", "executor_oom": "executor_oom",
           "result_too_large": "result_too_large", "container_killed": "container_killed"}
_MARK = "LABKIT-OUTCOME "
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
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; the known ones are {', '.join(WORKLOADS)}")
    run = run_child(_CHILD_MODULE, [workload, json.dumps({"master": master, **(conf or {})}),
                                    json.dumps(dict(params or {}))],
                    timeout_s=timeout_s, scratch_prefix=f"labkit-{workload}-")
    if run.timed_out:
        return OomOutcome(workload, "timeout", "TimeoutExpired", [f"killed after {timeout_s:.0f} s"], run.wall_s,
                          pgid=run.pgid)
    outcome = _outcome(workload, run.stdout, run.stderr, run.returncode, run.wall_s, master)
    outcome.pgid = run.pgid
    return outcome


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


def _child(workload: str, conf: dict, params: dict) -> None:
    """The child process: build a session with ``conf``, run the workload, print one report line."""
    master = conf.pop("master", "local[2]")
    spark = child_session(f"labkit-{workload}", conf, master)
    try:
        result = WORKLOADS[workload](spark, params)
        report = {"status": "ok", "result": result}
    except Exception as exc:  # the point of the child: report the failure, then exit
        report = {"status": "failed", "error_class": type(exc).__name__, "message": str(exc)[:20000]}
    print(_MARK + json.dumps(report, default=str), flush=True)
    os._exit(0)  # skip the JVM shutdown hooks: the parent kills the process group
