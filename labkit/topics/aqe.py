"""Adaptive Query Execution: the one home of the lab's AQE settings and thresholds, and what a plan shows of them.

Named configurations that differ in one feature each, the skew-join settings
that let AQE split a partition at laptop scale, and Spark's own defaults for
them, read from the running session rather than typed in; whether AQE splits a
skewed join (and which side it may split), whether a plan reads a shuffle
locally or prunes partitions dynamically. Notebook 04's measured comparisons
live in :mod:`labkit.experiments.aqe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import positive_int
from labkit.core.plans import PlanSummary, plan_summary
from labkit.core.session import spark_conf, spark_default

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["FEATURES", "JOIN_TYPES", "SKEW_KEYS", "SPLITTABLE_SIDES", "aqe_profiles", "dynamic_pruning",
           "forced_skew_split", "laptop_skew_threshold", "local_shuffle_reads", "skew_join_defaults",
           "skew_join_settings", "skew_split_plan", "splittable_sides"]

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


def skew_join_defaults(spark: SparkSession) -> dict[str, Any]:
    """The skew join on, with Spark's own default thresholds, read from the running session.

    Examples
    --------
    >>> skew_join_defaults(spark)["spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes"]
    '256MB'
    """
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


def skew_split_plan(spark: SparkSession, df: DataFrame, settings: Mapping[str, Any] | None = None,
                    partitions: int = 16, force: bool = False) -> PlanSummary:
    """The final plan of a query with a skewed shuffled join, run with AQE's skew join on: did AQE split it?

    Broadcasts and coalescing are off for the run, so the join stays shuffled and its partitions as
    configured. The query is planned afresh (a new DataFrame over ``df``): a DataFrame keeps the plan it
    was first run with.

    Parameters
    ----------
    spark : SparkSession
    df : DataFrame
        A query with a sort-merge or shuffled hash join.
    settings : mapping, optional
        The skew-join settings (:func:`skew_join_settings`); 1 KB and factor 2 by default, so that
        laptop-sized data can split.
    partitions : int
        ``spark.sql.shuffle.partitions``.
    force : bool
        ``spark.sql.adaptive.forceOptimizeSkewedJoin`` (see :func:`forced_skew_split`).

    Returns
    -------
    labkit.core.plans.PlanSummary
        ``skew_split`` tells whether AQE split a partition; ``exchanges`` counts the shuffles.

    Raises
    ------
    ValueError
        When the query has no sort-merge or shuffled hash join.
    """
    with spark_conf(spark, {**_split_conf(settings, partitions), _FORCE: force}):
        summary = plan_summary(df.select("*"))
    if not {"SortMergeJoin", "ShuffledHashJoin"} & set(summary.initial_joins):
        raise ValueError(f"the query has no shuffled join to split (its joins: {summary.initial_joins or 'none'})")
    return summary


def forced_skew_split(spark: SparkSession, df: DataFrame, settings: Mapping[str, Any] | None = None,
                      partitions: int = 16) -> pd.DataFrame:
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
    plans = {force: skew_split_plan(spark, df, settings, partitions, force) for force in (False, True)}
    table = pd.DataFrame({"skew split": [p.skew_split for p in plans.values()],
                          "shuffles": [p.exchanges for p in plans.values()]},
                         index=pd.Index(list(plans), name="forceOptimizeSkewedJoin"))
    table.attrs["plans"] = plans
    return table


def splittable_sides(how: tuple[str, ...] = JOIN_TYPES) -> pd.DataFrame:
    """Spark's rule for which side of a join AQE may split, one row per join type.

    Columns ``skewed side left`` and ``skewed side right``: True where a skewed input on that side may be
    split (:data:`SPLITTABLE_SIDES`). :func:`labkit.experiments.aqe.skew_split_by_join_type` measures the same
    table from final plans.

    Raises
    ------
    ValueError
        For an unknown join type.

    Examples
    --------
    >>> splittable_sides(("left", "full")).values.tolist()  # [skewed side left, skewed side right]
    [[True, False], [False, False]]
    """
    unknown = [h for h in how if h not in SPLITTABLE_SIDES]
    if unknown:
        raise ValueError(f"unknown join type(s) {unknown}; known: {sorted(SPLITTABLE_SIDES)}")
    rows = {h: {_SIDES[0]: "left" in SPLITTABLE_SIDES[h], _SIDES[1]: "right" in SPLITTABLE_SIDES[h]} for h in how}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("join type")


def local_shuffle_reads(plan: PlanSummary | str) -> int:
    """How many ``AQEShuffleRead local`` nodes an executed plan has (a :class:`PlanSummary` or plan text).

    When AQE turns a sort-merge join into a broadcast join, the side that was already shuffled is read
    back by mapper (each task reads one map task's output where it was written) instead of fetched across
    the network by reducer (``spark.sql.adaptive.localShuffleReader.enabled``, true by default). AQE adds
    these reads while re-planning, so only the final plan has them.
    """
    text = plan if isinstance(plan, str) else plan.text
    return text.count("AQEShuffleRead local")


def dynamic_pruning(plan: PlanSummary | DataFrame | str) -> bool:
    """Whether a scan in the plan prunes partitions dynamically (``dynamicpruningexpression`` in PartitionFilters).

    Dynamic partition pruning is an optimizer rule
    (``spark.sql.optimizer.dynamicPartitionPruning.enabled``), not part of AQE: it works with AQE off.

    Parameters
    ----------
    plan : PlanSummary, DataFrame or str
        Anything :func:`labkit.core.plans.plan_summary` reads.
    """
    summary = plan if isinstance(plan, PlanSummary) else plan_summary(plan)
    return any("dynamicpruningexpression" in f for f in summary.partition_filters)
