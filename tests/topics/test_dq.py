"""Data quality: every line accounted for, rules on hand-made inputs, DQDL errors, thresholds, damaged Parquet."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

import labkit
from labkit.core.datagen import DEFECTS, ORDERS_HEADER, ORDERS_SCHEMA, dirty_csv
from labkit.topics import dq
from labkit.topics.dq import rules


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    return dirty_csv(str(tmp_path_factory.mktemp("dirty")), lines=600, defect_rate=0.2, seed=5)


def test_every_line_is_accounted_for_and_matches_the_ground_truth(spark, dirty):
    acc = dq.read_csv_accounted(spark, dirty.root, dirty.schema, run_id="t1")
    r = acc.report
    assert r["data_lines"] == r["good"] + r["quarantined"] == len(dirty.labels)
    assert r["good"] == acc.good.count() and r["quarantined"] == acc.quarantined.count()
    assert r["files"] == 6 and r["empty_files"] == 1 and r["header_lines"] == 5  # the empty file has no header
    pr = dq.precision_recall(acc.quarantined, dirty.labels)
    assert pr["precision"] == 1.0 and pr["recall"] == 1.0
    assert {row["run_id"] for row in acc.quarantined.select("run_id").distinct().collect()} == {"t1"}
    assert acc.good.schema.simpleString().startswith("struct<order_id:int")


@pytest.mark.parametrize("kind", DEFECTS)
def test_each_defect_is_quarantined_with_its_reason(spark, dirty, kind):
    acc = dq.read_csv_accounted(spark, dirty.root, dirty.schema)
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


def test_count_distinct_skips_a_null_key_so_the_guides_test_reports_a_duplicate(orders):
    keys = orders.where("id is null or id = 1")  # one null key and one 1: nothing repeats
    assert keys.agg(F.countDistinct("id")).first()[0] == 1 and keys.count() == 2  # so count != countDistinct:
    seen = dq.guide_duplicate_test(keys, ["id"])  # the guide's test reports duplicates, a false alarm
    assert seen["guide reports duplicates"] and seen["repeated keys"] == 0 and seen["null keys"] == 1
    assert dq.check(keys, [rules.is_primary_key("id")]).table.loc[0, "status"] == "fail"  # the null: not a key


def test_sampling_misses_rare_defects_and_the_analytic_curve_matches(spark):
    df = spark.range(0, 20_000, 1, 4).selectExpr("id", "case when id = 12345 then -1 else id end as amount")
    sweep = dq.recall_sweep(df, [rules.column_values("amount", ">=", 0)], [0.01, 1.0], seeds=6)
    assert sweep.loc[1, "detected"] == 1.0 and sweep.loc[0, "detected"] <= 0.5
    assert sweep.loc[0, "analytic"] == pytest.approx(0.01)
    table = dq.strategies(df, [rules.column_values("amount", ">=", 0)], fraction=0.001, minimum=100)
    assert table.loc["full_scan", "found"] == 1 and table.loc["two_pass", "found"] == 1


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


def test_the_guides_dq_code_has_a_syntax_error_and_an_invalid_logging_call():
    import logging

    with pytest.raises(SyntaxError):  # a parameter without a default after one with a default
        compile("def incremental_dq_check(file_path, chunk_size_mb=500, spark, log):\n    pass\n", "guide", "exec")
    log = logging.getLogger("labkit-guide-check")
    log.setLevel(logging.WARNING)
    log.info("Clean records", clean=10, total=12)  # below the level: skipped, so the bad call hides ...
    log.setLevel(logging.INFO)
    with pytest.raises(TypeError):  # ... until INFO is on: the standard logger takes no arbitrary keyword arguments
        log.info("Clean records", clean=10, total=12)
    assert dq.guide_code_outcomes().to_dict() == {"incremental_dq_check signature": "SyntaxError",
                                                  "log.info(msg, **issues) at WARNING": "skipped",
                                                  "log.info(msg, **issues) at INFO": "TypeError"}


def test_sampling_files_falls_back_to_partitions_when_the_data_has_no_files(spark):
    df = spark.range(0, 8_000, 1, 8).selectExpr("id", "case when spark_partition_id() = 3 then -1 else 1 end as amount")
    sweep = dq.recall_sweep(df, [rules.column_values("amount", ">=", 0)], [1.0], seeds=1, unit="files")
    assert sweep.loc[0, "units"] == 8 and sweep.loc[0, "analytic"] == 1.0 and sweep.loc[0, "detected"] == 1.0
    assert dq.recall_sweep(df, [rules.column_values("amount", ">=", 0)], [0.5], seeds=1, unit="files").loc[
        0, "analytic"] == 0.5  # one of eight partitions holds the defects


def test_the_guides_null_checks_raise_under_ansi_and_try_functions_flag(spark):
    """The guide flags bad values with cast(...).isNull() and to_date(...).isNull(); Spark 4's ANSI mode raises."""
    from pyspark.sql import functions as F

    bad = spark.createDataFrame([("12.5", "2024-01-31"), ("twelve", "2024-02-30")], "amount string, day string")
    with labkit.spark_conf(spark, {"spark.sql.ansi.enabled": True}):
        with pytest.raises(Exception, match="CAST_INVALID_INPUT"):
            bad.select(F.col("amount").cast("double").isNull()).collect()
        with pytest.raises(Exception, match="CANNOT_PARSE_TIMESTAMP|DATETIME|Invalid date|cannot be parsed"):
            bad.select(F.to_date("day", "yyyy-MM-dd").isNull()).collect()
        flagged = bad.select(F.expr("try_cast(amount AS double)").isNull().alias("a"),
                             F.expr("try_to_date(day, 'yyyy-MM-dd')").isNull().alias("d")).collect()
    assert [tuple(r) for r in flagged] == [(False, False), (True, True)]


