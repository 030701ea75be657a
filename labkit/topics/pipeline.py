"""The guide's own ingestion project, end to end: S3 ``data/in/`` → checked, masked, typed → a partitioned warehouse.

It composes the lab's topics and writes none of their logic again: ``dq.read_csv_accounted``
reads and accounts for every line, ``dq.split_valid`` applies the rules, ``phi`` masks, ``s3``
archives under names that cannot collide. What is new here is the order, the corrected
``check_datatype_matching``, and a load that is idempotent and atomic:

* the table is written to a staging folder first, then each partition it touches is swapped
  in (dynamic partition overwrite); a failure before or during the swap puts back every
  partition it had moved, so the table is as it was;
* running the same input twice gives the same table: a partition is replaced, never appended to;
* the run log accounts for every input line: loaded, quarantined (bad CSV) or rejected
  (a rule or a type), each with its reason.
"""

from __future__ import annotations

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

from labkit.core.args import require_columns
from labkit.topics import dq, phi, s3

__all__ = ["IngestionError", "TableSpec", "check_datatype_matching", "clean_column_names", "guide_check_datatype",
           "run_ingestion"]

_NARROWING = {"tinyint": 1, "smallint": 2, "int": 4, "integer": 4, "bigint": 8}


class IngestionError(RuntimeError):
    """A run that stopped; the warehouse table is as it was before the run (the message says why)."""


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


def guide_check_datatype(df, target_types: Mapping[str, str]) -> None:
    """The guide's ``check_datatype_matching``, as its logic reads: only string → number is caught, by a regex.

    Raises a bare ``Exception`` on the first string column holding a non-number when the target is numeric;
    misses narrowing numbers, dates and time zones, and breaks on a column that is entirely null
    (``first()`` of an all-null column returns a row whose value is None).
    """
    import re

    for name, target in target_types.items():
        if dict(df.dtypes).get(name) == "string" and target in ("int", "bigint", "double", "decimal"):
            value = df.select(name).where(f"`{name}` is not null").first()
            if value is None or not re.fullmatch(r"-?\d+(\.\d+)?", value[0]):
                raise Exception(f"Data type mismatch in {name}")  # noqa: TRY002 - the guide's own


def _lost(c, source: str, target: str):
    """A condition true where a non-null value of type ``source`` does not survive ``target``."""
    from pyspark.sql import functions as F

    tried = F.expr(f"try_cast(`{c}` AS {target})")
    lost = F.col(c).isNotNull() & tried.isNull()
    if source.startswith("decimal") and target.startswith("decimal"):
        lost = lost | (F.col(c).isNotNull() & (tried.cast(source) != F.col(c)))  # scale lost: rounded
    if source == "timestamp" and target == "timestamp_ntz":
        lost = F.col(c).isNotNull()  # every value loses its zone
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


def _swap_partitions(staging: Path, table: Path, column: str, fail_during_swap: bool = False) -> list[str]:
    """Move each staged partition into the table; on any error put every moved partition back. Returns them."""
    table.mkdir(parents=True, exist_ok=True)
    trash = table.parent / f".{table.name}.replaced-{uuid.uuid4().hex[:8]}"
    moved: list[tuple[Path, Path | None]] = []
    try:
        for part in sorted(p for p in staging.iterdir() if p.is_dir() and p.name.startswith(f"{column}=")):
            dest = table / part.name
            old = None
            if dest.exists():
                trash.mkdir(exist_ok=True)
                old = trash / part.name
                os.replace(dest, old)
            os.replace(part, dest)
            moved.append((dest, old))
            if fail_during_swap:
                raise IngestionError("injected failure during the partition swap")
    except BaseException:
        for dest, old in reversed(moved):
            shutil.rmtree(dest, ignore_errors=True)
            if old is not None:
                os.replace(old, dest)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)
    return [dest.name for dest, _ in moved]


