"""Measure a Spark action with Spark's own task metrics, read from the driver's REST API.

:func:`measure` tags the jobs an action starts, waits for the listener bus to
drain, then reads ``/jobs``, ``/stages``, ``/stages/{id}/{attempt}/taskList``
and ``/sql/{id}`` for exactly those jobs. No extra JAR is needed: this is the
same data the Spark UI shows. On Spark Connect the same endpoints of the
server's UI are read (see :mod:`labkit.core.runtime` for where its address
comes from), and the plan is the one the server recorded for the query.
"""

from __future__ import annotations

import re
import time
import urllib.error
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from labkit.core import runtime
from labkit.core.plan_parse import PlanSummary, parse_plan
from labkit.core.poll import wait_until
from labkit.core.units import format_bytes, parse_bytes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["Measurement", "measure", "noop"]


@dataclass
class Measurement:
    """Wall time and Spark task metrics of one measured action.

    Task quantiles and ``skew_ratio`` describe the heaviest stage (the one with
    the most total task time). ``shuffle_skew_ratio`` describes the stage that
    read the most shuffle data, which is where a skewed join or aggregation
    key lands; ``stage_tasks_ms`` holds every stage's task durations.
    """

    label: str
    wall_s: float
    jobs: int
    stages: int
    tasks: int
    executor_run_ms: int
    task_p50_ms: float
    task_p90_ms: float
    task_max_ms: float
    skew_ratio: float  # max / median task duration of the heaviest stage
    shuffle_read_bytes: int
    shuffle_write_bytes: int
    memory_spill_bytes: int
    disk_spill_bytes: int
    input_bytes: int
    input_records: int
    input_files: int  # files the scans opened (SQL metric "number of files read")
    files_read_bytes: int  # their size (SQL metric "size of files read"): what pruning saves
    broadcast_bytes: int  # size of the broadcast relations built (SQL metric "data size" of BroadcastExchange)
    heaviest_stage: int | None  # most total task time
    shuffle_stage: int | None  # the stage that read the most shuffle bytes: where key skew lands
    shuffle_skew_ratio: float  # max / median task duration of shuffle_stage (0 when no shuffle)
    heaviest_stage_tasks_ms: list[int] = field(repr=False, default_factory=list)
    stage_tasks_ms: dict[int, list[int]] = field(repr=False, default_factory=dict)
    stage_wall_ms: dict[int, float] = field(repr=False, default_factory=dict)  # first launch to completion
    plan: PlanSummary | None = field(repr=False, default=None)
    result: Any = field(repr=False, default=None)
    gc_ms: int = 0  # JVM garbage-collection time summed over the tasks (stage metric jvmGcTime)
    ui_url: str = ""  # the Spark UI this was read from

    def ui_report(self) -> str:
        """A compact text version of what the Spark UI shows for this action.

        The slowest stage (by its measured time, with its task count and max /
        median task time: a skew warning above 3x), spill, GC time against task
        time, shuffle volume, and where to open the real UI.

        Returns
        -------
        str
        """
        lines = [f"{self.label}: {self.wall_s:.2f} s wall, {self.jobs} job(s), {self.stages} stage(s), "
                 f"{self.tasks} task(s)"]
        if self.stage_wall_ms:
            sid = max(self.stage_wall_ms, key=self.stage_wall_ms.get)
            tasks = self.stage_tasks_ms.get(sid, [])
            ratio = _ratio(tasks)
            lines.append(f"slowest stage: {sid}, {self.stage_wall_ms[sid]:,.0f} ms, {len(tasks)} task(s), "
                         f"max/median task {ratio:.1f}x" + ("  <- task skew" if ratio > 3 else ""))
        mem, disk = format_bytes(self.memory_spill_bytes, "MiB"), format_bytes(self.disk_spill_bytes, "MiB")
        hint = "  <- spilling: more partitions or memory" if self.disk_spill_bytes else ""
        lines.append(f"spill: {mem} memory, {disk} disk{hint}")
        share = self.gc_ms / self.executor_run_ms if self.executor_run_ms else 0.0
        lines.append(f"GC: {self.gc_ms:,} ms, {share:.0%} of task time" + ("  <- GC pressure" if share > 0.1 else ""))
        read, written = format_bytes(self.shuffle_read_bytes, "MiB"), format_bytes(self.shuffle_write_bytes, "MiB")
        lines.append(f"shuffle: {read} read, {written} written")
        if self.ui_url:
            lines.append(f"the real UI: {self.ui_url} (Stages tab: sort by Duration; open a stage for its task table)")
        return "\n".join(lines)

    def shuffle_stage_share(self) -> float:
        """Share of all task time spent in :attr:`shuffle_stage` (where a join or grouping key lands), 0 if none."""
        total = sum(sum(v) for v in self.stage_tasks_ms.values())
        if self.shuffle_stage is None or not total:
            return 0.0
        return sum(self.stage_tasks_ms[self.shuffle_stage]) / total

    def as_dict(self) -> dict[str, Any]:
        """The scalar fields, for a table row or a results record."""
        skip = {"heaviest_stage_tasks_ms", "stage_tasks_ms", "stage_wall_ms", "plan", "result", "ui_url"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def _get(base: str, path: str):
    """GET a REST path as JSON."""
    return runtime.get_json(base + path)


_DRAIN_TIMEOUT_S = 30.0  # how long the REST API may take to show an action's jobs finished


def _drain(spark: SparkSession, base: str, tag: str, timeout: float | None = None) -> list[dict]:
    """Wait until the status store has seen every tagged job finish; return those jobs.

    A classic session waits on Spark's listener bus first. A Connect client
    cannot, so it polls until the tagged jobs have stayed the same and finished
    for two reads in a row.

    Raises
    ------
    TimeoutError
        When tagged jobs are still unfinished after ``timeout`` seconds: their
        metrics would be incomplete, so the error names the tag, the jobs, the
        timeout and the REST API it read.
    """
    if not runtime.is_connect(spark):
        try:
            spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
        except Exception as exc:  # changed internals: polling below still works
            warnings.warn(f"measure: could not wait on Spark's listener bus ({type(exc).__name__}); polling the "
                          "REST API instead", stacklevel=3)
    timeout = _DRAIN_TIMEOUT_S if timeout is None else timeout
    began = time.monotonic()
    connect = runtime.is_connect(spark)
    last: dict[str, Any] = {"ids": None, "jobs": [], "unfinished": []}

    tagged = None if connect else _tagged_job_ids(spark, tag)

    def drained() -> bool:
        if tagged is not None:  # a few jobs by id: the full listing grows to spark.ui.retainedJobs entries
            jobs = [j for i in tagged for j in _get_or_empty(base, f"/jobs/{i}")]
        else:
            jobs = [j for j in _get(base, "/jobs") if runtime.has_job_tag(j, tag)]
        ids = sorted(j["jobId"] for j in jobs)
        unfinished = [j["jobId"] for j in jobs if j["status"] not in ("SUCCEEDED", "FAILED")]
        settled = not connect or (ids == last["ids"] and (ids or time.monotonic() - began > 2.0))
        last.update(ids=ids, jobs=jobs, unfinished=unfinished)
        return not unfinished and settled

    if not wait_until(drained, timeout, interval=0.25 if connect else 0.1):
        raise TimeoutError(f"measure: the jobs tagged {tag!r} ({last['unfinished'] or 'none listed yet'}) had not "
                           f"finished in the REST API ({base}/jobs) after {timeout:g} s; their stages and tasks "
                           "would be missing from the measurement")
    return last["jobs"]


def _tagged_job_ids(spark: SparkSession, tag: str) -> list[int] | None:
    """The ids of a classic session's jobs carrying ``tag`` (its status tracker), or None where it cannot tell."""
    try:
        return sorted(int(i) for i in spark.sparkContext._jsc.sc().statusTracker().getJobIdsForTag(tag))
    except Exception:  # changed internals: the REST listing below still works
        return None


def _quantiles(durations: list[int]) -> tuple[float, float, float]:
    """p50, p90 and max of a list of durations (zeros when empty)."""
    if not durations:
        return 0.0, 0.0, 0.0
    arr = np.asarray(durations, dtype=float)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 90)), float(arr.max())


