"""The guide's tuning checklist, one knob at a time: what Catalyst already does, what costs jobs, what caching buys.

What notebook 10 measures. Each function builds the variants of one checklist item as callables for
:func:`labkit.core.bench.compare` (or runs them through it), so that a notebook measures them interleaved, after a
warm-up, with medians and the spread of the rounds. The guide's own forms are reproduced here: its "bad" chained
filters against its "good" and "better" ones (:func:`chained_vs_combined`), its Step 4 aggregations and counts, and
its 45-minute Hive query in each layout it names (:func:`hive_layouts`, :func:`run_hive_steps`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import positive_int, require_columns
from labkit.core.bench import compare, pair_ratio
from labkit.core.measure import noop
from labkit.topics.tuning import same_plan

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["LEVELS", "aggregation_variants", "analysis_cost", "cache_variants", "chained_vs_combined",
           "count_variants", "hive_layouts", "hive_query", "hive_variants", "partition_settings", "run_hive_steps"]


LEVELS = ("none", "MEMORY_ONLY", "MEMORY_AND_DISK", "DISK_ONLY")


def chained_vs_combined(df: DataFrame) -> dict[str, Any]:
    """The guide's "Bad: multiple passes" (chained filters and withColumn) against its "Good" and "Better" forms.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        With numeric ``amount`` and ``quantity`` and a string ``region``.

    Returns
    -------
    dict
        ``frames`` (name to DataFrame: chained, combined, select) and ``same_plan`` (name to bool, against chained).
    """
    from pyspark.sql import functions as F

    require_columns(df, ["amount", "quantity", "region"], "column")
    chained = (df.filter(F.col("amount") > 0).filter(F.col("region") == "us-east")
               .withColumn("new_col1", F.col("amount") + F.col("quantity"))
               .withColumn("new_col2", F.col("amount") * F.col("quantity")))
    combined = (df.filter((F.col("amount") > 0) & (F.col("region") == "us-east"))
                .withColumn("new_col1", F.col("amount") + F.col("quantity"))
                .withColumn("new_col2", F.col("amount") * F.col("quantity")))
    selected = df.filter((F.col("amount") > 0) & (F.col("region") == "us-east")).select(
        "*", (F.col("amount") + F.col("quantity")).alias("new_col1"),
        (F.col("amount") * F.col("quantity")).alias("new_col2"))
    frames = {"chained (the guide's bad)": chained, "combined filter (good)": combined, "select (better)": selected}
    return {"frames": frames, "same_plan": {name: same_plan(chained, f) for name, f in frames.items()}}


def analysis_cost(df: DataFrame, columns: Sequence[int] = (10, 100, 300), repeats: int = 3, warmup: int | None = None,
                  progress: bool = True) -> pd.DataFrame:
    """Where chained ``withColumn`` really costs: building (analysing) the plan, not running it.

    Each ``withColumn`` returns a new DataFrame that Spark analyses at once, so
    ``n`` chained calls analyse a growing plan ``n`` times; one ``select`` with
    ``n`` expressions analyses once. Nothing is executed: each variant builds a
    DataFrame and its schema, and starts no Spark job.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        With a numeric ``amount`` column.
    columns : sequence of int
        Numbers of new columns.
    repeats, warmup : int
        As in :func:`labkit.core.bench.compare`: the builds of every column count are interleaved with each other
        (withColumn, select, the next count, ...) after ``warmup`` unmeasured rounds; the medians are kept.
    progress : bool

    Returns
    -------
    pandas.DataFrame
        Indexed by ``columns``: ``withColumn s``, ``select s`` (median seconds to build the DataFrame and its
        schema), ``ratio`` (withColumn median / select median) and its spread over the rounds, ``ratio_lo`` and
        ``ratio_hi``. ``attrs["times"]`` is the :func:`labkit.core.bench.compare` table of the variants
        ``withColumn, <n> columns`` and ``select, <n> columns``.
    """
    require_columns(df, ["amount"], "column")
    for n in columns:
        positive_int("columns", n)
    names = {n: (f"withColumn, {n} columns", f"select, {n} columns") for n in columns}
    variants = {}
    for n, (chained, selected) in names.items():
        variants[chained], variants[selected] = _chained_columns(df, n), _selected_columns(df, n)
    times = compare(variants, repeats=repeats, warmup=warmup, spark=df.sparkSession, progress=progress)
    rows = []
    for n, (chained, selected) in names.items():
        ratio = pair_ratio(times, chained, selected)
        rows.append({"columns": n, "withColumn s": float(times.loc[chained, "median_s"]),
                     "select s": float(times.loc[selected, "median_s"]), "ratio": float(ratio["speedup"]),
                     "ratio_lo": float(ratio["speedup_lo"]), "ratio_hi": float(ratio["speedup_hi"])})
    out = pd.DataFrame(rows).set_index("columns")
    out.attrs["times"] = times
    return out


def _chained_columns(df: DataFrame, n: int) -> Callable[[], Any]:
    """A callable that adds ``n`` columns with ``n`` chained ``withColumn`` calls and returns the schema."""
    from pyspark.sql import functions as F

    def build():
        out = df
        for i in range(n):
            out = out.withColumn(f"c{i}", F.col("amount") + i)
        return out.schema

    return build


def _selected_columns(df: DataFrame, n: int) -> Callable[[], Any]:
    """A callable that adds the same ``n`` columns with one ``select`` and returns the schema."""
    from pyspark.sql import functions as F

    def build():
        return df.select("*", *[(F.col("amount") + i).alias(f"c{i}") for i in range(n)]).schema

    return build


def aggregation_variants(df: DataFrame, key: str = "customer_id", value: str = "amount"
                         ) -> dict[str, Callable[[], None]]:
    """The guide's Step 4 "multiple aggregations" (three groupBy jobs) against one ``agg``, as callables."""
    from pyspark.sql import functions as F

    require_columns(df, [key, value], "column")

    def three():
        noop(df.groupBy(key).agg(F.sum(value).alias("total")))()
        noop(df.groupBy(key).agg(F.avg(value).alias("average")))()
        noop(df.groupBy(key).agg(F.count("*").alias("count")))()

    one = noop(df.groupBy(key).agg(F.sum(value).alias("total"), F.avg(value).alias("average"),
                                   F.count("*").alias("count")))
    return {"three aggregations": three, "one agg": one}


