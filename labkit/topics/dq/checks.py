"""Rules applied to a DataFrame: one-pass checks, a split into valid and quarantined rows, and sampling strategies.

:func:`check` evaluates every rule in one aggregation (plus a grouping pass per uniqueness rule);
:func:`split_valid` names, on each quarantined row, every rule it broke. :func:`find_violations` looks for
violations the guide's four ways (every row, a sample, two passes, a sample then a full scan on failure).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import require_columns
from labkit.core.measure import measure
from labkit.topics.dq.dqdl import _OPS, Rule, parse_dqdl
from labkit.topics.dq.errors import DataQualityError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["STRATEGIES", "CheckReport", "check", "failures_by_rule", "find_violations", "split_valid",
           "suspicious_rules", "violation"]


def _value_test(rule: Rule, c: Column) -> Column:
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


def _duplicate(rule: Rule, cols: Sequence[Column]) -> Column:
    """Rows whose key occurs more than once (and, for a primary key, rows with a null key part)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    dup = F.count(F.lit(1)).over(Window.partitionBy(*cols)) > 1
    return dup | _any([c.isNull() for c in cols]) if rule.kind == "IsPrimaryKey" else dup


def _any(conditions: Sequence[Column]) -> Column:
    """True when any of the boolean columns is (``greatest`` needs two or more)."""
    from pyspark.sql import functions as F

    return conditions[0] if len(conditions) == 1 else F.greatest(*conditions)


def _zscore(rule: Rule, c: Column) -> Column:
    """Rows more than ``rule.value`` standard deviations from the column mean."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(F.lit(1))
    return F.coalesce(F.abs(c - F.avg(c).over(w)) / F.stddev(c).over(w) > F.lit(rule.value), F.lit(False))


def _violation(rule: Rule) -> Column | None:
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
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def _with_references(df: DataFrame, rule_list: Sequence[Rule], references: Mapping[str, DataFrame]) -> DataFrame:
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


def _check_columns(df: DataFrame, rule_list: Sequence[Rule]) -> None:
    """Every column a rule names exists."""
    for rule in rule_list:
        require_columns(df, list(rule.columns), f"column of rule {rule.text}") if rule.columns else None


def split_valid(df: DataFrame, rule_list: Sequence[Rule] | str, references: Mapping[str, DataFrame] | None = None,
                max_failure_rate: float | None = None, strict: bool = False,
                cache: bool = True) -> tuple[DataFrame, DataFrame]:
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
    cache : bool
        Cache the tagged rows both frames are read from (they stay cached: ``spark.catalog.clearCache()``
        releases them). False leaves nothing cached: for a caller that reads each frame once, or whose input is
        cached and whose rules need no window (IsUnique, IsPrimaryKey, ZScore).

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
    flags = [(r.text, _violation(r)) for r in rule_list]
    flags = [(text, v) for text, v in flags if v is not None]
    failures = F.filter(F.array(*[F.when(v, F.lit(text)) for text, v in flags]), lambda x: x.isNotNull()) if flags \
        else F.array().cast("array<string>")
    tagged = work.withColumn("dq_failures", failures)
    tagged = tagged.cache() if cache else tagged
    valid = tagged.where(F.size("dq_failures") == 0).select(*cols)
    quarantined = tagged.where(F.size("dq_failures") > 0).select(*cols, "dq_failures")
    if max_failure_rate is not None or strict:  # both counts in one aggregation
        row = tagged.agg(F.count(F.lit(1)), F.sum((F.size("dq_failures") > 0).cast("long"))).first()
        total, bad = int(row[0]), int(row[1] or 0)
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


def _metrics(df: DataFrame, rule_list: Sequence[Rule], references: Mapping[str, DataFrame]) -> dict[str, Any]:
    """Every rule's raw metric: one aggregation for all, one grouping pass per uniqueness rule."""
    from pyspark.sql import functions as F

    work = _with_references(df, rule_list, references)
    aggs = [F.count(F.lit(1)).alias("_rows")]
    for i, r in enumerate(rule_list):
        if r.kind == "Completeness":
            aggs.append(F.count(r.columns[0]).alias(f"m{i}"))
        elif r.kind not in ("RowCount", "IsUnique", "IsPrimaryKey"):  # a flag column first: ZScore uses a window
            work = work.withColumn(f"_v{i}", F.coalesce(_violation(r), F.lit(False)).cast("long"))
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


