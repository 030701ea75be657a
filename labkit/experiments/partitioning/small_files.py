"""The small-files problem measured: a naive ``partitionBy`` against one file per folder and compaction,
and files under 10 MB against files of 128 MB or more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import positive_int, require_columns
from labkit.core.bench import compare
from labkit.core.measure import noop
from labkit.topics.partitioning import compact, file_stats, write_lake

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["file_size_experiment", "file_size_number", "kb_per_file", "small_files_experiment", "small_files_numbers"]


def small_files_experiment(facts: DataFrame, root: str, naive_tasks: int,
                           partition_by: Sequence[str] = ("year", "month"), repeats: int = 3) -> dict[str, Any]:
    """The small-files problem and its two fixes, measured.

    ``partitionBy`` after a ``naive_tasks``-task shuffle writes up to one file per
    task per folder; :func:`~labkit.topics.partitioning.write_lake` repartitions by the partition columns
    first (one file per folder); :func:`~labkit.topics.partitioning.compact` rewrites one folder in place.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
    root : str
    naive_tasks : int
    partition_by : sequence of str
    repeats : int

    Returns
    -------
    dict
        ``naive`` and ``compacted`` (:class:`~labkit.topics.partitioning.FileStats` of the two layouts),
        ``one_folder_before`` and ``one_folder_after`` (files in the folder
        :func:`~labkit.topics.partitioning.compact` rewrote), ``times`` (full scan of each layout,
        :func:`labkit.core.bench.compare`), and the two ``paths``.
    """
    spark = facts.sparkSession
    cols = require_columns(facts, list(partition_by), "partition column")
    naive_path = f"{root.rstrip('/')}/naive"
    facts.repartition(positive_int("naive_tasks", naive_tasks)).write.mode("overwrite").partitionBy(*cols).parquet(
        naive_path)
    fixed_path = write_lake(facts, f"{root.rstrip('/')}/compacted", partition_by=cols)
    first = facts.select(*cols).orderBy(*cols).first()
    folder = naive_path + "".join(f"/{c}={first[c]}" for c in cols)
    before = file_stats(spark, folder).files
    compact(spark, folder)
    times = compare({"many small files": noop(spark.read.parquet(naive_path)),
                     "compacted": noop(spark.read.parquet(fixed_path))}, repeats=repeats,
                    baseline="many small files", spark=spark)
    return {"naive": file_stats(spark, naive_path), "compacted": file_stats(spark, fixed_path),
            "one_folder_before": before, "one_folder_after": file_stats(spark, folder).files, "times": times,
            "paths": {"naive": naive_path, "compacted": fixed_path}}


def small_files_numbers(small: Mapping[str, Any], naive_tasks: int) -> list[dict[str, Any]]:
    """The small-files experiment's two numbers, ready for ``lab.record(**r)``.

    - ``smallfiles.compacted_speedup``: full scan of the naive layout / of the compacted one, with its spread;
    - ``smallfiles.naive_files``: the files the naive ``partitionBy`` wrote.

    Parameters
    ----------
    small : dict
        :func:`small_files_experiment` output.
    naive_tasks : int
        The tasks of its naive write, for the note.

    Returns
    -------
    list of dict
    """
    naive, compacted, row = small["naive"], small["compacted"], small["times"].loc["compacted"]
    return [
        dict(key="smallfiles.compacted_speedup", value=float(row["speedup"]), unit="x",
             spread=(float(row["speedup_lo"]), float(row["speedup_hi"])),
             note=f"{naive.files} files of {naive.mean_mb * 1024:.0f} KB vs {compacted.files} files, full scan"),
        dict(key="smallfiles.naive_files", value=naive.files, unit="files",
             note=f"partitionBy after a {naive_tasks}-task shuffle"),
    ]


def kb_per_file(small: Mapping[str, Any]) -> dict[str, list[float]]:
    """The file sizes of the small-files experiment's two layouts in KB, labelled for a histogram.

    Parameters
    ----------
    small : dict
        :func:`small_files_experiment` output.

    Returns
    -------
    dict
        ``naive partitionBy: <n> files`` and ``repartitioned first: <n> files``, each the list of its files' KB.
    """
    naive, compacted = small["naive"], small["compacted"]
    return {f"naive partitionBy: {naive.files} files": [s / 1024 for s in naive.sizes],
            f"repartitioned first: {compacted.files} files": [s / 1024 for s in compacted.sizes]}


def file_size_experiment(spark: SparkSession, root: str, large_mb: int = 136, small_mb: int = 4, repeats: int = 3,
                         seed: int = 42, large_files: int = 2, warmup: int | None = None) -> pd.DataFrame:
    """The same rows read as files under 10 MB and as files of at least 128 MB: the guide's two file-size lines.

    The data is generated to size (four hashed doubles per row, which do not
    compress): ``large_files`` files of at least ``large_mb`` MB, and the same
    rows as files of about ``small_mb`` MB. Each layout is written straight from
    ``spark.range`` split into as many partitions as it has files (a value is a
    hash of its row id, so both layouts hold the same rows, and no shuffle is
    needed). Both are read in full, interleaved (:func:`labkit.core.bench.compare`).

    Parameters
    ----------
    spark : SparkSession
    root : str
        A scratch folder (two subfolders are written).
    large_mb, small_mb : int
        Target file sizes; ``large_mb`` must be at least 128 and ``small_mb`` under 10.
    repeats, seed : int
    large_files : int
        Files of ``large_mb`` MB (2: one per core of a laptop's two).
    warmup : int, optional
        Unmeasured rounds before the measured ones (:func:`labkit.core.bench.compare`).

    Returns
    -------
    pandas.DataFrame
        The compare table against ``files under 10 MB`` (``speedup`` of the large files is the small files'
        slowdown), with ``files`` and ``mean MB`` per layout.

    Raises
    ------
    ValueError
        For sizes that do not straddle the guide's lines, or fewer than one large file.
    """
    from pyspark.sql import functions as F

    if large_mb < 128 or not 0 < small_mb < 10:
        raise ValueError(f"large_mb must be >= 128 and small_mb in (0, 10): got {large_mb} and {small_mb}")
    positive_int("large_files", large_files)
    rows = int(large_files * large_mb * 2**20 / 8 / 4)  # four random doubles per row: 32 bytes that do not compress

    def data(files: int) -> DataFrame:
        """The rows in ``files`` partitions: ``x<i>`` is a hash of ``id`` scaled to [-1, 1)."""
        return spark.range(0, rows, 1, files).select(
            *(F.xxhash64("id", F.lit(seed + i)) / F.lit(2.0**63) for i in range(4))).toDF("x0", "x1", "x2", "x3")

    paths = {"files under 10 MB": f"{root.rstrip('/')}/small", "files of 128 MB or more": f"{root.rstrip('/')}/large"}
    data(large_files).write.mode("overwrite").parquet(paths["files of 128 MB or more"])
    total_mb = file_stats(spark, paths["files of 128 MB or more"]).bytes / 2**20
    data(max(2, round(total_mb / small_mb))).write.mode("overwrite").parquet(paths["files under 10 MB"])
    stats = {name: file_stats(spark, path) for name, path in paths.items()}
    if min(stats["files of 128 MB or more"].sizes) < 128 * 2**20 or max(stats["files under 10 MB"].sizes) >= 10 * 2**20:
        raise RuntimeError(f"the files missed their sizes: {stats}")
    table = compare({name: noop(spark.read.parquet(path)) for name, path in paths.items()}, repeats=repeats,
                    warmup=warmup, baseline="files under 10 MB", spark=spark)
    table["files"] = [stats[n].files for n in table.index]
    table["mean MB"] = [stats[n].mean_mb for n in table.index]
    return table


_NOT_MEASURED = "not measured here (large_file_mb 0: tiny and small); measured at medium and large"


def file_size_number(spark: SparkSession, root: str, large_mb: int, small_mb: int = 4, repeats: int = 3
                     ) -> dict[str, Any]:
    """The guide's "under 10 MB against 128 MB or more" slowdown, ready for ``lab.record(**r)``; 0 MB skips it.

    Parameters
    ----------
    spark : SparkSession
    root : str
        A scratch folder for :func:`file_size_experiment`.
    large_mb : int
        0 records the number as skipped (value None) without writing anything; otherwise at least 128.
    small_mb, repeats : int

    Returns
    -------
    dict
        ``smallfiles.under_10mb_vs_128mb.slowdown``: time with the small files / with the large ones (x),
        with its spread, judged against ``files-small-files-slower``.
    """
    key, claim = "smallfiles.under_10mb_vs_128mb.slowdown", "files-small-files-slower"
    if not large_mb:
        return dict(key=key, value=None, unit="x", claim=claim, note=_NOT_MEASURED)
    row = file_size_experiment(spark, root, large_mb, small_mb, repeats).iloc[1]
    return dict(key=key, value=float(row["speedup"]), unit="x", claim=claim,
                spread=(float(row["speedup_lo"]), float(row["speedup_hi"])),
                note="time with files under 10 MB / with files of 128 MB or more, full scan")
