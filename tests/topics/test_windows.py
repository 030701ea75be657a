"""Top row per group: every method against a plain-Python reference, on ties, nulls, empty and single-row groups."""

import pytest
from pyspark.testing import assertDataFrameEqual

from labkit.core import datagen
from labkit.core.checks import assert_same_rows
from labkit.core.plans import plan_text
from labkit.core.session import spark_conf
from labkit.topics import windows
from labkit.topics.windows import METHODS, top_per_group

COLS = "employee_id long, employee_name string, department string, annual_ctc long"
ROWS = [  # the guide's sample, then the edge cases
    (1, "Alice", "Engineering", 150_000), (2, "Bob", "Engineering", 150_000), (3, "Charlie", "Engineering", 140_000),
    (4, "Diana", "Sales", 120_000), (5, "Eve", "Sales", 110_000), (6, "Frank", "HR", 90_000),
    (7, "Grace", "HR", 95_000),
    (8, "Hiro", "Solo", 70_000),  # a single-row group
    (9, "Ines", "Unpaid", None), (10, "Jon", "Unpaid", None),  # a group with no salary: no top row
    (11, "Kim", "Sales", None),  # a null salary in a group that has others: never the maximum
    (12, "Lea", "HR", 95_000),  # a tie where the smaller id is second in the input
]


def reference(rows, ties):
    """The top rows by plain Python: nulls never win; ties='one' keeps the smallest employee_id."""
    best = {}
    for r in rows:
        if r[3] is not None:
            best[r[2]] = max(best.get(r[2], r[3]), r[3])
    top = sorted(r for r in rows if r[3] is not None and r[3] == best[r[2]])
    if ties == "one":
        seen, one = set(), []
        for r in top:
            if r[2] not in seen:
                seen.add(r[2])
                one.append(r)
        return one
    return top


@pytest.fixture(scope="module")
def staff(spark):
    return spark.createDataFrame(ROWS, COLS)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("ties", ["one", "all"])
def test_every_method_matches_the_reference(staff, method, ties):
    if ties == "all" and METHODS[method] == "one":
        with pytest.raises(ValueError, match="returns one row per group"):
            top_per_group(staff, "department", "annual_ctc", method, ties="all", tiebreak="employee_id")
        return
    got = sorted(tuple(r) for r in top_per_group(staff, "department", "annual_ctc", method, ties=ties,
                                                 tiebreak="employee_id").collect())
    assert got == reference(ROWS, ties)


def test_the_guides_alice_and_bob_case(staff):
    one = top_per_group(staff, "department", "annual_ctc", "row_number", tiebreak="employee_id")
    assert [r.employee_name for r in one.where("department = 'Engineering'").collect()] == ["Alice"]
    everyone = top_per_group(staff, "department", "annual_ctc", "rank", ties="all")
    assert sorted(r.employee_name for r in everyone.where("department = 'Engineering'").collect()) == ["Alice", "Bob"]
    assert not everyone.where("department = 'Unpaid'").count()  # no salary, no top row


def test_ties_one_is_deterministic_whatever_the_partitioning(staff):
    for parts in (1, 3, 7):
        df = staff.repartition(parts)
        for method in ("row_number", "max_by", "max_struct", "rank"):
            hr = top_per_group(df, "department", "annual_ctc", method, tiebreak="employee_id").where("department='HR'")
            assert [r.employee_id for r in hr.collect()] == [7], (method, parts)


def test_bad_arguments_name_what_is_wrong(staff):
    with pytest.raises(ValueError, match="unknown method"):
        top_per_group(staff, "department", "annual_ctc", "mode")
    with pytest.raises(ValueError, match="tiebreak"):
        top_per_group(staff, "department", "annual_ctc", "row_number")
    with pytest.raises(ValueError, match="ties must be"):
        top_per_group(staff, "department", "annual_ctc", "rank", ties="some")
    with pytest.raises(ValueError, match="not found"):
        top_per_group(staff, "department", "salary", "rank", ties="all")


def test_methods_agree_on_generated_employees(spark):
    df = datagen.employees(spark, 2000, departments=20, seed=3).cache()
    assert df.where("annual_ctc is null").count() > 0
    unpaid = df.groupBy("department").agg({"annual_ctc": "max"}).where("`max(annual_ctc)` is null").count()
    assert unpaid == 1
    want_all = top_per_group(df, "department", "annual_ctc", "rank", ties="all")
    want_one = top_per_group(df, "department", "annual_ctc", "row_number", tiebreak="employee_id")
    assert want_all.count() > want_one.count() == 19  # ties exist; the unpaid department has no top row
    for method, ties in METHODS.items():
        want = want_all if ties == "all" else want_one
        assert_same_rows(top_per_group(df, "department", "annual_ctc", method, ties=ties, tiebreak="employee_id"),
                         want, method)


