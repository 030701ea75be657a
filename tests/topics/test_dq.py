"""Data quality: every line accounted for, rules on hand-made inputs, DQDL errors, thresholds, damaged Parquet."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit.core.datagen import DEFECTS, ORDERS_HEADER, ORDERS_SCHEMA, dirty_csv
from labkit.topics import dq
from labkit.topics.dq import rules


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    return dirty_csv(str(tmp_path_factory.mktemp("dirty")), lines=600, defect_rate=0.2, seed=5)


@pytest.fixture(scope="module")
def accounted(spark, dirty):
    """One accounted read of the dirty files, shared by the tests that only read its result."""
    acc = dq.read_csv_accounted(spark, dirty.root, dirty.schema, run_id="t1")
    yield acc
    acc.unpersist()


def test_every_line_is_accounted_for_and_matches_the_ground_truth(accounted, dirty):
    acc = accounted
    r = acc.report
    assert r["data_lines"] == r["good"] + r["quarantined"] == len(dirty.labels)
    assert r["good"] == acc.good.count() and r["quarantined"] == acc.quarantined.count()
    assert r["files"] == 6 and r["empty_files"] == 1 and r["header_lines"] == 5  # the empty file has no header
    pr = dq.precision_recall(acc.quarantined, dirty.labels)
    assert pr["precision"] == 1.0 and pr["recall"] == 1.0
    assert {row["run_id"] for row in acc.quarantined.select("run_id").distinct().collect()} == {"t1"}
    assert acc.good.schema.simpleString().startswith("struct<order_id:int")


@pytest.mark.parametrize("kind", DEFECTS)
def test_each_defect_is_quarantined_with_its_reason(accounted, dirty, kind):
    acc = accounted
    expected = {"extra column": "extra columns", "missing column": "missing columns", "not a number": "amount:",
                "impossible date": "order_date:", "unbalanced quote": "unbalanced quote",
                "repeated header": "repeated header", "invalid UTF-8": "invalid UTF-8"}[kind]
    raws = dirty.labels[dirty.labels["label"] == kind]["raw"].tolist()
    got = acc.quarantined.where(F.col("raw").isin(raws)).select("reason").collect()
    assert got and all(expected in row["reason"] for row in got)


def test_a_bom_crlf_file_and_quoted_commas_read_clean(spark, tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes(("\ufeff" + ORDERS_HEADER + '\r\n1,2,a@b.co,3.50,1,2024-01-02,"x, y"\r\n').encode())
    acc = dq.read_csv_accounted(spark, str(path), ORDERS_SCHEMA)
    assert acc.report["good"] == 1 and acc.report["quarantined"] == 0
    assert acc.good.first()["note"] == "x, y"


def test_empty_and_header_only_files_add_nothing(spark, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "head.csv").write_text(ORDERS_HEADER + "\n")
    acc = dq.read_csv_accounted(spark, str(tmp_path), ORDERS_SCHEMA)
    assert acc.report["data_lines"] == acc.report["good"] == 0 and acc.report["header_lines"] == 1


def test_failfast_raises_on_the_first_bad_line_and_dropmalformed_still_counts(spark, dirty, tmp_path):
    with pytest.raises(dq.DataQualityError, match="FAILFAST"):
        dq.read_csv_accounted(spark, dirty.root, dirty.schema, mode="FAILFAST")
    acc = dq.read_csv_accounted(spark, dirty.root, dirty.schema, mode="DROPMALFORMED",
                                quarantine_dir=str(tmp_path / "q"), run_id="r9")
    assert acc.quarantined.count() == 0 and acc.report["quarantined"] > 0
    assert spark.read.json(str(tmp_path / "q" / "run_id=r9")).count() == acc.report["quarantined"]
    with pytest.raises(ValueError, match="mode must be"):
        dq.read_csv_accounted(spark, dirty.root, dirty.schema, mode="LENIENT")


@pytest.fixture(scope="module")
def orders(spark):
    rows = [(1, 10, "a@x.com", 5.0, 2), (2, 11, "b@x.com", -1.0, 3), (2, 11, "b@x.com", -1.0, 3),
            (3, None, "not-an-email", 7.0, 50), (None, 12, "c@x.com", 9.0, 1), (5, 99, "d@x.com", 8.0, 4),
            (6, 10, "e@x.com", 8.0, 4), (6, 10, "e@x.com", 8.0, 4)]
    return spark.createDataFrame(rows, "id int, customer int, email string, amount double, qty int")


@pytest.fixture(scope="module")
def customers(spark):
    return spark.createDataFrame([(10,), (11,), (12,)], "customer_id int")


RULES = ('Rules = [ IsComplete "id", IsUnique "id", ColumnValues "amount" >= 0, ColumnValues "qty" between 1 and 10, '
         'ColumnValues "email" matches "^[^@]+@[^@]+\\.[a-z]+$", '
         'ReferentialIntegrity "customer" "customers.customer_id" = 1.0, RowCount between 1 and 100, '
         'Completeness "customer" >= 0.9 ]')


def test_check_reports_each_rule_with_its_failing_count(orders, customers):
    report = dq.check(orders, RULES, references={"customers": customers})
    assert list(report.table["failing"]) == [1, 4, 2, 1, 1, 1, 0, 1]
    assert list(report.table["status"]) == ["fail"] * 6 + ["pass", "fail"]
    assert report.jobs >= 2  # the aggregation and the uniqueness pass


def test_split_valid_names_every_broken_rule_and_keeps_duplicate_good_rows(orders, customers):
    rule_list = [r for r in dq.parse_dqdl(RULES) if r.kind not in ("IsUnique",)]
    valid, bad = dq.split_valid(orders, rule_list, references={"customers": customers})
    assert valid.count() + bad.count() == orders.count()
    assert valid.where("id = 6").count() == 2  # duplicates kept: the guide's subtract() keeps one
    assert orders.subtract(bad.drop("dq_failures")).where("id = 6").count() == 1
    row3 = bad.where("id = 3").first()["dq_failures"]
    assert len(row3) == 2 and any("qty" in f for f in row3) and any("email" in f for f in row3)  # null customer: not a
    # referential failure (IsComplete would say it), and Completeness is a dataset-level rule
    ref = 'ReferentialIntegrity "customer" "customers.customer_id" = 1.0'
    assert bad.where("id = 5").first()["dq_failures"] == [ref]


def test_thresholds_and_strict_mode_raise_with_the_report(orders):
    with pytest.raises(dq.DataQualityError, match="above the 10.00% threshold") as err:
        dq.split_valid(orders, [rules.column_values("amount", ">=", 0)], max_failure_rate=0.1)
    assert err.value.report.count() == 2
    with pytest.raises(dq.DataQualityError, match="strict mode: 1 of 8"):
        dq.split_valid(orders, [rules.is_complete("id")], strict=True)
    with pytest.raises(dq.DataQualityError, match="above 5.00%"):
        dq.check(orders, [rules.is_complete("id")], max_failure_rate=0.05)


def test_outliers_castable_and_future_dates(spark):
    df = spark.createDataFrame([(float(v), s, d) for v, s, d in
                                [(1, "12", "2024-01-01"), (2, "x", "2024-01-02"), (3, "7", "2999-01-01")] +
                                [(2, "1", "2024-01-01")] * 20 + [(500, "1", "2024-01-01")]],
                               "v double, n string, d string").withColumn("d", F.col("d").cast("date"))
    _, bad = dq.split_valid(df, [rules.outliers("v", 3), rules.castable("n", "int"),
                                 rules.column_values("d", "<=", "now()")])
    fails = {tuple(r["dq_failures"]) for r in bad.collect()}
    assert fails == {('ColumnDataType "n" = "INT"',), ('ColumnValues "d" <= now()',), ('ZScore "v" <= 3',)}


def test_python_constructors_and_dqdl_give_the_same_rules():
    parsed = dq.parse_dqdl('Rules = [ IsComplete "a", ColumnValues "b" in [ "x", "y" ], IsPrimaryKey "c" "d" ]')
    assert parsed == [rules.is_complete("a"), rules.column_values("b", "in", ["x", "y"]),
                      rules.is_primary_key("c", "d")]


@pytest.mark.parametrize("text, where", [
    ('Rules = [ IsComplete "a", ColumnValues "b" >> 3 ]', 44),
    ('Rules = [ IsComplet "a" ]', 10),
    ('Rules = [ IsComplete a ]', 21),
    ('Rules = [ IsComplete "a" ', 25),
    ('Rules [ IsComplete "a" ]', 6),
    ('Rules = [ ReferentialIntegrity "a" "nodot" = 1.0 ]', 35),
])
def test_dqdl_errors_point_at_the_position(text, where):
    with pytest.raises(dq.DQDLSyntaxError, match=rf"position {where}:"):
        dq.parse_dqdl(text)


def test_a_rule_on_a_missing_column_or_reference_is_a_clear_error(orders):
    with pytest.raises(ValueError, match=r"\['price'\] not found"):
        dq.check(orders, [rules.column_values("price", ">", 0)])
    with pytest.raises(ValueError, match="no reference table 'customers'"):
        dq.split_valid(orders, [rules.referential_integrity("customer", "customers.customer_id")])


def _write(path, table):
    pq.write_table(table, path)


def test_damaged_parquet_files_are_classified_and_corrupt_ones_moved_not_deleted(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    base = pa.table({"id": pa.array([1, 2], pa.int32()), "v": ["a", "b"]})
    _write(root / "a.parquet", base)
    _write(root / "b.parquet", base)
    _write(root / "wide.parquet", base.append_column("extra", pa.array([1.0, 2.0])))
    _write(root / "long.parquet", pa.table({"id": pa.array([1], pa.int64()), "v": ["c"]}))
    _write(root / "text.parquet", pa.table({"id": ["1"], "v": ["d"]}))
    (root / "magic.parquet").write_bytes(b"not parquet at all")
    good = (root / "a.parquet").read_bytes()
    (root / "cut.parquet").write_bytes(good[: len(good) // 2])
    (root / "zero.parquet").write_bytes(b"")
    _write(root / "norows.parquet", base.slice(0, 0))
    t = dq.diagnose_parquet(str(root), quarantine=True).set_index("file")
    status = {k.rsplit("/", 1)[1]: v for k, v in t["status"].items()}
    assert status == {"a.parquet": "readable", "b.parquet": "readable", "wide.parquet": "schema variant",
                      "long.parquet": "schema variant", "text.parquet": "schema variant", "magic.parquet": "corrupt",
                      "cut.parquet": "corrupt", "zero.parquet": "empty", "norows.parquet": "empty"}
    details = {k.rsplit("/", 1)[1]: v for k, v in t["detail"].items()}
    assert details["long.parquet"] == "id: int32 -> int64" and details["text.parquet"] == "id: int32 -> string"
    assert details["wide.parquet"] == "+extra double"
    moved = sorted(p.name for p in (tmp_path / "lake_quarantine").iterdir())
    assert moved == ["cut.parquet", "magic.parquet"] and not (root / "magic.parquet").exists()


def test_a_multiline_reader_keeps_quoted_newlines_that_a_line_reader_splits(spark, dirty):
    path = f"{dirty.root}/multiline.csv"
    lines = dq.read_csv_accounted(spark, path, dirty.schema)
    assert lines.report["quarantined"] == 2 and lines.report["good"] == 0
    whole = spark.read.option("header", True).option("multiLine", True).schema(dirty.schema).csv(path)
    assert whole.count() == 1 and whole.first()["note"] == "first line\nsecond line"
    first = whole.first()["order_id"]
    assertDataFrameEqual(whole.select("order_id"), spark.createDataFrame([(first,)], "order_id int"))


def test_the_quarantine_summary_names_files_and_reasons_but_never_the_raw_text(accounted, dirty):
    acc = accounted
    summary = dq.quarantine_summary(acc.quarantined)
    assert list(summary.columns) == ["file", "reason", "lines", "first line"]
    assert summary["lines"].sum() == acc.report["quarantined"]
    assert not summary["file"].str.contains("/").any() and "latin1.csv" in set(summary["file"])
    width = [(r["raw"], r["file"].rsplit("/", 1)[-1]) for r in dq.wrong_width_lines(acc.quarantined).collect()]
    labelled = set(dirty.labels.loc[dirty.labels["label"].isin(["extra column", "missing column"]), "raw"])
    assert labelled and labelled <= {raw for raw, _ in width}  # every line of the wrong width ...
    assert {file for raw, file in width if raw not in labelled} <= {"multiline.csv"}  # ... and a split quoted line
    with pytest.raises(ValueError, match="reason"):
        dq.wrong_width_lines(acc.good)


def test_diagnose_parquet_gives_relative_names_when_asked(tmp_path):
    root = tmp_path / "lake"
    (root / "sub").mkdir(parents=True)
    _write(root / "a.parquet", pa.table({"id": [1]}))
    (root / "sub" / "bad.parquet").write_bytes(b"nope")
    t = dq.diagnose_parquet(str(root), quarantine=True, relative=True).set_index("file")
    assert t["status"].to_dict() == {"a.parquet": "readable", "sub/bad.parquet": "corrupt"}
    assert t.loc["sub/bad.parquet", "moved_to"].endswith("lake_quarantine/sub/bad.parquet")


def test_failures_by_rule_counts_each_broken_rule(orders):
    _, bad = dq.split_valid(orders, [rules.column_values("amount", ">=", 0), rules.column_values("qty", "<=", 10)])
    counts = dq.failures_by_rule(bad).set_index("rule broken")["count"].to_dict()
    assert counts == {'ColumnValues "amount" >= 0': 2, 'ColumnValues "qty" <= 10': 1}
    with pytest.raises(ValueError, match="dq_failures"):
        dq.failures_by_rule(orders)


# --- full scan against sampling: the four ways to look for violations ---------------------------------------

@pytest.fixture(scope="module")
def one_bad(spark):
    """20,000 rows, four partitions, one negative amount (id 12345)."""
    return spark.range(0, 20_000, 1, 4).selectExpr("id", "case when id = 12345 then -1 else id end as amount").cache()


def test_every_strategy_states_what_it_found_and_how_many_rows_it_checked(one_bad):
    amount = [rules.column_values("amount", ">=", 0)]
    got = {s: dq.find_violations(one_bad, amount, s, fraction=0.001, minimum=100, seed=3) for s in dq.STRATEGIES}
    assert got["full_scan"] == (1, 20_000) and got["two_pass"] == (1, 20_000)
    found, checked = got["sample"]
    assert checked == 20 and found == one_bad.sample(fraction=0.001, seed=3).where("amount < 0").count()
    seen = one_bad.sample(fraction=0.005, seed=3).where("amount < 0").count()  # the hybrid's 100-row minimum: 0.5%
    assert got["hybrid"] == ((1, 100 + 20_000) if seen else (0, 100))
    with pytest.raises(ValueError, match="unknown strategy 'guess'"):
        dq.find_violations(one_bad, amount, "guess")


def test_the_hybrid_scans_everything_once_its_sample_sees_a_violation(spark):
    every_tenth = spark.range(0, 1_000, 1, 2).selectExpr("id", "case when id % 10 = 0 then -1 else id end as amount")
    assert dq.find_violations(every_tenth, '[ ColumnValues "amount" >= 0 ]', "hybrid", minimum=500,
                              total=1_000) == (100, 500 + 1_000)


def test_the_two_pass_statistics_clear_the_rules_they_can_and_keep_the_rest(spark):
    df = spark.createDataFrame([(1, 5.0, "a@x.com"), (2, 7.0, None)], "id int, amount double, email string")
    rule_list = [rules.is_complete("id"), rules.is_complete("email"), rules.column_values("amount", "between", (0, 10)),
                 rules.column_values("amount", ">", 6), rules.column_values("amount", "<=", 6),
                 rules.column_values("email", "matches", "@"), rules.is_unique("id"), rules.row_count(">", 0)]
    kept = [r.text for r in dq.suspicious_rules(df, rule_list)]
    assert kept == ['IsComplete "email"', 'ColumnValues "amount" > 6', 'ColumnValues "amount" <= 6',
                    'ColumnValues "email" matches "@"', 'IsUnique "id"']  # RowCount is no row rule: never kept
    assert dq.find_violations(df, rule_list[:3], "two_pass") == (1, 2)  # only the null email, in pass 2


def test_violation_is_one_column_for_every_row_rule_and_false_without_one(spark):
    df = spark.createDataFrame([(1, 5.0), (2, -1.0), (2, 3.0), (None, 4.0)], "id int, amount double")
    flagged = df.withColumn("bad", dq.violation([rules.column_values("amount", ">=", 0), rules.is_unique("id")]))
    assertDataFrameEqual(flagged.where("bad").select("id", "amount"),
                         spark.createDataFrame([(2, -1.0), (2, 3.0)], "id int, amount double"))
    assert df.withColumn("bad", dq.violation('[ RowCount > 10, Completeness "id" >= 0.9 ]')).where("bad").count() == 0
