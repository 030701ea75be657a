"""The top-k window query against DuckDB's QUALIFY, on hand-written rows: ties, null orders, null groups, short groups.

Spark (3.5+) plans a WindowGroupLimit for ``rank() <= k``-style filters; these tests check that the limited plan
returns exactly what an engine without that rule (DuckDB) returns, and what it returns with the rule off.
"""

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.core.session import spark_conf
from labkit.topics import windows

COLS = "id long, grp string, score long"
ROWS = [
    (1, "a", 10), (2, "a", 10), (3, "a", 10),  # a three-way tie at the top
    (4, "a", 9), (5, "a", 9), (6, "a", 8), (7, "a", None),  # a tie at rank 4, a null order
    (8, "b", 5),  # a group shorter than k
    (9, None, 7), (10, None, 7), (11, None, 3),  # a null group is a group of its own
    (12, "c", None), (13, "c", None),  # a group with no order at all: no row ranks
    (14, "d", -1), (15, "d", 0), (16, "d", 0), (17, "d", 2),  # negatives and a tie below the top
]


def duckdb_top_k(rows, k, function):
    """The same query in DuckDB: nulls filtered first, ``QUALIFY`` on the window, row_number ties broken by id."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id BIGINT, grp VARCHAR, score BIGINT)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    order = "score DESC, id ASC" if function == "row_number" else "score DESC"
    got = con.execute(f"SELECT id, grp, score FROM t WHERE score IS NOT NULL "
                      f"QUALIFY {function}() OVER (PARTITION BY grp ORDER BY {order}) <= {k}").fetchall()
    con.close()
    return sorted(got, key=lambda r: r[0])


def spark_top_k(df, k, function, threshold):
    with spark_conf(df.sparkSession, {windows.LIMIT_THRESHOLD: threshold}):
        plan = windows.group_limit_plan(df, "grp", "score", k, function, "id" if function == "row_number" else None)
        rows = windows.top_k(df, "grp", "score", k, function, "id" if function == "row_number" else None).collect()
    return plan, sorted((tuple(r) for r in rows), key=lambda r: r[0])


@pytest.mark.parametrize("function", windows.RANK_LIKE)
@pytest.mark.parametrize("k", [1, 2, 4])
def test_limited_top_k_equals_duckdb_qualify_on_ties_and_nulls(spark, function, k):
    df = spark.createDataFrame(ROWS, COLS).repartition(3)  # the map side has several tasks to limit
    want = duckdb_top_k(ROWS, k, function)
    limited_plan, limited = spark_top_k(df, k, function, 1000)
    off_plan, off = spark_top_k(df, k, function, -1)
    assert limited_plan.limited and not off_plan.final  # the rule fired in one run only
    assert limited == want
    assert off == want


def test_rank_keeps_the_whole_tie_that_crosses_k_and_dense_rank_counts_values():
    rank2 = duckdb_top_k(ROWS, 2, "rank")
    assert [r[0] for r in rank2 if r[1] == "a"] == [1, 2, 3]  # rank 1 three times, no rank 2
    dense2 = duckdb_top_k(ROWS, 2, "dense_rank")
    assert [r[0] for r in dense2 if r[1] == "a"] == [1, 2, 3, 4, 5]  # the two largest values, every row of them


def test_partial_limit_is_dropped_when_the_input_is_already_partitioned_by_the_group(spark):
    df = spark.createDataFrame(ROWS, COLS).repartition(4, "grp")  # no shuffle left for the partial to save
    plan = windows.group_limit_plan(df, "grp", "score", 2, "rank")
    assert plan.final and not plan.partial
    assert windows.group_limit_nodes(plan.text) == [("rank", 2, "Final")]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["x", "y", None]), st.one_of(st.none(), st.integers(-3, 3))),
                     min_size=1, max_size=40),
       k=st.integers(1, 4), function=st.sampled_from(windows.RANK_LIKE))
def test_generated_groups_with_many_ties_match_duckdb(spark, rows, k, function):
    data = [(i, g, s) for i, (g, s) in enumerate(rows)]
    df = spark.createDataFrame(data, COLS).repartition(2)
    _, got = spark_top_k(df, k, function, 1000)
    assert got == duckdb_top_k(data, k, function)
