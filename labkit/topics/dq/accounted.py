"""CSV read line by line with nothing lost: every line is a good row or a quarantined line with its reasons.

:func:`read_csv_accounted` checks ``data_lines == good + quarantined`` on every call. Why not Spark's CSV
reader alone: CSV column pruning (``spark.sql.csv.parser.columnPruning.enabled``, on by default) parses only the
columns a query needs. PERMISSIVE marks a line with more or fewer fields than the schema in ``_corrupt_record``
only when the schema has that column and the query reads every column; a query on some columns keeps the short
line (nulls) and the long one (extra fields dropped) as good rows, and a schema without the column marks
nothing. With DROPMALFORMED ``count()`` can disagree with what ``collect()`` returns. So each line is read as
text, split with Spark's own CSV parser (``from_csv``) into strings, and typed with ``try_cast``, which names the
failing column instead of raising under ANSI mode.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.core.args import confined, plain_name
from labkit.topics.dq.errors import DataQualityError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructField, StructType

__all__ = ["Accounted", "read_csv_accounted"]

_WIDE = 4  # string columns read beyond the schema, to see extra fields
_NULL = "\u0001"  # the nullValue: an unquoted empty field becomes null, a quoted "" stays "" (as DuckDB reads them)
_END = "\u0002"  # appended to every line as one more field: the tokeniser puts it at the index = the field count


@dataclass
class Accounted:
    """The result of :func:`read_csv_accounted`.

    ``good`` and ``quarantined`` are lazy DataFrames. By default the read caches its lines only while it builds
    ``report`` (and writes the quarantine), then releases them: each action on ``good`` or ``quarantined`` reads
    the files again (if the files change in between, they no longer agree with ``report``). With ``cache=True``
    the lines stay cached and both frames read them, agreeing with ``report`` by construction, until
    :meth:`unpersist`.
    """

    good: DataFrame  # typed with the schema (plus the source column when asked for)
    quarantined: DataFrame  # raw, file, line, reasons (array), reason (text), run_id
    report: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # headers whose names differ, files without a header
    cached: list[DataFrame] = field(default_factory=list, repr=False)  # what ``cache=True`` keeps, until unpersist

    def unpersist(self) -> None:
        """Release the lines ``read_csv_accounted(..., cache=True)`` kept cached (nothing otherwise); idempotent."""
        _release(self.cached)


def _release(frames: list[DataFrame]) -> None:
    """Unpersist ``frames``, the last cached first, and empty the list."""
    while frames:
        frames.pop().unpersist()


def _schema_fields(spark: SparkSession, schema: str | StructType) -> StructType:
    """The StructType of a DDL schema string."""
    from pyspark.sql.types import StructType

    return StructType.fromDDL(schema) if isinstance(schema, str) else schema


def _one_char(name: str, value: Any) -> str:
    """``value`` if it is one character the line reader can use as a CSV option, else a ValueError."""
    if not isinstance(value, str) or len(value) != 1 or value in (_NULL, _END, ",", "\n", "\r"):
        raise ValueError(f"{name} must be one character other than ',' and a line break, got {value!r}")
    return value


def _read_args(spark: SparkSession, path: str | Sequence[str], schema: str, mode: str, quarantine_dir: str | None,
               run_id: str | None, source_column: str | None, comment: str | None, escape: str
               ) -> tuple[list[str], list[StructField], str, str | None]:
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


def _kind0(comment: str | None) -> Column:
    """A line's kind before the header rule: ``blank``, ``comment`` or ``content``."""
    from pyspark.sql import functions as F

    kind0 = F.when(F.length(F.trim("value")) == 0, "blank")
    if comment is not None:
        kind0 = kind0.when(F.col("value").startswith(comment), "comment")
    return kind0.otherwise("content")


def _raw_lines(spark: SparkSession, paths: list[str]) -> tuple[DataFrame, int]:
    """(the lines as read: ``value`` (BOM dropped), ``file``, ``_block`` (its block's start), ``_id``; files listed)."""
    from pyspark.sql import functions as F

    source = spark.read.text(paths)
    raw = source.select(
        F.regexp_replace("value", "^\ufeff", "").alias("value"), F.input_file_name().alias("file"),
        F.col("_metadata.file_block_start").alias("_block"), F.monotonically_increasing_id().alias("_id"))
    return raw, len(source.inputFiles())


