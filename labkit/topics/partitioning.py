"""Partitioning, file layout and file formats: write the lake, prune it, size its files.

Paths may be local folders or Hadoop URIs (``s3a://``); file listings go
through Hadoop's FileSystem so both work.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from labkit.core import files, runtime
from labkit.core.args import plain_name, positive_int, require_columns
from labkit.core.bench import compare, pair_ratio
from labkit.core.measure import measure, noop

__all__ = [
    "HIVE_DEFAULT_PARTITION",
    "FileStats",
    "bucketed_join_plans",
    "bucketed_tables",
    "bucketing_layouts",
    "compact",
    "file_size_experiment",
    "file_size_number",
    "file_stats",
    "folder_layouts",
    "format_benchmark",
    "format_numbers",
    "guide_checks",
    "kb_per_file",
    "num_partitions_for",
    "partition_stats",
    "partitioning_types",
    "pruning_numbers",
    "pruning_table",
    "pruning_time_numbers",
    "pruning_timings",
    "pushdown_experiment",
    "pushdown_number",
    "range_partitions",
    "ranges_ordered",
    "read_csv",
    "scanned_mb",
    "small_files_experiment",
    "small_files_numbers",
    "tpch_size_ratio",
    "write_formats",
    "write_lake",
    "write_lake_checks",
    "write_layouts",
]

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # the folder a null partition value is written to


@dataclass(frozen=True)
class FileStats:
    """The data files under a path (Spark's ``_SUCCESS`` and hidden files excluded)."""

    files: int
    bytes: int
    sizes: list[int]  # bytes of each data file
    folders: int  # distinct folders that hold data files (partitions)

    @property
    def mean_mb(self) -> float:
        """Mean data file size in MB."""
        return self.bytes / max(self.files, 1) / 2**20


def file_stats(spark, path: str) -> FileStats:
    """Count and size the data files under ``path`` (recursively).

    Parameters
    ----------
    spark : SparkSession
    path : str
        A folder written by Spark (local or ``s3a://``).

    Returns
    -------
    FileStats

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    found = files.list_files(spark, path)
    sizes = [n for _, n in found]
    return FileStats(len(sizes), sum(sizes), sizes, len({p.rsplit("/", 1)[0] for p, _ in found}))


def _check_layout(df, layout: str, fmt: str, cols: list[str]) -> None:
    """Validate write_lake's layout, format and partition columns."""
    if layout not in ("hive", "flat"):
        raise ValueError(f"layout must be 'hive' or 'flat', got {layout!r}")
    if fmt not in ("parquet", "csv", "orc", "json"):
        raise ValueError(f"fmt must be parquet, csv, orc or json, got {fmt!r}")
    if layout == "hive":
        if not cols:
            raise ValueError("a hive layout needs at least one partition column")
        require_columns(df, cols, "partition column")


def _spread(df, layout: str, cols: list[str], files: int):
    """Repartition so a hive layout gets ``files`` files per folder, or a flat one ``files`` files."""
    from pyspark.sql import functions as F

    if layout == "flat":
        return df.repartition(max(1, files))
    salt = [F.pmod(F.xxhash64(*df.columns), F.lit(files))] if files > 1 else []
    return df.repartition(*[F.col(c) for c in cols], *salt)


def write_lake(df, path: str, layout: str = "hive", partition_by: Sequence[str] = ("year", "month"),
               fmt: str = "parquet", files_per_partition: int | None = 1, compression: str | None = None) -> str:
    """Write a fact table as a Hive-style partitioned layout or as a flat layout of the same rows.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    path : str
        The lake root for this table (a local folder, or ``s3a://bucket/...`` on a cluster). Overwritten.
    layout : {"hive", "flat"}
        ``hive`` writes ``year=2024/month=3/part-...``; ``flat`` writes the same
        rows with no partition folders.
    partition_by : sequence of str
        Partition columns for the hive layout, in folder order.
    fmt : {"parquet", "csv", "orc", "json"}
    files_per_partition : int or None
        ``repartition`` by the partition columns first so that each partition
        folder gets this many files (1 by default: the small-files fix). None
        writes the frame as it is partitioned (one file per task per folder).
    compression : str, optional
        ``snappy``, ``zstd``, ``gzip``... (the format's default if None).

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ValueError
        For an unknown layout or format, or partition columns the frame lacks.

    Notes
    -----
    A null partition value is written to ``<col>=__HIVE_DEFAULT_PARTITION__``
    and read back as null. An empty frame still writes a readable layout.
    """
    cols = list(partition_by)
    _check_layout(df, layout, fmt, cols)
    if files_per_partition is not None:
        df = _spread(df, layout, cols, files_per_partition)
    writer = df.write.mode("overwrite").format(fmt)
    if fmt == "csv":
        writer = writer.option("header", "true")
    if compression:
        writer = writer.option("compression", compression)
    if layout == "hive":
        writer = writer.partitionBy(*cols)
    writer.save(path)
    if layout == "hive" and fmt in ("parquet", "orc") and file_stats(df.sparkSession, path).files == 0:
        # an empty input writes no partition folders; add one empty file that carries the schema, so it reads back
        df.limit(0).coalesce(1).write.mode("append").format(fmt).save(path)
    return path


def read_csv(spark, path: str, schema=None, infer: bool = False):
    """Read a CSV layout written by :func:`write_lake`, with an explicit schema or by inferring one.

    Parameters
    ----------
    spark : SparkSession
    path : str
    schema : StructType or DDL str, optional
        The schema to apply (no extra pass over the data).
    infer : bool
        Infer the schema instead: Spark reads the data once more to guess the types.

    Returns
    -------
    pyspark.sql.DataFrame
    """
    if schema is None and not infer:
        raise ValueError("read_csv needs a schema, or infer=True (which costs an extra pass over the data)")
    reader = spark.read.option("header", "true")
    reader = reader.schema(schema) if schema is not None else reader.option("inferSchema", "true")
    return reader.csv(path)


def write_formats(df, root: str, formats: Sequence[str] = ("csv", "parquet-snappy", "parquet-zstd"),
                  files: int = 8) -> pd.DataFrame:
    """Write the same rows in several formats and report their size on disk.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    root : str
        Parent folder; each format goes to ``<root>/<format>``.
    formats : sequence of str
        ``csv``, ``json``, ``orc``, ``parquet-<codec>`` (snappy, zstd, gzip, none).
    files : int
        Files per format (the same for all, so only the format differs).

    Returns
    -------
    pandas.DataFrame
        ``format, path, files, bytes, mb`` indexed by format.
    """
    rows = []
    spark = df.sparkSession
    for name in formats:
        fmt, _, codec = name.partition("-")
        path = f"{root.rstrip('/')}/{name}"
        write_lake(df, path, layout="flat", fmt=fmt, files_per_partition=files, compression=codec or None)
        st = file_stats(spark, path)
        rows.append({"format": name, "path": path, "files": st.files, "bytes": st.bytes, "mb": st.bytes / 2**20})
    return pd.DataFrame(rows).set_index("format")


def num_partitions_for(total_bytes: int, target_mb: float = 128) -> int:
    """How many files (or partitions) of about ``target_mb`` hold ``total_bytes``.

    Parameters
    ----------
    total_bytes : int
        Bytes to split (>= 0).
    target_mb : float
        Target size of one file or partition in MiB (> 0); the guide's range is 128 MB to 1 GB.

    Returns
    -------
    int
        ``ceil(total_bytes / target)``, at least 1.

    Examples
    --------
    >>> num_partitions_for(10 * 2**30, target_mb=128)
    80
    >>> num_partitions_for(0)
    1
    """
    if total_bytes < 0:
        raise ValueError(f"total_bytes must be >= 0, got {total_bytes!r}")
    if target_mb <= 0:
        raise ValueError(f"target_mb must be > 0, got {target_mb!r}")
    return max(1, math.ceil(total_bytes / (target_mb * 2**20)))


_COMPACT_FORMATS = ("parquet", "orc", "csv", "json")
# CSV as RFC 4180 (a quote inside a quoted value is doubled, as Python's csv module and most exporters write it),
# every character kept: Spark's writer trims leading and trailing spaces unless told not to
_CSV_WRITE = {"header": "true", "escape": '"', "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false"}
# multiLine: a quoted value may hold a line break; enforceSchema false: every file's header is checked
_CSV_READ = {**_CSV_WRITE, "multiLine": "true", "enforceSchema": "false"}


@dataclass(frozen=True, order=True)
class _Entry:
    """One data file of the folder being compacted, as listed: name, bytes, modification time."""

    name: str
    size: int
    mtime: int


def compact(spark, path: str, target_file_mb: float = 128, fmt: str = "parquet", output: str | None = None) -> str:
    """Rewrite a folder of small files into files of about ``target_file_mb``, losing and changing nothing.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A folder of data files (one leaf partition of a layout, or a flat table). A folder with subfolders
        (partitions) is refused: compact each leaf.
    target_file_mb : float
        Target file size in MiB.
    fmt : {"parquet", "orc", "csv", "json"}
        The folder's format; every file is checked against it before anything is read.
    output : str, optional
        Where to write the compacted files (a folder that does not exist yet, neither inside ``path`` nor
        containing it); ``path`` is left as it is. By default ``path`` itself is replaced (see Notes).

    Returns
    -------
    str
        The compacted folder.

    Raises
    ------
    ValueError
        Before anything is written: an unknown ``fmt``; a file that is not in ``fmt`` (Parquet is told by its
        ``PAR1`` magic bytes at both ends, ORC by ``ORC`` at the start, CSV and JSON are the rest), named; an
        empty folder or one with subfolders; files that disagree on a column's type, named with the column; CSV
        files with different headers; an ``output`` that is ``path``, lies inside it or contains it.
    FileNotFoundError
        When ``path`` does not exist.
    FileExistsError
        When ``output`` already exists (it is never overwritten).
    RuntimeError
        When the folder's files changed while compacting (nothing swapped, the copy removed); when a rename of
        the swap fails (the message says where the original files are; nothing is deleted).

    Notes
    -----
    The files are listed (names, sizes, modification times) first and exactly those files are read: Parquet
    with ``mergeSchema`` (files of ``(id, a)`` and ``(id, b)`` give ``(id, a, b)``), JSON with each file's
    schema checked against the others (Spark would silently widen a conflicting column to string), CSV as
    RFC 4180 text with its header, no whitespace trimmed on either side. Columns whose names differ only in
    case are one column to Spark (``spark.sql.caseSensitive`` is false): Parquet files with such names come
    back under one spelling; JSON files with them are refused.

    The new files are written to a hidden sibling folder (``.<name>.compacting-<id>``: Spark skips names that
    start with a dot, so a failed run never shows up as a partition). Just before the swap the folder is listed
    again; if a file was added, removed or rewritten meanwhile, compaction stops and the copy is removed. Then
    two renames swap the copy in (``path`` -> ``.<name>.old-<id>``, copy -> ``path``) and the old folder is
    deleted; if the second rename fails, the original is renamed back, and if that fails too the error names
    where it is. Between the renames a reader would see the folder missing, not half-written; a file written
    into ``path`` between the second listing and the first rename (milliseconds) would still be moved aside
    with the old files: only a table format closes that window.

    That holds on a file system whose rename is atomic (local disk, HDFS). **On S3 a rename is a copy of every
    object plus a delete** (``s3a://`` emulates it), so the swap is not atomic there: a reader can list a
    half-moved folder, and a failure midway leaves files in both places. A table format does not rename at
    all: Delta Lake (``OPTIMIZE``) and Apache Iceberg (``rewrite_data_files``) write the compacted files as
    new files, then make one atomic commit to the table's log (``_delta_log``) or metadata that replaces the
    old file list by the new one. A reader sees the old snapshot or the new one, never a half-swapped folder,
    and concurrent writers conflict at the commit instead of losing files. The old files stay until
    ``VACUUM`` (Delta) or ``expire_snapshots`` and ``remove_orphan_files`` (Iceberg) delete them.
    """
    if fmt not in _COMPACT_FORMATS:
        raise ValueError(f"compact: fmt must be one of {', '.join(_COMPACT_FORMATS)}, got {fmt!r}")
    path = path.rstrip("/")
    if output is not None:
        output = output.rstrip("/")
        _refuse_overlap(path, output)
        if files.exists(spark, output):
            raise FileExistsError(f"compact: output {output} already exists; name a folder that does not")
    listing = _listing(spark, path)
    _check_formats(spark, path, listing, fmt)
    df = _read_listed(spark, path, listing, fmt)
    parent, _, name = path.rpartition("/")
    tag = uuid.uuid4().hex[:8]
    target = output or f"{parent or '.'}/.{name}.compacting-{tag}"
    _write_compacted(spark, df.repartition(num_partitions_for(sum(e.size for e in listing), target_file_mb)),
                     fmt, target)
    _refuse_changed(spark, path, listing, target)
    if output is not None:
        return output
    _swap_in(spark, target, path, f"{parent or '.'}/.{name}.old-{tag}")
    return path


def _is_local(path: str) -> bool:
    """Whether ``path`` is on this machine's disk (no scheme, or ``file:``)."""
    return path.startswith("file:") or "://" not in path


def _location(path: str):
    """``(file system, absolute folder)`` of a path, to compare two paths (symlinks of local paths resolved)."""
    import os
    import posixpath
    from pathlib import PurePosixPath
    from urllib.parse import urlparse

    if _is_local(path):
        local = urlparse(path).path if path.startswith("file:") else path
        return "file", PurePosixPath(os.path.realpath(local))
    url = urlparse(path)
    scheme = "s3" if url.scheme in ("s3", "s3a", "s3n") else url.scheme
    return f"{scheme}://{url.netloc}", PurePosixPath(posixpath.normpath("/" + url.path.lstrip("/")))


def _refuse_overlap(path: str, output: str) -> None:
    """Refuse an ``output`` that is ``path``, lies inside it or contains it (a write there deletes the source)."""
    (fs_a, a), (fs_b, b) = _location(path), _location(output)
    if fs_a == fs_b and (a == b or a in b.parents or b in a.parents):
        raise ValueError(f"compact: output {output} is {path}, inside it or contains it; writing there would "
                         "delete the files before they are read. Name a folder outside it")


def _listing(spark, path: str) -> tuple[_Entry, ...]:
    """The data files directly in folder ``path`` (``_``/``.`` names skipped), sorted; subfolders refused."""
    import os

    if not files.exists(spark, path):
        raise FileNotFoundError(f"compact: no such folder: {path}")
    if runtime.is_connect(spark):
        if not _is_local(path):
            runtime.require_classic(spark, f"compacting {path} (a file system other than this machine's)")
        local = path[len("file:"):] if path.startswith("file:") else path
        found = [(e.name, e.is_dir(), e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(local)]
    else:
        fs, jpath = _hadoop_path(spark, path)
        found = [(s.getPath().getName(), bool(s.isDirectory()), int(s.getLen()), int(s.getModificationTime()))
                 for s in fs.listStatus(jpath)]
    visible = [f for f in found if not f[0].startswith(("_", "."))]
    folders = sum(1 for f in visible if f[1])
    if folders or not visible:
        raise ValueError(f"compact: {path} holds " + (f"{folders} subfolder(s) (partitions?); compact each leaf "
                                                      "folder instead" if folders else "no data files"))
    return tuple(sorted(_Entry(n, size, mtime) for n, _, size, mtime in visible))


def _hadoop_path(spark, path: str):
    """Hadoop's ``(FileSystem, Path)`` for ``path`` (a classic session)."""
    jpath = spark._jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark._jsc.hadoopConfiguration()), jpath


def _peek(spark, file: str, size: int, first_line: bool = False) -> tuple[bytes, bytes, str | None]:
    """The first and last 4 bytes of ``file``, and its first line (UTF-8, None for an empty file) when asked."""
    if runtime.is_connect(spark):
        with open(file[len("file:"):] if file.startswith("file:") else file, "rb") as fh:
            line = fh.readline().decode("utf-8") if first_line else None
            fh.seek(0)
            head = fh.read(4)
            fh.seek(max(0, size - 4))
            return head, fh.read(4), line or None
    fs, jpath = _hadoop_path(spark, file)
    io_utils = spark._jvm.org.apache.commons.io.IOUtils
    stream = fs.open(jpath)
    try:
        head = bytes(io_utils.toByteArray(stream, min(4, size)))
        stream.seek(max(0, size - 4))
        tail = bytes(io_utils.toByteArray(stream, min(4, size)))
        line = None
        if first_line:
            stream.seek(0)
            line = spark._jvm.java.io.BufferedReader(spark._jvm.java.io.InputStreamReader(stream, "UTF-8")).readLine()
        return head, tail, line or None
    finally:
        stream.close()


def _format_of(head: bytes, tail: bytes, size: int) -> str:
    """``parquet``, ``orc``, ``json`` or ``csv``, from a file's magic bytes (JSON: its first byte is ``{`` or ``[``)."""
    if size >= 8 and head == b"PAR1" and tail == b"PAR1":
        return "parquet"
    if head[:3] == b"ORC":
        return "orc"
    return "json" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[") else "csv"


_KINDS = {"parquet": "a Parquet file (PAR1 magic bytes)", "orc": "an ORC file (ORC magic bytes)",
          "json": "a JSON file (it starts with { or [)", "csv": "a CSV file (no Parquet or ORC magic bytes, not JSON)"}


def _check_formats(spark, path: str, listing: Sequence[_Entry], fmt: str) -> None:
    """Refuse a file whose magic bytes say it is not ``fmt``, and CSV files whose headers differ (named)."""
    import csv

    expected = fmt
    headers: dict[str, list[str]] = {}
    for e in listing:
        head, tail, line = _peek(spark, f"{path}/{e.name}", e.size, first_line=fmt == "csv")
        found = _format_of(head, tail, e.size)
        if found != expected:
            raise ValueError(f"compact: {path}/{e.name} is {_KINDS[found]}, not {fmt}; nothing was written")
        if line is not None:
            headers[e.name] = next(csv.reader([line]))
    distinct = {tuple(h) for h in headers.values()}
    if len(distinct) > 1:
        first = next(iter(headers))
        other = next(n for n, h in headers.items() if h != headers[first])
        a, b = headers[first], headers[other]
        cols = [i + 1 for i in range(max(len(a), len(b))) if i >= len(a) or i >= len(b) or a[i] != b[i]]
        # no field values in the message: the first line of a file without a header is a data row
        raise ValueError(f"compact: the CSV files in {path} have different headers ({first}: {len(a)} fields; "
                         f"{other}: {len(b)} fields; they differ at column(s) {cols}); nothing was written")


def _schema_conflicts(schemas: Mapping[str, Any]) -> list[str]:
    """Columns that files disagree on (type, or the case of the name), as ``'a: int in f1, string in f2'``."""
    seen: dict[str, tuple[Any, str]] = {}
    found: list[str] = []
    for file, schema in schemas.items():
        for field in schema.fields:
            if field.name.lower() not in seen:
                seen[field.name.lower()] = (field, file)
                continue
            first, where = seen[field.name.lower()]
            found += [f"{what} in {where}, {other} in {file}" for what, other in _field_conflicts(first, field, "")]
    return found


def _field_conflicts(a, b, prefix: str) -> list[tuple[str, str]]:
    """``(column: type or name in a, the same in b)`` for every nested place where fields ``a`` and ``b`` differ."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    name = f"{prefix}{a.name}"
    if a.name != b.name:
        return [(f"{name}: named {a.name!r}", f"named {b.name!r}")]
    ta, tb = a.dataType, b.dataType
    if isinstance(ta, StructType) and isinstance(tb, StructType):
        inner = {f.name.lower(): f for f in tb.fields}
        return [c for f in ta.fields if f.name.lower() in inner for c in _field_conflicts(f, inner[f.name.lower()],
                                                                                          f"{name}.")]
    if isinstance(ta, ArrayType) and isinstance(tb, ArrayType):
        ta, tb = ta.elementType, tb.elementType
    elif isinstance(ta, MapType) and isinstance(tb, MapType):
        ta, tb = (ta.keyType, ta.valueType), (tb.keyType, tb.valueType)
    if ta == tb:
        return []
    show = (lambda t: ", ".join(x.simpleString() for x in t) if isinstance(t, tuple) else t.simpleString())  # noqa: E731
    return [(f"{name}: {show(ta)}", show(tb))]


def _read_listed(spark, path: str, listing: Sequence[_Entry], fmt: str):
    """Read exactly the listed files: Parquet with ``mergeSchema``, JSON and Parquet type conflicts refused."""
    paths = [f"{path}/{e.name}" for e in listing]
    if fmt == "csv":
        return spark.read.options(**_CSV_READ).csv(paths)
    if fmt == "json":
        conflicts = _schema_conflicts({e.name: spark.read.json(f"{path}/{e.name}").schema for e in listing})
        if conflicts:
            raise ValueError(f"compact: the files in {path} disagree on {len(conflicts)} column(s): "
                             + "; ".join(conflicts) + "; nothing was written")
        return spark.read.json(paths)
    if fmt == "orc":
        return spark.read.option("mergeSchema", "true").orc(paths)
    try:
        return spark.read.option("mergeSchema", "true").parquet(*paths)
    except Exception as exc:
        if "CANNOT_MERGE_SCHEMAS" not in str(exc):
            raise
        conflicts = _schema_conflicts({e.name: spark.read.parquet(f"{path}/{e.name}").schema
                                       for e in listing})
        raise ValueError(f"compact: the files in {path} disagree on the type of {len(conflicts)} column(s): "
                         + "; ".join(conflicts) + "; nothing was written") from exc


def _write_compacted(spark, df, fmt: str, target: str) -> None:
    """Write ``df`` to ``target`` (which must not exist), removing the partial copy if the write fails."""
    writer = df.write.mode("errorifexists").format(fmt)
    if fmt == "csv":
        writer = writer.options(**_CSV_WRITE)
    try:
        writer.save(target)
    except BaseException:
        files.delete(spark, target)  # ours: it did not exist before
        raise


def _refuse_changed(spark, path: str, listing: Sequence[_Entry], target: str) -> None:
    """Stop, removing ``target``, when the files of ``path`` are no longer those listed before the read."""
    now = _listing(spark, path)
    if now == tuple(listing):
        return
    before, after = {e.name: e for e in listing}, {e.name: e for e in now}
    added, removed = len(after.keys() - before.keys()), len(before.keys() - after.keys())
    changed = sum(1 for n in before.keys() & after.keys() if before[n] != after[n])
    files.delete(spark, target)
    raise RuntimeError(f"compact: the files in {path} changed while it ran ({added} added, {removed} removed, "
                       f"{changed} rewritten); {path} is as it was and the compacted copy was removed. Run it "
                       "again when nothing writes to the folder")


def _moved(spark, src: str, dst: str) -> tuple[bool, BaseException | None]:
    """Rename ``src`` to ``dst``: ``(True, None)``, or ``(False, the error if it raised one)``."""
    try:
        return files.rename(spark, src, dst), None
    except Exception as exc:  # noqa: BLE001 - the caller raises, naming where the files are, from this error
        return False, exc


def _swap_in(spark, new: str, path: str, old: str) -> None:
    """Replace ``path`` by ``new`` with two renames; if the second fails, rename the original back and check it."""
    aside, err = _moved(spark, path, old)
    if not aside:
        raise RuntimeError(f"compact: could not move {path} aside; it is unchanged, the compacted copy is at "
                           f"{new}") from err
    placed, err = _moved(spark, new, path)
    if placed:
        files.delete(spark, old)
        return
    restored, restore_err = _moved(spark, old, path)
    if not restored:
        raise RuntimeError(f"compact: could not move the compacted copy into {path}, nor move the original files "
                           f"back: they are at {old}, the compacted copy is at {new}; nothing was deleted"
                           ) from (restore_err or err)
    raise RuntimeError(f"compact: could not move {new} into place; {path} was restored (the compacted copy is "
                       f"left at {new})") from err


def partition_stats(df) -> dict[str, float]:
    """Rows per Spark partition of a DataFrame: count, min, median, max, and max / mean.

    Parameters
    ----------
    df : pyspark.sql.DataFrame

    Returns
    -------
    dict
        ``partitions, rows, min, median, max, skew`` (max / mean); empty
        partitions count as 0 rows.

    Notes
    -----
    Spark Connect has no RDDs: there, the rows are counted per
    ``spark_partition_id()`` and the number of partitions (empty ones included)
    is the task count of the query's last stage, measured.
    """
    counts = _partition_counts(df)
    s = pd.Series(counts, dtype=float)
    mean = s.mean() if len(s) else 0.0
    return {"partitions": len(counts), "rows": int(s.sum()), "min": float(s.min()) if len(s) else 0.0,
            "median": float(s.median()) if len(s) else 0.0, "max": float(s.max()) if len(s) else 0.0,
            "skew": float(s.max() / mean) if mean else 0.0}


def _partition_counts(df) -> list[int]:
    """Rows in each partition of ``df``, in partition order."""
    spark = df.sparkSession
    if not runtime.is_connect(spark):
        return df.rdd.glom().map(len).collect()
    from pyspark.sql import functions as F

    m = measure(spark, noop(df), "partitions")
    parts = len(m.stage_tasks_ms[max(m.stage_tasks_ms)]) if m.stage_tasks_ms else 0  # the result stage
    rows = {r["p"]: r["count"] for r in df.groupBy(F.spark_partition_id().alias("p")).count().collect()}
    return [int(rows.get(i, 0)) for i in range(max(parts, len(rows)))]


def partitioning_types(df, key: str, order: str, n: int = 8) -> pd.DataFrame:
    """Rows per partition after each way of partitioning: hash, range, round robin, coalesce.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str
        The hash-partitioning column.
    order : str
        The range-partitioning column.
    n : int
        Target partitions.

    Returns
    -------
    pandas.DataFrame
        One row per method, with :func:`partition_stats`'s columns. ``coalesce``
        merges partitions without a shuffle, so it cannot even out their sizes.
    """
    require_columns(df, [key, order])
    positive_int("n", n)
    ways = {f"hash repartition({n}, {key})": df.repartition(n, key),
            f"range repartitionByRange({n}, {order})": df.repartitionByRange(n, order),
            f"round robin repartition({n})": df.repartition(n),
            f"repartition({n - 1}) then coalesce({max(1, n // 3)})": df.repartition(n - 1).coalesce(max(1, n // 3)),
            f"repartition({max(1, n // 3)})": df.repartition(max(1, n // 3))}
    return pd.DataFrame({name: partition_stats(frame) for name, frame in ways.items()}).T


def _drop_orphan_location(spark, database: str, name: str) -> None:
    """Remove a managed table's folder left by an earlier session (the in-memory catalog forgot the table)."""
    warehouse = spark.conf.get("spark.sql.warehouse.dir").rstrip("/")
    folder = f"{warehouse}/{name}" if database == "default" else f"{warehouse}/{database}.db/{name}"
    if files.exists(spark, folder):
        files.delete(spark, folder)


def bucketed_tables(spark, frames: dict, by: str, buckets: int, sort_by: str | None = None,
                    database: str = "default") -> dict[str, str]:
    """Save DataFrames as tables bucketed (and sorted) the same way, so joins on ``by`` need no shuffle.

    Parameters
    ----------
    spark : SparkSession
    frames : dict of table name to DataFrame
    by : str
        Bucketing column (the join key).
    buckets : int
        Number of buckets (the same for every table, or Spark shuffles again).
    sort_by : str, optional
        Sort column within each bucket (``by`` by default).
    database : str

    Returns
    -------
    dict
        Table name to its qualified name; the tables are replaced if they exist.
    """
    positive_int("buckets", buckets)
    out = {}
    for name, df in frames.items():
        require_columns(df, by, "bucketing column")
        qualified = f"{database}.{name}"
        spark.sql(f"DROP TABLE IF EXISTS {qualified}")
        _drop_orphan_location(spark, database, name)
        (df.write.mode("overwrite").format("parquet").bucketBy(buckets, by).sortBy(sort_by or by)
         .saveAsTable(qualified))
        out[name] = qualified
    return out


def pruning_table(spark, layouts: Mapping[str, str], queries: Mapping[str, str], all_query: str = "all"
                  ) -> pd.DataFrame:
    """Run each query on each Parquet layout and read what the scan opened: files, bytes, filters, Athena cost.

    Parameters
    ----------
    spark : SparkSession
    layouts : mapping of name to path
        For example ``{"hive": ..., "flat": ...}`` from :func:`write_lake`.
    queries : mapping of name to SQL filter
        Must include ``all_query``, the query that reads everything (the
        reference for the fractions).
    all_query : str

    Returns
    -------
    pandas.DataFrame
        Indexed by (query, layout): ``files``, ``bytes``, ``partition filters``,
        ``pushed filters``, ``fraction of all bytes`` and ``athena usd``
        (:func:`labkit.aws.prices.athena_cost_usd` of the bytes).
    """
    from labkit.aws.prices import athena_cost_usd

    if all_query not in queries:
        raise ValueError(f"queries must include {all_query!r}, the full read the fractions are taken against")
    rows = []
    for qname, where in queries.items():
        for layout, path in layouts.items():
            m = measure(spark, noop(spark.read.parquet(path).filter(where)), f"{layout}: {qname}")
            rows.append({"query": qname, "layout": layout, "files": m.input_files, "bytes": m.files_read_bytes,
                         "partition filters": m.plan.partition_filters, "pushed filters": m.plan.pushed_filters})
    table = pd.DataFrame(rows).set_index(["query", "layout"])
    full = {layout: table.loc[(all_query, layout), "bytes"] for layout in layouts}
    table["fraction of all bytes"] = [b / max(full[layout], 1) for (_, layout), b in table["bytes"].items()]
    table["athena usd"] = [athena_cost_usd(int(b)) for b in table["bytes"]]
    return table


def pushdown_experiment(facts, root: str, files: int, column: str = "txn_id", fraction: float = 0.01,
                        row_group_bytes: int = 1024 * 1024) -> pd.DataFrame:
    """Parquet sorted on ``column`` with small row groups against CSV: what a selective filter makes each read.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
        With a numeric ``column`` of distinct values from 0 (``txn_id``).
    root : str
        Folder for the two copies.
    files : int
        Files per copy.
    column : str
    fraction : float
        The filter keeps ``column < fraction * rows``.
    row_group_bytes : int
        ``parquet.block.size``: smaller row groups leave more to skip.

    Returns
    -------
    pandas.DataFrame
        Indexed by (format, query): ``bytes read``, ``rows from the reader``,
        ``pushed filters``; ``attrs["cut"]`` is the filter's bound.
    """
    spark = facts.sparkSession
    require_columns(facts, column)
    sorted_path = f"{root.rstrip('/')}/sorted"
    (facts.orderBy(column).coalesce(positive_int("files", files)).write.mode("overwrite")
     .option("parquet.block.size", row_group_bytes).parquet(sorted_path))
    csv_path = write_lake(facts, f"{root.rstrip('/')}/csv", layout="flat", fmt="csv", files_per_partition=files)
    cut = int(facts.count() * fraction)
    reads = {"parquet": lambda: spark.read.parquet(sorted_path),
             "csv": lambda: read_csv(spark, csv_path, facts.schema)}
    rows = []
    for name, reader in reads.items():
        for label, where in [(f"{fraction:.0%} filter", f"{column} < {cut}"), ("no filter", f"{column} >= 0")]:
            m = measure(spark, noop(reader().filter(where)), f"{name}, {label}")
            rows.append({"format": name, "query": label, "bytes read": m.input_bytes,
                         "rows from the reader": m.input_records, "pushed filters": m.plan.pushed_filters})
    table = pd.DataFrame(rows).set_index(["format", "query"])
    table.attrs["cut"] = cut
    return table


def format_benchmark(facts, root: str, files: int, columns: Sequence[str], repeats: int = 3,
                     formats: Sequence[str] = ("csv", "parquet-snappy", "parquet-zstd")) -> pd.DataFrame:
    """The same rows in several formats: size on disk, a full scan, and a read of a few columns.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
    root : str
    files : int
        Files per format, the same for all.
    columns : sequence of str
        The columns of the narrow read.
    repeats : int
        Interleaved runs per variant (see :func:`labkit.core.bench.compare`).
    formats : sequence of str

    Returns
    -------
    pandas.DataFrame
        Indexed by format: ``MB on disk``, ``bytes``, ``full scan s``,
        ``<n> columns s`` (medians). ``attrs["scans"]`` holds the comparison
        table, and ``attrs["infer_jobs"]``, ``attrs["infer_s"]`` and
        ``attrs["explicit_s"]`` what inferring a CSV schema costs against
        passing one.
    """
    spark = facts.sparkSession
    require_columns(facts, columns)
    sizes = write_formats(facts, root, formats, files=files)
    schema = facts.schema

    def frame(fmt):
        path = sizes.loc[fmt, "path"]
        return read_csv(spark, path, schema) if fmt == "csv" else spark.read.parquet(path)

    narrow = f"{len(columns)} columns s"
    variants = {**{f"{f}: all columns": noop(frame(f)) for f in sizes.index},
                **{f"{f}: {narrow}": noop(frame(f).select(*columns)) for f in sizes.index}}
    scans = compare(variants, repeats=repeats, baseline=f"{sizes.index[0]}: all columns", spark=spark)
    # limit(0).collect() runs no job of its own; it makes Spark Connect analyse the plan inside a (tagged)
    # execution, where a classic session already inferred the schema when the DataFrame was made
    infer = measure(spark, lambda: read_csv(spark, sizes.loc["csv", "path"], infer=True).limit(0).collect(),
                    "infer schema")
    explicit = measure(spark, lambda: read_csv(spark, sizes.loc["csv", "path"], schema).limit(0).collect(),
                       "explicit schema")
    table = pd.DataFrame({"MB on disk": sizes["mb"], "bytes": sizes["bytes"],
                          "full scan s": [scans.loc[f"{f}: all columns", "median_s"] for f in sizes.index],
                          narrow: [scans.loc[f"{f}: {narrow}", "median_s"] for f in sizes.index]}, index=sizes.index)
    table.attrs.update(scans=scans, infer_jobs=infer.jobs, explicit_jobs=explicit.jobs, infer_s=infer.wall_s,
                       explicit_s=explicit.wall_s)
    return table


def small_files_experiment(facts, root: str, naive_tasks: int, partition_by: Sequence[str] = ("year", "month"),
                           repeats: int = 3) -> dict:
    """The small-files problem and its two fixes, measured.

    ``partitionBy`` after a ``naive_tasks``-task shuffle writes up to one file per
    task per folder; :func:`write_lake` repartitions by the partition columns
    first (one file per folder); :func:`compact` rewrites one folder in place.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
    root : str
    naive_tasks : int
    partition_by : sequence of str
    repeats : int

    Returns
    -------
    dict
        ``naive`` and ``compacted`` (:class:`FileStats` of the two layouts),
        ``one_folder_before`` and ``one_folder_after`` (files in the folder
        :func:`compact` rewrote), ``times`` (full scan of each layout,
        :func:`labkit.core.bench.compare`), and the two ``paths``.
    """
    spark = facts.sparkSession
    cols = require_columns(facts, list(partition_by), "partition column")
    naive_path = f"{root.rstrip('/')}/naive"
    facts.repartition(positive_int("naive_tasks", naive_tasks)).write.mode("overwrite").partitionBy(*cols).parquet(
        naive_path)
    fixed_path = write_lake(facts, f"{root.rstrip('/')}/compacted", partition_by=cols)
    first = facts.select(*cols).orderBy(*cols).first()
    folder = naive_path + "".join(f"/{c}={first[c]}" for c in cols)
    before = file_stats(spark, folder).files
    compact(spark, folder)
    times = compare({"many small files": noop(spark.read.parquet(naive_path)),
                     "compacted": noop(spark.read.parquet(fixed_path))}, repeats=repeats,
                    baseline="many small files", spark=spark)
    return {"naive": file_stats(spark, naive_path), "compacted": file_stats(spark, fixed_path),
            "one_folder_before": before, "one_folder_after": file_stats(spark, folder).files, "times": times,
            "paths": {"naive": naive_path, "compacted": fixed_path}}


def file_size_experiment(spark, root: str, large_mb: int = 136, small_mb: int = 4, repeats: int = 3,
                         seed: int = 42):
    """The same rows read as files under 10 MB and as files of at least 128 MB: the guide's two file-size lines.

    The data is generated to size (random doubles, which do not compress): two
    files of at least ``large_mb`` MB, and the same rows as files of about
    ``small_mb`` MB. Both are read in full, interleaved (:func:`labkit.core.bench.compare`).

    Parameters
    ----------
    spark : SparkSession
    root : str
        A scratch folder (two subfolders are written).
    large_mb, small_mb : int
        Target file sizes; ``large_mb`` must be at least 128 and ``small_mb`` under 10.
    repeats, seed : int

    Returns
    -------
    pandas.DataFrame
        The compare table against ``files under 10 MB`` (``speedup`` of the large files is the small files'
        slowdown), with ``files`` and ``mean MB`` per layout.

    Raises
    ------
    ValueError
        For sizes that do not straddle the guide's lines.
    """
    from pyspark.sql import functions as F

    if large_mb < 128 or not 0 < small_mb < 10:
        raise ValueError(f"large_mb must be >= 128 and small_mb in (0, 10): got {large_mb} and {small_mb}")
    rows = int(2 * large_mb * 2**20 / 8 / 4)  # four random doubles per row: 32 bytes that do not compress
    data = spark.range(rows).select(*(F.rand(seed + i).alias(f"x{i}") for i in range(4)))
    paths = {"files under 10 MB": f"{root.rstrip('/')}/small", "files of 128 MB or more": f"{root.rstrip('/')}/large"}
    data.repartition(2).write.mode("overwrite").parquet(paths["files of 128 MB or more"])
    total_mb = file_stats(spark, paths["files of 128 MB or more"]).bytes / 2**20
    data.repartition(max(2, round(total_mb / small_mb))).write.mode("overwrite").parquet(paths["files under 10 MB"])
    stats = {name: file_stats(spark, path) for name, path in paths.items()}
    if min(stats["files of 128 MB or more"].sizes) < 128 * 2**20 or max(stats["files under 10 MB"].sizes) >= 10 * 2**20:
        raise RuntimeError(f"the files missed their sizes: {stats}")
    table = compare({name: noop(spark.read.parquet(path)) for name, path in paths.items()}, repeats=repeats,
                    baseline="files under 10 MB", spark=spark)
    table["files"] = [stats[n].files for n in table.index]
    table["mean MB"] = [stats[n].mean_mb for n in table.index]
    return table


def guide_checks(spark, root: str, partitions: int = 1000) -> dict[str, tuple[Any, str, str, str]]:
    """The guide's partition-sizing arithmetic and two of its partitioning statements, recomputed and run.

    * "400 partitions for 100GB = 256MB" and "50 partitions for 100GB = 2GB": recomputed.
    * "1000 partitions with 100 records each = 1000 tiny files": ``partitions`` partitions of 100 rows
      written as Parquet; the data files counted, per partition (1.0: one tiny file each).
    * ``WHERE year >= 2023 AND month >= 6`` "only scans 2023/06-12, 2024/01-12, 2025/01": the filter run
      over a month-partitioned table from 2021/01 to 2025/01, and the partitions Spark reads counted.

    Parameters
    ----------
    spark : SparkSession
    root : str
        A scratch folder.
    partitions : int
        Partitions of 100 rows for the tiny-files check (1000 is the guide's; a smaller number is quicker).

    Returns
    -------
    dict
        ``{results key: (value, unit, claim id, note)}``.
    """
    from pyspark.sql import functions as F

    tiny = f"{root.rstrip('/')}/tiny_files"
    positive_int("partitions", partitions)
    spark.range(0, 100 * partitions, 1, partitions).write.mode("overwrite").parquet(tiny)  # no shuffle
    stats = file_stats(spark, tiny)
    months = (spark.range(0, 49).select((F.lit(2021) + F.floor(F.col("id") / 12)).cast("int").alias("year"),
                                        (F.col("id") % 12 + 1).cast("int").alias("month"), F.col("id")))
    calendar = f"{root.rstrip('/')}/calendar"
    months.write.mode("overwrite").partitionBy("year", "month").parquet(calendar)
    query = spark.read.parquet(calendar).where("year >= 2023 AND month >= 6")
    read = measure(spark, noop(query), "the guide's filter")
    scanned = sorted(f"{r.year}/{r.month:02d}" for r in query.select("year", "month").collect())
    return {
        "sizing.100gb_in_400_partitions_mb": (100 * 1024 / 400, "MB", "part-100gb-256mb-400", "100 GB / 400"),
        "sizing.100gb_in_50_partitions_mb": (100 * 1024 / 50, "MB", "part-100gb-50-2gb", "100 GB / 50"),
        "smallfiles.100_row_partitions.files_per_partition": (
            stats.files / partitions, "files per partition", "part-1000-tiny-files",
            f"{partitions} partitions of 100 rows: {stats.files} files of {stats.mean_mb * 1024:.1f} KB on average"),
        "pruning.guide_filter.partitions_scanned": (read.input_files, "partitions", "part-guide-filter-months",
                                                    f"scanned {scanned[0]}..{scanned[-1]}: "
                                                    + ", ".join(scanned)),
    }


def tpch_size_ratio(spark, root: str, scale_factor: float = 0.1) -> dict[str, float]:
    """CSV against Parquet (snappy) bytes on realistic data: TPC-H ``lineitem`` from ``tpchgen-cli``.

    Parameters
    ----------
    spark : SparkSession
    root : str
        A local scratch folder (``tpchgen-cli`` writes the CSV there).
    scale_factor : float
        TPC-H scale factor (0.1 is 600,572 rows, about 75 MB of CSV).

    Returns
    -------
    dict
        ``rows``, ``csv_bytes``, ``parquet_bytes`` and ``ratio`` (CSV / Parquet).

    Raises
    ------
    RuntimeError
        When ``tpchgen-cli`` is missing or fails (the message says how to install it).
    """
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).with_name("tpchgen-cli"))
    if not Path(exe).exists():
        raise RuntimeError("tpchgen-cli is not installed: pip install tpchgen-cli (make setup installs it)")
    out = Path(root) / f"tpch-{scale_factor}"
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "lineitem.csv"
    if not csv.exists():
        done = subprocess.run([exe, "-s", str(scale_factor), "--tables", "lineitem", "--format", "csv",
                               "--output-dir", str(out)], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not csv.exists():
            raise RuntimeError(f"tpchgen-cli failed (exit {done.returncode}): {done.stderr[-500:]}")
    df = spark.read.option("header", True).option("inferSchema", True).csv(str(csv))
    pq = str(out / "lineitem.parquet")
    df.write.mode("overwrite").option("compression", "snappy").parquet(pq)
    parquet_bytes = file_stats(spark, pq).bytes
    return {"rows": spark.read.parquet(pq).count(), "csv_bytes": csv.stat().st_size, "parquet_bytes": parquet_bytes,
            "ratio": csv.stat().st_size / parquet_bytes}


def write_lake_checks(facts, root: str) -> dict[str, Any]:
    """What :func:`write_lake` does with bad or awkward input: a missing partition column, nulls, no rows.

    Returns
    -------
    dict
        ``missing column`` (the error message), ``null partition rows`` (rows read back from the null folder,
        equal to the nulls written), ``empty table rows`` (0: an empty write stays readable).
    """
    from pyspark.sql import functions as F

    spark = facts.sparkSession
    try:
        write_lake(facts, f"{root}/bad", partition_by=["year", "no_such_column"])
        raise AssertionError("a missing partition column must be refused")
    except ValueError as err:
        message = str(err)
    with_nulls = facts.withColumn("region", F.when(F.col("txn_id") % 10 == 0, F.lit(None)).otherwise(F.col("region")))
    back = spark.read.parquet(write_lake(with_nulls, f"{root}/nulls", partition_by=["region"]))
    nulls = back.filter("region is null").count()
    if nulls != with_nulls.filter("region is null").count() or not nulls:
        raise AssertionError(f"null partition values were lost: {nulls} read back")
    return {"missing column": message, "null partition rows": nulls,
            "empty table rows": spark.read.parquet(write_lake(facts.limit(0), f"{root}/empty")).count()}


# --- issue #24: range partitioning, bucketed file counts and sizes, files per folder ---------------------------


def range_partitions(df, key: str, n: int) -> pd.DataFrame:
    """``repartitionByRange(n, key)``: rows and the ``[min, max]`` of ``key`` in each partition, in partition order.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str
        The range-partitioning column (orderable).
    n : int
        Target partitions (Spark samples the key to pick ``n - 1`` bounds; fewer distinct keys give fewer).

    Returns
    -------
    pandas.DataFrame
        Indexed by partition id (``spark_partition_id()``): ``rows``, ``min``, ``max`` (nulls ignored; they sort
        first, into partition 0). Empty partitions are absent. ``attrs["ordered"]`` is :func:`ranges_ordered`.

    Notes
    -----
    Spark has range partitioning built in (since 2.3): rows with equal keys land in the same partition, and
    partition ``i`` holds only keys below those of partition ``i + 1``, so the partitions read in order are the
    keys sorted. This is what ``orderBy`` runs before its per-partition sort.
    """
    from pyspark.sql import functions as F

    require_columns(df, key, "range-partitioning column")
    positive_int("n", n)
    parts = (df.repartitionByRange(n, key).groupBy(F.spark_partition_id().alias("partition"))
             .agg(F.count(F.lit(1)).alias("rows"), F.min(key).alias("min"), F.max(key).alias("max")))
    out = parts.toPandas().sort_values("partition").set_index("partition")
    out.attrs["ordered"] = ranges_ordered(out)
    return out


def ranges_ordered(bounds: pd.DataFrame) -> bool:
    """Whether each partition's ``[min, max]`` lies strictly above the one before it (disjoint and in order).

    Parameters
    ----------
    bounds : pandas.DataFrame
        ``min`` and ``max`` per partition, in partition order (:func:`range_partitions`); partitions that hold
        only nulls (``min`` missing) are skipped.

    Returns
    -------
    bool

    Examples
    --------
    >>> ranges_ordered(pd.DataFrame({"min": [1, 5, 9], "max": [4, 8, 9]}))
    True
    >>> ranges_ordered(pd.DataFrame({"min": [1, 4], "max": [4, 8]}))
    False
    """
    known = bounds.dropna(subset=["min", "max"])
    lo, hi = list(known["min"]), list(known["max"])
    return all(a <= b for a, b in zip(lo, hi, strict=True)) and all(a < b for a, b in zip(hi[:-1], lo[1:], strict=True))


def _tasks(df) -> int:
    """Partitions of ``df`` (the tasks that write it)."""
    if runtime.is_connect(df.sparkSession):
        return len(_partition_counts(df))
    return df.rdd.getNumPartitions()


def _bucket_id(file: str) -> int:
    """The bucket id Spark puts in a bucketed file's name (``part-00000-<uuid>_00003.c000.snappy.parquet``)."""
    import re

    found = re.search(r"_(\d+)\.c\d+", file.rsplit("/", 1)[-1])
    if not found:
        raise ValueError(f"{file.rsplit('/', 1)[-1]} is not a bucketed file name (no _<bucket>.c<n> part)")
    return int(found.group(1))


def _refuse_existing(spark, root: str, tables: Sequence[str] = ()) -> None:
    """Refuse a ``root`` folder or a table that already exists: nothing is overwritten."""
    if files.exists(spark, root):
        raise FileExistsError(f"{root} already exists; name a folder that does not (nothing is overwritten)")
    for table in tables:
        if spark.catalog.tableExists(table):
            raise FileExistsError(f"table {table} already exists; drop it or choose another prefix")


def bucketing_layouts(df, key: str, buckets: int, root: str, database: str = "default",
                      prefix: str = "bucketed", drop_tables: bool = False) -> pd.DataFrame:
    """Write ``bucketBy(buckets, key)`` tables with and without a matching ``repartition(buckets, key)``.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The input as it arrives: its partitions are the write's tasks (T) in the plain write.
    key : str
        The bucketing column.
    buckets : int
        Buckets (n).
    root : str
        A folder that does not exist yet; each table's files go to ``<root>/<layout>`` (external tables).
    database : str
        An existing database for the two tables ``<prefix>_plain`` and ``<prefix>_repartitioned``, which must
        not exist yet (nothing is overwritten). Drop them when done, or pass ``drop_tables``.
    prefix : str
    drop_tables : bool
        Drop the two tables once their files are listed (external tables: the files stay under ``root``).

    Returns
    -------
    pandas.DataFrame
        Indexed by layout (``bucketBy only``, ``repartition(n, key) + bucketBy``): ``table``, ``tasks``,
        ``buckets``, ``files``, ``files bound`` (T x n), ``bucket ids`` (distinct, from the file names),
        ``largest file bytes``, ``median file bytes``, ``largest / median``, ``bytes``; ``attrs["files"]`` maps a
        layout to its ``[(bucket id, bytes)]``.

    Raises
    ------
    ValueError
        For a key the frame lacks, a bad count or a database or prefix that is not a plain name.
    FileExistsError
        When ``root`` or a table already exists.

    Notes
    -----
    Every write task opens one file per bucket it holds rows of, so the plain write makes up to ``T x n``
    files. After ``repartition(n, key)`` task ``i`` holds exactly bucket ``i``: Spark buckets with the hash of
    its shuffle, ``pmod(murmur3_hash(key), n)`` (the SQL ``hash()``, seed 42), so there are at most ``n``
    files, one per non-empty bucket. Either way a bucket's file is as big as its keys' rows: a skewed key
    gives one large file. Hive buckets differently (Hive 1/2 by the value's ``hashCode``, Hive 3 by its own
    Murmur3), so Spark's bucketed tables are Spark-specific (``DataFrameWriter.bucketBy`` says so).
    """
    spark = df.sparkSession
    require_columns(df, key, "bucketing column")
    positive_int("buckets", buckets)
    database, prefix, root = plain_name("database", database), plain_name("prefix", prefix), root.rstrip("/")
    layouts = {"bucketBy only": ("plain", df), f"repartition(n, {key}) + bucketBy": ("repartitioned",
                                                                                       df.repartition(buckets, key))}
    tables = {name: f"{database}.{prefix}_{short}" for name, (short, _) in layouts.items()}
    _refuse_existing(spark, root, tables.values())
    rows, listing = [], {}
    for name, (short, frame) in layouts.items():
        path = f"{root}/{short}"
        (frame.write.format("parquet").option("path", path).bucketBy(buckets, key).sortBy(key)
         .saveAsTable(tables[name]))
        found = sorted((_bucket_id(p), n) for p, n in files.list_files(spark, path))
        listing[name] = found
        sizes = pd.Series([n for _, n in found], dtype=float)
        rows.append({"layout": name, "table": tables[name], "tasks": _tasks(frame), "buckets": buckets,
                     "files": len(found), "files bound": _tasks(frame) * buckets,
                     "bucket ids": len({b for b, _ in found}), "largest file bytes": int(sizes.max()),
                     "median file bytes": float(sizes.median()), "largest / median": sizes.max() / sizes.median(),
                     "bytes": int(sizes.sum())})
    out = pd.DataFrame(rows).set_index("layout")
    out.attrs["files"] = listing
    for table in tables.values() if drop_tables else ():
        spark.sql(f"DROP TABLE {table}")
    return out


def folder_layouts(df, root: str, by: str, other: str, tasks: int, coarser: str | None = None) -> pd.DataFrame:
    """Files per ``partitionBy`` folder after no repartition, ``repartition(tasks, by)`` and by another column.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The input as it arrives (its partitions are the tasks of the first layout).
    root : str
        A folder that does not exist yet; each layout is written to ``<root>/<n>``.
    by : str
        The partition column (the guide's ``date_column``).
    other : str
        Another column to hash on (a key that is not the partition column).
    tasks : int
        ``n`` of the ``repartition(n, ...)`` layouts (the guide's 200).
    coarser : str, optional
        Also write ``repartition(tasks, by)`` then ``partitionBy(coarser)``, for a column that ``by`` determines
        (a month of a date): the guide's own ``repartition(200, "date_column")`` before ``partitionBy("year",
        "month", ...)``.

    Returns
    -------
    pandas.DataFrame
        Indexed by layout: ``tasks``, ``partition column``, ``folders``, ``files``, ``files per folder max``,
        ``files per folder min``, ``path``; ``attrs["values"]`` is the number of distinct values of ``by`` (the
        folders of a ``partitionBy(by)``).

    Raises
    ------
    ValueError
        For columns the frame lacks or a bad ``tasks``.
    FileExistsError
        When ``root`` exists.

    Notes
    -----
    A task writes one file into each folder it holds rows of. ``repartition(n, by)`` puts all rows of a value
    of ``by`` into one task, so each ``by`` folder gets exactly one file (several values that hash to the same
    task are still separate folders). A coarser folder (a month) gets one file per task holding any of its
    dates: at most the number of dates in it, not ``n``. Without a repartition, or hashed on another column,
    every task that holds a value writes into its folder: up to tasks x folders files.
    """
    spark = df.sparkSession
    require_columns(df, [by, other] + ([coarser] if coarser else []))
    positive_int("tasks", tasks)
    root = root.rstrip("/")
    _refuse_existing(spark, root)
    layouts = {"no repartition": (df, by), f"repartition({tasks}, {by})": (df.repartition(tasks, by), by),
               f"repartition({tasks}, {other})": (df.repartition(tasks, other), by)}
    if coarser:
        layouts[f"repartition({tasks}, {by}), partitionBy({coarser})"] = (df.repartition(tasks, by), coarser)
    rows = []
    for i, (name, (frame, column)) in enumerate(layouts.items()):
        path = f"{root}/{i}"
        frame.write.format("parquet").partitionBy(column).save(path)
        per_folder = pd.Series([p.rsplit("/", 1)[0] for p, _ in files.list_files(spark, path)]).value_counts()
        rows.append({"layout": name, "tasks": _tasks(frame), "partition column": column,
                     "folders": len(per_folder), "files": int(per_folder.sum()),
                     "files per folder max": int(per_folder.max()), "files per folder min": int(per_folder.min()),
                     "path": path})
    out = pd.DataFrame(rows).set_index("layout")
    out.attrs["values"] = df.select(by).distinct().count()
    return out


def write_layouts(facts, root: str, files: int, partition_by: Sequence[str] = ("year", "month")) -> pd.DataFrame:
    """Write the same rows twice, Hive-partitioned and flat, and list what each layout holds.

    Parameters
    ----------
    facts : pyspark.sql.DataFrame
    root : str
        The lake's folder: the layouts go to ``<root>/hive`` and ``<root>/flat``.
    files : int
        Files of the flat layout.
    partition_by : sequence of str
        The Hive layout's partition columns (one file per folder, see :func:`write_lake`).

    Returns
    -------
    pandas.DataFrame
        Indexed by layout (``hive``, ``flat``): ``path``, ``files``, ``bytes``, ``folders``
        (:func:`file_stats`).
    """
    root = root.rstrip("/")
    paths = {"hive": write_lake(facts, f"{root}/hive", partition_by=list(partition_by)),
             "flat": write_lake(facts, f"{root}/flat", layout="flat", files_per_partition=files)}
    spark = facts.sparkSession
    rows = {name: {"path": path, **{k: v for k, v in vars(file_stats(spark, path)).items() if k != "sizes"}}
            for name, path in paths.items()}
    return pd.DataFrame(rows).T[["path", "files", "bytes", "folders"]]


def pruning_numbers(pruning: pd.DataFrame, layout: str = "hive") -> list[dict[str, Any]]:
    """The bytes the partitioned layout skips, against the guide's pruning claims, ready for ``lab.record(**r)``.

    - ``pruning.one_of_five.bytes_reduction``: 1 - the fraction of all bytes read for one year of five;
    - ``pruning.two_of_five.bytes_reduction``: the same for two years of five;
    - ``pruning.two_of_five.athena_cost_savings``: 1 - the Athena cost of two years of five over the full read.

    Parameters
    ----------
    pruning : pandas.DataFrame
        :func:`pruning_table` output with the queries ``one of five``, ``two of five`` and ``all``.
    layout : str
        The partitioned layout.

    Returns
    -------
    list of dict
        ``key``, ``value``, ``unit``, ``claim`` and ``note`` of each number.
    """
    one, two = (pruning.loc[(q, layout), "fraction of all bytes"] for q in ("one of five", "two of five"))
    usd = pruning["athena usd"]
    return [
        dict(key="pruning.one_of_five.bytes_reduction", value=1 - one, unit="fraction",
             claim="part-athena-80pct-scanned", note="bytes read, hive layout, 1 of 5 years (machine-independent)"),
        dict(key="pruning.two_of_five.bytes_reduction", value=1 - two, unit="fraction", claim="part-2tb-of-5tb-70pct",
             note="bytes read, hive layout, 2 of 5 years; the guide's own 2 TB of 5 TB is a 60% reduction"),
        dict(key="pruning.two_of_five.athena_cost_savings",
             value=1 - usd.loc[("two of five", layout)] / usd.loc[("all", layout)], unit="fraction",
             claim="part-athena-25-10", note="labkit.aws.prices: Athena bills per TB scanned"),
    ]


def pruning_timings(spark, layouts: Mapping[str, str], queries: Mapping[str, str], repeats: int = 3,
                    all_query: str = "all") -> pd.DataFrame:
    """Time each query but the full read on each Parquet layout, interleaved: variants ``<layout>: <query>``.

    Parameters
    ----------
    spark : SparkSession
    layouts : mapping of name to path
        The first one's first query is the baseline (``{"flat": ..., "hive": ...}``).
    queries : mapping of name to SQL filter
        As for :func:`pruning_table`; ``all_query``, the full read, is not timed.
    repeats : int
        Measured runs per variant (see :func:`labkit.core.bench.compare`).
    all_query : str

    Returns
    -------
    pandas.DataFrame
        The :func:`labkit.core.bench.compare` table, one row per query and layout (queries outer).

    Raises
    ------
    ValueError
        When no query is left to time.
    """
    variants = {f"{layout}: {q}": noop(spark.read.parquet(path).filter(where))
                for q, where in queries.items() if q != all_query for layout, path in layouts.items()}
    if not variants:
        raise ValueError(f"pruning_timings: no query to time besides {all_query!r}: {list(queries)}")
    return compare(variants, repeats=repeats, baseline=next(iter(variants)))


def pruning_time_numbers(times: pd.DataFrame, claims: Mapping[str, str | None], setting: str = "",
                         slower: str = "flat", faster: str = "hive") -> list[dict[str, Any]]:
    """What pruning saves in time, per query: the speedup and the time reduction, ready for ``lab.record(**r)``.

    Parameters
    ----------
    times : pandas.DataFrame
        :func:`pruning_timings` output with the variants ``<slower>: <query>`` and ``<faster>: <query>``.
    claims : mapping of query to claim id or None
        The queries to report, in order, each with the claim its speedup is judged against.
    setting : str
        Added to the speedup's note (the scale).
    slower, faster : str
        The flat and the partitioned layout.

    Returns
    -------
    list of dict
        Per query ``q`` (spaces as ``_``): ``pruning.<q>.time_speedup`` (x, with its spread) and
        ``pruning.<q>.time_reduction`` (1 - partitioned / flat time, its spread from the speedup's).
    """
    out = []
    for q, claim in claims.items():
        row, name = pair_ratio(times, f"{slower}: {q}", f"{faster}: {q}"), q.replace(" ", "_")
        out += [dict(key=f"pruning.{name}.time_speedup", value=float(row["speedup"]), unit="x", claim=claim,
                     note=f"flat / partitioned, {setting}",
                     spread=(float(row["speedup_lo"]), float(row["speedup_hi"]))),
                dict(key=f"pruning.{name}.time_reduction", value=1 - 1 / row["speedup"], unit="time_fraction",
                     spread=(1 - 1 / row["speedup_lo"], 1 - 1 / row["speedup_hi"]),
                     note="1 - partitioned / flat time")]
    return out


def pushdown_number(pushdown: pd.DataFrame) -> dict[str, Any]:
    """The share of rows the Parquet reader decoded for the selective filter, ready for ``lab.record(**r)``.

    Parameters
    ----------
    pushdown : pandas.DataFrame
        :func:`pushdown_experiment` output: its first query is the selective filter.

    Returns
    -------
    dict
        ``pushdown.parquet_rows_decoded_fraction``: rows from the reader with the filter / without it (row
        groups skipped by their statistics).
    """
    rows, selective = pushdown["rows from the reader"], pushdown.index[0][1]
    return dict(key="pushdown.parquet_rows_decoded_fraction",
                value=rows[("parquet", selective)] / rows[("parquet", "no filter")], unit="fraction",
                note="rows the Parquet reader decoded for a 1% filter on the sort column (row groups skipped)")


def scanned_mb(pruning: pd.DataFrame, years: Mapping[str, int]) -> pd.DataFrame:
    """The pruning table flattened for a plot: ``query``, ``layout``, ``years`` the query needs and ``MB`` read.

    Parameters
    ----------
    pruning : pandas.DataFrame
        :func:`pruning_table` output.
    years : mapping of query to int
        The years each query reads.

    Returns
    -------
    pandas.DataFrame
    """
    flat = pruning.reset_index()
    return flat.assign(years=flat["query"].map(dict(years)).to_numpy(), MB=flat["bytes"] / 2**20)


def format_numbers(fmt: pd.DataFrame, tpch: Mapping[str, float], tpch_scale: float, setting: str = ""
                   ) -> list[dict[str, Any]]:
    """The format ratios the guide's claims are judged on, ready for ``lab.record(**r)``.

    - ``formats.parquet_vs_csv.size_ratio``: CSV / Parquet snappy bytes on disk;
    - ``formats.lineitem.size_ratio``: the same for TPC-H lineitem (:func:`tpch_size_ratio`);
    - ``formats.parquet_vs_csv.read_speedup``: CSV / Parquet snappy full-scan time;
    - ``formats.parquet_vs_csv.projection_speedup``: the same for the narrow read.

    Parameters
    ----------
    fmt : pandas.DataFrame
        :func:`format_benchmark` output with rows ``csv`` and ``parquet-snappy`` and a ``2 columns s`` column.
    tpch : mapping
        :func:`tpch_size_ratio` output (``ratio``, ``rows``).
    tpch_scale : float
        Its scale factor, for the note.
    setting : str
        Added to the full scan's note (the scale).

    Returns
    -------
    list of dict
    """
    ratio = fmt.loc["csv"] / fmt.loc["parquet-snappy"]
    return [
        dict(key="formats.parquet_vs_csv.size_ratio", value=ratio["bytes"], unit="x", claim="fmt-csv-parquet-5x-size",
             note="bytes on disk, CSV / Parquet snappy; random columns compress poorly"),
        dict(key="formats.lineitem.size_ratio", value=tpch["ratio"], unit="x", claim="fmt-lineitem-5x-size",
             note=f"TPC-H lineitem, scale factor {tpch_scale}: {tpch['rows']:,} rows, CSV / Parquet snappy bytes"),
        dict(key="formats.parquet_vs_csv.read_speedup", value=ratio["full scan s"], unit="x",
             claim="fmt-csv-parquet-6x-read", note=f"full scan, median, scale {setting}"),
        dict(key="formats.parquet_vs_csv.projection_speedup", value=ratio["2 columns s"], unit="x",
             claim="fmt-columnar-10-100x-query", note="reading 2 of 9 columns"),
    ]


def small_files_numbers(small: Mapping[str, Any], naive_tasks: int) -> list[dict[str, Any]]:
    """The small-files experiment's two numbers, ready for ``lab.record(**r)``.

    - ``smallfiles.compacted_speedup``: full scan of the naive layout / of the compacted one, with its spread;
    - ``smallfiles.naive_files``: the files the naive ``partitionBy`` wrote.

    Parameters
    ----------
    small : dict
        :func:`small_files_experiment` output.
    naive_tasks : int
        The tasks of its naive write, for the note.

    Returns
    -------
    list of dict
    """
    naive, compacted, row = small["naive"], small["compacted"], small["times"].loc["compacted"]
    return [
        dict(key="smallfiles.compacted_speedup", value=float(row["speedup"]), unit="x",
             spread=(float(row["speedup_lo"]), float(row["speedup_hi"])),
             note=f"{naive.files} files of {naive.mean_mb * 1024:.0f} KB vs {compacted.files} files, full scan"),
        dict(key="smallfiles.naive_files", value=naive.files, unit="files",
             note=f"partitionBy after a {naive_tasks}-task shuffle"),
    ]


def kb_per_file(small: Mapping[str, Any]) -> dict[str, list[float]]:
    """The file sizes of the small-files experiment's two layouts in KB, labelled for a histogram.

    Parameters
    ----------
    small : dict
        :func:`small_files_experiment` output.

    Returns
    -------
    dict
        ``naive partitionBy: <n> files`` and ``repartitioned first: <n> files``, each the list of its files' KB.
    """
    naive, compacted = small["naive"], small["compacted"]
    return {f"naive partitionBy: {naive.files} files": [s / 1024 for s in naive.sizes],
            f"repartitioned first: {compacted.files} files": [s / 1024 for s in compacted.sizes]}


def file_size_number(spark, root: str, large_mb: int, small_mb: int = 4, repeats: int = 3) -> dict[str, Any]:
    """The guide's "under 10 MB against 128 MB or more" slowdown, ready for ``lab.record(**r)``; 0 MB skips it.

    Parameters
    ----------
    spark : SparkSession
    root : str
        A scratch folder for :func:`file_size_experiment`.
    large_mb : int
        0 records the number as skipped (value None) without writing anything; otherwise at least 128.
    small_mb, repeats : int

    Returns
    -------
    dict
        ``smallfiles.under_10mb_vs_128mb.slowdown``: time with the small files / with the large ones (x),
        with its spread, judged against ``files-small-files-slower``.
    """
    key, claim = "smallfiles.under_10mb_vs_128mb.slowdown", "files-small-files-slower"
    if not large_mb:
        return dict(key=key, value=None, unit="x", claim=claim, note="skipped")
    row = file_size_experiment(spark, root, large_mb, small_mb, repeats).iloc[1]
    return dict(key=key, value=float(row["speedup"]), unit="x", claim=claim,
                spread=(float(row["speedup_lo"]), float(row["speedup_hi"])),
                note="time with files under 10 MB / with files of 128 MB or more, full scan")


def bucketed_join_plans(spark, facts, dims, key: str, buckets: int,
                        names: Sequence[str] = ("facts_bucketed", "customers_bucketed")):
    """The plans of a join of two tables bucketed the same way on ``key`` and of the same join unbucketed.

    Broadcast joins are off for both, so the join is a shuffle join unless bucketing removes the exchanges.

    Parameters
    ----------
    spark : SparkSession
    facts, dims : pyspark.sql.DataFrame
        The two sides; written as bucketed tables named ``names`` (see :func:`bucketed_tables`).
    key : str
    buckets : int
    names : pair of str

    Returns
    -------
    tuple of labkit.core.plans.PlanSummary
        The bucketed join's and the unbucketed join's.
    """
    from labkit.core.plans import plan_summary
    from labkit.core.session import spark_conf

    tables = bucketed_tables(spark, {names[0]: facts, names[1]: dims}, by=key, buckets=buckets)
    with spark_conf(spark, {"spark.sql.autoBroadcastJoinThreshold": -1}):
        bucketed = plan_summary(spark.table(tables[names[0]]).join(spark.table(tables[names[1]]), key))
        unbucketed = plan_summary(facts.join(dims, key))
    return bucketed, unbucketed
