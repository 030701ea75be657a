"""Write the lake and read it back: Hive-style or flat layouts, CSV with its schema, file counts, bucketed tables.

Paths may be local folders or Hadoop URIs (``s3a://``); file listings go through Hadoop's FileSystem so both work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labkit.core import files
from labkit.core.args import positive_int, require_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["HIVE_DEFAULT_PARTITION", "FileStats", "bucketed_tables", "file_stats", "num_partitions_for", "read_csv",
           "write_lake"]

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # the folder a null partition value is written to


@dataclass(frozen=True)
class FileStats:
    """The data files under a path (Spark's ``_SUCCESS`` and hidden files excluded)."""

    files: int
    bytes: int
    sizes: list[int]  # bytes of each data file
    folders: int  # distinct folders that hold data files (partitions)

    @property
    def mean_mb(self) -> float:
        """Mean data file size in MB."""
        return self.bytes / max(self.files, 1) / 2**20


def file_stats(spark: SparkSession, path: str) -> FileStats:
    """Count and size the data files under ``path`` (recursively).

    Parameters
    ----------
    spark : SparkSession
    path : str
        A folder written by Spark (local or ``s3a://``).

    Returns
    -------
    FileStats

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    found = files.list_files(spark, path)
    sizes = [n for _, n in found]
    return FileStats(len(sizes), sum(sizes), sizes, len({p.rsplit("/", 1)[0] for p, _ in found}))


def _check_layout(df: DataFrame, layout: str, fmt: str, cols: list[str]) -> None:
    """Validate write_lake's layout, format and partition columns."""
    if layout not in ("hive", "flat"):
        raise ValueError(f"layout must be 'hive' or 'flat', got {layout!r}")
    if fmt not in ("parquet", "csv", "orc", "json"):
        raise ValueError(f"fmt must be parquet, csv, orc or json, got {fmt!r}")
    if layout == "hive":
        if not cols:
            raise ValueError("a hive layout needs at least one partition column")
        require_columns(df, cols, "partition column")


def _spread(df: DataFrame, layout: str, cols: list[str], files: int) -> DataFrame:
    """Repartition so a hive layout gets ``files`` files per folder, or a flat one ``files`` files."""
    from pyspark.sql import functions as F

    if layout == "flat":
        return df.repartition(max(1, files))
    salt = [F.pmod(F.xxhash64(*df.columns), F.lit(files))] if files > 1 else []
    return df.repartition(*[F.col(c) for c in cols], *salt)


def write_lake(df: DataFrame, path: str, layout: str = "hive", partition_by: Sequence[str] = ("year", "month"),
               fmt: str = "parquet", files_per_partition: int | None = 1, compression: str | None = None) -> str:
    """Write a fact table as a Hive-style partitioned layout or as a flat layout of the same rows.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    path : str
        The lake root for this table (a local folder, or ``s3a://bucket/...`` on a cluster). Overwritten.
    layout : {"hive", "flat"}
        ``hive`` writes ``year=2024/month=3/part-...``; ``flat`` writes the same
        rows with no partition folders.
    partition_by : sequence of str
        Partition columns for the hive layout, in folder order.
    fmt : {"parquet", "csv", "orc", "json"}
    files_per_partition : int or None
        ``repartition`` by the partition columns first so that each partition
        folder gets this many files (1 by default: the small-files fix). None
        writes the frame as it is partitioned (one file per task per folder).
    compression : str, optional
        ``snappy``, ``zstd``, ``gzip``... (the format's default if None).

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ValueError
        For an unknown layout or format, or partition columns the frame lacks.

    Notes
    -----
    A null partition value is written to ``<col>=__HIVE_DEFAULT_PARTITION__``
    and read back as null. An empty frame still writes a readable layout.
    """
    cols = list(partition_by)
    _check_layout(df, layout, fmt, cols)
    if files_per_partition is not None:
        df = _spread(df, layout, cols, files_per_partition)
    writer = df.write.mode("overwrite").format(fmt)
    if fmt == "csv":
        writer = writer.option("header", "true")
    if compression:
        writer = writer.option("compression", compression)
    if layout == "hive":
        writer = writer.partitionBy(*cols)
    writer.save(path)
    if layout == "hive" and fmt in ("parquet", "orc") and file_stats(df.sparkSession, path).files == 0:
        # an empty input writes no partition folders; add one empty file that carries the schema, so it reads back
        df.limit(0).coalesce(1).write.mode("append").format(fmt).save(path)
    return path


def read_csv(spark: SparkSession, path: str, schema: StructType | str | None = None, infer: bool = False) -> DataFrame:
    """Read a CSV layout written by :func:`write_lake`, with an explicit schema or by inferring one.

    Parameters
    ----------
    spark : SparkSession
    path : str
    schema : StructType or DDL str, optional
        The schema to apply (no extra pass over the data).
    infer : bool
        Infer the schema instead: Spark reads the data once more to guess the types.

    Returns
    -------
    pyspark.sql.DataFrame
    """
    if schema is None and not infer:
        raise ValueError("read_csv needs a schema, or infer=True (which costs an extra pass over the data)")
    reader = spark.read.option("header", "true")
    reader = reader.schema(schema) if schema is not None else reader.option("inferSchema", "true")
    return reader.csv(path)


def num_partitions_for(total_bytes: int, target_mb: float = 128) -> int:
    """How many files (or partitions) of about ``target_mb`` hold ``total_bytes``.

    Parameters
    ----------
    total_bytes : int
        Bytes to split (>= 0).
    target_mb : float
        Target size of one file or partition in MiB (> 0); the guide's range is 128 MB to 1 GB.

    Returns
    -------
    int
        ``ceil(total_bytes / target)``, at least 1.

    Examples
    --------
    >>> num_partitions_for(10 * 2**30, target_mb=128)
    80
    >>> num_partitions_for(0)
    1
    """
    if total_bytes < 0:
        raise ValueError(f"total_bytes must be >= 0, got {total_bytes!r}")
    if target_mb <= 0:
        raise ValueError(f"target_mb must be > 0, got {target_mb!r}")
    return max(1, math.ceil(total_bytes / (target_mb * 2**20)))


def _drop_orphan_location(spark: SparkSession, database: str, name: str) -> None:
    """Remove a managed table's folder left by an earlier session (the in-memory catalog forgot the table)."""
    warehouse = spark.conf.get("spark.sql.warehouse.dir").rstrip("/")
    folder = f"{warehouse}/{name}" if database == "default" else f"{warehouse}/{database}.db/{name}"
    if files.exists(spark, folder):
        files.delete(spark, folder)


def bucketed_tables(spark: SparkSession, frames: Mapping[str, DataFrame], by: str, buckets: int,
                    sort_by: str | None = None, database: str = "default") -> dict[str, str]:
    """Save DataFrames as tables bucketed (and sorted) the same way, so joins on ``by`` need no shuffle.

    Parameters
    ----------
    spark : SparkSession
    frames : dict of table name to DataFrame
    by : str
        Bucketing column (the join key).
    buckets : int
        Number of buckets (the same for every table, or Spark shuffles again).
    sort_by : str, optional
        Sort column within each bucket (``by`` by default).
    database : str

    Returns
    -------
    dict
        Table name to its qualified name; the tables are replaced if they exist.
    """
    positive_int("buckets", buckets)
    out = {}
    for name, df in frames.items():
        require_columns(df, by, "bucketing column")
        qualified = f"{database}.{name}"
        spark.sql(f"DROP TABLE IF EXISTS {qualified}")
        _drop_orphan_location(spark, database, name)
        (df.write.mode("overwrite").format("parquet").bucketBy(buckets, by).sortBy(sort_by or by)
         .saveAsTable(qualified))
        out[name] = qualified
    return out
