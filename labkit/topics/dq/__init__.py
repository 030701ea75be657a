"""Data quality with nothing lost: CSV accounted line by line, one-pass rules with reasons, sampling, Parquet checks.

The promise: every input line is either a good row or a quarantined line with its raw text, its file and its
reasons. :func:`read_csv_accounted` checks ``data_lines == good + quarantined`` on every call.

One submodule per section, the same API re-exported here:

* :mod:`~labkit.topics.dq.accounted`  the CSV read with its accounting;
* :mod:`~labkit.topics.dq.quarantine` the quarantine's summaries, its precision and recall;
* :mod:`~labkit.topics.dq.dqdl`       :class:`Rule`, the :class:`rules` constructors, the DQDL parser;
* :mod:`~labkit.topics.dq.checks`     :func:`check`, :func:`split_valid`, the four ways to look for violations;
* :mod:`~labkit.topics.dq.parquet`    :func:`diagnose_parquet`;
* :mod:`~labkit.topics.dq.errors`     :class:`DataQualityError`, :class:`DQDLSyntaxError`.

The measured studies of notebook 06 (sampling recall, the strategies timed, pandera) and what Spark's CSV modes
and the guide's code do are in :mod:`labkit.experiments.dq`.
"""

from labkit.topics.dq.accounted import Accounted, read_csv_accounted
from labkit.topics.dq.checks import (
    STRATEGIES,
    CheckReport,
    check,
    failures_by_rule,
    find_violations,
    split_valid,
    suspicious_rules,
    violation,
)
from labkit.topics.dq.dqdl import Rule, parse_dqdl, rules
from labkit.topics.dq.errors import DataQualityError, DQDLSyntaxError
from labkit.topics.dq.parquet import diagnose_parquet
from labkit.topics.dq.quarantine import precision_recall, quarantine_summary, wrong_width_lines

__all__ = [
    "STRATEGIES",
    "Accounted",
    "CheckReport",
    "DQDLSyntaxError",
    "DataQualityError",
    "Rule",
    "check",
    "diagnose_parquet",
    "failures_by_rule",
    "find_violations",
    "parse_dqdl",
    "precision_recall",
    "quarantine_summary",
    "read_csv_accounted",
    "rules",
    "split_valid",
    "suspicious_rules",
    "violation",
    "wrong_width_lines",
]
