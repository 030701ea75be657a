"""Notebook 05's experiments on memory and OOM: failures reproduced safely in child processes, and measured.

The techniques (the memory model, :func:`~labkit.topics.memory.diagnose`) live in :mod:`labkit.topics.memory`.
Here: :mod:`.workloads` (what a child runs), :mod:`.isolated` (:func:`run_isolated` and :func:`run_in_one_child`:
workloads in a child Python with its own JVM, each in a SparkSession of its own, through :mod:`labkit.tools.child`,
and their :class:`OomOutcome`), :mod:`.demos` (each failure and its fix, the driver JVM's heap and collectors) and
:mod:`.comparisons` (spill, cache levels and serializers, through :mod:`labkit.core.bench`).

Run as ``python -m labkit.experiments.memory '<json steps>' '<json master>'`` it is that child.
"""

from labkit.experiments.memory.comparisons import (
    SERIALIZERS,
    compare_cache_levels,
    compare_serializers,
    compare_spill,
)
from labkit.experiments.memory.demos import DEMOS, classic_collectors, jvm_collectors, jvm_heap_mb, run_demos
from labkit.experiments.memory.isolated import OomOutcome, run_in_one_child, run_isolated
from labkit.experiments.memory.workloads import WORKLOADS

__all__ = ["DEMOS", "SERIALIZERS", "WORKLOADS", "OomOutcome", "classic_collectors", "compare_cache_levels",
           "compare_serializers", "compare_spill", "jvm_collectors", "jvm_heap_mb", "run_demos", "run_in_one_child",
           "run_isolated"]
