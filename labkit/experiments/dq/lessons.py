"""What Spark's CSV reader and the guide's data-quality code do, observed: notebook 06's lessons, as functions.

:func:`permissive_width_cases` and :func:`csv_mode_pitfalls` show what PERMISSIVE, DROPMALFORMED and ANSI casts
do with bad input; :func:`guide_permissive_read`, :func:`guide_duplicate_test`, :func:`guide_subtract_union`
and :func:`guide_code_outcomes` run the guide's own code beside what :mod:`labkit.topics.dq` does instead;
:func:`null_key_sample` and :func:`csv_source` build the inputs.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import require_columns
from labkit.core.datagen import DirtyCSV, dirty_csv
from labkit.core.session import spark_conf
from labkit.topics.dq import rules, split_valid

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["csv_mode_pitfalls", "csv_source", "guide_code_outcomes", "guide_duplicate_test", "guide_permissive_read",
           "guide_subtract_union", "merge_schema_outcome", "null_key_sample", "permissive_width_cases"]

_CORRUPT = "_corrupt_record"
_PRUNING = "spark.sql.csv.parser.columnPruning.enabled"
# (case, the schema has _corrupt_record, the columns a query reads, spark.sql.csv.parser.columnPruning.enabled)
_WIDTH_CASES = (("every column", True, "every", True), ("first column, pruning on", True, "first", True),
                ("first column, pruning off", True, "first", False), ("no _corrupt_record in the schema", False,
                                                                      "every", True))


def _permissive(spark: SparkSession, path: str, schema: str, corrupt: bool) -> DataFrame:
    """A PERMISSIVE header read of ``path``, with ``_corrupt_record string`` appended to the schema if ``corrupt``."""
    reader = spark.read.option("header", True).option("mode", "PERMISSIVE")
    reader = reader.schema(f"{schema}, {_CORRUPT} string" if corrupt else schema)
    return reader.option("columnNameOfCorruptRecord", _CORRUPT).csv(path)


def _width_case(spark: SparkSession, path: str, schema: str, wrong: DataFrame, corrupt: bool, columns: str,
                pruning: bool) -> dict[str, int]:
    """Rows a query returns, lines it flags, and how many of ``wrong``'s lines are among them, for one case."""
    from pyspark.sql import functions as F

    with spark_conf(spark, {_PRUNING: pruning}):
        raw = _permissive(spark, path, schema, corrupt)
        data = [c for c in raw.columns if c != _CORRUPT]
        read = raw.select(*(data[:1] if columns == "first" else data), *([_CORRUPT] if corrupt else []))
        if not corrupt:
            return {"rows": read.count(), "flagged": 0, "wrong width flagged": 0}  # nothing can mark a line
        # cached: a count on _corrupt_record alone is refused; the cache reads exactly the columns selected here
        read = read.cache()
        try:  # one pass: each line once (the wrong-width texts are distinct), marked when it is one of them
            marks = wrong.select(F.col("raw").alias(_CORRUPT)).distinct().withColumn("_wrong", F.lit(True))
            flagged = F.col(_CORRUPT).isNotNull()
            got = read.join(marks, _CORRUPT, "left").agg(
                F.count("*").alias("rows"), F.count_if(flagged).alias("flagged"),
                F.count_if(flagged & F.col("_wrong")).alias("hit")).first()
            return {"rows": got["rows"], "flagged": got["flagged"], "wrong width flagged": got["hit"]}
        finally:
            read.unpersist()


def permissive_width_cases(spark: SparkSession, path: str, schema: str, wrong_width: DataFrame) -> pd.DataFrame:
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
        :func:`labkit.topics.dq.read_csv_accounted`'s quarantine with reason ``extra columns`` or ``missing columns``).

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
    from pyspark.sql.types import StructType

    if _CORRUPT in StructType.fromDDL(schema).fieldNames():
        raise ValueError(f"permissive_width_cases: give the schema without {_CORRUPT}; each case adds it or not")
    require_columns(wrong_width, ["raw"], "permissive_width_cases: wrong_width")
    total = wrong_width.count()
    rows = {name: {"corrupt column": corrupt, "columns read": columns, "columnPruning": pruning,
                   **_width_case(spark, path, schema, wrong_width, corrupt, columns, pruning), "wrong width": total}
            for name, corrupt, columns, pruning in _WIDTH_CASES}
    return pd.DataFrame.from_dict(rows, orient="index")


def csv_mode_pitfalls(spark: SparkSession, path: str, schema: str) -> pd.Series:
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


def _outcome(action: Callable[[], Any], ok: str) -> str:
    """``ok`` when ``action()`` runs, else the name of the exception it raised."""
    try:
        action()
        return ok
    except Exception as err:  # noqa: BLE001 - the exception's class is the observation
        return type(err).__name__


def guide_permissive_read(spark: SparkSession, path: str) -> DataFrame:
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


def merge_schema_outcome(spark: SparkSession, folder: str, compatible: Sequence[str]) -> dict[str, Any]:
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


def guide_duplicate_test(df: DataFrame, keys: Sequence[str]) -> pd.Series:
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
    null = functools.reduce(operator.or_, [F.col(k).isNull() for k in keys])
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


def guide_subtract_union(good: DataFrame, first: str, second: str, rows: int = 3) -> pd.Series:
    """The guide's ``df.subtract(bad)`` and ``union`` of two rule failures, beside :func:`split_valid`.

    ``subtract`` is ``EXCEPT DISTINCT``: on ``rows`` good rows each present twice, subtracting nothing keeps
    only the distinct rows, where :func:`split_valid` keeps them all. ``union`` of the rows failing ``first`` and
    those failing ``second`` counts a row failing both twice.

    Parameters
    ----------
    good : pyspark.sql.DataFrame
        Rows that pass (for example :attr:`labkit.topics.dq.Accounted.good`), with a ``quantity`` column.
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
    from pyspark.sql import functions as F

    twice = good.limit(rows).unionByName(good.limit(rows))
    kept, _ = split_valid(twice, [rules.column_values("quantity", ">=", 0)])
    subtracted = twice.subtract(twice.limit(0)).count()  # the guide's df.subtract(all_malformed), nothing malformed
    unioned = good.where(first).union(good.where(second)).count()  # the guide's all_malformed.count()
    failing = good.agg(F.count_if(F.expr(f"({first}) or ({second})")).alias("either"),  # one pass for both
                       F.count_if(F.expr(f"({first}) and ({second})")).alias("both")).first()
    return pd.Series({"rows": twice.count(), "split_valid keeps": kept.count(), "subtract keeps": subtracted,
                      "union counts": unioned, "failing either": failing["either"], "failing both": failing["both"]},
                     name="rows", dtype=object)


def null_key_sample(spark: SparkSession, rows: int = 100, null_at: int = 17) -> DataFrame:
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


def csv_source(input_path: str, folder: str, lines: int, seed: int, defect_rate: float = 0.05
               ) -> tuple[DirtyCSV | None, str]:
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
    dirty = dirty_csv(folder, lines, defect_rate, seed)
    return dirty, dirty.root
