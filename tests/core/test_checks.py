import math
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from labkit.core.checks import assert_same_rows


def test_assert_same_rows_counts_duplicates_and_ignores_order_and_column_order(spark):
    a = spark.createDataFrame([(1, "x"), (1, "x"), (2, "y")], "k int, v string")
    assert assert_same_rows(a.select("v", "k").orderBy("k", ascending=False), a) == 3


def test_assert_same_rows_names_missing_and_extra_rows(spark):
    want = spark.createDataFrame([(1, "x"), (1, "x"), (2, "y")], "k int, v string")
    lost_duplicate = spark.createDataFrame([(1, "x"), (2, "y")], "k int, v string")
    with pytest.raises(AssertionError, match="salted join: 1 expected rows missing, 0 unexpected rows"):
        assert_same_rows(lost_duplicate, want, "salted join")
    changed = spark.createDataFrame([(1, "x"), (1, "x"), (2, "z")], "k int, v string")
    with pytest.raises(AssertionError, match="1 expected rows missing, 1 unexpected rows"):
        assert_same_rows(changed, want)
    with pytest.raises(AssertionError, match="columns differ"):
        assert_same_rows(want.withColumnRenamed("v", "w"), want)


def test_assert_same_rows_fails_on_equal_names_with_different_types_naming_the_column_and_both_types(spark):
    want = spark.createDataFrame([(1, "x"), (2, "y")], "k bigint, v string")
    narrower = spark.createDataFrame([(1, "x"), (2, "y")], "k int, v string")  # the same values, widened by Spark
    with pytest.raises(AssertionError, match="dedup: column types differ: k is int in actual but bigint in expected"):
        assert_same_rows(narrower, want, "dedup")
    as_text = spark.createDataFrame([("x", "1"), ("y", "2")], "v string, k string")  # reordered, then compared
    with pytest.raises(AssertionError, match="k is string in actual but bigint in expected"):
        assert_same_rows(as_text, want)


def test_assert_same_rows_handles_duplicate_and_dotted_names_nulls_nan_and_empty_frames(spark):
    schema = "`a.b` int, v double, w string"
    rows = [(1, float("nan"), None), (None, 0.0, "x"), (None, 0.0, "x")]
    frame = spark.createDataFrame(rows, schema)
    assert assert_same_rows(frame, spark.createDataFrame(rows[::-1], schema)) == 3  # NaN equals NaN, null null
    negative_zero = spark.createDataFrame([(1, float("nan"), None), (None, -0.0, "x"), (None, 0.0, "x")], schema)
    assert assert_same_rows(negative_zero, frame) == 3  # -0.0 groups with 0.0, as exceptAll compares them
    empty = spark.createDataFrame([], schema)
    assert assert_same_rows(empty, empty) == 0
    with pytest.raises(AssertionError, match="3 expected rows missing, 0 unexpected rows"):
        assert_same_rows(empty, frame)
    twice = frame.select("`a.b`", "v", F.col("v").alias("v2")).toDF("k", "v", "v")  # two columns named v
    assert assert_same_rows(twice, twice.orderBy(F.desc("k"))) == 3


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 2)), st.sampled_from([None, 1.5, float("nan")])),
                max_size=6),
       st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 2)), st.sampled_from([None, 1.5, float("nan")])),
                max_size=6))
def test_assert_same_rows_counts_as_a_multiset_of_python_rows_does(spark, actual, expected):
    def key(row):  # the reference: Python's Counter, with NaN made one value (Spark groups NaN with NaN)
        return tuple("NaN" if isinstance(x, float) and math.isnan(x) else x for x in row)

    have, want = Counter(map(key, actual)), Counter(map(key, expected))
    missing, extra = sum((want - have).values()), sum((have - want).values())
    schema = "k int, v double"
    a, e = spark.createDataFrame(actual, schema), spark.createDataFrame(expected, schema)
    if missing or extra:
        with pytest.raises(AssertionError, match=f": {missing} expected rows missing, {extra} unexpected rows"):
            assert_same_rows(a, e)
    else:
        assert assert_same_rows(a, e) == len(expected)
