"""Notebook 02's experiments on data skew: the correctness checks, the measured sweep, and the claim rows.

The techniques themselves live in :mod:`labkit.topics.skew`. Here: :mod:`.checks` (every technique against the
plain result, which salts stay with their row, the guide's technique 4 and detector scored) and :mod:`.sweep` (the
join sweep over skew levels and salt counts through :mod:`labkit.core.bench`, its summaries, and the claim rows).
"""

from labkit.experiments.skew.checks import (
    CHECKED_AGGS,
    detector_checks,
    isolation_check,
    salt_stability,
    verify_techniques,
)
from labkit.experiments.skew.sweep import (
    best_salt_tasks,
    broadcast_skew_effect,
    groupby_skew_table,
    join_task_view,
    join_variants,
    replication_table,
    salting_claims,
    sweep_guidance,
    sweep_subsets,
    sweep_summary,
)

__all__ = ["CHECKED_AGGS", "best_salt_tasks", "broadcast_skew_effect", "detector_checks", "groupby_skew_table",
           "isolation_check", "join_task_view", "join_variants", "replication_table", "salt_stability",
           "salting_claims", "sweep_guidance", "sweep_subsets", "sweep_summary", "verify_techniques"]
