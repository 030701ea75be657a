"""Notebook 04's experiments on Adaptive Query Execution: what each feature does to one query, measured or planned.

The settings and the plan checks are in :mod:`labkit.topics.aqe`. Here: the comparisons that time one query
under several settings (through :func:`labkit.core.bench.compare`), the plans a query gets under each, and the
queries the notebook builds to show them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core import runtime
from labkit.core.args import positive_int
from labkit.core.bench import compare, median_run
from labkit.core.plans import PlanSummary, plan_summary
from labkit.core.session import spark_conf
from labkit.topics import aqe

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["coalesce_comparison", "dynamic_pruning_by_setting", "dynamic_switch_plans", "partition_pruning_query",
           "profile_comparison", "salting_comparison", "shuffle_stage_stats", "skew_join_comparison",
           "skew_join_variants", "skew_split_by_join_type", "skew_split_reasons", "skew_splits"]

_P = "spark.sql.adaptive."


def skew_split_by_join_type(spark: SparkSession, skewed: DataFrame, other: DataFrame, key: str,
                            how: tuple[str, ...] = aqe.JOIN_TYPES, settings: Mapping[str, Any] | None = None,
                            partitions: int = 16) -> pd.DataFrame:
    """Whether AQE split the skewed side, per join type, with the skewed input on the left and on the right.

    Parameters
    ----------
    spark : SparkSession
    skewed, other : DataFrame
        The skewed input and the other one, joined on ``key``.
    key : str
    how : tuple of str
        Join types (:data:`labkit.topics.aqe.JOIN_TYPES` by default).
    settings : mapping, optional
        Skew-join settings, as in :func:`labkit.topics.aqe.skew_split_plan`.
    partitions : int

    Returns
    -------
    pandas.DataFrame
        One row per join type, columns ``skewed side left`` / ``skewed side right``: True when the final
        plan shows a skew split. Compare it with :func:`labkit.topics.aqe.splittable_sides`.
    """
    table = aqe.splittable_sides(how)  # checks the join types before anything runs
    left, right = table.columns
    for h in how:
        table.loc[h, left] = aqe.skew_split_plan(spark, skewed.join(other, key, h), settings, partitions).skew_split
        table.loc[h, right] = aqe.skew_split_plan(spark, other.join(skewed, key, h), settings, partitions).skew_split
    return table


def skew_splits(spark: SparkSession, df: DataFrame, settings: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
    """Whether the final plan of ``df`` shows a skew split, under each of the named settings.

    Parameters
    ----------
    spark : SparkSession
    df : DataFrame
        A join, or a ``groupBy`` (AQE never splits one). Each setting plans a new DataFrame over it.
    settings : mapping of name to settings

    Returns
    -------
    dict
        Name to ``PlanSummary.skew_split``.
    """
    found = {}
    for name, conf in settings.items():
        with spark_conf(spark, conf):
            found[name] = plan_summary(df.select("*")).skew_split  # a planned DataFrame keeps its plan
    return found


def skew_split_reasons(spark: SparkSession, df: DataFrame, settings: Mapping[str, Mapping[str, Any]]
                       ) -> dict[str, aqe.SkewVerdict] | None:
    """:func:`labkit.topics.aqe.explain_skew_split` of ``df`` under each of the named settings.

    Parameters
    ----------
    spark : SparkSession
    df : DataFrame
        A query with a shuffled join.
    settings : mapping of name to settings

    Returns
    -------
    dict or None
        Name to :class:`labkit.topics.aqe.SkewVerdict`; None on Spark Connect, where the shuffle statistics
        are in the server's JVM.
    """
    if runtime.is_connect(spark):
        return None
    verdicts = {}
    for name, conf in settings.items():
        with spark_conf(spark, conf):
            verdicts[name] = aqe.explain_skew_split(df)
    return verdicts


def dynamic_switch_plans(spark: SparkSession, df: DataFrame, threshold: int,
                         profiles: Mapping[str, Mapping[str, Any]] | None = None
                         ) -> tuple[PlanSummary, PlanSummary, PlanSummary]:
    """The executed plans of a join with AQE's switch to broadcast on, off, and on without the local shuffle reader.

    Parameters
    ----------
    spark : SparkSession
    df : DataFrame
        A join whose build side is small only after a filter Spark cannot size.
    threshold : int
        Bytes, both ``spark.sql.autoBroadcastJoinThreshold`` (below the sides' estimated sizes, so the static
        planner picks a sort-merge join) and, when the switch is on, AQE's own broadcast threshold.
    profiles : mapping, optional
        :func:`labkit.topics.aqe.aqe_profiles` (its ``dynamic_switch`` and ``none``).

    Returns
    -------
    tuple of PlanSummary
        ``(switched, kept, remote)``: switch on; switch off (profile ``none``); switch on with
        ``localShuffleReader.enabled=false``.
    """
    positive_int("threshold", threshold)
    p = profiles or aqe.aqe_profiles()
    static = {"spark.sql.autoBroadcastJoinThreshold": str(threshold)}
    switch = {**p["dynamic_switch"], **static, f"{_P}autoBroadcastJoinThreshold": str(threshold)}
    plans = []
    for conf in (switch, {**p["none"], **static}, {**switch, f"{_P}localShuffleReader.enabled": False}):
        with spark_conf(spark, conf):
            plans.append(plan_summary(df.select("*")))  # a new DataFrame: a planned one keeps its plan
    return tuple(plans)


def dynamic_pruning_by_setting(spark: SparkSession, df: DataFrame) -> dict[str, bool]:
    """Whether ``df``'s plan prunes partitions dynamically with AQE off, AQE on, and AQE and DPP both off.

    ``{"AQE off": True, "AQE on": True, "AQE off, DPP off": False}`` is the evidence that dynamic
    partition pruning is not an AQE feature.

    Parameters
    ----------
    spark : SparkSession
    df : DataFrame
        A partitioned table joined on its partition column to a filtered dimension.

    Returns
    -------
    dict
        Setting name to :func:`labkit.topics.aqe.dynamic_pruning` of the plan under it.
    """
    settings = {"AQE off": {f"{_P}enabled": False}, "AQE on": {f"{_P}enabled": True},
                "AQE off, DPP off": {f"{_P}enabled": False,
                                     "spark.sql.optimizer.dynamicPartitionPruning.enabled": False}}
    found = {}
    for name, conf in settings.items():
        with spark_conf(spark, conf):
            found[name] = aqe.dynamic_pruning(df.select("*"))  # a new DataFrame: a planned one keeps its plan
    return found


def partition_pruning_query(spark: SparkSession, facts: DataFrame, path: str, quarter: str = "Q1") -> DataFrame:
    """Write ``facts`` partitioned by ``month`` and join it on ``month`` to a month dimension filtered to ``quarter``.

    The query dynamic partition pruning applies to (:func:`dynamic_pruning_by_setting`): the filter is on the
    dimension, the partition column on the fact table.

    Parameters
    ----------
    spark : SparkSession
    facts : DataFrame
        With an integer ``month`` column (1-12).
    path : str
        An empty folder; overwritten.
    quarter : str
        ``Q1`` (months 1-3) or ``Q2-Q4``.

    Returns
    -------
    DataFrame
        The partitioned table read back, joined to the months of ``quarter``.
    """
    from pyspark.sql import functions as F

    if quarter not in ("Q1", "Q2-Q4"):
        raise ValueError(f"quarter must be 'Q1' or 'Q2-Q4', got {quarter!r}")
    facts.write.mode("overwrite").partitionBy("month").parquet(path)
    months = spark.range(1, 13).select(F.col("id").cast("int").alias("month"),
                                       F.when(F.col("id") <= 3, "Q1").otherwise("Q2-Q4").alias("quarter"))
    return spark.read.parquet(path).join(months.filter(F.col("quarter") == quarter), "month")


def shuffle_stage_stats(table: pd.DataFrame) -> pd.DataFrame:
    """The shuffle stage of each variant's median run in a :func:`labkit.core.bench.compare` table.

    Parameters
    ----------
    table : pandas.DataFrame
        A ``compare`` result: ``attrs["runs"]`` holds every run.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``table``: ``tasks`` (the tasks of the stage that read the most shuffle bytes, i.e. the
        reduce or join tasks) and ``parallel tasks`` (that stage's total task time / its wall time: how many
        of its tasks ran at once, on average).

    Raises
    ------
    ValueError
        When a variant's median run read no shuffle.
    """
    tasks, parallel = [], []
    for name in table.index:
        run = median_run(table.attrs["runs"], name)
        if run.shuffle_stage is None:
            raise ValueError(f"variant {name!r} read no shuffle: it has no shuffle stage")
        tasks_ms = run.stage_tasks_ms[run.shuffle_stage]
        tasks.append(len(tasks_ms))
        parallel.append(sum(tasks_ms) / run.stage_wall_ms[run.shuffle_stage])
    return pd.DataFrame({"tasks": tasks, "parallel tasks": parallel}, index=table.index)


def _compare_under(spark: SparkSession, run: Callable[[], Any], variants: Mapping[str, Mapping[str, Any]],
                   fixed: Mapping[str, Any], repeats: int, baseline: str | None = None) -> pd.DataFrame:
    """``compare`` the same ``run`` under each variant's settings, all inside the ``fixed`` settings."""
    with spark_conf(spark, fixed):
        return compare({name: run for name in variants}, repeats=repeats, baseline=baseline, conf=variants)


