"""Joins, group-bys and top-per-group queries checked against DuckDB, an engine the lab does not implement.

The data is written by hand the way real tables look and our generators never write them: null keys on both
sides, a key repeated on the small side, a hot key, ties on the maximum, null values to maximise, negative numbers.
Each labkit technique must return exactly the rows DuckDB's SQL returns on the same rows.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from pyspark.testing import assertDataFrameEqual

from labkit.topics import joins, skew, windows

LARGE = [(1, 10.0), (1, 11.0), (1, 12.0), (1, -3.5), (1, 0.0), (2, 20.0), (3, 30.0), (None, 99.0), (None, 98.0),
         (7, None), (1, 13.0), (4, 40.0)]  # key 1 is hot; key 7 is nowhere on the small side
SMALL = [(1, "one"), (2, "two"), (2, "deux"), (3, "three"), (None, "null key"), (5, "five")]  # 2 twice, 5 unmatched
LARGE_SCHEMA, SMALL_SCHEMA = "k int, v double", "k int, name string"

EMPLOYEES = [(1, "Alice", "Eng", 150), (2, "Bob", "Eng", 150), (3, "Carl", "Eng", 140), (4, "Dina", "Sales", 120),
             (5, "Eve", "Sales", None), (6, "Finn", "HR", None), (7, "Gus", None, 90), (8, "Hal", None, 90),
             (9, "Ida", "Ops", -5), (10, "Jo", "Ops", -7)]  # ties in Eng and in the null department; HR all null
EMP_SCHEMA = "id long, name string, dept string, ctc long"


def _duck(sql: str, **tables: pd.DataFrame) -> list[tuple]:
    """Run ``sql`` in a fresh in-process DuckDB over the given pandas frames (registered under their names)."""
    con = duckdb.connect()
    for name, frame in tables.items():
        con.register(name, frame)
    return [tuple(None if pd.isna(v) else v for v in row) for row in con.execute(sql).fetchall()]


def _frames():
    large = pd.DataFrame(LARGE, columns=["k", "v"]).astype({"k": "Int32", "v": "Float64"})
    small = pd.DataFrame(SMALL, columns=["k", "name"]).astype({"k": "Int32"})
    return large, small


SQL_JOINS = {
    "inner": "SELECT l.k, l.v, s.name FROM large l JOIN small s ON l.k = s.k",
    "left": "SELECT l.k, l.v, s.name FROM large l LEFT JOIN small s ON l.k = s.k",
    "left_semi": "SELECT l.k, l.v FROM large l SEMI JOIN small s ON l.k = s.k",
    "left_anti": "SELECT l.k, l.v FROM large l ANTI JOIN small s ON l.k = s.k",
    "right": "SELECT s.k, l.v, s.name FROM large l RIGHT JOIN small s ON l.k = s.k",
    "full": "SELECT coalesce(l.k, s.k) AS k, l.v, s.name FROM large l FULL JOIN small s ON l.k = s.k",
}
_SCHEMAS = {"left_semi": LARGE_SCHEMA, "left_anti": LARGE_SCHEMA}


def _expected_join(spark, how: str):
    large, small = _frames()
    return spark.createDataFrame(_duck(SQL_JOINS[how], large=large, small=small),
                                 _SCHEMAS.get(how, "k int, v double, name string"))


@pytest.mark.parametrize("how", ["inner", "left", "left_semi", "left_anti"])
@pytest.mark.parametrize("salts", [1, 3, 8])
def test_salted_join_returns_the_rows_duckdb_joins_with_null_keys_and_a_repeated_small_key(spark, how, salts):
    large, small = spark.createDataFrame(LARGE, LARGE_SCHEMA), spark.createDataFrame(SMALL, SMALL_SCHEMA)
    got = skew.salted_join(large, small, "k", salts=salts, how=how)
    assertDataFrameEqual(got.select(*_expected_join(spark, how).columns), _expected_join(spark, how))


@pytest.mark.parametrize("how", ["inner", "left", "left_semi", "left_anti"])
def test_salting_only_the_hot_key_returns_the_rows_duckdb_joins(spark, how):
    large, small = spark.createDataFrame(LARGE, LARGE_SCHEMA), spark.createDataFrame(SMALL, SMALL_SCHEMA)
    got = skew.salted_join_hot_keys(large, small, "k", hot_keys=[1], salts=4, how=how)
    assertDataFrameEqual(got.select(*_expected_join(spark, how).columns), _expected_join(spark, how))


@pytest.mark.parametrize("strategy, how", [("broadcast", "inner"), ("broadcast", "left"), ("merge", "full"),
                                           ("merge", "right"), ("shuffle_hash", "inner"), ("shuffle_hash", "left_anti"),
                                           ("shuffle_replicate_nl", "inner")])
def test_each_join_strategy_returns_the_rows_duckdb_joins(spark, strategy, how):
    large, small = spark.createDataFrame(LARGE, LARGE_SCHEMA), spark.createDataFrame(SMALL, SMALL_SCHEMA)
    got = joins.join_with_strategy(large, small, "k", strategy, how=how)  # a USING join: one k, coalesced
    expected = _expected_join(spark, how)
    assertDataFrameEqual(got.select(*expected.columns), expected)


AGGS = {"total": ("sum", "v"), "n": ("count", "*"), "n_v": ("count", "v"), "low": ("min", "v"), "high": ("max", "v"),
        "mean": ("avg", "v")}
SQL_AGG = ("SELECT k, sum(v) AS total, count(*) AS n, count(v) AS n_v, min(v) AS low, max(v) AS high, avg(v) AS mean "
           "FROM large GROUP BY k")


@pytest.mark.parametrize("salts", [1, 4])
def test_two_stage_aggregation_matches_duckdbs_group_by_with_a_null_key_and_null_values(spark, salts):
    large, _ = _frames()
    expected = spark.createDataFrame(_duck(SQL_AGG, large=large),
                                     "k int, total double, n long, n_v long, low double, high double, mean double")
    got = skew.salted_aggregate(spark.createDataFrame(LARGE, LARGE_SCHEMA), "k", AGGS, salts=salts)
    assertDataFrameEqual(got.select(*expected.columns), expected, rtol=1e-9)


def test_isolating_the_hot_key_matches_duckdbs_group_by(spark):
    large, _ = _frames()
    expected = spark.createDataFrame(_duck(SQL_AGG, large=large),
                                     "k int, total double, n long, n_v long, low double, high double, mean double")
    got = skew.isolate_hot_keys(spark.createDataFrame(LARGE, LARGE_SCHEMA), "k", AGGS, hot_keys=[1], salts=4)
    assertDataFrameEqual(got.select(*expected.columns), expected, rtol=1e-9)


SQL_TOP_ALL = ("SELECT id, name, dept, ctc FROM (SELECT *, rank() OVER (PARTITION BY dept ORDER BY ctc DESC) AS r "
               "FROM emp WHERE ctc IS NOT NULL) WHERE r = 1")
SQL_TOP_ONE = ("SELECT id, name, dept, ctc FROM (SELECT *, row_number() OVER (PARTITION BY dept ORDER BY ctc DESC, "
               "id) AS r FROM emp WHERE ctc IS NOT NULL) WHERE r = 1")


def _employees():
    return pd.DataFrame(EMPLOYEES, columns=["id", "name", "dept", "ctc"]).astype({"ctc": "Int64"})


@pytest.mark.parametrize("method", [m for m, kind in windows.METHODS.items() if kind == "all"])
def test_every_tied_top_row_per_group_is_the_set_duckdb_ranks_first(spark, method):
    expected = spark.createDataFrame(_duck(SQL_TOP_ALL, emp=_employees()), EMP_SCHEMA)
    got = windows.top_per_group(spark.createDataFrame(EMPLOYEES, EMP_SCHEMA), "dept", "ctc", method, ties="all",
                                tiebreak="id")
    assertDataFrameEqual(got.select(*expected.columns), expected)


@pytest.mark.parametrize("method", list(windows.METHODS))
def test_one_top_row_per_group_is_the_row_duckdb_numbers_first_with_the_same_tiebreak(spark, method):
    expected = spark.createDataFrame(_duck(SQL_TOP_ONE, emp=_employees()), EMP_SCHEMA)
    got = windows.top_per_group(spark.createDataFrame(EMPLOYEES, EMP_SCHEMA), "dept", "ctc", method, ties="one",
                                tiebreak="id")
    assertDataFrameEqual(got.select(*expected.columns), expected)
