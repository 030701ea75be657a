import pytest
from pyspark.sql import functions as F

from labkit.aqe import aqe_profiles
from labkit.measure import measure, plan_summary
from labkit.session import spark_conf


def test_single_feature_profiles_differ_from_none_in_exactly_one_setting():
    p = aqe_profiles()
    for name in ("coalesce", "skew_join", "dynamic_switch"):
        changed = [k for k in p["none"] if p[name][k] != p["none"][k]]
        assert len(changed) == 1, (name, changed)
    assert p["off"] == {"spark.sql.adaptive.enabled": False}


def test_every_profile_is_accepted_by_spark_conf(spark):
    for name, settings in aqe_profiles().items():
        with spark_conf(spark, settings) as now:
            assert len(now) == len(settings), name


def test_coalescing_leaves_fewer_partitions_than_configured(spark):
    def df():  # a new DataFrame per run: collect() reuses the physical plan a DataFrame was first planned with
        return spark.range(0, 20_000, 1, 2).groupBy((F.col("id") % 100).alias("k")).count()

    p = aqe_profiles()
    with spark_conf(spark, {**p["off"], "spark.sql.shuffle.partitions": 50}):
        off = measure(spark, lambda: df().collect())
    with spark_conf(spark, {**p["coalesce"], "spark.sql.shuffle.partitions": 50}):
        on = measure(spark, lambda: df().collect())
    assert len(off.stage_tasks_ms[off.shuffle_stage]) == 50
    assert len(on.stage_tasks_ms[on.shuffle_stage]) < 50
    assert sorted(map(tuple, off.result)) == sorted(map(tuple, on.result))


def test_the_dynamic_switch_turns_a_planned_sort_merge_join_into_a_broadcast(spark):
    big = spark.range(0, 3_000_000).withColumnRenamed("id", "k")
    small = spark.range(0, 3_000_000).withColumnRenamed("id", "k").filter("k % 100000 = 7")
    p = aqe_profiles()
    with spark_conf(spark, p["dynamic_switch"]):
        switched = plan_summary(big.join(small, "k"))
    with spark_conf(spark, p["none"]):
        kept = plan_summary(big.join(small, "k"))
    assert switched.initial_joins == ["SortMergeJoin"] and switched.joins == ["BroadcastHashJoin"]
    assert kept.joins == ["SortMergeJoin"]


@pytest.mark.parametrize("threshold, split", [("1KB", True), ("256MB", False)])
def test_the_skew_join_fires_only_with_lowered_thresholds(spark, threshold, split):
    skewed = spark.range(0, 100_000, 1, 2).select(
        F.when(F.col("id") % 10 < 8, F.lit(0)).otherwise(F.col("id") % 1000).alias("k"))
    dim = spark.range(0, 1000).withColumnRenamed("id", "k")
    with spark_conf(spark, {**aqe_profiles(skew_threshold=threshold)["skew_join"],
                            "spark.sql.autoBroadcastJoinThreshold": -1, "spark.sql.shuffle.partitions": 16}):
        assert plan_summary(skewed.join(dim, "k")).skew_split is split
