"""Data quality with nothing lost: CSV accounted line by line, one-pass rules with reasons, sampling, Parquet checks.

The promise: every input line is either a good row or a quarantined line with
its raw text, its file and its reasons. ``read_csv_accounted`` checks
``data_lines == good + quarantined`` on every call.

Why not Spark's CSV reader alone: CSV column pruning
(``spark.sql.csv.parser.columnPruning.enabled``, on by default) parses only the
columns a query needs. PERMISSIVE marks a line with more or fewer fields than the
schema in ``_corrupt_record`` only when the schema has that column and the query
reads every column; a query on some columns keeps the short line (nulls) and the
long one (extra fields dropped) as good rows, and a schema without the column marks
nothing. With DROPMALFORMED ``count()`` can disagree with what ``collect()`` returns.
So each line is read as text, split with Spark's own CSV parser (``from_csv``) into
strings, and typed with ``try_cast``, which names the failing column instead of
raising under ANSI mode.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.core.args import confined, plain_name, require_columns

__all__ = [
    "Accounted",
    "CheckReport",
    "DQDLSyntaxError",
    "DataQualityError",
    "Rule",
    "accounted_read_mb_s",
    "check",
    "csv_mode_pitfalls",
    "csv_source",
    "diagnose_parquet",
    "failures_by_rule",
    "guide_code_outcomes",
    "guide_duplicate_test",
    "guide_permissive_read",
    "guide_subtract_union",
    "merge_schema_outcome",
    "null_key_sample",
    "pandera_compare",
    "parse_dqdl",
    "permissive_width_cases",
    "precision_recall",
    "quarantine_summary",
    "read_csv_accounted",
    "recall_lines",
    "recall_sweep",
    "recall_sweeps",
    "rules",
    "sampling_cases",
    "sampling_recall",
    "split_valid",
    "strategies",
    "strategy_medians",
    "with_negative_amounts",
    "wrong_width_lines",
]

_WIDE = 4  # string columns read beyond the schema, to see extra fields
_NULL = "\u0001"  # the nullValue: an unquoted empty field becomes null, a quoted "" stays "" (as DuckDB reads them)
_END = "\u0002"  # appended to every line as one more field: the tokeniser puts it at the index = the field count


class DataQualityError(ValueError):
    """Data failed a quality threshold; ``report`` holds the details."""

    def __init__(self, message: str, report: Any = None):
        super().__init__(message)
        self.report = report


@dataclass
class Accounted:
    """The result of :func:`read_csv_accounted`.

    ``good`` and ``quarantined`` are lazy DataFrames over the files. The read caches its inputs only while it
    builds ``report`` (and writes the quarantine), then releases them: each action on ``good`` or
    ``quarantined`` reads the files again. Cache them yourself to use them more than once; if the files change
    in between, they no longer agree with ``report``.
    """

    good: Any  # DataFrame, typed with the schema (plus the source column when asked for)
    quarantined: Any  # DataFrame: raw, file, line, reasons (array), reason (text), run_id
    report: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # headers whose names differ, files without a header


def _schema_fields(spark, schema: str):
    """The StructType of a DDL schema string."""
    from pyspark.sql.types import StructType

    return StructType.fromDDL(schema) if isinstance(schema, str) else schema


def _one_char(name: str, value: Any) -> str:
    """``value`` if it is one character the line reader can use as a CSV option, else a ValueError."""
    if not isinstance(value, str) or len(value) != 1 or value in (_NULL, _END, ",", "\n", "\r"):
        raise ValueError(f"{name} must be one character other than ',' and a line break, got {value!r}")
    return value


def _read_args(spark, path, schema, mode, quarantine_dir, run_id, source_column, comment, escape):
    """Check every argument before anything is read or written: (paths, fields, run id, quarantine target)."""
    if mode not in ("PERMISSIVE", "DROPMALFORMED", "FAILFAST"):
        raise ValueError(f"mode must be PERMISSIVE, DROPMALFORMED or FAILFAST, got {mode!r}")
    fields = list(_schema_fields(spark, schema).fields)
    if not fields:
        raise ValueError("schema names no columns")
    paths = [path] if isinstance(path, str) else list(path)
    if not paths or not all(isinstance(p, str) and p for p in paths):
        raise ValueError(f"path must be a path or a non-empty list of paths, got {path!r}")
    run_id = plain_name("run_id", run_id) if run_id is not None else uuid.uuid4().hex[:12]
    if source_column is not None and (not isinstance(source_column, str) or not source_column
                                      or source_column.lower() in {f.name.lower() for f in fields}):
        raise ValueError(f"source_column must be a column name that is not in the schema, got {source_column!r}")
    if comment is not None:
        _one_char("comment", comment)
    _one_char("escape", escape)
    return paths, fields, run_id, _quarantine_target(quarantine_dir, run_id)


def _quarantine_target(quarantine_dir: str | None, run_id: str) -> str | None:
    """``<quarantine_dir>/run_id=<run_id>``; a local folder is resolved and confined inside ``quarantine_dir``."""
    if quarantine_dir is None:
        return None
    if not isinstance(quarantine_dir, str) or not quarantine_dir:
        raise ValueError(f"quarantine_dir must be a folder path, got {quarantine_dir!r}")
    name = f"run_id={plain_name('run_id', run_id)}"
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", quarantine_dir) and not quarantine_dir.startswith("file:"):
        return f"{quarantine_dir.rstrip('/')}/{name}"  # an object store: the run id is one plain path component
    local = quarantine_dir.removeprefix("file:")
    return str(confined(Path(local) / name, local, "quarantine folder"))


def _numbered_lines(spark, paths: list[str]):
    """(the raw lines, cached; the lines with ``file``, ``line`` (1-based in its file), ``value``; the files listed).

    A line's number is the lines before its block of the file (``_metadata.file_block_start``) plus its place
    in the block: rows of one block are contiguous in one partition, so ``monotonically_increasing_id`` counts
    them in file order. No sort of the data and no single-partition window: only the blocks are ordered.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    source = spark.read.text(paths)
    raw = source.select(
        F.regexp_replace("value", "^\ufeff", "").alias("value"), F.input_file_name().alias("file"),
        F.col("_metadata.file_block_start").alias("_block"), F.monotonically_increasing_id().alias("_id")).cache()
    blocks = raw.groupBy("file", "_block").agg(F.count(F.lit(1)).alias("_n"), F.min("_id").alias("_first"))
    earlier = Window.partitionBy("file").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
    blocks = blocks.withColumn("_before", F.coalesce(F.sum("_n").over(earlier), F.lit(0))).drop("_n")
    lines = raw.join(F.broadcast(blocks), ["file", "_block"]).select(
        "file", (F.col("_before") + F.col("_id") - F.col("_first") + 1).alias("line"), "value")
    return raw, lines, len(source.inputFiles())


def _all(conditions):
    """True when every boolean column is true (null counts as false); true for none."""
    from pyspark.sql import functions as F

    out = F.lit(True)
    for c in conditions:
        out = out & F.coalesce(c, F.lit(False))
    return out


def _tokenise(lines, fields, comment: str | None, escape: str):
    """Add ``_kind0`` (blank, comment, content), ``_t`` (the tokens: Spark's own CSV parser), ``_fields`` (how
    many fields the tokeniser found; -1 when the end marker was not found) and ``_swallowed`` (the end marker
    was read inside a quoted field: a quote never closed)."""
    from pyspark.sql import functions as F

    width = len(fields) + _WIDE
    wide = ", ".join(f"c{i} string" for i in range(width))
    kind0 = F.when(F.length(F.trim("value")) == 0, "blank")
    if comment is not None:
        kind0 = kind0.when(F.col("value").startswith(comment), "comment")
    parsed = lines.withColumn("_kind0", kind0.otherwise("content")).withColumn(
        "_t", F.when(F.col("_kind0") == "content", F.from_csv(F.concat("value", F.lit("," + _END)), wide,
                                                              {"nullValue": _NULL, "escape": escape})))
    toks = F.array(*[F.col(f"_t.c{i}") for i in range(width)])
    return parsed.withColumn("_fields", F.array_position(toks, _END).cast("int") - 1).withColumn(
        "_swallowed", F.coalesce(F.exists(toks, lambda x: x.contains(_END) & (x != _END)), F.lit(False)))


def _header_tests(fields):
    """(the tokens are the schema's names, ignoring case and spaces; exactly; the line cannot be a data row)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    width = F.col("_fields") == len(fields)
    tok = {f.name: F.col(f"_t.c{i}") for i, f in enumerate(fields)}
    names = width & _all([F.lower(F.trim(tok[f.name])) == f.name.lower() for f in fields])
    exact = width & _all([tok[f.name] == f.name for f in fields])
    typed = [_cast(i, f) for i, f in enumerate(fields) if not isinstance(f.dataType, StringType)]
    filled = _all([F.length(F.trim(t)) > 0 for t in tok.values()])
    not_data = width & filled & _all([c.isNull() for c in typed]) if typed else F.lit(False)
    return names, exact, not_data


def _cast(i: int, f):
    """Token ``i`` converted to field ``f``'s type with ``try_cast`` (null when it does not convert)."""
    from pyspark.sql import functions as F

    return F.col(f"_t.c{i}").try_cast(f.dataType)


