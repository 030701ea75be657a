"""Memory and OOM, reproduced safely: Spark's memory model as numbers, failures run in child processes, diagnosis.

Every failing workload runs in its own Python process with its own SparkSession
and JVM (:func:`run_isolated`), so driver memory is set before the JVM starts,
an OutOfMemoryError kills only the child, and the notebook's kernel never dies.
The child is bounded in time, runs in its own process group, and is killed
with its JVM when it ends.

Run as ``python -m labkit.topics.memory <workload> '<json conf>' '<json params>'`` it is that child.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labkit.core import runtime

__all__ = [
    "CATEGORIES",
    "DEMOS",
    "WORKLOADS",
    "Diagnosis",
    "MemoryModel",
    "Outcome",
    "compare_cache_levels",
    "compare_serializers",
    "compare_spill",
    "diagnose",
    "group_alive",
    "jvm_collectors",
    "jvm_heap_mb",
    "memory_model",
    "parse_memory",
    "run_demos",
    "run_isolated",
]

RESERVED_MB = 300  # Spark's reserved system memory (RESERVED_SYSTEM_MEMORY_BYTES)
MIN_OVERHEAD_MB = 384  # spark.executor.memoryOverhead's floor
OVERHEAD_FACTOR = 0.10  # spark.executor.memoryOverheadFactor's default
_UNITS = {"b": 1 / 2**20, "k": 1 / 1024, "kb": 1 / 1024, "m": 1, "mb": 1, "g": 1024, "gb": 1024, "t": 2**20,
          "tb": 2**20}


def parse_memory(text: str | int | float) -> float:
    """A Spark memory string in MiB: ``"8g"`` -> 8192, ``"512m"`` -> 512, ``"1.5g"`` -> 1536; a bare number is MiB.

    Raises
    ------
    ValueError
        Naming the string and the accepted forms.

    Examples
    --------
    >>> parse_memory("1.5g"), parse_memory("512m"), parse_memory(2048)
    (1536.0, 512.0, 2048.0)
    """
    if isinstance(text, bool):
        raise ValueError(f"memory must be a size such as '8g' or '512m', got {text!r}")
    if isinstance(text, (int, float)):
        if text <= 0:
            raise ValueError(f"memory must be positive, got {text!r}")
        return float(text)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]{0,2})\s*", str(text))
    if not m or m.group(2).lower() not in {*_UNITS, ""} or float(m.group(1)) <= 0:
        raise ValueError(f"cannot read memory size {text!r}: use a number with k, m, g or t, e.g. '8g', '512m', "
                         "'1.5g' (a bare number means MiB)")
    return float(m.group(1)) * (_UNITS[m.group(2).lower()] if m.group(2) else 1)


@dataclass(frozen=True)
class MemoryModel:
    """Spark's unified memory model for one executor, in MiB."""

    heap: float
    reserved: float
    usable: float  # heap - reserved
    user: float  # usable * (1 - memory.fraction): your objects, UDF data structures, Spark's metadata
    unified: float  # usable * memory.fraction: execution and storage, sharing one region
    storage: float  # the part of unified that cached blocks keep against eviction (memory.storageFraction)
    execution: float  # the rest of unified: shuffles, joins, sorts, aggregations
    per_task_min: float  # execution memory a task is guaranteed when all cores run: unified / (2 * cores)
    per_task_max: float  # the most one task can take when all cores run: unified / cores
    overhead: float  # off-heap overhead the cluster manager adds
    offheap: float
    pyspark: float
    container: float  # what YARN or Kubernetes is asked for: heap + overhead + off-heap + PySpark memory

    def as_series(self):
        """The parts of the container, for a stacked bar."""
        import pandas as pd

        return pd.Series({"reserved": self.reserved, "user": self.user, "storage": self.storage,
                          "execution": self.execution, "overhead": self.overhead, "off-heap": self.offheap,
                          "PySpark": self.pyspark})


