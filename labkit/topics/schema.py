"""Schema drift: column names and types between a source and a target.

A source (a CSV export, an upstream table) and the table it is loaded into drift apart: names change case and
spacing, and a type the target declares may not hold every value the source sends. :func:`clean_column_names` gives
the names one spelling (and refuses two names that would become one); :func:`check_datatype_matching` counts, per
column, the values a cast to the target type would lose, and :func:`to_target_types` keeps only the rows whose every
value survives, cast.

"Lost" means a non-null value that a cast does not keep: a number out of the target's range (``bigint`` into
``int``), a fraction cut (``1.5`` into ``int``, which ``try_cast`` makes ``1``, not NULL), a decimal scale rounded
(``decimal(10,4)`` into ``decimal(10,2)``), a string that is not a date or a number, and a time zone dropped
(``timestamp`` into ``timestamp_ntz``, or a string with an offset other than UTC into ``timestamp_ntz``). An entirely
null column loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from labkit.core.args import require_columns

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["cast_kind", "check_datatype_matching", "clean_column_names", "to_target_types"]

_NARROWING = {"tinyint": 1, "smallint": 2, "int": 4, "integer": 4, "bigint": 8}  # integral types and their bytes


def clean_column_names(df: DataFrame) -> DataFrame:
    """Lower-case, trimmed, ``[^a-z0-9_]`` → ``_`` column names (the guide's cleaning step); clashes raise.

    Parameters
    ----------
    df : pyspark.sql.DataFrame

    Returns
    -------
    pyspark.sql.DataFrame
        The same rows; a name that cleans to nothing becomes ``col``. Cleaned names never start or end with ``_``.

    Raises
    ------
    ValueError
        When two columns clean to the same name, naming them.

    Examples
    --------
    >>> clean_column_names(spark.createDataFrame([(1, 2)], "`Order ID` int, `e-mail` int")).columns
    ['order_id', 'e_mail']
    """
    names = [re.sub(r"[^a-z0-9_]+", "_", c.strip().lower()).strip("_") or "col" for c in df.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"cleaned column names clash: {dupes} (from {df.columns})")
    return df.toDF(*names)


def _lost(c: str, source: str, target: str) -> Column:
    """A condition true where a non-null value of type ``source`` in column ``c`` does not survive ``target``."""
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


def cast_kind(source: str, target: str) -> str:
    """What a type change is: same, widening, narrowing number, decimal precision or scale, parse, zone.

    Parameters
    ----------
    source, target : str
        Spark SQL type names as ``DataFrame.dtypes`` gives them (``"bigint"``, ``"decimal(10,2)"``...).

    Returns
    -------
    str
        ``"same"``, ``"widening"``, ``"narrowing number"``, ``"decimal precision/scale"``, ``"string to date/time"``,
        ``"string to number"``, ``"string to other"``, ``"time zone"`` or ``"other"``.

    Examples
    --------
    >>> cast_kind("bigint", "int"), cast_kind("timestamp", "timestamp_ntz")
    ('narrowing number', 'time zone')
    """
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


def check_datatype_matching(df: DataFrame, target_types: Mapping[str, str]) -> pd.DataFrame:
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
        Indexed by column: ``source``, ``target``, ``kind`` (:func:`cast_kind`), ``values_lost``, ``ok``.

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
        rows.append({"column": c, "source": types[c], "target": t, "kind": cast_kind(types[c], t),
                     "values_lost": lost, "ok": lost == 0})
    return pd.DataFrame(rows, columns=["column", "source", "target", "kind", "values_lost", "ok"]).set_index("column")


def to_target_types(df: DataFrame, target_types: Mapping[str, str]) -> DataFrame:
    """The rows whose every value survives its target type, with those columns cast to it.

    The rows left out are those :func:`check_datatype_matching` counts: a row is kept only when no column of
    ``target_types`` would lose its value. Other columns are kept as they are.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    target_types : mapping of column to Spark SQL type

    Returns
    -------
    pyspark.sql.DataFrame
        The same columns in the same order; the target columns of the target types.

    Raises
    ------
    ValueError
        For a target column the frame does not have.

    Examples
    --------
    >>> df = spark.createDataFrame([(1,), (2**40,)], "n bigint")
    >>> to_target_types(df, {"n": "int"}).collect()
    [Row(n=1)]
    """
    from pyspark.sql import functions as F

    if not target_types:
        return df
    require_columns(df, list(target_types), "target column")
    types = dict(df.dtypes)
    survive = F.lit(True)
    for c, t in target_types.items():
        survive = survive & ~_lost(c, types[c], t)
    typed = df.where(survive)
    for c, t in target_types.items():
        typed = typed.withColumn(c, F.expr(f"try_cast(`{c}` AS {t})"))
    return typed
