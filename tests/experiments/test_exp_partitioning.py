"""Notebook 01's experiments: pruning, pushdown, formats, small files, layouts, and the guide's claims."""

import pandas as pd
import pytest
from pyspark.testing import assertDataFrameEqual

from labkit import datagen
from labkit.experiments import partitioning as part_exp
from labkit.topics.partitioning import write_lake


@pytest.fixture(scope="module")
def facts(spark):
    return datagen.transactions(spark, 20_000, customers=200, skew=None, partitions=4).cache()


@pytest.fixture(scope="module")
def lakes(spark, facts, tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    return {"hive": write_lake(facts, str(root / "hive")), "flat": write_lake(facts, str(root / "flat"),
                                                                               layout="flat", files_per_partition=4)}


def test_write_formats_reports_sizes(spark, facts, tmp_path):
    sizes = part_exp.write_formats(facts, str(tmp_path / "fmt"), files=2)
    assert list(sizes.index) == ["csv", "parquet-snappy", "parquet-zstd"]
    assert (sizes["files"] == 2).all()
    assert sizes.loc["csv", "bytes"] > 2 * sizes.loc["parquet-snappy", "bytes"]
    assert sizes.loc["parquet-zstd", "bytes"] < sizes.loc["parquet-snappy", "bytes"]


def test_guide_claims_recompute_the_arithmetic_and_count_what_spark_reads(spark, tmp_path):
    got = part_exp.guide_claims(spark, str(tmp_path), partitions=20)
    assert got["sizing.100gb_in_400_partitions_mb"][0] == 256 and got["sizing.100gb_in_50_partitions_mb"][0] == 2048
    assert got["smallfiles.100_row_partitions.files_per_partition"][0] == 1.0  # one tiny file per partition
    scanned, unit, claim, note = got["pruning.guide_filter.partitions_scanned"]
    assert scanned == 14 and "2024/05" not in note and "2024/06" in note and "2025/01" not in note  # not 20
    with pytest.raises(ValueError, match="partitions"):
        part_exp.guide_claims(spark, str(tmp_path), partitions=0)


def test_tpch_lineitem_compresses_and_write_lake_checks_keep_nulls(spark, tmp_path):
    got = part_exp.tpch_size_ratio(spark, str(tmp_path), 0.001)
    assert got["rows"] > 5000 and got["ratio"] > 1.5  # realistic columns compress, unlike random ones
    facts = spark.range(100).selectExpr("id AS txn_id", "id % 3 AS year", "id % 12 + 1 AS month",
                                        "CAST(id % 2 AS STRING) AS region")
    checks = part_exp.write_lake_checks(facts, str(tmp_path / "lake"))
    assert "no_such_column" in checks["missing column"] and checks["null partition rows"] == 10
    assert checks["empty table rows"] == 0


@pytest.mark.slow
def test_file_size_experiment_straddles_the_guides_lines(spark, tmp_path):
    table = part_exp.file_size_experiment(spark, str(tmp_path), large_mb=128, small_mb=8, repeats=1, large_files=1,
                                          warmup=0)  # one 128 MB file and 16 of 8 MB, each read once
    assert table.loc["files of 128 MB or more", "mean MB"] >= 128 and table.loc["files under 10 MB", "mean MB"] < 10
    assert table.loc["files under 10 MB", "files"] >= 10 * table.loc["files of 128 MB or more", "files"]
    with pytest.raises(ValueError, match="large_mb"):
        part_exp.file_size_experiment(spark, str(tmp_path), large_mb=64)


def test_layout_experiments_refuse_an_existing_folder_or_table_and_bad_names(spark, facts, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        part_exp.folder_layouts(facts, str(tmp_path / "taken"), "month", "customer_id", 4)
    with pytest.raises(FileExistsError, match="already exists"):
        part_exp.bucketing_layouts(facts, "customer_id", 4, str(tmp_path / "taken"))
    with pytest.raises(ValueError, match="plain name"):
        part_exp.bucketing_layouts(facts, "customer_id", 4, str(tmp_path / "new"), database="x; DROP")
    with pytest.raises(ValueError, match="not found"):
        part_exp.folder_layouts(facts, str(tmp_path / "new"), "no_such", "customer_id", 4)
    assert not (tmp_path / "new").exists()  # nothing was written before the refusal


def test_write_layouts_writes_hive_and_flat_with_their_file_counts(spark, facts, tmp_path):
    layouts = part_exp.write_layouts(facts, str(tmp_path / "lake"), 3)
    assert list(layouts.index) == ["hive", "flat"] and list(layouts.columns) == ["path", "files", "bytes", "folders"]
    assert layouts.loc["hive", "folders"] == layouts.loc["hive", "files"] == 60 and layouts.loc["flat", "files"] == 3
    assert layouts.loc["hive", "path"].endswith("/hive")
    assertDataFrameEqual(spark.read.parquet(layouts.loc["flat", "path"]), facts)


def test_pruning_numbers_and_timings_read_the_pruning_table(spark, lakes):
    queries = {"one of five": "year = 2024", "two of five": "year >= 2024", "all": "year > 0"}
    pruning = part_exp.pruning_table(spark, lakes, queries)
    got = {r["key"]: r for r in part_exp.pruning_numbers(pruning)}
    assert got["pruning.one_of_five.bytes_reduction"]["value"] == pytest.approx(0.8, abs=0.02)
    assert got["pruning.two_of_five.bytes_reduction"]["value"] == pytest.approx(0.6, abs=0.03)
    assert got["pruning.two_of_five.athena_cost_savings"]["value"] == pytest.approx(0.6, abs=0.03)
    assert [r["claim"] for r in got.values()] == ["part-athena-80pct-scanned", "part-2tb-of-5tb-70pct",
                                                  "part-athena-25-10"]
    scanned = part_exp.scanned_mb(pruning, {"one of five": 1, "two of five": 2, "all": 5})
    assert scanned.set_index(["query", "layout"]).loc[("all", "hive"), "years"] == 5
    assert scanned["MB"].tolist() == pytest.approx((pruning["bytes"] / 2**20).tolist())

    times = part_exp.pruning_timings(spark, {"flat": lakes["flat"], "hive": lakes["hive"]}, queries, repeats=1)
    assert list(times.index) == ["flat: one of five", "hive: one of five", "flat: two of five", "hive: two of five"]
    numbers = part_exp.pruning_time_numbers(times, {"one of five": "part-5min-45s", "two of five": None}, "t")
    assert [r["key"] for r in numbers] == ["pruning.one_of_five.time_speedup", "pruning.one_of_five.time_reduction",
                                           "pruning.two_of_five.time_speedup", "pruning.two_of_five.time_reduction"]
    speedup = times.loc["flat: one of five", "median_s"] / times.loc["hive: one of five", "median_s"]
    assert numbers[0]["value"] == pytest.approx(speedup) and numbers[0]["claim"] == "part-5min-45s"
    assert numbers[1]["value"] == pytest.approx(1 - 1 / speedup) and numbers[1]["unit"] == "time_fraction"
    with pytest.raises(ValueError, match="no query to time"):
        part_exp.pruning_timings(spark, lakes, {"all": "year > 0"})


def test_pushdown_format_and_small_file_numbers_are_the_experiments_own(spark, facts, tmp_path):
    pushdown = part_exp.pushdown_experiment(facts, str(tmp_path / "push"), 2, row_group_bytes=64 * 1024)
    got = part_exp.pushdown_number(pushdown)
    rows = pushdown["rows from the reader"]
    assert got["key"] == "pushdown.parquet_rows_decoded_fraction" and got["unit"] == "fraction"
    assert got["value"] == rows[("parquet", "1% filter")] / rows[("parquet", "no filter")] < 0.5

    fmt = pd.DataFrame({"bytes": [500.0, 100.0], "full scan s": [3.0, 1.0], "2 columns s": [2.0, 0.5]},
                       index=["csv", "parquet-snappy"])
    numbers = {r["key"]: r for r in part_exp.format_numbers(fmt, {"ratio": 4.0, "rows": 6000}, 0.01, "tiny")}
    assert {k: r["value"] for k, r in numbers.items()} == {
        "formats.parquet_vs_csv.size_ratio": 5.0, "formats.lineitem.size_ratio": 4.0,
        "formats.parquet_vs_csv.read_speedup": 3.0, "formats.parquet_vs_csv.projection_speedup": 4.0}
    assert "6,000 rows" in numbers["formats.lineitem.size_ratio"]["note"]
    assert numbers["formats.parquet_vs_csv.read_speedup"]["note"].endswith("scale tiny")

    small = part_exp.small_files_experiment(facts, str(tmp_path / "small"), 4, repeats=1)
    compacted_speedup, naive_files = part_exp.small_files_numbers(small, 4)
    assert compacted_speedup["value"] == pytest.approx(small["times"].loc["compacted", "speedup"])
    assert naive_files["value"] == small["naive"].files > small["compacted"].files == 60
    kb = part_exp.kb_per_file(small)
    assert list(kb) == [f"naive partitionBy: {small['naive'].files} files", "repartitioned first: 60 files"]
    assert sum(kb["repartitioned first: 60 files"]) == pytest.approx(small["compacted"].bytes / 1024)


def test_file_size_number_is_skipped_at_0_mb_and_refuses_sizes_off_the_guides_lines(spark, tmp_path):
    assert part_exp.file_size_number(spark, str(tmp_path), 0) == dict(
        key="smallfiles.under_10mb_vs_128mb.slowdown", value=None, unit="x", claim="files-small-files-slower",
        note="not measured here (large_file_mb 0: tiny and small); measured at medium and large")
    assert not list(tmp_path.iterdir())  # nothing written when skipped
    with pytest.raises(ValueError, match="large_mb"):
        part_exp.file_size_number(spark, str(tmp_path), 64)


def test_bucketed_join_plans_and_dropped_tables_and_folder_values(spark, facts, tmp_path):
    bucketed, unbucketed = part_exp.bucketed_join_plans(spark, facts, datagen.customers(spark, 200),
                                                            "customer_id", 4, names=("f_b4", "d_b4"))
    assert bucketed.joins == ["SortMergeJoin"] and bucketed.exchanges == 0 and unbucketed.exchanges == 2
    layouts = part_exp.bucketing_layouts(facts.repartition(3), "customer_id", 4, str(tmp_path / "b"),
                                             prefix="dropped", drop_tables=True)
    assert not any(spark.catalog.tableExists(t) for t in layouts["table"])
    assert layouts.iloc[1]["files"] <= 4 and (tmp_path / "b" / "plain").exists()  # the files stay
    days = facts.where("year = 2024 AND month = 1").selectExpr("*", "to_date(ts) AS d")
    per_folder = part_exp.folder_layouts(days, str(tmp_path / "f"), "d", "customer_id", 4)
    assert per_folder.attrs["values"] == days.select("d").distinct().count() == per_folder.iloc[1]["folders"] > 20
    without = part_exp.folder_layouts(days, str(tmp_path / "g"), "d", None, 4, coarser="month")
    assert list(without.index) == ["no repartition", "repartition(4, d)", "repartition(4, d), partitionBy(month)"]
    assert without.iloc[:2].drop(columns="path").equals(per_folder.iloc[:2].drop(columns="path"))
