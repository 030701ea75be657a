"""The guide's own ingestion project, end to end: S3 ``data/in/`` → checked, masked, typed → a partitioned warehouse.

It composes the lab's topics and writes none of their logic again: ``dq.read_csv_accounted``
reads and accounts for every line, ``dq.split_valid`` applies the rules, ``phi`` masks, ``s3``
archives under names that cannot collide. What is new here is the order, the corrected
``check_datatype_matching``, and a load that is idempotent per source object and atomic:

* every row of the table records the object it came from (``_source_key``, ``_source_sha256``:
  the S3 key and the SHA-256 of the bytes read), and a **load ledger** under
  ``<warehouse>/_ledger/<table>/`` keeps one entry per object and run (key, version id, ETag,
  hash, run id, rows loaded, quarantined, rejected, partitions); :func:`read_ledger` reads it;
* an object is its key *and* its content: loading the same bytes under the same key again (a
  rerun, a re-upload of the same file, a run that picks up what a stopped run left) replaces
  exactly that object's rows; a new key, or new bytes under a known key, adds its rows;
* the table is written to a staging folder first: each partition the run touches is rebuilt as
  its old rows minus the re-loaded objects' rows, plus the new rows, then swapped in. Every move
  is written to a journal *before* it is made, the replaced partitions go to a trash folder that
  is removed only after the ledger (the commit point) is written, and a run that finds a journal
  left by a killed run first rolls it back (no ledger yet) or forward (ledger written), and says so.
  This rests on an atomic rename, which a local or HDFS file system has and S3 does not (a "move"
  there is a copy and a delete per object): on S3, production swaps by a table format's commit
  (Iceberg, Delta, Hudi: a new snapshot, atomically) or by loading a Redshift staging table and
  ``MERGE``-ing it in one transaction;
* a source is archived and deleted only after the load is committed, and only the version read
  (its version id, or its ETag on an unversioned bucket);
* the run log accounts for every input line: loaded, quarantined (bad CSV) or rejected
  (a rule or a type), each with its reason.

One run at a time per table: a run takes over the journal a stopped run left, so two runs of one
table must not overlap (the guide's job is a daily schedule).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.core.args import confined, plain_name, require_columns
from labkit.topics import dq, phi, s3

__all__ = ["FAIL_POINTS", "IngestionError", "TableSpec", "check_datatype_matching", "clean_column_names",
           "read_ledger", "run_ingestion"]

_NARROWING = {"tinyint": 1, "smallint": 2, "int": 4, "integer": 4, "bigint": 8}


class IngestionError(RuntimeError):
    """A run that stopped. The table is as it was before the run, or, when the stop came after the load was
    committed (its ledger written), holds the load complete; the message says which and why."""


@dataclass(frozen=True)
class TableSpec:
    """What one source feeds: its CSV schema, the warehouse table, its partitioning, rules and PHI policy."""

    name: str
    schema: str  # DDL of the CSV columns, in file order
    partition_by: str  # a column of the cleaned table (derived columns are added by ``derive``)
    rules: str | Sequence[Any] = ""  # DQDL text or dq.rules objects, row-level
    phi: Mapping[str, str] = field(default_factory=dict)  # column -> "pseudonym" | "mask_email" | "redact" | "drop"
    target_types: Mapping[str, str] = field(default_factory=dict)  # warehouse types, where they differ
    derive: Mapping[str, str] = field(default_factory=dict)  # new column -> SQL expression (e.g. the partition)
    reference_key: str | None = None  # an S3 key the job needs (the guide's "reference data")


def clean_column_names(df):
    """Lower-case, trimmed, ``[^a-z0-9_]`` → ``_`` column names (the guide's cleaning step); clashes raise."""
    import re

    names = [re.sub(r"[^a-z0-9_]+", "_", c.strip().lower()).strip("_") or "col" for c in df.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"cleaned column names clash: {dupes} (from {df.columns})")
    return df.toDF(*names)


def _lost(c, source: str, target: str):
    """A condition true where a non-null value of type ``source`` does not survive ``target``."""
    from pyspark.sql import functions as F

    tried = F.expr(f"try_cast(`{c}` AS {target})")
    lost = F.col(c).isNotNull() & tried.isNull()
    fractional = source.startswith("decimal") or source in ("double", "float")
    if fractional and (target.startswith("decimal") or target in _NARROWING):
        # a scale rounded (decimal(10,4) -> (10,2)) or a fraction cut (1.5 -> int 1): cast back, it differs
        lost = lost | (F.col(c).isNotNull() & (tried.cast(source) != F.col(c)))
    if source == "timestamp" and target == "timestamp_ntz":
        lost = F.col(c).isNotNull()  # every value loses its zone
    if source == "string" and target == "timestamp_ntz":
        # a wall clock keeps no zone: an offset other than UTC is dropped, and the instant with it
        offset = F.col(c).rlike(r"[T ]\d{2}:\d{2}.*[+-]\d{2}:?\d{2}$") & ~F.col(c).rlike(r"[+-]00:?00$")
        lost = lost | (F.col(c).isNotNull() & offset)
    return lost


def _kind(source: str, target: str) -> str:
    """What a type change is: same, widening, narrowing number, decimal precision or scale, parse, zone."""
    if source == target:
        return "same"
    if source in _NARROWING and target in _NARROWING:
        return "narrowing number" if _NARROWING[target] < _NARROWING[source] else "widening"
    if source.startswith("decimal") or target.startswith("decimal"):
        return "decimal precision/scale"
    if source == "string" and target in ("date", "timestamp", "timestamp_ntz"):
        return "string to date/time"
    if source == "string":
        return "string to number" if target in _NARROWING or target in ("double", "float") else "string to other"
    if {source, target} == {"timestamp", "timestamp_ntz"}:
        return "time zone"
    return "other"


def check_datatype_matching(df, target_types: Mapping[str, str]) -> pd.DataFrame:
    """Check a frame's columns against the warehouse types, counting the values that would not survive.

    Corrects the guide's version: covers narrowing numbers (bigint → int), decimal precision and scale,
    string → date/timestamp, and timestamp → timestamp_ntz (the zone); counts with ``try_cast`` in one pass;
    an entirely null column is fine (nothing is lost); returns a report instead of raising.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    target_types : mapping of column to Spark SQL type (``"int"``, ``"decimal(8,2)"``, ``"date"``...)

    Returns
    -------
    pandas.DataFrame
        Indexed by column: ``source``, ``target``, ``kind``, ``values_lost``, ``ok``.

    Raises
    ------
    ValueError
        For a target column the frame does not have.

    Examples
    --------
    >>> df = spark.createDataFrame([(1, "2024-02-30"), (2**40, "2024-03-01")], "n bigint, d string")
    >>> check_datatype_matching(df, {"n": "int", "d": "date"})["values_lost"].to_dict()
    {'n': 1, 'd': 1}
    """
    from pyspark.sql import functions as F

    if target_types:  # none: nothing to check, an empty report
        require_columns(df, list(target_types), "target column")
    types = dict(df.dtypes)
    checks = {c: _lost(c, types[c], t) for c, t in target_types.items()}
    counts = df.agg(*[F.sum(F.when(cond, 1).otherwise(0)).alias(c) for c, cond in checks.items()]).first() if checks \
        else {}
    rows = []
    for c, t in target_types.items():
        lost = int(counts[c] or 0)
        rows.append({"column": c, "source": types[c], "target": t, "kind": _kind(types[c], t), "values_lost": lost,
                     "ok": lost == 0})
    return pd.DataFrame(rows, columns=["column", "source", "target", "kind", "values_lost", "ok"]).set_index("column")


def _apply_phi(df, policy: Mapping[str, str], key: str | None):
    """Apply a column → policy map with the phi topic's functions."""
    from pyspark.sql import functions as F

    missing = sorted(c for c in policy if c not in df.columns)
    if missing:  # a typo ("emial") would otherwise load the raw column into the warehouse
        raise IngestionError(f"the PHI policy names column(s) {missing} that the data does not have (its columns: "
                             f"{df.columns}); nothing was loaded")
    out = df
    for c, how in policy.items():
        if how == "pseudonym":
            out = out.withColumn(c, phi.pseudonym(F.col(c), key))
        elif how == "mask_email":
            out = out.withColumn(c, phi.mask_email(F.col(c)))
        elif how == "redact":
            out = out.withColumn(c, phi.redact_text(F.col(c)))
        elif how == "drop":
            out = out.drop(c)
        else:
            raise ValueError(f"unknown PHI policy {how!r} for {c!r}: pseudonym, mask_email, redact or drop")
    return out


# --------------------------------------------------------------------------- where a run reads and writes

_SOURCE = ["_source_key", "_source_sha256"]  # on every table row: the object it came from
_LANDED = "_landed"  # the local file a row was read from, until it is mapped to its object
FAIL_POINTS = {
    "after_staging": "after staging, before the swap",
    "before_swap": "after the journal was written, before the first move",
    "after_trash": "after an old partition went to the trash, before its new one moved in",
    "during_swap": "after the first partition was swapped, before the others",
    "after_swap": "after every partition was swapped, before the ledger was written",
    "after_ledger": "after the ledger was written (the load committed), before the trash was removed",
    "during_archive": "after the first source was archived and deleted, before the others",
}  # where ``run_ingestion(..., fail_at=...)`` stops a run, to show what each stop leaves


@dataclass(frozen=True)
class _Paths:
    """Every folder and file one run of one table uses, each confined to the warehouse."""

    root: Path
    run_id: str
    table: Path
    landing: Path
    staging: Path
    trash: Path
    journal: Path
    ledger: Path  # this run's ledger file; its existence is the commit point

    @classmethod
    def of(cls, warehouse: str | Path, name: str, run_id: str) -> _Paths:
        """The paths of run ``run_id`` of table ``name`` (both plain names) under ``warehouse``."""
        root = Path(warehouse).resolve()
        plain_name("table name", name)
        plain_name("run_id", run_id)

        def inside(*parts: str) -> Path:
            return confined(root.joinpath(*parts), root, "a warehouse path")

        return cls(root, run_id, inside(name), inside("_landing", name, run_id), inside("_staging", name, run_id),
                   inside("_trash", name, run_id), inside("_journal", f"{name}.json"),
                   inside("_ledger", name, f"{run_id}.json"))


@dataclass(frozen=True)
class _Object:
    """One source object as it was read: key, ETag, version id (None when unversioned), hash, local file name."""

    key: str
    etag: str
    version_id: str | None
    sha256: str
    landed: str


def _checkpoint(point: str, fail_at: str | None) -> None:
    """Stop the run here when ``fail_at`` names this point (an injected failure)."""
    if fail_at == point:
        raise IngestionError(f"injected failure {FAIL_POINTS[point]}")


def _write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` to ``path`` atomically: a hidden temporary file beside it, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(doc, out, default=str, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _rmtree(path: Path, root: Path) -> None:
    """Remove a folder the pipeline made, after checking it lies inside the warehouse."""
    shutil.rmtree(confined(path, root, "a folder to remove"), ignore_errors=True)


# --------------------------------------------------------------------------- list and fetch


def _preflight(s3c, bucket: str, spec: TableSpec) -> tuple[list[str], list[str]]:
    """The reference file must exist; the CSV keys under ``data/in/`` (every page), sorted, and the other keys."""
    from botocore.exceptions import ClientError

    if spec.reference_key:
        try:
            s3c.head_object(Bucket=bucket, Key=spec.reference_key)
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError or a missing bucket: both stop the run
            raise IngestionError(f"reference file s3://{bucket}/{spec.reference_key} is missing: {exc}") from None
    try:
        pages = s3c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="data/in/")
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    except ClientError as exc:
        raise IngestionError(f"cannot list s3://{bucket}/data/in/: {exc}") from None
    csv = sorted(k for k in keys if k.endswith(".csv"))
    return csv, sorted(k for k in keys if not k.endswith((".csv", "/")))


def _fetch(s3c, bucket: str, keys: Sequence[str], landing: Path) -> list[_Object]:
    """Download each object to ``o000000.csv``, ``o000001.csv``...: names that cannot collide and Spark lists."""
    landing.mkdir(parents=True, exist_ok=True)
    return [_fetch_one(s3c, bucket, key, landing / f"o{i:06d}.csv") for i, key in enumerate(keys)]


def _fetch_one(s3c, bucket: str, key: str, path: Path) -> _Object:
    """One object, streamed to ``path``: its ETag and version id from the same response as its bytes."""
    resp = s3c.get_object(Bucket=bucket, Key=key)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for chunk in resp["Body"].iter_chunks(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    version = resp.get("VersionId")
    return _Object(key, resp["ETag"], None if version in (None, "null") else version, digest.hexdigest(), path.name)


# --------------------------------------------------------------------------- read, check, type


def _read(spark, landing: Path, objects: Sequence[_Object], spec: TableSpec, run_id: str, log: dict):
    """Read every landed file (accounted), clean the names, tag each row with its object. Returns (good, bad)."""
    from pyspark.sql import functions as F

    acc = dq.read_csv_accounted(spark, str(landing), spec.schema, run_id=run_id, source_column=_LANDED)
    log["lines"], log["quarantined"] = acc.report["data_lines"], acc.report["quarantined"]
    for r in acc.quarantined.groupBy("reason").count().collect():
        log["reasons"][f"quarantined: {r['reason']}"] = r["count"]
    ids = spark.createDataFrame([(o.landed, o.key, o.sha256) for o in objects],
                                f"{_LANDED} string, {_SOURCE[0]} string, {_SOURCE[1]} string")
    names = clean_column_names(acc.good.drop(_LANDED)).columns  # cleaned names never start with "_"
    good = acc.good.toDF(*names, _LANDED).withColumn(_LANDED, F.regexp_extract(_LANDED, r"([^/]+)$", 1))
    bad = acc.quarantined.select(F.regexp_extract("file", r"([^/]+)$", 1).alias(_LANDED)).join(F.broadcast(ids),
                                                                                                 _LANDED)
    return good.join(F.broadcast(ids), _LANDED).drop(_LANDED), bad.drop(_LANDED)


def _apply_rules(good, spec: TableSpec, log: dict):
    """The rows that pass the spec's rules (every row when it has none); the broken ones counted per reason."""
    from pyspark.sql import functions as F

    if not spec.rules:
        return good, 0
    valid, broken = dq.split_valid(good, spec.rules)
    for r in broken.select(F.explode("dq_failures").alias("why")).groupBy("why").count().collect():
        log["reasons"][f"rule: {r['why']}"] = r["count"]
    return valid, broken.count()


def _process(spark, good, spec: TableSpec, phi_key: str | None, log: dict, lap):
    """Derive, apply rules and PHI, and keep the rows whose values survive the warehouse types."""
    from pyspark.sql import functions as F

    for name, expr in spec.derive.items():
        good = good.withColumn(name, F.expr(expr))
    lap("read")
    valid, n_broken = _apply_rules(good, spec, log)
    lap("rules")
    masked = _apply_phi(valid, spec.phi, phi_key).cache()
    n_masked = masked.count()
    lap("phi")
    log["types"] = check_datatype_matching(masked, spec.target_types).reset_index().to_dict("records")
    types = dict(masked.dtypes)
    survive = F.lit(True)
    for c, t in spec.target_types.items():
        survive = survive & ~_lost(c, types[c], t)
    typed = masked.where(survive)
    for c, t in spec.target_types.items():
        typed = typed.withColumn(c, F.expr(f"try_cast(`{c}` AS {t})"))
    n_type = n_masked - typed.count()
    if n_type:
        log["reasons"]["type: value would not survive the warehouse type"] = n_type
    log["rejected"] = n_broken + n_type
    lap("types")
    return typed


# --------------------------------------------------------------------------- stage: old rows kept, new rows in


def _existing(spark, table: Path, schema, column: str):
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
                             f"{_SOURCE}: rebuild it): nothing was changed")
    return spark.read.schema(schema).parquet(str(table))


def _among(column: str, values: Sequence[Any]):
    """A condition true where ``column`` is one of ``values`` (None included, matched as null)."""
    from pyspark.sql import functions as F

    known = [v for v in values if v is not None]
    cond = F.col(column).isin(known) if known else F.lit(False)
    return cond | F.col(column).isNull() if any(v is None for v in values) else cond


def _partition_dirs(df) -> list[str]:
    """The partition folder names the rows of a table scan were read from (as they are on disk)."""
    from urllib.parse import unquote

    from pyspark.sql import functions as F

    parent = F.regexp_extract(F.col("_metadata.file_path"), r"/([^/]+)/[^/]+$", 1)
    return sorted({unquote(r[0]) for r in df.select(parent).distinct().collect()})


def _stage(spark, typed, objects: Sequence[_Object], paths: _Paths, column: str) -> list[str]:
    """Write every partition the run touches to staging: its old rows but the re-loaded objects', plus the new.

    Returns the partition folders to swap: those staged and those whose every row is being replaced.
    """
    from pyspark.sql import functions as F

    ids = F.broadcast(spark.createDataFrame([(o.key, o.sha256) for o in objects],
                                            f"{_SOURCE[0]} string, {_SOURCE[1]} string"))
    old = _existing(spark, paths.table, typed.schema, column)
    staged, old_dirs = typed, []
    if old is not None:
        values = [r[0] for r in typed.select(column).distinct().collect()]
        values += [r[0] for r in old.join(ids, _SOURCE, "left_semi").select(column).distinct().collect()]
        touched = old.where(_among(column, values))
        old_dirs = _partition_dirs(touched)
        staged = typed.unionByName(touched.join(ids, _SOURCE, "left_anti"))
    staged.write.mode("overwrite").partitionBy(column).parquet(str(paths.staging))
    new_dirs = [p.name for p in paths.staging.iterdir() if p.is_dir() and p.name.startswith(f"{column}=")] \
        if paths.staging.is_dir() else []
    return sorted(set(new_dirs) | set(old_dirs))


def _ledger_entries(typed, good, bad, objects: Sequence[_Object], run_id: str, column: str) -> list[dict]:
    """One ledger entry per object read: rows loaded, quarantined and rejected, the partitions it loaded into."""
    from pyspark.sql import functions as F

    loaded = {(r[0], r[1]): (r[2], sorted(r[3])) for r in typed.groupBy(*_SOURCE).agg(
        F.count("*"), F.collect_set(F.coalesce(F.col(column).cast("string"), F.lit("null")))).collect()}
    read = {(r[0], r[1]): r[2] for r in good.groupBy(*_SOURCE).count().collect()}
    quarantined = {(r[0], r[1]): r[2] for r in bad.groupBy(*_SOURCE).count().collect()}
    now = datetime.now(timezone.utc).isoformat()
    out = []
    for o in objects:
        rows, parts = loaded.get((o.key, o.sha256), (0, []))
        out.append({"source_key": o.key, "version_id": o.version_id, "etag": o.etag, "sha256": o.sha256,
                    "run_id": run_id, "rows": rows, "quarantined": quarantined.get((o.key, o.sha256), 0),
                    "rejected": read.get((o.key, o.sha256), 0) - rows, "partitions": parts, "loaded_at": now})
    return out


# --------------------------------------------------------------------------- the swap, its journal, recovery


def _journal_step(paths: _Paths, journal: dict, part: str, move: str) -> None:
    """Record a move in the journal before it is made."""
    journal["steps"].append({"partition": part, "move": move})
    _write_json(paths.journal, journal)


def _move_in(paths: _Paths, part: str, journal: dict, fail_at: str | None) -> None:
    """Old partition → trash, staged partition → table; each move journaled first."""
    dest, staged, aside = paths.table / part, paths.staging / part, paths.trash / part
    if dest.exists():
        _journal_step(paths, journal, part, "old->trash")
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(dest, aside)
        _checkpoint("after_trash", fail_at)
    if staged.exists():
        _journal_step(paths, journal, part, "staged->table")
        paths.table.mkdir(parents=True, exist_ok=True)
        os.replace(staged, dest)


def _swap(paths: _Paths, parts: Sequence[str], entries: list[dict], fail_at: str | None) -> None:
    """Swap the staged partitions in and commit (write the ledger); on any error or interrupt, recover first."""
    journal: dict[str, Any] = {"run_id": paths.run_id, "steps": []}
    _write_json(paths.journal, journal)
    try:
        _checkpoint("before_swap", fail_at)
        for part in parts:
            _move_in(paths, part, journal, fail_at)
            _checkpoint("during_swap", fail_at)
        _checkpoint("after_swap", fail_at)
        _write_json(paths.ledger, entries)  # the commit point
        _checkpoint("after_ledger", fail_at)
    except BaseException:
        _recover(paths)
        raise
    _finish(paths)


def _finish(run: _Paths) -> None:
    """Remove a swap's trash and staging, then its journal (in that order: a stop in between is finished again)."""
    _rmtree(run.trash, run.root)
    _rmtree(run.staging, run.root)
    run.journal.unlink(missing_ok=True)


def _undo(run: _Paths, part: str, move: str) -> None:
    """Undo one journaled move, if it was made (a move is journaled before it is made)."""
    dest = confined(run.table / part, run.table, "a partition folder")
    if move == "staged->table" and not (run.staging / part).exists() and dest.exists():
        shutil.rmtree(dest)  # the new partition (its rows are still in data/in, for the next run)
    elif move == "old->trash" and (run.trash / part).exists():
        if dest.exists():
            raise IngestionError(f"cannot roll back partition {part!r}: both the old one (in the trash) and another "
                                 f"are present; journal {run.journal} kept for a person to look at")
        os.replace(run.trash / part, dest)


def _recover(paths: _Paths) -> str | None:
    """Finish or undo the swap a stopped run left (its journal): forward when its ledger exists, else back.

    Returns what was done, or None when there was no journal.
    """
    if not paths.journal.exists():
        return None
    journal = json.loads(paths.journal.read_text(encoding="utf-8"))
    run = _Paths.of(paths.root, paths.table.name, plain_name("the journal's run_id", journal.get("run_id")))
    if run.ledger.exists():
        _finish(run)
        return f"run {run.run_id} had committed its load: rolled forward (its trash removed)"
    for step in reversed(journal.get("steps", [])):
        _undo(run, step["partition"], step["move"])
    _finish(run)
    return f"run {run.run_id} stopped during its partition swap: rolled back ({len(journal.get('steps', []))} moves)"


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
    folder = _Paths.of(warehouse, table, "ledger").ledger.parent
    files = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []
    rows = [e for p in files for e in json.loads(p.read_text(encoding="utf-8"))]
    cols = ["source_key", "version_id", "etag", "sha256", "run_id", "rows", "quarantined", "rejected", "partitions",
            "loaded_at"]
    df = pd.DataFrame(rows, columns=cols).sort_values(["loaded_at", "run_id", "source_key"], ignore_index=True)
    df["current"] = ~df.duplicated(["source_key", "sha256"], keep="last")
    return df


# --------------------------------------------------------------------------- archive what was read


def _delete_read(s3c, bucket: str, obj: _Object) -> str | None:
    """Delete exactly what was read; the reason when it cannot (the object changed since), else None."""
    from botocore.exceptions import ClientError

    if obj.version_id is not None:
        s3c.delete_object(Bucket=bucket, Key=obj.key, VersionId=obj.version_id)
        return None
    try:
        if s3c.head_object(Bucket=bucket, Key=obj.key)["ETag"] != obj.etag:
            return "changed since it was read: archived as read, not deleted"
        s3c.delete_object(Bucket=bucket, Key=obj.key, IfMatch=obj.etag)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("PreconditionFailed", "412", "404", "NoSuchKey"):
            return "changed since it was read: archived as read, not deleted"
        raise
    return None


def _archive(s3c, bucket: str, objects: Sequence[_Object], log: dict, fail_at: str | None) -> None:
    """Archive each object read (that version, or while it has that ETag), then delete only that; log what is left.

    On a versioned bucket both are exact. On an unversioned one the copy is made only while the ETag matches, and
    the delete is conditional (``If-Match``; checked with ``HeadObject`` first, for servers that ignore it): a
    server that ignores ``If-Match`` on delete leaves the window between that check and the delete, in which a
    re-upload would be deleted unread.
    """
    for obj in objects:
        try:
            log["archived"].append(s3.archive_with_timestamp(s3c, bucket, obj.key, version_id=obj.version_id,
                                                             etag=obj.etag))
        except s3.S3RecoveryError:
            log["left"][obj.key] = "changed or gone since it was read: not archived, not deleted"
            continue
        why = _delete_read(s3c, bucket, obj)
        if why:
            log["left"][obj.key] = why
        _checkpoint("during_archive", fail_at)


# --------------------------------------------------------------------------- the run


def _check_spec(spec: TableSpec, fail_at: str | None) -> None:
    """Refuse, before anything is read or written, a spec or failure point the run cannot honour."""
    plain_name("spec.name", spec.name)
    plain_name("spec.partition_by", spec.partition_by)
    clash = [c for c in [*spec.derive, *spec.phi] if c.startswith("_")]
    if clash:
        raise ValueError(f"derived and PHI columns must not start with '_' (the pipeline's own columns), got {clash}")
    if fail_at is not None and fail_at not in FAIL_POINTS:
        raise ValueError(f"fail_at must be one of {sorted(FAIL_POINTS)} or None, got {fail_at!r}")


def _ingest(spark, s3c, bucket: str, keys: Sequence[str], paths: _Paths, spec: TableSpec, phi_key: str | None,
            fail_at: str | None, log: dict, lap) -> None:
    """Fetch, read, check, stage, swap and commit, then archive: the body of :func:`run_ingestion`."""
    objects = _fetch(s3c, bucket, keys, paths.landing)
    lap("fetch")
    good, bad = _read(spark, paths.landing, objects, spec, paths.run_id, log)
    typed = _process(spark, good, spec, phi_key, log, lap)
    log["partitions"] = _stage(spark, typed, objects, paths, spec.partition_by)
    _checkpoint("after_staging", fail_at)
    entries = _ledger_entries(typed, good, bad, objects, paths.run_id, spec.partition_by)
    log["loaded"] = sum(e["rows"] for e in entries)
    _swap(paths, log["partitions"], entries, fail_at)
    lap("load")
    _archive(s3c, bucket, objects, log, fail_at)
    lap("archive")


def run_ingestion(spark, s3c, bucket: str, warehouse: str, spec: TableSpec, run_id: str | None = None,
                  phi_key: str | None = None, fail_at: str | None = None) -> dict[str, Any]:
    """Ingest every CSV under ``s3://bucket/data/in/`` into the warehouse table of ``spec``.

    In order: finish or undo a swap a stopped run left (its journal); list ``data/in/`` (every page); bring each
    object to a local landing folder over the S3 API, under a name that cannot collide and that Spark lists (Spark
    here has no hadoop-aws JAR, so it cannot read ``s3a://``; on a cluster it would read the objects in place),
    keeping its ETag, version id and SHA-256; read them through ``dq.read_csv_accounted``; clean column names;
    derive columns; apply the rules (``dq.split_valid``); apply the PHI policy; check the types against the
    warehouse (:func:`check_datatype_matching`, rows whose values would not survive are rejected); stage each
    touched partition (its other objects' rows kept, the re-loaded objects' rows replaced); swap, journaled; write
    the ledger (the commit); archive each source (``s3.archive_with_timestamp``, that version) and delete that
    version from ``data/in/``; write the run log to ``logs/YYYY/MM/DD/``.

    An object is its key and its bytes (SHA-256): the same bytes under the same key replace their earlier rows;
    a new key, or new bytes under a known key (a new version), add rows. A file with a header and no data lines
    loads 0 rows, and is archived and logged like any other.

    Parameters
    ----------
    spark : SparkSession
    s3c : botocore.client.S3
        ``labkit.s3.client()``.
    bucket : str
    warehouse : str
        A local folder; the table is ``<warehouse>/<spec.name>``, Parquet, partitioned by ``spec.partition_by``;
        the ledger is under ``<warehouse>/_ledger/<spec.name>/`` (:func:`read_ledger`).
    spec : TableSpec
        ``name`` and ``partition_by`` must be plain names (letters, digits, ``._-``).
    run_id : str, optional
        A plain name, not used before for this table; a timestamp and a random suffix by default.
    phi_key : str, optional
        The HMAC key for pseudonyms (``phi.phi_key`` rules apply).
    fail_at : str, optional
        One of :data:`FAIL_POINTS`: stop the run there, to show what each stop leaves.

    Returns
    -------
    dict
        The run log: ``run_id``, ``recovered`` (what was done with a stopped run's journal, or None), ``files``,
        ``skipped`` (keys under ``data/in/`` that are not ``.csv``, left in place), ``lines`` (data lines),
        ``loaded``, ``quarantined``, ``rejected``, ``reasons`` (count per reason), ``partitions`` swapped,
        ``archived`` keys, ``left`` (key -> why it was not archived or deleted), ``seconds`` per stage,
        ``rows_per_s`` per stage, ``types`` (the type report), ``log_key``; ``accounted`` is True when
        ``lines == loaded + quarantined + rejected``.

    Raises
    ------
    ValueError
        For a ``run_id``, ``spec.name`` or ``spec.partition_by`` that is not a plain name, or an unknown
        ``fail_at``; nothing is read or written.
    IngestionError
        For a missing bucket or reference file, a used run id, a table whose columns or folders are not this
        run's, or an injected failure: see :class:`IngestionError` for the state it leaves.
    """
    run_id = plain_name("run_id", run_id or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S") + "-" +
                        uuid.uuid4().hex[:6])
    _check_spec(spec, fail_at)
    paths = _Paths.of(warehouse, spec.name, run_id)
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = seconds.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    log: dict[str, Any] = {"run_id": run_id, "table": spec.name, "recovered": _recover(paths), "lines": 0,
                           "loaded": 0, "quarantined": 0, "rejected": 0, "reasons": {}, "partitions": [],
                           "archived": [], "left": {}}
    if paths.ledger.exists():
        raise IngestionError(f"run id {run_id!r} was used before for table {spec.name!r}: choose another")
    log["files"], log["skipped"] = _preflight(s3c, bucket, spec)
    lap("list")
    try:
        if log["files"]:
            _ingest(spark, s3c, bucket, log["files"], paths, spec, phi_key, fail_at, log, lap)
    finally:
        _rmtree(paths.landing, paths.root)
        _rmtree(paths.staging, paths.root)
    log["accounted"] = log["lines"] == log["loaded"] + log["quarantined"] + log["rejected"]
    log["seconds"] = seconds
    log["rows_per_s"] = {k: (log["lines"] / v if v > 0 else None) for k, v in seconds.items()}
    now = datetime.now(timezone.utc)
    log["log_key"] = f"logs/{now:%Y/%m/%d}/{spec.name}_{run_id}.json"
    s3c.put_object(Bucket=bucket, Key=log["log_key"], Body=json.dumps(log, default=str, indent=1).encode())
    return log
