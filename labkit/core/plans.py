"""Read physical plans: join strategies, AQE's skew split, filters, exchanges.

Every plan string the lab shows comes from here, so notebooks never touch ``_jdf``.
On Spark Connect the plans come from ``explain``'s text and, after a run, from
the plan the server recorded (its REST API).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, is_dataclass

from labkit.core import runtime

__all__ = ["JOIN_NODES", "PlanSummary", "estimated_size_bytes", "plan_summary", "plan_text"]

JOIN_NODES = ("BroadcastHashJoin", "SortMergeJoin", "ShuffledHashJoin", "BroadcastNestedLoopJoin", "CartesianProduct")


@dataclass
class PlanSummary:
    """What an executed physical plan did."""

    joins: list[str]  # join strategies in the final plan, in plan order
    initial_joins: list[str]  # join strategies AQE planned before it saw runtime statistics
    skew_split: bool  # AQE split a skewed partition (SortMergeJoin(skew=true) / skewed AQEShuffleRead)
    partition_filters: list[str]  # PartitionFilters of the scans (pruning)
    pushed_filters: list[str]  # PushedFilters of the scans (pushdown to the source)
    exchanges: int  # shuffle Exchange nodes in the final plan
    broadcasts: int  # BroadcastExchange nodes in the final plan
    adaptive: bool  # the plan is an AdaptiveSparkPlan
    final: bool  # AQE had finished re-planning (isFinalPlan=true), or no AQE
    text: str = field(repr=False, default="")



def _outer_markers(text: str) -> dict[str, int]:
    """Offsets of the query's own ``== Final Plan ==`` / ``== Initial Plan ==`` markers.

    They hang off the query's AdaptiveSparkPlan (the first one in the text, which may sit under a write command),
    with their ``+-`` in the column of its name. A cached relation inside the plan carries its own adaptive plan,
    markers and all, further in: those are not the query's, and a query whose plan is not adaptive has none.
    """
    root = re.search(r"^(.*?)AdaptiveSparkPlan", text, flags=re.M)
    if not root or "InMemoryRelation" in text[:root.start()]:
        return {}
    column = len(root.group(1))
    marks: dict[str, int] = {}
    for m in re.finditer(r"^( *)\+- == (Final|Initial) Plan ==", text, flags=re.M):
        if len(m.group(1)) == column:
            marks.setdefault(m.group(2), m.start())
    return marks


def _final_part(text: str) -> str:
    """The final-plan part of a plan string (AQE prints the initial plan too)."""
    marks = _outer_markers(text)
    if "Final" in marks:
        end = marks.get("Initial", len(text))
        return text[text.index("== Final Plan ==", marks["Final"]) + len("== Final Plan =="):end]
    return text


def _initial_part(text: str) -> str | None:
    """The initial-plan part of an adaptive plan string, or None when the query's plan has none."""
    marks = _outer_markers(text)
    if "Initial" not in marks:
        return None
    return text[text.index("== Initial Plan ==", marks["Initial"]) + len("== Initial Plan =="):]


def _tree(text: str) -> str:
    """The tree of a plan, without the numbered node details of the formatted mode."""
    head = text.split("\n\n(1) ", 1)[0]
    return head


def _join_nodes(tree: str) -> list[str]:
    """Join strategy node names in a plan tree, in order."""
    return [m.group(1) for m in re.finditer(rf"\b({'|'.join(JOIN_NODES)})\b", tree)]


def _filters(text: str, name: str) -> list[str]:
    """The non-empty ``name: [...]`` lists of a plan, deduplicated, in order."""
    found = []
    for m in re.finditer(rf"{name}: \[(.*?)\](?:,|\n|$)", text):
        value = m.group(1).strip()
        if value and value not in found:
            found.append(value)
    return found


