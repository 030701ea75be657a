"""AQE's skew split on query shapes our generators do not write, checked against DuckDB and Spark's own rules."""

import duckdb
import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit.core.plans import plan_summary
from labkit.core.session import spark_conf
from labkit.experiments import aqe as aqe_exp
from labkit.topics import aqe


@pytest.fixture(scope="module")
def inputs(spark):
    """70% of 6,000 rows on keys 1 and 2 (with a group column), a dimension and a third table on the same key."""
    k = F.when(F.col("id") % 10 < 4, F.lit(1)).when(F.col("id") % 10 < 7, F.lit(2)).otherwise(F.col("id") % 1000)
    large = spark.range(0, 6_000, 1, 3).select(k.cast("long").alias("k"), F.col("id").alias("v"),
                                               (F.col("id") % 7).alias("g")).cache()
    dim = spark.range(0, 1000).withColumnRenamed("id", "k").cache()
    third = spark.range(0, 1000).select(F.col("id").alias("k"), (F.col("id") * 2).alias("w")).cache()
    return large, dim, third


def test_a_second_join_on_the_same_key_blocks_the_split_unless_forced(spark, inputs):
    large, dim, third = inputs
    table = aqe.forced_skew_split(spark, large.join(dim, "k").join(third, "k"))
    assert table["skew split"].to_dict() == {False: False, True: True}
    assert table.loc[True, "shuffles"] == table.loc[False, "shuffles"] + 1


def test_a_window_over_the_join_key_blocks_the_split_unless_forced(spark, inputs):
    large, dim, _ = inputs
    ranked = large.join(dim, "k").withColumn("r", F.row_number().over(Window.partitionBy("k").orderBy("v")))
    table = aqe.forced_skew_split(spark, ranked)
    assert table["skew split"].to_dict() == {False: False, True: True}


def test_an_aggregation_on_another_column_does_not_block_the_split(spark, inputs):
    """It needs its own shuffle anyway, so splitting the join adds none: no force needed."""
    large, dim, _ = inputs
    table = aqe.forced_skew_split(spark, large.join(dim, "k").groupBy("g").agg(F.sum("v")))
    assert table["skew split"].to_dict() == {False: True, True: True}
    assert table.loc[False, "shuffles"] == table.loc[True, "shuffles"]


def test_the_forced_split_returns_what_duckdb_returns(spark, inputs):
    large, dim, _ = inputs
    conf = {**aqe.skew_join_settings("1KB", 2.0), "spark.sql.autoBroadcastJoinThreshold": -1,
            "spark.sql.adaptive.coalescePartitions.enabled": False, "spark.sql.shuffle.partitions": 16,
            "spark.sql.adaptive.forceOptimizeSkewedJoin": True}
    large_pd, dim_pd = large.toPandas(), dim.toPandas()  # noqa: F841 (DuckDB reads them by name)
    want = duckdb.sql("SELECT k, SUM(v) AS total, COUNT(*) AS n FROM large_pd JOIN dim_pd USING (k) GROUP BY k").df()
    got = large.join(dim, "k").groupBy("k").agg(F.sum("v").alias("total"), F.count("*").alias("n"))
    with spark_conf(spark, conf):
        assertDataFrameEqual(got, spark.createDataFrame(want.astype({"total": "int64", "n": "int64"})))
        assert plan_summary(got).skew_split  # the rows above came from the split plan


def test_a_right_join_with_the_skewed_input_on_the_left_is_never_split(spark, inputs):
    """The skewed side is the one whose unmatched rows are dropped: splitting it is not allowed."""
    large, dim, _ = inputs
    table = aqe_exp.skew_split_by_join_type(spark, large, dim, "k", how=("right", "left_semi"))
    assert table.to_dict("index") == {"right": {"skewed side left": False, "skewed side right": True},
                                      "left_semi": {"skewed side left": True, "skewed side right": False}}
