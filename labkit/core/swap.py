"""One home for an atomic folder swap: renames, each journaled before it is made, undone or rolled forward.

A swap replaces folders by others with renames: the old folder is moved aside, the new one moved into its place,
and the old one deleted once the change is committed. A process can stop between any two of those steps (an error,
an interrupt, a kill), so every move is written to a **journal** before it is made, and whoever finds a journal
left behind finishes the swap (:func:`recover`): *forward* when it was committed (the folders moved aside are
deleted), *back* otherwise (every move made is reversed, newest first). Nothing is deleted before the commit.

It works on this machine's disk through Python (no ``spark`` given, or a Spark Connect session and a local path)
and on any Hadoop file system through a classic session's JVM (``file:``, ``hdfs://``, ``s3a://``). Each rename
is atomic where the file system's rename is (local disk, HDFS). **On S3 it is not**: ``s3a://`` emulates a rename
by copying every object and deleting the originals, so a reader can list a half-moved folder and a stop midway
leaves files in both places (:func:`recover` then refuses to guess, naming both). A table format (Iceberg, Delta,
Hudi) swaps by one atomic metadata commit instead.

How to use it: :func:`swap_folder` is the whole swap of one folder (compact's case). A caller with several folders
or its own commit point (a ledger file) starts a :class:`Swap` on a journal folder, calls :meth:`Swap.move` (or
:meth:`Swap.replace`) per folder, then :meth:`Swap.commit` and :meth:`Swap.finish`, or :meth:`Swap.undo` on a
failure; its next run calls :func:`recover` first, with ``committed=`` when the commit point is its own. A file-level
swap (a folder's *listed* files aside, the new files in) is a :meth:`Swap.replace` per file on one :class:`Swap`.

Examples
--------
>>> import pathlib, shutil, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for name in ("table", "new"):
...     (root / name).mkdir()
...     _ = (root / name / "part-0").write_text(name)
>>> swap_folder(str(root / "new"), str(root / "table"))
>>> (root / "table" / "part-0").read_text(), sorted(p.name for p in root.iterdir())
('new', ['table'])
>>> shutil.rmtree(root)
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit.core import files, runtime

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["Recovery", "Swap", "SwapError", "journal_beside", "read_journal", "recover", "swap_folder"]

_KIND = "labkit.core.swap/1"  # the header of every journal this module writes


class SwapError(RuntimeError):
    """A swap that could not go on, or a journal only a person can recover: the message says where things are."""


# --------------------------------------------------------------------------- two file systems, one small interface


def _local_path(path: str) -> str | None:
    """The local path behind ``path`` (no scheme, or ``file:``), or None for another file system."""
    if path.startswith("file:"):
        rest = path[len("file:"):]
        return "/" + rest.lstrip("/") if rest.startswith("//") else rest
    return None if "://" in path else path


class _Local:
    """This machine's disk, through Python (no JVM)."""

    def qualify(self, path: str) -> str:
        """The absolute path (a ``file:`` prefix dropped)."""
        local = _local_path(str(path))
        if local is None:
            raise ValueError(f"{path} is not a local path: pass a classic SparkSession to swap it over Hadoop")
        return os.path.abspath(local)

    def exists(self, path: str) -> bool:
        """Whether a file or folder is there (a dangling link counts)."""
        return os.path.lexists(path)

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (its parent made first); raises when it does not move."""
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.rename(src, dst)

    def delete(self, path: str) -> None:
        """Delete a file or folder recursively; nothing when it is not there."""
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)

    def names(self, folder: str) -> list[str]:
        """The names directly in ``folder``."""
        return os.listdir(folder)

    def write_new(self, path: str, text: str) -> None:
        """Write a new file whole: a hidden temporary file beside it, synced, renamed (never a torn file)."""
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, path)
        fd = os.open(folder, os.O_RDONLY)  # the new name survives a crash of the machine, not only of the process
        os.fsync(fd)
        os.close(fd)

    def read(self, path: str) -> str:
        """A small file's text."""
        with open(path, encoding="utf-8") as fh:
            return fh.read()

    def inside(self, path: str, root: str) -> bool:
        """Whether ``path`` lies strictly inside ``root`` (symlinks resolved)."""
        target, base = os.path.realpath(path), os.path.realpath(root)
        return target != base and target.startswith(base.rstrip("/") + "/")