def _classify(lines, fields, comment: str | None, escape: str):
    """Every line with its ``kind`` (blank, comment, header, data), ``header_mismatch``, ``headerless`` and
    ``reasons`` (empty for a good data line).

    The header rule: the first line of a file that is neither blank nor a comment is its header when it has the
    schema's width and either its names are the schema's (ignoring case and surrounding spaces) or every field is
    non-empty and no non-string field converts to its type (a renamed header). Otherwise the file has no header
    and that line is data. A later line holding the schema's names is a repeated header (quarantined).
    """
    from pyspark.sql import functions as F

    tokens = _tokenise(lines, fields, comment, escape)
    first = tokens.where("_kind0 = 'content'").groupBy("file").agg(F.min("line").alias("_head_line"))
    tokens = tokens.join(F.broadcast(first), "file", "left")
    names, exact, not_data = _header_tests(fields)
    first_line = F.coalesce(F.col("line") == F.col("_head_line"), F.lit(False))
    is_header = first_line & (names | not_data)
    kind = F.when(F.col("_kind0") != "content", F.col("_kind0")).when(is_header, "header").otherwise("data")
    return tokens.select("*", kind.alias("kind"), (is_header & ~exact).alias("header_mismatch"),
                         (first_line & ~is_header).alias("headerless"),
                         F.when(~is_header & (F.col("_kind0") == "content"), _reasons(fields, names))
                         .otherwise(F.array().cast("array<string>")).alias("reasons"))


def _reasons(fields, names):
    """An array column of every reason a data line is bad (empty when it is good)."""
    from pyspark.sql import functions as F

    n, count, swallowed = len(fields), F.col("_fields"), F.col("_swallowed")
    structural = [
        (F.instr("value", "\ufffd") > 0, "invalid UTF-8"),
        (names, "repeated header"),
        (swallowed, "unbalanced quote"),
        ((count > n) | ((count < 0) & ~swallowed), f"extra columns (more than {n})"),
        ((count >= 0) & (count < n), f"missing columns (fewer than {n})"),
    ]
    typed = []
    for i, f in enumerate(fields):
        raw = F.col(f"_t.c{i}")
        bad = raw.isNotNull() & (F.length(raw) > 0) & _cast(i, f).isNull()
        typed.append((bad, f"{f.name}: not a valid {f.dataType.simpleString()}"))

    def reasons(checks):
        return F.filter(F.array(*[F.when(cond, F.lit(text)) for cond, text in checks]), lambda x: x.isNotNull())

    first = reasons(structural)  # a line that is not a record of the right shape: its fields mean nothing
    return F.when(F.size(first) > 0, first).otherwise(reasons(typed))


def read_csv_accounted(spark, path: str | Sequence[str], schema: str, mode: str = "PERMISSIVE",
                       quarantine_dir: str | None = None, run_id: str | None = None,
                       source_column: str | None = None, comment: str | None = None,
                       escape: str = "\\") -> Accounted:
    """Read CSV files with a header so that every data line is a good row or a quarantined line with reasons.

    Parameters
    ----------
    spark : SparkSession
    path : str or list of str
        Files or folders (Spark paths).
    schema : str
        DDL of the expected columns, in file order, e.g. ``"id int, amount decimal(10,2), day date"``.
    mode : {"PERMISSIVE", "DROPMALFORMED", "FAILFAST"}
        PERMISSIVE returns the quarantined lines; DROPMALFORMED returns none
        (they are still counted in the report, and written to ``quarantine_dir``); FAILFAST raises,
        naming the first bad line's file, line number and reasons, before anything is written.
    quarantine_dir : str, optional
        Where the quarantined lines are written (JSON, ``<quarantine_dir>/run_id=<run_id>``, replacing an
        earlier write of the same run id). A local folder is checked to lie inside ``quarantine_dir``.
    run_id : str, optional
        Tags the quarantined lines; a plain name (letters, digits, ``._-``); a random id by default.
    source_column : str, optional
        When set, ``good`` gets a string column of this name holding the file each row came from (Spark's
        ``input_file_name()`` URI, the same value as the quarantine's ``file`` column).
    comment : str, optional
        One character: lines starting with it are comments (counted, not read), as Spark's ``comment`` option.
        By default no line is a comment.
    escape : str
        The character that escapes a quote inside a quoted field: ``\\`` as Spark's CSV default; pass ``'"'``
        for RFC 4180 files that double quotes (pandas, Excel, Python's ``csv``). With ``\\``, a field written
        ``"b""c"`` is read with its quotes, as ``"b""c"`` (the field count is right either way).

    Returns
    -------
    Accounted
        ``good`` (typed), ``quarantined`` (``raw, file, line, reasons, reason, run_id``), ``report`` and
        ``warnings``. ``report``: ``files`` (every file listed, empty ones too), ``empty_files``,
        ``header_lines``, ``header_name_mismatch`` (headers read by position whose names differ from the
        schema's), ``headerless_files`` (files whose first line is data), ``blank_lines``, ``comment_lines``,
        ``data_lines``, ``good``, ``quarantined`` and a count per reason. Lines read = header + blank + comment
        + data lines, and data lines = good + quarantined, checked on every call.

    Raises
    ------
    ValueError
        For an unknown mode, an empty schema, a run id that is not a plain name, a quarantine folder outside
        ``quarantine_dir``, a source column already in the schema.
    DataQualityError
        In FAILFAST mode, naming the first bad line's file, line number and reasons (never its text).

    Notes
    -----
    Each line is split into fields by Spark's own CSV parser (``from_csv``), with an end marker appended as
    one more field: where the marker lands is the line's field count, so an unquoted empty field (the
    parser's null) still counts as a field. A quote that is never closed swallows the marker.

    The header rule: the first line of each file that is neither blank nor a comment is its header when it
    has the schema's width and its names are the schema's (ignoring case and surrounding spaces), or when all
    its fields are non-empty and none of the non-string ones converts to its type (a renamed header). Such a
    header is read by position, counted in ``header_name_mismatch`` and warned about when its names differ
    from the schema's. Otherwise the file has no header: its first line is counted as data (Spark's
    ``header=true`` would drop it) and the file is counted in ``headerless_files``. A later line holding the
    schema's names is a repeated header (concatenated files) and is quarantined.

    Lines are read one by one: a quoted field holding a newline (valid CSV) is
    split in two and both halves are quarantined, with reasons; read such files
    with ``spark.read.option("multiLine", True)`` after checking them, as the
    notebook shows.
    """
    from pyspark.sql import functions as F

    paths, fields, run_id, target = _read_args(spark, path, schema, mode, quarantine_dir, run_id, source_column,
                                               comment, escape)
    raw, lines, files = _numbered_lines(spark, paths)
    checked = _classify(lines, fields, comment, escape).cache()
    try:
        data = checked.where("kind = 'data'")
        good = data.where(F.size("reasons") == 0).select(
            *[_cast(i, f).alias(f.name) for i, f in enumerate(fields)],
            *([F.col("file").alias(source_column)] if source_column else []))
        bad = data.where(F.size("reasons") > 0).select(
            F.col("value").alias("raw"), "file", "line", "reasons", F.array_join("reasons", "; ").alias("reason"),
            F.lit(run_id).alias("run_id"))
        report, notes = _report(files, checked, bad)
        if mode == "FAILFAST" and report["quarantined"]:
            first = bad.orderBy("file", "line").select("file", "line", "reason").first()
            raise DataQualityError(f"FAILFAST: {first['file']} line {first['line']}: {first['reason']} "
                                   f"({report['quarantined']} bad lines in all)", report)
        if target:
            bad.write.mode("overwrite").json(target)
    finally:
        checked.unpersist()
        raw.unpersist()
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return Accounted(good, bad if mode == "PERMISSIVE" else bad.limit(0), report, notes)


