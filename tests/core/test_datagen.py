import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit import datagen
from labkit.core.datagen import HotKeys, Zipf


def test_same_parameters_give_the_same_rows_whatever_the_partitioning(spark):
    a = datagen.transactions(spark, 5_000, customers=300, skew=HotKeys(0.8, 5), seed=7, partitions=1)
    b = datagen.transactions(spark, 5_000, customers=300, skew=HotKeys(0.8, 5), seed=7, partitions=7)
    assert a.rdd.getNumPartitions() == 1 and b.rdd.getNumPartitions() == 7
    assertDataFrameEqual(a, b)


def test_a_different_seed_gives_different_rows(spark):
    a = datagen.transactions(spark, 1_000, seed=1).select("customer_id", "amount")
    b = datagen.transactions(spark, 1_000, seed=2).select("customer_id", "amount")
    assert a.exceptAll(b).count() > 900


def test_transactions_have_the_documented_columns_and_ranges(spark):
    df = datagen.transactions(spark, 20_000, customers=100, products=50, skew=None, years=(2021, 2025))
    assert df.columns == ["txn_id", "customer_id", "product_id", "amount", "quantity", "ts", "year", "month",
                          "region"]
    r = df.agg(F.min("customer_id"), F.max("customer_id"), F.min("product_id"), F.max("product_id"),
               F.min("year"), F.max("year"), F.min("quantity"), F.max("quantity"), F.min("amount"),
               F.countDistinct("region"), F.countDistinct("txn_id")).first()
    assert tuple(r)[:8] == (1, 100, 1, 50, 2021, 2025, 1, 10)
    assert r[8] >= 1 and r[9] == 5 and r[10] == 20_000
    assert df.filter(F.year("ts") != F.col("year")).count() == 0


def test_hot_keys_hold_the_requested_share(spark):
    df = datagen.transactions(spark, 50_000, customers=1_000, skew=HotKeys(share=0.8, keys=5))
    dist = datagen.key_distribution(df, "customer_id", top=5)
    assert sorted(dist.top["customer_id"]) == [1, 2, 3, 4, 5]
    assert dist.top_share == pytest.approx(0.8, abs=0.01)
    assert dist.skew_ratio > 100


def test_uniform_keys_are_not_skewed(spark):
    dist = datagen.key_distribution(datagen.transactions(spark, 50_000, customers=100, skew=None), "customer_id")
    assert dist.keys == 100
    assert dist.skew_ratio < 1.3


def test_zipf_ranks_are_ordered_and_steeper_with_the_exponent(spark):
    mild = datagen.key_distribution(datagen.transactions(spark, 50_000, customers=1_000, skew=Zipf(0.5)), "customer_id")
    steep = datagen.key_distribution(datagen.transactions(spark, 50_000, customers=1_000, skew=Zipf(1.2)),
                                     "customer_id")
    assert list(steep.top["customer_id"][:3]) == [1, 2, 3]
    assert steep.top_share > mild.top_share
    assert steep.skew_ratio > 5 * mild.skew_ratio
    one = datagen.transactions(spark, 20_000, customers=500, skew=Zipf(1.0))
    assert one.agg(F.min("customer_id"), F.max("customer_id")).first() == (1, 500)


@pytest.mark.parametrize("kwargs, match", [
    ({"rows": -1}, "rows must be an integer >= 0"),
    ({"rows": 10, "customers": 0}, "customers must be an integer >= 1"),
    ({"rows": 1.5}, "rows must be an integer"),
    ({"rows": 10, "years": (2025, 2021)}, "years"),
    ({"rows": 10, "customers": 3, "skew": HotKeys(0.5, 5)}, "exceeds customers=3"),
    ({"rows": 10, "skew": 0.8}, "skew must be None, HotKeys"),
])
def test_bad_generator_input_is_rejected_with_its_name(spark, kwargs, match):
    with pytest.raises(ValueError, match=match):
        datagen.transactions(spark, **kwargs)


@pytest.mark.parametrize("make, match", [(lambda: HotKeys(share=1.5), "share must be in"),
                                         (lambda: HotKeys(share=0.5, keys=0), "keys must be at least 1"),
                                         (lambda: Zipf(-0.1), "exponent must be in")])
def test_out_of_range_skew_is_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_dimensions_have_one_row_per_id(spark):
    c = datagen.customers(spark, 500)
    p = datagen.products(spark, 300)
    assert c.count() == c.select("customer_id").distinct().count() == 500
    assert p.agg(F.min("product_id"), F.max("product_id"), F.count("*")).first() == (1, 300, 300)
    zero = p.filter("stock = 0").count()
    assert 10 < zero < 60  # about 10%
    assert c.filter(~F.col("email").endswith("@example.com")).count() == 0
    with pytest.raises(ValueError, match="n must be"):
        datagen.customers(spark, -5)


def test_key_distribution_on_known_counts(spark):
    df = spark.createDataFrame([(k,) for k in [1] * 6 + [2] * 3 + [3]], ["k"])
    d = datagen.key_distribution(df, "k", top=2)
    assert (d.rows, d.keys, d.max_rows) == (10, 3, 6)
    assert d.skew_ratio == pytest.approx(6 / (10 / 3))
    assert list(d.top["k"]) == [1, 2] and d.top_share == pytest.approx(0.9)


def test_key_distribution_rejects_a_missing_column_and_empty_input(spark):
    df = spark.createDataFrame([(1,)], ["k"])
    with pytest.raises(ValueError, match="no column 'customer'"):
        datagen.key_distribution(df, "customer")
    with pytest.raises(ValueError, match="empty"):
        datagen.key_distribution(df.filter("k > 5"), "k")