class _Hadoop:
    """A classic session's Hadoop ``FileSystem``: ``file:``, ``hdfs://``, ``s3a://`` alike."""

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark

    def _fs(self, path: str):
        """Hadoop's ``(FileSystem, Path)`` for ``path``."""
        jpath = self._spark._jvm.org.apache.hadoop.fs.Path(path)
        return jpath.getFileSystem(self._spark._jsc.hadoopConfiguration()), jpath

    def qualify(self, path: str) -> str:
        """The fully qualified path (``file:/tmp/x``, ``s3a://bucket/x``)."""
        fs, jpath = self._fs(str(path))
        return str(fs.makeQualified(jpath).toString())

    def exists(self, path: str) -> bool:
        """Whether a file or folder is there."""
        return files.exists(self._spark, path)

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (its parent made first); raises when Hadoop says it did not move."""
        fs, jdst = self._fs(dst)
        fs.mkdirs(jdst.getParent())
        if not files.rename(self._spark, src, dst):
            raise OSError(f"the file system did not rename {src} to {dst}")

    def delete(self, path: str) -> None:
        """Delete a file or folder recursively; nothing when it is not there."""
        files.delete(self._spark, path)

    def names(self, folder: str) -> list[str]:
        """The names directly in ``folder``."""
        fs, jpath = self._fs(folder)
        return [str(s.getPath().getName()) for s in fs.listStatus(jpath)]

    def write_new(self, path: str, text: str) -> None:
        """Write a new file whole: a hidden temporary file beside it, closed, then renamed (never a torn file)."""
        parent, name = path.rsplit("/", 1)
        fs, jtmp = self._fs(f"{parent}/.{name}.tmp")
        out = fs.create(jtmp, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
            out.hsync()
        finally:
            out.close()
        if not fs.rename(jtmp, self._fs(path)[1]):
            raise OSError(f"the file system did not rename {parent}/.{name}.tmp to {path}")

    def read(self, path: str) -> str:
        """A small file's text."""
        fs, jpath = self._fs(path)
        stream = fs.open(jpath)
        try:
            return bytes(self._spark._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)).decode("utf-8")
        finally:
            stream.close()

    def inside(self, path: str, root: str) -> bool:
        """Whether ``path`` lies strictly inside ``root`` (both qualified, ``..`` folded)."""
        target, base = posixpath.normpath(self.qualify(path)), posixpath.normpath(self.qualify(root))
        return target != base and target.startswith(base.rstrip("/") + "/")


def _filesystem(spark: SparkSession | None, path: str) -> _Local | _Hadoop:
    """Python for local paths without a session or on Spark Connect; a classic session's Hadoop otherwise."""
    if spark is None:
        return _Local()
    if runtime.is_connect(spark):
        if _local_path(str(path)) is None:
            runtime.require_classic(spark, f"swapping folders on {path} (a file system other than this machine's)")
        return _Local()
    return _Hadoop(spark)


def _child(folder: str, name: str) -> str:
    """``folder/name`` for a local or a Hadoop path."""
    return f"{folder.rstrip('/')}/{name}"


# --------------------------------------------------------------------------- the journal