def test_employees_are_deterministic_and_skewable(spark):
    a = datagen.employees(spark, 2000, departments=10, seed=1)
    b = datagen.employees(spark, 2000, departments=10, seed=1).repartition(5).orderBy("employee_id")
    assertDataFrameEqual(b, a, checkRowOrder=True)  # the same rows, generated in employee_id order
    hot = datagen.employees(spark, 10_000, departments=100, skew=datagen.HotKeys(0.8, 1))
    share = hot.where("department = 'D00001'").count() / 10_000
    assert 0.78 < share < 0.82
    with pytest.raises(ValueError, match="unsalaried"):
        datagen.employees(spark, 10, departments=1, unsalaried=1)


# --- the top-k window query and Spark's WindowGroupLimit ---------------------------------------------------------

@pytest.mark.parametrize("function", windows.RANK_LIKE)
def test_top_k_plan_limits_each_group_before_and_after_the_shuffle_at_the_default(spark, function):
    df = spark.range(200).selectExpr("id % 5 AS g", "id % 17 AS v", "id")
    plan = windows.group_limit_plan(df, "g", "v", 3, function, "id" if function == "row_number" else None)
    assert plan.threshold == 1000  # Spark's default, read back while planning
    assert plan.partial and plan.final and plan.limited
    assert windows.group_limit_nodes(plan.text) == [(function, 3, "Final"), (function, 3, "Partial")]


@pytest.mark.parametrize("function", windows.RANK_LIKE)
def test_threshold_minus_one_removes_the_group_limit(spark, function):
    df = spark.range(200).selectExpr("id % 5 AS g", "id % 17 AS v", "id")
    plan = windows.group_limit_plan(df, "g", "v", 3, function, "id" if function == "row_number" else None,
                                    threshold=-1)
    assert plan.threshold == -1
    assert not plan.partial and not plan.final
    assert windows.group_limit_nodes(plan.text) == []
    assert spark.conf.get(windows.LIMIT_THRESHOLD) == "1000"  # restored


def test_k_above_the_threshold_gets_no_limit_and_k_at_it_does(spark):
    df = spark.range(200).selectExpr("id % 5 AS g", "id % 17 AS v")
    assert windows.group_limit_plan(df, "g", "v", 4, "rank", threshold=4).limited
    assert not windows.group_limit_plan(df, "g", "v", 5, "rank", threshold=4).limited


@pytest.mark.parametrize(("where", "limit"), [("r = 2", 2), ("2 = r", 2), ("r < 3", 2), ("3 > r", 2),
                                              ("r <= 3", 3), ("3 >= r", 3), ("r <= 3 AND r < 2", 1),
                                              ("r > 1", None), ("r <= 3 OR v = 0", None)])
def test_the_filter_shapes_spark_turns_into_a_group_limit(spark, where, limit):
    spark.range(100).selectExpr("id % 4 AS g", "id AS v").createOrReplaceTempView("wgl_shapes")
    text = plan_text(spark.sql(f"SELECT * FROM (SELECT g, v, rank() OVER (PARTITION BY g ORDER BY v DESC) AS r "
                               f"FROM wgl_shapes) WHERE {where}"), final=False)
    assert windows.group_limit_nodes(text) == ([] if limit is None else [("rank", limit, "Final"),
                                                                         ("rank", limit, "Partial")])


@pytest.mark.parametrize("function", windows.RANK_LIKE)
def test_top_k_returns_the_same_rows_with_the_limit_and_without(spark, staff, function):
    tiebreak = "employee_id" if function == "row_number" else None
    results = []
    for threshold in (-1, 1000):
        with spark_conf(spark, {windows.LIMIT_THRESHOLD: threshold}):
            rows = windows.top_k(staff, "department", "annual_ctc", 2, function, tiebreak).collect()
        results.append(spark.createDataFrame(rows, staff.schema))
    assertDataFrameEqual(results[0], results[1])
    assert results[0].count() > 0


def test_top_k_bad_arguments_name_what_is_wrong(staff):
    with pytest.raises(ValueError, match="function must be"):
        windows.top_k(staff, "department", "annual_ctc", 1, "first_value")
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        windows.top_k(staff, "department", "annual_ctc", 0, "rank")
    with pytest.raises(ValueError, match="needs a tiebreak"):
        windows.top_k(staff, "department", "annual_ctc", 1, "row_number")
    with pytest.raises(ValueError, match="would make it row_number"):
        windows.top_k(staff, "department", "annual_ctc", 1, "rank", "employee_id")
    with pytest.raises(ValueError, match="not found"):
        windows.top_k(staff, "department", "salary", 1, "rank")