def count_variants(df: DataFrame, condition: str) -> dict[str, Callable[[], Any]]:
    """The guide's "count plus a filtered count" (two jobs) against one pass with a conditional sum, as callables."""
    from pyspark.sql import functions as F

    def two():
        return df.count(), df.filter(condition).count()

    def one():
        row = df.groupBy().agg(F.count("*").alias("total"),
                               F.sum(F.when(F.expr(condition), 1).otherwise(0)).alias("matching")).collect()[0]
        return row["total"], row["matching"]

    return {"count + filtered count": two, "one pass, conditional sum": one}


def cache_variants(make: Callable[[], DataFrame], uses: Sequence[Callable[[DataFrame], Any]],
                   levels: Sequence[str] = LEVELS) -> dict[str, Callable[[], None]]:
    """A DataFrame reused several times, uncached and persisted at each storage level, unpersisted after.

    Parameters
    ----------
    make : callable
        Builds the intermediate DataFrame (the guide's ``df_filtered``) afresh.
    uses : sequence of callable
        Each takes the DataFrame and runs one action on it (the guide's three aggregations).
    levels : sequence of str
        ``none`` or a ``pyspark.StorageLevel`` name.

    Returns
    -------
    dict
        One callable per level: persist (unless ``none``), run every use, unpersist.

    Raises
    ------
    ValueError
        For an unknown storage level.
    """
    from pyspark import StorageLevel

    unknown = [lv for lv in levels if lv != "none" and not hasattr(StorageLevel, lv)]
    if unknown:
        raise ValueError(f"unknown storage level(s) {unknown}; use none or e.g. MEMORY_AND_DISK")

    def variant(level):
        def run():
            df = make()
            if level != "none":
                df = df.persist(getattr(StorageLevel, level))
            try:
                for use in uses:
                    use(df)
            finally:
                if level != "none":
                    df.unpersist(blocking=True)
        return run

    return {level: variant(level) for level in levels}


def partition_settings(counts: Sequence[int] = (8, 200, 400)) -> dict[str, dict[str, Any]]:
    """Settings for ``spark.sql.shuffle.partitions`` at each count, with AQE off and on (coalescing on).

    Examples
    --------
    >>> sorted(partition_settings([8]))
    ['8, AQE off', '8, AQE on']
    """
    out = {}
    for n in counts:
        positive_int("counts", n)
        for aqe in (False, True):
            out[f"{n}, AQE {'on' if aqe else 'off'}"] = {
                "spark.sql.shuffle.partitions": n, "spark.sql.adaptive.enabled": aqe,
                "spark.sql.adaptive.coalescePartitions.enabled": True}
    return out


