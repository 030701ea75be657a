"""What notebook 01 measures and records: pruning, pushdown, formats, small files, partitioning and bucketing.

Built from the techniques of :mod:`labkit.topics.partitioning`; comparisons run through :mod:`labkit.core.bench`.

* :mod:`~labkit.experiments.partitioning.pruning`: the two layouts (:func:`write_layouts`), what each scan reads
  (:func:`pruning_table`), timed (:func:`pruning_timings`), and Parquet's row-group skipping
  (:func:`pushdown_experiment`), with the numbers recorded from them;
* :mod:`~labkit.experiments.partitioning.formats`: CSV against Parquet on disk and read (:func:`format_benchmark`),
  and on TPC-H lineitem (:func:`tpch_size_ratio`);
* :mod:`~labkit.experiments.partitioning.small_files`: the small-files problem and its fixes
  (:func:`small_files_experiment`), files under 10 MB against 128 MB (:func:`file_size_experiment`);
* :mod:`~labkit.experiments.partitioning.layouts`: hash, range, round robin and coalesce
  (:func:`partitioning_types`), files per folder (:func:`folder_layouts`) and per bucket (:func:`bucketing_layouts`),
  bucketed join plans (:func:`bucketed_join_plans`);
* :mod:`~labkit.experiments.partitioning.checks`: the guide's arithmetic and statements recomputed
  (:func:`guide_claims`), and :func:`write_lake_checks`.
"""

from labkit.experiments.partitioning.checks import guide_claims, write_lake_checks
from labkit.experiments.partitioning.formats import format_benchmark, format_numbers, tpch_size_ratio, write_formats
from labkit.experiments.partitioning.layouts import (
    bucketed_join_plans,
    bucketing_layouts,
    folder_layouts,
    partitioning_types,
)
from labkit.experiments.partitioning.pruning import (
    pruning_numbers,
    pruning_table,
    pruning_time_numbers,
    pruning_timings,
    pushdown_experiment,
    pushdown_number,
    scanned_mb,
    write_layouts,
)
from labkit.experiments.partitioning.small_files import (
    file_size_experiment,
    file_size_number,
    kb_per_file,
    small_files_experiment,
    small_files_numbers,
)

__all__ = [
    "bucketed_join_plans",
    "bucketing_layouts",
    "file_size_experiment",
    "file_size_number",
    "folder_layouts",
    "format_benchmark",
    "format_numbers",
    "guide_claims",
    "kb_per_file",
    "partitioning_types",
    "pruning_numbers",
    "pruning_table",
    "pruning_time_numbers",
    "pruning_timings",
    "pushdown_experiment",
    "pushdown_number",
    "scanned_mb",
    "small_files_experiment",
    "small_files_numbers",
    "tpch_size_ratio",
    "write_formats",
    "write_lake_checks",
    "write_layouts",
]