def _report(files: int, checked, bad) -> tuple[dict[str, int], list[str]]:
    """The accounting, checked to add up, and the warnings (headers read by position, files without a header)."""
    from pyspark.sql import functions as F

    def count(cond):
        return F.sum(cond.cast("int"))

    kind = F.col("kind")
    row = checked.agg(F.count(F.lit(1)).alias("lines"), F.countDistinct("file").alias("read"),
                      count(kind == "header").alias("header_lines"),
                      count(F.col("header_mismatch")).alias("header_name_mismatch"),
                      count(F.col("headerless")).alias("headerless_files"),
                      count(kind == "blank").alias("blank_lines"), count(kind == "comment").alias("comment_lines"),
                      count(kind == "data").alias("data_lines"),
                      count((kind == "data") & (F.size("reasons") == 0)).alias("good")).first().asDict()
    row = {k: int(v or 0) for k, v in row.items()}
    report = {"files": files, "empty_files": files - row.pop("read"), **row}
    report["quarantined"] = report["data_lines"] - report["good"]
    by_reason = bad.select(F.explode("reasons").alias("r")).groupBy("r").count().collect()
    report.update({f"reason: {r['r']}": int(r["count"]) for r in sorted(by_reason, key=lambda r: r["r"])})
    lines = row["lines"]
    if lines != sum(report[k] for k in ("header_lines", "blank_lines", "comment_lines", "data_lines")):
        raise AssertionError(f"accounting broken: {lines} lines read, {report}")  # never expected: a labkit bug
    notes = []
    if report["header_name_mismatch"] or report["headerless_files"]:
        flagged = checked.where("header_mismatch or headerless").select("file", "header_mismatch").collect()
        renamed = sorted(r["file"] for r in flagged if r["header_mismatch"])
        missing = sorted(r["file"] for r in flagged if not r["header_mismatch"])
        if renamed:
            notes.append(f"{len(renamed)} file(s) have a header whose names differ from the schema's (read by "
                         f"position): {', '.join(renamed[:5])}{' ...' if len(renamed) > 5 else ''}")
        if missing:
            notes.append(f"{len(missing)} file(s) have no header: their first line was read as data: "
                         f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return report, notes


def precision_recall(quarantined, labels: pd.DataFrame) -> dict[str, float]:
    """Precision and recall of a quarantine against ground-truth labels (``file, raw, label``; "good" is clean).

    Lines are matched by file name and text, as multisets.
    """
    from pyspark.sql import functions as F

    got = quarantined.select(F.regexp_extract("file", r"([^/]+)$", 1).alias("file"), "raw").toPandas()
    predicted = got.groupby(["file", "raw"]).size()
    truth = labels[labels["label"] != "good"].groupby(["file", "raw"]).size()
    hits = int(pd.concat([predicted, truth], axis=1).fillna(0).min(axis=1).sum())
    return {"precision": hits / max(int(predicted.sum()), 1), "recall": hits / max(int(truth.sum()), 1),
            "quarantined": int(predicted.sum()), "truly_bad": int(truth.sum())}


# --------------------------------------------------------------------------- rules


class DQDLSyntaxError(ValueError):
    """A rule text that does not parse; the message points at the position."""


@dataclass(frozen=True)
class Rule:
    """One data-quality rule: a dataset metric, a threshold, and (when it has one) a row-level violation."""

    text: str  # the rule as DQDL, used as its name in reports and in dq_failures
    kind: str
    columns: tuple[str, ...] = ()
    op: str = ""
    value: Any = None
    threshold: float = 1.0  # share of rows that must pass (Completeness) or the bound (RowCount)
    reference: str = ""  # ReferentialIntegrity: "table.column"


_OPS = {">": "__gt__", ">=": "__ge__", "<": "__lt__", "<=": "__le__", "=": "__eq__", "!=": "__ne__"}
_RULE_OPS = {"Completeness": tuple(_OPS), "RowCount": (*_OPS, "between"),
             "ColumnValues": (*_OPS, "between", "in", "matches")}
# the type names ColumnDataType accepts: Spark SQL's own names (each is parsed by Spark in the tests), nothing else
_TYPE_NAME = re.compile(r"BOOLEAN|TINYINT|BYTE|SMALLINT|SHORT|INT|INTEGER|BIGINT|LONG|FLOAT|REAL|DOUBLE|DATE|"
                        r"TIMESTAMP|TIMESTAMP_NTZ|TIMESTAMP_LTZ|STRING|BINARY|"
                        r"(?:DECIMAL|DEC|NUMERIC)(?:\(\d{1,2}(?:,\d{1,2})?\))?|(?:VARCHAR|CHAR)\(\d{1,5}\)")


def _checked_op(kind: str, op: Any, value: Any) -> None:
    """Raise :class:`DQDLSyntaxError` unless ``op`` is one of the operators ``kind`` takes and ``value`` fits it."""
    allowed = _RULE_OPS[kind]
    if op not in allowed:
        raise DQDLSyntaxError(f"{kind}: operator {op!r} is not allowed; {kind} takes {' '.join(allowed)}")
    number = (int, float)
    if op == "between":
        ok = isinstance(value, (tuple, list)) and len(value) == 2 and value[0] is not None and value[1] is not None \
            and not value[1] < value[0]
    elif op == "in":
        ok = isinstance(value, (tuple, list)) and len(value) > 0
    elif op == "matches":
        ok = isinstance(value, str)
    elif kind == "ColumnValues":
        ok = isinstance(value, (*number, str)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, number) and not isinstance(value, bool)
    if not ok:
        shape = {"between": "(low, high) with low <= high", "in": "a non-empty list", "matches": "a regex string"}
        plain = "a number, a string or now()" if kind == "ColumnValues" else "a number"
        raise DQDLSyntaxError(f"{kind} {op}: expected {shape.get(op, plain)}, got {value!r}")


def _q(text: str) -> str:
    """A DQDL string literal."""
    return '"' + text.replace('"', '\\"') + '"'


class rules:  # noqa: N801 - a namespace of constructors, used as rules.is_complete(...)
    """Plain Python constructors for the supported DQDL rules (each returns a :class:`Rule`)."""

    @staticmethod
    def is_complete(column: str) -> Rule:
        """No nulls in ``column``."""
        return Rule(f"IsComplete {_q(column)}", "IsComplete", (column,))

    @staticmethod
    def completeness(column: str, op: str, share: float) -> Rule:
        """The share of non-null values compared with ``share`` (dataset level); ``op`` is >, >=, <, <=, = or !=."""
        _checked_op("Completeness", op, share)
        return Rule(f"Completeness {_q(column)} {op} {share}", "Completeness", (column,), op, share)

    @staticmethod
    def is_unique(*columns: str) -> Rule:
        """No two rows share the values (nulls count as values: a null key is a duplicate of another null)."""
        return Rule(f"IsUnique {' '.join(map(_q, columns))}", "IsUnique", tuple(columns))

    @staticmethod
    def is_primary_key(*columns: str) -> Rule:
        """Unique and complete."""
        return Rule(f"IsPrimaryKey {' '.join(map(_q, columns))}", "IsPrimaryKey", tuple(columns))

    @staticmethod
    def column_values(column: str, op: str, value: Any) -> Rule:
        """A comparison (>, >=, <, <=, =, !=), ``between`` (value = (lo, hi)), ``in`` (a list), ``matches`` (regex).

        ``value="now()"`` with ``<=`` is "not in the future". Nulls do not fail
        value rules (IsComplete covers them).

        Raises
        ------
        DQDLSyntaxError
            For an operator ColumnValues does not take (naming the ones it takes), or a value of the wrong shape.
        """
        _checked_op("ColumnValues", op, value)
        shown = {"between": lambda v: f"between {v[0]} and {v[1]}", "in": lambda v: "in [" + ", ".join(
            _q(str(x)) for x in v) + "]", "matches": lambda v: f"matches {_q(v)}"}.get(
            op, lambda v: f"{op} {v if isinstance(v, (int, float)) or v == 'now()' else _q(str(v))}")(value)
        return Rule(f"ColumnValues {_q(column)} {shown}", "ColumnValues", (column,), op, value)

    @staticmethod
    def castable(column: str, type_name: str) -> Rule:
        """Every non-null value converts to ``type_name`` (INTEGER, DOUBLE, DATE, DECIMAL(10,2), ...) with try_cast.

        Raises
        ------
        DQDLSyntaxError
            When ``type_name`` is not one of Spark's type names: it is never pasted into SQL.
        """
        name = re.sub(r"\s+", "", type_name.upper()) if isinstance(type_name, str) else ""
        if not _TYPE_NAME.fullmatch(name):
            raise DQDLSyntaxError(f"ColumnDataType: {type_name!r} is not a type name Spark parses (e.g. INTEGER, "
                                  "BIGINT, DOUBLE, DECIMAL(10,2), DATE, TIMESTAMP, STRING, BOOLEAN)")
        return Rule(f"ColumnDataType {_q(column)} = {_q(name)}", "ColumnDataType", (column,), "=", name)

    @staticmethod
    def referential_integrity(column: str, reference: str) -> Rule:
        """Every non-null value of ``column`` exists in ``reference`` ("table.column", a DataFrame passed by name)."""
        return Rule(f"ReferentialIntegrity {_q(column)} {_q(reference)} = 1.0", "ReferentialIntegrity", (column,),
                    reference=reference)

    @staticmethod
    def outliers(column: str, z: float = 3.0) -> Rule:
        """No value more than ``z`` standard deviations from the mean (a lab extension of DQDL)."""
        return Rule(f"ZScore {_q(column)} <= {z}", "ZScore", (column,), "<=", z)

    @staticmethod
    def row_count(op: str, value: Any) -> Rule:
        """The number of rows compared with ``value`` (``between`` takes (lo, hi))."""
        _checked_op("RowCount", op, value)
        shown = f"between {value[0]} and {value[1]}" if op == "between" else f"{op} {value}"
        return Rule(f"RowCount {shown}", "RowCount", (), op, value)


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>>=|<=|!=|=|>|<)|'
                    r'(?P<punct>[\[\],()])|(?P<word>[A-Za-z_][A-Za-z_0-9]*))')


