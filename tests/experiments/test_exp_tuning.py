"""Notebook 10's experiments: the guide's forms compared, jobs counted, caches released, layouts equal."""

import pytest
from pyspark.testing import assertDataFrameEqual

from labkit.core import datagen
from labkit.core.bench import compare
from labkit.core.checks import assert_same_rows
from labkit.experiments import tuning as tuning_exp


@pytest.fixture(scope="module")
def facts(spark):
    df = datagen.transactions(spark, 20_000, customers=200, skew=datagen.HotKeys(0.6, 10), partitions=4).cache()
    df.count()  # built now: a test counting persisted RDDs must not see this cache appear in the middle
    return df


def test_chained_filters_compile_to_the_plan_of_the_combined_ones(facts):
    got = tuning_exp.chained_vs_combined(facts)
    assert list(got["same_plan"]) == ["chained (the guide's bad)", "combined filter (good)", "select (better)"]
    assert all(got["same_plan"].values())
    chained, combined, selected = got["frames"].values()
    assert chained.count() > 0
    assertDataFrameEqual(combined, chained)
    assertDataFrameEqual(selected, chained)


def test_analysis_cost_grows_with_chained_with_column_and_is_timed_through_bench(facts):
    cost = tuning_exp.analysis_cost(facts, [5, 60], repeats=2, progress=False)
    assert list(cost.index) == [5, 60]
    assert list(cost.columns) == ["withColumn s", "select s", "ratio", "ratio_lo", "ratio_hi"]
    assert cost.loc[60, "withColumn s"] > cost.loc[5, "withColumn s"]
    times = cost.attrs["times"]  # bench.compare's table: interleaved, one warm-up round, 2 measured runs each
    assert list(times.index) == ["withColumn, 5 columns", "select, 5 columns", "withColumn, 60 columns",
                                 "select, 60 columns"]
    assert (times["runs"] == 2).all() and (times["jobs"] == 0).all()  # building a plan runs no Spark job
    assert [m.label for m in times.attrs["runs"][:4]] == list(times.index)  # A B C D, then A B C D again
    for n in (5, 60):
        walls = {v: [m.wall_s for m in times.attrs["runs"] if m.label == f"{v}, {n} columns"]
                 for v in ("withColumn", "select")}
        rounds = [a / b for a, b in zip(walls["withColumn"], walls["select"], strict=True)]  # same round, paired
        assert cost.loc[n, "ratio"] == pytest.approx(times.loc[f"withColumn, {n} columns", "median_s"]
                                                     / times.loc[f"select, {n} columns", "median_s"])
        assert (cost.loc[n, "ratio_lo"], cost.loc[n, "ratio_hi"]) == pytest.approx((min(rounds), max(rounds)))
    with pytest.raises(ValueError, match="columns"):
        tuning_exp.analysis_cost(facts, [0])


def test_aggregation_and_count_variants_count_their_jobs_and_agree(facts):
    aggs = compare(tuning_exp.aggregation_variants(facts), repeats=1, warmup=0, progress=False)
    assert aggs.loc["three aggregations", "jobs"] >= 3 * aggs.loc["one agg", "jobs"] - 1
    counts = tuning_exp.count_variants(facts, "region = 'us-east'")
    assert counts["count + filtered count"]() == counts["one pass, conditional sum"]()
    with pytest.raises(ValueError, match="not found"):
        tuning_exp.aggregation_variants(facts, key="nope")


def test_cache_variants_persist_and_release(spark, facts):
    seen = []
    uses = [lambda d: seen.append((d.storageLevel.useMemory or d.storageLevel.useDisk, d.count()))] * 2
    runs = tuning_exp.cache_variants(lambda: facts.filter("year >= 2023"), uses, ["none", "MEMORY_AND_DISK"])
    before = spark.sparkContext._jsc.getPersistentRDDs().size()
    runs["none"]()
    runs["MEMORY_AND_DISK"]()
    assert [s[0] for s in seen] == [False, False, True, True] and len({s[1] for s in seen}) == 1
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == before  # unpersisted after the run
    with pytest.raises(ValueError, match="unknown storage level"):
        tuning_exp.cache_variants(lambda: facts, uses, ["MEMORY_SOMETIMES"])


def test_partition_settings_and_hive_layouts_answer_the_same_query(spark, facts, tmp_path):
    settings = tuning_exp.partition_settings([8, 200])
    assert settings["200, AQE off"]["spark.sql.adaptive.enabled"] is False and len(settings) == 4
    paths = tuning_exp.hive_layouts(facts, str(tmp_path))
    want = tuning_exp.hive_query(spark, paths["ORC, flat"], "orc")
    for layout, fmt in (("CSV, flat", "csv"), ("Parquet, flat", "parquet"), ("ORC, by year", "orc"),
                        ("Parquet, by year", "parquet")):
        assert_same_rows(tuning_exp.hive_query(spark, paths[layout], fmt), want, layout)
    with pytest.raises(ValueError, match="fmt"):
        tuning_exp.hive_query(spark, paths["ORC, flat"], "avro")


def test_hive_layouts_without_csv_leave_out_its_layout_and_its_variant(spark, facts, tmp_path):
    paths = tuning_exp.hive_layouts(facts, str(tmp_path), csv=False)
    assert "CSV, flat" not in paths and not (tmp_path / "csv_flat").exists()
    variants = tuning_exp.hive_variants(spark, paths, lambda df: df.groupBy("customer_id").count())
    assert "CSV, flat (for reference)" not in variants and "ORC, flat (the guide's start)" in variants
