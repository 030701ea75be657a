"""Fetch physical plans from DataFrames and measurements: join strategies, AQE's skew split, filters, exchanges.

Every plan string the lab shows comes from here, so notebooks never touch ``_jdf``.
On Spark Connect the plans come from ``explain``'s text and, after a run, from
the plan the server recorded (its REST API). Reading a plan's text is
:mod:`labkit.core.plan_parse`'s job.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from labkit.core import runtime
from labkit.core.measure import Measurement, measure, noop
from labkit.core.plan_parse import JOIN_NODES, PlanSummary, parse_plan
from labkit.core.units import parse_bytes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["JOIN_NODES", "PlanSummary", "estimated_size_bytes", "plan_summary", "plan_text"]


def _executed_plan_text(df: DataFrame) -> str:
    """The executed plan of a DataFrame, running it first if AQE has not finalised it.

    A Spark Connect client has no query execution to ask: the query is run into
    the no-op sink, measured, and the final plan the server recorded for it
    (the SQL tab's plan, through the REST API) is returned.
    """
    if runtime.is_connect(df.sparkSession):
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


def plan_summary(plan: DataFrame | Measurement | str) -> PlanSummary:
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
        number of shuffle and broadcast exchanges in the final plan (:func:`labkit.core.plan_parse.parse_plan`).

    Raises
    ------
    ValueError
        For a measurement that ran no SQL query.
    """
    if isinstance(plan, Measurement):
        if plan.plan is None:
            raise ValueError(f"measurement {plan.label!r} ran no SQL query, so it has no plan")
        return plan.plan
    return parse_plan(plan if isinstance(plan, str) else _executed_plan_text(plan))


def plan_text(df: DataFrame, final: bool = True) -> str:
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


def estimated_size_bytes(df: DataFrame) -> int:
    """Spark's size estimate for a DataFrame: the number ``autoBroadcastJoinThreshold`` is compared with.

    Exact on a classic session. On Spark Connect it is read from the ``cost``
    explain text, which prints it rounded (``7.8 KiB``): within 0.05 of a unit.
    """
    if runtime.is_connect(df.sparkSession):
        text = df._explain_string(mode="cost")
        m = re.search(r"Statistics\(sizeInBytes=([\d.]+(?:E\+\d+)? ?(?:[KMGTPE]iB|B))", text)
        if not m:
            raise RuntimeError(f"estimated_size_bytes: no size in the optimized plan:\n{text[:500]}")
        return parse_bytes(m.group(1))
    return int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
