import pytest
from pyspark.sql import functions as F

from labkit.core.measure import measure
from labkit.core.plans import plan_summary
from labkit.core.session import spark_conf
from labkit.topics import aqe
from labkit.topics.aqe import aqe_profiles


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


@pytest.fixture(scope="module")
def skewed(spark):
    """70% of 6,000 rows on keys 1 and 2, and a small side with every key."""
    k = F.when(F.col("id") % 10 < 4, F.lit(1)).when(F.col("id") % 10 < 7, F.lit(2)).otherwise(F.col("id") % 1000)
    large = spark.range(0, 6_000, 1, 3).select(k.cast("long").alias("k"), F.col("id").alias("v")).cache()
    small = spark.range(0, 1000).withColumnRenamed("id", "k").cache()
    return large, small


def test_aqe_splits_the_skewed_join_only_with_lowered_thresholds(spark, skewed):
    large, small = skewed
    base = {"spark.sql.autoBroadcastJoinThreshold": -1, "spark.sql.adaptive.coalescePartitions.enabled": False,
            "spark.sql.shuffle.partitions": 16}
    with spark_conf(spark, {**base, **aqe.skew_join_settings("1KB", 2, "1KB")}):
        lowered = plan_summary(large.join(small, "k"))
    with spark_conf(spark, {**base, **aqe.skew_join_defaults(spark)}):
        defaults = plan_summary(large.join(small, "k"))
    assert lowered.skew_split and not defaults.skew_split


def test_aqe_does_not_split_a_skewed_group_by(spark, skewed):
    with spark_conf(spark, {**aqe.skew_join_settings("1KB", 2, "1KB"), "spark.sql.shuffle.partitions": 16,
                            "spark.sql.adaptive.coalescePartitions.enabled": False}):
        summary = plan_summary(skewed[0].groupBy("k").count())
    assert not summary.skew_split


def test_skew_join_defaults_are_read_from_spark_not_typed_in(spark):
    d = aqe.skew_join_defaults(spark)
    keys = aqe.SKEW_KEYS
    with spark_conf(spark, {keys[0]: "3MB"}):  # a set value is not the default
        assert aqe.skew_join_defaults(spark)[keys[0]] == d[keys[0]]
    assert d[keys[0]] == "256MB" and d[keys[1]] == 5.0 and d[keys[2]] == "64MB"  # Spark 4.x's documented defaults
    with pytest.raises(ValueError, match="factor must be > 0"):
        aqe.skew_join_settings("1MB", 0)


def test_laptop_threshold_is_twice_the_mean_partition_and_checks_its_input():
    assert aqe.laptop_skew_threshold(1_000_000, 32) == "2197KB"
    assert aqe.laptop_skew_threshold(10, 32) == "16KB"
    with pytest.raises(ValueError, match="partitions must be an integer >= 1"):
        aqe.laptop_skew_threshold(10, 0)


def test_aqe_splits_a_skewed_shuffled_hash_join_too(spark):
    """Since Spark 3.2 the skew join also splits shuffled hash joins, not only sort-merge joins."""
    from pyspark.sql import functions as F

    from labkit.core.plans import plan_summary
    from labkit.topics import aqe
    from labkit.topics.joins import join_with_strategy

    big = spark.range(200_000).select(F.when(F.col("id") % 10 < 8, 1).otherwise(F.col("id") % 500).alias("k"),
                                      F.col("id").alias("v"))
    small = spark.range(500).withColumnRenamed("id", "k")
    conf = {**aqe.skew_join_settings(threshold="64KB", factor=2), "spark.sql.autoBroadcastJoinThreshold": -1,
            "spark.sql.shuffle.partitions": 8, "spark.sql.adaptive.coalescePartitions.enabled": False}
    with spark_conf(spark, conf):
        joined = join_with_strategy(big, small, "k", "shuffle_hash")
        summary = plan_summary(joined)
        assert summary.joins == ["ShuffledHashJoin"] and summary.skew_split
        assert joined.count() == big.join(small, "k").count()


