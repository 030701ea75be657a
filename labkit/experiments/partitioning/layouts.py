"""Ways of partitioning and bucketing compared: rows per partition, files per folder and per bucket, the plans
of bucketed joins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from labkit.core import files
from labkit.core.args import plain_name, positive_int, require_columns
from labkit.core.plans import PlanSummary, plan_summary
from labkit.core.session import spark_conf
from labkit.topics.partitioning import bucketed_tables, partition_count, partition_stats

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["bucketed_join_plans", "bucketing_layouts", "folder_layouts", "partitioning_types"]


def partitioning_types(df: DataFrame, key: str, order: str, n: int = 8) -> pd.DataFrame:
    """Rows per partition after each way of partitioning: hash, range, round robin, coalesce.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str
        The hash-partitioning column.
    order : str
        The range-partitioning column.
    n : int
        Target partitions.

    Returns
    -------
    pandas.DataFrame
        One row per method, with :func:`~labkit.topics.partitioning.partition_stats`'s columns. ``coalesce``
        merges partitions without a shuffle, so it cannot even out their sizes.
    """
    require_columns(df, [key, order])
    positive_int("n", n)
    ways = {f"hash repartition({n}, {key})": df.repartition(n, key),
            f"range repartitionByRange({n}, {order})": df.repartitionByRange(n, order),
            f"round robin repartition({n})": df.repartition(n),
            f"repartition({n - 1}) then coalesce({max(1, n // 3)})": df.repartition(n - 1).coalesce(max(1, n // 3)),
            f"repartition({max(1, n // 3)})": df.repartition(max(1, n // 3))}
    return pd.DataFrame({name: partition_stats(frame) for name, frame in ways.items()}).T


def bucketed_join_plans(spark: SparkSession, facts: DataFrame, dims: DataFrame, key: str, buckets: int,
                        names: Sequence[str] = ("facts_bucketed", "customers_bucketed")
                        ) -> tuple[PlanSummary, PlanSummary]:
    """The plans of a join of two tables bucketed the same way on ``key`` and of the same join unbucketed.

    Broadcast joins are off for both, so the join is a shuffle join unless bucketing removes the exchanges.

    Parameters
    ----------
    spark : SparkSession
    facts, dims : pyspark.sql.DataFrame
        The two sides; written as bucketed tables named ``names``
        (see :func:`~labkit.topics.partitioning.bucketed_tables`).
    key : str
    buckets : int
    names : pair of str

    Returns
    -------
    tuple of labkit.core.plans.PlanSummary
        The bucketed join's and the unbucketed join's.
    """
    tables = bucketed_tables(spark, {names[0]: facts, names[1]: dims}, by=key, buckets=buckets)
    with spark_conf(spark, {"spark.sql.autoBroadcastJoinThreshold": -1}):
        bucketed = plan_summary(spark.table(tables[names[0]]).join(spark.table(tables[names[1]]), key))
        unbucketed = plan_summary(facts.join(dims, key))
    return bucketed, unbucketed


def _bucket_id(file: str) -> int:
    """The bucket id Spark puts in a bucketed file's name (``part-00000-<uuid>_00003.c000.snappy.parquet``)."""
    import re

    found = re.search(r"_(\d+)\.c\d+", file.rsplit("/", 1)[-1])
    if not found:
        raise ValueError(f"{file.rsplit('/', 1)[-1]} is not a bucketed file name (no _<bucket>.c<n> part)")
    return int(found.group(1))


def _refuse_existing(spark: SparkSession, root: str, tables: Sequence[str] = ()) -> None:
    """Refuse a ``root`` folder or a table that already exists: nothing is overwritten."""
    if files.exists(spark, root):
        raise FileExistsError(f"{root} already exists; name a folder that does not (nothing is overwritten)")
    for table in tables:
        if spark.catalog.tableExists(table):
            raise FileExistsError(f"table {table} already exists; drop it or choose another prefix")


