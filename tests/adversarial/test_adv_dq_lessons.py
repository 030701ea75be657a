"""Issue #24, notebook 06: what PERMISSIVE does with lines of the wrong width, and countDistinct with a null key.

The CSV is written the way real tools write it: Python's ``csv.writer`` (CRLF, minimal quoting, doubled quotes)
given ragged rows, as an exporter that drops trailing empty fields or adds a trailing delimiter leaves them.
The reference for the field counts is Python's ``csv`` module; for the counts, DuckDB.
"""

import csv
import io

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit import spark_conf
from labkit.experiments import dq as dq_exp
from labkit.topics import dq
from labkit.topics.dq import rules

SCHEMA = "id int, name string, amount double"
ROWS = [["id", "name", "amount"],
        ["1", "ann", "2.5"],
        ["2", "bob"],  # too few: the exporter dropped an empty last field
        ["3", "cy, jr", "4.0", "extra"],  # too many, with a quoted comma (a comma count says 4 fields)
        ["4", "dee", "5.0"],
        ["5", "eve", ""],  # right width: an empty last field is a field (null)
        ["6", "fay", "6.0", ""],  # too many: a trailing delimiter
        ["7"],  # too few: one field
        ["8", "gus", "8.0"]]
PRUNING = "spark.sql.csv.parser.columnPruning.enabled"


@pytest.fixture(scope="module")
def ragged(tmp_path_factory):
    """(path, the data lines' text, the 1-based line numbers whose field count is not 3 by Python's csv)."""
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(ROWS)  # \r\n line ends, as csv.writer and Excel write them
    text = buf.getvalue()
    path = tmp_path_factory.mktemp("ragged") / "ragged.csv"
    path.write_bytes(text.encode())
    lines = text.split("\r\n")[:-1]
    counts = [len(r) for r in csv.reader(io.StringIO(text, newline=""))]
    assert len(counts) == len(lines)  # no quoted newline: one record per line
    wrong = {n for n, c in enumerate(counts, 1) if n > 1 and c != 3}
    return str(path), lines, wrong


def _permissive(spark, path, schema):
    return spark.read.option("header", True).option("mode", "PERMISSIVE").schema(schema).csv(path)


def _line_numbers(lines, flagged):
    return {lines.index(text) + 1 for text in flagged}


def test_permissive_flags_every_wrong_width_line_when_the_query_reads_every_column(spark, ragged):
    path, lines, wrong = ragged
    assert wrong == {3, 4, 7, 8}  # the short, the long with a quoted comma, the trailing delimiter, the single field
    for pruning in (True, False):
        with spark_conf(spark, {PRUNING: pruning}):
            got = _permissive(spark, path, f"{SCHEMA}, _corrupt_record string").collect()  # every column
        assert _line_numbers(lines, [r["_corrupt_record"] for r in got if r["_corrupt_record"]]) == wrong
    width = spark.createDataFrame([(lines[n - 1],) for n in sorted(wrong)], "raw string")
    cases = dq_exp.permissive_width_cases(spark, path, SCHEMA, width)
    assert cases.loc["every column", ["rows", "flagged", "wrong width flagged", "wrong width"]].tolist() == [8, 4, 4, 4]


def test_column_pruning_hides_wrong_width_lines_from_a_query_on_some_columns(spark, ragged):
    path, lines, wrong = ragged
    raw = _permissive(spark, path, f"{SCHEMA}, _corrupt_record string")
    ids = [(i, None) for i in range(1, 9)]
    with spark_conf(spark, {PRUNING: True}):  # the default: only id is parsed, so every line has its one field
        assertDataFrameEqual(raw.select("id", "_corrupt_record"),
                             spark.createDataFrame(ids, "id int, _corrupt_record string"))
    with spark_conf(spark, {PRUNING: False}):  # every field parsed: the width is checked again
        flagged = raw.select("id", "_corrupt_record").where("_corrupt_record is not null").collect()
    assert sorted(r["id"] for r in flagged) == [2, 3, 6, 7]
    assert _line_numbers(lines, [r["_corrupt_record"] for r in flagged]) == wrong
    width = spark.createDataFrame([(lines[n - 1],) for n in sorted(wrong)], "raw string")
    cases = dq_exp.permissive_width_cases(spark, path, SCHEMA, width)
    assert cases.loc["first column, pruning on", ["flagged", "wrong width flagged"]].tolist() == [0, 0]
    assert cases.loc["first column, pruning off", ["flagged", "wrong width flagged"]].tolist() == [4, 4]


def test_a_schema_without_corrupt_record_keeps_wrong_width_lines_as_good_rows(spark, ragged):
    path, _, wrong = ragged
    got = _permissive(spark, path, SCHEMA)
    expected = [(1, "ann", 2.5), (2, "bob", None), (3, "cy, jr", 4.0), (4, "dee", 5.0), (5, "eve", None),
                (6, "fay", 6.0), (7, None, None), (8, "gus", 8.0)]  # short: nulls; long: the extra field dropped
    assertDataFrameEqual(got, spark.createDataFrame(expected, SCHEMA))
    width = spark.createDataFrame([("2,bob",)], "raw string")
    row = dq_exp.permissive_width_cases(spark, path, SCHEMA, width).loc["no _corrupt_record in the schema"]
    assert (row["rows"], row["flagged"], row["corrupt column"]) == (8, 0, False) and len(wrong) == 4


