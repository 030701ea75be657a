"""Notebook 09's experiments: the guide's SQL run and checked, the methods timed, and Spark's group limit measured.

:func:`methods_agree` checks every method of :func:`labkit.topics.windows.top_per_group` against the reference of
its tie semantics, in one query; :func:`guide_sql` runs the guide's seven queries (Core Q13) and its benchmark's
Method 2 as written, and names where each differs from :func:`labkit.topics.windows.top_per_group`;
:func:`benchmark` times the methods through :func:`labkit.core.bench.sweep` and :func:`claim_ratios` takes the
guide's two ratios from it; :func:`limit_by_method` and :func:`compare_group_limit` show which methods Spark limits
per group and what the limit saves in the shuffle (:func:`shuffle_records_written`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core import runtime
from labkit.core.args import require_columns
from labkit.core.bench import compare, median_run, pair_ratio, sweep
from labkit.core.measure import Measurement, noop
from labkit.core.plans import plan_text
from labkit.core.session import spark_default
from labkit.topics.windows import LIMIT_THRESHOLD, METHODS, group_limit_nodes, top_k, top_per_group

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["BENCH_METHODS", "GUIDE_COLUMNS", "GUIDE_SAMPLE", "GUIDE_SQL", "benchmark", "claim_ratios",
           "compare_group_limit", "guide_sql", "limit_by_method", "methods_agree", "shuffle_records_written"]

GUIDE_COLUMNS = "employee_id long, employee_name string, department string, annual_ctc long"
GUIDE_SAMPLE = [(1, "Alice", "Engineering", 150000), (2, "Bob", "Engineering", 150000),
                (3, "Charlie", "Engineering", 140000), (4, "Diana", "Sales", 120000), (5, "Eve", "Sales", 110000),
                (6, "Frank", "HR", 90000), (7, "Grace", "HR", 95000)]  # the guide's own sample data
BENCH_METHODS = ("row_number", "rank", "groupby_join", "max_by", "max_struct")


GUIDE_SQL = {  # the guide's seven SQL methods (Core Q13), as written, against a view named employees
    "1 row_number": """WITH ranked_salaries AS (SELECT employee_id, employee_name, department, annual_ctc,
        ROW_NUMBER() OVER (PARTITION BY department ORDER BY annual_ctc DESC) AS rank FROM employees)
        SELECT department, employee_id, employee_name, annual_ctc AS max_ctc FROM ranked_salaries WHERE rank = 1
        ORDER BY department""",
    "2 rank": """WITH ranked_salaries AS (SELECT employee_id, employee_name, department, annual_ctc,
        RANK() OVER (PARTITION BY department ORDER BY annual_ctc DESC) AS rank FROM employees)
        SELECT department, employee_id, employee_name, annual_ctc AS max_ctc FROM ranked_salaries WHERE rank = 1
        ORDER BY department""",
    "3 dense_rank": """WITH ranked_salaries AS (SELECT employee_id, employee_name, department, annual_ctc,
        DENSE_RANK() OVER (PARTITION BY department ORDER BY annual_ctc DESC) AS rank FROM employees)
        SELECT department, employee_id, employee_name, annual_ctc AS max_ctc FROM ranked_salaries WHERE rank = 1
        ORDER BY department""",
    "4 first_value": """SELECT DISTINCT department,
        FIRST_VALUE(employee_id) OVER (PARTITION BY department ORDER BY annual_ctc DESC) AS employee_id,
        FIRST_VALUE(employee_name) OVER (PARTITION BY department ORDER BY annual_ctc DESC) AS employee_name,
        FIRST_VALUE(annual_ctc) OVER (PARTITION BY department ORDER BY annual_ctc DESC) AS max_ctc
        FROM employees ORDER BY department""",
    "5 group by max": """SELECT department, MAX(annual_ctc) AS max_ctc FROM employees GROUP BY department
        ORDER BY department""",
    "6 join with max": """SELECT e.department, e.employee_id, e.employee_name, e.annual_ctc AS max_ctc
        FROM employees e INNER JOIN (SELECT department, MAX(annual_ctc) AS max_ctc FROM employees
        GROUP BY department) max_dept ON e.department = max_dept.department AND e.annual_ctc = max_dept.max_ctc
        ORDER BY e.department""",
    "7 correlated subquery": """SELECT e1.department, e1.employee_id, e1.employee_name, e1.annual_ctc AS max_ctc
        FROM employees e1 WHERE e1.annual_ctc = (SELECT MAX(e2.annual_ctc) FROM employees e2
        WHERE e2.department = e1.department) ORDER BY e1.department""",
}


def methods_agree(df: DataFrame, group: str, order: str, tiebreak: str) -> pd.Series:
    """Every method of :func:`top_per_group` against the reference of its tie semantics, in one Spark query.

    The methods that keep every tied row must return the rows of ``rank`` with ``ties="all"``; the ones that keep
    one row per group those of ``row_number`` with the tiebreak. Each method's rows must be the same multiset as
    its reference's, with the same column types, as :func:`labkit.core.checks.assert_same_rows` checks one pair
    at a time: here every result and every reference is tagged with its method, all of them are unioned, and one
    aggregation counts each distinct row on both sides (nulls compare equal, as in ``exceptAll``).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    group, order, tiebreak : str
        As in :func:`top_per_group`.

    Returns
    -------
    pandas.Series
        Method (every one of :data:`~labkit.topics.windows.METHODS`) to its number of rows, each equal to its
        reference's; named ``rows, equal to the reference``.

    Raises
    ------
    AssertionError
        Naming each method whose column types differ from its reference's, or whose rows do: how many of the
        reference's rows it misses and how many it has that the reference has not.
    """
    from pyspark.sql import functions as F

    reference = {"all": top_per_group(df, group, order, "rank", ties="all"),
                 "one": top_per_group(df, group, order, "row_number", tiebreak=tiebreak)}
    columns, tagged, wrong = reference["all"].columns, [], []
    for method, ties in METHODS.items():
        got, want = top_per_group(df, group, order, method, ties=ties, tiebreak=tiebreak), reference[ties]
        if sorted(got.dtypes) != sorted(want.dtypes):
            wrong.append(f"{method}: columns or types differ: {got.dtypes} vs {want.dtypes}")
        for side, frame in ((1, got), (-1, want)):
            tagged.append(frame.select(F.lit(method).alias("_method"), F.lit(side).alias("_side"), *columns))
    if wrong:
        raise AssertionError("; ".join(wrong))
    both = tagged[0]
    for frame in tagged[1:]:
        both = both.unionAll(frame)
    per_row = both.groupBy("_method", *columns).agg(F.sum("_side").alias("_d"),
                                                    F.count_if(F.col("_side") == 1).alias("_n"))
    found = {r["_method"]: r for r in per_row.groupBy("_method").agg(
        F.sum("_n").alias("rows"), F.sum(F.greatest("_d", F.lit(0))).alias("extra"),
        F.sum(F.greatest(-F.col("_d"), F.lit(0))).alias("missing")).collect()}
    differ = [f"{m}: {found[m]['missing']} expected rows missing, {found[m]['extra']} unexpected rows"
              for m in METHODS if m in found and (found[m]["missing"] or found[m]["extra"])]
    if differ:
        raise AssertionError("; ".join(differ))
    return pd.Series({m: int(found[m]["rows"]) if m in found else 0 for m in METHODS},
                     name="rows, equal to the reference")


def guide_sql(df: DataFrame) -> dict[str, dict[str, Any]]:
    """Run the guide's seven SQL queries against ``df`` as a temp view ``employees``, and check each one.

    Each query is compared with :func:`top_per_group` under its own semantics
    (rank, dense_rank, the join and the subquery keep every tied row; row_number
    and first_value keep one, arbitrarily; the group-by returns no employee), and
    the report says where the guide's answer differs and why.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        ``employee_id, employee_name, department, annual_ctc``.

    Returns
    -------
    dict
        ``{query name: {"rows": n or None, "ok": bool, "finding": str}}``.
    """
    from pyspark.sql import functions as F

    require_columns(df, ["employee_id", "employee_name", "department", "annual_ctc"], "employee column")
    spark = df.sparkSession
    df.createOrReplaceTempView("employees")
    everyone = top_per_group(df, "department", "annual_ctc", "rank", ties="all").select(
        "department", "employee_id", F.col("annual_ctc").alias("max_ctc"))
    want_all = {tuple(r) for r in everyone.collect()}
    depts_valued = {d for d, _, _ in want_all}
    null_only = {r[0] for r in df.groupBy("department").agg(F.max("annual_ctc").alias("m")).where("m is null")
                 .select("department").collect()}
    out = {}
    for name, sql in GUIDE_SQL.items():
        try:
            rows = spark.sql(sql).collect()
        except Exception as exc:  # noqa: BLE001 - the finding is the error itself
            out[name] = {"rows": None, "ok": False, "finding": f"does not run: {type(exc).__name__}: {str(exc)[:200]}"}
            continue
        if name.startswith("5"):
            got = {(r.department, r.max_ctc) for r in rows}
            ok = {(d, m) for d, m in got if m is not None} == {(d, m) for d, _, m in want_all}
            finding = (f"right maxima, no employee; it also returns {len([1 for _, m in got if m is None])} "
                       "department(s) with a null maximum") if ok else "wrong maxima"
        else:
            got = {(r.department, r.employee_id, r.max_ctc) for r in rows}
            extra_nulls = {g for g in got if g[2] is None}
            kept = got - extra_nulls
            if name[0] in "2367":  # every tied row
                ok, finding = kept == want_all, "every tied row, as documented"
            else:  # one row per department, the tie broken arbitrarily
                ok = kept <= want_all and {d for d, _, _ in kept} == depts_valued
                finding = "one of the tied rows per department, chosen arbitrarily (no tiebreak in ORDER BY)"
            if extra_nulls:
                finding += (f"; returns {len(extra_nulls)} row(s) with a null salary for department(s) with no "
                            "salary (DESC sorts nulls last, so a null wins when it is alone)")
            elif null_only and name[0] in "67":
                finding += f"; drops the {len(null_only)} department(s) with no salary (max is null, = never true)"
        out[name] = {"rows": len(rows), "ok": ok, "finding": finding}
    out["benchmark method 2"] = _guide_benchmark_join(df, len(depts_valued | null_only))
    return out


def _guide_benchmark_join(df: DataFrame, departments: int) -> dict[str, Any]:
    """The guide's benchmark "Method 2: GroupBy + Join", as written: it joins on department only."""
    from pyspark.sql.functions import max as max_

    try:
        n = df.join(df.groupBy("department").agg(max_("annual_ctc").alias("max_ctc")),
                    (df.department == df.groupBy("department").agg(max_("annual_ctc").alias("max_ctc")).department)
                    ).count()
    except Exception as exc:  # noqa: BLE001 - the finding is the error itself
        return {"rows": None, "ok": False, "finding": f"does not run: {type(exc).__name__}: {str(exc)[:200]}"}
    total = df.count()
    return {"rows": n, "ok": False,
            "finding": f"runs and returns {n:,} rows for {departments} departments: "
                       + ("every employee with the maximum beside it, not the top ones (the join has no condition on "
                          "annual_ctc), so it times a different query" if n == total else
                          f"{n / max(total, 1):.1f}x the {total:,} input rows: the condition does not bind to the "
                          "joined frame, so the join fans out")}