def coalesce_comparison(spark: SparkSession, run: Callable[[], Any],
                        profiles: Mapping[str, Mapping[str, Any]] | None = None, partitions: int = 200,
                        manual_partitions: int = 50, repeats: int = 3) -> pd.DataFrame:
    """One shuffling query: AQE off, off with fewer partitions set by hand, coalescing, ``parallelismFirst=false``.

    Parameters
    ----------
    spark : SparkSession
    run : callable
        Runs the query once, planning it afresh (``labkit.core.measure.noop(df)``).
    profiles : mapping, optional
        :func:`labkit.topics.aqe.aqe_profiles` (its ``off`` and ``coalesce``); the default profiles when omitted.
    partitions : int
        ``spark.sql.shuffle.partitions`` for every variant but the manual one.
    manual_partitions : int
        The hand-tuned ``spark.sql.shuffle.partitions`` of the ``off, <n> partitions`` variant (AQE off).
    repeats : int

    Returns
    -------
    pandas.DataFrame
        The ``compare`` table (baseline ``off``), rows ``off``, ``off, <n> partitions``, ``coalesce``,
        ``coalesce, parallelismFirst=false``, with ``reduce tasks`` and ``parallel tasks`` of the shuffle
        stage's median run (:func:`shuffle_stage_stats`).
    """
    positive_int("partitions", partitions)
    positive_int("manual_partitions", manual_partitions)
    p = profiles or aqe.aqe_profiles()
    variants = {"off": p["off"],
                f"off, {manual_partitions} partitions": {**p["off"], "spark.sql.shuffle.partitions": manual_partitions},
                "coalesce": p["coalesce"],
                "coalesce, parallelismFirst=false": {**p["coalesce"],
                                                     f"{_P}coalescePartitions.parallelismFirst": False}}
    table = _compare_under(spark, run, variants, {"spark.sql.shuffle.partitions": partitions}, repeats, "off")
    stats = shuffle_stage_stats(table)
    table["reduce tasks"] = stats["tasks"]
    table["parallel tasks"] = stats["parallel tasks"]
    return table