def memory_model(executor_memory: str | float, executor_cores: int, memory_fraction: float = 0.6,
                 storage_fraction: float = 0.5, overhead: str | float | None = None, offheap: str | float = 0,
                 pyspark_memory: str | float = 0) -> MemoryModel:
    """Spark's unified memory model as numbers (MiB), as the tuning guide and the configuration docs define it.

    Parameters
    ----------
    executor_memory : str or float
        ``spark.executor.memory`` (``"8g"``; a number is MiB).
    executor_cores : int
        ``spark.executor.cores``: tasks that share the execution memory.
    memory_fraction : float
        ``spark.memory.fraction`` (Spark's default 0.6), in (0, 1).
    storage_fraction : float
        ``spark.memory.storageFraction`` (default 0.5), in (0, 1).
    overhead : str or float, optional
        ``spark.executor.memoryOverhead``; by default max(384 MiB, 10% of the heap).
    offheap, pyspark_memory : str or float
        ``spark.memory.offHeap.size`` (when enabled) and ``spark.executor.pyspark.memory``.

    Returns
    -------
    MemoryModel

    Examples
    --------
    >>> m = memory_model("8g", 4)
    >>> round(m.unified, 1), round(m.user, 1), m.overhead, round(m.container, 1)
    (4735.2, 3156.8, 819.2, 9011.2)
    """
    from labkit.core.args import positive_int

    for name, value in (("memory_fraction", memory_fraction), ("storage_fraction", storage_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    positive_int("executor_cores", executor_cores)
    heap = parse_memory(executor_memory)
    if heap <= RESERVED_MB * 1.5:
        raise ValueError(f"executor memory {executor_memory!r} is too small: Spark needs at least 1.5 x {RESERVED_MB} "
                         "MiB of heap")
    usable = heap - RESERVED_MB
    unified = usable * memory_fraction
    over = parse_memory(overhead) if overhead is not None else max(MIN_OVERHEAD_MB, OVERHEAD_FACTOR * heap)
    off = parse_memory(offheap) if offheap else 0.0
    py = parse_memory(pyspark_memory) if pyspark_memory else 0.0
    return MemoryModel(heap, RESERVED_MB, usable, usable - unified, unified, unified * storage_fraction,
                       unified * (1 - storage_fraction), unified / (2 * executor_cores), unified / executor_cores,
                       over, off, py, heap + over + off + py)


# --------------------------------------------------------------------------- diagnosis

CATEGORIES = {
    "result_too_large": (r"bigger than spark\.driver\.maxResultSize",
                         ["aggregate on the cluster and collect only the answer",
                          "write the result to storage instead of collecting it",
                          "iterate with toLocalIterator() (one partition at a time)",
                          "raise spark.driver.maxResultSize only if the driver heap can hold the result"]),
    "container_killed": (r"Container killed .*exceeding memory limits|running beyond physical memory limits|"
                         r"exited with code 137|OOMKilled",
                         ["raise spark.executor.memoryOverhead (off-heap: Python workers, netty buffers, Arrow)",
                          "set spark.executor.pyspark.memory for Python UDF workers",
                          "use fewer cores per executor, so fewer tasks share the container"]),
    "executor_oom": (r"(Lost task|ExecutorLostFailure|executor \d+).*(OutOfMemoryError|exited with code 52)|"
                     r"exited with code 52|OutOfMemoryError.*\(executor|executor.*OutOfMemoryError",
                     ["split the hot key (two-stage aggregation) or avoid materialising per-key lists",
                      "more partitions (spark.sql.shuffle.partitions, repartition) so each task holds less",
                      "raise spark.executor.memory",
                      "check the Spark UI for one task far longer than the rest: skew"]),
    "broadcast_oom": (r"Not enough memory to build and broadcast the table|Cannot broadcast the table",
                      ["drop the broadcast hint, or lower spark.sql.autoBroadcastJoinThreshold",
                       "raise spark.driver.memory: a broadcast is collected to the driver first"]),
    "driver_oom": (r"OutOfMemoryError|GC overhead limit exceeded",
                   ["do not collect() or toPandas() large results: aggregate, write, or toLocalIterator()",
                    "raise spark.driver.memory (before the JVM starts: spark-submit or the session builder)",
                    "avoid large broadcasts and huge query plans built on the driver"]),
    "kryo_buffer": (r"KryoException: Buffer overflow|spark\.kryoserializer\.buffer\.max",
                    ["raise spark.kryoserializer.buffer.max (up to 2047m)",
                     "register the classes, and avoid serialising one huge object"]),
    "s3_throttling": (r"503.*Slow ?Down|SlowDown|Please reduce your request rate",
                      ["spread keys over more prefixes (S3's rate is per prefix)",
                       "fewer, larger files (compaction) and fewer concurrent writers",
                       "retry with exponential backoff (fs.s3a.retry.*, fs.s3a.attempts.maximum)"]),
    "file_not_found": (r"FileNotFoundException|PATH_NOT_FOUND|Path does not exist|NoSuchKey",
                       ["check the path and the partition the job expects (a missing daily file?)",
                        "refresh the table metadata (REFRESH TABLE) after files changed underneath"]),
    "analysis": (r"AnalysisException|UNRESOLVED_COLUMN|TABLE_OR_VIEW_NOT_FOUND|DATATYPE_MISMATCH|cannot resolve",
                 ["a column, table or type changed: compare the input schema with the job's expectation",
                  "read with an explicit schema and fail early on drift"]),
}


@dataclass(frozen=True)
class Diagnosis:
    """What a failure log says: its category, the line that shows it, and the guide's fixes in order."""

    category: str
    evidence: str
    fixes: list[str]


def diagnose(log_text: str, task_ms: list[float] | None = None) -> Diagnosis:
    """Classify a failure log into the guide's categories and return the ordered fixes.

    The categories are checked from the most specific to the most general
    (a maxResultSize failure is not an OOM; an executor OOM is not a driver
    OOM). With no error matched, task durations (``task_ms``) whose max is
    over 3x the median classify as ``skew``; otherwise ``unknown``.

    Examples
    --------
    >>> diagnose("Total size of serialized results of 3 tasks (1.2 GiB) is bigger than "
    ...          "spark.driver.maxResultSize (1024.0 MiB)").category
    'result_too_large'
    """
    for category, (pattern, fixes) in CATEGORIES.items():
        m = re.search(pattern, log_text or "", flags=re.S)
        if m:
            line = next((ln.strip() for ln in (log_text or "").splitlines() if re.search(pattern, ln)),
                        m.group(0)[:300])
            return Diagnosis(category, line[:300], fixes)
    if task_ms:
        import numpy as np

        median = float(np.median(task_ms))
        if median > 0 and max(task_ms) / median > 3:
            return Diagnosis("skew", f"longest task {max(task_ms):.0f} ms against a median of {median:.0f} ms",
                             ["salt the hot keys or split them (two-stage aggregation)",
                              "let AQE split skewed join partitions (lowered thresholds at small scale)",
                              "broadcast the small side of a skewed join"])
    return Diagnosis("unknown", "", ["read the first ERROR line of the driver log and the failed task's stderr"])


# --------------------------------------------------------------------------- workloads (run in the child)


def _rows(spark, n: int, width: int = 200):
    """n rows of an id and a ``width``-byte string, in 8 partitions."""
    return spark.range(0, n, 1, 8).selectExpr("id", f"repeat('x', {width}) as s")


def _collect(spark, p):
    """collect() a large result to the driver (fails with a small driver heap)."""
    return len(_rows(spark, p.get("rows", 4_000_000)).collect())


def _aggregate_instead(spark, p):
    """The fix: aggregate on the cluster, collect one row."""
    return _rows(spark, p.get("rows", 4_000_000)).selectExpr("count(*) as n", "sum(length(s)) as bytes").first()[0]


def _local_iterator(spark, p):
    """The fix: toLocalIterator() streams one partition at a time."""
    return sum(1 for _ in _rows(spark, p.get("rows", 4_000_000)).toLocalIterator())


def _write_instead(spark, p):
    """The fix: write the result out instead of collecting it."""
    _rows(spark, p.get("rows", 4_000_000)).write.format("noop").mode("overwrite").save()
    return "written"


def _hot_key_frame(spark, p):
    """80% of rows on key 1, each with a 100-byte payload."""
    return spark.range(0, p.get("rows", 5_000_000), 1, 8).selectExpr(
        "case when id % 10 < 8 then 1 else id end as k", "repeat('x', 100) as payload")


def _collect_list_hot_key(spark, p):
    """collect_list over a hot key: one task builds one giant list (executor OOM with a small executor heap)."""
    from pyspark.sql import functions as F

    out = _hot_key_frame(spark, p).groupBy("k").agg(F.collect_list("payload").alias("items"))
    return _measured(spark, out.select(F.max(F.size("items")).alias("longest")))


def _collect_list_split(spark, p):
    """The fix: split each key's list over ``salts`` rows (a deterministic salt), so no task holds it whole.

    This is the two-stage idea of ``labkit.topics.skew.salted_aggregate``, kept
    apart because topics do not import each other and a list cannot be merged
    back into one row without holding it whole again.
    """
    from pyspark.sql import functions as F

    salts = p.get("salts", 16)
    df = _hot_key_frame(spark, p).withColumn(
        "salt", F.pmod(F.xxhash64(F.lit(7), F.monotonically_increasing_id()), F.lit(salts)))
    out = df.groupBy("k", "salt").agg(F.collect_list("payload").alias("items"))
    return _measured(spark, out.select(F.max(F.size("items")).alias("longest")))


def _sort_spill(spark, p):
    """A wide sort with ``partitions`` tasks: fewer, larger tasks spill more to disk."""
    df = spark.range(0, p.get("rows", 3_000_000), 1, 4).selectExpr("id", "uuid() as u", "repeat('y', 60) as pad")
    return _measured(spark, df.repartition(p.get("partitions", 4)).sortWithinPartitions("u"))


def _broadcast_big(spark, p):
    """A hinted broadcast of a side too large for the driver heap."""
    from pyspark.sql import functions as F

    big = _rows(spark, p.get("rows", 3_000_000), 120)
    return _measured(spark, spark.range(0, 1000).join(F.broadcast(big), "id"))


def _plain_join(spark, p):
    """The fix: the same join without the hint (sort-merge, nothing collected to the driver)."""
    big = _rows(spark, p.get("rows", 3_000_000), 120)
    return _measured(spark, spark.range(0, 1000).join(big.hint("merge"), "id"))


def _cache_levels(spark, p):
    """A frame larger than storage memory, cached at ``level`` and read ``reads`` times: time and recomputation."""
    from pyspark import StorageLevel

    from labkit.core.measure import measure, noop

    df = spark.range(0, p.get("rows", 2_000_000), 1, p.get("partitions", 32)).selectExpr(
        "id", "sha2(cast(id as string), 512) as h", "repeat('z', 100) as pad")
    level = p.get("level", "NONE")
    if level != "NONE":
        df = df.persist(getattr(StorageLevel, level))
    runs = [measure(spark, noop(df.selectExpr("sum(length(h))")), f"read {i}") for i in range(p.get("reads", 3))]
    runtime.require_classic(spark, "the cache experiment (it reads the RDD storage info of the driver's JVM)")
    cached = spark.sparkContext._jsc.sc().getRDDStorageInfo()
    return {"seconds": [m.wall_s for m in runs], "tasks": [m.tasks for m in runs],
            "disk_spill": sum(m.disk_spill_bytes for m in runs),
            "cached_mb_memory": sum(i.memSize() for i in cached) / 2**20,
            "cached_mb_disk": sum(i.diskSize() for i in cached) / 2**20}


def _serializer_job(spark, p):
    """Three shuffles, ``repeats`` times each (seconds): an RDD of JVM Row objects (the one ``spark.serializer``
    serialises), an RDD of Python objects (pickled bytes to the JVM) and a DataFrame (Tungsten's binary rows)."""
    from labkit.core.measure import measure, noop

    n = p.get("rows", 1_000_000)
    runtime.require_classic(spark, "the serializer experiment (RDDs: spark.serializer only touches RDD data)")
    rdd = spark.sparkContext.parallelize(range(n), 8).map(lambda i: (i % 1000, {"id": i, "tags": [i, i * 2]}))
    df = spark.range(0, n, 1, 8).selectExpr("id % 1000 as k", "id", "array(id, id * 2) as tags")
    rows = df.selectExpr("k", "id", "tags", "cast(id as string) as label")._jdf.rdd()  # JVM Row objects
    out = {"jvm_rdd": [], "python_rdd": [], "dataframe": []}
    for _ in range(p.get("repeats", 3)):  # interleaved within the child
        out["jvm_rdd"].append(measure(spark, lambda: rows.repartition(16, None).count(), "jvm rdd").wall_s)
        out["python_rdd"].append(measure(spark, lambda: rdd.groupByKey().mapValues(len).count(), "rdd").wall_s)
        out["dataframe"].append(measure(spark, noop(df.groupBy("k").agg({"tags": "collect_list"})), "df").wall_s)
    return out


def _measured(spark, df):
    """Run ``df`` into the no-op sink under :func:`labkit.core.measure.measure`: its metrics as a dict."""
    from labkit.core.measure import measure, noop

    m = measure(spark, noop(df), "workload")
    return {k: v for k, v in m.as_dict().items() if k in ("wall_s", "tasks", "memory_spill_bytes", "disk_spill_bytes",
                                                          "shuffle_read_bytes", "task_max_ms", "skew_ratio")}


WORKLOADS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "collect_large": _collect,
    "aggregate_instead": _aggregate_instead,
    "local_iterator": _local_iterator,
    "write_instead": _write_instead,
    "collect_list_hot_key": _collect_list_hot_key,
    "collect_list_split": _collect_list_split,
    "sort_spill": _sort_spill,
    "broadcast_big": _broadcast_big,
    "plain_join": _plain_join,
    "cache_levels": _cache_levels,
    "serializer_job": _serializer_job,
}


# --------------------------------------------------------------------------- the parent side


@dataclass
class Outcome:
    """How an isolated run ended."""

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
        return (f"Outcome({self.workload}: {self.status} in {self.wall_s:.1f}s"
                + (f", {self.error_class}" if self.error_class else "") + (f"\n  {lines}" if lines else "") + ")")


_STATUS = {"driver_oom": "driver_oom", "broadcast_oom": "driver_oom", "executor_oom": "executor_oom",
           "result_too_large": "result_too_large", "container_killed": "container_killed"}
_MARK = "LABKIT-OUTCOME "


def _cause_lines(text: str, limit: int = 6) -> list[str]:
    """The lines of a log that name the cause: errors, OOMs, lost executors, the exception message."""
    keep = re.compile(r"OutOfMemoryError|maxResultSize|Exception|ERROR|Lost (task|executor)|exited with code|"
                      r"Not enough memory|Killed|Caused by")
    lines = [ln.strip() for ln in text.splitlines() if keep.search(ln) and not ln.strip().startswith("at ")]
    return list(dict.fromkeys(lines))[:limit]


def group_alive(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, read from /proc (Linux); [] when none is left."""
    from pathlib import Path

    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


_SCRATCH = "LABKIT_CHILD_SCRATCH"  # the child's temp folder, given by run_isolated


def _kill_group(proc: subprocess.Popen, wait_s: float = 10.0) -> None:
    """Kill the child's whole process group (Python and the JVM it started), reap it, and wait until none lives."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.monotonic() + wait_s
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def run_isolated(workload: str, conf: Mapping[str, Any] | None = None, master: str = "local[2]",
                 timeout_s: float = 120, params: Mapping[str, Any] | None = None) -> Outcome:
    """Run a named workload in a child Python process with its own SparkSession and JVM.

    Parameters
    ----------
    workload : str
        A key of :data:`WORKLOADS`.
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
    Outcome
        ``status`` and, on failure, the error class, the lines that show the
        cause, and :func:`diagnose`'s fixes; on success the workload's result.

    Raises
    ------
    ValueError
        For an unknown workload (the message lists the known ones).
    """
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; the known ones are {', '.join(WORKLOADS)}")
    cmd = [sys.executable, "-m", "labkit.topics.memory", workload, json.dumps({"master": master, **(conf or {})}),
           json.dumps(dict(params or {}))]
    # The child's JVM is killed, never left to its shutdown hooks: its temp and block-manager folders go in a
    # folder of its own, removed once the process group is gone.
    scratch = tempfile.mkdtemp(prefix=f"labkit-{workload}-")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONUNBUFFERED": "1", "SPARK_LOCAL_DIRS": scratch,
           _SCRATCH: scratch}
    for connect_flag in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE"):  # the child is a classic session, always
        env.pop(connect_flag, None)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err, timed_out = "", "", True
    finally:
        if proc.poll() is None or not timed_out:
            _kill_group(proc)  # the JVM, if the Python child left it behind
        shutil.rmtree(scratch, ignore_errors=True)
    wall = time.monotonic() - start
    if timed_out:
        return Outcome(workload, "timeout", "TimeoutExpired", [f"killed after {timeout_s:.0f} s"], wall,
                       pgid=proc.pid)
    outcome = _outcome(workload, out, err, proc.returncode, wall, master)
    outcome.pgid = proc.pid
    return outcome


def _single_jvm(master: str) -> bool:
    """True for ``local`` and ``local[N]``: the tasks run in the driver's own JVM (not ``local-cluster``)."""
    return master == "local" or master.startswith("local[")


def _outcome(workload: str, out: str, err: str, returncode: int, wall: float, master: str = "local[2]") -> Outcome:
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
        return Outcome(workload, "ok", wall_s=wall, result=report.get("result"))
    found = diagnose(text)
    status = _STATUS.get(found.category, "error")
    lines = _cause_lines(text) or [found.evidence]
    fixes = found.fixes
    if status == "executor_oom" and _single_jvm(master):
        status, fixes = "driver_oom", CATEGORIES["driver_oom"][1]
        lines = [f"{master}: the tasks run in the driver's JVM, so this task's OutOfMemoryError is the driver's heap",
                 *lines]
    error_class = (report or {}).get("error_class") or f"exit code {returncode}"
    return Outcome(workload, status, error_class, lines, wall, fixes=fixes)


def _child(workload: str, conf: dict, params: dict) -> None:
    """The child process: build a session with ``conf``, run the workload, print one report line."""
    from pyspark.sql import SparkSession

    from labkit.core.session import _LOG4J

    master = conf.pop("master", "local[2]")
    builder = SparkSession.builder.master(master).appName(f"labkit-{workload}")
    java = f"-Dlog4j2.configurationFile=file:{_LOG4J}"
    if os.environ.get(_SCRATCH):  # native libraries and Spark's own temp files, removed by the parent
        java += f" -Djava.io.tmpdir={os.environ[_SCRATCH]}"
    defaults = {"spark.ui.showConsoleProgress": "false", "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1", "spark.ui.port": "0",
                "spark.driver.extraJavaOptions": java, "spark.executor.extraJavaOptions": java}
    for key, value in {**defaults, **{k: str(v) for k, v in conf.items()}}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        result = WORKLOADS[workload](spark, params)
        report = {"status": "ok", "result": result}
    except Exception as exc:  # the point of the child: report the failure, then exit
        report = {"status": "failed", "error_class": type(exc).__name__, "message": str(exc)[:20000]}
    print(_MARK + json.dumps(report, default=str), flush=True)
    os._exit(0)  # skip the JVM shutdown hooks: the parent kills the process group


if __name__ == "__main__":  # pragma: no cover - run by run_isolated in a child process
    _child(sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]))