def _entries(fs: _Local | _Hadoop, journal: str) -> list[dict[str, Any]] | None:
    """A journal's entries in order, or None when there is no live journal (no folder, or no header)."""
    if not fs.exists(journal):
        return None
    try:
        names = sorted(n for n in fs.names(journal) if n.endswith(".json") and not n.startswith("."))
    except Exception as exc:  # noqa: BLE001 - a file where a journal folder should be: named, not guessed at
        raise SwapError(f"{journal} is not a swap journal (a folder of entries): {exc}") from None
    if not names or names[0] != "000000.json":
        return None  # a journal being removed (its header goes first) or never begun: nothing is pending
    try:
        entries = [json.loads(fs.read(_child(journal, n))) for n in names]
    except ValueError as exc:
        raise SwapError(f"the swap journal {journal} has an unreadable entry ({exc}); kept for a person") from None
    if entries[0].get("kind") != _KIND:
        raise SwapError(f"{journal} is not a journal of labkit.core.swap (its header is {entries[0]!r}); kept")
    return entries


def _drop_journal(fs: _Local | _Hadoop, journal: str) -> None:
    """Remove a journal: its header first (one file, so the journal is dead at once), then the rest."""
    fs.delete(_child(journal, "000000.json"))
    fs.delete(journal)


def _undo_moves(fs: _Local | _Hadoop, moves: list[dict[str, Any]], journal: str) -> int:
    """Reverse every move that was made, newest first; the number reversed. Safe to run again."""
    undone = 0
    for move in reversed(moves):
        src, dst = move["src"], move["dst"]
        if not fs.exists(dst):
            continue  # journaled, never made (or already reversed)
        if fs.exists(src):
            raise SwapError(f"cannot undo the move {src} -> {dst}: both are present (another writer, or a rename "
                            f"that copies, as on S3, stopped midway); journal {journal} kept for a person")
        fs.rename(dst, src)
        undone += 1
    return undone


