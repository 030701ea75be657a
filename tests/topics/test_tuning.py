"""The tuning checklist's building blocks: plans compared, jobs counted, caches released, layouts equal."""

import pytest

from labkit.core import datagen
from labkit.core.bench import compare
from labkit.core.checks import assert_same_rows
from labkit.topics import tuning


@pytest.fixture(scope="module")
def facts(spark):
    return datagen.transactions(spark, 20_000, customers=200, skew=datagen.HotKeys(0.6, 10), partitions=4).cache()


def test_chained_filters_compile_to_the_plan_of_the_combined_ones(facts):
    got = tuning.chained_vs_combined(facts)
    assert all(got["same_plan"].values())
    frames = list(got["frames"].values())
    assert frames[0].count() == frames[1].count() == frames[2].count() > 0
    assert not tuning.same_plan(facts.filter("amount > 0"), facts.filter("amount > 1"))  # the check can fail


def test_analysis_cost_grows_with_chained_with_column(facts):
    cost = tuning.analysis_cost(facts, [5, 60], repeats=1)
    assert list(cost.index) == [5, 60] and (cost[["withColumn s", "select s"]] > 0).all().all()
    assert cost.loc[60, "withColumn s"] > cost.loc[5, "withColumn s"]
    with pytest.raises(ValueError, match="columns"):
        tuning.analysis_cost(facts, [0])


def test_aggregation_and_count_variants_count_their_jobs_and_agree(facts):
    aggs = compare(tuning.aggregation_variants(facts), repeats=1, warmup=0, progress=False)
    assert aggs.loc["three aggregations", "jobs"] >= 3 * aggs.loc["one agg", "jobs"] - 1
    counts = tuning.count_variants(facts, "region = 'us-east'")
    assert counts["count + filtered count"]() == counts["one pass, conditional sum"]()
    with pytest.raises(ValueError, match="not found"):
        tuning.aggregation_variants(facts, key="nope")


def test_cache_variants_persist_and_release(spark, facts):
    seen = []
    uses = [lambda d: seen.append((d.storageLevel.useMemory or d.storageLevel.useDisk, d.count()))] * 2
    runs = tuning.cache_variants(lambda: facts.filter("year >= 2023"), uses, ["none", "MEMORY_AND_DISK"])
    before = spark.sparkContext._jsc.getPersistentRDDs().size()
    runs["none"]()
    runs["MEMORY_AND_DISK"]()
    assert [s[0] for s in seen] == [False, False, True, True] and len({s[1] for s in seen}) == 1
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == before  # unpersisted after the run
    with pytest.raises(ValueError, match="unknown storage level"):
        tuning.cache_variants(lambda: facts, uses, ["MEMORY_SOMETIMES"])


def test_partition_settings_and_hive_layouts_answer_the_same_query(spark, facts, tmp_path):
    settings = tuning.partition_settings([8, 200])
    assert settings["200, AQE off"]["spark.sql.adaptive.enabled"] is False and len(settings) == 4
    paths = tuning.hive_layouts(facts, str(tmp_path))
    want = tuning.hive_query(spark, paths["ORC, flat"], "orc")
    for layout, fmt in (("CSV, flat", "csv"), ("Parquet, flat", "parquet"), ("ORC, by year", "orc"),
                        ("Parquet, by year", "parquet")):
        assert_same_rows(tuning.hive_query(spark, paths[layout], fmt), want, layout)
    with pytest.raises(ValueError, match="fmt"):
        tuning.hive_query(spark, paths["ORC, flat"], "avro")