class _Parser:
    """A recursive-descent parser for the supported subset of DQDL."""

    def __init__(self, text: str):
        self.text, self.pos, self.tokens = text, 0, []
        while True:
            m = _TOKEN.match(text, self.pos)
            if not m or m.end() == self.pos:
                if text[self.pos:].strip():
                    self._fail("a string, a number, an operator or a word")
                break
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            self.pos = m.end()
        self.i = 0

    def _fail(self, expected: str, at: int | None = None):
        at = self.pos if at is None else at
        raise DQDLSyntaxError(f"DQDL: expected {expected} at position {at}:\n  {self.text}\n  {' ' * at}^")

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def take(self, kind: str, value: str | None = None, expected: str = ""):
        tok = self.peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            self._fail(expected or (repr(value) if value else kind), tok[2])
        self.i += 1
        return tok[1]

    def string(self) -> str:
        return self.take("str", expected="a quoted column name")[1:-1].replace('\\"', '"')

    def number(self) -> float:
        tok = self.peek()
        if tok[0] == "word" and tok[1] == "now":
            self.take("word", "now"), self.take("punct", "("), self.take("punct", ")")
            return "now()"
        v = float(self.take("num", expected="a number"))
        return int(v) if v.is_integer() else v

    def rules(self) -> list[Rule]:
        if self.peek()[0] == "word":  # "Rules = [ ... ]"; a bare "[ ... ]" is accepted too
            self.take("word", "Rules", "'Rules'")
            self.take("op", "=", "'='")
        self.take("punct", "[", "'Rules = [' or '['")
        out = [self.rule()]
        while self.peek()[1] == ",":
            self.take("punct", ",")
            out.append(self.rule())
        self.take("punct", "]", "',' or ']'")
        if self.peek()[0] != "end":
            self._fail("the end of the rules", self.peek()[2])
        return out

    def rule(self) -> Rule:
        tok = self.peek()
        name = self.take("word", expected="a rule name")
        handler = getattr(self, f"_r_{name}", None)
        if handler is None:
            self._fail("one of IsComplete, Completeness, IsUnique, IsPrimaryKey, ColumnValues, ColumnDataType, "
                       "ReferentialIntegrity, ZScore, RowCount", tok[2])
        try:
            return handler()
        except DQDLSyntaxError as err:
            if str(err).startswith("DQDL:"):  # the parser's own error, with its caret
                raise
            raise DQDLSyntaxError(f"DQDL: {err}, in the rule at position {tok[2]}:\n  {self.text}\n  "
                                  f"{' ' * tok[2]}^") from None

    def _columns(self) -> list[str]:
        cols = [self.string()]
        while self.peek()[0] == "str":
            cols.append(self.string())
        return cols

    def _compare(self):
        tok = self.peek()
        if tok[0] == "word" and tok[1] == "between":
            self.take("word")
            lo = self.number()
            self.take("word", "and", "'and'")
            return "between", (lo, self.number())
        op = self.take("op", expected="an operator (>, >=, <, <=, =, !=) or 'between'")
        return op, self.number()

    def _r_IsComplete(self):
        return rules.is_complete(self.string())

    def _r_Completeness(self):
        col = self.string()
        op, v = self._compare()
        return rules.completeness(col, op, v)

    def _r_IsUnique(self):
        return rules.is_unique(*self._columns())

    def _r_IsPrimaryKey(self):
        return rules.is_primary_key(*self._columns())

    def _r_ColumnValues(self):
        col = self.string()
        tok = self.peek()
        if tok[1] == "in":
            self.take("word")
            self.take("punct", "[", "'['")
            values = [self.string() if self.peek()[0] == "str" else self.number()]
            while self.peek()[1] == ",":
                self.take("punct", ",")
                values.append(self.string() if self.peek()[0] == "str" else self.number())
            self.take("punct", "]", "',' or ']'")
            return rules.column_values(col, "in", values)
        if tok[1] == "matches":
            self.take("word")
            return rules.column_values(col, "matches", self.string())
        if tok[0] == "op" and self.tokens[self.i + 1][0] == "str" if self.i + 1 < len(self.tokens) else False:
            op = self.take("op")
            return rules.column_values(col, op, self.string())
        op, v = self._compare()
        return rules.column_values(col, op, v)

    def _r_ColumnDataType(self):
        col = self.string()
        self.take("op", "=", "'='")
        return rules.castable(col, self.string())

    def _r_ReferentialIntegrity(self):
        col, ref = self.string(), self.string()
        if "." not in ref:
            self._fail("a reference written \"table.column\"", self.tokens[self.i - 1][2])
        self.take("op", "=", "'='")
        self.number()
        return rules.referential_integrity(col, ref)

    def _r_ZScore(self):
        col = self.string()
        self.take("op", "<=", "'<='")
        return rules.outliers(col, float(self.number()))

    def _r_RowCount(self):
        op, v = self._compare()
        return rules.row_count(op, v)


def parse_dqdl(text: str) -> list[Rule]:
    """Parse ``Rules = [ ... ]`` (or a bare ``[ ... ]``) in the supported subset of AWS Glue's DQDL.

    Supported: ``IsComplete "c"``, ``Completeness "c" >= 0.95``, ``IsUnique "c" ["d" ...]``,
    ``IsPrimaryKey "c"``, ``ColumnValues "c"`` with ``> >= < <= = !=`` a number, a string or ``now()``,
    ``between A and B``, ``in [..]`` or ``matches "regex"``, ``ColumnDataType "c" = "DATE"``,
    ``ReferentialIntegrity "c" "table.column" = 1.0``, ``RowCount`` comparisons, and the lab's
    ``ZScore "c" <= 3``.

    Raises
    ------
    DQDLSyntaxError
        With the position of the problem and a caret under it.

    Examples
    --------
    >>> [r.kind for r in parse_dqdl('Rules = [ IsComplete "id", ColumnValues "amount" >= 0 ]')]
    ['IsComplete', 'ColumnValues']
    """
    return _Parser(text).rules()


def _value_test(rule: Rule, c):
    """The passing condition of a ColumnValues rule (null when the value is null)."""
    from pyspark.sql import functions as F

    if rule.op == "between":
        return c.between(*rule.value)
    if rule.op == "in":
        return c.isin(list(rule.value))
    if rule.op == "matches":
        return c.rlike(rule.value)
    other = F.current_timestamp() if rule.value == "now()" else F.lit(rule.value)
    return getattr(c, _OPS[rule.op])(other)


def _duplicate(rule: Rule, cols):
    """Rows whose key occurs more than once (and, for a primary key, rows with a null key part)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    dup = F.count(F.lit(1)).over(Window.partitionBy(*cols)) > 1
    return dup | _any([c.isNull() for c in cols]) if rule.kind == "IsPrimaryKey" else dup


def _any(conditions):
    """True when any of the boolean columns is (``greatest`` needs two or more)."""
    from pyspark.sql import functions as F

    return conditions[0] if len(conditions) == 1 else F.greatest(*conditions)


def _zscore(rule: Rule, c):
    """Rows more than ``rule.value`` standard deviations from the column mean."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(F.lit(1))
    return F.coalesce(F.abs(c - F.avg(c).over(w)) / F.stddev(c).over(w) > F.lit(rule.value), F.lit(False))


def _violation(rule: Rule, df, references: Mapping[str, Any]):
    """A row-level Column that is true when the row breaks the rule (None for dataset-level rules)."""
    from pyspark.sql import functions as F

    cols = [F.col(c) for c in rule.columns]
    handlers = {
        "IsComplete": lambda: cols[0].isNull(),
        "IsUnique": lambda: _duplicate(rule, cols),
        "IsPrimaryKey": lambda: _duplicate(rule, cols),
        "ColumnValues": lambda: cols[0].isNotNull() & ~F.coalesce(_value_test(rule, cols[0]), F.lit(False)),
        "ColumnDataType": lambda: cols[0].isNotNull() & cols[0].try_cast(rule.value).isNull(),
        "ZScore": lambda: _zscore(rule, cols[0]),
        "ReferentialIntegrity": lambda: F.col(f"_ref_missing_{_slug(rule.text)}"),
    }
    return handlers[rule.kind]() if rule.kind in handlers else None


def _slug(text: str) -> str:
    """A column-name-safe short hash of a rule's text."""
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:10]


def _with_references(df, rule_list: Sequence[Rule], references: Mapping[str, Any]):
    """Add a boolean ``_ref_missing_<rule>`` column per ReferentialIntegrity rule (a left join to the keys)."""
    from pyspark.sql import functions as F

    for rule in rule_list:
        if rule.kind != "ReferentialIntegrity":
            continue
        table, column = rule.reference.split(".", 1)
        if table not in references:
            raise ValueError(f"{rule.text}: no reference table {table!r}; pass references={{{table!r}: df}}")
        ref = require_columns(references[table], column, f"reference column of {table}")
        keys = references[table].select(F.col(ref[0]).alias("_ref_key")).distinct().withColumn("_ref_hit", F.lit(True))
        flag = f"_ref_missing_{_slug(rule.text)}"
        df = (df.join(F.broadcast(keys), F.col(rule.columns[0]) == F.col("_ref_key"), "left")
              .withColumn(flag, F.col(rule.columns[0]).isNotNull() & F.col("_ref_hit").isNull())
              .drop("_ref_key", "_ref_hit"))
    return df


def _check_columns(df, rule_list: Sequence[Rule]) -> None:
    """Every column a rule names exists."""
    for rule in rule_list:
        require_columns(df, list(rule.columns), f"column of rule {rule.text}") if rule.columns else None


def split_valid(df, rule_list: Sequence[Rule] | str, references: Mapping[str, Any] | None = None,
                max_failure_rate: float | None = None, strict: bool = False):
    """Split rows into valid and quarantined; each quarantined row names every rule it broke (``dq_failures``).

    Unlike the guide's ``df.subtract(bad)`` (EXCEPT DISTINCT), duplicate good
    rows are kept, and a row that breaks two rules is quarantined once.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    rule_list : list of Rule, or DQDL text
        Row-level rules (dataset-level ones such as RowCount are ignored here: see :func:`check`).
    references : mapping of table name to DataFrame, optional
        For ReferentialIntegrity rules.
    max_failure_rate : float, optional
        Raise :class:`DataQualityError` when more than this share of rows is quarantined.
    strict : bool
        Raise when any row is quarantined.

    Returns
    -------
    (DataFrame, DataFrame)
        ``valid`` with the input's columns, and ``quarantined`` with ``dq_failures`` (array of rule texts).
    """
    from pyspark.sql import functions as F

    rule_list = parse_dqdl(rule_list) if isinstance(rule_list, str) else list(rule_list)
    _check_columns(df, rule_list)
    cols = df.columns
    work = _with_references(df, rule_list, references or {})
    flags = [(r.text, _violation(r, work, references or {})) for r in rule_list]
    flags = [(text, v) for text, v in flags if v is not None]
    failures = F.filter(F.array(*[F.when(v, F.lit(text)) for text, v in flags]), lambda x: x.isNotNull()) if flags \
        else F.array().cast("array<string>")
    tagged = work.withColumn("dq_failures", failures).cache()
    valid = tagged.where(F.size("dq_failures") == 0).select(*cols)
    quarantined = tagged.where(F.size("dq_failures") > 0).select(*cols, "dq_failures")
    if max_failure_rate is not None or strict:
        total, bad = tagged.count(), quarantined.count()
        rate = bad / total if total else 0.0
        if strict and bad:
            raise DataQualityError(f"strict mode: {bad} of {total} rows broke a rule", quarantined)
        if max_failure_rate is not None and rate > max_failure_rate:
            raise DataQualityError(f"{rate:.2%} of rows failed ({bad} of {total}), above the {max_failure_rate:.2%} "
                                   "threshold", quarantined)
    return valid, quarantined


