"""Adaptive Query Execution: the one home of the lab's AQE settings and thresholds.

Named configurations that differ in one feature each, the skew-join settings
that let AQE split a partition at laptop scale, and Spark's own defaults for
them, read from the running session rather than typed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit.core.args import positive_int

__all__ = ["FEATURES", "JOIN_TYPES", "SKEW_KEYS", "SPLITTABLE_SIDES", "aqe_profiles", "coalesce_comparison",
           "dynamic_pruning", "dynamic_pruning_by_setting", "dynamic_switch_plans", "forced_skew_split",
           "laptop_skew_threshold", "local_shuffle_reads", "partition_pruning_query", "profile_comparison",
           "salting_comparison", "shuffle_stage_stats", "skew_join_defaults", "skew_join_settings",
           "skew_join_variants", "skew_split_by_join_type", "skew_splits", "splittable_sides"]

FEATURES = ("coalesce", "skew_join", "dynamic_switch")
_P = "spark.sql.adaptive."
SKEW_KEYS = (f"{_P}skewJoin.skewedPartitionThresholdInBytes", f"{_P}skewJoin.skewedPartitionFactor",
             f"{_P}advisoryPartitionSizeInBytes")


def skew_join_settings(threshold: str = "1MB", factor: float = 2.0, advisory: str | None = None) -> dict[str, Any]:
    """Settings that turn AQE's skew join on with the given thresholds.

    Spark splits a partition only when it is larger than
    ``skewedPartitionThresholdInBytes`` *and* ``skewedPartitionFactor`` times the
    median partition; its defaults (see :func:`skew_join_defaults`) never fire on
    laptop-sized data.

    Parameters
    ----------
    threshold : str
        ``skewedPartitionThresholdInBytes``.
    factor : float
        ``skewedPartitionFactor``.
    advisory : str, optional
        ``advisoryPartitionSizeInBytes``, the size a skewed partition is split
        into; ``threshold`` by default.

    Returns
    -------
    dict
        For :func:`labkit.core.session.spark_conf`.

    Examples
    --------
    >>> skew_join_settings("2MB")["spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes"]
    '2MB'
    """
    if factor <= 0:
        raise ValueError(f"factor must be > 0, got {factor!r}")
    return {f"{_P}enabled": True, f"{_P}skewJoin.enabled": True, SKEW_KEYS[0]: threshold, SKEW_KEYS[1]: factor,
            SKEW_KEYS[2]: advisory or threshold}


def skew_join_defaults(spark) -> dict[str, Any]:
    """The skew join on, with Spark's own default thresholds, read from the running session.

    Examples
    --------
    >>> skew_join_defaults(spark)["spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes"]
    '256MB'
    """
    from labkit.core.session import spark_default

    threshold, factor, advisory = (spark_default(spark, k) for k in SKEW_KEYS)
    return skew_join_settings(threshold, float(factor), advisory)


def laptop_skew_threshold(rows: int, partitions: int, bytes_per_row: int = 36) -> str:
    """A ``skewedPartitionThresholdInBytes`` that lets AQE's skew join fire on laptop-sized data.

    Twice the mean join partition, estimated as ``rows * bytes_per_row / partitions``
    (about 36 shuffled bytes per row of ``datagen.transactions``), and at least 16 KB.
    It is a setting chosen for the demonstration, not a measurement.

    Examples
    --------
    >>> laptop_skew_threshold(1_000_000, 32)
    '2197KB'
    """
    positive_int("rows", rows, 0)
    positive_int("partitions", partitions)
    mean = max(1, rows * bytes_per_row // partitions)
    return f"{max(16, 2 * mean // 1024)}KB"


def aqe_profiles(skew_threshold: str = "1MB", skew_factor: float = 2.0,
                 broadcast_threshold: str = "10MB") -> dict[str, dict[str, Any]]:
    """AQE configurations for :func:`labkit.core.session.spark_conf`, one feature at a time.

    Parameters
    ----------
    skew_threshold : str
        ``skewedPartitionThresholdInBytes`` (and the advisory size) when the
        skew join is on; see :func:`laptop_skew_threshold`.
    skew_factor : float
        ``skewedPartitionFactor``.
    broadcast_threshold : str
        ``spark.sql.adaptive.autoBroadcastJoinThreshold`` when the dynamic switch
        to broadcast is on.

    Returns
    -------
    dict
        ``off`` (AQE disabled); ``none`` (AQE on, every feature below off: the
        reference the three single-feature profiles differ from by one
        feature); ``coalesce``; ``skew_join``; ``dynamic_switch``; ``all_on``.

    Examples
    --------
    >>> p = aqe_profiles()
    >>> [k for k in p["coalesce"] if p["coalesce"][k] != p["none"][k]]
    ['spark.sql.adaptive.coalescePartitions.enabled']
    """
    skew = skew_join_settings(skew_threshold, skew_factor)
    none = {**skew, f"{_P}skewJoin.enabled": False, f"{_P}coalescePartitions.enabled": False,
            f"{_P}autoBroadcastJoinThreshold": "-1"}
    features = {
        "coalesce": {f"{_P}coalescePartitions.enabled": True},
        "skew_join": {f"{_P}skewJoin.enabled": True},
        "dynamic_switch": {f"{_P}autoBroadcastJoinThreshold": broadcast_threshold},
    }
    profiles = {"off": {f"{_P}enabled": False}, "none": none}
    profiles.update({name: {**none, **change} for name, change in features.items()})
    profiles["all_on"] = {**none, **{k: v for change in features.values() for k, v in change.items()}}
    return profiles


# Which side of a shuffled join AQE may split, by join type: Spark's OptimizeSkewedJoin.canSplitLeftSide and
# canSplitRightSide (sql/core/.../adaptive/OptimizeSkewedJoin.scala). Splitting the preserved side of an outer
# join is safe; splitting the other side would emit its unmatched rows once per split, so it is never done.
SPLITTABLE_SIDES: dict[str, tuple[str, ...]] = {
    "inner": ("left", "right"), "cross": ("left", "right"), "left": ("left",), "right": ("right",), "full": (),
    "left_semi": ("left",), "left_anti": ("left",)}
JOIN_TYPES = ("inner", "left", "right", "full", "left_semi", "left_anti")
_SIDES = ("skewed side left", "skewed side right")
_FORCE = f"{_P}forceOptimizeSkewedJoin"


def _split_conf(settings: Mapping[str, Any] | None, partitions: int) -> dict[str, Any]:
    """Skew join on (1 KB, factor 2 unless ``settings`` says otherwise), no broadcast, no coalescing."""
    positive_int("partitions", partitions)
    return {**(settings or skew_join_settings("1KB", 2.0)), "spark.sql.autoBroadcastJoinThreshold": -1,
            f"{_P}autoBroadcastJoinThreshold": -1, f"{_P}coalescePartitions.enabled": False,
            "spark.sql.shuffle.partitions": partitions}


def _final_summary(df):
    """The executed plan's summary of a new DataFrame over ``df``: a DataFrame keeps the plan it was first run with."""
    from labkit.core.plans import plan_summary

    summary = plan_summary(df.select("*"))
    if not {"SortMergeJoin", "ShuffledHashJoin"} & set(summary.initial_joins):
        raise ValueError(f"the query has no shuffled join to split (its joins: {summary.initial_joins or 'none'})")
    return summary


