"""What notebook 03 measures: broadcast, sort-merge and shuffle-hash joins timed as the small side grows.

Built on :func:`labkit.topics.joins.join_with_strategy`; each size's strategies are compared interleaved through
:func:`labkit.core.bench.compare`, and :func:`crossover_size` reads where broadcast stops beating sort-merge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import positive_int
from labkit.core.bench import compare
from labkit.core.measure import noop
from labkit.core.plans import estimated_size_bytes, plan_summary, plan_text
from labkit.core.session import spark_conf
from labkit.topics.joins import join_with_strategy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["STRATEGIES", "broadcast_crossover", "crossover_size"]


STRATEGIES = ("merge", "broadcast", "shuffle_hash")


def broadcast_crossover(spark: SparkSession, large: DataFrame, key: str, sizes: Sequence[int], repeats: int = 3,
                        warmup: int | None = None, payload_chars: int = 40, progress: bool = True,
                        strategies: Sequence[str] = STRATEGIES) -> pd.DataFrame:
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
    strategies : sequence of str
        The strategies timed at each size; ``merge`` (the baseline) and ``broadcast`` (what
        :func:`crossover_size` reads) must be among them.

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
    if not {"merge", "broadcast"} <= set(strategies) or not set(strategies) <= set(STRATEGIES):
        raise ValueError(f"strategies must include merge and broadcast, out of {STRATEGIES}: got {list(strategies)}")
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
            variants = {s: _left_join_run(large, small, key, s) for s in strategies}
            table = compare(variants, repeats=repeats, warmup=warmup, baseline="merge", spark=spark,
                            progress=progress)
        runs = {m.label: m for m in table.attrs["runs"]}
        table = table.reset_index().rename(columns={"variant": "strategy"})
        table["rows"], table["estimated_bytes"], table["auto_broadcast"] = n, estimated, auto
        table["broadcast_bytes"] = [runs[s].broadcast_bytes if s == "broadcast" else 0 for s in table["strategy"]]
        frames.append(table)
        small.unpersist()
    return pd.concat(frames, ignore_index=True)


def _left_join_run(large: DataFrame, small: DataFrame, key: str, strategy: str) -> Callable[[], None]:
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