def test_a_query_on_corrupt_record_alone_is_refused_until_the_read_is_cached(spark, ragged):
    path, _, _ = ragged
    raw = _permissive(spark, path, f"{SCHEMA}, _corrupt_record string")
    with pytest.raises(AnalysisException, match="QUERY_ONLY_CORRUPT_RECORD_COLUMN"):  # the guide's bad_data.count()
        raw.where(F.col("_corrupt_record").isNotNull()).count()
    with pytest.raises(AnalysisException, match="QUERY_ONLY_CORRUPT_RECORD_COLUMN"):  # and its good_data.count()
        raw.where(F.col("_corrupt_record").isNull()).drop("_corrupt_record").count()
    seen = dq_exp.csv_mode_pitfalls(spark, path, SCHEMA)
    assert seen["query on _corrupt_record alone"] == "AnalysisException"
    assert seen["_corrupt_record set, after cache()"] == 4  # the cache reads every column
    assert (seen["DROPMALFORMED count()"], seen["DROPMALFORMED rows collected"]) == (8, 4)


def test_the_guides_permissive_read_without_a_schema_has_no_corrupt_record_column(spark, ragged):
    path, _, _ = ragged
    df = spark.read.option("header", "true").option("mode", "PERMISSIVE").option(
        "columnNameOfCorruptRecord", "_corrupt_record").csv(path)  # the guide's read: no schema
    assert df.columns == ["id", "name", "amount"]
    with pytest.raises(AnalysisException, match="UNRESOLVED_COLUMN"):
        df.filter(F.col("_corrupt_record").isNull())


def test_a_null_key_with_no_repeats_makes_the_guides_duplicate_test_report_duplicates(spark):
    n = 50
    values = [None if i == 17 else i for i in range(n)]  # one null, every other value once
    keys = spark.createDataFrame([(v,) for v in values], "order_id int")
    row = keys.agg(F.count("*").alias("rows"), F.countDistinct("order_id").alias("distinct")).first()
    con = duckdb.connect()
    con.execute("create table k (order_id integer)")
    con.executemany("insert into k values (?)", [(v,) for v in values])
    assert (row["rows"], row["distinct"]) == con.execute("select count(*), count(distinct order_id) from k").fetchone()
    assert (row["rows"], row["distinct"]) == (n, n - 1)  # count("*") counts the null; countDistinct does not
    seen = dq_exp.guide_duplicate_test(keys, ["order_id"])
    assert seen.to_dict() == {"rows": n, "distinct keys": n - 1, "null keys": 1, "repeated keys": 0,
                              "guide reports duplicates": True}  # a false alarm: nothing repeats
    status = dq.check(keys, [rules.is_unique("order_id"), rules.is_primary_key("order_id")]).table["status"]
    assert list(status) == ["pass", "fail"]  # unique, but not a primary key: the null is a completeness failure


def test_count_distinct_of_several_keys_skips_a_row_with_any_null_part(spark):
    keys = spark.createDataFrame([(1, None), (1, 2), (2, 2)], "a int, b int")
    seen = dq_exp.guide_duplicate_test(keys, ["a", "b"])
    assert (seen["rows"], seen["distinct keys"], seen["repeated keys"], seen["guide reports duplicates"]) == (
        3, 2, 0, True)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=1, max_size=8), min_size=1, max_size=8))
def test_the_guides_duplicate_test_fires_on_a_repeat_or_a_null_as_duckdb_counts(spark, groups):
    rows = [(g, v) for g, values in enumerate(groups) for v in values]
    spark_counts = {r["g"]: (r["n"], r["d"]) for r in spark.createDataFrame(rows, "g int, k int").groupBy("g").agg(
        F.count("*").alias("n"), F.countDistinct("k").alias("d")).collect()}  # one Spark job for every group
    con = duckdb.connect()
    con.execute("create table t (g integer, k integer)")
    con.executemany("insert into t values (?, ?)", rows)
    duck = {g: (n, d) for g, n, d in con.execute("select g, count(*), count(distinct k) from t group by g").fetchall()}
    assert spark_counts == duck
    for g, values in enumerate(groups):
        repeated = len([v for v in values if v is not None]) != len({v for v in values if v is not None})
        fires = spark_counts[g][0] != spark_counts[g][1]
        assert fires == (repeated or None in values)


def test_the_guides_union_of_two_rule_failures_counts_a_row_failing_both_twice(spark):
    rows = [(1, -5.0, 20), (2, 3.0, 20), (3, -1.0, 1), (4, 2.0, 2)]
    df = spark.createDataFrame(rows, "id int, amount double, qty int")
    malformed, business = df.where("amount < 0"), df.where("qty > 10")  # row 1 fails both
    assert malformed.union(business).count() == 4 and df.where("amount < 0 or qty > 10").count() == 3
    _, bad = dq.split_valid(df, [rules.column_values("amount", ">=", 0), rules.column_values("qty", "<=", 10)])
    assert bad.count() == 3 and len(bad.where("id = 1").first()["dq_failures"]) == 2  # once, with both reasons
