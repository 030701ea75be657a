"""labkit.experiments.aqe: notebook 04's comparisons and plans, one AQE feature at a time."""

import pytest
from pyspark.sql import functions as F

from labkit.core.bench import compare
from labkit.core.measure import noop
from labkit.experiments import aqe as aqe_exp
from labkit.topics import aqe, skew
from labkit.topics.aqe import aqe_profiles

PRUNES_WITHOUT_AQE = {"AQE off": True, "AQE on": True, "AQE off, DPP off": False}


@pytest.fixture(scope="module")
def skewed(spark):
    """70% of 6,000 rows on keys 1 and 2, and a small side with every key."""
    k = F.when(F.col("id") % 10 < 4, F.lit(1)).when(F.col("id") % 10 < 7, F.lit(2)).otherwise(F.col("id") % 1000)
    large = spark.range(0, 6_000, 1, 3).select(k.cast("long").alias("k"), F.col("id").alias("v")).cache()
    small = spark.range(0, 1000).withColumnRenamed("id", "k").cache()
    return large, small


def test_outer_joins_split_only_their_preserved_side_and_a_full_join_neither(spark, skewed):
    large, small = skewed
    measured = aqe_exp.skew_split_by_join_type(spark, large, small, "k")
    expected = aqe.splittable_sides()
    assert measured.to_dict("index") == expected.to_dict("index")
    assert measured.loc["full"].tolist() == [False, False] and measured.loc["left"].tolist() == [True, False]


def test_dynamic_partition_pruning_is_not_aqe_it_prunes_with_aqe_off(spark, tmp_path):
    path = str(tmp_path / "facts")
    spark.range(0, 2_400).select((F.col("id") % 12 + 1).alias("month"), F.col("id").alias("v")) \
        .write.partitionBy("month").parquet(path)
    months = spark.range(1, 13).select(F.col("id").alias("month"),
                                       F.when(F.col("id") <= 3, "Q1").otherwise("later").alias("quarter"))
    query = spark.read.parquet(path).join(months.filter("quarter = 'Q1'"), "month")
    assert aqe_exp.dynamic_pruning_by_setting(spark, query) == PRUNES_WITHOUT_AQE


def _grouped(spark):
    return spark.range(0, 20_000, 1, 2).groupBy((F.col("id") % 100).alias("k")).count()


def test_coalesce_comparison_counts_each_variants_reduce_tasks(spark):
    table = aqe_exp.coalesce_comparison(spark, noop(_grouped(spark)), partitions=20, manual_partitions=5, repeats=1)
    assert list(table.index) == ["off", "off, 5 partitions", "coalesce", "coalesce, parallelismFirst=false"]
    assert table.loc["off", "reduce tasks"] == 20 and table.loc["off, 5 partitions", "reduce tasks"] == 5
    assert table.loc["coalesce", "reduce tasks"] < 20
    assert table.loc["off", "speedup"] == 1.0 and (table["parallel tasks"] > 0).all()
    # parallelismFirst=false aims at the advisory size (64 MB), not at one partition per core: never more tasks
    assert table.loc["coalesce, parallelismFirst=false", "reduce tasks"] <= table.loc["coalesce", "reduce tasks"]
    with pytest.raises(ValueError, match="manual_partitions must be an integer >= 1"):
        aqe_exp.coalesce_comparison(spark, noop(_grouped(spark)), manual_partitions=0)


def test_shuffle_stage_stats_refuses_a_variant_with_no_shuffle(spark):
    table = compare({"scan": noop(spark.range(100))}, repeats=1, warmup=0, progress=False)
    with pytest.raises(ValueError, match="read no shuffle"):
        aqe_exp.shuffle_stage_stats(table)


def test_skew_join_variants_differ_only_in_the_skew_join(spark):
    p = aqe_profiles(skew_threshold="3MB")
    v = aqe_exp.skew_join_variants(spark, p, "3MB")
    assert list(v) == ["AQE on, skew join off", "skew join, Spark defaults", "skew join, threshold 3MB"]
    assert v["AQE on, skew join off"] == p["none"] and v["skew join, threshold 3MB"] == p["skew_join"]
    defaults = v["skew join, Spark defaults"]
    assert defaults[aqe.SKEW_KEYS[0]] == "256MB" and defaults[aqe.SKEW_KEYS[1]] == 5.0
    assert all(conf["spark.sql.adaptive.enabled"] is True for conf in v.values())


def test_skew_splits_reads_each_settings_final_plan(spark, skewed):
    large, small = skewed
    base = {"spark.sql.autoBroadcastJoinThreshold": -1, "spark.sql.adaptive.coalescePartitions.enabled": False,
            "spark.sql.shuffle.partitions": 16}
    settings = {"lowered": {**base, **aqe.skew_join_settings("1KB", 2, "1KB")},
                "defaults": {**base, **aqe.skew_join_defaults(spark)}}
    assert aqe_exp.skew_splits(spark, large.join(small, "k"), settings) == {"lowered": True, "defaults": False}
    assert aqe_exp.skew_splits(spark, large.groupBy("k").count(), settings) == {"lowered": False, "defaults": False}


