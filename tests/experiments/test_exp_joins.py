"""Notebook 03's experiment: the broadcast crossover, timed per size through bench, and where it is read."""

import pandas as pd
import pytest
from pyspark.sql import functions as F

from labkit.experiments import joins as joins_exp


@pytest.fixture(scope="module")
def large(spark):
    return spark.range(0, 20_000).select((F.col("id") % 500 + 1).alias("k"), F.col("id").alias("v"))


def test_broadcast_crossover_times_three_strategies_per_size(spark, large):
    table = joins_exp.broadcast_crossover(spark, large, "k", [10, 1000], repeats=1, warmup=0, progress=False)
    assert len(table) == 6 and set(table["strategy"]) == {"merge", "broadcast", "shuffle_hash"}
    assert (table.loc[table["strategy"] == "merge", "speedup"] == 1.0).all()
    assert table.groupby("rows")["estimated_bytes"].first().is_monotonic_increasing
    assert table["auto_broadcast"].all()  # both sizes are far below 10 MB
    b = table[table["strategy"] == "broadcast"]
    assert (b["broadcast_bytes"] > 0).all() and b["broadcast_bytes"].is_monotonic_increasing


def test_broadcast_crossover_times_only_the_strategies_asked_for(spark, large):
    table = joins_exp.broadcast_crossover(spark, large, "k", [10, 1000], repeats=1, warmup=0, progress=False,
                                          strategies=["merge", "broadcast"])
    assert len(table) == 4 and set(table["strategy"]) == {"merge", "broadcast"}
    assert joins_exp.crossover_size(table)["size"] > 0


@pytest.mark.parametrize("strategies", [["broadcast", "shuffle_hash"], ["merge", "broadcast", "nested_loop"]])
def test_broadcast_crossover_refuses_a_sweep_without_its_baseline_or_with_an_unknown_strategy(spark, large,
                                                                                               strategies):
    with pytest.raises(ValueError, match="must include merge and broadcast"):
        joins_exp.broadcast_crossover(spark, large, "k", [10], strategies=strategies)


def test_crossover_size_interpolates_and_says_when_it_is_only_a_bound():
    def table(speeds):
        return pd.DataFrame({"strategy": "broadcast", "estimated_bytes": [1e3, 1e4, 1e5], "speedup": speeds})

    mid = joins_exp.crossover_size(table([3.0, 2.0, 0.5]))
    assert mid["bounded"] and 1e4 < mid["size"] < 1e5
    assert joins_exp.crossover_size(table([3.0, 2.0, 1.5])) == {
        "size": 1e5, "bounded": False, "note": "broadcast still faster at the largest size tried"}
    assert not joins_exp.crossover_size(table([0.9, 0.5, 0.2]))["bounded"]