def hive_layouts(facts: DataFrame, root: str, csv: bool = True) -> dict[str, str]:
    """The 45-minute query's table in each layout the guide names: flat CSV, flat ORC (its source), ORC and
    Parquet partitioned by year, flat Parquet.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
        Transactions (``customer_id``, ``amount``, ``year``, ...).
    root : str
        A scratch folder.
    csv : bool
        Also write the flat CSV (the row-format reference, no fix of the guide's); without it the layouts have no
        ``"CSV, flat"`` and :func:`hive_variants` leaves its variant out.

    Returns
    -------
    dict
        Layout name to path.
    """
    require_columns(facts, ["customer_id", "amount", "year"], "column")
    root = root.rstrip("/")
    paths = {"CSV, flat": f"{root}/csv_flat", "ORC, flat": f"{root}/orc_flat", "Parquet, flat": f"{root}/pq_flat",
             "ORC, by year": f"{root}/orc_year", "Parquet, by year": f"{root}/pq_year"}
    data = facts.select("customer_id", "amount", "year", "month", "region", "product_id", "quantity")
    if csv:
        data.write.mode("overwrite").option("header", True).csv(paths["CSV, flat"])
    else:
        del paths["CSV, flat"]
    data.write.mode("overwrite").orc(paths["ORC, flat"])
    data.write.mode("overwrite").parquet(paths["Parquet, flat"])
    data.repartition("year").write.mode("overwrite").partitionBy("year").orc(paths["ORC, by year"])
    data.repartition("year").write.mode("overwrite").partitionBy("year").parquet(paths["Parquet, by year"])
    return paths


def hive_query(spark: SparkSession, path: str, fmt: str, salted: Callable[[DataFrame], DataFrame] | None = None,
               year: int = 2024, schema: str | None = None) -> DataFrame:
    """``SELECT customer_id, SUM(amount) FROM t WHERE year = <year> GROUP BY customer_id`` over one layout.

    Parameters
    ----------
    spark : SparkSession
    path : str
    fmt : {"csv", "orc", "parquet"}
    salted : callable, optional
        ``salted(df)`` returns the salted two-stage aggregate of ``df`` (the notebook passes
        ``labkit.skew.salted_aggregate``); the plain ``groupBy`` when None.
    year : int
    schema : str, optional
        The CSV schema (the columns :func:`hive_layouts` writes by default).

    Returns
    -------
    pyspark.sql.DataFrame
    """
    from pyspark.sql import functions as F

    if fmt not in ("csv", "orc", "parquet"):
        raise ValueError(f"fmt must be csv, orc or parquet, got {fmt!r}")
    reader = spark.read
    if fmt == "csv":
        reader = reader.option("header", True).schema(
            schema or "customer_id long, amount decimal(10,2), year int, month int, region string, "
                      "product_id long, quantity int")
    df = getattr(reader, fmt)(path).where(F.col("year") == year)
    if salted is not None:
        return salted(df)
    return df.groupBy("customer_id").agg(F.sum("amount").alias("total"))


def hive_variants(spark: SparkSession, paths: Mapping[str, str], salted: Callable[[DataFrame], DataFrame]
                  ) -> dict[str, Callable[[], None]]:
    """The guide's three fixes one at a time from its ORC source, then together, plus CSV for reference (when
    ``paths`` has the ``"CSV, flat"`` layout)."""
    q = lambda layout, fmt, s=None: noop(hive_query(spark, paths[layout], fmt, s))  # noqa: E731
    variants = {
        "ORC, flat (the guide's start)": q("ORC, flat", "orc"),
        "1. partitioned by year (ORC)": q("ORC, by year", "orc"),
        "2. Parquet, flat": q("Parquet, flat", "parquet"),
        "3. salted (ORC, flat)": q("ORC, flat", "orc", salted),
        "all three: Parquet by year, salted": q("Parquet, by year", "parquet", salted),
    }
    if "CSV, flat" in paths:
        variants["CSV, flat (for reference)"] = q("CSV, flat", "csv")
    return variants


def run_hive_steps(spark: SparkSession, paths: Mapping[str, str], salted: Callable[[DataFrame], DataFrame],
                   repeats: int = 3) -> pd.DataFrame:
    """:func:`hive_variants` timed interleaved against the ORC start (see :func:`labkit.core.bench.compare`)."""
    return compare(hive_variants(spark, paths, salted), repeats=repeats, spark=spark,
                   baseline="ORC, flat (the guide's start)")
