"""Salts against the world: Spark's own rand(), a Python XXH64, and DuckDB's join.

Issue #24: the lab used to teach that a seedless ``rand()`` re-draws its salts when a task is retried. It does
not: the seed is drawn once, when the column is built, and partition ``i`` seeds its generator with seed + i. The
real hazard is order, and it applies as much to a salt from the row position: the same rows in another
partitioning get other salts. Only a hash of the columns that identify a row stays with the row.
"""

from __future__ import annotations

import struct

import duckdb
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit.experiments import skew as skew_exp
from labkit.topics import skew

# --- XXH64 written from its specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md), not from Spark's code
_M = 2**64 - 1
_P1, _P2, _P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
_P4, _P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _avalanche(h: int) -> int:
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    return h ^ (h >> 32)


def xxh64_short(data: bytes, seed: int) -> int:
    """XXH64 of an input shorter than 32 bytes (all this file needs), as an unsigned 64-bit integer."""
    assert len(data) < 32
    h = (seed + _P5 + len(data)) & _M
    i = 0
    while i + 8 <= len(data):
        (lane,) = struct.unpack_from("<Q", data, i)
        h ^= (_rotl((lane * _P2) & _M, 31) * _P1) & _M
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= len(data):
        (word,) = struct.unpack_from("<I", data, i)
        h ^= (word * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    for b in data[i:]:
        h ^= (b * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
    return _avalanche(h)


def documented_salt(row_id: int, salts: int, seed: int) -> int:
    """The salt_by salt as skew's docstring states it: pmod(xxhash64(seed, id), salts), Spark's hash seed 42.

    Spark hashes an int as its 4 little-endian bytes and a bigint as its 8, each child seeded with the hash of the
    ones before it, and pmod of the signed result.
    """
    h = xxh64_short(struct.pack("<i", seed), 42)
    h = xxh64_short(struct.pack("<q", row_id), h)
    signed = h - 2**64 if h >= 2**63 else h
    return signed % salts  # Python's % of a positive modulus is pmod


def test_the_python_xxh64_matches_the_specifications_test_vector():
    assert xxh64_short(b"", 0) == 0xEF46DB3751D8E999


# --- rand(): one seed per column, seed + partition index per partition, so a rerun of the same input repeats it


def test_a_seedless_rand_column_gives_the_same_values_when_the_same_input_is_evaluated_again(spark):
    salted = spark.range(0, 3000, 1, 4).withColumn("salt", (F.rand() * 8).cast("int"))
    first = salted.collect()  # the first run, kept on the driver
    assertDataFrameEqual(salted, first)  # a second job over the same input: the same salt on every row
    assert len({r["salt"] for r in first}) == 8


def test_a_seedless_rand_draws_its_seed_once_when_the_column_is_built(spark):
    df = spark.range(0, 200, 1, 2)
    one, other = df.select("id", F.rand().alias("r")), df.select("id", F.rand().alias("r"))
    mine = one.toPandas().set_index("id")["r"]
    assert (mine != other.toPandas().set_index("id")["r"]).all()  # two columns, two seeds
    assert (mine == one.toPandas().set_index("id")["r"]).all()  # one column, one seed, however often it runs


def test_each_partition_seeds_rand_with_the_seed_plus_its_partition_index(spark):
    four = spark.range(0, 4, 1, 4).select(F.spark_partition_id().alias("p"), F.rand(1000).alias("r"))
    by_partition = {r["p"]: r["r"] for r in four.collect()}
    assert sorted(by_partition) == [0, 1, 2, 3]
    for p, value in by_partition.items():  # the first draw of partition p is the first draw of seed 1000 + p
        assert spark.range(0, 1, 1, 1).select(F.rand(1000 + p)).first()[0] == value


# --- order: rand() and the row position move with the layout; salt_by stays with the row


def test_the_same_rows_in_another_partitioning_keep_only_their_salt_by_salt(spark):
    table = skew_exp.salt_stability(spark.range(0, 4000, 1, 3), "id", salts=8, partitions=5)
    assert list(table.index) == ["seedless rand()", "row position (default)", "salt_by=['id']"]
    assert (table["same on rerun"] == 1.0).all()  # a rerun of the same input: every salt repeats
    assert table.loc["seedless rand()", "same after repartition"] < 0.5  # about 1 in 8 by chance
    assert table.loc["row position (default)", "same after repartition"] < 0.5
    assert table.loc["salt_by=['id']", "same after repartition"] == 1.0
    assert (table["rows"] == 4000).all()


def test_a_union_that_reorders_the_rows_changes_the_position_salt_of_a_row(spark):
    df = spark.range(0, 2000, 1, 2)
    reordered = df.filter("id % 2 = 1").union(df.filter("id % 2 = 0"))  # the same rows, other partitions and order
    before = df.select("id", skew.salt_column(df, 8, 42).alias("s")).toPandas().set_index("id")["s"]
    after = reordered.select("id", skew.salt_column(reordered, 8, 42).alias("s")).toPandas().set_index("id")["s"]
    assert (before != after.reindex(before.index)).mean() > 0.5
    assertDataFrameEqual(df.select("id", skew.salt_column(df, 8, 42, ["id"]).alias("s")),
                         reordered.select("id", skew.salt_column(reordered, 8, 42, ["id"]).alias("s")))


@pytest.mark.parametrize("layout", ["range", "repartition(5)", "repartition by id % 3"])
def test_the_salt_by_salt_is_the_documented_hash_of_the_seed_and_the_id(spark, layout):
    base = spark.range(0, 500, 1, 2)
    df = {"range": base, "repartition(5)": base.repartition(5),
          "repartition by id % 3": base.repartition(3, F.col("id") % 3)}[layout]
    got = df.select("id", skew.salt_column(df, 8, 7, ["id"]).alias("s"))
    want = spark.createDataFrame([(i, documented_salt(i, 8, 7)) for i in range(500)], got.schema)
    assertDataFrameEqual(got, want)


# --- a salted join is the plain join, with DuckDB as the reference

_LARGE = pd.DataFrame({"txn": range(60), "k": [1] * 40 + [2] * 8 + [3] * 6 + [9] * 3 + [None] * 3,
                       "amount": [float(i % 7) for i in range(60)]}).astype({"k": "Int64"})
_SMALL = pd.DataFrame({"k": [1, 2, 3, 4], "name": ["one", "two", "three", "four"]})


def _duckdb(how: str) -> pd.DataFrame:
    """The plain join computed by DuckDB: key first, then the large side's columns, then the small side's."""
    large, small = _LARGE, _SMALL  # noqa: F841 (DuckDB reads them by name)
    return duckdb.sql(f"SELECT k, l.txn, l.amount, s.name FROM large l {how} JOIN small s USING (k)").df()


@pytest.mark.parametrize("how", ["inner", "left"])
def test_every_salted_join_gives_duckdbs_plain_join_rows(spark, how):
    large = spark.createDataFrame(_LARGE.astype(object).where(_LARGE.notna(), None),
                                  "txn long, k long, amount double").repartition(4, "k")  # out of a shuffle
    small = spark.createDataFrame(_SMALL, "k long, name string")
    want = spark.createDataFrame(_duckdb(how).astype(object).where(_duckdb(how).notna(), None),
                                 "k long, txn long, amount double, name string")
    assert want.count() == (54 if how == "inner" else 60)
    runs = {"salt_by txn": skew.salted_join(large, small, "k", 4, how, salt_by=["txn"]),
            "position": skew.salted_join(large, small, "k", 4, how),
            "hot keys, salt_by txn": skew.salted_join_hot_keys(large, small, "k", [1, None], 4, how,
                                                               salt_by=["txn"])}
    if how == "inner":
        runs["the guide's rand()"] = skew.rand_salted_join(large, small, "k", 4)
    for name, got in runs.items():
        assert got.columns == want.columns, name
        assertDataFrameEqual(got, want)
