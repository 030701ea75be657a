"""Top row per group: every method against a plain-Python reference, on ties, nulls, empty and single-row groups."""

import pytest

from labkit.core import datagen
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
    from labkit.core.checks import assert_same_rows

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
    a = datagen.employees(spark, 2000, departments=10, seed=1).collect()
    b = datagen.employees(spark, 2000, departments=10, seed=1).repartition(5).orderBy("employee_id").collect()
    assert a == b
    hot = datagen.employees(spark, 10_000, departments=100, skew=datagen.HotKeys(0.8, 1))
    share = hot.where("department = 'D00001'").count() / 10_000
    assert 0.78 < share < 0.82
    with pytest.raises(ValueError, match="unsalaried"):
        datagen.employees(spark, 10, departments=1, unsalaried=1)


def test_the_guides_sql_runs_and_its_differences_are_named(spark):
    df = spark.createDataFrame(ROWS, COLS)
    found = windows.guide_sql(df)
    assert len(found) == 8  # seven SQL queries and the benchmark's Method 2
    assert found["2 rank"]["ok"] and found["6 join with max"]["ok"] and found["7 correlated subquery"]["ok"]
    assert "null salary" in found["1 row_number"]["finding"]  # the Unpaid department's null row wins there
    assert "drops" in found["6 join with max"]["finding"]
    assert "every employee" in found["benchmark method 2"]["finding"] or "does not run" in found[
        "benchmark method 2"]["finding"]