@dataclass
class CheckReport:
    """:func:`check`'s answer: one row per rule, and what running them cost."""

    table: pd.DataFrame  # rule, metric, status (pass / fail), failing
    jobs: int
    seconds: float


def _metrics(df, rule_list: Sequence[Rule], references: Mapping[str, Any]) -> dict[str, Any]:
    """Every rule's raw metric: one aggregation for all, one grouping pass per uniqueness rule."""
    from pyspark.sql import functions as F

    work = _with_references(df, rule_list, references)
    aggs = [F.count(F.lit(1)).alias("_rows")]
    for i, r in enumerate(rule_list):
        if r.kind == "Completeness":
            aggs.append(F.count(r.columns[0]).alias(f"m{i}"))
        elif r.kind not in ("RowCount", "IsUnique", "IsPrimaryKey"):  # a flag column first: ZScore uses a window
            work = work.withColumn(f"_v{i}", F.coalesce(_violation(r, work, {}), F.lit(False)).cast("long"))
            aggs.append(F.sum(f"_v{i}").alias(f"m{i}"))
    row = work.agg(*aggs).first().asDict()
    for i, r in enumerate(rule_list):
        if r.kind in ("IsUnique", "IsPrimaryKey"):
            keys = [F.col(c) for c in r.columns]
            dup = work.groupBy(*keys).count().where("count > 1").agg(F.sum("count")).first()[0] or 0
            nulls = work.where(_any([k.isNull() for k in keys])).count() if r.kind == "IsPrimaryKey" else 0
            row[f"m{i}"] = dup + nulls
    return row


def _verdict(rule: Rule, raw: Any, total: int) -> tuple[float, bool, int]:
    """(metric, passed, failing rows) of one rule from its raw metric.

    On no rows, RowCount is judged on 0 and every other rule fails with a NaN metric, as Deequ fails a
    constraint whose metric has no data: an empty load does not pass "IsComplete" by having nothing to check.
    """
    if rule.kind == "RowCount":
        ok = (rule.value[0] <= total <= rule.value[1]) if rule.op == "between" else getattr(total, _OPS[rule.op])(
            rule.value)
        return float(total), bool(ok), 0 if ok else total
    if not total:
        return float("nan"), False, 0
    if rule.kind == "Completeness":
        share = raw / total
        return share, bool(getattr(share, _OPS[rule.op])(rule.value)), total - raw
    failing = int(raw)
    return 1 - failing / total, failing == 0, failing


def check(df, rule_list: Sequence[Rule] | str, references: Mapping[str, Any] | None = None,
          max_failure_rate: float | None = None) -> CheckReport:
    """Evaluate every rule in one aggregation pass (plus a grouping pass per uniqueness rule).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    rule_list : list of Rule, or DQDL text
    references : mapping, optional
        Reference tables for ReferentialIntegrity.
    max_failure_rate : float, optional
        Raise :class:`DataQualityError` (with the report) when a row-level rule fails more than this share of rows.

    Returns
    -------
    CheckReport
        ``table`` with each rule's metric (the share of rows passing, or the row count), ``pass``/``fail`` and the
        failing count; ``jobs`` and ``seconds`` as measured by :func:`labkit.core.measure.measure`.
    """
    from labkit.core.measure import measure

    rule_list = parse_dqdl(rule_list) if isinstance(rule_list, str) else list(rule_list)
    _check_columns(df, rule_list)
    m = measure(df.sparkSession, lambda: _metrics(df, rule_list, references or {}), "dq check")
    total = m.result["_rows"]
    out = []
    for i, r in enumerate(rule_list):
        metric, ok, failing = _verdict(r, m.result.get(f"m{i}"), total)
        out.append({"rule": r.text, "kind": r.kind, "metric": round(metric, 6), "status": "pass" if ok else "fail",
                    "failing": failing, "detail": "no rows" if not total and r.kind != "RowCount" else ""})
    report = CheckReport(pd.DataFrame(out), m.jobs, m.wall_s)
    row_level = report.table[~report.table["kind"].isin(["RowCount", "Completeness"])]
    if max_failure_rate is not None and total and len(row_level):
        worst = row_level["failing"].max() / total
        if worst > max_failure_rate:
            raise DataQualityError(f"a rule failed on {worst:.2%} of rows, above {max_failure_rate:.2%}", report)
    return report


# --------------------------------------------------------------------------- full scan against sampling


def strategies(df, rule_list: Sequence[Rule] | str, seed: int = 0, fraction: float = 0.01,
               minimum: int = 10_000) -> pd.DataFrame:
    """Look for rule violations four ways, and time each one.

    * ``full_scan``: every row, every rule (one pass).
    * ``sample``: a ``fraction`` Bernoulli sample (the guide's shortcut).
    * ``two_pass``: pass 1 computes cheap column statistics (min, max, nulls) and
      flags the rules whose columns look suspicious; pass 2 checks only those rules on every row.
    * ``hybrid``: the guide's "1% or 10K minimum" sample; if it finds anything, a full scan for the count.

    Returns
    -------
    pandas.DataFrame
        One row per strategy: ``found`` (violations seen), ``detected`` (any), ``rows_checked``, ``seconds``.
    """
    import time

    from pyspark.sql import functions as F

    rule_list = parse_dqdl(rule_list) if isinstance(rule_list, str) else list(rule_list)
    row_rules = [r for r in rule_list if r.kind not in ("RowCount", "Completeness", "ReferentialIntegrity")]
    total = df.count()

    def violations(frame, subset):
        flags = [F.coalesce(_violation(r, frame, {}), F.lit(False)) for r in subset]
        if not flags:
            return 0
        return frame.withColumn("_bad", _any(flags)).where("_bad").count()  # a column first: some rules are windows

    out = []
    t = time.perf_counter()
    out.append(("full_scan", violations(df, row_rules), total, time.perf_counter() - t))
    t = time.perf_counter()
    sample = df.sample(fraction=fraction, seed=seed)
    out.append(("sample", violations(sample, row_rules), int(total * fraction), time.perf_counter() - t))
    t = time.perf_counter()
    suspicious = _suspicious_rules(df, row_rules)
    out.append(("two_pass", violations(df, suspicious), total, time.perf_counter() - t))
    t = time.perf_counter()
    share = min(1.0, max(fraction, minimum / max(total, 1)))
    seen = violations(df.sample(fraction=share, seed=seed), row_rules)
    found = violations(df, row_rules) if seen else 0
    out.append(("hybrid", found, int(total * share) + (total if seen else 0), time.perf_counter() - t))
    table = pd.DataFrame(out, columns=["strategy", "found", "rows_checked", "seconds"]).set_index("strategy")
    table["detected"] = table["found"] > 0
    return table


def _suspicious_rules(df, row_rules: Sequence[Rule]) -> list[Rule]:
    """Pass 1 of two-pass: statistics in one aggregation; keep the rules those statistics cannot clear."""
    from pyspark.sql import functions as F

    stats_cols = sorted({c for r in row_rules for c in r.columns})
    aggs = [F.count(F.lit(1)).alias("_n")]
    for c in stats_cols:
        aggs += [F.min(c).alias(f"min_{c}"), F.max(c).alias(f"max_{c}"), F.count(c).alias(f"n_{c}")]
    s = df.agg(*aggs).first().asDict()
    keep = []
    for r in row_rules:
        c = r.columns[0] if r.columns else None
        if r.kind == "IsComplete":
            bad = s[f"n_{c}"] < s["_n"]
        elif r.kind == "ColumnValues" and r.op == "between":
            bad = s[f"min_{c}"] is not None and (s[f"min_{c}"] < r.value[0] or s[f"max_{c}"] > r.value[1])
        elif r.kind == "ColumnValues" and r.op in (">", ">=") and isinstance(r.value, (int, float)):
            bad = s[f"min_{c}"] is not None and not getattr(s[f"min_{c}"], _OPS[r.op])(r.value)
        elif r.kind == "ColumnValues" and r.op in ("<", "<=") and isinstance(r.value, (int, float)):
            bad = s[f"max_{c}"] is not None and not getattr(s[f"max_{c}"], _OPS[r.op])(r.value)
        else:
            bad = True  # min and max cannot clear a pattern, a type or uniqueness: check it in pass 2
        if bad:
            keep.append(r)
    return keep


def sampling_recall(defects: int, rows: int, fractions: Sequence[float]) -> pd.DataFrame:
    """The analytic chance that a Bernoulli sample catches at least one of ``defects`` bad rows: 1 - (1 - f)^k.

    Examples
    --------
    >>> round(float(sampling_recall(1, 10**6, [0.01]).loc[0, "detect probability"]), 2)
    0.01
    """
    return pd.DataFrame([{"fraction": f, "defects": defects, "rows": rows,
                          "detect probability": 1 - (1 - f) ** defects} for f in fractions])


# --------------------------------------------------------------------------- Parquet diagnostics


def _move_corrupt(table: pd.DataFrame, root: Path, target: Path) -> None:
    """Move :func:`diagnose_parquet`'s corrupt files from ``root`` to ``target`` (same relative paths); note where."""
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    for i, r in table[table["status"] == "corrupt"].iterrows():
        dest = target / Path(r["file"]).relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(r["file"], dest)
        table.loc[i, "moved_to"] = str(dest)