def test_a_skew_split_that_would_add_a_shuffle_happens_only_when_forced(spark, skewed):
    """The groupBy on the join key relies on the join's partitioning: splitting it needs one more shuffle."""
    large, small = skewed
    table = aqe.forced_skew_split(spark, large.join(small, "k").groupBy("k").agg(F.sum("v")))
    assert table["skew split"].to_dict() == {False: False, True: True}
    assert table.loc[True, "shuffles"] == table.loc[False, "shuffles"] + 1
    assert "SortMergeJoin(skew=true)" in table.attrs["plans"][True].text


def test_a_plain_skewed_join_splits_without_forcing(spark, skewed):
    large, small = skewed
    table = aqe.forced_skew_split(spark, large.join(small, "k"))
    assert table["skew split"].to_dict() == {False: True, True: True}
    assert table.loc[False, "shuffles"] == table.loc[True, "shuffles"] == 2


def test_outer_joins_split_only_their_preserved_side_and_a_full_join_neither(spark, skewed):
    large, small = skewed
    measured = aqe.skew_split_by_join_type(spark, large, small, "k")
    expected = aqe.splittable_sides()
    assert measured.to_dict("index") == expected.to_dict("index")
    assert measured.loc["full"].tolist() == [False, False] and measured.loc["left"].tolist() == [True, False]


def test_the_skew_helpers_refuse_unknown_join_types_and_queries_without_a_shuffled_join(spark, skewed):
    large, small = skewed
    with pytest.raises(ValueError, match="unknown join type"):
        aqe.skew_split_by_join_type(spark, large, small, "k", how=("inner", "outer_apply"))
    with pytest.raises(ValueError, match="no shuffled join"):
        aqe.forced_skew_split(spark, large.groupBy("k").count())


@pytest.mark.parametrize("local", [True, False])
def test_the_switch_to_broadcast_reads_the_shuffled_side_locally(spark, local):
    big = spark.range(0, 300_000).select(F.col("id").alias("k"), (F.col("id") * 3).alias("v"))
    small = spark.range(0, 300_000).withColumnRenamed("id", "k").filter("k % 100000 = 7")
    with spark_conf(spark, {**aqe_profiles()["dynamic_switch"], "spark.sql.autoBroadcastJoinThreshold": "100KB",
                            "spark.sql.adaptive.localShuffleReader.enabled": local}):
        summary = plan_summary(big.join(small, "k"))
    assert summary.initial_joins == ["SortMergeJoin"] and summary.joins == ["BroadcastHashJoin"]
    assert (aqe.local_shuffle_reads(summary) > 0) is local


def test_dynamic_partition_pruning_is_not_aqe_it_prunes_with_aqe_off(spark, tmp_path):
    path = str(tmp_path / "facts")
    spark.range(0, 2_400).select((F.col("id") % 12 + 1).alias("month"), F.col("id").alias("v")) \
        .write.partitionBy("month").parquet(path)
    months = spark.range(1, 13).select(F.col("id").alias("month"),
                                       F.when(F.col("id") <= 3, "Q1").otherwise("later").alias("quarter"))
    query = spark.read.parquet(path).join(months.filter("quarter = 'Q1'"), "month")
    assert aqe.dynamic_pruning_by_setting(spark, query) == {"AQE off": True, "AQE on": True, "AQE off, DPP off": False}


# --------------------------------------------------------------------------- notebook 04's studies, as functions


def _grouped(spark):
    return spark.range(0, 20_000, 1, 2).groupBy((F.col("id") % 100).alias("k")).count()


def test_coalesce_comparison_counts_each_variants_reduce_tasks(spark):
    from labkit.core.measure import noop

    table = aqe.coalesce_comparison(spark, noop(_grouped(spark)), partitions=20, manual_partitions=5, repeats=1)
    assert list(table.index) == ["off", "off, 5 partitions", "coalesce", "coalesce, parallelismFirst=false"]
    assert table.loc["off", "reduce tasks"] == 20 and table.loc["off, 5 partitions", "reduce tasks"] == 5
    assert table.loc["coalesce", "reduce tasks"] < 20
    assert table.loc["off", "speedup"] == 1.0 and (table["parallel tasks"] > 0).all()
    assert table["reduce tasks"].tolist() == aqe.shuffle_stage_stats(table)["tasks"].tolist()
    with pytest.raises(ValueError, match="manual_partitions must be an integer >= 1"):
        aqe.coalesce_comparison(spark, noop(_grouped(spark)), manual_partitions=0)


