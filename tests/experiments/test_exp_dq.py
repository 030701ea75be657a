"""Notebook 06's experiments: Spark's CSV modes, the guide's DQ code beside labkit's, sampling recall, strategies."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

import labkit
from labkit.core.datagen import dirty_csv
from labkit.experiments import dq as dq_exp
from labkit.topics import dq
from labkit.topics.dq import rules


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    return dirty_csv(str(tmp_path_factory.mktemp("dirty")), lines=600, defect_rate=0.2, seed=5)


@pytest.fixture(scope="module")
def orders(spark):
    rows = [(1, 10, "a@x.com", 5.0, 2), (2, 11, "b@x.com", -1.0, 3), (2, 11, "b@x.com", -1.0, 3),
            (3, None, "not-an-email", 7.0, 50), (None, 12, "c@x.com", 9.0, 1), (5, 99, "d@x.com", 8.0, 4),
            (6, 10, "e@x.com", 8.0, 4), (6, 10, "e@x.com", 8.0, 4)]
    return spark.createDataFrame(rows, "id int, customer int, email string, amount double, qty int")


def _write(path, table):
    pq.write_table(table, path)


def test_count_distinct_skips_a_null_key_so_the_guides_test_reports_a_duplicate(orders):
    keys = orders.where("id is null or id = 1")  # one null key and one 1: nothing repeats
    assert keys.agg(F.countDistinct("id")).first()[0] == 1 and keys.count() == 2  # so count != countDistinct:
    seen = dq_exp.guide_duplicate_test(keys, ["id"])  # the guide's test reports duplicates, a false alarm
    assert seen["guide reports duplicates"] and seen["repeated keys"] == 0 and seen["null keys"] == 1
    assert dq.check(keys, [rules.is_primary_key("id")]).table.loc[0, "status"] == "fail"  # the null: not a key


def test_sampling_misses_rare_defects_and_the_analytic_curve_matches(spark):
    df = spark.range(0, 20_000, 1, 4).selectExpr("id", "case when id = 12345 then -1 else id end as amount")
    sweep = dq_exp.recall_sweep(df, [rules.column_values("amount", ">=", 0)], [0.01, 1.0], seeds=6)
    assert sweep.loc[1, "detected"] == 1.0 and sweep.loc[0, "detected"] <= 0.5
    assert sweep.loc[0, "analytic"] == pytest.approx(0.01)
    table = dq_exp.strategies(df, [rules.column_values("amount", ">=", 0)], repeats=1, warmup=0, fraction=0.001,
                              minimum=100)
    assert table.loc["full_scan", "found"] == 1 and table.loc["two_pass", "found"] == 1


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
    assert dq_exp.guide_code_outcomes().to_dict() == {"incremental_dq_check signature": "SyntaxError",
                                                  "log.info(msg, **issues) at WARNING": "skipped",
                                                  "log.info(msg, **issues) at INFO": "TypeError"}


def test_sampling_files_falls_back_to_partitions_when_the_data_has_no_files(spark):
    df = spark.range(0, 8_000, 1, 8).selectExpr("id", "case when spark_partition_id() = 3 then -1 else 1 end as amount")
    sweep = dq_exp.recall_sweep(df, [rules.column_values("amount", ">=", 0)], [1.0], seeds=1, unit="files")
    assert sweep.loc[0, "units"] == 8 and sweep.loc[0, "analytic"] == 1.0 and sweep.loc[0, "detected"] == 1.0
    assert dq_exp.recall_sweep(df, [rules.column_values("amount", ">=", 0)], [0.5], seeds=1, unit="files").loc[
        0, "analytic"] == 0.5  # one of eight partitions holds the defects


def test_the_guides_null_checks_raise_under_ansi_and_try_functions_flag(spark):
    """The guide flags bad values with cast(...).isNull() and to_date(...).isNull(); Spark 4's ANSI mode raises."""
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
    seen = dq_exp.csv_mode_pitfalls(spark, str(path), "a int, b string")
    assert seen["DROPMALFORMED count()"] == 4 and seen["DROPMALFORMED rows collected"] == 2  # count() parses nothing
    assert seen["query on _corrupt_record alone"] == "AnalysisException"
    assert seen["_corrupt_record set, after cache()"] == 2  # the line too wide and the line not an int
    assert seen["try_cast flags it"] == 1
    assert seen["cast('twelve' as double) under ANSI"] == "NumberFormatException"  # Spark 4: ANSI on by default
    assert seen["to_date('2024-02-30') under ANSI"] == "DateTimeException"


