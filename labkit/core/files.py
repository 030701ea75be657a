"""The few file-system operations the lab needs, on a classic session or on Spark Connect.

A classic session uses the Hadoop ``FileSystem`` of its JVM, so local folders,
``s3a://`` and ``hdfs://`` work alike. A Spark Connect client has no JVM: local
paths (no scheme, or ``file:``) are handled with Python, which is right when the
server shares this machine's disk (``labkit cluster up --connect``); on other
file systems ``exists`` and ``list_files`` ask the server through a read, and
``rename``/``delete`` raise :class:`~labkit.core.runtime.ConnectUnsupported`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from labkit.core import runtime

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["delete", "exists", "list_files", "rename"]


def _local(path: str) -> str | None:
    """The local path behind ``path``, or None for another file system."""
    if path.startswith("file:"):
        return path[len("file:"):].replace("///", "/", 1) if path.startswith("file:///") else path[len("file:"):]
    return None if "://" in path else path


def _hadoop(spark: SparkSession, path: str):
    jpath = spark._jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark._jsc.hadoopConfiguration()), jpath


def exists(spark: SparkSession, path: str) -> bool:
    """Whether a file or folder exists (local, ``s3a://``, ``hdfs://``).

    Parameters
    ----------
    spark : SparkSession
    path : str

    Returns
    -------
    bool
    """
    if not runtime.is_connect(spark):
        fs, jpath = _hadoop(spark, path)
        return bool(fs.exists(jpath))
    local = _local(path)
    if local is not None:
        return os.path.exists(local)
    try:
        spark.read.format("binaryFile").load(path).select("length").limit(1).collect()
        return True
    except Exception as exc:  # noqa: BLE001 - the server answers PATH_NOT_FOUND as an AnalysisException
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
            return False
        raise


def list_files(spark: SparkSession, path: str) -> list[tuple[str, int]]:
    """Every file under ``path``, recursively, as ``(path, bytes)``, skipping names that start with ``_`` or ``.``.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A folder (local or ``s3a://``).

    Returns
    -------
    list of (str, int)

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    if not exists(spark, path):
        raise FileNotFoundError(f"no such path: {path}")
    hidden = lambda p: p.rstrip("/").rsplit("/", 1)[-1].startswith(("_", "."))  # noqa: E731
    if not runtime.is_connect(spark):
        fs, jpath = _hadoop(spark, path)
        it, out = fs.listFiles(jpath, True), []
        while it.hasNext():
            st = it.next()
            out.append((st.getPath().toString(), int(st.getLen())))
        return [(p, n) for p, n in out if not hidden(p)]
    local = _local(path)
    if local is not None:
        root = Path(local)
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        return [(str(p), p.stat().st_size) for p in found if not hidden(str(p))]
    rows = (spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(path)
            .select("path", "length").collect())
    return sorted((r["path"], int(r["length"])) for r in rows if not hidden(r["path"]))


def rename(spark: SparkSession, src: str, dst: str) -> bool:
    """Rename a file or folder; True when it moved.

    Raises
    ------
    ConnectUnsupported
        On Spark Connect for a path that is not local.
    """
    if not runtime.is_connect(spark):
        fs, a = _hadoop(spark, src)
        _, b = _hadoop(spark, dst)
        return bool(fs.rename(a, b))
    a, b = _local(src), _local(dst)
    if a is None or b is None:
        runtime.require_classic(spark, f"renaming {src} (a file system other than this machine's)")
    try:
        os.rename(a, b)
        return True
    except OSError:
        return False


def delete(spark: SparkSession, path: str) -> None:
    """Delete a file or folder, recursively; nothing happens when it does not exist.

    Raises
    ------
    ConnectUnsupported
        On Spark Connect for a path that is not local.
    """
    if not runtime.is_connect(spark):
        fs, jpath = _hadoop(spark, path)
        fs.delete(jpath, True)
        return
    local = _local(path)
    if local is None:
        runtime.require_classic(spark, f"deleting {path} (a file system other than this machine's)")
    if os.path.isdir(local):
        shutil.rmtree(local)
    elif os.path.exists(local):
        os.remove(local)
