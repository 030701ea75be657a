"""Join strategies: ask for one with a hint, check Spark used it, and find where broadcast stops paying."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from labkit.core.args import byte_string, join_type, positive_int, require_columns
from labkit.core.bench import compare
from labkit.core.measure import noop
from labkit.core.plans import estimated_size_bytes, plan_summary, plan_text
from labkit.core.session import spark_conf

__all__ = ["STRATEGIES", "StrategyNotHonouredError", "broadcast_crossover", "broadcast_threshold_bytes",
           "crossover_size", "join_with_strategy"]

# strategy -> (hint, physical node)
STRATEGIES = {
    "broadcast": ("broadcast", "BroadcastHashJoin"),
    "merge": ("merge", "SortMergeJoin"),
    "shuffle_hash": ("shuffle_hash", "ShuffledHashJoin"),
    "shuffle_replicate_nl": ("shuffle_replicate_nl", "CartesianProduct"),
}
# which side a broadcast hash join can build (broadcast), by join type
_BROADCASTABLE = {"inner": {"left", "right"}, "left_outer": {"right"}, "right_outer": {"left"},
                  "left_semi": {"right"}, "left_anti": {"right"}, "full_outer": set()}
_WHY = {
    "left_outer": "a left outer join must emit every left row, matched or not, so the left side has to be streamed "
                  "through the tasks; only the right side can be broadcast",
    "right_outer": "a right outer join must emit every right row, so only the left side can be broadcast",
    "left_semi": "a semi join tests each left row against the right side, so only the right side can be broadcast",
    "left_anti": "an anti join tests each left row against the right side, so only the right side can be broadcast",
    "full_outer": "a full outer join must emit the unmatched rows of both sides, and no single task sees all of a "
                  "broadcast side's matches, so Spark never broadcasts either side",
}


class StrategyNotHonouredError(ValueError):
    """Spark planned a different join strategy than the one requested."""


def _strategy(name: str) -> tuple[str, str]:
    """The hint and plan node of a strategy name, or a clear error."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown join strategy {name!r}; choose one of {', '.join(STRATEGIES)}") from None


def _build_sides(plan: str) -> list[str]:
    """BuildLeft / BuildRight of the hash joins in a plan tree."""
    return [m.group(1).lower() for m in re.finditer(r"Build(Left|Right)", plan)]


def join_with_strategy(left, right, on: str | Sequence[str], strategy: str, how: str = "inner",
                       hint_side: str = "right"):
    """Join with a strategy hint, and check from the physical plan that Spark used it.

    Parameters
    ----------
    left, right : pyspark.sql.DataFrame
    on : str or list of str
        Equi-join key column(s).
    strategy : {"broadcast", "merge", "shuffle_hash", "shuffle_replicate_nl"}
        The join hint. ``broadcast`` and ``shuffle_hash`` build ``hint_side``.
    how : str
        Join type (inner, left, right, full, left_semi, left_anti).
    hint_side : {"right", "left"}
        The side that carries the hint (the build side).

    Returns
    -------
    pyspark.sql.DataFrame
        The joined frame (not yet run).

    Raises
    ------
    ValueError
        For an unknown strategy, join type or side, and for a broadcast Spark
        can never do (e.g. the left side of a left outer join), with the reason.
    StrategyNotHonouredError
        When the planned join is not the requested one (Spark ignored the hint).

    Examples
    --------
    >>> big = spark.range(1000).withColumnRenamed("id", "k")
    >>> small = spark.range(10).withColumnRenamed("id", "k")
    >>> join_with_strategy(big, small, "k", "merge").count()
    10
    """
    hint, node = _strategy(strategy)
    kind = join_type(how)
    if kind == "cross":
        raise ValueError("join_with_strategy needs an equi-join; a cross join has no key")
    if hint_side not in ("left", "right"):
        raise ValueError(f"hint_side must be 'left' or 'right', got {hint_side!r}")
    if strategy == "broadcast" and hint_side not in _BROADCASTABLE[kind]:
        raise ValueError(f"cannot broadcast the {hint_side} side of a {kind.replace('_', ' ')} join: {_WHY[kind]}.")
    keys = require_columns(left, on, "join key of the left side")
    require_columns(right, keys, "join key of the right side")
    joined = (left.hint(hint).join(right, keys, kind) if hint_side == "left"
              else left.join(right.hint(hint), keys, kind))
    plan = plan_text(joined, final=False)
    used = plan_summary(plan).joins
    builds = _build_sides(plan)
    built_ok = strategy not in ("broadcast", "shuffle_hash") or hint_side in builds
    if node not in used or not built_ok:
        raise StrategyNotHonouredError(
            f"Spark did not honour the {strategy} hint on the {hint_side} side of this {kind.replace('_', ' ')} "
            f"join: it planned {used or 'no join'} building {builds or 'nothing'}. "
            + (_WHY.get(kind, "") + "." if strategy == "broadcast" else
               "Spark ignores a hint it cannot apply to this join type and logs a warning."))
    return joined


