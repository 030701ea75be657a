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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core import runtime
from labkit.core.args import positive_int
from labkit.core.plans import PlanSummary, plan_summary
from labkit.core.session import spark_conf, spark_default
from labkit.core.units import format_bytes, parse_bytes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["FEATURES", "JOIN_TYPES", "SKEW_KEYS", "SKEW_REASONS", "SPLITTABLE_SIDES", "SkewVerdict",
           "aqe_profiles", "dynamic_pruning", "explain_skew_split", "forced_skew_split", "laptop_skew_threshold",
           "local_shuffle_reads", "skew_join_defaults", "skew_join_settings", "skew_split_plan", "splittable_sides"]

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


# --------------------------------------------------------------------------- why AQE did (not) split a skewed join

_JOIN_TYPE = {"Inner": "inner", "Cross": "cross", "LeftOuter": "left", "RightOuter": "right", "FullOuter": "full",
              "LeftSemi": "left_semi", "LeftAnti": "left_anti"}
SKEW_REASONS = ("split", "aqe_off", "skew_join_off", "no_shuffled_join", "side_not_splittable", "under_threshold",
                "under_factor", "under_target_size", "one_map_task", "extra_shuffle", "unexplained")


@dataclass(frozen=True)
class SkewVerdict:
    """Whether AQE split a skewed join, and the first of its conditions that stopped it (:func:`explain_skew_split`)."""

    split: bool
    reason: str  # one of SKEW_REASONS
    detail: str  # one sentence, with the sizes and settings it compared
    sides: pd.DataFrame  # per shuffled input of the join: the sizes AQE's rule read


_SIZE_COLUMNS = ("side", "splittable", "map_tasks", "partitions", "max_bytes", "median_bytes", "skewed_partitions",
                 "skew_above_bytes", "target_bytes")


def _walk(node: Any, found: list[Any]) -> None:
    """Append the join's shuffle stages and shuffled joins of a final adaptive plan, left to right."""
    name = node.getClass().getSimpleName()
    if name in ("SortMergeJoinExec", "ShuffledHashJoinExec", "ShuffleQueryStageExec", "BroadcastHashJoinExec"):
        found.append(node)
    if name == "ShuffleQueryStageExec":
        return
    if name.endswith("QueryStageExec"):
        _walk(node.plan(), found)
        return
    children = node.children()
    for i in range(children.length()):
        _walk(children.apply(i), found)


