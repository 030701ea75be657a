"""Where an ingestion run writes, and how it commits: staged partitions, a journaled swap, the load ledger.

Every folder a run of :func:`labkit.scenarios.pipeline.run_ingestion` touches lies inside the warehouse
(:class:`Paths`). Each partition the run touches is rebuilt in a staging folder (:func:`stage`: its old rows but
the re-loaded objects', plus the new rows), then swapped in by :func:`swap_in` through :mod:`labkit.core.swap`:
every move journaled before it is made, the replaced partitions moved to a trash folder, and the **load ledger**
(one entry per object and run, ``<warehouse>/_ledger/<table>/<run_id>.json``) written as the commit point. A run
that finds a journal a stopped run left calls :func:`recover` first: forward when that run's ledger exists (the
trash removed), back otherwise (every move reversed). :func:`read_ledger` reads the ledger.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core import swap
from labkit.core.args import confined, plain_name

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["FAIL_POINTS", "IngestionError", "read_ledger"]

SOURCE = ["_source_key", "_source_sha256"]  # on every table row: the object it came from
FAIL_POINTS = {
    "after_staging": "after staging, before the swap",
    "before_swap": "after the journal was written, before the first move",
    "after_trash": "after an old partition went to the trash, before its new one moved in",
    "during_swap": "after the first partition was swapped, before the others",
    "after_swap": "after every partition was swapped, before the ledger was written",
    "after_ledger": "after the ledger was written (the load committed), before the trash was removed",
    "during_archive": "after the first source was archived and deleted, before the others",
}  # where ``run_ingestion(..., fail_at=...)`` stops a run, to show what each stop leaves


class IngestionError(RuntimeError):
    """A run that stopped. The table is as it was before the run, or, when the stop came after the load was
    committed (its ledger written), holds the load complete; the message says which and why."""


@dataclass(frozen=True)
class Paths:
    """Every folder and file one run of one table uses, each confined to the warehouse."""

    root: Path
    run_id: str
    table: Path
    landing: Path
    staging: Path
    trash: Path
    journal: Path  # the swap's journal folder (labkit.core.swap)
    ledger: Path  # this run's ledger file; its existence is the commit point

    @classmethod
    def of(cls, warehouse: str | Path, name: str, run_id: str) -> Paths:
        """The paths of run ``run_id`` of table ``name`` (both plain names) under ``warehouse``."""
        root = Path(warehouse).resolve()
        plain_name("table name", name)
        plain_name("run_id", run_id)

        def inside(*parts: str) -> Path:
            return confined(root.joinpath(*parts), root, "a warehouse path")

        return cls(root, run_id, inside(name), inside("_landing", name, run_id), inside("_staging", name, run_id),
                   inside("_trash", name, run_id), inside("_journal", name), inside("_ledger", name, f"{run_id}.json"))


@dataclass(frozen=True)
class SourceObject:
    """One source object as it was read: key, ETag, version id (None when unversioned), hash, local file name."""

    key: str
    etag: str
    version_id: str | None
    sha256: str
    landed: str


def checkpoint(point: str, fail_at: str | None) -> None:
    """Stop the run here when ``fail_at`` names this point (an injected failure)."""
    if fail_at == point:
        raise IngestionError(f"injected failure {FAIL_POINTS[point]}")


def write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` to ``path`` atomically: a hidden temporary file beside it, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(doc, out, default=str, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def rmtree(path: Path, root: Path) -> None:
    """Remove a folder the pipeline made, after checking it lies inside the warehouse."""
    shutil.rmtree(confined(path, root, "a folder to remove"), ignore_errors=True)


# --------------------------------------------------------------------------- stage: old rows kept, new rows in


def _existing(spark: SparkSession, table: Path, schema: StructType, column: str) -> DataFrame | None:
    """The table's rows read with this run's schema, or None when it has no partition yet.

    Raises IngestionError, before anything changes, when its folders or columns are not this run's.
    """
    if not table.is_dir():
        return None
    folders = [p.name for p in table.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
    strange = [f for f in folders if not f.startswith(f"{column}=")]
    if strange:
        raise IngestionError(f"table folder {table.name!r} holds {len(strange)} folder(s) that are not "
                             f"{column}=... partitions (partitioned by another column?): nothing was changed")
    if not folders:
        return None
    want = {f.name: f.dataType.simpleString() for f in schema if f.name != column}
    have = {f.name: f.dataType.simpleString() for f in spark.read.parquet(str(table)).schema if f.name != column}
    if want != have:
        raise IngestionError(f"table {table.name!r} has columns {sorted(have.items())}, this run's rows "
                             f"{sorted(want.items())} (a table written before the load ledger has no "
                             f"{SOURCE}: rebuild it): nothing was changed")
    return spark.read.schema(schema).parquet(str(table))


def _among(column: str, values: Sequence[Any]) -> Column:
    """A condition true where ``column`` is one of ``values`` (None included, matched as null)."""
    from pyspark.sql import functions as F

    known = [v for v in values if v is not None]
    cond = F.col(column).isin(known) if known else F.lit(False)
    return cond | F.col(column).isNull() if any(v is None for v in values) else cond


def _old_partitions(old: DataFrame, ids: DataFrame, column: str) -> list[tuple[Any, str, bool]]:
    """Per partition folder of the table (as it is on disk): its value, and whether it holds a re-loaded object's
    rows. One aggregation."""
    from urllib.parse import unquote

    from pyspark.sql import functions as F

    folder = F.regexp_extract(F.col("_metadata.file_path"), r"/([^/]+)/[^/]+$", 1)
    rows = (old.select(column, folder.alias("_dir"), *SOURCE)
            .join(ids.withColumn("_reloaded", F.lit(True)), SOURCE, "left")
            .groupBy(column, "_dir").agg(F.max(F.coalesce("_reloaded", F.lit(False))).alias("_reloaded")).collect())
    return [(r[0], unquote(r[1]), bool(r[2])) for r in rows]


def stage(spark: SparkSession, typed: DataFrame, objects: Sequence[SourceObject], paths: Paths, column: str,
          values: Sequence[Any] | None = None) -> list[str]:
    """Write every partition the run touches to staging: its old rows but the re-loaded objects', plus the new.

    ``values`` are the distinct values of ``column`` in ``typed`` when the caller has counted them (else they are
    read). Returns the partition folders to swap: those staged and those whose every row is being replaced.
    """
    from pyspark.sql import functions as F

    ids = F.broadcast(spark.createDataFrame([(o.key, o.sha256) for o in objects],
                                            f"{SOURCE[0]} string, {SOURCE[1]} string"))
    old = _existing(spark, paths.table, typed.schema, column)
    staged, old_dirs = typed, []
    if old is not None:
        values = list(values) if values is not None else [r[0] for r in typed.select(column).distinct().collect()]
        folders = _old_partitions(old, ids, column)
        values += [v for v, _, reloaded in folders if reloaded and v not in values]
        old_dirs = [d for v, d, _ in folders if v in values]
        staged = typed.unionByName(old.where(_among(column, values)).join(ids, SOURCE, "left_anti"))
    staged.write.mode("overwrite").partitionBy(column).parquet(str(paths.staging))
    new_dirs = [p.name for p in paths.staging.iterdir() if p.is_dir() and p.name.startswith(f"{column}=")] \
        if paths.staging.is_dir() else []
    return sorted(set(new_dirs) | set(old_dirs))


def ledger_entries(objects: Sequence[SourceObject], run_id: str, read: dict[tuple[str, str], int],
                   loaded: dict[tuple[str, str], tuple[int, list[str]]], quarantined: dict[str, int]) -> list[dict]:
    """One ledger entry per object read: rows loaded, quarantined and rejected, the partitions it loaded into.

    ``read`` and ``loaded`` are keyed by (key, SHA-256): the good rows read, and the rows loaded with their
    partitions; ``quarantined`` by the object's landed file name.
    """
    now = datetime.now(timezone.utc).isoformat()
    out = []
    for o in objects:
        rows, parts = loaded.get((o.key, o.sha256), (0, []))
        out.append({"source_key": o.key, "version_id": o.version_id, "etag": o.etag, "sha256": o.sha256,
                    "run_id": run_id, "rows": rows, "quarantined": quarantined.get(o.landed, 0),
                    "rejected": read.get((o.key, o.sha256), 0) - rows, "partitions": parts, "loaded_at": now})
    return out


# --------------------------------------------------------------------------- the swap and its recovery


def _move_in(moves: swap.Swap, paths: Paths, part: str, fail_at: str | None) -> None:
    """Old partition → trash, staged partition → table; each move journaled first (by ``moves``)."""
    dest, staged, aside = paths.table / part, paths.staging / part, paths.trash / part
    if dest.exists():
        moves.move(str(dest), str(aside), aside=True)
        checkpoint("after_trash", fail_at)
    if staged.exists():
        moves.move(str(staged), str(dest))


def swap_in(paths: Paths, parts: Sequence[str], entries: list[dict], fail_at: str | None) -> None:
    """Swap the staged partitions in and commit (write the ledger); on any error or interrupt, recover first."""
    moves = swap.Swap(str(paths.journal), meta={"run_id": paths.run_id}, cleanup=[str(paths.trash),
                                                                                    str(paths.staging)])
    try:
        checkpoint("before_swap", fail_at)
        for part in parts:
            _move_in(moves, paths, part, fail_at)
            checkpoint("during_swap", fail_at)
        checkpoint("after_swap", fail_at)
        write_json(paths.ledger, entries)  # the commit point
        checkpoint("after_ledger", fail_at)
    except BaseException:
        recover(paths)
        raise
    moves.finish()


def recover(paths: Paths) -> str | None:
    """Finish or undo the swap a stopped run left (its journal): forward when its ledger exists, else back.

    Returns what was done, or None when there was no journal. Raises ValueError, before anything moves, for a
    journal naming a run id that is not a plain name or a path outside the warehouse, and IngestionError for a
    move that cannot be undone (the journal is kept for a person to look at).
    """
    try:
        meta = swap.read_journal(str(paths.journal))
        if meta is None:
            return None
        run = Paths.of(paths.root, paths.table.name, plain_name("the journal's run_id", meta.get("run_id")))
        done = swap.recover(str(paths.journal), committed=lambda _: run.ledger.exists(), within=str(paths.root))
    except swap.SwapError as exc:
        raise IngestionError(f"cannot recover the partition swap a stopped run left: {exc}") from exc
    if done is None:
        return None
    if done.action == "forward":
        return f"run {run.run_id} had committed its load: rolled forward (its trash removed)"
    return f"run {run.run_id} stopped during its partition swap: rolled back ({done.journaled} moves)"


def read_ledger(warehouse: str, table: str) -> pd.DataFrame:
    """The load ledger of a table: one row per source object and run, oldest first.

    Parameters
    ----------
    warehouse : str
    table : str
        The table's name (``TableSpec.name``).

    Returns
    -------
    pandas.DataFrame
        ``source_key, version_id, etag, sha256, run_id, rows, quarantined, rejected, partitions, loaded_at`` and
        ``current``: True on the latest entry of each object (key and hash), the one whose rows the table holds.
    """
    folder = Paths.of(warehouse, table, "ledger").ledger.parent
    files = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []
    rows = [e for p in files for e in json.loads(p.read_text(encoding="utf-8"))]
    cols = ["source_key", "version_id", "etag", "sha256", "run_id", "rows", "quarantined", "rejected", "partitions",
            "loaded_at"]
    df = pd.DataFrame(rows, columns=cols).sort_values(["loaded_at", "run_id", "source_key"], ignore_index=True)
    df["current"] = ~df.duplicated(["source_key", "sha256"], keep="last")
    return df
