"""Data quality with nothing lost: CSV accounted line by line, one-pass rules with reasons, sampling, Parquet checks.

The promise: every input line is either a good row or a quarantined line with
its raw text, its file and its reasons. ``read_csv_accounted`` checks
``data_lines == good + quarantined`` on every call.

Why not Spark's CSV reader alone: in PERMISSIVE mode a line with *more* fields
than the schema loses the extra ones silently, a line with *fewer* gets nulls,
and with DROPMALFORMED ``count()`` can disagree with what ``collect()`` returns
(CSV column pruning parses only the columns a query needs). So each line is read
as text, split with Spark's own CSV parser (``from_csv``) into strings, and typed
with ``try_cast``, which names the failing column instead of raising under ANSI mode.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.core.args import require_columns

__all__ = [
    "Accounted",
    "CheckReport",
    "DQDLSyntaxError",
    "DataQualityError",
    "Rule",
    "check",
    "csv_mode_pitfalls",
    "diagnose_parquet",
    "pandera_compare",
    "parse_dqdl",
    "precision_recall",
    "read_csv_accounted",
    "recall_sweep",
    "rules",
    "sampling_cases",
    "sampling_recall",
    "split_valid",
    "strategies",
]

_WIDE = 4  # string columns read beyond the schema, to see extra fields
_NULL = "\u0001"  # a null marker no real field holds: empty fields stay "" and missing ones become null


class DataQualityError(ValueError):
    """Data failed a quality threshold; ``report`` holds the details."""

    def __init__(self, message: str, report: Any = None):
        super().__init__(message)
        self.report = report


@dataclass
class Accounted:
    """The result of :func:`read_csv_accounted`."""

    good: Any  # DataFrame, typed with the schema
    quarantined: Any  # DataFrame: raw, file, reasons (array), reason (text), run_id
    report: dict[str, int] = field(default_factory=dict)


def _schema_fields(spark, schema: str):
    """The StructType of a DDL schema string."""
    from pyspark.sql.types import StructType

    return StructType.fromDDL(schema) if isinstance(schema, str) else schema


def _reasons(tokens, fields, n: int, header: str):
    """An array column of every reason a line is bad (empty when it is good)."""
    from pyspark.sql import functions as F

    value = F.col("value")
    structural = [
        (F.instr(value, "\ufffd") > 0, "invalid UTF-8"),
        (value == F.lit(header), "repeated header"),
        (F.pmod(F.length(value) - F.length(F.regexp_replace(value, '"', "")), F.lit(2)) == 1, "unbalanced quote"),
        (tokens[f"c{n}"].isNotNull(), f"extra columns (more than {n})"),
        (tokens[f"c{n - 1}"].isNull(), f"missing columns (fewer than {n})"),
    ]
    typed = []
    for i, f in enumerate(fields):
        raw = tokens[f"c{i}"]
        bad = (raw.isNotNull() & (F.length(raw) > 0) & F.expr(f"try_cast(`_t`.`c{i}` AS {f.dataType.simpleString()})")
               .isNull())
        typed.append((bad, f"{f.name}: not a valid {f.dataType.simpleString()}"))

    def reasons(checks):
        return F.filter(F.array(*[F.when(cond, F.lit(text)) for cond, text in checks]), lambda x: x.isNotNull())

    first = reasons(structural)  # a line that is not a record of the right shape: its fields mean nothing
    return F.when(F.size(first) > 0, first).otherwise(reasons(typed))


def read_csv_accounted(spark, path: str | Sequence[str], schema: str, mode: str = "PERMISSIVE",
                       quarantine_dir: str | None = None, run_id: str | None = None) -> Accounted:
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
        (they are still counted in the report); FAILFAST raises on the first bad line.
    quarantine_dir : str, optional
        Where the quarantined lines are written (JSON, one folder per run id).
    run_id : str, optional
        Tags the quarantined lines; a random id by default.

    Returns
    -------
    Accounted
        ``good`` (typed), ``quarantined`` (``raw, file, reasons, reason, run_id``) and ``report``:
        ``files, empty_files, header_lines, blank_lines, data_lines, good, quarantined`` and a count per reason.

    Raises
    ------
    ValueError
        For an unknown mode or an empty schema.
    DataQualityError
        In FAILFAST mode, naming the first bad line and why.

    Notes
    -----
    Lines are read one by one: a quoted field holding a newline (valid CSV) is
    split in two and both halves are quarantined, with reasons; read such files
    with ``spark.read.option("multiLine", True)`` after checking them, as the
    notebook shows. The first line of each file equal to the header is the
    header; any later one is a repeated header (concatenated files).
    """
    from pyspark.sql import functions as F

    if mode not in ("PERMISSIVE", "DROPMALFORMED", "FAILFAST"):
        raise ValueError(f"mode must be PERMISSIVE, DROPMALFORMED or FAILFAST, got {mode!r}")
    fields = list(_schema_fields(spark, schema).fields)
    if not fields:
        raise ValueError("schema names no columns")
    run_id = run_id or uuid.uuid4().hex[:12]
    n, header = len(fields), ",".join(f.name for f in fields)
    paths = [path] if isinstance(path, str) else list(path)
    lines = (spark.read.text(paths).select(F.regexp_replace("value", "^\ufeff", "").alias("value"),
                                           F.input_file_name().alias("file")).cache())
    wide = ", ".join(f"c{i} string" for i in range(n + _WIDE))
    parsed = lines.where(F.length(F.trim("value")) > 0).withColumn(
        "_t", F.from_csv("value", wide, {"nullValue": _NULL, "mode": "PERMISSIVE"}))
    is_header = F.col("value") == F.lit(header)
    first_header = F.row_number().over(_per_file_headers()) == 1
    data = parsed.withColumn("_first_header", F.when(is_header, first_header).otherwise(F.lit(False))).where(
        "not _first_header")
    checked = data.withColumn("reasons", _reasons(F.col("_t"), fields, n, header)).cache()
    good = checked.where(F.size("reasons") == 0).select(
        *[F.expr(f"try_cast(`_t`.`c{i}` AS {f.dataType.simpleString()})").alias(f.name) for i, f in enumerate(fields)])
    bad = checked.where(F.size("reasons") > 0).select(
        F.col("value").alias("raw"), "file", "reasons", F.array_join("reasons", "; ").alias("reason"),
        F.lit(run_id).alias("run_id"))
    report = _report(lines, checked, bad, header)
    if mode == "FAILFAST" and report["quarantined"]:
        first = bad.first()
        raise DataQualityError(f"FAILFAST: {first['file']}: {first['reason']}: {first['raw'][:200]!r}", report)
    if quarantine_dir:
        bad.write.mode("overwrite").json(f"{quarantine_dir.rstrip('/')}/run_id={run_id}")
    return Accounted(good, bad if mode == "PERMISSIVE" else bad.limit(0), report)