def skew_join_variants(spark: SparkSession, profiles: Mapping[str, Mapping[str, Any]], threshold: str
                       ) -> dict[str, dict[str, Any]]:
    """AQE on in all three, differing only in the skew join: off, on with Spark's defaults, on with ``threshold``.

    Parameters
    ----------
    spark : SparkSession
        Spark's default thresholds are read from it (:func:`labkit.topics.aqe.skew_join_defaults`).
    profiles : mapping
        :func:`labkit.topics.aqe.aqe_profiles` built with ``skew_threshold=threshold`` (its ``none`` and ``skew_join``).
    threshold : str
        Only names the lowered variant: ``skew join, threshold <threshold>``.

    Returns
    -------
    dict
        ``AQE on, skew join off``, ``skew join, Spark defaults``, ``skew join, threshold <threshold>``.
    """
    return {"AQE on, skew join off": profiles["none"],
            "skew join, Spark defaults": {**profiles["none"], **aqe.skew_join_defaults(spark)},
            f"skew join, threshold {threshold}": profiles["skew_join"]}


def salting_comparison(spark: SparkSession, run_join: Callable[[], Any], run_salted: Callable[[], Any],
                        profiles: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Any], salt: int = 8,
                        repeats: int = 3) -> pd.DataFrame:
    """A skewed join three ways: plain (AQE on, skew join off), AQE's skew join, and salted (skew join off).

    Parameters
    ----------
    spark : SparkSession
    run_join, run_salted : callable
        Run the plain join and the salted one (:func:`labkit.topics.skew.salted_join`) once each.
    profiles : mapping
        :func:`labkit.topics.aqe.aqe_profiles` (its ``none`` and ``skew_join``).
    fixed : mapping
        Settings for every variant (no broadcast, the join's shuffle partitions).
    salt : int
        Only names the salted variant: ``salted <salt>, AQE on, skew join off``.
    repeats : int

    Returns
    -------
    pandas.DataFrame
        The ``compare`` table, baseline the plain join.
    """
    salted = f"salted {salt}, AQE on, skew join off"
    runs = {"plain, AQE on, skew join off": run_join, "AQE skew join": run_join, salted: run_salted}
    conf = {"plain, AQE on, skew join off": profiles["none"], "AQE skew join": profiles["skew_join"],
            salted: profiles["none"]}
    with spark_conf(spark, fixed):
        return compare(runs, repeats=repeats, conf=conf)