def _stage_sizes(stage: Any, side: str, splittable: bool, threshold: int, factor: float, advisory: int) -> dict:
    """One shuffle stage's partition sizes as ``OptimizeSkewedJoin`` reads them (median, threshold, target)."""
    stats = stage.mapStats()
    sizes = sorted(int(b) for b in stats.get().bytesByPartitionId()) if stats.isDefined() else [0]
    n = len(sizes)
    median = max((sizes[n // 2] + sizes[n // 2 - 1]) // 2 if n % 2 == 0 else sizes[n // 2], 1)  # Utils.median
    skew_at = max(threshold, int(median * factor))
    normal = [s for s in sizes if s <= skew_at]
    return {"side": side, "splittable": splittable, "map_tasks": int(stage.shuffle().numMappers()), "partitions": n,
            "max_bytes": sizes[-1], "median_bytes": median, "skewed_partitions": n - len(normal),
            "skew_above_bytes": skew_at, "target_bytes": max(advisory, sum(normal) // len(normal) if normal else 0)}


def explain_skew_split(df: DataFrame) -> SkewVerdict:
    """Run a query with a shuffled join and say whether AQE split a skewed partition, and if not, why not.

    Mirrors ``OptimizeSkewedJoin`` (Spark 4) on the numbers it reads: each shuffled input's partition
    sizes (``MapOutputStatistics``, read from the final plan's shuffle stages), the session's
    ``skewJoin.skewedPartitionThresholdInBytes`` (256 MB by default), ``skewedPartitionFactor`` (5) and
    ``advisoryPartitionSizeInBytes`` (64 MB). The first condition that fails is the reason:

    * ``aqe_off`` / ``skew_join_off``: ``spark.sql.adaptive.enabled`` or ``skewJoin.enabled`` is false;
    * ``no_shuffled_join``: no sort-merge or shuffled hash join (a broadcast join shuffles neither side; an
      aggregation is never split);
    * ``side_not_splittable``: only a side the join type keeps whole is skewed (a left join's right side,
      either side of a full join);
    * ``under_threshold``: the largest partition is not above ``skewedPartitionThresholdInBytes``;
    * ``under_factor``: it is, but not above ``skewedPartitionFactor`` x the median partition;
    * ``one_map_task``: AQE splits a partition by ranges of the map tasks that wrote it; one wrote it all;
    * ``under_target_size``: pieces must be at least ``max(advisoryPartitionSizeInBytes, mean of the
      other partitions)``, and the skewed partition is not two of them;
    * ``extra_shuffle``: the split would change the join's output partitioning that a later operator
      relies on, so Spark kept the plan; with ``forceOptimizeSkewedJoin`` it splits (checked by running
      the query again with it on).

    Parameters
    ----------
    df : DataFrame
        The query (it is run, planned afresh, without collecting rows). One shuffled join is read: the
        first from the top, as Spark's rule does.

    Returns
    -------
    SkewVerdict
        ``split``, ``reason`` (one of :data:`SKEW_REASONS`), ``detail`` (the numbers compared) and
        ``sides`` (one row per shuffled input: map tasks, partitions, largest and median bytes, how many
        are skewed, the skew bound and the target piece size).

    Raises
    ------
    labkit.core.runtime.ConnectUnsupported
        On Spark Connect: the shuffle statistics live in the server's JVM.
    """
    spark = df.sparkSession
    runtime.require_classic(spark, "reading AQE's shuffle statistics (explain_skew_split)")
    empty = pd.DataFrame(columns=list(_SIZE_COLUMNS))
    for key, name in (("enabled", "spark.sql.adaptive.enabled"), ("skewJoin.enabled", "skewJoin.enabled")):
        if spark.conf.get(f"{_P}{key}") != "true":
            reason = "aqe_off" if key == "enabled" else "skew_join_off"
            return SkewVerdict(False, reason, f"{name} is false: no skewed partition is split", empty)
    query = df.select("*")  # planned afresh under the session's settings, run once, read twice
    split = plan_summary(query).skew_split  # runs the query to its final plan
    how, stages, broadcast = _final_join(query)
    if how is None:
        what = "a broadcast join (neither side is shuffled)" if broadcast else "no join"
        return SkewVerdict(False, "no_shuffled_join", f"the final plan has no shuffled join: {what}", empty)
    threshold = parse_bytes(spark.conf.get(SKEW_KEYS[0]))
    factor, advisory = float(spark.conf.get(SKEW_KEYS[1])), parse_bytes(spark.conf.get(SKEW_KEYS[2]))
    sides = pd.DataFrame([_stage_sizes(s, side, side in SPLITTABLE_SIDES.get(how, ()), threshold, factor, advisory)
                          for s, side in zip(stages, ("left", "right"), strict=False)], columns=list(_SIZE_COLUMNS))
    if split:
        hit = sides[sides["skewed_partitions"] > 0]
        return SkewVerdict(True, "split", f"{how} join: AQE split {int(hit['skewed_partitions'].sum())} skewed "
                           f"partition(s) of its {' and '.join(hit['side'])} side", sides)
    return _why_not(df, how, sides, threshold, factor, advisory)


def _final_join(df: DataFrame) -> tuple[str | None, list[Any], bool]:
    """The first shuffled join of the final plan from the top: its join type, its shuffle stages (left, right),
    and whether the plan holds a broadcast hash join; (None, [], broadcast) when there is no shuffled join."""
    qe = df._jdf.queryExecution()
    if "isFinalPlan=false" in qe.executedPlan().toString():
        qe.toRdd().count()
    found: list[Any] = []
    _walk(qe.executedPlan().executedPlan(), found)
    names = [n.getClass().getSimpleName() for n in found]
    broadcast = "BroadcastHashJoinExec" in names
    joins = [i for i, n in enumerate(names) if n in ("SortMergeJoinExec", "ShuffledHashJoinExec")]
    if not joins:
        return None, [], broadcast
    kind = found[joins[0]].joinType().toString()
    stages = [n for n, name in zip(found[joins[0] + 1:], names[joins[0] + 1:], strict=True)
              if name == "ShuffleQueryStageExec"][:2]
    return _JOIN_TYPE.get(kind, kind), stages, broadcast


def _why_not(df: DataFrame, how: str, sides: pd.DataFrame, threshold: int, factor: float, advisory: int
             ) -> SkewVerdict:
    """The first of ``OptimizeSkewedJoin``'s conditions that kept an unsplit join whole."""
    b = format_bytes
    skewed, ok = sides[sides["skewed_partitions"] > 0], sides[sides["splittable"]]
    if len(skewed) and not skewed["splittable"].any():
        return SkewVerdict(False, "side_not_splittable", f"{how} join: only its {' and '.join(skewed['side'])} side "
                           f"is skewed, and a {how} join keeps that side whole", sides)
    if not len(skewed):
        top = (ok if len(ok) else sides).sort_values("max_bytes").iloc[-1]
        largest = f"the largest partition ({b(top['max_bytes'])}, {top['side']} side)"
        if top["max_bytes"] <= threshold:
            return SkewVerdict(False, "under_threshold", f"{largest} is not above skewedPartitionThresholdInBytes "
                               f"({b(threshold)})", sides)
        return SkewVerdict(False, "under_factor", f"{largest} is not above skewedPartitionFactor {factor:g} x the "
                           f"median ({b(top['median_bytes'])})", sides)
    top = skewed[skewed["splittable"]].sort_values("max_bytes").iloc[-1]
    partition = f"the skewed partition ({b(top['max_bytes'])}, {top['side']} side)"
    if top["map_tasks"] == 1:
        return SkewVerdict(False, "one_map_task", f"{partition} was written by one map task: AQE splits by ranges "
                           "of map tasks, so it cannot be cut", sides)
    if top["max_bytes"] <= top["target_bytes"]:
        return SkewVerdict(False, "under_target_size", f"{partition} is not larger than one piece of the target size,"
                           f" max(advisoryPartitionSizeInBytes {b(advisory)}, mean of the others) = "
                           f"{b(top['target_bytes'])}", sides)
    spark = df.sparkSession
    with spark_conf(spark, {_FORCE: True}):
        forced = plan_summary(df.select("*")).skew_split
    if forced and spark.conf.get(_FORCE) != "true":
        return SkewVerdict(False, "extra_shuffle", "splitting would break the output partitioning an operator above "
                           "the join relies on (an extra shuffle): with forceOptimizeSkewedJoin=true it splits", sides)
    return SkewVerdict(False, "unexplained", f"{partition} is splittable, but its {top['map_tasks']} map tasks' "
                       f"outputs were not cut into pieces of {b(top['target_bytes'])}", sides)