def forced_skew_split(spark, df, settings: Mapping[str, Any] | None = None, partitions: int = 16):
    """Whether AQE splits a skewed join, with ``forceOptimizeSkewedJoin`` off (the default) and on.

    AQE splits a skewed partition only if the plan above the join still gets the
    distribution it requires: a split join's output is no longer hash-partitioned
    by the key, so an aggregation or a second join on the same key that relied on
    it would need a new shuffle. Spark then keeps the unsplit plan, unless
    ``spark.sql.adaptive.forceOptimizeSkewedJoin=true``, which splits and adds the
    shuffle (``OptimizeSkewedJoin.apply``: ``ValidateRequirements``, then
    ``EnsureRequirements``).

    Parameters
    ----------
    spark : SparkSession
    df : DataFrame
        A query with a skewed shuffled join, e.g. ``big.join(dim, "k").groupBy("k").count()``.
    settings : mapping, optional
        The skew-join settings (:func:`skew_join_settings`); 1 KB and factor 2 by default, so that
        laptop-sized data can split. Broadcasts and coalescing are turned off for the run.
    partitions : int
        ``spark.sql.shuffle.partitions``.

    Returns
    -------
    pandas.DataFrame
        Indexed by the ``forceOptimizeSkewedJoin`` value (False, True): ``skew split`` (bool, from the
        final plan), ``shuffles`` (Exchange nodes in the final plan); ``attrs["plans"]`` holds the
        :class:`labkit.core.plans.PlanSummary` of each.

    Raises
    ------
    ValueError
        When the query has no sort-merge or shuffled hash join.
    """
    import pandas as pd

    from labkit.core.session import spark_conf

    plans = {}
    for force in (False, True):
        with spark_conf(spark, {**_split_conf(settings, partitions), _FORCE: force}):
            plans[force] = _final_summary(df)
    table = pd.DataFrame({"skew split": [p.skew_split for p in plans.values()],
                          "shuffles": [p.exchanges for p in plans.values()]},
                         index=pd.Index(list(plans), name="forceOptimizeSkewedJoin"))
    table.attrs["plans"] = plans
    return table


