"""The workloads notebook 05 runs in child processes: each failure, its fix, and the measured comparisons.

Each workload is ``fn(spark, params)`` and runs in the child :func:`labkit.experiments.memory.run_isolated`
starts (its own SparkSession and JVM, sized before the JVM starts). The measured ones compare their variants
through :func:`labkit.core.bench.compare` (warm-up, interleaved repeats, medians, spreads) inside the child and
return the table and every run, for the parent to combine across children.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import functions as F

from labkit.core import bench, runtime
from labkit.core.measure import measure, noop

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["WORKLOADS"]


def _rows(spark: SparkSession, n: int, width: int = 200) -> DataFrame:
    """n rows of an id and a ``width``-byte string, in 8 partitions."""
    return spark.range(0, n, 1, 8).selectExpr("id", f"repeat('x', {width}) as s")


def _collect(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """collect() a large result to the driver (fails with a small driver heap)."""
    return len(_rows(spark, p.get("rows", 4_000_000)).collect())


def _aggregate_instead(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """The fix: aggregate on the cluster, collect one row."""
    return _rows(spark, p.get("rows", 4_000_000)).selectExpr("count(*) as n", "sum(length(s)) as bytes").first()[0]


def _local_iterator(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """The fix: toLocalIterator() streams one partition at a time."""
    return sum(1 for _ in _rows(spark, p.get("rows", 4_000_000)).toLocalIterator())


def _write_instead(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """The fix: write the result out instead of collecting it."""
    _rows(spark, p.get("rows", 4_000_000)).write.format("noop").mode("overwrite").save()
    return "written"


def _hot_key_frame(spark: SparkSession, p: Mapping[str, Any]) -> DataFrame:
    """80% of rows on key 1, each with a 100-byte payload."""
    return spark.range(0, p.get("rows", 5_000_000), 1, 8).selectExpr(
        "case when id % 10 < 8 then 1 else id end as k", "repeat('x', 100) as payload")


def _collect_list_hot_key(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """collect_list over a hot key: one task builds one giant list (executor OOM with a small executor heap)."""
    out = _hot_key_frame(spark, p).groupBy("k").agg(F.collect_list("payload").alias("items"))
    return _measured(spark, out.select(F.max(F.size("items")).alias("longest")))


def _collect_list_split(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """The fix: split each key's list over ``salts`` rows (a deterministic salt), so no task holds it whole.

    This is the two-stage idea of ``labkit.topics.skew.salted_aggregate``, not that function: a list cannot
    be merged back into one row without holding it whole again, so the split lists stay split.
    """
    salts = p.get("salts", 16)
    df = _hot_key_frame(spark, p).withColumn(
        "salt", F.pmod(F.xxhash64(F.lit(7), F.monotonically_increasing_id()), F.lit(salts)))
    out = df.groupBy("k", "salt").agg(F.collect_list("payload").alias("items"))
    return _measured(spark, out.select(F.max(F.size("items")).alias("longest")))


def _broadcast_big(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """A hinted broadcast of a side too large for the driver heap."""
    big = _rows(spark, p.get("rows", 3_000_000), 120)
    return _measured(spark, spark.range(0, 1000).join(F.broadcast(big), "id"))


def _plain_join(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """The fix: the same join without the hint (sort-merge, nothing collected to the driver)."""
    big = _rows(spark, p.get("rows", 3_000_000), 120)
    return _measured(spark, spark.range(0, 1000).join(big.hint("merge"), "id"))


def _compared(table: pd.DataFrame) -> dict[str, Any]:
    """A :func:`labkit.core.bench.compare` table and its runs as JSON-ready data, for the parent."""
    return {"table": json.loads(table.reset_index().to_json(orient="records")),
            "runs": [m.as_dict() for m in table.attrs["runs"]]}


def _sort_spill(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """The same wide sort with each of ``partitions`` task counts, compared: fewer, larger tasks spill more to disk."""
    df = spark.range(0, p.get("rows", 3_000_000), 1, 4).selectExpr("id", "uuid() as u", "repeat('y', 60) as pad")
    variants = {str(n): noop(df.repartition(n).sortWithinPartitions("u")) for n in p.get("partitions", (2, 32))}
    return _compared(bench.compare(variants, p.get("repeats", 2), p.get("warmup", 1), spark=spark, progress=False))


def _cache_levels(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """A frame larger than storage memory, cached at ``level`` and read ``reads`` times: time and recomputation.

    The first read fills the cache (it is measured on its own, as ``first``); the later reads are
    :func:`labkit.core.bench.compare`'s repeats, with no further warm-up.
    """
    runtime.require_classic(spark, "the cache experiment (it reads the RDD storage info of the driver's JVM)")
    df = spark.range(0, p.get("rows", 2_000_000), 1, p.get("partitions", 32)).selectExpr(
        "id", "sha2(cast(id as string), 512) as h", "repeat('z', 100) as pad")
    level = p.get("level", "NONE")
    if level != "NONE":
        df = df.persist(getattr(StorageLevel, level))
    read = noop(df.selectExpr("sum(length(h))"))
    first = measure(spark, read, f"{level} first")
    out = _compared(bench.compare({level: read}, max(1, p.get("reads", 3) - 1), 0, spark=spark, progress=False))
    cached = spark.sparkContext._jsc.sc().getRDDStorageInfo()
    return {**out, "first": first.as_dict(),
            "cached_mb_memory": sum(i.memSize() for i in cached) / 2**20,
            "cached_mb_disk": sum(i.diskSize() for i in cached) / 2**20}


def _serializer_job(spark: SparkSession, p: Mapping[str, Any]) -> Any:
    """Three shuffles compared: an RDD of JVM Row objects (the one ``spark.serializer`` serialises), an RDD of
    Python objects (pickled bytes to the JVM) and a DataFrame (Tungsten's binary rows)."""
    n = p.get("rows", 1_000_000)
    runtime.require_classic(spark, "the serializer experiment (RDDs: spark.serializer only touches RDD data)")
    rdd = spark.sparkContext.parallelize(range(n), 8).map(lambda i: (i % 1000, {"id": i, "tags": [i, i * 2]}))
    df = spark.range(0, n, 1, 8).selectExpr("id % 1000 as k", "id", "array(id, id * 2) as tags")
    rows = df.selectExpr("k", "id", "tags", "cast(id as string) as label")._jdf.rdd()  # JVM Row objects
    variants = {"jvm_rdd": lambda: rows.repartition(16, None).count(),
                "python_rdd": lambda: rdd.groupByKey().mapValues(len).count(),
                "dataframe": noop(df.groupBy("k").agg({"tags": "collect_list"}))}
    return _compared(bench.compare(variants, p.get("repeats", 2), p.get("warmup", 1), spark=spark, progress=False))


def _measured(spark: SparkSession, df: DataFrame) -> dict[str, Any]:
    """Run ``df`` into the no-op sink under :func:`labkit.core.measure.measure`: its metrics as a dict."""
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
