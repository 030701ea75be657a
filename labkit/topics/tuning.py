"""The tuning checklist's technique: whether two spellings of a query compile to the same physical plan.

Catalyst combines chained filters and projections, so two DataFrames written differently often run one plan;
:func:`same_plan` says so from the plans themselves. The checklist's measured items (the guide's bad and good forms
timed, caching, partition counts, the 45-minute Hive query) are in :mod:`labkit.experiments.tuning`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from labkit.core.plans import plan_text

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["same_plan"]


def _normalised_plan(df: DataFrame) -> str:
    """A physical plan with the expression ids (``#123``) and plan ids removed, so two plans can be compared."""
    text = plan_text(df, final=False)
    return re.sub(r"#\d+L?|plan_id=\d+", "", text)


def same_plan(a: DataFrame, b: DataFrame) -> bool:
    """Whether two DataFrames compile to the same physical plan (expression ids ignored).

    Examples
    --------
    >>> df = spark.range(10)
    >>> same_plan(df.filter("id > 1").filter("id < 5"), df.filter("id > 1 AND id < 5"))
    True
    """
    return _normalised_plan(a) == _normalised_plan(b)
