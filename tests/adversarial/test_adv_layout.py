"""Issue #24, notebook 01: range partitions, bucketed files and files per folder, on inputs built to be exact.

The technique (``range_partitions``) and the experiments built on it (``bucketing_layouts``, ``folder_layouts``).

References the lab does not implement: Python's ``sorted`` for range partitioning (through ``hypothesis``), a
Murmur3 x86_32 written here from the published algorithm for the bucket id in each file name, and the count of
``(task, folder)`` pairs from ``spark.range``'s fixed partitions for the number of files.
"""

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from labkit.experiments import partitioning as part_exp
from labkit.experiments.partitioning.layouts import _bucket_id
from labkit.topics import partitioning

M32 = 0xFFFFFFFF


def _rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & M32


def _murmur3_int(value, seed=42):
    """Murmur3 x86_32 of one 4-byte little-endian int, as a signed int (Spark's ``hash()`` of an int column)."""
    k = (value & M32) * 0xCC9E2D51 & M32
    k = _rotl(k, 15) * 0x1B873593 & M32
    h = _rotl(seed ^ k, 13)
    h = (h * 5 + 0xE6546B64) & M32
    h ^= 4
    h ^= h >> 16
    h = h * 0x85EBCA6B & M32
    h ^= h >> 13
    h = h * 0xC2B2AE35 & M32
    h ^= h >> 16
    return h - 2**32 if h >= 2**31 else h


@pytest.fixture
def database(spark, tmp_path):
    """A database of its own, dropped with its tables afterwards."""
    name = f"adv_layout_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE DATABASE {name} LOCATION '{tmp_path / 'db'}'")
    yield name
    spark.sql(f"DROP DATABASE IF EXISTS {name} CASCADE")


def _skewed(spark, rows=4000, tasks=4):
    """``tasks`` fixed partitions of contiguous ids; 80% of the rows on key 0, the rest on 10 others (5, 10 .. 50).

    The payload is a SHA-256 hex string per row, which Parquet cannot compress away: bytes follow rows.
    """
    return spark.range(0, rows, 1, tasks).select(
        F.col("id"), F.when(F.col("id") % 5 != 0, 0).otherwise(F.col("id") % 55).cast("int").alias("key"),
        F.sha2(F.col("id").cast("string"), 256).alias("payload"))


@settings(max_examples=8, deadline=None)
@given(keys=st.lists(st.integers(-1000, 1000), min_size=1, max_size=200), n=st.integers(1, 6))
def test_range_partitions_read_in_partition_order_are_pythons_sorted_keys(spark, keys, n):
    bounds = partitioning.range_partitions(spark.createDataFrame([(k,) for k in keys], "k int"), "k", n)
    assert bounds.attrs["ordered"] and len(bounds) <= n
    chunks, start = [], 0
    for rows in bounds["rows"]:  # sorted(keys) cut into the partitions' row counts, in partition order
        chunks.append(sorted(keys)[start:start + rows])
        start += rows
    assert start == len(keys)
    assert [(c[0], c[-1]) for c in chunks] == list(zip(bounds["min"], bounds["max"], strict=True))


def test_the_bucket_in_each_file_name_is_sparks_murmur3_of_the_key_not_hives_value_mod_n(spark, tmp_path,
                                                                                          database):
    n = 8
    got = part_exp.bucketing_layouts(_skewed(spark), "key", n, str(tmp_path / "t"), database)
    path = tmp_path / "t" / "repartitioned"
    for file in (p for p in path.iterdir() if p.suffix == ".parquet"):
        bucket = _bucket_id(file.name)
        keys = {r.key for r in spark.read.parquet(str(file)).select("key").distinct().collect()}
        assert {_murmur3_int(k) % n for k in keys} == {bucket}  # Python's % is pmod
    keys = range(50)
    assert any(_murmur3_int(k) % n != k % n for k in keys)  # Hive 1/2 would bucket an int k into k % n
    assert got.loc["repartition(n, key) + bucketBy", "bucket ids"] == len({_murmur3_int(k) % n for k in
                                                                            [0, *range(0, 55, 5)]})


def test_a_bucketed_write_without_a_repartition_opens_one_file_per_task_and_bucket(spark, tmp_path, database):
    n, df = 8, _skewed(spark, tasks=4)
    pairs = {(r.p, _murmur3_int(r.key) % n) for r in
             df.select(F.spark_partition_id().alias("p"), "key").distinct().collect()}
    got = part_exp.bucketing_layouts(df, "key", n, str(tmp_path / "t"), database)
    plain, fixed = got.loc["bucketBy only"], got.loc["repartition(n, key) + bucketBy"]
    assert plain["files"] == len(pairs) == 4 * len({b for _, b in pairs})  # every task holds every bucket: T x n
    assert fixed["files"] == fixed["bucket ids"] == len({b for _, b in pairs})  # one file per bucket
    assert fixed["largest / median"] > 5  # the hot key's bucket: "consistent file sizes" it is not


def test_without_a_repartition_every_task_writes_a_file_into_every_date_folder(spark, tmp_path):
    tasks, dates = 4, 10
    df = spark.range(0, 400, 1, tasks).select(F.col("id"), (F.col("id") % dates).alias("date_column"),
                                              (F.col("id") % 7).alias("customer_id"))
    got = part_exp.folder_layouts(df, str(tmp_path / "l"), "date_column", "customer_id", 3)
    assert got.loc["no repartition", "files"] == tasks * dates  # each task's 100 ids hold all 10 dates
    assert got.loc["no repartition", "files per folder min"] == tasks
    one = got.loc["repartition(3, date_column)"]
    assert one["folders"] == dates and one["files"] == dates and one["files per folder max"] == 1
    other = got.loc["repartition(3, customer_id)"]
    pairs = {(r.p, r.date_column) for r in df.repartition(3, "customer_id")
             .select(F.spark_partition_id().alias("p"), "date_column").distinct().collect()}
    assert other["files"] == len(pairs) > dates  # a task per customer hash writes into many date folders


def test_repartition_by_date_before_partition_by_month_writes_at_most_the_months_dates_not_n_files(spark, tmp_path):
    df = spark.range(0, 3000).select(F.col("id"), F.date_add(F.lit("2024-01-01").cast("date"),
                                                             (F.col("id") % 60).cast("int")).alias("date_column"),
                                     (F.col("id") % 2).alias("customer_id"))  # 2 hash tasks: 120 files, not 780
    df = df.withColumn("month", F.month("date_column"))
    got = part_exp.folder_layouts(df, str(tmp_path / "l"), "date_column", "customer_id", 40, coarser="month")
    guide = got.loc["repartition(40, date_column), partitionBy(month)"]
    writers = (df.select(F.month("date_column").alias("m"), F.pmod(F.hash("date_column"), F.lit(40)).alias("t"))
               .distinct().groupBy("m").count().collect())
    assert guide["folders"] == 2 and guide["files"] == sum(r["count"] for r in writers)  # 2024-01-01 .. 02-29
    assert guide["files per folder max"] <= 31 < 40  # at most the month's dates, fewer than the 40 tasks
    assert got.loc["repartition(40, date_column)", "files per folder max"] == 1