def bucketing_layouts(df: DataFrame, key: str, buckets: int, root: str, database: str = "default",
                      prefix: str = "bucketed", drop_tables: bool = False) -> pd.DataFrame:
    """Write ``bucketBy(buckets, key)`` tables with and without a matching ``repartition(buckets, key)``.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The input as it arrives: its partitions are the write's tasks (T) in the plain write.
    key : str
        The bucketing column.
    buckets : int
        Buckets (n).
    root : str
        A folder that does not exist yet; each table's files go to ``<root>/<layout>`` (external tables).
    database : str
        An existing database for the two tables ``<prefix>_plain`` and ``<prefix>_repartitioned``, which must
        not exist yet (nothing is overwritten). Drop them when done, or pass ``drop_tables``.
    prefix : str
    drop_tables : bool
        Drop the two tables once their files are listed (external tables: the files stay under ``root``).

    Returns
    -------
    pandas.DataFrame
        Indexed by layout (``bucketBy only``, ``repartition(n, key) + bucketBy``): ``table``, ``tasks``,
        ``buckets``, ``files``, ``files bound`` (T x n), ``bucket ids`` (distinct, from the file names),
        ``largest file bytes``, ``median file bytes``, ``largest / median``, ``bytes``; ``attrs["files"]`` maps a
        layout to its ``[(bucket id, bytes)]``.

    Raises
    ------
    ValueError
        For a key the frame lacks, a bad count or a database or prefix that is not a plain name.
    FileExistsError
        When ``root`` or a table already exists.

    Notes
    -----
    Every write task opens one file per bucket it holds rows of, so the plain write makes up to ``T x n``
    files. After ``repartition(n, key)`` task ``i`` holds exactly bucket ``i``: Spark buckets with the hash of
    its shuffle, ``pmod(murmur3_hash(key), n)`` (the SQL ``hash()``, seed 42), so there are at most ``n``
    files, one per non-empty bucket. Either way a bucket's file is as big as its keys' rows: a skewed key
    gives one large file. Hive buckets differently (Hive 1/2 by the value's ``hashCode``, Hive 3 by its own
    Murmur3), so Spark's bucketed tables are Spark-specific (``DataFrameWriter.bucketBy`` says so).
    """
    spark = df.sparkSession
    require_columns(df, key, "bucketing column")
    positive_int("buckets", buckets)
    database, prefix, root = plain_name("database", database), plain_name("prefix", prefix), root.rstrip("/")
    layouts = {"bucketBy only": ("plain", df), f"repartition(n, {key}) + bucketBy": ("repartitioned",
                                                                                       df.repartition(buckets, key))}
    tables = {name: f"{database}.{prefix}_{short}" for name, (short, _) in layouts.items()}
    _refuse_existing(spark, root, tables.values())
    rows, listing = [], {}
    for name, (short, frame) in layouts.items():
        path = f"{root}/{short}"
        (frame.write.format("parquet").option("path", path).bucketBy(buckets, key).sortBy(key)
         .saveAsTable(tables[name]))
        found = sorted((_bucket_id(p), n) for p, n in files.list_files(spark, path))
        listing[name] = found
        sizes = pd.Series([n for _, n in found], dtype=float)
        rows.append({"layout": name, "table": tables[name], "tasks": partition_count(frame), "buckets": buckets,
                     "files": len(found), "files bound": partition_count(frame) * buckets,
                     "bucket ids": len({b for b, _ in found}), "largest file bytes": int(sizes.max()),
                     "median file bytes": float(sizes.median()), "largest / median": sizes.max() / sizes.median(),
                     "bytes": int(sizes.sum())})
    out = pd.DataFrame(rows).set_index("layout")
    out.attrs["files"] = listing
    for table in tables.values() if drop_tables else ():
        spark.sql(f"DROP TABLE {table}")
    return out


def folder_layouts(df: DataFrame, root: str, by: str, other: str | None, tasks: int, coarser: str | None = None
                   ) -> pd.DataFrame:
    """Files per ``partitionBy`` folder after no repartition, ``repartition(tasks, by)`` and by another column.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The input as it arrives (its partitions are the tasks of the first layout).
    root : str
        A folder that does not exist yet; each layout is written to ``<root>/<n>``.
    by : str
        The partition column (the guide's ``date_column``).
    other : str or None
        Another column to hash on (a key that is not the partition column); None skips that layout, the one that
        writes the most files (up to ``tasks`` x folders).
    tasks : int
        ``n`` of the ``repartition(n, ...)`` layouts (the guide's 200).
    coarser : str, optional
        Also write ``repartition(tasks, by)`` then ``partitionBy(coarser)``, for a column that ``by`` determines
        (a month of a date): the guide's own ``repartition(200, "date_column")`` before ``partitionBy("year",
        "month", ...)``.

    Returns
    -------
    pandas.DataFrame
        Indexed by layout: ``tasks``, ``partition column``, ``folders``, ``files``, ``files per folder max``,
        ``files per folder min``, ``path``; ``attrs["values"]`` is the number of distinct values of ``by`` (the
        folders of a ``partitionBy(by)``).

    Raises
    ------
    ValueError
        For columns the frame lacks or a bad ``tasks``.
    FileExistsError
        When ``root`` exists.

    Notes
    -----
    A task writes one file into each folder it holds rows of. ``repartition(n, by)`` puts all rows of a value
    of ``by`` into one task, so each ``by`` folder gets exactly one file (several values that hash to the same
    task are still separate folders). A coarser folder (a month) gets one file per task holding any of its
    dates: at most the number of dates in it, not ``n``. Without a repartition, or hashed on another column,
    every task that holds a value writes into its folder: up to tasks x folders files.
    """
    spark = df.sparkSession
    require_columns(df, [by] + ([other] if other else []) + ([coarser] if coarser else []))
    positive_int("tasks", tasks)
    root = root.rstrip("/")
    _refuse_existing(spark, root)
    layouts = {"no repartition": (df, by), f"repartition({tasks}, {by})": (df.repartition(tasks, by), by)}
    if other:
        layouts[f"repartition({tasks}, {other})"] = (df.repartition(tasks, other), by)
    if coarser:
        layouts[f"repartition({tasks}, {by}), partitionBy({coarser})"] = (df.repartition(tasks, by), coarser)
    rows = []
    for i, (name, (frame, column)) in enumerate(layouts.items()):
        path = f"{root}/{i}"
        frame.write.format("parquet").partitionBy(column).save(path)
        per_folder = pd.Series([p.rsplit("/", 1)[0] for p, _ in files.list_files(spark, path)]).value_counts()
        rows.append({"layout": name, "tasks": partition_count(frame), "partition column": column,
                     "folders": len(per_folder), "files": int(per_folder.sum()),
                     "files per folder max": int(per_folder.max()), "files per folder min": int(per_folder.min()),
                     "path": path})
    out = pd.DataFrame(rows).set_index("layout")
    out.attrs["values"] = df.select(by).distinct().count()
    return out