def _block_stats(raw: DataFrame, comment: str | None) -> DataFrame:
    """Per block of a file: its lines (``_n``), its first row's id (``_first``), its first content row's id."""
    from pyspark.sql import functions as F

    return raw.groupBy("file", "_block").agg(
        F.count(F.lit(1)).alias("_n"), F.min("_id").alias("_first"),
        F.min(F.when(_kind0(comment) == "content", F.col("_id"))).alias("_content"))


_OFFSETS = "file string, _block long, _offset long, _head_line long"


def _offsets_collected(spark: SparkSession, raw: DataFrame, comment: str | None) -> DataFrame:
    """:func:`_offsets_in_plan`, computed once: one small aggregation collected (a row per block), summed here."""
    blocks: dict[str, list] = {}
    for r in _block_stats(raw, comment).collect():
        blocks.setdefault(r["file"], []).append(r)
    rows = []
    for file, parts in blocks.items():
        before, head, offsets = 0, None, []
        for r in sorted(parts, key=lambda r: r["_block"]):
            offsets.append((r["_block"], before - r["_first"] + 1))
            if head is None and r["_content"] is not None:
                head = before + r["_content"] - r["_first"] + 1
            before += r["_n"]
        rows += [(file, block, offset, head) for block, offset in offsets]
    return spark.createDataFrame(rows, _OFFSETS)


def _offsets_in_plan(raw: DataFrame, comment: str | None) -> DataFrame:
    """Per block: ``_offset`` (a row's line number is ``_id + _offset``) and its file's first content line.

    The lines before a block are the lines of the file's earlier blocks (``_metadata.file_block_start`` order);
    rows of one block are contiguous in one partition, so ``monotonically_increasing_id`` counts them in file
    order. No sort of the data and no single-partition window: only the blocks are ordered.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    earlier = Window.partitionBy("file").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
    blocks = _block_stats(raw, comment).withColumn("_before", F.coalesce(F.sum("_n").over(earlier), F.lit(0)))
    head = F.min(F.col("_before") + F.col("_content") - F.col("_first") + 1).over(Window.partitionBy("file"))
    return blocks.select("file", "_block", (F.col("_before") - F.col("_first") + 1).alias("_offset"),
                         head.alias("_head_line"))


def _numbered(tokens: DataFrame, offsets: DataFrame) -> DataFrame:
    """The tokenised lines with ``line`` (1-based in its file) and their file's ``_head_line``.

    The join comes after the tokeniser: the classifier's many uses of the tokens then read a column, where
    the tokeniser's expressions inlined into every use would outgrow the generated code's 64 KB limit.
    """
    from pyspark.sql import functions as F

    keep = [c for c in tokens.columns if c not in ("file", "_block", "_id")]
    return tokens.join(F.broadcast(offsets), ["file", "_block"]).select(
        "file", (F.col("_id") + F.col("_offset")).alias("line"), *keep, "_head_line")


def _all(conditions: Sequence[Column]) -> Column:
    """True when every boolean column is true (null counts as false); true for none."""
    from pyspark.sql import functions as F

    out = F.lit(True)
    for c in conditions:
        out = out & F.coalesce(c, F.lit(False))
    return out


def _tokenise(raw: DataFrame, fields: list[StructField], comment: str | None, escape: str) -> DataFrame:
    """Add ``_kind0`` (blank, comment, content), ``_t`` (the tokens: Spark's own CSV parser), ``_fields`` (how
    many fields the tokeniser found; -1 when the end marker was not found) and ``_swallowed`` (the end marker
    was read inside a quoted field: a quote never closed)."""
    from pyspark.sql import functions as F

    width = len(fields) + _WIDE
    wide = ", ".join(f"c{i} string" for i in range(width))
    parsed = raw.withColumn("_kind0", _kind0(comment)).withColumn(
        "_t", F.when(F.col("_kind0") == "content", F.from_csv(F.concat("value", F.lit("," + _END)), wide,
                                                              {"nullValue": _NULL, "escape": escape})))
    toks = F.array(*[F.col(f"_t.c{i}") for i in range(width)])
    return parsed.withColumn("_fields", F.array_position(toks, _END).cast("int") - 1).withColumn(
        "_swallowed", F.coalesce(F.exists(toks, lambda x: x.contains(_END) & (x != _END)), F.lit(False)))


def _header_tests(fields: list[StructField]) -> tuple[Column, Column, Column]:
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


def _cast(i: int, f: StructField) -> Column:
    """Token ``i`` converted to field ``f``'s type with ``try_cast`` (null when it does not convert)."""
    from pyspark.sql import functions as F

    return F.col(f"_t.c{i}").try_cast(f.dataType)


