import pytest

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