def broadcast_crossover(spark, large, key: str, sizes: Sequence[int], repeats: int = 3, warmup: int = 1,
                        payload_chars: int = 40, progress: bool = True) -> pd.DataFrame:
    """Time broadcast, sort-merge and shuffle-hash joins as the small side grows.

    Parameters
    ----------
    spark : SparkSession
    large : pyspark.sql.DataFrame
        The large side, with an integer key column ``key`` (1-based ids).
    key : str
    sizes : sequence of int
        Small-side row counts, e.g. ``[10**3, 10**4, 10**5, 10**6]``.
    repeats, warmup : int
        As in :func:`labkit.core.bench.compare` (interleaved per size).
    payload_chars : int
        Width of the small side's string column (bytes per row grow with it).
    progress : bool

    Returns
    -------
    pandas.DataFrame
        One row per (size, strategy): ``rows``, ``strategy``, ``median_s``,
        ``min_s``, ``max_s``, ``speedup`` (sort-merge median / strategy median),
        ``estimated_bytes`` (Spark's estimate of the small side),
        ``broadcast_bytes`` (the hashed relation actually built, for broadcast),
        and ``auto_broadcast`` (whether Spark would broadcast it by itself at
        the session's ``autoBroadcastJoinThreshold``).

    Notes
    -----
    A left join keeps every large row whatever the small side's size, so the
    output does not change with ``sizes``; only the small side does. Automatic
    broadcasting (static and AQE) is off during the runs so that each hint is
    the only thing choosing the strategy.
    """
    from pyspark.sql import functions as F

    if not sizes:
        raise ValueError("sizes must name at least one small-side row count")
    for n in sizes:
        positive_int("sizes[i]", n)
    frames = []
    for n in sizes:
        small = spark.range(1, n + 1).select(
            F.col("id").alias(key), F.rpad(F.concat(F.lit("name-"), F.col("id").cast("string")), payload_chars,
                                           "x").alias("name"), (F.col("id") * 0.5).alias("score")).cache()
        small.count()
        auto = "BroadcastHashJoin" in plan_summary(plan_text(large.join(small, key, "left"), final=False)).joins
        estimated = estimated_size_bytes(small)
        off = {"spark.sql.autoBroadcastJoinThreshold": -1, "spark.sql.adaptive.autoBroadcastJoinThreshold": -1}
        with spark_conf(spark, off):
            variants = {s: _left_join_run(large, small, key, s) for s in ("merge", "broadcast", "shuffle_hash")}
            table = compare(variants, repeats=repeats, warmup=warmup, baseline="merge", spark=spark,
                            progress=progress)
        runs = {m.label: m for m in table.attrs["runs"]}
        table = table.reset_index().rename(columns={"variant": "strategy"})
        table["rows"], table["estimated_bytes"], table["auto_broadcast"] = n, estimated, auto
        table["broadcast_bytes"] = [runs[s].broadcast_bytes if s == "broadcast" else 0 for s in table["strategy"]]
        frames.append(table)
        small.unpersist()
    return pd.concat(frames, ignore_index=True)


def _left_join_run(large, small, key: str, strategy: str):
    """A callable that runs one hinted left join into the no-op sink."""
    return noop(join_with_strategy(large, small, key, strategy, "left"))


def crossover_size(table: pd.DataFrame, size_column: str = "estimated_bytes") -> dict[str, Any]:
    """Where broadcast stops beating sort-merge in a :func:`broadcast_crossover` table.

    Parameters
    ----------
    table : pandas.DataFrame
    size_column : str
        ``estimated_bytes`` or ``rows``.

    Returns
    -------
    dict
        ``size``: the interpolated size (log scale) where the broadcast speedup
        crosses 1; ``bounded``: False when broadcast was still faster at the
        largest size tried (``size`` is then that size, a lower bound) or
        slower already at the smallest (``size`` is then that size, an upper bound).
    """
    b = table[table["strategy"] == "broadcast"].sort_values(size_column)
    sizes, speed = b[size_column].to_numpy(dtype=float), b["speedup"].to_numpy(dtype=float)
    if speed[0] <= 1:
        return {"size": float(sizes[0]), "bounded": False, "note": "broadcast slower already at the smallest size"}
    for i in range(1, len(sizes)):
        if speed[i] <= 1 < speed[i - 1]:
            a, c = math.log(sizes[i - 1]), math.log(sizes[i])
            frac = (speed[i - 1] - 1) / (speed[i - 1] - speed[i])
            return {"size": float(math.exp(a + frac * (c - a))), "bounded": True, "note": "interpolated"}
    return {"size": float(sizes[-1]), "bounded": False, "note": "broadcast still faster at the largest size tried"}


def broadcast_threshold_bytes(spark) -> int:
    """The session's ``spark.sql.autoBroadcastJoinThreshold`` in bytes, as Spark parses it (-1: off).

    Examples
    --------
    >>> broadcast_threshold_bytes(spark) == 10 * 2**20  # Spark's default, unless the session changed it
    True
    """
    text = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    return byte_string(text)