def _per_file_headers():
    """A window over the header lines of one file (their order does not matter: they are identical)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    return Window.partitionBy("file", "value").orderBy(F.lit(1))


def _report(lines, checked, bad, header: str) -> dict[str, int]:
    """The accounting: files, headers, blank lines, data lines, good, quarantined, per reason; checked to add up."""
    from pyspark.sql import functions as F

    files = lines.agg(F.countDistinct("file")).first()[0]
    per = lines.groupBy("file").agg(F.sum((F.col("value") == F.lit(header)).cast("int")).alias("h"),
                                    F.sum((F.length(F.trim("value")) == 0).cast("int")).alias("blank"))
    stats = per.agg(F.sum(F.least("h", F.lit(1))).alias("headers"), F.sum("blank").alias("blank")).first()
    total = lines.count()
    counts = checked.agg(F.count("*").alias("data"), F.sum((F.size("reasons") == 0).cast("int")).alias("good")).first()
    report = {"files": int(files), "header_lines": int(stats["headers"] or 0), "blank_lines": int(stats["blank"] or 0),
              "data_lines": int(counts["data"]), "good": int(counts["good"] or 0)}
    report["quarantined"] = report["data_lines"] - report["good"]
    by_reason = bad.select(F.explode("reasons").alias("r")).groupBy("r").count().collect()
    report.update({f"reason: {row['r']}": int(row["count"]) for row in by_reason})
    if total != report["data_lines"] + report["header_lines"] + report["blank_lines"]:
        raise AssertionError(f"accounting broken: {total} lines read, {report}")  # never expected: a labkit bug
    return report


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
        """The share of non-null values compared with ``share`` (dataset level)."""
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
        """
        shown = {"between": lambda v: f"between {v[0]} and {v[1]}", "in": lambda v: "in [" + ", ".join(
            _q(str(x)) for x in v) + "]", "matches": lambda v: f"matches {_q(v)}"}.get(
            op, lambda v: f"{op} {v if isinstance(v, (int, float)) or v == 'now()' else _q(str(v))}")(value)
        return Rule(f"ColumnValues {_q(column)} {shown}", "ColumnValues", (column,), op, value)

    @staticmethod
    def castable(column: str, type_name: str) -> Rule:
        """Every non-null value converts to ``type_name`` (INTEGER, DOUBLE, DATE, ...) with try_cast."""
        return Rule(f"ColumnDataType {_q(column)} = {_q(type_name.upper())}", "ColumnDataType", (column,), "=",
                    type_name.upper())

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
        return handler()

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
        "ColumnDataType": lambda: cols[0].isNotNull() & F.expr(
            f"try_cast(`{rule.columns[0]}` AS {rule.value})").isNull(),
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
    """(metric, passed, failing rows) of one rule from its raw metric."""
    if rule.kind == "RowCount":
        ok = (rule.value[0] <= total <= rule.value[1]) if rule.op == "between" else getattr(total, _OPS[rule.op])(
            rule.value)
        return float(total), bool(ok), 0 if ok else total
    if rule.kind == "Completeness":
        share = raw / total if total else 1.0
        return share, bool(getattr(share, _OPS[rule.op])(rule.value)), total - raw
    failing = int(raw)
    return (1 - failing / total) if total else 1.0, failing == 0, failing


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
                    "failing": failing})
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