# --------------------------------------------------------------------------- the notebook's demonstrations

_SMALL_DRIVER = {"spark.driver.memory": "512m"}
_EXECUTOR = {"spark.executor.memory": "512m", "spark.task.maxFailures": 1, "spark.sql.shuffle.partitions": 4,
             "spark.sql.adaptive.enabled": "false"}
# name -> (workload, conf, params, master, the status it must end with, quick enough for CI)
DEMOS = {
    "driver OOM: collect() of 4M rows, 512 MiB driver": (
        "collect_large", {**_SMALL_DRIVER, "spark.driver.maxResultSize": "0"}, {}, "local[2]", "driver_oom", True),
    "fix 1: aggregate on the cluster": ("aggregate_instead", _SMALL_DRIVER, {}, "local[2]", "ok", True),
    "result too large: 200k rows against a 1 MiB maxResultSize": (
        "collect_large", {**_SMALL_DRIVER, "spark.driver.maxResultSize": "1m"}, {"rows": 200_000}, "local[2]",
        "result_too_large", True),
    "fix 2: write instead of collect": ("write_instead", _SMALL_DRIVER, {}, "local[2]", "ok", False),
    "fix 3: toLocalIterator()": ("local_iterator", _SMALL_DRIVER, {"rows": 1_000_000}, "local[2]", "ok", False),
    "broadcast OOM: 8M rows, 512 MiB driver": ("broadcast_big", _SMALL_DRIVER, {"rows": 8_000_000}, "local[2]",
                                             "driver_oom", False),
    "fix 4: the same join, sort-merge": ("plain_join", _SMALL_DRIVER, {"rows": 8_000_000}, "local[2]", "ok", False),
    "executor OOM: collect_list over a hot key": (
        "collect_list_hot_key", _EXECUTOR, {}, "local-cluster[2,1,1024]", "executor_oom", False),
    "fix 5: the hot key's list split over 16 salts": (
        "collect_list_split", _EXECUTOR, {}, "local-cluster[2,1,1024]", "ok", False),
}