def splittable_sides(how: tuple[str, ...] = JOIN_TYPES):
    """Spark's rule for which side of a join AQE may split, as a table shaped like :func:`skew_split_by_join_type`.

    Examples
    --------
    >>> splittable_sides(("left", "full")).values.tolist()  # [skewed side left, skewed side right]
    [[True, False], [False, False]]
    """
    import pandas as pd

    unknown = [h for h in how if h not in SPLITTABLE_SIDES]
    if unknown:
        raise ValueError(f"unknown join type(s) {unknown}; known: {sorted(SPLITTABLE_SIDES)}")
    rows = {h: {_SIDES[0]: "left" in SPLITTABLE_SIDES[h], _SIDES[1]: "right" in SPLITTABLE_SIDES[h]} for h in how}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("join type")


def skew_split_by_join_type(spark, skewed, other, key: str, how: tuple[str, ...] = JOIN_TYPES,
                            settings: Mapping[str, Any] | None = None, partitions: int = 16):
    """Whether AQE split the skewed side, per join type, with the skewed input on the left and on the right.

    Parameters
    ----------
    spark : SparkSession
    skewed, other : DataFrame
        The skewed input and the other one, joined on ``key``.
    key : str
    how : tuple of str
        Join types (:data:`JOIN_TYPES` by default).
    settings : mapping, optional
        Skew-join settings, as in :func:`forced_skew_split`.
    partitions : int

    Returns
    -------
    pandas.DataFrame
        One row per join type, columns ``skewed side left`` / ``skewed side right``: True when the final
        plan shows a skew split. Compare it with :func:`splittable_sides`.
    """
    from labkit.core.session import spark_conf

    table = splittable_sides(how)  # checks the join types before anything runs
    with spark_conf(spark, _split_conf(settings, partitions)):
        for h in how:
            table.loc[h, _SIDES[0]] = _final_summary(skewed.join(other, key, h)).skew_split
            table.loc[h, _SIDES[1]] = _final_summary(other.join(skewed, key, h)).skew_split
    return table


def local_shuffle_reads(plan) -> int:
    """How many ``AQEShuffleRead local`` nodes an executed plan has (a :class:`PlanSummary` or plan text).

    When AQE turns a sort-merge join into a broadcast join, the side that was already shuffled is read
    back by mapper (each task reads one map task's output where it was written) instead of fetched across
    the network by reducer (``spark.sql.adaptive.localShuffleReader.enabled``, true by default). AQE adds
    these reads while re-planning, so only the final plan has them.
    """
    text = plan if isinstance(plan, str) else plan.text
    return text.count("AQEShuffleRead local")