def check(df: DataFrame, rule_list: Sequence[Rule] | str, references: Mapping[str, DataFrame] | None = None,
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

STRATEGIES = ("full_scan", "sample", "two_pass", "hybrid")  # the guide's options 1, 2, 3 and 5, in that order
_NOT_ROW_LEVEL = ("RowCount", "Completeness", "ReferentialIntegrity")  # dataset-level, or a join to a reference


def _row_rules(rule_list: Sequence[Rule] | str) -> list[Rule]:
    """The rules a row can break on its own: not dataset-level, no reference table."""
    rule_list = parse_dqdl(rule_list) if isinstance(rule_list, str) else list(rule_list)
    return [r for r in rule_list if r.kind not in _NOT_ROW_LEVEL]


def violation(rule_list: Sequence[Rule] | str) -> Column:
    """A boolean Column, true on a row that breaks at least one row-level rule of ``rule_list``.

    Dataset-level rules (RowCount, Completeness) and ReferentialIntegrity (a join: use :func:`split_valid`) are
    left out; with none left the column is false. Uniqueness rules and ZScore are windows: add the column with
    ``withColumn`` before filtering on it.

    Parameters
    ----------
    rule_list : list of Rule, or DQDL text

    Returns
    -------
    pyspark.sql.Column

    Examples
    --------
    >>> df = spark.createDataFrame([(1, 5.0), (2, -1.0)], "id int, amount double")
    >>> [r.id for r in df.withColumn("bad", violation('[ ColumnValues "amount" >= 0 ]')).where("bad").collect()]
    [2]
    """
    from pyspark.sql import functions as F

    flags = [F.coalesce(_violation(r), F.lit(False)) for r in _row_rules(rule_list)]
    return _any(flags) if flags else F.lit(False)


def _count_violations(df: DataFrame, row_rules: Sequence[Rule]) -> int:
    """Rows breaking any of ``row_rules`` (no job when there is no rule)."""
    if not row_rules:
        return 0
    return df.withColumn("_bad", violation(row_rules)).where("_bad").count()  # a column first: some rules are windows


def suspicious_rules(df: DataFrame, rule_list: Sequence[Rule] | str) -> list[Rule]:
    """Pass 1 of the two-pass check: column statistics in one aggregation; the rules they cannot clear.

    Min, max and the non-null count clear ``IsComplete`` and numeric ``ColumnValues`` comparisons and ranges;
    a pattern, a type or uniqueness is always kept for pass 2.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    rule_list : list of Rule, or DQDL text
        Only the row-level rules are considered.

    Returns
    -------
    list of Rule
        The row-level rules pass 2 must check on every row.
    """
    from pyspark.sql import functions as F

    row_rules = _row_rules(rule_list)
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


def find_violations(df: DataFrame, rule_list: Sequence[Rule] | str, strategy: str = "full_scan",
                    fraction: float = 0.01, minimum: int = 10_000, seed: int = 0,
                    total: int | None = None) -> tuple[int, int]:
    """Look for rows breaking the row-level rules one of four ways (:data:`STRATEGIES`).

    * ``full_scan``: every row, every rule (one pass).
    * ``sample``: a ``fraction`` Bernoulli sample (the guide's shortcut).
    * ``two_pass``: :func:`suspicious_rules` (cheap column statistics), then only those rules on every row.
    * ``hybrid``: the guide's "1% or 10K minimum" sample; if it finds anything, a full scan for the count.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    rule_list : list of Rule, or DQDL text
    strategy : str
        One of :data:`STRATEGIES`.
    fraction, minimum : float, int
        The sample's share, and the hybrid's smallest sample in rows.
    seed : int
        The sample's seed.
    total : int, optional
        ``df.count()`` when known (the sample sizes are stated from it); counted here otherwise.

    Returns
    -------
    (int, int)
        Violations found, and the rows checked.

    Raises
    ------
    ValueError
        For an unknown strategy.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; the strategies are {list(STRATEGIES)}")
    row_rules = _row_rules(rule_list)
    total = df.count() if total is None else total
    if strategy == "full_scan":
        return _count_violations(df, row_rules), total
    if strategy == "sample":
        return _count_violations(df.sample(fraction=fraction, seed=seed), row_rules), int(total * fraction)
    if strategy == "two_pass":
        return _count_violations(df, suspicious_rules(df, row_rules)), total
    share = min(1.0, max(fraction, minimum / max(total, 1)))
    seen = _count_violations(df.sample(fraction=share, seed=seed), row_rules)
    return (_count_violations(df, row_rules) if seen else 0), int(total * share) + (total if seen else 0)


def failures_by_rule(quarantined: DataFrame) -> pd.DataFrame:
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

