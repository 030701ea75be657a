import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

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
    assertDataFrameEqual(on.result, off.result)


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


def test_the_skew_helpers_refuse_unknown_join_types_and_queries_without_a_shuffled_join(spark, skewed):
    large, small = skewed
    with pytest.raises(ValueError, match=r"unknown join type\(s\) \['outer_apply'\]"):
        aqe.splittable_sides(("inner", "outer_apply"))
    with pytest.raises(ValueError, match="no shuffled join"):
        aqe.forced_skew_split(spark, large.groupBy("k").count())
    with pytest.raises(ValueError, match="no shuffled join"):
        aqe.skew_split_plan(spark, large.join(F.broadcast(small), "k"))


def test_skew_split_plan_splits_with_lowered_thresholds_only_and_restores_the_settings(spark, skewed):
    large, small = skewed
    lowered = aqe.skew_split_plan(spark, large.join(small, "k"))  # 1 KB, factor 2
    defaults = aqe.skew_split_plan(spark, large.join(small, "k"), aqe.skew_join_defaults(spark))
    assert lowered.skew_split and "SortMergeJoin(skew=true)" in lowered.text
    assert not defaults.skew_split and defaults.joins == ["SortMergeJoin"]  # broadcasts stay off
    assert spark.conf.get("spark.sql.adaptive.forceOptimizeSkewedJoin") == "false"
    assert spark.conf.get("spark.sql.autoBroadcastJoinThreshold") != "-1"


def test_dynamic_pruning_reads_the_partition_filters_of_a_plan(spark, tmp_path):
    path = str(tmp_path / "facts")
    spark.range(0, 1_200).select((F.col("id") % 12 + 1).alias("month"), F.col("id").alias("v")) \
        .write.partitionBy("month").parquet(path)
    months = spark.range(1, 13).select(F.col("id").alias("month"), (F.col("id") <= 3).alias("q1"))
    query = spark.read.parquet(path).join(months.filter("q1"), "month")
    assert aqe.dynamic_pruning(query) and aqe.dynamic_pruning(plan_summary(query))
    assert not aqe.dynamic_pruning(spark.read.parquet(path).filter("month <= 3"))  # a static filter: no DPP


@pytest.mark.parametrize("local", [True, False])
def test_the_switch_to_broadcast_reads_the_shuffled_side_locally(spark, local):
    big = spark.range(0, 300_000).select(F.col("id").alias("k"), (F.col("id") * 3).alias("v"))
    small = spark.range(0, 300_000).withColumnRenamed("id", "k").filter("k % 100000 = 7")
    with spark_conf(spark, {**aqe_profiles()["dynamic_switch"], "spark.sql.autoBroadcastJoinThreshold": "100KB",
                            "spark.sql.adaptive.localShuffleReader.enabled": local}):
        summary = plan_summary(big.join(small, "k"))
    assert summary.initial_joins == ["SortMergeJoin"] and summary.joins == ["BroadcastHashJoin"]
    assert (aqe.local_shuffle_reads(summary) > 0) is local


# --------------------------------------------------------------------------- why AQE did not split: explain_skew_split