def _classify(tokens: DataFrame, fields: list[StructField]) -> DataFrame:
    """Every line with its ``kind`` (blank, comment, header, data), ``header_mismatch``, ``headerless`` and
    ``reasons`` (empty for a good data line).

    The header rule: the first line of a file that is neither blank nor a comment is its header when it has the
    schema's width and either its names are the schema's (ignoring case and surrounding spaces) or every field is
    non-empty and no non-string field converts to its type (a renamed header). Otherwise the file has no header
    and that line is data. A later line holding the schema's names is a repeated header (quarantined).
    ``tokens`` are the lines tokenised and numbered, with each file's first content line (:func:`_numbered`).
    """
    from pyspark.sql import functions as F

    names, exact, not_data = _header_tests(fields)
    first_line = F.coalesce(F.col("line") == F.col("_head_line"), F.lit(False))
    is_header = first_line & (names | not_data)
    kind = F.when(F.col("_kind0") != "content", F.col("_kind0")).when(is_header, "header").otherwise("data")
    return tokens.select("*", kind.alias("kind"), (is_header & ~exact).alias("header_mismatch"),
                         (first_line & ~is_header).alias("headerless"),
                         F.when(~is_header & (F.col("_kind0") == "content"), _reasons(fields, names))
                         .otherwise(F.array().cast("array<string>")).alias("reasons"))


def _structural(fields: list[StructField], names: Column) -> list[tuple[Column, str]]:
    """The reasons a line is not a record of the schema's shape, each with its test."""
    from pyspark.sql import functions as F

    n, count, swallowed = len(fields), F.col("_fields"), F.col("_swallowed")
    return [
        (F.instr("value", "\ufffd") > 0, "invalid UTF-8"),
        (names, "repeated header"),
        (swallowed, "unbalanced quote"),
        ((count > n) | ((count < 0) & ~swallowed), f"extra columns (more than {n})"),
        ((count >= 0) & (count < n), f"missing columns (fewer than {n})"),
    ]


def _typed(fields: list[StructField]) -> list[tuple[Column, str]]:
    """The reasons a record's field does not convert to its type, each with its test."""
    from pyspark.sql import functions as F

    out = []
    for i, f in enumerate(fields):
        raw = F.col(f"_t.c{i}")
        out.append((raw.isNotNull() & (F.length(raw) > 0) & _cast(i, f).isNull(),
                    f"{f.name}: not a valid {f.dataType.simpleString()}"))
    return out


def _reason_texts(fields: list[StructField]) -> list[str]:
    """Every reason :func:`_reasons` can give, in the order it gives them."""
    from pyspark.sql import functions as F

    return [text for _, text in _structural(fields, F.lit(False)) + _typed(fields)]


def _reasons(fields: list[StructField], names: Column) -> Column:
    """An array column of every reason a data line is bad (empty when it is good)."""
    from pyspark.sql import functions as F

    def reasons(checks: list[tuple[Column, str]]) -> Column:
        return F.filter(F.array(*[F.when(cond, F.lit(text)) for cond, text in checks]), lambda x: x.isNotNull())

    first = reasons(_structural(fields, names))  # not a record of the right shape: its fields mean nothing
    return F.when(F.size(first) > 0, first).otherwise(reasons(_typed(fields)))