def test_sampling_cases_hide_exactly_the_planted_bad_rows(spark):
    cases = dq_exp.sampling_cases(spark, 20_000, partitions=8)
    bad = {name: (df.where("amount < 0").count(), unit) for name, (df, unit) in cases.items()}
    assert bad == {"1 in 20,000, rows": (1, "rows"), "1 in 10K, rows": (2, "rows"), "clustered, files": (2500, "files")}


def test_csv_mode_pitfalls_reports_the_ansi_mode_it_observed_under(spark, tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text("a,b\n1,x\n")
    for ansi in (True, False):
        with labkit.spark_conf(spark, {"spark.sql.ansi.enabled": ansi}):
            seen = dq_exp.csv_mode_pitfalls(spark, str(path), "a int, b string")
        assert seen["ANSI mode"] is ansi
        assert (seen["cast('twelve' as double) under ANSI"] == "no error") is not ansi


def test_csv_source_uses_your_file_or_generates_one_with_its_ground_truth(tmp_path):
    assert dq_exp.csv_source("/data/mine.csv", str(tmp_path / "never"), 100, 1) == (None, "/data/mine.csv")
    assert not (tmp_path / "never").exists()  # your own file: nothing generated
    dirty, source = dq_exp.csv_source("", str(tmp_path / "gen"), 200, 3, defect_rate=0.1)
    assert source == dirty.root == str(tmp_path / "gen")
    assert (dirty.labels["label"] != "good").sum() > 0 and (tmp_path / "gen" / "orders.csv").exists()


def test_the_guides_schema_less_permissive_read_has_no_corrupt_record_column(spark, tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("a,b\n1,x\n2,y,extra\n")
    read = dq_exp.guide_permissive_read(spark, str(path))
    assert read.columns == ["a", "b"] and read.count() == 2


def test_guide_subtract_keeps_distinct_rows_and_union_counts_a_row_failing_both_twice(spark):
    good = spark.createDataFrame([(1, 2, 100.0), (2, 9, 900.0), (3, 7, 10.0), (4, 1, 600.0)],
                                 "order_id int, quantity int, amount double")
    seen = dq_exp.guide_subtract_union(good, "quantity > 5", "amount > 500")
    assert seen.to_dict() == {"rows": 6, "split_valid keeps": 6, "subtract keeps": 3, "union counts": 4,
                              "failing either": 3, "failing both": 1}
    assert dq_exp.guide_subtract_union(good, "quantity > 5", "amount > 500", rows=1)["subtract keeps"] == 1


def test_recall_sweeps_stack_each_case_and_recall_lines_doubles_them_for_the_plot(spark):
    cases = dq_exp.sampling_cases(spark, 20_000, partitions=8)
    sweeps = dq_exp.recall_sweeps(cases, [rules.column_values("amount", ">=", 0)], [0.01, 1.0], seeds=2)
    assert list(sweeps["case"].unique()) == list(cases) and len(sweeps) == 6
    assert (sweeps[sweeps["fraction"] == 1.0]["detected"] == 1.0).all()
    one = sweeps[(sweeps["case"] == "1 in 20,000, rows") & (sweeps["fraction"] == 0.01)]
    assert one["analytic"].iloc[0] == pytest.approx(0.01)
    long = dq_exp.recall_lines(sweeps)
    assert len(long) == 12 and set(long["kind"]) == {"measured", "analytic"}
    assert (long.loc[long["kind"] == "measured", "y"].to_numpy() == sweeps["detected"].to_numpy()).all()
    assert "1 in 10K, rows (analytic)" in set(long["line"])
    with pytest.raises(ValueError, match="recall_sweeps"):
        dq_exp.recall_lines(sweeps.drop(columns="analytic"))


def test_strategies_are_timed_interleaved_with_what_each_found_in_its_measured_rounds(spark):
    df = spark.range(0, 20_000, 1, 4).selectExpr("id", "case when id = 12345 then -1 else id end as amount")
    amount = [rules.column_values("amount", ">=", 0)]
    times = dq_exp.strategies(df, amount, repeats=2)
    assert list(times.index) == list(dq.STRATEGIES) and (times["runs"] == 2).all()
    assert times.loc["full_scan", "found"] == times.loc["two_pass", "found"] == 1
    assert times.loc["full_scan", "rows_checked"] == 20_000 and times.loc["full_scan", "speedup"] == 1.0  # baseline
    assert times.loc["two_pass", "jobs"] > times.loc["full_scan", "jobs"]  # the statistics pass, then the scan
    by_seed = [dq.find_violations(df, amount, "sample", seed=s)[0] for s in (0, 1)]  # the measured rounds' seeds
    assert times.loc["sample", "found"] == min(by_seed) and times.loc["sample", "detected"] == (min(by_seed) > 0)
    with pytest.raises(ValueError, match="repeats"):
        dq_exp.strategies(df, amount, repeats=0)


def test_the_accounted_read_rate_is_the_input_over_the_wall_time_and_refuses_an_empty_read(spark, dirty, tmp_path):
    assert dq_exp.accounted_read_mb_s(spark, dirty.root, dirty.schema) > 0
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="the read reported 0 bytes"):
        dq_exp.accounted_read_mb_s(spark, str(tmp_path / "empty.csv"), dirty.schema)


def test_merge_schema_adds_a_column_but_refuses_int_with_string(spark, tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    base = pa.table({"id": pa.array([1, 2], pa.int32()), "v": [1.0, 2.0]})
    _write(root / "a.parquet", base)
    _write(root / "wide.parquet", base.append_column("extra", pa.array(["x", "y"])))
    seen = dq_exp.merge_schema_outcome(spark, str(root), ["a.parquet", "wide.parquet"])
    assert seen == {"merged columns": ["id", "v", "extra"], "whole folder": "merged"}
    _write(root / "text.parquet", pa.table({"id": ["3"], "v": [3.0]}))
    assert dq_exp.merge_schema_outcome(spark, str(root), ["a.parquet"])["whole folder"] not in ("merged", "")


def test_with_negative_amounts_plants_minus_one_on_the_chosen_rows_only(spark):
    df = spark.range(0, 50).selectExpr("id as txn_id", "cast(id as decimal(10,2)) as amount")
    planted = dq_exp.with_negative_amounts(df, every=10, remainder=7)
    assert sorted(r["txn_id"] for r in planted.where("amount < 0").collect()) == [7, 17, 27, 37, 47]
    assert planted.where("amount = -1").count() == 5 and planted.schema == df.schema
    assert planted.where("txn_id = 8").first()["amount"] == 8
    with pytest.raises(ValueError, match="remainder"):
        dq_exp.with_negative_amounts(df, every=10, remainder=10)


def test_null_key_sample_has_one_null_and_no_repeated_key(spark):
    keys = dq_exp.null_key_sample(spark, rows=20, null_at=5)
    seen = dq_exp.guide_duplicate_test(keys, ["order_id"])
    assert (seen["rows"], seen["distinct keys"], seen["repeated keys"], seen["null keys"]) == (20, 19, 0, 1)
    assert keys.where("order_id is null").count() == 1 and keys.where("order_id = 5").count() == 0
    with pytest.raises(ValueError, match="null_at"):
        dq_exp.null_key_sample(spark, rows=20, null_at=20)