def benchmark(spark: SparkSession, datasets: Mapping[str, DataFrame], repeats: int = 3,
              methods: Sequence[str] = ()) -> pd.DataFrame:
    """Time the methods on each employees dataset, interleaved within a dataset (:func:`labkit.core.bench.sweep`).

    Parameters
    ----------
    spark : SparkSession
    datasets : mapping of label to DataFrame
        Employees (``employee_id, employee_name, department, annual_ctc``), cached.
    repeats : int
    methods : sequence of str
        The :data:`BENCH_METHODS` to time (empty: all of them); ``row_number``, the baseline, always runs.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, variant): :data:`BENCH_METHODS` and ``groupBy max only`` (the guide's Method 3,
        no employee details), with ``median_s``, ``speedup`` over ``row_number``, shuffle bytes and ``skew_ratio``
        (max / median task time of the heaviest stage).

    Raises
    ------
    ValueError
        For a method that is not one of :data:`BENCH_METHODS`.
    """
    from pyspark.sql import functions as F

    unknown = sorted(set(methods) - set(BENCH_METHODS))
    if unknown:
        raise ValueError(f"benchmark: no method {unknown}; the methods are {list(BENCH_METHODS)}")
    timed = [m for m in BENCH_METHODS if not methods or m == "row_number" or m in methods]
    variants = {m: (lambda df, m=m: top_per_group(df, "department", "annual_ctc", m, ties=METHODS[m],
                                                  tiebreak="employee_id")) for m in timed}
    variants["groupBy max only"] = lambda df: df.groupBy("department").agg(F.max("annual_ctc").alias("max_ctc"))
    return sweep(spark, datasets, variants, repeats=repeats, baseline="row_number")