def diagnose_parquet(path: str, quarantine: bool = False, quarantine_dir: str | None = None,
                     relative: bool = False) -> pd.DataFrame:
    """Classify every Parquet file under a local folder from its footer, with pyarrow.

    Classes: ``readable``; ``schema variant`` (a column added, removed, or of
    another type than the most common schema: int -> bigint, int -> string);
    ``corrupt`` (bad magic bytes, truncated footer); ``empty`` (0 bytes, or no rows).

    Parameters
    ----------
    path : str
        A local folder (``file:`` paths too).
    quarantine : bool
        Move the corrupt files to ``quarantine_dir`` (never delete them).
    quarantine_dir : str, optional
        ``<path>_quarantine`` by default.
    relative : bool
        Give ``file`` relative to ``path`` (its name, for a flat folder) instead of the full path.

    Returns
    -------
    pandas.DataFrame
        One row per file: ``file``, ``status``, ``rows``, ``detail`` (the schema difference or the error),
        ``moved_to``.
    """
    import pyarrow.parquet as pq

    root = Path(path.removeprefix("file:"))
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {path}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(("_", ".")))
    rows, schemas = [], {}
    for f in files:
        if f.stat().st_size == 0:
            rows.append({"file": str(f), "status": "empty", "rows": 0, "detail": "0 bytes"})
            continue
        try:
            meta = pq.read_metadata(f)
            schemas[str(f)] = {fld.name: str(fld.type) for fld in meta.schema.to_arrow_schema()}
            rows.append({"file": str(f), "status": "readable" if meta.num_rows else "empty", "rows": meta.num_rows,
                         "detail": "" if meta.num_rows else "no rows"})
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a bad file: that is the finding
            rows.append({"file": str(f), "status": "corrupt", "rows": 0,
                         "detail": f"{type(exc).__name__}: {exc}"[:200]})
    table = pd.DataFrame(rows, columns=["file", "status", "rows", "detail"])
    if schemas:
        common = pd.Series([tuple(sorted(s.items())) for s in schemas.values()]).mode()[0]
        base = dict(common)
        for i, r in table.iterrows():
            s = schemas.get(r["file"])
            if s is not None and s != base:
                diff = ([f"+{c} {t}" for c, t in s.items() if c not in base]
                        + [f"-{c}" for c in base if c not in s]
                        + [f"{c}: {base[c]} -> {t}" for c, t in s.items() if c in base and base[c] != t])
                table.loc[i, ["status", "detail"]] = ["schema variant", ", ".join(diff)]
    table["moved_to"] = ""
    if quarantine:
        _move_corrupt(table, root, Path(quarantine_dir or f"{root}_quarantine"))
    if relative:
        table["file"] = [Path(f).relative_to(root).as_posix() for f in table["file"]]
    return table


def sampling_cases(spark, rows: int, partitions: int = 8) -> dict[str, tuple[Any, str]]:
    """Three ways one bad ``amount`` (< 0) hides in ``rows`` rows, for :func:`recall_sweep`.

    Parameters
    ----------
    spark : SparkSession
    rows : int
    partitions : int
        Partitions of the data; partition 3 holds the clustered defects (it stands for one file).

    Returns
    -------
    dict
        Case name -> (DataFrame with ``id``, ``amount``; the unit to sample: ``"rows"`` or ``"files"``):
        a single bad row, one bad row in 10,000, and every row of one partition bad.
    """
    from pyspark.sql import functions as F

    base = spark.range(0, rows, 1, partitions).selectExpr("id", "1.0 * (id % 997) as amount")

    def bad(cond, value):
        return base.withColumn("amount", F.when(cond, value).otherwise(F.col("amount")))

    return {f"1 in {rows:,}, rows": (bad(F.col("id") == 4_242, F.lit(-1.0)), "rows"),
            "1 in 10K, rows": (bad(F.col("id") % 10_000 == 17, F.lit(-1.0)), "rows"),
            "clustered, files": (bad(F.spark_partition_id() == 3, -F.col("amount") - 1), "files")}


_CORRUPT = "_corrupt_record"
_PRUNING = "spark.sql.csv.parser.columnPruning.enabled"
# (case, the schema has _corrupt_record, the columns a query reads, spark.sql.csv.parser.columnPruning.enabled)
_WIDTH_CASES = (("every column", True, "every", True), ("first column, pruning on", True, "first", True),
                ("first column, pruning off", True, "first", False), ("no _corrupt_record in the schema", False,
                                                                      "every", True))


def _permissive(spark, path: str, schema: str, corrupt: bool):
    """A PERMISSIVE header read of ``path``, with ``_corrupt_record string`` appended to the schema if ``corrupt``."""
    reader = spark.read.option("header", True).option("mode", "PERMISSIVE")
    reader = reader.schema(f"{schema}, {_CORRUPT} string" if corrupt else schema)
    return reader.option("columnNameOfCorruptRecord", _CORRUPT).csv(path)


def _width_case(spark, path: str, schema: str, wrong, corrupt: bool, columns: str, pruning: bool) -> dict[str, int]:
    """Rows a query returns, lines it flags, and how many of ``wrong``'s lines are among them, for one case."""
    from pyspark.sql import functions as F

    from labkit.core.session import spark_conf

    with spark_conf(spark, {_PRUNING: pruning}):
        raw = _permissive(spark, path, schema, corrupt)
        data = [c for c in raw.columns if c != _CORRUPT]
        read = raw.select(*(data[:1] if columns == "first" else data), *([_CORRUPT] if corrupt else []))
        if not corrupt:
            return {"rows": read.count(), "flagged": 0, "wrong width flagged": 0}  # nothing can mark a line
        # cached: a count on _corrupt_record alone is refused; the cache reads exactly the columns selected here
        read = read.cache()
        try:
            bad = read.where(F.col(_CORRUPT).isNotNull())
            hit = bad.join(wrong.select(F.col("raw").alias(_CORRUPT)), _CORRUPT, "left_semi").count()
            return {"rows": read.count(), "flagged": bad.count(), "wrong width flagged": hit}
        finally:
            read.unpersist()


def permissive_width_cases(spark, path: str, schema: str, wrong_width) -> pd.DataFrame:
    """Which lines of the wrong width Spark's PERMISSIVE CSV read marks in ``_corrupt_record``, case by case.

    Spark's CSV parser treats a line with more or fewer fields than it parses as malformed: with
    ``_corrupt_record`` in the schema and a query that reads every column, the line's text lands there.
    Two things hide it: CSV column pruning (``spark.sql.csv.parser.columnPruning.enabled``, on by default)
    parses only the columns a query reads, so a query on some columns passes a short line (nulls) and a long one
    (extra fields dropped) as good; and a schema without ``_corrupt_record`` has nowhere to mark any line.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A CSV file or folder with a header.
    schema : str
        The expected columns (DDL), without ``_corrupt_record``.
    wrong_width : pyspark.sql.DataFrame
        A string column ``raw``: the text of the lines whose field count differs from the schema (for example
        :func:`read_csv_accounted`'s quarantine with reason ``extra columns`` or ``missing columns``).

    Returns
    -------
    pandas.DataFrame
        One row per case (``every column``; ``first column, pruning on``; ``first column, pruning off``;
        ``no _corrupt_record in the schema``): ``corrupt column``, ``columns read``, ``columnPruning``, ``rows``
        (returned by the query), ``flagged`` (lines with ``_corrupt_record`` set), ``wrong width flagged``
        (of ``wrong_width``'s lines) and ``wrong width`` (their number).

    Raises
    ------
    ValueError
        If ``schema`` already has ``_corrupt_record`` or ``wrong_width`` has no ``raw`` column.
    """
    if _CORRUPT in [f.name for f in _schema_fields(spark, schema)]:
        raise ValueError(f"permissive_width_cases: give the schema without {_CORRUPT}; each case adds it or not")
    require_columns(wrong_width, ["raw"], "permissive_width_cases: wrong_width")
    total = wrong_width.count()
    rows = {name: {"corrupt column": corrupt, "columns read": columns, "columnPruning": pruning,
                   **_width_case(spark, path, schema, wrong_width, corrupt, columns, pruning), "wrong width": total}
            for name, corrupt, columns, pruning in _WIDTH_CASES}
    return pd.DataFrame.from_dict(rows, orient="index")


def csv_mode_pitfalls(spark, path: str, schema: str) -> pd.Series:
    """What Spark's own CSV modes and casts do with bad input, observed on ``path``.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A CSV file or folder with a header.
    schema : str
        The expected columns (DDL).

    Returns
    -------
    pandas.Series
        DROPMALFORMED's ``count()`` against the rows it returns; whether a query on ``_corrupt_record`` alone
        is allowed, and the count it gives once the read is cached; whether the session runs in ANSI mode
        (``spark.sql.ansi.enabled``), what ``cast('twelve' as double)`` and
        ``to_date('2024-02-30', 'yyyy-MM-dd')`` do (an error under ANSI); and how many bad values ``try_cast``
        flags. Which lines PERMISSIVE marks is :func:`permissive_width_cases`.
    """
    from pyspark.sql import functions as F

    dropped = spark.read.option("header", True).schema(schema).option("mode", "DROPMALFORMED").csv(path)
    counted, returned = dropped.count(), len(dropped.select(*dropped.columns).collect())
    raw = _permissive(spark, path, schema, corrupt=True)
    corrupt_only = _outcome(lambda: raw.where(f"{_CORRUPT} is not null").count(), "allowed")
    cached = raw.cache().where(f"{_CORRUPT} is not null").count()  # the cache reads every column
    raw.unpersist()
    ansi_on = str(spark.conf.get("spark.sql.ansi.enabled")).lower() == "true"
    bad = spark.createDataFrame([("12.5", "2024-01-31"), ("twelve", "2024-02-30")], "amount string, day string")
    ansi = _outcome(lambda: bad.select(F.col("amount").cast("double")).collect(), "no error")
    ansi_date = _outcome(lambda: bad.select(F.to_date("day", "yyyy-MM-dd")).collect(), "no error")
    flagged = bad.select(F.expr("try_cast(amount AS double)").isNull().alias("bad")).where("bad").count()
    return pd.Series({"DROPMALFORMED count()": counted, "DROPMALFORMED rows collected": returned,
                      "query on _corrupt_record alone": corrupt_only, "_corrupt_record set, after cache()": cached,
                      "ANSI mode": ansi_on, "cast('twelve' as double) under ANSI": ansi,
                      "to_date('2024-02-30') under ANSI": ansi_date,
                      "try_cast flags it": flagged}, name="observed")


