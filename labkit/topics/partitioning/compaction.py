"""Compaction: rewrite a folder of small files into files of a target size, losing and changing nothing.

Only :func:`compact` is public; the rest checks the folder's files before anything is written, reads exactly the
files listed, and swaps the copy in.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit.core import files, runtime, swap
from labkit.topics.partitioning.lake import num_partitions_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["compact"]

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


def compact(spark: SparkSession, path: str, target_file_mb: float = 128, fmt: str = "parquet",
            output: str | None = None) -> str:
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
        When the folder's files changed while compacting (nothing swapped, the copy removed).
    labkit.core.swap.SwapError
        A ``RuntimeError``: when a rename of the swap fails (the original is put back, or the message says where
        it is; nothing is deleted).

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
    deleted (:func:`labkit.core.swap.swap_folder`); if the second rename fails, the original is renamed back, and
    if that fails too the error names where it is. Each rename is journaled before it is made, in
    ``.<name>.swap`` beside ``path``: a compaction killed between the renames leaves the folder missing and the
    journal, and the next :func:`compact` of ``path`` recovers it first (the original put back, with a warning).
    Between the renames a reader would see the folder missing, not half-written; a file written into ``path``
    between the second listing and the first rename (milliseconds) would still be moved aside with the old
    files: only a table format closes that window.

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
    _recover(spark, path)
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


def _listing(spark: SparkSession, path: str) -> tuple[_Entry, ...]:
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


def _hadoop_path(spark: SparkSession, path: str):
    """Hadoop's ``(FileSystem, Path)`` for ``path`` (a classic session)."""
    jpath = spark._jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark._jsc.hadoopConfiguration()), jpath


def _peek(spark: SparkSession, file: str, size: int, first_line: bool = False
          ) -> tuple[bytes, bytes, str | None]:
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


def _check_formats(spark: SparkSession, path: str, listing: Sequence[_Entry], fmt: str) -> None:
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


def _read_listed(spark: SparkSession, path: str, listing: Sequence[_Entry], fmt: str) -> DataFrame:
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


def _write_compacted(spark: SparkSession, df: DataFrame, fmt: str, target: str) -> None:
    """Write ``df`` to ``target`` (which must not exist), removing the partial copy if the write fails."""
    writer = df.write.mode("errorifexists").format(fmt)
    if fmt == "csv":
        writer = writer.options(**_CSV_WRITE)
    try:
        writer.save(target)
    except BaseException:
        files.delete(spark, target)  # ours: it did not exist before
        raise


def _refuse_changed(spark: SparkSession, path: str, listing: Sequence[_Entry], target: str) -> None:
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


def _recover(spark: SparkSession, path: str) -> None:
    """Finish or undo the swap a killed compaction of ``path`` left (its journal beside ``path``), saying so."""
    parent, _, name = path.rpartition("/")
    done = swap.recover(swap.journal_beside(path), spark, within=parent or ".")
    if done is None:
        return
    copy = str(done.meta.get("new", ""))
    ours = copy.rsplit("/", 1)[-1].startswith(f".{name}.compacting-")  # the stopped run's own compacted copy
    if done.action == "back" and ours and files.exists(spark, copy):
        files.delete(spark, copy)
    warnings.warn(f"compact: an earlier compaction of {path} stopped during its swap; its journal was recovered ("
                  + ("the original folder put back" if done.action == "back" else "the old files deleted") + ")",
                  stacklevel=3)


def _swap_in(spark: SparkSession, new: str, path: str, old: str) -> None:
    """Swap ``new`` in for ``path`` with :func:`labkit.core.swap.swap_folder` (journaled renames, undone on failure)."""
    try:
        swap.swap_folder(new, path, spark=spark, aside=old)
    except swap.SwapError as exc:
        raise swap.SwapError(f"compact: {exc}") from exc
