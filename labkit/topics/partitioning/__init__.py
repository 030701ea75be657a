"""Partitioning, file layout and file formats: write the lake, read it back, size and compact its files.

Techniques only (the measured comparisons notebook 01 makes from them live in
:mod:`labkit.experiments.partitioning`):

* :mod:`~labkit.topics.partitioning.lake`: :func:`write_lake` (Hive-style or flat, one file per folder),
  :func:`read_csv` with its schema, :func:`file_stats`, :func:`num_partitions_for`, :func:`bucketed_tables`;
* :mod:`~labkit.topics.partitioning.partitions`: :func:`partition_stats`, :func:`partition_count`,
  :func:`range_partitions` and :func:`ranges_ordered`;
* :mod:`~labkit.topics.partitioning.compaction`: :func:`compact`, a folder of small files rewritten in place.

Paths may be local folders or Hadoop URIs (``s3a://``); file listings go through Hadoop's FileSystem so both work.
"""

from labkit.topics.partitioning.compaction import compact
from labkit.topics.partitioning.lake import (
    HIVE_DEFAULT_PARTITION,
    FileStats,
    bucketed_tables,
    file_stats,
    num_partitions_for,
    read_csv,
    write_lake,
)
from labkit.topics.partitioning.partitions import partition_count, partition_stats, range_partitions, ranges_ordered

__all__ = [
    "HIVE_DEFAULT_PARTITION",
    "FileStats",
    "bucketed_tables",
    "compact",
    "file_stats",
    "num_partitions_for",
    "partition_count",
    "partition_stats",
    "range_partitions",
    "ranges_ordered",
    "read_csv",
    "write_lake",
]