def guide_duplicate_test(df, keys: Sequence[str]) -> pd.Series:
    """The guide's two-pass duplicate test, ``count("*") != countDistinct(*keys)``, beside what the keys hold.

    ``count("*")`` counts every row; ``countDistinct`` skips a row whose key (any part of it) is null. So a key
    column with a null and no repeated value makes the test report duplicates: a false alarm. A null key is a
    completeness problem (IsComplete, IsPrimaryKey), not a duplicate.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    keys : sequence of str
        The key columns (the guide's ``upsert_keys``).

    Returns
    -------
    pandas.Series
        ``rows`` (``count("*")``), ``distinct keys`` (``countDistinct``), ``null keys`` (rows with a null key
        part), ``repeated keys`` (non-null key values on more than one row), ``guide reports duplicates``.
    """
    from pyspark.sql import functions as F

    keys = list(keys)
    require_columns(df, keys, "guide_duplicate_test")
    null = _any([F.col(k).isNull() for k in keys])
    row = df.agg(F.count("*").alias("rows"), F.countDistinct(*keys).alias("distinct"),
                 F.sum(null.cast("long")).alias("nulls")).first()
    repeated = df.where(~null).groupBy(*keys).count().where("count > 1").count()
    return pd.Series({"rows": row["rows"], "distinct keys": row["distinct"], "null keys": row["nulls"] or 0,
                      "repeated keys": repeated, "guide reports duplicates": row["rows"] != row["distinct"]},
                     name="guide's test", dtype=object)


def guide_code_outcomes() -> pd.Series:
    """What two lines of the guide's DQ code do when Python runs them.

    ``def incremental_dq_check(file_path, chunk_size_mb=500, spark, log)`` puts a parameter without a default
    after one with a default; ``log.info("...", **issues)`` passes keyword arguments the standard logger does
    not take, which raises only when INFO is enabled (below it the call is skipped, so the bug hides).

    Returns
    -------
    pandas.Series
        The exception each raises (``SyntaxError``, ``TypeError``) or ``skipped``/``compiles``/``logged``.
    """
    import logging

    signature = "def incremental_dq_check(file_path, chunk_size_mb=500, spark, log):\n    pass\n"

    def kwargs_call(level: int) -> None:
        log = logging.Logger("labkit-guide-check", level)  # private, unregistered: no global logging change
        log.addHandler(logging.NullHandler())
        log.info("Malformed data analysis:", extra_columns=1, missing_columns=0)

    return pd.Series({"incremental_dq_check signature": _outcome(lambda: compile(signature, "guide", "exec"),
                                                                 "compiles"),
                      "log.info(msg, **issues) at WARNING": _outcome(lambda: kwargs_call(logging.WARNING), "skipped"),
                      "log.info(msg, **issues) at INFO": _outcome(lambda: kwargs_call(logging.INFO), "logged")},
                     name="outcome")


def _outcome(action, ok: str) -> str:
    """``ok`` when ``action()`` runs, else the name of the exception it raised."""
    try:
        action()
        return ok
    except Exception as err:  # noqa: BLE001 - the exception's class is the observation
        return type(err).__name__


def recall_sweep(df, rule_list: Sequence[Rule] | str, fractions: Sequence[float], seeds: int = 10,
                 unit: str = "rows") -> pd.DataFrame:
    """How often a sample catches the violations, over ``seeds`` samples per fraction, beside the analytic chance.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    rule_list : list of Rule, or DQDL text
    fractions : sequence of float
    seeds : int
    unit : {"rows", "files"}
        Sample rows (Bernoulli), or whole input files (what "check a few files" does;
        without files, Spark partitions stand in for them).

    Returns
    -------
    pandas.DataFrame
        ``fraction``, ``detected`` (share of seeds that found a violation), ``analytic`` (1 - (1 - f)^k for k
        violating rows, or the share of files that hold them), ``defects``.
    """
    from pyspark.sql import functions as F

    if unit not in ("rows", "files"):
        raise ValueError(f"unit must be 'rows' or 'files', got {unit!r}")
    rule_list = parse_dqdl(rule_list) if isinstance(rule_list, str) else list(rule_list)
    flags = [F.coalesce(_violation(r, df, {}), F.lit(False)) for r in rule_list
             if r.kind not in ("RowCount", "Completeness", "ReferentialIntegrity")]
    file = F.input_file_name()  # "" when the data was not read from files: Spark partitions stand in for them
    unit_col = F.when(file == "", F.spark_partition_id().cast("string")).otherwise(file) if unit == "files" \
        else F.spark_partition_id()
    marked = df.withColumn("_bad", _any(flags)).withColumn(
        "_unit", F.xxhash64(unit_col)).cache()
    defects = marked.where("_bad").count()
    units = marked.select("_unit").distinct().count()
    bad_units = marked.where("_bad").select("_unit").distinct().count()
    rows = []
    for f in fractions:
        hits = 0
        for seed in range(seeds):
            if unit == "rows":
                sample = marked.sample(fraction=f, seed=seed)
            else:
                sample = marked.where(F.pmod(F.xxhash64("_unit", F.lit(seed)), F.lit(10_000)) < int(f * 10_000))
            hits += sample.where("_bad").limit(1).count() > 0
        analytic = 1 - (1 - f) ** defects if unit == "rows" else 1 - (1 - f) ** bad_units
        rows.append({"fraction": f, "detected": hits / seeds, "analytic": analytic, "defects": defects,
                     "units": units if unit == "files" else None})
    marked.unpersist()
    return pd.DataFrame(rows)


def pandera_compare(df, min_amount: float = 0.0, quantity: tuple[int, int] = (1, 10), repeats: int = 3
                    ) -> pd.DataFrame:
    """The same three checks with pandera's PySpark backend and with :func:`check` / :func:`split_valid`.

    Checks: ``txn_id`` not null, ``amount >= min_amount``, ``quantity`` between the bounds.

    Returns
    -------
    pandas.DataFrame
        Per tool: ``jobs`` (one measured run), ``median_s``, ``min_s``, ``max_s`` (``repeats`` interleaved runs
        after a warm-up, :func:`labkit.core.bench.compare`), ``failures found`` and ``row-level reasons``
        (whether each failing row comes back with the rules it broke).
    """
    import pandera.pyspark as pa
    import pyspark.sql.types as T

    from labkit.core.measure import measure

    schema = pa.DataFrameSchema({
        "txn_id": pa.Column(T.LongType(), nullable=False),
        "amount": pa.Column(T.DecimalType(10, 2), pa.Check.ge(min_amount)),
        "quantity": pa.Column(T.IntegerType(), pa.Check.in_range(*quantity)),
    })
    ours = [rules.is_complete("txn_id"), rules.column_values("amount", ">=", min_amount),
            rules.column_values("quantity", "between", quantity)]

    def run_pandera():
        checked = schema.validate(df.select("txn_id", "amount", "quantity"))
        errors = checked.pandera.errors
        return sum(len(v) for kinds in errors.values() for v in kinds.values()) if errors else 0

    def run_ours():
        _, bad = split_valid(df, ours)
        return bad.count()

    from labkit.core.bench import compare

    runs = {"pandera (pyspark backend)": run_pandera, "labkit check (one pass)": lambda: check(df, ours),
            "labkit split_valid": run_ours}
    once = {name: measure(df.sparkSession, fn, name) for name, fn in runs.items()}  # jobs and results: exact
    times = compare(runs, repeats=repeats, spark=df.sparkSession, progress=False)  # interleaved, medians
    found = {"pandera (pyspark backend)": once["pandera (pyspark backend)"].result,
             "labkit check (one pass)": int((once["labkit check (one pass)"].result.table["status"] == "fail").sum()),
             "labkit split_valid": once["labkit split_valid"].result}
    return pd.DataFrame([{"tool": name, "jobs": once[name].jobs, "median_s": times.loc[name, "median_s"],
                          "min_s": times.loc[name, "min_s"], "max_s": times.loc[name, "max_s"],
                          "failures found": found[name], "row-level reasons": name == "labkit split_valid"}
                         for name in runs    ]).set_index("tool")


# --------------------------------------------------------------------------- the notebook's studies, as functions


def quarantine_summary(quarantined) -> pd.DataFrame:
    """Where and why lines were quarantined, without their raw text: one row per file name and reason.

    A quarantined line can hold PHI (an email, say), so the summary shows only the file's name (not its folder),
    the reason, how many lines and the first line number.

    Parameters
    ----------
    quarantined : pyspark.sql.DataFrame
        :attr:`Accounted.quarantined` (columns ``file``, ``line``, ``reason``).

    Returns
    -------
    pandas.DataFrame
        ``file``, ``reason``, ``lines``, ``first line``, sorted by file and reason.
    """
    from pyspark.sql import functions as F

    require_columns(quarantined, ["file", "line", "reason"], "quarantine_summary")
    return quarantined.groupBy(F.regexp_extract("file", r"([^/]+)$", 1).alias("file"), "reason").agg(
        F.count("*").alias("lines"), F.min("line").alias("first line")).orderBy("file", "reason").toPandas()


