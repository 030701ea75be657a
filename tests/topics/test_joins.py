"""Join strategies: each hint gives its plan and the plain join's rows; a broadcast Spark cannot do is refused."""

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

import labkit
from labkit.core.measure import measure
from labkit.core.plans import plan_summary
from labkit.topics.joins import StrategyNotHonouredError, join_with_strategy


@pytest.fixture(scope="module")
def sides(spark):
    big = spark.range(0, 20_000).select((F.col("id") % 500).alias("k"), F.col("id").alias("v"))
    small = spark.range(0, 300).select(F.col("id").alias("k"), (F.col("id") * 2).alias("w"))
    return big, small


@pytest.mark.parametrize("strategy, node", [("broadcast", "BroadcastHashJoin"), ("merge", "SortMergeJoin"),
                                            ("shuffle_hash", "ShuffledHashJoin")])
@pytest.mark.parametrize("how", ["inner", "left"])
def test_each_hint_gives_its_strategy_in_the_executed_plan_and_the_plain_rows(spark, sides, strategy, node, how):
    big, small = sides
    joined = join_with_strategy(big, small, "k", strategy, how)
    assert plan_summary(joined).joins == [node]  # the final plan, after AQE ran
    assertDataFrameEqual(joined, big.join(small, "k", how))


def test_shuffle_replicate_nl_gives_a_cartesian_product(spark, sides):
    big, small = sides
    joined = join_with_strategy(big.limit(200), small, "k", "shuffle_replicate_nl")
    assert plan_summary(joined).joins == ["CartesianProduct"]
    assertDataFrameEqual(joined, big.limit(200).join(small, "k"))


def test_broadcasting_the_left_side_of_a_left_join_is_refused_with_the_reason(sides):
    big, small = sides
    with pytest.raises(ValueError, match="cannot broadcast the left side of a left outer join: .* every left row"):
        join_with_strategy(small, big, "k", "broadcast", how="left", hint_side="left")
    with pytest.raises(ValueError, match="never broadcasts either side"):
        join_with_strategy(big, small, "k", "broadcast", how="full")


def test_a_hint_spark_ignores_raises(spark, sides):
    big, small = sides
    with pytest.raises(StrategyNotHonouredError, match="did not honour the shuffle_replicate_nl hint"):
        join_with_strategy(big, small, "k", "shuffle_replicate_nl", how="left")


def test_unknown_strategies_join_types_and_sides_are_rejected(sides):
    big, small = sides
    with pytest.raises(ValueError, match="unknown join strategy 'hash'; choose one of broadcast, merge"):
        join_with_strategy(big, small, "k", "hash")
    with pytest.raises(ValueError, match="unknown join type 'sideways'"):
        join_with_strategy(big, small, "k", "merge", how="sideways")
    with pytest.raises(ValueError, match="hint_side"):
        join_with_strategy(big, small, "k", "merge", hint_side="middle")


def test_measure_reports_the_broadcast_size(spark, sides):
    big, small = sides
    m = measure(spark, lambda: join_with_strategy(big, small, "k", "broadcast").write.format("noop")
                .mode("overwrite").save())
    assert m.broadcast_bytes > 300 * 16  # 300 rows of two longs, plus the hash table
    assert 300 * 8 < labkit.estimated_size_bytes(small) < 300 * 32  # Spark's estimate, bytes per row


def test_a_cached_side_with_its_own_adaptive_plan_does_not_hide_the_join(spark):
    """A cached relation carries its own AQE plan (with Final/Initial markers) inside the query's plan."""
    big = spark.range(2000).withColumnRenamed("id", "k")
    small = spark.range(50).withColumnRenamed("id", "k").repartition(4).cache()
    small.count()  # materialised: its nested adaptive plan is final, markers and all
    for aqe in (False, True):
        with labkit.spark_conf(spark, {"spark.sql.adaptive.enabled": aqe, "spark.sql.autoBroadcastJoinThreshold": -1}):
            assert join_with_strategy(big, small, "k", "broadcast").count() == 50
            assert plan_summary(big.join(small, "k")).joins == ["SortMergeJoin"]
    small.unpersist()
