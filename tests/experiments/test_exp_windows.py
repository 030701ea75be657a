"""Notebook 09's experiments: the guide's SQL checked, the methods timed, Spark's group limit measured."""

import pytest
from pyspark.sql import functions as F

from labkit.core import datagen
from labkit.core.measure import measure, noop
from labkit.core.session import spark_conf
from labkit.experiments import windows as windows_exp
from labkit.topics import windows

COLS = "employee_id long, employee_name string, department string, annual_ctc long"
ROWS = [  # the guide's sample, then the edge cases (as in tests/topics/test_windows.py)
    (1, "Alice", "Engineering", 150_000), (2, "Bob", "Engineering", 150_000), (3, "Charlie", "Engineering", 140_000),
    (4, "Diana", "Sales", 120_000), (5, "Eve", "Sales", 110_000), (6, "Frank", "HR", 90_000),
    (7, "Grace", "HR", 95_000),
    (8, "Hiro", "Solo", 70_000),  # a single-row group
    (9, "Ines", "Unpaid", None), (10, "Jon", "Unpaid", None),  # a group with no salary: no top row
    (11, "Kim", "Sales", None),  # a null salary in a group that has others: never the maximum
    (12, "Lea", "HR", 95_000),  # a tie where the smaller id is second in the input
]


@pytest.fixture(scope="module")
def staff(spark):
    return spark.createDataFrame(ROWS, COLS)


def test_the_guides_sql_runs_and_its_differences_are_named(spark):
    df = spark.createDataFrame(ROWS, COLS)
    found = windows_exp.guide_sql(df)
    assert len(found) == 8  # seven SQL queries and the benchmark's Method 2
    assert found["2 rank"]["ok"] and found["6 join with max"]["ok"] and found["7 correlated subquery"]["ok"]
    assert "null salary" in found["1 row_number"]["finding"]  # the Unpaid department's null row wins there
    assert "drops" in found["6 join with max"]["finding"]
    method2 = found["benchmark method 2"]  # it runs: its join condition has no annual_ctc, so every row comes back
    assert method2["rows"] == len(ROWS) and not method2["ok"] and "every employee" in method2["finding"]


def test_first_value_and_the_aggregations_get_no_group_limit(staff):
    got = windows_exp.limit_by_method(staff, "department", "annual_ctc", "employee_id")
    assert got[got].index.tolist() == ["row_number", "rank", "dense_rank"]


def test_shuffle_records_written_drop_to_k_per_group_per_map_task_on_a_skewed_input(spark):
    # 80% of the rows in group 0, four map tasks (no shuffle before the window), some null orders
    df = spark.range(0, 20_000, numPartitions=4).selectExpr(
        "id", "CASE WHEN id % 10 < 8 THEN 0 ELSE id % 7 + 1 END AS g",
        "CASE WHEN id % 97 = 0 THEN NULL ELSE (id * 37) % 101 END AS v")
    valid = df.where("v IS NOT NULL").count()
    per_task = df.where("v IS NOT NULL").groupBy(F.spark_partition_id().alias("p"), "g").count().collect()
    k = 2
    written = {}
    for threshold in (-1, 1000):
        with spark_conf(spark, {windows.LIMIT_THRESHOLD: threshold}):
            m = measure(spark, noop(windows.top_k(df, "g", "v", k, "row_number", "id")), f"threshold {threshold}")
        written[threshold] = windows_exp.shuffle_records_written(spark, m)
    assert written[-1] == valid  # without the limit every row goes through the shuffle
    assert written[1000] == sum(min(k, r["count"]) for r in per_task)  # with it, k rows a group a map task
    assert written[1000] == 4 * 8 * k



def test_compare_group_limit_times_the_limit_against_none_and_checks_each_plan(spark):
    df = spark.range(0, 20_000, numPartitions=4).selectExpr(
        "id", "CASE WHEN id % 10 < 8 THEN 0 ELSE id % 7 + 1 END AS g", "(id * 37) % 101 AS v").cache()
    table = windows_exp.compare_group_limit(df, "g", "v", 2, "row_number", "id", repeats=1)
    assert list(table.index) == ["limit off (-1)", "default (1000)"]
    assert table["limit_in_plan"].tolist() == [False, True] and table.loc["limit off (-1)", "speedup"] == 1.0
    assert table.loc["limit off (-1)", "shuffle_records_written"] == 20_000  # every row through the shuffle
    assert table.loc["default (1000)", "shuffle_records_written"] == 4 * 8 * 2  # k a group a map task
    with pytest.raises(ValueError, match="above the default"):
        windows_exp.compare_group_limit(df, "g", "v", 1001, "rank")


def test_the_benchmark_times_every_method_and_the_guides_ratios_come_from_its_rounds(spark):
    one = {"20 departments": datagen.employees(spark, 400, departments=20, seed=3).cache()}
    table = windows_exp.benchmark(spark, one, repeats=2)
    assert table["variant"].tolist() == [*windows_exp.BENCH_METHODS, "groupBy max only"]
    assert (table["runs"] == 2).all() and table.set_index("variant").loc["row_number", "speedup"] == 1.0
    ratios = windows_exp.claim_ratios(table, "20 departments")
    medians = table.set_index("variant")["median_s"]
    assert ratios["row_number_over_groupby"]["speedup"] == pytest.approx(
        medians["row_number"] / medians["groupBy max only"])
    assert ratios["groupby_join_over_row_number"]["speedup"] == pytest.approx(
        medians["groupby_join"] / medians["row_number"])
    with pytest.raises(ValueError, match="no dataset 'ten'"):
        windows_exp.claim_ratios(table, "ten")


def test_the_benchmark_times_only_the_methods_named_with_row_number_and_the_groupby(spark):
    one = {"20 departments": datagen.employees(spark, 400, departments=20, seed=3).cache()}
    table = windows_exp.benchmark(spark, one, repeats=1, methods=["groupby_join"])
    assert table["variant"].tolist() == ["row_number", "groupby_join", "groupBy max only"]
    with pytest.raises(ValueError, match="no method"):
        windows_exp.benchmark(spark, one, repeats=1, methods=["quicksort"])


def test_methods_agree_checks_every_method_against_its_reference_in_one_query(spark, staff):
    got = windows_exp.methods_agree(staff, "department", "annual_ctc", "employee_id")
    assert got.index.tolist() == list(windows.METHODS)
    # every tied top row: Alice, Bob, Diana, Grace, Lea, Hiro; one a department: Alice, Diana, Grace, Hiro
    assert {m: int(n) for m, n in got.items()} == {m: 6 if t == "all" else 4 for m, t in windows.METHODS.items()}


def test_methods_agree_names_the_method_whose_rows_or_types_differ(spark, staff, monkeypatch):
    real = windows_exp.top_per_group
    broken = {"max_struct": lambda top: top.where("department != 'HR'").unionAll(top.where("department = 'Solo'")),
              "dense_rank": lambda top: top.withColumn("annual_ctc", F.col("annual_ctc").cast("int"))}
    monkeypatch.setattr(windows_exp, "top_per_group", lambda df, group, order, method, **kw: broken.get(
        method, lambda top: top)(real(df, group, order, method, **kw)))
    with pytest.raises(AssertionError, match="dense_rank: columns or types differ"):
        windows_exp.methods_agree(staff, "department", "annual_ctc", "employee_id")
    del broken["dense_rank"]
    with pytest.raises(AssertionError, match="max_struct: 1 expected rows missing, 1 unexpected rows") as err:
        windows_exp.methods_agree(staff, "department", "annual_ctc", "employee_id")
    assert "row_number" not in str(err.value)  # only the method that differs is named