def guide_permissive_read(spark, path: str):
    """The guide's PERMISSIVE read: a header, ``columnNameOfCorruptRecord=_corrupt_record``, and no schema.

    Without a schema Spark infers every column from the file, so the frame has no ``_corrupt_record`` column
    and no line can be marked in it.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A CSV file or folder with a header.

    Returns
    -------
    pyspark.sql.DataFrame
    """
    return spark.read.option("header", "true").option("mode", "PERMISSIVE").option(
        "columnNameOfCorruptRecord", _CORRUPT).csv(path)


def guide_subtract_union(good, first: str, second: str, rows: int = 3) -> pd.Series:
    """The guide's ``df.subtract(bad)`` and ``union`` of two rule failures, beside :func:`split_valid`.

    ``subtract`` is ``EXCEPT DISTINCT``: on ``rows`` good rows each present twice, subtracting nothing keeps
    only the distinct rows, where :func:`split_valid` keeps them all. ``union`` of the rows failing ``first`` and
    those failing ``second`` counts a row failing both twice.

    Parameters
    ----------
    good : pyspark.sql.DataFrame
        Rows that pass (for example :attr:`Accounted.good`), with a ``quantity`` column.
    first, second : str
        SQL conditions a failing row meets (the guide's two checks, say ``"quantity > 5"``, ``"amount > 500"``).
    rows : int
        How many of ``good``'s rows to duplicate.

    Returns
    -------
    pandas.Series
        ``rows`` (twice ``rows``), ``split_valid keeps``, ``subtract keeps``, ``union counts``, ``failing either``
        and ``failing both`` (rows meeting either condition, both), as Python ints.
    """
    twice = good.limit(rows).unionByName(good.limit(rows))
    kept, _ = split_valid(twice, [rules.column_values("quantity", ">=", 0)])
    subtracted = twice.subtract(twice.limit(0)).count()  # the guide's df.subtract(all_malformed), nothing malformed
    unioned = good.where(first).union(good.where(second)).count()  # the guide's all_malformed.count()
    either = good.where(f"({first}) or ({second})").count()
    both = good.where(f"({first}) and ({second})").count()
    return pd.Series({"rows": twice.count(), "split_valid keeps": kept.count(), "subtract keeps": subtracted,
                      "union counts": unioned, "failing either": either, "failing both": both},
                     name="rows", dtype=object)


def recall_sweeps(cases: Mapping[str, tuple[Any, str]], rule_list: Sequence[Rule] | str,
                  fractions: Sequence[float], seeds: int = 10) -> pd.DataFrame:
    """:func:`recall_sweep` for each case of :func:`sampling_cases`, in one table.

    Parameters
    ----------
    cases : mapping
        Case name -> (DataFrame, ``"rows"`` or ``"files"``).
    rule_list : list of Rule, or DQDL text
    fractions : sequence of float
    seeds : int

    Returns
    -------
    pandas.DataFrame
        :func:`recall_sweep`'s columns plus ``case``.
    """
    return pd.concat([recall_sweep(df, rule_list, fractions, seeds, unit).assign(case=name)
                      for name, (df, unit) in cases.items()], ignore_index=True)


def recall_lines(sweeps: pd.DataFrame) -> pd.DataFrame:
    """:func:`recall_sweeps`'s table in long form for a line plot: measured and analytic recall per case.

    Returns
    -------
    pandas.DataFrame
        Every row twice: ``kind`` ``measured`` (``y`` = ``detected``) and ``analytic`` (``y`` = ``analytic``),
        with ``line`` = ``"<case> (<kind>)"``.
    """
    missing = [c for c in ("case", "detected", "analytic") if c not in sweeps.columns]
    if missing:
        raise ValueError(f"recall_lines: no column(s) {missing}; give recall_sweeps' table")
    long = pd.concat([sweeps.assign(kind="measured", y=sweeps["detected"]),
                      sweeps.assign(kind="analytic", y=sweeps["analytic"])], ignore_index=True)
    return long.assign(line=long["case"] + " (" + long["kind"] + ")")


def strategy_medians(df, rule_list: Sequence[Rule] | str, repeats: int = 3) -> pd.DataFrame:
    """:func:`strategies` run ``repeats`` times (seeds 0, 1, ...) on ``df`` cached, summarised per strategy.

    Returns
    -------
    pandas.DataFrame
        Per strategy: ``seconds`` (median), ``found`` (the fewest violations seen), ``rows_checked`` (the most).
    """
    if repeats < 1:
        raise ValueError(f"strategy_medians: repeats must be at least 1, got {repeats}")
    cached = df.cache()
    runs = [strategies(cached, rule_list, seed=s) for s in range(repeats)]
    return pd.concat(runs).groupby(level=0).agg({"seconds": "median", "found": "min", "rows_checked": "max"})


def accounted_read_mb_s(spark, path: str | Sequence[str], schema: str) -> float:
    """MB of CSV per second that :func:`read_csv_accounted` gets through: parse, type-check and count, measured.

    Returns
    -------
    float
        Input bytes the read's Spark jobs report, in MiB, over its wall time.
    """
    from labkit.core.measure import measure

    scan = measure(spark, lambda: read_csv_accounted(spark, path, schema).report, "accounted CSV read")
    if not scan.input_bytes or not scan.wall_s:
        raise ValueError(f"accounted_read_mb_s: the read reported {scan.input_bytes} bytes in {scan.wall_s} s")
    return scan.input_bytes / 2**20 / scan.wall_s


def merge_schema_outcome(spark, folder: str, compatible: Sequence[str]) -> dict[str, Any]:
    """What ``mergeSchema`` does with compatible files, and with a whole folder of conflicting ones.

    Parameters
    ----------
    spark : SparkSession
    folder : str
        A folder of Parquet files.
    compatible : sequence of str
        File names in ``folder`` whose schemas merge (one adding a column, say).

    Returns
    -------
    dict
        ``merged columns`` (the columns of the merged read of ``compatible``) and ``whole folder``
        (``merged`` when the whole folder reads and counts, else the exception's class name: an int column
        and a string column cannot be merged).
    """
    merged = spark.read.option("mergeSchema", True).parquet(*(f"{folder}/{name}" for name in compatible))
    whole = _outcome(lambda: spark.read.option("mergeSchema", True).parquet(folder).count(), "merged")
    return {"merged columns": merged.columns, "whole folder": whole}


def wrong_width_lines(quarantined):
    """The quarantined lines of the wrong width: reason ``extra columns`` or ``missing columns``.

    Parameters
    ----------
    quarantined : pyspark.sql.DataFrame
        :attr:`Accounted.quarantined` (a ``reason`` column; ``raw`` for :func:`permissive_width_cases`).

    Returns
    -------
    pyspark.sql.DataFrame
    """
    from pyspark.sql import functions as F

    require_columns(quarantined, ["reason"], "wrong_width_lines")
    return quarantined.where(F.col("reason").rlike("^(extra|missing) columns"))


def failures_by_rule(quarantined) -> pd.DataFrame:
    """How many rows :func:`split_valid` quarantined for each rule (a row breaking two rules counts for both).

    Parameters
    ----------
    quarantined : pyspark.sql.DataFrame
        :func:`split_valid`'s second frame (an array column ``dq_failures``).

    Returns
    -------
    pandas.DataFrame
        ``rule broken``, ``count``.
    """
    from pyspark.sql import functions as F

    require_columns(quarantined, ["dq_failures"], "failures_by_rule")
    return quarantined.select(F.explode("dq_failures").alias("rule broken")).groupBy("rule broken").count().toPandas()


def with_negative_amounts(df, every: int = 100_003, remainder: int = 7, id_col: str = "txn_id"):
    """``df`` with ``amount`` set to -1.00 where ``id_col % every == remainder``: rare rows a rule must catch.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        With ``amount`` (decimal(10,2)) and ``id_col`` columns (the fact table).
    every, remainder : int
    id_col : str

    Returns
    -------
    pyspark.sql.DataFrame
    """
    from pyspark.sql import functions as F

    require_columns(df, [id_col, "amount"], "with_negative_amounts")
    if every < 1 or not 0 <= remainder < every:
        raise ValueError(f"with_negative_amounts: need every >= 1 and 0 <= remainder < every, got {every}, {remainder}")
    return df.withColumn("amount", F.when(F.col(id_col) % every == remainder, F.lit(-1).cast("decimal(10,2)"))
                         .otherwise(F.col("amount")))


def null_key_sample(spark, rows: int = 100, null_at: int = 17):
    """``rows`` unique ``order_id`` values 0..rows-1, with the one at ``null_at`` replaced by null: no value twice.

    The input on which the guide's ``count("*") != countDistinct`` duplicate test raises a false alarm
    (:func:`guide_duplicate_test`).

    Returns
    -------
    pyspark.sql.DataFrame
        One ``order_id`` column (bigint).
    """
    if not 0 <= null_at < rows:
        raise ValueError(f"null_key_sample: null_at must be in [0, {rows}), got {null_at}")
    return spark.range(0, rows).selectExpr(f"if(id = {int(null_at)}, null, id) as order_id")


def csv_source(input_path: str, folder: str, lines: int, seed: int, defect_rate: float = 0.05) -> tuple[Any, str]:
    """The CSV to read: ``input_path`` when given, else a generated dirty CSV with its ground truth.

    Parameters
    ----------
    input_path : str
        A CSV file or folder of your own; empty to generate one.
    folder : str
        Where the generated files go (:func:`labkit.core.datagen.dirty_csv`); untouched when ``input_path`` is set.
    lines, seed : int
    defect_rate : float

    Returns
    -------
    tuple
        (the :class:`labkit.core.datagen.DirtyCSV`, or None for your own file; the path to read).
    """
    if input_path:
        return None, input_path
    from labkit.core.datagen import dirty_csv

    dirty = dirty_csv(folder, lines, defect_rate, seed)
    return dirty, dirty.root