def test_csv_mode_pitfalls_on_a_hand_written_csv(spark, tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text("a,b\n1,x\n2,y\n3,z,extra\nfour,w\n")  # 2 good lines, one too wide, one not an int
    seen = dq.csv_mode_pitfalls(spark, str(path), "a int, b string")
    assert seen["DROPMALFORMED count()"] == 4 and seen["DROPMALFORMED rows collected"] == 2  # count() parses nothing
    assert seen["query on _corrupt_record alone"] == "AnalysisException"
    assert seen["_corrupt_record set, after cache()"] == 2  # the line too wide and the line not an int
    assert seen["try_cast flags it"] == 1
    assert seen["cast('twelve' as double) under ANSI"] == "NumberFormatException"  # Spark 4: ANSI on by default
    assert seen["to_date('2024-02-30') under ANSI"] == "DateTimeException"


def test_sampling_cases_hide_exactly_the_planted_bad_rows(spark):
    cases = dq.sampling_cases(spark, 20_000, partitions=8)
    bad = {name: (df.where("amount < 0").count(), unit) for name, (df, unit) in cases.items()}
    assert bad == {"1 in 20,000, rows": (1, "rows"), "1 in 10K, rows": (2, "rows"), "clustered, files": (2500, "files")}


def test_csv_mode_pitfalls_reports_the_ansi_mode_it_observed_under(spark, tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text("a,b\n1,x\n")
    for ansi in (True, False):
        with labkit.spark_conf(spark, {"spark.sql.ansi.enabled": ansi}):
            seen = dq.csv_mode_pitfalls(spark, str(path), "a int, b string")
        assert seen["ANSI mode"] is ansi
        assert (seen["cast('twelve' as double) under ANSI"] == "no error") is not ansi


def test_csv_source_uses_your_file_or_generates_one_with_its_ground_truth(tmp_path):
    assert dq.csv_source("/data/mine.csv", str(tmp_path / "never"), 100, 1) == (None, "/data/mine.csv")
    assert not (tmp_path / "never").exists()  # your own file: nothing generated
    dirty, source = dq.csv_source("", str(tmp_path / "gen"), 200, 3, defect_rate=0.1)
    assert source == dirty.root == str(tmp_path / "gen")
    assert (dirty.labels["label"] != "good").sum() > 0 and (tmp_path / "gen" / "orders.csv").exists()


def test_the_quarantine_summary_names_files_and_reasons_but_never_the_raw_text(spark, dirty):
    acc = dq.read_csv_accounted(spark, dirty.root, dirty.schema)
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


def test_the_guides_schema_less_permissive_read_has_no_corrupt_record_column(spark, tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("a,b\n1,x\n2,y,extra\n")
    read = dq.guide_permissive_read(spark, str(path))
    assert read.columns == ["a", "b"] and read.count() == 2


def test_guide_subtract_keeps_distinct_rows_and_union_counts_a_row_failing_both_twice(spark):
    good = spark.createDataFrame([(1, 2, 100.0), (2, 9, 900.0), (3, 7, 10.0), (4, 1, 600.0)],
                                 "order_id int, quantity int, amount double")
    seen = dq.guide_subtract_union(good, "quantity > 5", "amount > 500")
    assert seen.to_dict() == {"rows": 6, "split_valid keeps": 6, "subtract keeps": 3, "union counts": 4,
                              "failing either": 3, "failing both": 1}
    assert dq.guide_subtract_union(good, "quantity > 5", "amount > 500", rows=1)["subtract keeps"] == 1


def test_recall_sweeps_stack_each_case_and_recall_lines_doubles_them_for_the_plot(spark):
    cases = dq.sampling_cases(spark, 20_000, partitions=8)
    sweeps = dq.recall_sweeps(cases, [rules.column_values("amount", ">=", 0)], [0.01, 1.0], seeds=2)
    assert list(sweeps["case"].unique()) == list(cases) and len(sweeps) == 6
    assert (sweeps[sweeps["fraction"] == 1.0]["detected"] == 1.0).all()
    one = sweeps[(sweeps["case"] == "1 in 20,000, rows") & (sweeps["fraction"] == 0.01)]
    assert one["analytic"].iloc[0] == pytest.approx(0.01)
    long = dq.recall_lines(sweeps)
    assert len(long) == 12 and set(long["kind"]) == {"measured", "analytic"}
    assert (long.loc[long["kind"] == "measured", "y"].to_numpy() == sweeps["detected"].to_numpy()).all()
    assert "1 in 10K, rows (analytic)" in set(long["line"])
    with pytest.raises(ValueError, match="recall_sweeps"):
        dq.recall_lines(sweeps.drop(columns="analytic"))


def test_strategy_medians_summarise_repeated_runs_and_the_read_rate_is_positive(spark, dirty):
    df = spark.range(0, 20_000, 1, 4).selectExpr("id", "case when id = 12345 then -1 else id end as amount")
    times = dq.strategy_medians(df, [rules.column_values("amount", ">=", 0)], repeats=2)
    assert set(times.index) == {"full_scan", "sample", "two_pass", "hybrid"}
    assert times.loc["full_scan", "found"] == times.loc["two_pass", "found"] == 1
    assert times.loc["full_scan", "rows_checked"] == 20_000 and (times["seconds"] > 0).all()
    with pytest.raises(ValueError, match="repeats"):
        dq.strategy_medians(df, [rules.column_values("amount", ">=", 0)], repeats=0)
    assert dq.accounted_read_mb_s(spark, dirty.root, dirty.schema) > 0


def test_merge_schema_adds_a_column_but_refuses_int_with_string(spark, tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    base = pa.table({"id": pa.array([1, 2], pa.int32()), "v": [1.0, 2.0]})
    _write(root / "a.parquet", base)
    _write(root / "wide.parquet", base.append_column("extra", pa.array(["x", "y"])))
    seen = dq.merge_schema_outcome(spark, str(root), ["a.parquet", "wide.parquet"])
    assert seen == {"merged columns": ["id", "v", "extra"], "whole folder": "merged"}
    _write(root / "text.parquet", pa.table({"id": ["3"], "v": [3.0]}))
    assert dq.merge_schema_outcome(spark, str(root), ["a.parquet"])["whole folder"] not in ("merged", "")


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


def test_with_negative_amounts_plants_minus_one_on_the_chosen_rows_only(spark):
    df = spark.range(0, 50).selectExpr("id as txn_id", "cast(id as decimal(10,2)) as amount")
    planted = dq.with_negative_amounts(df, every=10, remainder=7)
    assert sorted(r["txn_id"] for r in planted.where("amount < 0").collect()) == [7, 17, 27, 37, 47]
    assert planted.where("amount = -1").count() == 5 and planted.schema == df.schema
    assert planted.where("txn_id = 8").first()["amount"] == 8
    with pytest.raises(ValueError, match="remainder"):
        dq.with_negative_amounts(df, every=10, remainder=10)


def test_null_key_sample_has_one_null_and_no_repeated_key(spark):
    keys = dq.null_key_sample(spark, rows=20, null_at=5)
    seen = dq.guide_duplicate_test(keys, ["order_id"])
    assert (seen["rows"], seen["distinct keys"], seen["repeated keys"], seen["null keys"]) == (20, 19, 0, 1)
    assert keys.where("order_id is null").count() == 1 and keys.where("order_id = 5").count() == 0
    with pytest.raises(ValueError, match="null_at"):
        dq.null_key_sample(spark, rows=20, null_at=20)
