"""Result checks that run inside Spark, so they scale past what fits on the driver."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["assert_same_rows"]


def assert_same_rows(actual: DataFrame, expected: DataFrame, what: str = "result") -> int:
    """Assert two DataFrames hold the same multiset of rows (order ignored, duplicates counted).

    Parameters
    ----------
    actual, expected : pyspark.sql.DataFrame
        Frames with the same column names and types (``actual`` is reordered to match).
    what : str
        Names the check in the error message.

    Returns
    -------
    int
        The number of rows (checked equal).

    Raises
    ------
    AssertionError
        Naming how many rows are missing and how many are extra, with a few examples; or the columns whose
        names or types differ (an ``int`` column against a ``bigint`` one is a difference, never widened).

    Notes
    -----
    One Spark job, with no ``collect`` of the data: both frames are tagged,
    unioned and grouped by every column (rows compare as ``exceptAll``
    compares them: nulls equal, ``NaN`` equal to ``NaN``), and the per-row
    count differences summed; ``exceptAll`` finds the examples only when they
    differ. For small frames with floats, prefer
    ``pyspark.testing.assertDataFrameEqual`` with ``rtol``.

    Examples
    --------
    >>> a = spark.createDataFrame([(1, "x"), (1, "x"), (2, "y")], ["k", "v"])
    >>> assert_same_rows(a.orderBy("k", ascending=False), a)
    3
    """
    if sorted(actual.columns) != sorted(expected.columns):
        raise AssertionError(f"{what}: columns differ: {actual.columns} vs {expected.columns}")
    if actual.columns != expected.columns:
        if len(set(expected.columns)) != len(expected.columns):
            raise AssertionError(f"{what}: duplicate column names {expected.columns} in a different order "
                                 f"({actual.columns}); rename them before comparing")
        actual = actual.select(*expected.columns)
    types = [f"{name} is {have} in actual but {want} in expected"
             for (name, have), (_, want) in zip(actual.dtypes, expected.dtypes, strict=True) if have != want]
    if types:
        raise AssertionError(f"{what}: column types differ: {'; '.join(types)}")
    from pyspark.sql import functions as F

    # one aggregation: per distinct row, how many times actual holds it minus how many times expected does.
    # Columns are renamed by position, so duplicate or dotted names group like any other.
    names = [f"c{i}" for i in range(len(expected.columns))]
    both = actual.toDF(*names).withColumn("_side", F.lit(1)).union(expected.toDF(*names).withColumn("_side", F.lit(-1)))
    per_row = both.groupBy(*names).agg(F.sum("_side").alias("d"), F.count_if(F.col("_side") < 0).alias("n"))
    zero = F.lit(0).cast("long")
    row = per_row.agg(F.coalesce(F.sum(F.when(F.col("d") < 0, -F.col("d"))), zero).alias("missing"),
                      F.coalesce(F.sum(F.when(F.col("d") > 0, F.col("d"))), zero).alias("extra"),
                      F.coalesce(F.sum("n"), zero).alias("rows")).first()
    if row["missing"] or row["extra"]:
        missing, extra = expected.exceptAll(actual), actual.exceptAll(expected)
        raise AssertionError(f"{what}: {row['missing']} expected rows missing, {row['extra']} unexpected rows; "
                             f"missing e.g. {missing.limit(3).collect()}, extra e.g. {extra.limit(3).collect()}")
    return int(row["rows"])
