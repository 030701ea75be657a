"""Spark partitions of a DataFrame: how many, how many rows each, and the key ranges of a range partitioning."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from labkit.core import runtime
from labkit.core.args import positive_int, require_columns
from labkit.core.measure import measure, noop

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["partition_count", "partition_stats", "range_partitions", "ranges_ordered"]


def partition_stats(df: DataFrame) -> dict[str, float]:
    """Rows per Spark partition of a DataFrame: count, min, median, max, and max / mean.

    Parameters
    ----------
    df : pyspark.sql.DataFrame

    Returns
    -------
    dict
        ``partitions, rows, min, median, max, skew`` (max / mean); empty
        partitions count as 0 rows.

    Notes
    -----
    The rows are counted per ``spark_partition_id()`` in the JVM. The number of
    partitions (empty ones included) is the RDD's; Spark Connect has no RDDs,
    so there it is the task count of the query's last stage, measured.
    """
    counts = _partition_counts(df)
    s = pd.Series(counts, dtype=float)
    mean = s.mean() if len(s) else 0.0
    return {"partitions": len(counts), "rows": int(s.sum()), "min": float(s.min()) if len(s) else 0.0,
            "median": float(s.median()) if len(s) else 0.0, "max": float(s.max()) if len(s) else 0.0,
            "skew": float(s.max() / mean) if mean else 0.0}


def _partition_counts(df: DataFrame) -> list[int]:
    """Rows in each partition of ``df``, in partition order.

    Counted in the JVM (``spark_partition_id()``, one small aggregation), never by shipping the rows to Python;
    the partitions come from the RDD (classic) or the tasks of the query's last stage (Connect), so empty ones
    count as 0.
    """
    from pyspark.sql import functions as F

    spark = df.sparkSession
    if runtime.is_connect(spark):
        m = measure(spark, noop(df), "partitions")
        parts = len(m.stage_tasks_ms[max(m.stage_tasks_ms)]) if m.stage_tasks_ms else 0  # the result stage
    else:
        parts = df.rdd.getNumPartitions()
    rows = {r["p"]: r["count"] for r in df.groupBy(F.spark_partition_id().alias("p")).count().collect()}
    return [int(rows.get(i, 0)) for i in range(max(parts, len(rows)))]


def partition_count(df: DataFrame) -> int:
    """How many partitions ``df`` has: the tasks that run (or write) its last stage.

    Parameters
    ----------
    df : pyspark.sql.DataFrame

    Returns
    -------
    int

    Notes
    -----
    A classic session asks the RDD (no job runs). Spark Connect has no RDDs: there the rows are counted per
    partition (see :func:`partition_stats`), which runs the query.

    Examples
    --------
    >>> partition_count(spark.range(100).repartition(3))
    3
    """
    if runtime.is_connect(df.sparkSession):
        return len(_partition_counts(df))
    return df.rdd.getNumPartitions()


def range_partitions(df: DataFrame, key: str, n: int) -> pd.DataFrame:
    """``repartitionByRange(n, key)``: rows and the ``[min, max]`` of ``key`` in each partition, in partition order.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str
        The range-partitioning column (orderable).
    n : int
        Target partitions (Spark samples the key to pick ``n - 1`` bounds; fewer distinct keys give fewer).

    Returns
    -------
    pandas.DataFrame
        Indexed by partition id (``spark_partition_id()``): ``rows``, ``min``, ``max`` (nulls ignored; they sort
        first, into partition 0). Empty partitions are absent. ``attrs["ordered"]`` is :func:`ranges_ordered`.

    Notes
    -----
    Spark has range partitioning built in (since 2.3): rows with equal keys land in the same partition, and
    partition ``i`` holds only keys below those of partition ``i + 1``, so the partitions read in order are the
    keys sorted. This is what ``orderBy`` runs before its per-partition sort.
    """
    from pyspark.sql import functions as F

    require_columns(df, key, "range-partitioning column")
    positive_int("n", n)
    parts = (df.repartitionByRange(n, key).groupBy(F.spark_partition_id().alias("partition"))
             .agg(F.count(F.lit(1)).alias("rows"), F.min(key).alias("min"), F.max(key).alias("max")))
    out = parts.toPandas().sort_values("partition").set_index("partition")
    out.attrs["ordered"] = ranges_ordered(out)
    return out


def ranges_ordered(bounds: pd.DataFrame) -> bool:
    """Whether each partition's ``[min, max]`` lies strictly above the one before it (disjoint and in order).

    Parameters
    ----------
    bounds : pandas.DataFrame
        ``min`` and ``max`` per partition, in partition order (:func:`range_partitions`); partitions that hold
        only nulls (``min`` missing) are skipped.

    Returns
    -------
    bool

    Examples
    --------
    >>> ranges_ordered(pd.DataFrame({"min": [1, 5, 9], "max": [4, 8, 9]}))
    True
    >>> ranges_ordered(pd.DataFrame({"min": [1, 4], "max": [4, 8]}))
    False
    """
    known = bounds.dropna(subset=["min", "max"])
    lo, hi = list(known["min"]), list(known["max"])
    return all(a <= b for a, b in zip(lo, hi, strict=True)) and all(a < b for a, b in zip(hi[:-1], lo[1:], strict=True))