_WHY = {"spark.sql.shuffle.partitions": 8, "spark.sql.autoBroadcastJoinThreshold": -1,
        "spark.sql.adaptive.autoBroadcastJoinThreshold": -1, "spark.sql.adaptive.coalescePartitions.enabled": False,
        "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes": "1KB",
        "spark.sql.adaptive.skewJoin.skewedPartitionFactor": 2,
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": "16KB"}
_A = "spark.sql.adaptive."


@pytest.fixture(scope="module")
def why_inputs(spark):
    """80% of 200,000 rows on key 0, written by 8 map tasks; a 1,000-row dimension."""
    big = spark.range(200_000).select(F.when(F.col("id") % 10 < 8, 0).otherwise(F.col("id") % 1000).alias("k"),
                                      "id").repartition(8).cache()
    dim = spark.range(1000).select(F.col("id").alias("k"), (F.col("id") * 2).alias("v")).cache()
    big.count(), dim.count()
    yield big, dim
    big.unpersist(), dim.unpersist()


# reason: (settings over _WHY, the query, the one change that names the fix and makes Spark split)
_CASES = {
    "aqe_off": ({f"{_A}enabled": False}, lambda b, d: b.join(d, "k"), ({f"{_A}enabled": True}, None)),
    "skew_join_off": ({f"{_A}skewJoin.enabled": False}, lambda b, d: b.join(d, "k"),
                      ({f"{_A}skewJoin.enabled": True}, None)),
    "no_shuffled_join": ({"spark.sql.autoBroadcastJoinThreshold": "10MB", f"{_A}autoBroadcastJoinThreshold": "10MB"},
                         lambda b, d: b.join(d, "k"), ({"spark.sql.autoBroadcastJoinThreshold": -1,
                                                       f"{_A}autoBroadcastJoinThreshold": -1}, None)),
    "side_not_splittable": ({}, lambda b, d: d.join(b, "k", "left"), ({}, lambda b, d: d.join(b, "k", "inner"))),
    "under_threshold": ({f"{_A}skewJoin.skewedPartitionThresholdInBytes": "1GB"}, lambda b, d: b.join(d, "k"),
                        ({f"{_A}skewJoin.skewedPartitionThresholdInBytes": "1KB"}, None)),
    "under_factor": ({f"{_A}skewJoin.skewedPartitionFactor": 1000}, lambda b, d: b.join(d, "k"),
                     ({f"{_A}skewJoin.skewedPartitionFactor": 2}, None)),
    "under_target_size": ({f"{_A}advisoryPartitionSizeInBytes": "64MB"}, lambda b, d: b.join(d, "k"),
                          ({f"{_A}advisoryPartitionSizeInBytes": "16KB"}, None)),
    "one_map_task": ({}, lambda b, d: b.coalesce(1).join(d, "k"), ({}, lambda b, d: b.join(d, "k"))),
    "extra_shuffle": ({}, lambda b, d: b.join(d, "k").groupBy("k").count(),
                      ({f"{_A}forceOptimizeSkewedJoin": True}, None)),
}


@pytest.mark.parametrize("reason", list(_CASES))
def test_each_reason_is_named_on_a_job_built_for_it_and_its_fix_makes_spark_split(spark, why_inputs, reason):
    """Spark's own final plan is the reference: no split under the settings, a split after the one named fix."""
    conf, query, (fix_conf, fixed_query) = _CASES[reason]
    big, dim = why_inputs
    with spark_conf(spark, {**_WHY, **conf}):
        verdict = aqe.explain_skew_split(query(big, dim))
        assert (verdict.split, verdict.reason) == (False, reason), verdict.detail
        if conf.get(f"{_A}enabled", True):  # AQE off has no skew_split to read
            assert plan_summary(query(big, dim)).skew_split is False
    with spark_conf(spark, {**_WHY, **conf, **fix_conf}):
        assert plan_summary((fixed_query or query)(big, dim)).skew_split is True
    assert reason in aqe.SKEW_REASONS and verdict.detail


def test_a_split_join_is_reported_with_the_sizes_spark_read(spark, why_inputs):
    big, dim = why_inputs
    with spark_conf(spark, _WHY):
        verdict = aqe.explain_skew_split(big.join(dim, "k"))
        assert plan_summary(big.join(dim, "k")).skew_split is True
    assert (verdict.split, verdict.reason) == (True, "split")
    left = verdict.sides.set_index("side").loc["left"]
    hot = big.where("k = 0").count()
    assert left["map_tasks"] == 8 and left["partitions"] == 8 and left["skewed_partitions"] == 1
    assert left["max_bytes"] > 2 * left["median_bytes"] and left["max_bytes"] > left["skew_above_bytes"]
    assert hot == 160_000 and left["max_bytes"] > hot  # the hot key's partition holds its 160,000 rows' bytes


def test_explain_skew_split_refuses_a_connect_session(spark, monkeypatch, why_inputs):
    from labkit.core import runtime

    monkeypatch.setattr(runtime, "is_connect", lambda _spark: True)
    with pytest.raises(runtime.ConnectUnsupported, match="shuffle statistics"):
        aqe.explain_skew_split(why_inputs[0].join(why_inputs[1], "k"))