def _executed_plan_text(df) -> str:
    """The executed plan of a DataFrame, running it first if AQE has not finalised it.

    A Spark Connect client has no query execution to ask: the query is run into
    the no-op sink, measured, and the final plan the server recorded for it
    (the SQL tab's plan, through the REST API) is returned.
    """
    if runtime.is_connect(df.sparkSession):
        from labkit.core.measure import measure, noop  # measure imports this module

        m = measure(df.sparkSession, noop(df), "plan")
        if m.plan is None:
            raise RuntimeError("plan_text: the server recorded no SQL execution for this query")
        return m.plan.text
    qe = df._jdf.queryExecution()
    text = qe.executedPlan().toString()
    if "isFinalPlan=false" in text:
        qe.toRdd().count()  # runs the adaptive plan to its final form without collecting rows
        text = qe.executedPlan().toString()
    return text


def plan_summary(plan) -> PlanSummary:
    """Summarise an executed physical plan.

    Parameters
    ----------
    plan : DataFrame, Measurement or str
        A DataFrame (it is run if AQE has not yet produced its final plan),
        a :class:`Measurement` (its plan), or a plan string (tree or formatted).

    Returns
    -------
    PlanSummary
        Join strategies, AQE skew split, partition and pushed filters, and the
        number of shuffle and broadcast exchanges in the final plan.
    """
    # a Measurement (measure imports this module); not hasattr: a Connect DataFrame answers any attribute
    if is_dataclass(plan) and "wall_s" in getattr(plan, "__dataclass_fields__", {}):
        if plan.plan is None:
            raise ValueError(f"measurement {plan.label!r} ran no SQL query, so it has no plan")
        return plan.plan
    text = plan if isinstance(plan, str) else _executed_plan_text(plan)
    final = _tree(_final_part(text))
    joins = _join_nodes(final)
    initial_text = _initial_part(text)
    initial = _join_nodes(_tree(initial_text)) if initial_text is not None else joins
    skew = bool(re.search(r"skew=true", final)) or bool(re.search(r"AQEShuffleRead[^\n]*skewed", final))
    return PlanSummary(
        joins=joins,
        initial_joins=initial,
        skew_split=skew,
        partition_filters=_filters(text, "PartitionFilters"),
        pushed_filters=_filters(text, "PushedFilters"),
        exchanges=len(re.findall(r"(?<![A-Za-z])Exchange\b", final)),  # not Broadcast-/ReusedExchange
        broadcasts=len(re.findall(r"\bBroadcastExchange\b", final)),
        adaptive="AdaptiveSparkPlan" in text,
        final="isFinalPlan=false" not in text,
        text=text,
    )


def plan_text(df, final: bool = True) -> str:
    """The physical plan of a DataFrame as text, the way ``explain()`` prints it.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    final : bool
        True: the executed plan, after AQE re-planned it (the query is run,
        without collecting rows, if AQE has not finished). False: the plan
        before execution.

    Returns
    -------
    str
    """
    if final:
        return _executed_plan_text(df)
    if runtime.is_connect(df.sparkSession):  # explain's text, without its header
        return df._explain_string(mode="simple").split("== Physical Plan ==\n", 1)[-1].strip() + "\n"
    return df._jdf.queryExecution().executedPlan().toString()


_SIZE_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50, "EiB": 2**60}


def estimated_size_bytes(df) -> int:
    """Spark's size estimate for a DataFrame: the number ``autoBroadcastJoinThreshold`` is compared with.

    Exact on a classic session. On Spark Connect it is read from the ``cost``
    explain text, which prints it rounded (``7.8 KiB``): within 0.05 of a unit.
    """
    if runtime.is_connect(df.sparkSession):
        text = df._explain_string(mode="cost")
        m = re.search(r"Statistics\(sizeInBytes=([\d.]+) ?([KMGTPE]iB|B)", text)
        if not m:
            raise RuntimeError(f"estimated_size_bytes: no size in the optimized plan:\n{text[:500]}")
        return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])
    return int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