def run_ingestion(spark, s3c, bucket: str, warehouse: str, spec: TableSpec, run_id: str | None = None,
                  phi_key: str | None = None, fail_at: str | None = None) -> dict[str, Any]:
    """Ingest every CSV under ``s3://bucket/data/in/`` into the warehouse table of ``spec``.

    In order: list ``data/in/``; bring each object to a local landing folder over the S3 API (Spark here has no
    hadoop-aws JAR, so it cannot read ``s3a://``; on a cluster it would read the objects in place); read them
    through ``dq.read_csv_accounted``; clean column names; derive columns; apply the rules (``dq.split_valid``);
    apply the PHI policy; check the types against the warehouse (:func:`check_datatype_matching`, rows whose
    values would not survive are rejected); load the table (staging, then a partition swap); archive each source
    (``s3.archive_with_timestamp``) and delete it from ``data/in/``; write the run log to ``logs/YYYY/MM/DD/``.

    Parameters
    ----------
    spark : SparkSession
    s3c : botocore.client.S3
        ``labkit.s3.client()``.
    bucket : str
    warehouse : str
        A local folder; the table is ``<warehouse>/<spec.name>``, Parquet, partitioned by ``spec.partition_by``.
    spec : TableSpec
    run_id : str, optional
    phi_key : str, optional
        The HMAC key for pseudonyms (``phi.phi_key`` rules apply).
    fail_at : {"after_staging", "during_swap"}, optional
        Inject a failure, to show that the table is left as it was.

    Returns
    -------
    dict
        The run log: ``run_id``, ``files``, ``lines`` (data lines), ``loaded``, ``quarantined``, ``rejected``,
        ``reasons`` (count per reason), ``partitions`` replaced, ``archived`` keys, ``seconds`` per stage,
        ``rows_per_s`` per stage, ``types`` (the type report), ``log_key``; ``accounted`` is True when
        ``lines == loaded + quarantined + rejected``.

    Raises
    ------
    IngestionError
        For a missing bucket or reference file, or an injected failure; the table is unchanged.
    """
    run_id = run_id or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = seconds.get(stage, 0.0) + now - clock[0]
        clock[0] = now

    keys = _preflight(s3c, bucket, spec)
    lap("list")
    log: dict[str, Any] = {"run_id": run_id, "table": spec.name, "files": keys, "lines": 0, "loaded": 0,
                           "quarantined": 0, "rejected": 0, "reasons": {}, "partitions": [], "archived": []}
    root = Path(warehouse)
    landing, staging = root / "_landing" / run_id, root / "_staging" / run_id
    try:
        if keys:
            landing.mkdir(parents=True, exist_ok=True)
            for k in keys:
                s3c.download_file(bucket, k, str(landing / Path(k).name))
            lap("fetch")
            typed = _process(spark, str(landing), spec, run_id, phi_key, log, lap)
            typed.write.mode("overwrite").partitionBy(spec.partition_by).parquet(str(staging))
            log["loaded"] = spark.read.parquet(str(staging)).count()
            if fail_at == "after_staging":
                raise IngestionError("injected failure after staging, before the swap")
            log["partitions"] = _swap_partitions(staging, root / spec.name, spec.partition_by,
                                                 fail_during_swap=fail_at == "during_swap")
            lap("load")
            for k in keys:
                log["archived"].append(s3.archive_with_timestamp(s3c, bucket, k))
                s3c.delete_object(Bucket=bucket, Key=k)
            lap("archive")
    finally:
        shutil.rmtree(landing, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    log["accounted"] = log["lines"] == log["loaded"] + log["quarantined"] + log["rejected"]
    log["seconds"] = seconds
    log["rows_per_s"] = {k: (log["lines"] / v if v > 0 else None) for k, v in seconds.items()}
    now = datetime.now(timezone.utc)
    log["log_key"] = f"logs/{now:%Y/%m/%d}/{spec.name}_{run_id}.json"
    s3c.put_object(Bucket=bucket, Key=log["log_key"], Body=json.dumps(log, default=str, indent=1).encode())
    return log


def _preflight(s3c, bucket: str, spec: TableSpec) -> list[str]:
    """The reference file must exist; the CSV keys under ``data/in/``, sorted."""
    if spec.reference_key:
        try:
            s3c.head_object(Bucket=bucket, Key=spec.reference_key)
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError or a missing bucket: both stop the run
            raise IngestionError(f"reference file s3://{bucket}/{spec.reference_key} is missing: {exc}") from None
    listing = s3c.list_objects_v2(Bucket=bucket, Prefix="data/in/").get("Contents", [])
    return sorted(o["Key"] for o in listing if o["Key"].endswith(".csv"))


def _process(spark, landing: str, spec: TableSpec, run_id: str, phi_key: str | None, log: dict, lap):
    """Read (accounted), clean, derive, apply rules and PHI, and keep the rows whose values survive the types."""
    from pyspark.sql import functions as F

    acc = dq.read_csv_accounted(spark, landing, spec.schema, run_id=run_id)
    log["lines"], log["quarantined"] = acc.report["data_lines"], acc.report["quarantined"]
    for r in acc.quarantined.groupBy("reason").count().collect():
        log["reasons"][f"quarantined: {r['reason']}"] = r["count"]
    good = clean_column_names(acc.good)
    for name, expr in spec.derive.items():
        good = good.withColumn(name, F.expr(expr))
    lap("read")
    valid, broken = dq.split_valid(good, spec.rules) if spec.rules else (good, good.limit(0))
    for r in broken.select(F.explode("dq_failures").alias("why")).groupBy("why").count().collect():
        log["reasons"][f"rule: {r['why']}"] = r["count"]
    n_broken = broken.count()
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