def diagnose_parquet(path: str, quarantine: bool = False, quarantine_dir: str | None = None) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        One row per file: ``file``, ``status``, ``rows``, ``detail`` (the schema difference or the error),
        ``moved_to``.
    """
    import shutil

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
        target = Path(quarantine_dir or f"{root}_quarantine")
        target.mkdir(parents=True, exist_ok=True)
        for i, r in table[table["status"] == "corrupt"].iterrows():
            dest = target / Path(r["file"]).relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(r["file"], dest)
            table.loc[i, "moved_to"] = str(dest)
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


def csv_mode_pitfalls(spark, path: str, schema: str, good_rows: int) -> pd.Series:
    """What Spark's own CSV modes and casts do with bad input, observed on ``path``.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A CSV file or folder with a header.
    schema : str
        The expected columns (DDL).
    good_rows : int
        The lines :func:`read_csv_accounted` kept as good, to compare PERMISSIVE with.

    Returns
    -------
    pandas.Series
        PERMISSIVE rows of the wrong width that pass as good; DROPMALFORMED's ``count()`` against the rows it
        returns; whether a query on ``_corrupt_record`` alone is allowed; what ``cast('twelve' as double)`` does
        (an error under ANSI); and whether ``try_cast`` flags it.
    """
    from pyspark.sql import functions as F

    reader = spark.read.option("header", True).schema(f"{schema}, _corrupt_record string")
    raw = reader.option("columnNameOfCorruptRecord", "_corrupt_record").csv(path)
    wrong_width = raw.cache().where("_corrupt_record is null").count() - good_rows  # cached: the column can be read
    dropped = spark.read.option("header", True).schema(schema).option("mode", "DROPMALFORMED").csv(path)
    counted, returned = dropped.count(), len(dropped.select(*dropped.columns).collect())
    corrupt_only = _outcome(lambda: raw.select("_corrupt_record").where("_corrupt_record is not null").count(),
                            "allowed")  # AnalysisException: only the internal corrupt record column
    raw.unpersist()
    bad_number = spark.createDataFrame([("12.5",), ("twelve",)], "amount string")
    ansi = _outcome(lambda: bad_number.select(F.col("amount").cast("double")).collect(), "no error")
    flagged = bad_number.select(F.expr("try_cast(amount AS double)").isNull().alias("bad")).where("bad").count()
    return pd.Series({"PERMISSIVE rows of the wrong width": wrong_width, "DROPMALFORMED count()": counted,
                      "DROPMALFORMED rows collected": returned, "query on _corrupt_record alone": corrupt_only,
                      "cast('twelve' as double) under ANSI": ansi, "try_cast flags it": flagged}, name="observed")


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