def dynamic_pruning(plan) -> bool:
    """Whether a scan in the plan prunes partitions dynamically (``dynamicpruningexpression`` in PartitionFilters).

    Dynamic partition pruning is an optimizer rule
    (``spark.sql.optimizer.dynamicPartitionPruning.enabled``), not part of AQE: it works with AQE off.

    Parameters
    ----------
    plan : PlanSummary, DataFrame or str
        Anything :func:`labkit.core.plans.plan_summary` reads.
    """
    from labkit.core.plans import PlanSummary, plan_summary

    summary = plan if isinstance(plan, PlanSummary) else plan_summary(plan)
    return any("dynamicpruningexpression" in f for f in summary.partition_filters)


def dynamic_pruning_by_setting(spark, df) -> dict[str, bool]:
    """Whether ``df``'s plan prunes partitions dynamically with AQE off, AQE on, and AQE and DPP both off.

    ``{"AQE off": True, "AQE on": True, "AQE off, DPP off": False}`` is the evidence that dynamic
    partition pruning is not an AQE feature.

    Parameters
    ----------
    spark : SparkSession
    df : DataFrame
        A partitioned table joined on its partition column to a filtered dimension.
    """
    from labkit.core.session import spark_conf

    settings = {"AQE off": {f"{_P}enabled": False}, "AQE on": {f"{_P}enabled": True},
                "AQE off, DPP off": {f"{_P}enabled": False,
                                     "spark.sql.optimizer.dynamicPartitionPruning.enabled": False}}
    found = {}
    for name, conf in settings.items():
        with spark_conf(spark, conf):
            found[name] = dynamic_pruning(df.select("*"))  # a new DataFrame: a planned one keeps its plan
    return found


# --------------------------------------------------------------------------- notebook 04's studies, as functions


def shuffle_stage_stats(table):
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
    import pandas as pd

    from labkit.core.bench import median_run

    tasks, parallel = [], []
    for name in table.index:
        run = median_run(table.attrs["runs"], name)
        if run.shuffle_stage is None:
            raise ValueError(f"variant {name!r} read no shuffle: it has no shuffle stage")
        tasks_ms = run.stage_tasks_ms[run.shuffle_stage]
        tasks.append(len(tasks_ms))
        parallel.append(sum(tasks_ms) / run.stage_wall_ms[run.shuffle_stage])
    return pd.DataFrame({"tasks": tasks, "parallel tasks": parallel}, index=table.index)


def _compare_under(spark, run, variants: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Any],
                   repeats: int, baseline: str | None = None):
    """``compare`` the same ``run`` under each variant's settings, all inside the ``fixed`` settings."""
    from labkit.core.bench import compare
    from labkit.core.session import spark_conf

    with spark_conf(spark, fixed):
        return compare({name: run for name in variants}, repeats=repeats, baseline=baseline, conf=variants)