def claim_ratios(table: pd.DataFrame, dataset: str) -> dict[str, pd.Series]:
    """The guide's two timing ratios for one dataset of :func:`benchmark`, each with the spread of its rounds.

    Returns
    -------
    dict
        ``row_number_over_groupby`` (ROW_NUMBER time / groupBy-only time: the guide's 3.2 s / 1.8 s) and
        ``groupby_join_over_row_number`` (groupBy + join time / ROW_NUMBER time: 4.1 s / 3.2 s).
    """
    if dataset not in table.attrs["runs"]:
        raise ValueError(f"no dataset {dataset!r}; the benchmark has {sorted(table.attrs['runs'])}")
    one = pd.DataFrame()
    one.attrs["runs"] = table.attrs["runs"][dataset]
    return {"row_number_over_groupby": pair_ratio(one, "row_number", "groupBy max only"),
            "groupby_join_over_row_number": pair_ratio(one, "groupby_join", "row_number")}


def limit_by_method(df: DataFrame, group: str, order: str, tiebreak: str) -> pd.Series:
    """Which of the :data:`METHODS` of :func:`top_per_group` get a WindowGroupLimit in their plan (nothing run).

    Returns
    -------
    pandas.Series
        Method name to bool: ``row_number``, ``rank`` and ``dense_rank`` (a ``= 1`` filter) do;
        ``first_value`` (a RANGE frame) and the aggregation and join methods do not.
    """
    return pd.Series({m: bool(group_limit_nodes(plan_text(
        top_per_group(df, group, order, m, ties=t, tiebreak=tiebreak), final=False))) for m, t in METHODS.items()},
        name="WindowGroupLimit in the plan")