def test_shuffle_stage_stats_refuses_a_variant_with_no_shuffle(spark):
    from labkit.core.bench import compare
    from labkit.core.measure import noop

    table = compare({"scan": noop(spark.range(100))}, repeats=1, warmup=0, progress=False)
    with pytest.raises(ValueError, match="read no shuffle"):
        aqe.shuffle_stage_stats(table)


def test_skew_join_variants_differ_only_in_the_skew_join(spark):
    p = aqe_profiles(skew_threshold="3MB")
    v = aqe.skew_join_variants(spark, p, "3MB")
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
    assert aqe.skew_splits(spark, large.join(small, "k"), settings) == {"lowered": True, "defaults": False}
    assert aqe.skew_splits(spark, large.groupBy("k").count(), settings) == {"lowered": False, "defaults": False}


def test_dynamic_switch_plans_switches_keeps_and_reads_remotely(spark):
    big = spark.range(0, 300_000).select(F.col("id").alias("k"), (F.col("id") * 3).alias("v"))
    small = spark.range(0, 300_000).withColumnRenamed("id", "k").filter("k % 100000 = 7")
    switched, kept, remote = aqe.dynamic_switch_plans(spark, big.join(small, "k"), 100 * 1024)
    assert switched.initial_joins == ["SortMergeJoin"] and switched.joins == ["BroadcastHashJoin"]
    assert kept.joins == ["SortMergeJoin"] and remote.joins == ["BroadcastHashJoin"]
    assert aqe.local_shuffle_reads(switched) > 0 and aqe.local_shuffle_reads(remote) == 0
    with pytest.raises(ValueError, match="threshold must be an integer >= 1"):
        aqe.dynamic_switch_plans(spark, big.join(small, "k"), 0)


def test_salting_comparison_runs_the_three_joins_and_the_skew_join_splits(spark, skewed):
    from labkit.core.measure import noop
    from labkit.topics.skew import salted_join

    large, small = skewed
    fixed = {"spark.sql.autoBroadcastJoinThreshold": -1, "spark.sql.shuffle.partitions": 16}
    table = aqe.salting_comparison(spark, noop(large.join(small, "k")), noop(salted_join(large, small, "k", 4)),
                                   aqe_profiles(skew_threshold="1KB"), fixed, salt=4, repeats=1)
    assert list(table.index) == ["plain, AQE on, skew join off", "AQE skew join", "salted 4, AQE on, skew join off"]
    assert table.loc["plain, AQE on, skew join off", "speedup"] == 1.0
    tasks = aqe.shuffle_stage_stats(table)["tasks"]
    assert tasks["plain, AQE on, skew join off"] == 16 < tasks["AQE skew join"]  # the split runs more tasks


def test_profile_comparison_adds_the_hand_tuned_variant_against_aqe_off(spark):
    from labkit.core.measure import noop

    profiles = aqe_profiles()
    table = aqe.profile_comparison(spark, noop(_grouped(spark)), profiles, {"spark.sql.shuffle.partitions": 20},
                                   manual_partitions=40, repeats=1)
    assert list(table.index) == [*profiles, "off, 40 partitions"]
    assert table.attrs["baseline"] == "off" and table.loc["off", "speedup"] == 1.0
    tasks = aqe.shuffle_stage_stats(table)["tasks"]
    assert tasks["off"] == 20 and tasks["off, 40 partitions"] == 40 and tasks["coalesce"] < 20


def test_partition_pruning_query_joins_the_partitioned_table_to_one_quarter(spark, tmp_path):
    facts = spark.range(0, 2_400).select((F.col("id") % 12 + 1).cast("int").alias("month"), F.col("id").alias("v"))
    path = str(tmp_path / "by_month")
    query = aqe.partition_pruning_query(spark, facts, path)
    assert query.count() == 600 and {r.month for r in query.select("month").distinct().collect()} == {1, 2, 3}
    assert aqe.dynamic_pruning_by_setting(spark, query) == {"AQE off": True, "AQE on": True, "AQE off, DPP off": False}
    assert aqe.partition_pruning_query(spark, facts, path, quarter="Q2-Q4").count() == 1_800
    with pytest.raises(ValueError, match="quarter must be"):
        aqe.partition_pruning_query(spark, facts, path, quarter="Q5")
