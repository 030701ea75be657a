"""Partitioning, file layout and file formats: write the lake, prune it, size its files.

Paths may be local folders or Hadoop URIs (``s3a://``); file listings go
through Hadoop's FileSystem so both work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "HIVE_DEFAULT_PARTITION",
    "FileStats",
    "bucketed_tables",
    "compact",
    "file_stats",
    "num_partitions_for",
    "partition_stats",
    "read_csv",
    "write_formats",
    "write_lake",
]

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


def _fs(spark, path: str):
    """Hadoop FileSystem and Path objects for a path."""
    jpath = spark._jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark._jsc.hadoopConfiguration()), jpath


def file_stats(spark, path: str) -> FileStats:
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
    fs, jpath = _fs(spark, path)
    if not fs.exists(jpath):
        raise FileNotFoundError(f"no such path: {path}")
    it = fs.listFiles(jpath, True)
    sizes, folders = [], set()
    while it.hasNext():
        st = it.next()
        name = st.getPath().getName()
        if name.startswith(("_", ".")):
            continue
        sizes.append(int(st.getLen()))
        folders.add(st.getPath().getParent().toString())
    return FileStats(len(sizes), sum(sizes), sizes, len(folders))


def _check_columns(df, columns: Sequence[str], what: str) -> None:
    """Raise ValueError naming the columns ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} column(s) {missing} not in the DataFrame's columns {df.columns}")


def _check_layout(df, layout: str, fmt: str, cols: list[str]) -> None:
    """Validate write_lake's layout, format and partition columns."""
    if layout not in ("hive", "flat"):
        raise ValueError(f"layout must be 'hive' or 'flat', got {layout!r}")
    if fmt not in ("parquet", "csv", "orc", "json"):
        raise ValueError(f"fmt must be parquet, csv, orc or json, got {fmt!r}")
    if layout == "hive":
        if not cols:
            raise ValueError("a hive layout needs at least one partition column")
        _check_columns(df, cols, "partition")


def _spread(df, layout: str, cols: list[str], files: int):
    """Repartition so a hive layout gets ``files`` files per folder, or a flat one ``files`` files."""
    from pyspark.sql import functions as F

    if layout == "flat":
        return df.repartition(max(1, files))
    salt = [F.pmod(F.xxhash64(*df.columns), F.lit(files))] if files > 1 else []
    return df.repartition(*[F.col(c) for c in cols], *salt)


def write_lake(df, path: str, layout: str = "hive", partition_by: Sequence[str] = ("year", "month"),
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


def read_csv(spark, path: str, schema=None, infer: bool = False):
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


def write_formats(df, root: str, formats: Sequence[str] = ("csv", "parquet-snappy", "parquet-zstd"),
                  files: int = 8) -> pd.DataFrame:
    """Write the same rows in several formats and report their size on disk.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    root : str
        Parent folder; each format goes to ``<root>/<format>``.
    formats : sequence of str
        ``csv``, ``json``, ``orc``, ``parquet-<codec>`` (snappy, zstd, gzip, none).
    files : int
        Files per format (the same for all, so only the format differs).

    Returns
    -------
    pandas.DataFrame
        ``format, path, files, bytes, mb`` indexed by format.
    """
    rows = []
    spark = df.sparkSession
    for name in formats:
        fmt, _, codec = name.partition("-")
        path = f"{root.rstrip('/')}/{name}"
        write_lake(df, path, layout="flat", fmt=fmt, files_per_partition=files, compression=codec or None)
        st = file_stats(spark, path)
        rows.append({"format": name, "path": path, "files": st.files, "bytes": st.bytes, "mb": st.bytes / 2**20})
    return pd.DataFrame(rows).set_index("format")


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


def compact(spark, path: str, target_file_mb: float = 128, fmt: str = "parquet", output: str | None = None) -> str:
    """Rewrite a folder of small files into files of about ``target_file_mb``.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A folder of data files (one partition of a layout, or a flat table).
    target_file_mb : float
        Target file size in MiB.
    fmt : str
        The folder's format.
    output : str, optional
        Where to write the compacted files. By default ``path`` itself is
        replaced: the data is written next to it first, then swapped in, so a
        failed rewrite leaves the original untouched.

    Returns
    -------
    str
        The compacted folder.
    """
    before = file_stats(spark, path)
    if before.files == 0:
        raise ValueError(f"compact: {path} holds no data files")
    n = num_partitions_for(before.bytes, target_file_mb)
    target = output or f"{path.rstrip('/')}.compacting"
    spark.read.format(fmt).load(path).repartition(n).write.mode("overwrite").format(fmt).save(target)
    if output is None:
        fs, src = _fs(spark, path)
        _, tmp = _fs(spark, target)
        if not fs.delete(src, True) or not fs.rename(tmp, src):
            raise RuntimeError(f"compact: could not swap {target} into {path}; the compacted copy is at {target}")
        return path
    return target


def partition_stats(df) -> dict[str, float]:
    """Rows per Spark partition of a DataFrame: count, min, median, max, and max / mean.

    Parameters
    ----------
    df : pyspark.sql.DataFrame

    Returns
    -------
    dict
        ``partitions, rows, min, median, max, skew`` (max / mean); empty
        partitions count as 0 rows.
    """
    counts = df.rdd.glom().map(len).collect()
    s = pd.Series(counts, dtype=float)
    mean = s.mean() if len(s) else 0.0
    return {"partitions": len(counts), "rows": int(s.sum()), "min": float(s.min()) if len(s) else 0.0,
            "median": float(s.median()) if len(s) else 0.0, "max": float(s.max()) if len(s) else 0.0,
            "skew": float(s.max() / mean) if mean else 0.0}


def _drop_orphan_location(spark, database: str, name: str) -> None:
    """Remove a managed table's folder left by an earlier session (the in-memory catalog forgot the table)."""
    warehouse = spark.conf.get("spark.sql.warehouse.dir").rstrip("/")
    folder = f"{warehouse}/{name}" if database == "default" else f"{warehouse}/{database}.db/{name}"
    fs, jpath = _fs(spark, folder)
    if fs.exists(jpath):
        fs.delete(jpath, True)


def bucketed_tables(spark, frames: dict, by: str, buckets: int, sort_by: str | None = None,
                    database: str = "default") -> dict[str, str]:
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
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets!r}")
    out = {}
    for name, df in frames.items():
        _check_columns(df, [by], "bucketing")
        qualified = f"{database}.{name}"
        spark.sql(f"DROP TABLE IF EXISTS {qualified}")
        _drop_orphan_location(spark, database, name)
        (df.write.mode("overwrite").format("parquet").bucketBy(buckets, by).sortBy(sort_by or by)
         .saveAsTable(qualified))
        out[name] = qualified
    return out