def run_demos(quick_only: bool = True, timeout_s: float = 180):
    """Run :data:`DEMOS` in child processes, each failure followed by its fix, with a progress line per run.

    Parameters
    ----------
    quick_only : bool
        Only the demonstrations fast enough for CI (a driver OOM, its fix, maxResultSize).
    timeout_s : float

    Returns
    -------
    pandas.DataFrame
        Indexed by demonstration: ``id`` (a short name for results keys), ``workload``, ``master``, ``expected``,
        ``status``, ``seconds``,
        ``cause`` (the line that shows it) and ``first fix``; ``attrs["outcomes"]`` holds every :class:`Outcome`.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    chosen = {k: v for k, v in DEMOS.items() if v[5] or not quick_only}
    rows, outcomes = [], {}
    for name, (workload, conf, params, master, expected, _) in tqdm(chosen.items(), desc="isolated runs"):
        out = run_isolated(workload, conf, master=master, timeout_s=timeout_s, params=params)
        outcomes[name] = out
        rows.append({"demo": name, "id": re.sub(r"[^a-z0-9]+", "_", name.split(":")[0].lower()).strip("_"),
                     "workload": workload, "master": master, "expected": expected,
                     "status": out.status, "seconds": round(out.wall_s, 1),
                     "cause": (out.log[0] if out.log else "").lstrip(": ")[:140],
                     "first fix": out.fixes[0] if out.fixes else ""})
    table = pd.DataFrame(rows).set_index("demo")
    table.attrs["outcomes"] = outcomes
    return table


def jvm_heap_mb(spark) -> float:
    """The driver JVM's maximum heap in MiB: in local mode the executors share it.

    On Spark Connect the server's driver is asked through its REST API: its
    unified memory is ``(heap - 300 MiB) * spark.memory.fraction``, so the heap
    is that divided by the fraction, plus the 300 MiB.
    """
    if runtime.is_connect(spark):
        driver = next(e for e in runtime.get_json(f"{runtime.api_base(spark)}/executors") if e["id"] == "driver")
        fraction = float(spark.conf.get("spark.memory.fraction", "0.6"))
        return driver["maxMemory"] / 2**20 / fraction + RESERVED_MB
    return spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**20


def jvm_collectors(spark) -> dict[str, Any]:
    """The driver JVM's garbage collectors, and the GC flags it was started with (a classic session only).

    The guide's ``-XX:+UseG1GC`` picks the collector that Java 9 and later already use by default: with no GC
    flag given, ``collectors`` are G1's two (``g1_by_default``).

    Returns
    -------
    dict
        ``java`` (version), ``gc_flags`` (the JVM arguments ending in ``GC``), ``collectors`` (their MXBean
        names), ``g1_by_default`` (no flag given and every collector is G1's).

    Raises
    ------
    labkit.core.runtime.ConnectUnsupported
        On Spark Connect: the collectors are the server's JVM's, out of a client's reach.
    """
    runtime.require_classic(spark, "reading the driver JVM's garbage collectors")
    jvm = spark.sparkContext._jvm
    mx = jvm.java.lang.management.ManagementFactory
    collectors = [str(b.getName()) for b in mx.getGarbageCollectorMXBeans()]
    flags = [str(a) for a in mx.getRuntimeMXBean().getInputArguments() if str(a).endswith("GC")]
    return {"java": str(jvm.java.lang.System.getProperty("java.version")), "gc_flags": flags,
            "collectors": collectors, "g1_by_default": not flags and all(c.startswith("G1 ") for c in collectors)}


def _checked(out: Outcome) -> Any:
    """An ok outcome's result, or a RuntimeError that names the failure (a measurement must not fail silently)."""
    if out.status != "ok":
        raise RuntimeError(f"{out.workload} ended {out.status}: {' | '.join(out.log[:2])}")
    return out.result


def compare_serializers(rows: int = 1_000_000, rounds: int = 2, repeats: int = 3) -> Any:
    """Java against Kryo serialization, one child process per run (``spark.serializer`` is fixed at start).

    The children alternate (Java, Kryo, Java, Kryo, ...); each times three jobs
    ``repeats`` times and the first run of each child is dropped as warm-up.

    Returns
    -------
    pandas.DataFrame
        Indexed by job (``jvm_rdd``, ``python_rdd``, ``dataframe``): median seconds
        with each serializer and ``kryo speedup`` (Java / Kryo).
    """
    import pandas as pd

    names = {"java": "org.apache.spark.serializer.JavaSerializer",
             "kryo": "org.apache.spark.serializer.KryoSerializer"}
    times: dict[str, dict[str, list[float]]] = {s: {} for s in names}
    for _ in range(rounds):
        for short, cls in names.items():
            result = _checked(run_isolated("serializer_job", {"spark.serializer": cls},
                                           params={"rows": rows, "repeats": repeats}))
            for job, secs in result.items():
                times[short].setdefault(job, []).extend(secs[1:] or secs)
    table = pd.DataFrame({s: {job: float(pd.Series(v).median()) for job, v in jobs.items()}
                          for s, jobs in times.items()})
    table["kryo speedup"] = table["java"] / table["kryo"]
    return table


def compare_cache_levels(rows: int = 2_000_000, levels=("NONE", "MEMORY_ONLY", "MEMORY_AND_DISK")) -> Any:
    """One frame read three times, uncached and at each storage level, with storage memory smaller than it.

    A 2 GiB driver with ``spark.memory.fraction=0.1`` leaves about 175 MiB for
    execution and storage together, so the cached frame does not fit: MEMORY_ONLY
    recomputes the partitions it could not keep, MEMORY_AND_DISK reads them from disk.

    Returns
    -------
    pandas.DataFrame
        Indexed by level: ``first read s``, ``later reads s`` (median), ``tasks per later read``,
        ``cached in memory MB`` and ``cached on disk MB``.
    """
    import pandas as pd

    rows_out = []
    for level in levels:
        r = _checked(run_isolated("cache_levels", {"spark.driver.memory": "2g", "spark.memory.fraction": 0.1},
                                  params={"rows": rows, "level": level}))
        rows_out.append({"level": level, "first read s": r["seconds"][0],
                         "later reads s": float(pd.Series(r["seconds"][1:]).median()),
                         "tasks per later read": r["tasks"][-1], "cached in memory MB": r["cached_mb_memory"],
                         "cached on disk MB": r["cached_mb_disk"]})
    return pd.DataFrame(rows_out).set_index("level")


def compare_spill(rows: int = 3_000_000, partitions=(2, 32)) -> Any:
    """The same sort with few and with many partitions, 700 MiB driver: spill bytes and time from ``measure``."""
    import pandas as pd

    out = []
    for n in partitions:
        r = _checked(run_isolated("sort_spill", {"spark.driver.memory": "700m"}, params={"rows": rows,
                                                                                       "partitions": n}))
        out.append({"partitions": n, "disk spill MB": r["disk_spill_bytes"] / 2**20,
                    "memory spill MB": r["memory_spill_bytes"] / 2**20, "seconds": r["wall_s"]})
    return pd.DataFrame(out).set_index("partitions")