def read_csv_accounted(spark: SparkSession, path: str | Sequence[str], schema: str, mode: str = "PERMISSIVE",
                       quarantine_dir: str | None = None, run_id: str | None = None,
                       source_column: str | None = None, comment: str | None = None,
                       escape: str = "\\", cache: bool = False) -> Accounted:
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
    cache : bool
        Keep the lines cached after the read: ``good`` and ``quarantined`` are read from memory and agree with
        ``report`` by construction (a caller that counts them several times reads the files once); release them
        with :meth:`Accounted.unpersist`. By default they are released before the call returns, and each action
        on ``good`` or ``quarantined`` reads the files again.

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
    paths, fields, run_id, target = _read_args(spark, path, schema, mode, quarantine_dir, run_id, source_column,
                                               comment, escape)
    raw, files = _raw_lines(spark, paths)
    kept = [raw.cache()]
    try:  # the block offsets collected once, so that the accounting reads the files once
        tokens = _tokenise(raw, fields, comment, escape)
        checked = _classify(_numbered(tokens, _offsets_collected(spark, raw, comment)), fields)
        kept.append(checked.cache())
        good, bad = _frames(checked, fields, source_column, run_id)
        report, notes = _report(files, checked, fields)
        if mode == "FAILFAST" and report["quarantined"]:
            first = bad.orderBy("file", "line").select("file", "line", "reason").first()
            raise DataQualityError(f"FAILFAST: {first['file']} line {first['line']}: {first['reason']} "
                                   f"({report['quarantined']} bad lines in all)", report)
        if target:
            bad.write.mode("overwrite").json(target)
    except BaseException:
        _release(kept)
        raise
    if not cache:  # released: each action reads the files again, its block offsets computed in the same plan
        _release(kept)
        good, bad = _frames(_classify(_numbered(tokens, _offsets_in_plan(raw, comment)), fields), fields,
                            source_column, run_id)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return Accounted(good, bad if mode == "PERMISSIVE" else bad.limit(0), report, notes, kept)


def _frames(checked: DataFrame, fields: list[StructField], source_column: str | None,
            run_id: str) -> tuple[DataFrame, DataFrame]:
    """(the good rows, typed; the quarantined lines) of the classified lines."""
    from pyspark.sql import functions as F

    data = checked.where("kind = 'data'")
    good = data.where(F.size("reasons") == 0).select(
        *[_cast(i, f).alias(f.name) for i, f in enumerate(fields)],
        *([F.col("file").alias(source_column)] if source_column else []))
    bad = data.where(F.size("reasons") > 0).select(
        F.col("value").alias("raw"), "file", "line", "reasons", F.array_join("reasons", "; ").alias("reason"),
        F.lit(run_id).alias("run_id"))
    return good, bad


def _report(files: int, checked: DataFrame, fields: list[StructField]) -> tuple[dict[str, int], list[str]]:
    """The accounting, checked to add up, and the warnings (headers read by position, files without a header).

    One aggregation: the count per reason too (the reasons are known from the schema), and the files read as
    the lines numbered 1.
    """
    from pyspark.sql import functions as F

    def count(cond: Column) -> Column:
        return F.sum(cond.cast("int"))

    kind, texts = F.col("kind"), _reason_texts(fields)
    row = checked.agg(F.count(F.lit(1)).alias("lines"), count(F.col("line") == 1).alias("read"),
                      count(kind == "header").alias("header_lines"),
                      count(F.col("header_mismatch")).alias("header_name_mismatch"),
                      count(F.col("headerless")).alias("headerless_files"),
                      count(kind == "blank").alias("blank_lines"), count(kind == "comment").alias("comment_lines"),
                      count(kind == "data").alias("data_lines"),
                      count((kind == "data") & (F.size("reasons") == 0)).alias("good"),
                      *[count(F.array_contains("reasons", t)).alias(f"_reason{i}") for i, t in enumerate(texts)]
                      ).first().asDict()
    row = {k: int(v or 0) for k, v in row.items()}
    by_reason = {t: row.pop(f"_reason{i}") for i, t in enumerate(texts)}
    report = {"files": files, "empty_files": files - row.pop("read"), **row}
    report["quarantined"] = report["data_lines"] - report["good"]
    report.update({f"reason: {t}": n for t, n in sorted(by_reason.items()) if n})
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
