"""Top row per group (the guide's "max annual CTC per department"), eight ways, with stated tie semantics.

Every method answers the same question — the row or rows with the largest
``order`` value in each group — and says what it does with ties:

=====================  ============  =================================================================
method                 ties          how
=====================  ============  =================================================================
``row_number``         one           ``row_number() = 1`` over (group, order desc, tiebreak asc)
``rank``               all           ``rank() = 1``
``dense_rank``         all           ``dense_rank() = 1``
``first_value``        all           rows whose order equals ``first_value(order)`` of the window
``groupby_join``       all           ``max(order)`` per group, joined back on (group, order)
``correlated_subquery``  all         SQL ``WHERE order = (SELECT max(order) ... WHERE same group)``
``max_by``             one           ``max_by(struct(row), struct(order, -tiebreak))``: one aggregation
``max_struct``         one           ``max(struct(order, -tiebreak, row))``: one aggregation, no window sort
=====================  ============  =================================================================

Semantics shared by every method, so that methods with the same tie semantics
return the same rows:

* a row whose ``order`` is null never wins; a group with no non-null ``order``
  has no top row (``ORDER BY ... DESC`` puts nulls last in Spark, so a plain
  ``row_number`` would return a null row for such a group, while ``max`` ignores
  nulls: the guide's methods disagree on it);
* a null ``group`` is a group of its own, as in ``GROUP BY`` and ``PARTITION BY`` (the join and the subquery
  compare groups null-safely with ``<=>``; a plain ``=`` would drop that group's rows: found by checking
  every method against DuckDB);
* ``ties="one"`` keeps the tied row with the smallest ``tiebreak`` (a stated
  column, numeric for the aggregation methods), never an arbitrary one;
* ``ties="all"`` keeps every tied row. A one-row method asked for all ties
  raises; an all-ties method asked for one reduces its tied rows by ``tiebreak``.

:func:`top_k` is the top-k query Spark (3.5+) limits per group, and :func:`group_limit_plan` says whether it does.
The guide's SQL run as written, the methods timed and the group limit measured are in
:mod:`labkit.experiments.windows`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labkit.core.args import positive_int, require_columns
from labkit.core.plans import plan_text
from labkit.core.session import spark_conf

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["LIMIT_THRESHOLD", "METHODS", "RANK_LIKE", "GroupLimitPlan", "group_limit_nodes", "group_limit_plan",
           "top_k", "top_per_group"]

RANK_LIKE = ("row_number", "rank", "dense_rank")  # the functions Spark's InferWindowGroupLimit rule limits
LIMIT_THRESHOLD = "spark.sql.optimizer.windowGroupLimitThreshold"  # largest k that gets a limit; -1 turns it off
METHODS = {"row_number": "one", "rank": "all", "dense_rank": "all", "first_value": "all", "groupby_join": "all",
           "correlated_subquery": "all", "max_by": "one", "max_struct": "one"}


def _window_top(df: DataFrame, group: str, order: str, method: str) -> DataFrame:
    """Rows ranked first in their group by a window function."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(group).orderBy(F.col(order).desc())
    if method == "first_value":
        return df.withColumn("_top", F.first(order).over(w)).where(F.col(order) == F.col("_top")).drop("_top")
    fn = {"rank": F.rank, "dense_rank": F.dense_rank}[method]
    return df.withColumn("_r", fn().over(w)).where("_r = 1").drop("_r")


def _aggregate_top(df: DataFrame, group: str, order: str, tiebreak: str, method: str) -> DataFrame:
    """One row per group from a single aggregation (no window sort)."""
    from pyspark.sql import functions as F

    rest = [c for c in df.columns if c != group]
    key = F.struct(F.col(order).alias("o"), (-F.col(tiebreak)).alias("t"))
    row = F.struct(*[F.col(c) for c in rest])
    if method == "max_by":
        agg = df.groupBy(group).agg(F.max_by(row, key).alias("_top"))
    else:
        agg = df.groupBy(group).agg(F.max(F.struct(key.alias("k"), row.alias("r"))).getField("r").alias("_top"))
    return agg.select(group, "_top.*").select(*df.columns)