def _remove(fs: _Local | _Hadoop, paths: Iterable[str]) -> None:
    """Delete each path (recursively; a missing one is fine)."""
    for path in paths:
        fs.delete(path)


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did with a journal a stopped swap left."""

    meta: dict[str, Any]  # the journal's meta, as its swap wrote it
    action: str  # "forward" (it had committed: the old folders deleted) or "back" (every move made reversed)
    journaled: int  # moves in the journal
    undone: int  # moves reversed (0 forward)


def read_journal(journal: str, spark: SparkSession | None = None) -> dict[str, Any] | None:
    """The meta of the unfinished swap whose journal is at ``journal``, or None when there is none.

    ``journal`` is the folder a :class:`Swap` was started with; ``spark`` a classic session for one on a Hadoop
    file system. Raises :class:`SwapError` for a journal that cannot be read (kept for a person).
    """
    fs = _filesystem(spark, journal)
    entries = _entries(fs, fs.qualify(journal))
    return None if entries is None else dict(entries[0].get("meta") or {})


def recover(journal: str, spark: SparkSession | None = None,
            committed: Callable[[dict[str, Any]], bool] | None = None, within: str | None = None) -> Recovery | None:
    """Finish or undo the swap a stopped process left at ``journal``: forward when committed, else back.

    Parameters
    ----------
    journal : str
    spark : SparkSession, optional
        For a journal on a Hadoop file system (a classic session).
    committed : callable, optional
        ``committed(meta) -> bool``: whether the swap had reached its caller's own commit point (for example a
        ledger file written). By default, whether :meth:`Swap.commit` was journaled.
    within : str, optional
        Refuse, before anything moves, a journal naming a path outside this folder (a journal is data).

    Returns
    -------
    Recovery or None
        None when there was no unfinished swap.

    Raises
    ------
    SwapError
        For a move that cannot be reversed (both its ends present) or an unreadable journal; the journal is kept.
    ValueError
        For a path outside ``within``; nothing moved.
    """
    fs = _filesystem(spark, journal)
    journal = fs.qualify(journal)
    entries = _entries(fs, journal)
    if entries is None:
        if fs.exists(journal):
            fs.delete(journal)  # a journal whose removal stopped part-way, or one never begun
        return None
    meta, cleanup = dict(entries[0].get("meta") or {}), list(entries[0].get("cleanup", []))
    moves = [e for e in entries if e.get("step") == "move"]
    if within is not None:
        outside = [p for m in moves for p in (m["src"], m["dst"]) if not fs.inside(p, within)]
        outside += [p for p in cleanup if not fs.inside(p, within)]
        if outside:
            raise ValueError(f"the swap journal {journal} names paths outside {within}: {outside}; nothing moved")
    done = committed(meta) if committed is not None else any(e.get("step") == "commit" for e in entries)
    undone = 0
    if done:
        _remove(fs, [m["dst"] for m in moves if m.get("aside")])
    else:
        undone = _undo_moves(fs, moves, journal)
    _remove(fs, cleanup)
    _drop_journal(fs, journal)
    return Recovery(meta, "forward" if done else "back", len(moves), undone)


class Swap:
    """A group of renames, each journaled before it is made, committed, finished or undone as one.

    Parameters
    ----------
    journal : str
        A folder that does not hold an unfinished swap (a dead one is removed); every entry is a new file in it.
    spark : SparkSession, optional
        A classic session for Hadoop paths (``file:``, ``hdfs://``, ``s3a://``); without one, local paths only.
    meta : mapping, optional
        JSON kept in the journal for whoever recovers it (a run id).
    cleanup : iterable of str
        Folders deleted when the swap ends, either way (a staging folder).

    Raises
    ------
    SwapError
        When an unfinished swap's journal is at ``journal``: :func:`recover` it first.
    """

    def __init__(self, journal: str, spark: SparkSession | None = None, meta: Mapping[str, Any] | None = None,
                 cleanup: Iterable[str] = ()) -> None:
        self._fs = _filesystem(spark, journal)
        self.journal = self._fs.qualify(journal)
        if _entries(self._fs, self.journal) is not None:
            raise SwapError(f"an unfinished swap's journal is at {self.journal}: recover it first (swap.recover)")
        self._fs.delete(self.journal)  # a dead journal (no header), if any
        self.meta = dict(meta or {})
        self.moves: list[tuple[str, str]] = []
        self.committed = False
        self._aside: list[str] = []
        self._cleanup = [self._fs.qualify(p) for p in cleanup]
        self._seq = 0
        self._write({"step": "begin", "kind": _KIND, "meta": self.meta, "cleanup": self._cleanup})

    def _write(self, entry: dict[str, Any]) -> None:
        self._fs.write_new(_child(self.journal, f"{self._seq:06d}.json"), json.dumps(entry, default=str))
        self._seq += 1

    def exists(self, path: str) -> bool:
        """Whether a file or folder is at ``path``, on this swap's file system."""
        return self._fs.exists(self._fs.qualify(path))

    def move(self, src: str, dst: str, aside: bool = False) -> None:
        """Journal the move of ``src`` to ``dst``, then make it.

        Parameters
        ----------
        src, dst : str
            ``src`` must exist and ``dst`` must not (a Hadoop rename into a folder would nest it).
        aside : bool
            ``dst`` holds the old files: deleted by :meth:`finish`, moved back by :meth:`undo`.

        Raises
        ------
        SwapError
            Before anything is journaled: a missing ``src``, an existing ``dst``, a committed swap.
        OSError
            When the rename fails (the journaled move was not made: :meth:`undo` skips it).
        """
        src, dst = self._fs.qualify(src), self._fs.qualify(dst)
        if self.committed:
            raise SwapError(f"the swap at {self.journal} is committed: no move after the commit")
        if not self._fs.exists(src):
            raise SwapError(f"nothing to move at {src}")
        if self._fs.exists(dst):
            raise SwapError(f"cannot move {src} to {dst}: {dst} exists")
        self._write({"step": "move", "src": src, "dst": dst, "aside": aside})
        self.moves.append((src, dst))
        if aside:
            self._aside.append(dst)
        self._fs.rename(src, dst)

    def replace(self, path: str, new: str, aside: str) -> None:
        """Move ``path`` to ``aside`` (when it exists), then ``new`` to ``path`` (when it exists)."""
        if self.exists(path):
            self.move(path, aside, aside=True)
        if self.exists(new):
            self.move(new, path)

    def commit(self) -> None:
        """Journal the commit point: from here :func:`recover` rolls the swap forward."""
        self._write({"step": "commit"})
        self.committed = True

    def finish(self) -> None:
        """Delete the folders moved aside and the cleanup folders, then the journal (a stop in between is
        finished again by :func:`recover`)."""
        _remove(self._fs, [*self._aside, *self._cleanup])
        _drop_journal(self._fs, self.journal)

    def undo(self) -> int:
        """Reverse every move made, newest first, then delete the cleanup folders and the journal.

        Returns
        -------
        int
            The moves reversed.

        Raises
        ------
        SwapError
            When a move cannot be reversed (both its ends present); the journal is kept.
        """
        undone = _undo_moves(self._fs, [{"src": s, "dst": d} for s, d in self.moves], self.journal)
        _remove(self._fs, self._cleanup)
        _drop_journal(self._fs, self.journal)
        return undone


def journal_beside(path: str) -> str:
    """The journal :func:`swap_folder` keeps for ``path`` by default: ``<parent>/.<name>.swap`` (hidden from Spark).

    Examples
    --------
    >>> journal_beside("s3a://bucket/lake/day=1/")
    's3a://bucket/lake/.day=1.swap'
    """
    parent, _, name = str(path).rstrip("/").rpartition("/")
    return f"{parent or '.'}/.{name}.swap"


def swap_folder(new: str, path: str, spark: SparkSession | None = None, aside: str | None = None,
                journal: str | None = None) -> None:
    """Replace folder ``path`` by folder ``new`` with two journaled renames; delete the old one after the commit.

    ``path`` -> ``aside``, then ``new`` -> ``path``. Between the renames a reader sees ``path`` missing, never
    half-written (on a file system whose rename is atomic). A process killed in between leaves the journal:
    :func:`recover` of ``journal`` (the next run's first step) puts the original back.

    Parameters
    ----------
    new : str
        The folder to move in.
    path : str
        The folder to replace (it may not exist yet: then ``new`` is moved in).
    spark : SparkSession, optional
        A classic session for Hadoop paths; local paths without one.
    aside : str, optional
        Where the old folder waits for the commit; ``<parent>/.<name>.old-<id>`` by default.
    journal : str, optional
        :func:`journal_beside` of ``path`` by default.

    Raises
    ------
    SwapError
        When ``path`` cannot be moved aside (unchanged) or ``new`` cannot be moved in (the original put back, ``new``
        left where it was), or the original cannot be put back (where both are is named; nothing deleted, journal
        kept). An interrupt is re-raised as it is, after the original is put back.
    """
    parent, _, name = str(path).rstrip("/").rpartition("/")
    aside = aside or f"{parent or '.'}/.{name}.old-{uuid.uuid4().hex[:8]}"
    swap = Swap(journal or journal_beside(path), spark=spark, meta={"swap": "folder", "path": path, "new": new})
    step = f"could not move {path} aside; it is unchanged, the new folder is at {new}"
    try:
        if swap.exists(path):
            swap.move(path, aside, aside=True)
        step = f"could not move {new} into {path}; {path} was restored (the new folder is left at {new})"
        swap.move(new, path)
        step = f"could not journal the commit of {path}'s swap; {path} was restored (the new folder is at {new})"
        swap.commit()
    except BaseException as exc:
        try:
            swap.undo()
        except Exception as undo_exc:
            raise SwapError(f"could not move {new} into {path}, nor move the original back: it is at {aside}, the "
                            f"new folder at {new}; nothing was deleted, journal {swap.journal} kept") from undo_exc
        if not isinstance(exc, Exception):
            raise  # an interrupt: the original is back, the interrupt goes on
        raise SwapError(step) from exc
    swap.finish()
