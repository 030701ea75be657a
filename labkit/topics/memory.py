"""Spark's memory model as numbers, and the diagnosis of a failure log: the categories and their ordered fixes.

:func:`memory_model` splits an executor's memory the way the tuning guide and the configuration docs define it;
:func:`diagnose` classifies a driver or executor log into the guide's failure categories. The failures themselves
are reproduced in child processes by :mod:`labkit.experiments.memory` (notebook 05).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labkit.core.args import positive_int
from labkit.core.units import parse_bytes

__all__ = [
    "CATEGORIES",
    "MIN_OVERHEAD_MB",
    "OVERHEAD_FACTOR",
    "RESERVED_MB",
    "Diagnosis",
    "MemoryModel",
    "diagnose",
    "memory_model",
    "parse_memory",
]

RESERVED_MB = 300  # Spark's reserved system memory (RESERVED_SYSTEM_MEMORY_BYTES)
MIN_OVERHEAD_MB = 384  # spark.executor.memoryOverhead's floor
OVERHEAD_FACTOR = 0.10  # spark.executor.memoryOverheadFactor's default


def parse_memory(text: str | int | float) -> float:
    """A Spark memory string in MiB: ``"8g"`` -> 8192, ``"512m"`` -> 512, ``"1.5g"`` -> 1536; a bare number is MiB.

    The string is read by :func:`labkit.core.units.parse_bytes` (every form Spark takes or prints: ``"64KB"``,
    ``"1.5 GiB"``), with a bare number meaning MiB, as ``spark.executor.memory`` reads it.

    Raises
    ------
    ValueError
        Naming the string and the accepted forms, for a malformed, zero or negative size.

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
    try:
        size = parse_bytes(str(text), default_unit="m")
    except ValueError as err:
        raise ValueError(f"cannot read memory size {text!r}: use a number with k, m, g or t, e.g. '8g', '512m', "
                         f"'1.5g' (a bare number means MiB) ({err})") from None
    if size <= 0:
        raise ValueError(f"memory must be positive, got {text!r}")
    return size / 2**20


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