def top_per_group(df: DataFrame, group: str, order: str, method: str = "row_number", ties: str = "one",
                  tiebreak: str | None = None) -> DataFrame:
    """The row (or rows) with the largest ``order`` in each ``group``.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    group, order : str
        The grouping column and the column to maximise.
    method : str
        One of :data:`METHODS` (see the module docstring for each one's tie semantics).
    ties : {"one", "all"}
        One row per group (the smallest ``tiebreak`` among the tied) or every tied row.
    tiebreak : str, optional
        The column that breaks ties; required for ``ties="one"`` and for the
        aggregation methods (numeric there).

    Returns
    -------
    pyspark.sql.DataFrame
        The input's columns, only the winning rows; groups with no non-null ``order`` are absent.

    Raises
    ------
    ValueError
        For an unknown method or ``ties``, a missing column, ``ties="one"`` without
        a tiebreak, or ``ties="all"`` with a method that returns one row.

    Examples
    --------
    >>> df = spark.createDataFrame([(1, "Alice", "Eng", 150), (2, "Bob", "Eng", 150), (3, "Carl", "Eng", 140)],
    ...                            "id long, name string, dept string, ctc long")
    >>> sorted(r.name for r in top_per_group(df, "dept", "ctc", "rank", ties="all").collect())
    ['Alice', 'Bob']
    >>> [r.name for r in top_per_group(df, "dept", "ctc", "max_struct", tiebreak="id").collect()]
    ['Alice']
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; the methods are {sorted(METHODS)}")
    if ties not in ("one", "all"):
        raise ValueError(f"ties must be 'one' or 'all', got {ties!r}")
    require_columns(df, [group, order] + ([tiebreak] if tiebreak else []), "column")
    if ties == "all" and METHODS[method] == "one":
        raise ValueError(f"{method} returns one row per group; for every tied row use one of "
                         f"{sorted(m for m, t in METHODS.items() if t == 'all')}")
    if (ties == "one" or METHODS[method] == "one") and not tiebreak:
        raise ValueError(f"ties='one' (and {method}) needs a tiebreak column, so that the row kept is not arbitrary")
    valid = df.where(F.col(order).isNotNull())
    if method == "row_number":
        w = Window.partitionBy(group).orderBy(F.col(order).desc(), F.col(tiebreak).asc())
        return valid.withColumn("_r", F.row_number().over(w)).where("_r = 1").drop("_r")
    if method in ("max_by", "max_struct"):
        return _aggregate_top(valid, group, order, tiebreak, method)
    if method in ("rank", "dense_rank", "first_value"):
        top = _window_top(valid, group, order, method)
    elif method == "groupby_join":
        best = valid.groupBy(F.col(group).alias("_g")).agg(F.max(order).alias("_max"))
        # null-safe: a null group is a group to GROUP BY and to a window, and an equi-join would drop it
        top = valid.join(best, valid[group].eqNullSafe(best["_g"])).where(F.col(order) == F.col("_max")).select(
            *df.columns)
    else:  # correlated_subquery, through SQL as the guide writes it
        view = f"_top_{uuid.uuid4().hex[:8]}"
        valid.createOrReplaceTempView(view)
        top = df.sparkSession.sql(f"SELECT * FROM {view} e1 WHERE e1.`{order}` = (SELECT MAX(e2.`{order}`) "
                                  f"FROM {view} e2 WHERE e2.`{group}` <=> e1.`{group}`)")  # null-safe, as above
    if ties == "one":
        w = Window.partitionBy(group).orderBy(F.col(tiebreak).asc())
        top = top.withColumn("_r", F.row_number().over(w)).where("_r = 1").drop("_r")
    return top


# --- the top-k window query and Spark's WindowGroupLimit (Spark 3.5+) -----------------------------------------
#
# Spark's optimizer rule InferWindowGroupLimit (SPARK-37099, Spark 3.5) puts a WindowGroupLimit below a Window
# when: every window expression of that Window uses the frame ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
# (the default for row_number, rank and dense_rank; first_value's default frame is RANGE, so it gets none), the
# window has an ORDER BY, and a Filter directly above it bounds a row_number/rank/dense_rank result with
# `= k`, `<= k`, `< k` (k - 1) or the mirrored `k =`, `k >=`, `k >`; several bounds: the smallest, row_number
# first. The limit is used only when k <= spark.sql.optimizer.windowGroupLimitThreshold (default 1000; -1 turns
# the rule off) and the input may have more than k rows; k <= 0 becomes an empty relation. The planner splits it
# into a Partial limit on the map side, below the shuffle, and a Final one after it, so each map task sends at most
# about k rows per group (more for rank/dense_rank with ties). When the input is already partitioned by the group,
# no shuffle is needed and the Partial is removed (RemoveRedundantWindowGroupLimits).

# the tree form ("WindowGroupLimit [g], [v DESC], rank(v), 3, Partial") or the formatted one ("Arguments: [g], ...")
_NODE = re.compile(r"(?:WindowGroupLimit |Arguments: )\[[^\]]*\], \[[^\]]*\], (\w+)\([^)]*\), (-?\d+), (Partial|Final)")


def top_k(df: DataFrame, group: str, order: str, k: int, function: str = "row_number",
          tiebreak: str | None = None) -> DataFrame:
    """The rows ranked ``<= k`` in each ``group`` by ``order`` descending: the query Spark can limit per group.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    group, order : str
        The ``PARTITION BY`` column and the column ranked descending. A null ``order`` never ranks
        (the rows are filtered first, as in :func:`top_per_group`); a null ``group`` is a group.
    k : int
        The bound, >= 1.
    function : {"row_number", "rank", "dense_rank"}
        ``row_number`` keeps exactly ``k`` rows per group (ties broken by ``tiebreak``); ``rank`` keeps every
        row tied within the first ``k`` positions; ``dense_rank`` the rows of the ``k`` largest distinct values.
    tiebreak : str, optional
        Required for ``row_number`` (ascending, second sort key), so that the rows kept are not arbitrary;
        refused for ``rank``/``dense_rank``, where a second key would turn them into ``row_number``.

    Returns
    -------
    pyspark.sql.DataFrame
        The input's columns, only the rows kept.

    Raises
    ------
    ValueError
        For an unknown function, ``k < 1``, a missing column, or a tiebreak missing (row_number) or given
        (rank, dense_rank).

    Examples
    --------
    >>> df = spark.createDataFrame([("a", 3, 1), ("a", 3, 2), ("a", 1, 3), ("b", 2, 4)], "g string, v long, id long")
    >>> sorted(r.id for r in top_k(df, "g", "v", 1, "rank").collect())
    [1, 2, 4]
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if function not in RANK_LIKE:
        raise ValueError(f"function must be one of {list(RANK_LIKE)}, got {function!r}")
    positive_int("k", k)
    if function == "row_number" and not tiebreak:
        raise ValueError("row_number needs a tiebreak column, so that the k rows kept are not arbitrary")
    if function != "row_number" and tiebreak:
        raise ValueError(f"{function} keeps every tied row; a tiebreak would make it row_number")
    require_columns(df, [group, order] + ([tiebreak] if tiebreak else []), "column")
    keys = [F.col(order).desc()] + ([F.col(tiebreak).asc()] if tiebreak else [])
    rank_col = f"_rank_{uuid.uuid4().hex[:8]}"
    ranked = df.where(F.col(order).isNotNull()).withColumn(
        rank_col, getattr(F, function)().over(Window.partitionBy(group).orderBy(*keys)))
    return ranked.where(F.col(rank_col) <= k).drop(rank_col)


