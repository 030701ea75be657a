"""Notebook 06's experiments: what Spark's CSV modes and the guide's DQ code do, and the studies it measures.

* :mod:`~labkit.experiments.dq.lessons`   PERMISSIVE case by case, the CSV modes' pitfalls, the guide's own code
  beside :mod:`labkit.topics.dq`, and the inputs that show it (:func:`null_key_sample`, :func:`csv_source`);
* :mod:`~labkit.experiments.dq.measured`  sampling recall, measured and analytic; the four strategies timed
  through :func:`labkit.core.bench.compare`; pandera against ``check``; the accounted read's throughput.

The techniques themselves (the accounted read, the rules, the checks, Parquet diagnosis) are in
:mod:`labkit.topics.dq`.
"""

from labkit.experiments.dq.lessons import (
    csv_mode_pitfalls,
    csv_source,
    guide_code_outcomes,
    guide_duplicate_test,
    guide_permissive_read,
    guide_subtract_union,
    merge_schema_outcome,
    null_key_sample,
    permissive_width_cases,
)
from labkit.experiments.dq.measured import (
    accounted_read_mb_s,
    pandera_compare,
    recall_lines,
    recall_sweep,
    recall_sweeps,
    sampling_cases,
    sampling_recall,
    strategies,
    with_negative_amounts,
)

__all__ = [
    "accounted_read_mb_s",
    "csv_mode_pitfalls",
    "csv_source",
    "guide_code_outcomes",
    "guide_duplicate_test",
    "guide_permissive_read",
    "guide_subtract_union",
    "merge_schema_outcome",
    "null_key_sample",
    "pandera_compare",
    "permissive_width_cases",
    "recall_lines",
    "recall_sweep",
    "recall_sweeps",
    "sampling_cases",
    "sampling_recall",
    "strategies",
    "with_negative_amounts",
]