def skew_join_comparison(spark: SparkSession, run_join: Callable[[], Any], run_salted: Callable[[], Any],
                         variants: Mapping[str, Mapping[str, Any]], profiles: Mapping[str, Mapping[str, Any]],
                         fixed: Mapping[str, Any], salt: int = 8, repeats: int = 3
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The skew join's settings and the salted join, interleaved in one ``compare``; read as two tables.

    One comparison gives both of notebook 04's tables: the skew join's variants against each other, and
    :func:`salting_comparison`'s three joins (plain, AQE's skew join, salted), whose plain join and skew join
    are two of those variants (the same join under the same settings), so they run once, not twice.

    Parameters
    ----------
    spark : SparkSession
    run_join, run_salted : callable
        Run the plain join and the salted one (:func:`labkit.topics.skew.salted_join`) once each.
    variants : mapping
        :func:`skew_join_variants`: its first entry (the skew join off) is the baseline and the plain join, its
        last (the lowered threshold) AQE's skew join.
    profiles : mapping
        :func:`labkit.topics.aqe.aqe_profiles` (its ``none`` runs the salted join).
    fixed : mapping
        Settings for every variant (no broadcast, the join's shuffle partitions).
    salt : int
        Only names the salted variant: ``salted <salt>, AQE on, skew join off``.
    repeats : int

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The ``compare`` table of ``variants`` (baseline the first) and the table :func:`salting_comparison`
        returns (rows ``plain, AQE on, skew join off``, ``AQE skew join``, the salted one; baseline the plain
        join), each with its own runs in ``attrs["runs"]`` under its own row names.
    """
    names = list(variants)
    salted = f"salted {salt}, AQE on, skew join off"
    if salted in variants:
        raise ValueError(f"a variant is already named {salted!r}")
    runs = {**{name: run_join for name in names}, salted: run_salted}
    with spark_conf(spark, fixed):
        table = compare(runs, repeats=repeats, baseline=names[0], conf={**variants, salted: profiles["none"]})
    versus_names = {names[0]: "plain, AQE on, skew join off", names[-1]: "AQE skew join", salted: salted}
    return _rows(table, {n: n for n in names}), _rows(table, versus_names)


def _rows(table: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """Some rows of a ``compare`` table under new names, with their runs (relabelled) and its baseline."""
    out = table.loc[list(names)].rename(index=names)
    out.index.name = table.index.name
    out.attrs = {"runs": [replace(m, label=names[m.label]) for m in table.attrs["runs"] if m.label in names],
                 "baseline": names.get(table.attrs["baseline"], table.attrs["baseline"])}
    return out


def profile_comparison(spark: SparkSession, run: Callable[[], Any], profiles: Mapping[str, Mapping[str, Any]],
                       fixed: Mapping[str, Any], manual_partitions: int = 400, repeats: int = 3,
                       only: Sequence[str] = ()) -> pd.DataFrame:
    """One workload under every AQE profile and under AQE off with ``manual_partitions`` set by hand.

    Parameters
    ----------
    spark : SparkSession
    run : callable
        Runs the workload once, planning it afresh.
    profiles : mapping
        :func:`labkit.topics.aqe.aqe_profiles`; it must hold ``off``, the baseline.
    fixed : mapping
        Settings for every variant (the configured shuffle partitions, broadcasts off, ...).
    manual_partitions : int
        ``spark.sql.shuffle.partitions`` of the extra variant ``off, <n> partitions``.
    repeats : int
    only : sequence of str
        The profiles to time besides ``off`` (empty: every one).

    Returns
    -------
    pandas.DataFrame
        The ``compare`` table against ``off``: one row per profile timed, then ``off, <n> partitions``.

    Raises
    ------
    ValueError
        For a name in ``only`` that is not a profile.
    """
    positive_int("manual_partitions", manual_partitions)
    unknown = sorted(set(only) - set(profiles))
    if unknown:
        raise ValueError(f"profile_comparison: no profile {unknown}; the profiles are {list(profiles)}")
    timed = {n: c for n, c in profiles.items() if not only or n == "off" or n in only}
    variants = {**timed, f"off, {manual_partitions} partitions": {
        **profiles["off"], "spark.sql.shuffle.partitions": manual_partitions}}
    return _compare_under(spark, run, variants, fixed, repeats, "off")