def group_limit_nodes(text: str) -> list[tuple[str, int, str]]:
    """The WindowGroupLimit nodes of a physical plan's text, top to bottom.

    Parameters
    ----------
    text : str
        A plan as :func:`labkit.core.plans.plan_text` or ``explain()`` prints it, or in the formatted form
        (the SQL tab's, :attr:`labkit.core.measure.Measurement.plan`).

    Returns
    -------
    list of (function, k, mode)
        For example ``[("rank", 3, "Final"), ("rank", 3, "Partial")]``.
    """
    return [(m.group(1), int(m.group(2)), m.group(3)) for m in _NODE.finditer(text)]


@dataclass
class GroupLimitPlan:
    """Where a top-k window query's physical plan limits each group (see :func:`group_limit_plan`)."""

    function: str
    k: int
    threshold: int  # spark.sql.optimizer.windowGroupLimitThreshold as read back while planning
    partial: bool  # a Partial WindowGroupLimit below the shuffle Exchange: each map task sends <= ~k rows a group
    final: bool  # a Final WindowGroupLimit above it, before the Window
    text: str = field(repr=False, default="")

    @property
    def limited(self) -> bool:
        """Both limits: the shape Spark plans for a top-k over a shuffle."""
        return self.partial and self.final


def _limit_shape(text: str, function: str, k: int) -> tuple[bool, bool]:
    """(partial below an Exchange, final) for the WindowGroupLimit nodes of ``function`` with bound ``k``."""
    lines = text.splitlines()
    exchange = next((i for i, line in enumerate(lines) if re.search(r"(?<![A-Za-z])Exchange hashpartitioning", line)),
                    None)
    found = {mode: i for i, line in enumerate(lines) for fn, bound, mode in group_limit_nodes(line)
             if fn == function and bound == k}
    partial = "Partial" in found and exchange is not None and exchange < found["Partial"]
    return partial, "Final" in found


def group_limit_plan(df: DataFrame, group: str, order: str, k: int, function: str = "row_number",
                     tiebreak: str | None = None, threshold: int | None = None) -> GroupLimitPlan:
    """Whether Spark plans a WindowGroupLimit for the :func:`top_k` query, with the threshold as it is or as given.

    Nothing is run: the physical plan is the one before execution.

    Parameters
    ----------
    df, group, order, k, function, tiebreak
        As in :func:`top_k`.
    threshold : int, optional
        ``spark.sql.optimizer.windowGroupLimitThreshold`` while planning (restored afterwards); -1 turns the
        rule off. The session's value when None.

    Returns
    -------
    GroupLimitPlan

    Examples
    --------
    >>> df = spark.range(100).selectExpr("id % 3 AS g", "id AS v")
    >>> [group_limit_plan(df, "g", "v", 2, "rank", threshold=t).limited for t in (None, -1)]
    [True, False]
    """
    spark = df.sparkSession
    settings = {} if threshold is None else {LIMIT_THRESHOLD: int(threshold)}
    with spark_conf(spark, settings):
        read_back = int(spark.conf.get(LIMIT_THRESHOLD))
        text = plan_text(top_k(df, group, order, k, function, tiebreak), final=False)
    partial, final = _limit_shape(text, function, k)
    return GroupLimitPlan(function, k, read_back, partial, final, text)