def _timestamp_ms(text: str) -> float:
    """Parse a REST timestamp such as ``2026-11-25T20:47:10.123GMT`` into epoch milliseconds."""
    from datetime import datetime, timezone

    return datetime.strptime(text.replace("GMT", ""), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=timezone.utc).timestamp() * 1000


def _stage_wall_ms(stage: dict) -> float:
    """Time from a stage's first task launch to its completion (0 when unknown)."""
    first, done = stage.get("firstTaskLaunchedTime"), stage.get("completionTime")
    return _timestamp_ms(done) - _timestamp_ms(first) if first and done else 0.0


def _ratio(durations: list[int]) -> float:
    """max / median of task durations; the median is floored at 1 ms (0 when empty)."""
    if not durations:
        return 0.0
    p50, _, mx = _quantiles(durations)
    return mx / max(p50, 1.0)


def _task_durations(base: str, stage: dict) -> list[int]:
    """Durations (ms) of the successful tasks of one stage attempt, in partition order."""
    tasks = _get(base, f"/stages/{stage['stageId']}/{stage['attemptId']}/taskList?length=1000000")
    done = [t for t in tasks if t.get("status") == "SUCCESS"]
    return [int(t.get("duration", 0)) for t in sorted(done, key=lambda t: t["index"])]


