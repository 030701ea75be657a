"""The guide's own ingestion project, end to end: S3 ``data/in/`` → checked, masked, typed → a partitioned warehouse.

It composes the lab's topics and writes none of their logic again: ``dq.read_csv_accounted``
reads and accounts for every line, ``dq.split_valid`` applies the rules, ``phi`` masks,
``schema.check_datatype_matching`` counts the values a warehouse type would lose, ``s3`` archives
under names that cannot collide. What is new here is the order, and a load that is idempotent per
source object and atomic (its staging, swap and ledger are :mod:`labkit.scenarios.ledger`):

* every row of the table records the object it came from (``_source_key``, ``_source_sha256``:
  the S3 key and the SHA-256 of the bytes read), and a **load ledger** under
  ``<warehouse>/_ledger/<table>/`` keeps one entry per object and run (key, version id, ETag,
  hash, run id, rows loaded, quarantined, rejected, partitions); :func:`read_ledger` reads it;
* an object is its key *and* its content: loading the same bytes under the same key again (a
  rerun, a re-upload of the same file, a run that picks up what a stopped run left) replaces
  exactly that object's rows; a new key, or new bytes under a known key, adds its rows;
* the table is written to a staging folder first: each partition the run touches is rebuilt as
  its old rows minus the re-loaded objects' rows, plus the new rows, then swapped in
  (:mod:`labkit.core.swap`). Every move is written to a journal *before* it is made, the replaced
  partitions go to a trash folder that is removed only after the ledger (the commit point) is
  written, and a run that finds a journal left by a killed run first rolls it back (no ledger yet)
  or forward (ledger written), and says so.
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
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.core.args import plain_name
from labkit.scenarios import ledger
from labkit.scenarios.ledger import FAIL_POINTS, IngestionError, SourceObject, read_ledger
from labkit.topics import dq, phi, s3, schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["FAIL_POINTS", "IngestionError", "TableSpec", "read_ledger", "run_ingestion"]

_LANDED = "_landed"  # the local file a row was read from, until it is mapped to its object


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


def _apply_phi(df: DataFrame, policy: Mapping[str, str], key: str | None) -> DataFrame:
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


def _fetch(s3c, bucket: str, keys: Sequence[str], landing: Path) -> list[SourceObject]:
    """Download each object to ``o000000.csv``, ``o000001.csv``...: names that cannot collide and Spark lists."""
    landing.mkdir(parents=True, exist_ok=True)
    return [_fetch_one(s3c, bucket, key, landing / f"o{i:06d}.csv") for i, key in enumerate(keys)]


def _fetch_one(s3c, bucket: str, key: str, path: Path) -> SourceObject:
    """One object, streamed to ``path``: its ETag and version id from the same response as its bytes."""
    resp = s3c.get_object(Bucket=bucket, Key=key)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for chunk in resp["Body"].iter_chunks(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    version = resp.get("VersionId")
    return SourceObject(key, resp["ETag"], None if version in (None, "null") else version, digest.hexdigest(),
                        path.name)


# --------------------------------------------------------------------------- read, check, type


def _basename(column: str) -> Column:
    """The file name of a path column (its last component)."""
    from pyspark.sql import functions as F

    return F.regexp_extract(column, r"([^/]+)$", 1)


def _read(spark: SparkSession, landing: Path, objects: Sequence[SourceObject], spec: TableSpec, run_id: str,
          log: dict) -> tuple[dq.Accounted, DataFrame, dict[str, int]]:
    """Read every landed file (accounted), clean the names, tag each row with its object.

    Returns the read (its lines kept cached: the caller unpersists it), the good rows, and per landed file the
    lines quarantined.
    """
    from pyspark.sql import functions as F

    acc = dq.read_csv_accounted(spark, str(landing), spec.schema, run_id=run_id, source_column=_LANDED, cache=True)
    try:
        log["lines"], log["quarantined"] = acc.report["data_lines"], acc.report["quarantined"]
        quarantined: dict[str, int] = {}
        rows = acc.quarantined.groupBy(_basename("file").alias(_LANDED), "reason").count().collect()
        for r in sorted(rows, key=lambda r: (r["reason"], r[_LANDED])):
            why = f"quarantined: {r['reason']}"
            log["reasons"][why] = log["reasons"].get(why, 0) + r["count"]
            quarantined[r[_LANDED]] = quarantined.get(r[_LANDED], 0) + r["count"]
        ids = spark.createDataFrame([(o.landed, o.key, o.sha256) for o in objects],
                                    f"{_LANDED} string, {ledger.SOURCE[0]} string, {ledger.SOURCE[1]} string")
        names = schema.clean_column_names(acc.good.drop(_LANDED)).columns  # cleaned names never start with "_"
        good = acc.good.toDF(*names, _LANDED).withColumn(_LANDED, _basename(_LANDED))
        return acc, good.join(F.broadcast(ids), _LANDED).drop(_LANDED), quarantined
    except BaseException:
        acc.unpersist()
        raise


def _apply_rules(good: DataFrame, spec: TableSpec, log: dict) -> tuple[DataFrame, dict[tuple[str, str], int], int]:
    """The rows that pass the spec's rules (every row when it has none), the rows read per object, the broken rows.

    One aggregation: every row grouped by its object and the rules it broke; the broken ones counted per reason.
    """
    from pyspark.sql import functions as F

    none = F.array().cast("array<string>")
    if spec.rules:
        valid, broken = dq.split_valid(good, spec.rules, cache=False)  # the read under it is cached
        tagged = valid.withColumn("dq_failures", none).unionByName(broken)
    else:
        valid, tagged = good, good.withColumn("dq_failures", none)
    read: dict[tuple[str, str], int] = {}
    per_rule: dict[str, int] = {}
    n_broken = 0
    for r in tagged.groupBy(*ledger.SOURCE, "dq_failures").count().collect():
        read[(r[0], r[1])] = read.get((r[0], r[1]), 0) + r["count"]
        n_broken += r["count"] if r["dq_failures"] else 0
        for why in r["dq_failures"]:  # a row breaking two rules counts for both
            per_rule[why] = per_rule.get(why, 0) + r["count"]
    for why in sorted(per_rule):
        log["reasons"][f"rule: {why}"] = per_rule[why]
    return valid, read, n_broken


def _loaded(typed: DataFrame, column: str) -> tuple[dict[tuple[str, str], tuple[int, list[str]]], list[Any]]:
    """Per object the rows it loads and their partitions (as text, ``null`` for a null value); the distinct
    partition values. One aggregation."""
    from pyspark.sql import functions as F

    part = F.coalesce(F.col(column).cast("string"), F.lit("null"))
    rows = typed.groupBy(*ledger.SOURCE, F.col(column).alias("_value"), part.alias("_part")).count().collect()
    loaded: dict[tuple[str, str], tuple[int, set[str]]] = {}
    values: list[Any] = []
    for r in rows:
        n, parts = loaded.get((r[0], r[1]), (0, set()))
        loaded[(r[0], r[1])] = (n + r["count"], parts | {r["_part"]})
        if r["_value"] not in values:
            values.append(r["_value"])
    return {k: (n, sorted(parts)) for k, (n, parts) in loaded.items()}, values


def _process(spark: SparkSession, good: DataFrame, spec: TableSpec, phi_key: str | None, log: dict,
             lap: Callable[[str], None]) -> tuple[DataFrame, dict[str, Any]]:
    """Derive, apply rules and PHI, and keep the rows whose values survive the warehouse types.

    Returns the typed rows and what the staging and the ledger need: per object the rows read (``read``) and
    the rows loaded with their partitions (``loaded``); the distinct partition values (``values``).
    """
    from pyspark.sql import functions as F

    for name, expr in spec.derive.items():
        good = good.withColumn(name, F.expr(expr))
    lap("read")
    valid, read, n_broken = _apply_rules(good, spec, log)
    lap("rules")
    masked = _apply_phi(valid, spec.phi, phi_key)
    lap("phi")
    log["types"] = schema.check_datatype_matching(masked, spec.target_types).reset_index().to_dict("records")
    typed = schema.to_target_types(masked, spec.target_types)
    loaded, values = _loaded(typed, spec.partition_by)
    n_type = sum(read.values()) - n_broken - sum(n for n, _ in loaded.values())
    if n_type:
        log["reasons"]["type: value would not survive the warehouse type"] = n_type
    log["rejected"] = n_broken + n_type
    lap("types")
    return typed, {"read": read, "loaded": loaded, "values": values}


# --------------------------------------------------------------------------- archive what was read


def _delete_read(s3c, bucket: str, obj: SourceObject) -> str | None:
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


def _archive(s3c, bucket: str, objects: Sequence[SourceObject], log: dict, fail_at: str | None,
             landing: Path) -> None:
    """Archive the bytes of each object read (its landed copy), then delete only what was read; log what is left.

    The archive holds exactly what was loaded: the landed file, checked against the hash taken while it was
    downloaded, not a second download. On a versioned bucket the delete is exact (that version). On an unversioned
    one it is conditional (``If-Match``; checked with ``HeadObject`` first, for servers that ignore it): a
    server that ignores ``If-Match`` on delete leaves the window between that check and the delete, in which a
    re-upload would be deleted unread.
    """
    for obj in objects:
        try:
            body = (landing / obj.landed).read_bytes()  # the bytes loaded, not a second download
            if hashlib.sha256(body).hexdigest() != obj.sha256:
                log["left"][obj.key] = "its landed copy changed since it was loaded: not archived, not deleted"
                continue
            log["archived"].append(s3.archive_with_timestamp(s3c, bucket, obj.key, body=body))
        except s3.S3RecoveryError as exc:
            log["left"][obj.key] = f"not archived, not deleted: {exc}"
            continue
        why = _delete_read(s3c, bucket, obj)
        if why:
            log["left"][obj.key] = why
        ledger.checkpoint("during_archive", fail_at)


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


def _ingest(spark: SparkSession, s3c, bucket: str, keys: Sequence[str], paths: ledger.Paths, spec: TableSpec,
            phi_key: str | None, fail_at: str | None, log: dict, lap: Callable[[str], None]) -> None:
    """Fetch, read, check, stage, swap and commit, then archive: the body of :func:`run_ingestion`."""
    objects = _fetch(s3c, bucket, keys, paths.landing)
    lap("fetch")
    acc, good, quarantined = _read(spark, paths.landing, objects, spec, paths.run_id, log)
    try:  # the read stays cached until the staging is written: every count comes from it
        typed, counts = _process(spark, good, spec, phi_key, log, lap)
        log["partitions"] = ledger.stage(spark, typed, objects, paths, spec.partition_by, counts["values"])
    finally:
        acc.unpersist()
    ledger.checkpoint("after_staging", fail_at)
    entries = ledger.ledger_entries(objects, paths.run_id, counts["read"], counts["loaded"], quarantined)
    log["loaded"] = sum(e["rows"] for e in entries)
    ledger.swap_in(paths, log["partitions"], entries, fail_at)
    lap("load")
    _archive(s3c, bucket, objects, log, fail_at, paths.landing)
    lap("archive")


def run_ingestion(spark: SparkSession, s3c, bucket: str, warehouse: str, spec: TableSpec, run_id: str | None = None,
                  phi_key: str | None = None, fail_at: str | None = None) -> dict[str, Any]:
    """Ingest every CSV under ``s3://bucket/data/in/`` into the warehouse table of ``spec``.

    In order: finish or undo a swap a stopped run left (its journal); list ``data/in/`` (every page); bring each
    object to a local landing folder over the S3 API, under a name that cannot collide and that Spark lists (Spark
    here has no hadoop-aws JAR, so it cannot read ``s3a://``; on a cluster it would read the objects in place),
    keeping its ETag, version id and SHA-256; read them through ``dq.read_csv_accounted``; clean column names;
    derive columns; apply the rules (``dq.split_valid``); apply the PHI policy; check the types against the
    warehouse (``labkit.topics.schema.check_datatype_matching``; rows whose values would not survive are
    rejected); stage each touched partition (its other objects' rows kept, the re-loaded objects' rows
    replaced); swap, journaled; write the ledger (the commit); archive each source (``s3.archive_with_timestamp``,
    that version) and delete that version from ``data/in/``; write the run log to ``logs/YYYY/MM/DD/``.

    An object is its key and its bytes (SHA-256): the same bytes under the same key replace their earlier rows;
    a new key, or new bytes under a known key (a new version), add rows. A file with a header and no data lines
    loads 0 rows, and is archived and logged like any other.

    Parameters
    ----------
    spark : SparkSession
    s3c : botocore.client.S3
        ``labkit.aws.s3.client()``.
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
    paths = ledger.Paths.of(warehouse, spec.name, run_id)
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = seconds.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    log: dict[str, Any] = {"run_id": run_id, "table": spec.name, "recovered": ledger.recover(paths), "lines": 0,
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
        ledger.rmtree(paths.landing, paths.root)
        ledger.rmtree(paths.staging, paths.root)
    log["accounted"] = log["lines"] == log["loaded"] + log["quarantined"] + log["rejected"]
    log["seconds"] = seconds
    log["rows_per_s"] = {k: (log["lines"] / v if v > 0 else None) for k, v in seconds.items()}
    now = datetime.now(timezone.utc)
    log["log_key"] = f"logs/{now:%Y/%m/%d}/{spec.name}_{run_id}.json"
    s3c.put_object(Bucket=bucket, Key=log["log_key"], Body=json.dumps(log, default=str, indent=1).encode())
    return log
