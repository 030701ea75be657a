"""Partition pruning and filter pushdown, measured: the bytes and files each layout's scan opens, timed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.aws.prices import athena_cost_usd
from labkit.core.args import positive_int, require_columns
from labkit.core.bench import compare, pair_ratio
from labkit.core.measure import measure, noop
from labkit.topics.partitioning import file_stats, read_csv, write_lake

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["pruning_numbers", "pruning_table", "pruning_time_numbers", "pruning_timings", "pushdown_experiment",
           "pushdown_number", "scanned_mb", "write_layouts"]


def write_layouts(facts: DataFrame, root: str, files: int, partition_by: Sequence[str] = ("year", "month")
                  ) -> pd.DataFrame:
    """Write the same rows twice, Hive-partitioned and flat, and list what each layout holds.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
    root : str
        The lake's folder: the layouts go to ``<root>/hive`` and ``<root>/flat``.
    files : int
        Files of the flat layout.
    partition_by : sequence of str
        The Hive layout's partition columns (one file per folder, see :func:`~labkit.topics.partitioning.write_lake`).

    Returns
    -------
    pandas.DataFrame
        Indexed by layout (``hive``, ``flat``): ``path``, ``files``, ``bytes``, ``folders``
        (:func:`~labkit.topics.partitioning.file_stats`).
    """
    root = root.rstrip("/")
    paths = {"hive": write_lake(facts, f"{root}/hive", partition_by=list(partition_by)),
             "flat": write_lake(facts, f"{root}/flat", layout="flat", files_per_partition=files)}
    spark = facts.sparkSession
    rows = {name: {"path": path, **{k: v for k, v in vars(file_stats(spark, path)).items() if k != "sizes"}}
            for name, path in paths.items()}
    return pd.DataFrame(rows).T[["path", "files", "bytes", "folders"]]


def pruning_table(spark: SparkSession, layouts: Mapping[str, str], queries: Mapping[str, str], all_query: str = "all"
                  ) -> pd.DataFrame:
    """Run each query on each Parquet layout and read what the scan opened: files, bytes, filters, Athena cost.

    Parameters
    ----------
    spark : SparkSession
    layouts : mapping of name to path
        For example ``{"hive": ..., "flat": ...}`` from :func:`~labkit.topics.partitioning.write_lake`.
    queries : mapping of name to SQL filter
        Must include ``all_query``, the query that reads everything (the
        reference for the fractions).
    all_query : str

    Returns
    -------
    pandas.DataFrame
        Indexed by (query, layout): ``files``, ``bytes``, ``partition filters``,
        ``pushed filters``, ``fraction of all bytes`` and ``athena usd``
        (:func:`labkit.aws.prices.athena_cost_usd` of the bytes).
    """
    if all_query not in queries:
        raise ValueError(f"queries must include {all_query!r}, the full read the fractions are taken against")
    rows = []
    for qname, where in queries.items():
        for layout, path in layouts.items():
            m = measure(spark, noop(spark.read.parquet(path).filter(where)), f"{layout}: {qname}")
            rows.append({"query": qname, "layout": layout, "files": m.input_files, "bytes": m.files_read_bytes,
                         "partition filters": m.plan.partition_filters, "pushed filters": m.plan.pushed_filters})
    table = pd.DataFrame(rows).set_index(["query", "layout"])
    full = {layout: table.loc[(all_query, layout), "bytes"] for layout in layouts}
    table["fraction of all bytes"] = [b / max(full[layout], 1) for (_, layout), b in table["bytes"].items()]
    table["athena usd"] = [athena_cost_usd(int(b)) for b in table["bytes"]]
    return table


def pruning_numbers(pruning: pd.DataFrame, layout: str = "hive") -> list[dict[str, Any]]:
    """The bytes the partitioned layout skips, against the guide's pruning claims, ready for ``lab.record(**r)``.

    - ``pruning.one_of_five.bytes_reduction``: 1 - the fraction of all bytes read for one year of five;
    - ``pruning.two_of_five.bytes_reduction``: the same for two years of five;
    - ``pruning.two_of_five.athena_cost_savings``: 1 - the Athena cost of two years of five over the full read.

    Parameters
    ----------
    pruning : pandas.DataFrame
        :func:`pruning_table` output with the queries ``one of five``, ``two of five`` and ``all``.
    layout : str
        The partitioned layout.

    Returns
    -------
    list of dict
        ``key``, ``value``, ``unit``, ``claim`` and ``note`` of each number.
    """
    one, two = (pruning.loc[(q, layout), "fraction of all bytes"] for q in ("one of five", "two of five"))
    usd = pruning["athena usd"]
    return [
        dict(key="pruning.one_of_five.bytes_reduction", value=1 - one, unit="fraction",
             claim="part-athena-80pct-scanned", note="bytes read, hive layout, 1 of 5 years (machine-independent)"),
        dict(key="pruning.two_of_five.bytes_reduction", value=1 - two, unit="fraction", claim="part-2tb-of-5tb-70pct",
             note="bytes read, hive layout, 2 of 5 years; the guide's own 2 TB of 5 TB is a 60% reduction"),
        dict(key="pruning.two_of_five.athena_cost_savings",
             value=1 - usd.loc[("two of five", layout)] / usd.loc[("all", layout)], unit="fraction",
             claim="part-athena-25-10", note="labkit.aws.prices: Athena bills per TB scanned"),
    ]


def pruning_timings(spark: SparkSession, layouts: Mapping[str, str], queries: Mapping[str, str], repeats: int = 3,
                    all_query: str = "all") -> pd.DataFrame:
    """Time each query but the full read on each Parquet layout, interleaved: variants ``<layout>: <query>``.

    Parameters
    ----------
    spark : SparkSession
    layouts : mapping of name to path
        The first one's first query is the baseline (``{"flat": ..., "hive": ...}``).
    queries : mapping of name to SQL filter
        As for :func:`pruning_table`; ``all_query``, the full read, is not timed.
    repeats : int
        Measured runs per variant (see :func:`labkit.core.bench.compare`).
    all_query : str

    Returns
    -------
    pandas.DataFrame
        The :func:`labkit.core.bench.compare` table, one row per query and layout (queries outer).

    Raises
    ------
    ValueError
        When no query is left to time.
    """
    variants = {f"{layout}: {q}": noop(spark.read.parquet(path).filter(where))
                for q, where in queries.items() if q != all_query for layout, path in layouts.items()}
    if not variants:
        raise ValueError(f"pruning_timings: no query to time besides {all_query!r}: {list(queries)}")
    return compare(variants, repeats=repeats, baseline=next(iter(variants)))


def pruning_time_numbers(times: pd.DataFrame, claims: Mapping[str, str | None], setting: str = "",
                         slower: str = "flat", faster: str = "hive") -> list[dict[str, Any]]:
    """What pruning saves in time, per query: the speedup and the time reduction, ready for ``lab.record(**r)``.

    Parameters
    ----------
    times : pandas.DataFrame
        :func:`pruning_timings` output with the variants ``<slower>: <query>`` and ``<faster>: <query>``.
    claims : mapping of query to claim id or None
        The queries to report, in order, each with the claim its speedup is judged against.
    setting : str
        Added to the speedup's note (the scale).
    slower, faster : str
        The flat and the partitioned layout.

    Returns
    -------
    list of dict
        Per query ``q`` (spaces as ``_``): ``pruning.<q>.time_speedup`` (x, with its spread) and
        ``pruning.<q>.time_reduction`` (1 - partitioned / flat time, its spread from the speedup's).
    """
    out = []
    for q, claim in claims.items():
        row, name = pair_ratio(times, f"{slower}: {q}", f"{faster}: {q}"), q.replace(" ", "_")
        out += [dict(key=f"pruning.{name}.time_speedup", value=float(row["speedup"]), unit="x", claim=claim,
                     note=f"flat / partitioned, {setting}",
                     spread=(float(row["speedup_lo"]), float(row["speedup_hi"]))),
                dict(key=f"pruning.{name}.time_reduction", value=1 - 1 / row["speedup"], unit="time_fraction",
                     spread=(1 - 1 / row["speedup_lo"], 1 - 1 / row["speedup_hi"]),
                     note="1 - partitioned / flat time")]
    return out


def scanned_mb(pruning: pd.DataFrame, years: Mapping[str, int]) -> pd.DataFrame:
    """The pruning table flattened for a plot: ``query``, ``layout``, ``years`` the query needs and ``MB`` read.

    Parameters
    ----------
    pruning : pandas.DataFrame
        :func:`pruning_table` output.
    years : mapping of query to int
        The years each query reads.

    Returns
    -------
    pandas.DataFrame
    """
    flat = pruning.reset_index()
    return flat.assign(years=flat["query"].map(dict(years)).to_numpy(), MB=flat["bytes"] / 2**20)


def pushdown_experiment(facts: DataFrame, root: str, files: int, column: str = "txn_id", fraction: float = 0.01,
                        row_group_bytes: int = 1024 * 1024) -> pd.DataFrame:
    """Parquet sorted on ``column`` with small row groups against CSV: what a selective filter makes each read.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
        With a numeric ``column`` of distinct values from 0 (``txn_id``).
    root : str
        Folder for the two copies.
    files : int
        Files per copy.
    column : str
    fraction : float
        The filter keeps ``column < fraction * rows``.
    row_group_bytes : int
        ``parquet.block.size``: smaller row groups leave more to skip.

    Returns
    -------
    pandas.DataFrame
        Indexed by (format, query): ``bytes read``, ``rows from the reader``,
        ``pushed filters``; ``attrs["cut"]`` is the filter's bound.
    """
    spark = facts.sparkSession
    require_columns(facts, column)
    sorted_path = f"{root.rstrip('/')}/sorted"
    (facts.orderBy(column).coalesce(positive_int("files", files)).write.mode("overwrite")
     .option("parquet.block.size", row_group_bytes).parquet(sorted_path))
    csv_path = write_lake(facts, f"{root.rstrip('/')}/csv", layout="flat", fmt="csv", files_per_partition=files)
    cut = int(facts.count() * fraction)
    reads = {"parquet": lambda: spark.read.parquet(sorted_path),
             "csv": lambda: read_csv(spark, csv_path, facts.schema)}
    rows = []
    for name, reader in reads.items():
        for label, where in [(f"{fraction:.0%} filter", f"{column} < {cut}"), ("no filter", f"{column} >= 0")]:
            m = measure(spark, noop(reader().filter(where)), f"{name}, {label}")
            rows.append({"format": name, "query": label, "bytes read": m.input_bytes,
                         "rows from the reader": m.input_records, "pushed filters": m.plan.pushed_filters})
    table = pd.DataFrame(rows).set_index(["format", "query"])
    table.attrs["cut"] = cut
    return table


def pushdown_number(pushdown: pd.DataFrame) -> dict[str, Any]:
    """The share of rows the Parquet reader decoded for the selective filter, ready for ``lab.record(**r)``.

    Parameters
    ----------
    pushdown : pandas.DataFrame
        :func:`pushdown_experiment` output: its first query is the selective filter.

    Returns
    -------
    dict
        ``pushdown.parquet_rows_decoded_fraction``: rows from the reader with the filter / without it (row
        groups skipped by their statistics).
    """
    rows, selective = pushdown["rows from the reader"], pushdown.index[0][1]
    return dict(key="pushdown.parquet_rows_decoded_fraction",
                value=rows[("parquet", selective)] / rows[("parquet", "no filter")], unit="fraction",
                note="rows the Parquet reader decoded for a 1% filter on the sort column (row groups skipped)")
