"""The tuning technique: same_plan says whether two spellings of a query compile to one physical plan."""

import pytest
from pyspark.sql import functions as F

from labkit.core import datagen
from labkit.topics import tuning


@pytest.fixture(scope="module")
def facts(spark):
    return datagen.transactions(spark, 2_000, customers=50, skew=None, partitions=2)


def test_chained_and_combined_filters_are_the_same_plan(facts):
    chained = facts.filter(F.col("amount") > 0).filter(F.col("region") == "us-east")
    assert tuning.same_plan(chained, facts.filter((F.col("amount") > 0) & (F.col("region") == "us-east")))
    assert tuning.same_plan(facts.withColumn("x", F.col("amount") * 2), facts.select("*", (F.col("amount") * 2)
                                                                                     .alias("x")))


def test_another_filter_or_another_projection_is_not_the_same_plan(facts):
    assert not tuning.same_plan(facts.filter("amount > 0"), facts.filter("amount > 1"))
    assert not tuning.same_plan(facts.select("amount"), facts.select("quantity"))
