"""What notebook 01 checks and records beyond its measurements: the guide's sizing arithmetic and partitioning
statements recomputed and run (:func:`guide_claims`), and what :func:`~labkit.topics.partitioning.write_lake` does with
bad or awkward input (:func:`write_lake_checks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labkit.core.args import positive_int
from labkit.core.measure import measure, noop
from labkit.topics.partitioning import file_stats, write_lake

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["guide_claims", "write_lake_checks"]


def guide_claims(spark: SparkSession, root: str, partitions: int = 1000) -> dict[str, tuple[Any, str, str, str]]:
    """The guide's partition-sizing arithmetic and two of its partitioning statements, recomputed and run.

    * "400 partitions for 100GB = 256MB" and "50 partitions for 100GB = 2GB": recomputed.
    * "1000 partitions with 100 records each = 1000 tiny files": ``partitions`` partitions of 100 rows
      written as Parquet; the data files counted, per partition (1.0: one tiny file each).
    * ``WHERE year >= 2023 AND month >= 6`` "only scans 2023/06-12, 2024/01-12, 2025/01": the filter run
      over a month-partitioned table from 2021/01 to 2025/01, and the partitions Spark reads counted.

    Parameters
    ----------
    spark : SparkSession
    root : str
        A scratch folder.
    partitions : int
        Partitions of 100 rows for the tiny-files check (1000 is the guide's; a smaller number is quicker).

    Returns
    -------
    dict
        ``{results key: (value, unit, claim id, note)}``.
    """
    from pyspark.sql import functions as F

    tiny = f"{root.rstrip('/')}/tiny_files"
    positive_int("partitions", partitions)
    spark.range(0, 100 * partitions, 1, partitions).write.mode("overwrite").parquet(tiny)  # no shuffle
    stats = file_stats(spark, tiny)
    months = (spark.range(0, 49).select((F.lit(2021) + F.floor(F.col("id") / 12)).cast("int").alias("year"),
                                        (F.col("id") % 12 + 1).cast("int").alias("month"), F.col("id")))
    calendar = f"{root.rstrip('/')}/calendar"
    months.write.mode("overwrite").partitionBy("year", "month").parquet(calendar)
    query = spark.read.parquet(calendar).where("year >= 2023 AND month >= 6")
    read = measure(spark, noop(query), "the guide's filter")
    scanned = sorted(f"{r.year}/{r.month:02d}" for r in query.select("year", "month").collect())
    return {
        "sizing.100gb_in_400_partitions_mb": (100 * 1024 / 400, "MB", "part-100gb-256mb-400", "100 GB / 400"),
        "sizing.100gb_in_50_partitions_mb": (100 * 1024 / 50, "MB", "part-100gb-50-2gb", "100 GB / 50"),
        "smallfiles.100_row_partitions.files_per_partition": (
            stats.files / partitions, "files per partition", "part-1000-tiny-files",
            f"{partitions} partitions of 100 rows: {stats.files} files of {stats.mean_mb * 1024:.1f} KB on average"),
        "pruning.guide_filter.partitions_scanned": (read.input_files, "partitions", "part-guide-filter-months",
                                                    f"scanned {scanned[0]}..{scanned[-1]}: "
                                                    + ", ".join(scanned)),
    }


def write_lake_checks(facts: DataFrame, root: str) -> dict[str, Any]:
    """What ``write_lake`` does with bad or awkward input: a missing partition column, nulls, no rows.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
        With ``year``, ``region`` and a numeric ``txn_id`` (every tenth row gets a null region).
    root : str
        A scratch folder for the three layouts :func:`~labkit.topics.partitioning.write_lake` writes.

    Returns
    -------
    dict
        ``missing column`` (the error message), ``null partition rows`` (rows read back from the null folder,
        equal to the nulls written), ``empty table rows`` (0: an empty write stays readable).
    """
    from pyspark.sql import functions as F

    spark = facts.sparkSession
    try:
        write_lake(facts, f"{root}/bad", partition_by=["year", "no_such_column"])
        raise AssertionError("a missing partition column must be refused")
    except ValueError as err:
        message = str(err)
    with_nulls = facts.withColumn("region", F.when(F.col("txn_id") % 10 == 0, F.lit(None)).otherwise(F.col("region")))
    back = spark.read.parquet(write_lake(with_nulls, f"{root}/nulls", partition_by=["region"]))
    nulls = back.filter("region is null").count()
    if nulls != with_nulls.filter("region is null").count() or not nulls:
        raise AssertionError(f"null partition values were lost: {nulls} read back")
    return {"missing column": message, "null partition rows": nulls,
            "empty table rows": spark.read.parquet(write_lake(facts.limit(0), f"{root}/empty")).count()}
