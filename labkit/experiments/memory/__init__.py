"""Notebook 05's experiments on memory and OOM: failures reproduced safely in child processes, and measured.

The techniques (the memory model, :func:`~labkit.topics.memory.diagnose`) live in :mod:`labkit.topics.memory`.
Here: :mod:`.workloads` (what a child runs), :mod:`.isolated` (:func:`run_isolated`: a workload in a child
Python with its own SparkSession and JVM, through :mod:`labkit.tools.child`, and its :class:`OomOutcome`),
:mod:`.demos` (each failure and its fix, the driver JVM's heap and collectors) and :mod:`.comparisons` (spill,
cache levels and serializers, through :mod:`labkit.core.bench`).

Run as ``python -m labkit.experiments.memory <workload> '<json conf>' '<json params>'`` it is that child.
"""

from labkit.experiments.memory.comparisons import (
    SERIALIZERS,
    compare_cache_levels,
    compare_serializers,
    compare_spill,
)
from labkit.experiments.memory.demos import DEMOS, classic_collectors, jvm_collectors, jvm_heap_mb, run_demos
from labkit.experiments.memory.isolated import OomOutcome, run_isolated
from labkit.experiments.memory.workloads import WORKLOADS

__all__ = ["DEMOS", "SERIALIZERS", "WORKLOADS", "OomOutcome", "classic_collectors", "compare_cache_levels",
           "compare_serializers", "compare_spill", "jvm_collectors", "jvm_heap_mb", "run_demos", "run_isolated"]