def _unparsed(kind: str, value: str) -> int:
    """Warn about a SQL metric value that did not parse, and count it as 0."""
    warnings.warn(f"measure: a SQL {kind} metric {value!r} did not parse; counted as 0", stacklevel=4)
    return 0


def _metric_number(value: str) -> int:
    """Parse a SQL metric such as ``'1,234'`` into an int (warns and gives 0 when it does not parse)."""
    m = re.fullmatch(r"[\d,]+", value.strip())
    return int(m.group(0).replace(",", "")) if m else _unparsed("count", value)


def _metric_bytes(value: str) -> int:
    """Parse a SQL size metric such as ``'131.6 KiB'`` into bytes (0, with a warning, when not a plain size)."""
    text = value.strip()
    if "\n" in text:  # per-task metrics print "total (min, med, max ...)\n123 KiB (...)": take the total
        text = text.split("\n", 1)[1].split(" (", 1)[0]
    try:
        return parse_bytes(text)
    except ValueError:
        return _unparsed("size", value)


def _sql_metric(sqls: list[dict], name: str, parse: Callable[[str], int]) -> int:
    """Sum one SQL metric over every node of the given executions."""
    return sum(parse(m["value"]) for ex in sqls for node in ex.get("nodes", [])
               for m in node.get("metrics", []) if m["name"] == name)


# base URL -> (offset, id) of an execution near the end of the last listing read there. The next listing starts at
# that offset, so a session with a thousand past executions is not read in full on every measure(). When the id
# found at the offset differs (the store dropped old executions, or another application took the port), the whole
# list is read again.
_SQL_TAIL: dict[str, tuple[int, int]] = {}
_SQL_TAIL_KEEP = 5  # executions before the end a later listing re-reads


def _recent_sql(base: str) -> list[dict]:
    """The SQL executions from a recent point on (all of them the first time), without details."""
    offset, listing = 0, None
    if base in _SQL_TAIL:
        offset, first_id = _SQL_TAIL[base]
        part = _get(base, f"/sql?details=false&offset={offset}&length=1000000")
        listing = part if part and part[0].get("id") == first_id else None
    if listing is None:
        offset, listing = 0, _get(base, "/sql?details=false&length=1000000")
    keep = max(0, len(listing) - _SQL_TAIL_KEEP)
    if listing:
        _SQL_TAIL[base] = (offset + keep, listing[keep]["id"])
    return listing


def _get_or_empty(base: str, path: str) -> list:
    """GET a REST list (or one object, as a list of it), or ``[]`` when the status store no longer has it (404:
    dropped by spark.ui.retainedStages or retainedJobs)."""
    try:
        got = _get(base, path)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    return got if isinstance(got, list) else [got]


def _stages_of(base: str, stage_ids: set[int]) -> list[dict]:
    """The finished attempts (complete or failed) of these stages, without their tasks."""
    if len(stage_ids) > 50:  # many stages: one listing costs less than one request each
        listed = [s for s in _get(base, "/stages") if s["stageId"] in stage_ids]
    else:
        listed = [a for sid in sorted(stage_ids) for a in _get_or_empty(base, f"/stages/{sid}?details=false")]
    return [s for s in listed if s["status"] in ("COMPLETE", "FAILED")]


def _sql_for_jobs(base: str, job_ids: set[int]) -> list[dict]:
    """The SQL executions (with node metrics and plan) that ran any of these jobs."""
    out = []
    for ex in _recent_sql(base):
        ran = set(ex.get("successJobIds", [])) | set(ex.get("failedJobIds", [])) | set(ex.get("runningJobIds", []))
        if ran & job_ids:
            out.append(_get(base, f"/sql/{ex['id']}?details=true&planDescription=true"))
    return out


