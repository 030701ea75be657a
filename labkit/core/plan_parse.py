"""Parse a physical plan's text: join strategies, AQE's skew split, filters, exchanges.

Pure text work, with no session: :mod:`labkit.core.measure` parses the plan the
REST API recorded for a run, and :mod:`labkit.core.plans` the plan it fetches
from a DataFrame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["JOIN_NODES", "PlanSummary", "parse_plan"]

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


def parse_plan(text: str) -> PlanSummary:
    """Summarise an executed physical plan's text (the tree or the formatted mode, AQE's parts or not).

    Parameters
    ----------
    text : str

    Returns
    -------
    PlanSummary
        Join strategies, AQE skew split, partition and pushed filters, and the
        number of shuffle and broadcast exchanges in the final plan.

    Examples
    --------
    >>> s = parse_plan("*(2) BroadcastHashJoin [k#1], [k#2], Inner, BuildRight +- BroadcastExchange ...")
    >>> s.joins, s.broadcasts, s.exchanges, s.adaptive
    (['BroadcastHashJoin'], 1, 0, False)
    """
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