def shuffle_records_written(spark: SparkSession, m: Measurement) -> int:
    """Records the stages of one measured run wrote to the shuffle (Spark's ``shuffleWriteRecords`` task metric).

    Read from the same REST API as :func:`labkit.core.measure.measure`, for the run's completed stages.

    Parameters
    ----------
    spark : SparkSession
    m : Measurement

    Returns
    -------
    int
    """
    base = runtime.api_base(spark)
    return int(sum(a.get("shuffleWriteRecords", 0) for sid in m.stage_tasks_ms
                   for a in runtime.get_json(f"{base}/stages/{sid}") if a.get("status") == "COMPLETE"))


def compare_group_limit(df: DataFrame, group: str, order: str, k: int = 1, function: str = "row_number",
                        tiebreak: str | None = None, repeats: int = 3, warmup: int | None = None) -> pd.DataFrame:
    """Time the :func:`top_k` query with the group limit off (threshold -1) against Spark's default threshold.

    One knob differs (``spark.sql.optimizer.windowGroupLimitThreshold``), the variants run interleaved
    through :func:`labkit.core.bench.compare`, and every run's plan is checked to have (default) or not have
    (-1) the WindowGroupLimit, so the knob is known to have reached the query.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Cache it first.
    group, order, k, function, tiebreak
        As in :func:`top_k`; ``k`` must be within the default threshold, or both variants would be the same.
    repeats, warmup : int
        As in :func:`labkit.core.bench.compare`.

    Returns
    -------
    pandas.DataFrame
        The :func:`~labkit.core.bench.compare` table indexed ``limit off (-1)`` (the baseline) and
        ``default (<threshold>)``, plus ``shuffle_records_written`` (of each variant's median run) and
        ``limit_in_plan``.

    Raises
    ------
    ValueError
        For ``k`` above the default threshold (and as in :func:`top_k`).
    RuntimeError
        If a run's plan does not show the setting it ran with.
    """
    spark = df.sparkSession
    default = int(spark_default(spark, LIMIT_THRESHOLD))
    if k > default:
        raise ValueError(f"k={k} is above the default {LIMIT_THRESHOLD} ({default}): no variant would be limited")
    query = top_k(df, group, order, k, function, tiebreak)
    off, on = "limit off (-1)", f"default ({default})"
    table = compare({off: noop(query), on: noop(query)}, repeats=repeats, warmup=warmup, baseline=off, spark=spark,
                    progress=False, conf={off: {LIMIT_THRESHOLD: -1}, on: {LIMIT_THRESHOLD: default}})
    for name, want in ((off, False), (on, True)):
        got = {bool(m.plan and group_limit_nodes(m.plan.text)) for m in table.attrs["runs"] if m.label == name}
        if got != {want}:
            raise RuntimeError(f"compare_group_limit: the runs of {name!r} should {'' if want else 'not '}have a "
                               "WindowGroupLimit in their plan; the setting did not reach the query")
    table["limit_in_plan"] = [name == on for name in table.index]
    table["shuffle_records_written"] = [shuffle_records_written(spark, median_run(table.attrs["runs"], name))
                                        for name in table.index]
    return table