def noop(df: DataFrame) -> Callable[[], None]:
    """A callable that runs ``df`` in full into Spark's no-op sink (every row computed, nothing kept).

    ``noop(df)()`` forces the work now; ``measure(spark, noop(df))`` measures it.
    The write plans the query afresh each call, so a setting changed between
    calls reaches it (``collect()`` would reuse the first physical plan).

    Examples
    --------
    >>> noop(spark.range(10))()
    """

    def run() -> None:
        df.write.format("noop").mode("overwrite").save()

    return run


def measure(spark: SparkSession, action: Callable[[], Any], label: str = "action") -> Measurement:
    """Run ``action()`` and measure the Spark jobs it starts.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    action : callable
        Forces the work, e.g. ``lambda: df.write.format("noop").mode("overwrite").save()``.
        Build and cache inputs before calling, so only the work is timed.
    label : str
        A name for the measurement.

    Returns
    -------
    Measurement
        Wall time, stage and task metrics, the heaviest stage's task durations,
        and a :class:`PlanSummary` of the last SQL execution. ``result`` holds
        what ``action`` returned.

    Examples
    --------
    >>> m = measure(spark, noop(spark.range(1000)), "range")
    >>> m.tasks >= 1, m.label
    (True, 'range')
    """
    base = runtime.api_base(spark)
    tag = f"labkit-{uuid.uuid4().hex[:12]}"
    runtime.add_job_tag(spark, tag)
    try:
        start = time.perf_counter()
        result = action()
        wall = time.perf_counter() - start
    finally:
        runtime.remove_job_tag(spark, tag)
    jobs = _drain(spark, base, tag)
    job_ids = {j["jobId"] for j in jobs}
    stage_ids = {s for j in jobs for s in j["stageIds"]}
    stages = _stages_of(base, stage_ids)
    stage_tasks = {s["stageId"]: _task_durations(base, s) for s in stages}
    heaviest = max(stage_tasks, key=lambda sid: sum(stage_tasks[sid]), default=None)
    tasks_ms = stage_tasks.get(heaviest, [])
    p50, p90, mx = _quantiles(tasks_ms)
    readers = [s for s in stages if s.get("shuffleReadBytes", 0) > 0]
    shuffle_stage = max(readers, key=lambda s: s["shuffleReadBytes"])["stageId"] if readers else None
    sqls = _sql_for_jobs(base, job_ids)
    total = lambda key: int(sum(s.get(key, 0) for s in stages))  # noqa: E731
    return Measurement(
        label=label,
        wall_s=wall,
        jobs=len(jobs),
        stages=len(stages),
        tasks=sum(len(v) for v in stage_tasks.values()),
        executor_run_ms=total("executorRunTime"),
        task_p50_ms=p50,
        task_p90_ms=p90,
        task_max_ms=mx,
        skew_ratio=_ratio(tasks_ms),
        shuffle_read_bytes=total("shuffleReadBytes"),
        shuffle_write_bytes=total("shuffleWriteBytes"),
        memory_spill_bytes=total("memoryBytesSpilled"),
        disk_spill_bytes=total("diskBytesSpilled"),
        input_bytes=total("inputBytes"),
        input_records=total("inputRecords"),
        input_files=_sql_metric(sqls, "number of files read", _metric_number),
        files_read_bytes=_sql_metric(sqls, "size of files read", _metric_bytes),
        broadcast_bytes=_sql_metric([{"nodes": [n for ex in sqls for n in ex.get("nodes", [])
                                                if n.get("nodeName") == "BroadcastExchange"]}],
                                    "data size", _metric_bytes),
        heaviest_stage=heaviest,
        shuffle_stage=shuffle_stage,
        shuffle_skew_ratio=_ratio(stage_tasks.get(shuffle_stage, [])),
        heaviest_stage_tasks_ms=tasks_ms,
        stage_tasks_ms=stage_tasks,
        stage_wall_ms={s["stageId"]: _stage_wall_ms(s) for s in stages},
        plan=parse_plan(sqls[-1]["planDescription"]) if sqls else None,
        result=result,
        gc_ms=total("jvmGcTime"),
        ui_url=runtime.ui_url(spark),
    )