def coalesce_comparison(spark, run, profiles: Mapping[str, Mapping[str, Any]] | None = None, partitions: int = 200,
                        manual_partitions: int = 50, repeats: int = 3):
    """One shuffling query: AQE off, off with fewer partitions set by hand, coalescing, ``parallelismFirst=false``.

    Parameters
    ----------
    spark : SparkSession
    run : callable
        Runs the query once, planning it afresh (``labkit.core.measure.noop(df)``).
    profiles : mapping, optional
        :func:`aqe_profiles` (its ``off`` and ``coalesce``); the default profiles when omitted.
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
    p = profiles or aqe_profiles()
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


def skew_join_variants(spark, profiles: Mapping[str, Mapping[str, Any]], threshold: str) -> dict[str, dict[str, Any]]:
    """AQE on in all three, differing only in the skew join: off, on with Spark's defaults, on with ``threshold``.

    Parameters
    ----------
    spark : SparkSession
        Spark's default thresholds are read from it (:func:`skew_join_defaults`).
    profiles : mapping
        :func:`aqe_profiles` built with ``skew_threshold=threshold`` (its ``none`` and ``skew_join``).
    threshold : str
        Only names the lowered variant: ``skew join, threshold <threshold>``.

    Returns
    -------
    dict
        ``AQE on, skew join off``, ``skew join, Spark defaults``, ``skew join, threshold <threshold>``.
    """
    return {"AQE on, skew join off": profiles["none"],
            "skew join, Spark defaults": {**profiles["none"], **skew_join_defaults(spark)},
            f"skew join, threshold {threshold}": profiles["skew_join"]}


def skew_splits(spark, df, settings: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
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
    from labkit.core.plans import plan_summary
    from labkit.core.session import spark_conf

    found = {}
    for name, conf in settings.items():
        with spark_conf(spark, conf):
            found[name] = plan_summary(df.select("*")).skew_split  # a planned DataFrame keeps its plan
    return found


def dynamic_switch_plans(spark, df, threshold: int, profiles: Mapping[str, Mapping[str, Any]] | None = None):
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
        :func:`aqe_profiles` (its ``dynamic_switch`` and ``none``).

    Returns
    -------
    tuple of PlanSummary
        ``(switched, kept, remote)``: switch on; switch off (profile ``none``); switch on with
        ``localShuffleReader.enabled=false``.
    """
    from labkit.core.plans import plan_summary
    from labkit.core.session import spark_conf

    positive_int("threshold", threshold)
    p = profiles or aqe_profiles()
    static = {"spark.sql.autoBroadcastJoinThreshold": str(threshold)}
    switch = {**p["dynamic_switch"], **static, f"{_P}autoBroadcastJoinThreshold": str(threshold)}
    plans = []
    for conf in (switch, {**p["none"], **static}, {**switch, f"{_P}localShuffleReader.enabled": False}):
        with spark_conf(spark, conf):
            plans.append(plan_summary(df.select("*")))  # a new DataFrame: a planned one keeps its plan
    return tuple(plans)


def salting_comparison(spark, run_join, run_salted, profiles: Mapping[str, Mapping[str, Any]],
                       fixed: Mapping[str, Any], salt: int = 8, repeats: int = 3):
    """A skewed join three ways: plain (AQE on, skew join off), AQE's skew join, and salted (skew join off).

    Parameters
    ----------
    spark : SparkSession
    run_join, run_salted : callable
        Run the plain join and the salted one (``labkit.topics.skew.salted_join``) once each.
    profiles : mapping
        :func:`aqe_profiles` (its ``none`` and ``skew_join``).
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
    from labkit.core.bench import compare
    from labkit.core.session import spark_conf

    salted = f"salted {salt}, AQE on, skew join off"
    runs = {"plain, AQE on, skew join off": run_join, "AQE skew join": run_join, salted: run_salted}
    conf = {"plain, AQE on, skew join off": profiles["none"], "AQE skew join": profiles["skew_join"],
            salted: profiles["none"]}
    with spark_conf(spark, fixed):
        return compare(runs, repeats=repeats, conf=conf)


def profile_comparison(spark, run, profiles: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Any],
                       manual_partitions: int = 400, repeats: int = 3):
    """One workload under every AQE profile and under AQE off with ``manual_partitions`` set by hand.

    Parameters
    ----------
    spark : SparkSession
    run : callable
        Runs the workload once, planning it afresh.
    profiles : mapping
        :func:`aqe_profiles`; it must hold ``off``, the baseline.
    fixed : mapping
        Settings for every variant (the configured shuffle partitions, broadcasts off, ...).
    manual_partitions : int
        ``spark.sql.shuffle.partitions`` of the extra variant ``off, <n> partitions``.
    repeats : int

    Returns
    -------
    pandas.DataFrame
        The ``compare`` table against ``off``: one row per profile, then ``off, <n> partitions``.
    """
    positive_int("manual_partitions", manual_partitions)
    variants = {**profiles, f"off, {manual_partitions} partitions": {
        **profiles["off"], "spark.sql.shuffle.partitions": manual_partitions}}
    return _compare_under(spark, run, variants, fixed, repeats, "off")


def partition_pruning_query(spark, facts, path: str, quarter: str = "Q1"):
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