def test_dynamic_switch_plans_switches_keeps_and_reads_remotely(spark):
    big = spark.range(0, 300_000).select(F.col("id").alias("k"), (F.col("id") * 3).alias("v"))
    small = spark.range(0, 300_000).withColumnRenamed("id", "k").filter("k % 100000 = 7")
    switched, kept, remote = aqe_exp.dynamic_switch_plans(spark, big.join(small, "k"), 100 * 1024)
    assert switched.initial_joins == ["SortMergeJoin"] and switched.joins == ["BroadcastHashJoin"]
    assert kept.joins == ["SortMergeJoin"] and remote.joins == ["BroadcastHashJoin"]
    assert aqe.local_shuffle_reads(switched) > 0 and aqe.local_shuffle_reads(remote) == 0
    with pytest.raises(ValueError, match="threshold must be an integer >= 1"):
        aqe_exp.dynamic_switch_plans(spark, big.join(small, "k"), 0)


def test_salting_comparison_runs_the_three_joins_and_the_skew_join_splits(spark, skewed):
    large, small = skewed
    fixed = {"spark.sql.autoBroadcastJoinThreshold": -1, "spark.sql.shuffle.partitions": 16}
    table = aqe_exp.salting_comparison(spark, noop(large.join(small, "k")),
                                       noop(skew.salted_join(large, small, "k", 4)),
                                       aqe_profiles(skew_threshold="1KB"), fixed, salt=4, repeats=1)
    assert list(table.index) == ["plain, AQE on, skew join off", "AQE skew join", "salted 4, AQE on, skew join off"]
    assert table.loc["plain, AQE on, skew join off", "speedup"] == 1.0
    tasks = aqe_exp.shuffle_stage_stats(table)["tasks"]
    assert tasks["plain, AQE on, skew join off"] == 16 < tasks["AQE skew join"]  # the split runs more tasks


def test_skew_join_comparison_runs_the_shared_joins_once_and_reads_both_tables(spark, skewed):
    large, small = skewed
    fixed = {"spark.sql.autoBroadcastJoinThreshold": -1, "spark.sql.shuffle.partitions": 16}
    profiles = aqe_profiles(skew_threshold="1KB")
    variants = aqe_exp.skew_join_variants(spark, profiles, "1KB")
    skew_table, versus = aqe_exp.skew_join_comparison(spark, noop(large.join(small, "k")),
                                                      noop(skew.salted_join(large, small, "k", 4)), variants,
                                                      profiles, fixed, salt=4, repeats=1)
    assert list(skew_table.index) == list(variants) and skew_table.loc["AQE on, skew join off", "speedup"] == 1.0
    assert list(versus.index) == ["plain, AQE on, skew join off", "AQE skew join", "salted 4, AQE on, skew join off"]
    assert versus.loc["plain, AQE on, skew join off", "speedup"] == 1.0
    # the same runs read twice: the plain join is the skew join off, AQE's skew join the lowered threshold
    assert versus.loc["AQE skew join", "median_s"] == skew_table.loc["skew join, threshold 1KB", "median_s"]
    assert len(skew_table.attrs["runs"]) == 3 and len(versus.attrs["runs"]) == 3  # one measured run each
    tasks = aqe_exp.shuffle_stage_stats(versus)["tasks"]
    assert tasks["plain, AQE on, skew join off"] == 16 < tasks["AQE skew join"]  # the split runs more tasks
    assert aqe_exp.shuffle_stage_stats(skew_table)["tasks"]["skew join, threshold 1KB"] == tasks["AQE skew join"]


def test_profile_comparison_adds_the_hand_tuned_variant_against_aqe_off(spark):
    profiles = aqe_profiles()
    table = aqe_exp.profile_comparison(spark, noop(_grouped(spark)), profiles, {"spark.sql.shuffle.partitions": 20},
                                   manual_partitions=40, repeats=1)
    assert list(table.index) == [*profiles, "off, 40 partitions"]
    assert table.attrs["baseline"] == "off" and table.loc["off", "speedup"] == 1.0
    tasks = aqe_exp.shuffle_stage_stats(table)["tasks"]
    assert tasks["off"] == 20 and tasks["off, 40 partitions"] == 40 and tasks["coalesce"] < 20


def test_partition_pruning_query_joins_the_partitioned_table_to_one_quarter(spark, tmp_path):
    facts = spark.range(0, 2_400).select((F.col("id") % 12 + 1).cast("int").alias("month"), F.col("id").alias("v"))
    path = str(tmp_path / "by_month")
    query = aqe_exp.partition_pruning_query(spark, facts, path)
    assert query.count() == 600 and {r.month for r in query.select("month").distinct().collect()} == {1, 2, 3}
    assert aqe_exp.dynamic_pruning_by_setting(spark, query) == PRUNES_WITHOUT_AQE
    assert aqe_exp.partition_pruning_query(spark, facts, path, quarter="Q2-Q4").count() == 1_800
    with pytest.raises(ValueError, match="quarter must be"):
        aqe_exp.partition_pruning_query(spark, facts, path, quarter="Q5")


def test_skew_split_by_join_type_refuses_unknown_join_types_before_running_anything(spark, skewed):
    large, small = skewed
    with pytest.raises(ValueError, match=r"unknown join type\(s\) \['outer_apply'\]"):
        aqe_exp.skew_split_by_join_type(spark, large, small, "k", how=("inner", "outer_apply"))


def test_profile_comparison_times_only_the_profiles_named_and_refuses_unknown_ones(spark):
    profiles = aqe_profiles()
    table = aqe_exp.profile_comparison(spark, noop(_grouped(spark)), profiles, {"spark.sql.shuffle.partitions": 20},
                                   manual_partitions=40, repeats=1, only=["all_on"])
    assert list(table.index) == ["off", "all_on", "off, 40 partitions"]
    with pytest.raises(ValueError, match="no profile"):
        aqe_exp.profile_comparison(spark, noop(_grouped(spark)), profiles, {}, repeats=1, only=["turbo"])
