"""The dataset cache: build once, read back, rebuild what an interrupted write left."""

from pyspark.testing import assertDataFrameEqual

from labkit.core import datagen
from labkit.core.cache import cached


def test_cached_builds_once_and_reads_back_the_same_rows(spark, cache_root):
    calls = []

    def builder(spark, rows):
        calls.append(rows)
        return datagen.transactions(spark, rows, customers=50)

    first = cached(spark, "tx", {"rows": 500}, builder)
    second = cached(spark, "tx", {"rows": 500}, builder)
    third = cached(spark, "tx", {"rows": 600}, builder)
    assert calls == [500, 600]
    assertDataFrameEqual(first, second)
    assertDataFrameEqual(first, datagen.transactions(spark, 500, customers=50))
    assert third.count() == 600
    assert len(list(cache_root.iterdir())) == 2


def test_cached_rebuilds_an_interrupted_write(spark, cache_root):
    cached(spark, "tx", {"rows": 100}, lambda spark, rows: datagen.transactions(spark, rows))
    (folder,) = cache_root.iterdir()
    (folder / "_SUCCESS").unlink()  # as if the write had died before committing
    df = cached(spark, "tx", {"rows": 100}, lambda spark, rows: datagen.transactions(spark, rows))
    assert df.count() == 100 and (folder / "_SUCCESS").exists()
