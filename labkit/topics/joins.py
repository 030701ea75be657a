"""Join strategies: ask for one with a hint, check from the plan that Spark used it, read the broadcast threshold.

Where broadcast stops paying is measured in :mod:`labkit.experiments.joins`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from labkit.core.args import byte_string, join_type, require_columns
from labkit.core.plans import plan_summary, plan_text

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["STRATEGIES", "StrategyNotHonouredError", "broadcast_threshold_bytes", "join_with_strategy"]

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


def join_with_strategy(left: DataFrame, right: DataFrame, on: str | Sequence[str], strategy: str,
                       how: str = "inner", hint_side: str = "right") -> DataFrame:
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


def broadcast_threshold_bytes(spark: SparkSession) -> int:
    """The session's ``spark.sql.autoBroadcastJoinThreshold`` in bytes, as Spark parses it (-1: off).

    Examples
    --------
    >>> broadcast_threshold_bytes(spark) == 10 * 2**20  # Spark's default, unless the session changed it
    True
    """
    text = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    return byte_string(text)
