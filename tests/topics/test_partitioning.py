import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit import datagen, partitioning
from labkit.core.measure import measure
from labkit.core.plans import plan_summary
from labkit.core.session import spark_conf
from labkit.topics.partitioning import HIVE_DEFAULT_PARTITION, file_stats, write_lake

SCHEMA = "txn_id long, customer_id long, product_id long, amount decimal(10,2), quantity int, ts timestamp, " \
         "year int, month int, region string"


@pytest.fixture(scope="module")
def facts(spark):
    return datagen.transactions(spark, 20_000, customers=200, skew=None, partitions=4).cache()


@pytest.fixture(scope="module")
def lakes(spark, facts, tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    return {"hive": write_lake(facts, str(root / "hive")), "flat": write_lake(facts, str(root / "flat"),
                                                                               layout="flat", files_per_partition=4)}


def _scan(spark, path, where):
    return measure(spark, lambda: spark.read.parquet(path).filter(where).write.format("noop").mode("overwrite")
                   .save(), where)


def test_both_layouts_hold_the_same_rows(spark, facts, lakes):
    assertDataFrameEqual(spark.read.parquet(lakes["hive"]).select(*facts.columns), facts)
    assertDataFrameEqual(spark.read.parquet(lakes["flat"]), facts)
    st = file_stats(spark, lakes["hive"])
    assert st.folders == 60 and st.files == 60  # 5 years x 12 months, one file each


def test_pruning_reads_one_fifth_of_the_bytes_for_one_year_of_five(spark, lakes):
    hive = _scan(spark, lakes["hive"], "year = 2024")
    flat = _scan(spark, lakes["flat"], "year = 2024")
    all_hive = _scan(spark, lakes["hive"], "year > 0")
    assert hive.plan.partition_filters and any("year" in f for f in hive.plan.partition_filters)
    assert flat.plan.partition_filters == []
    assert hive.input_files == 12 and flat.input_files == 4
    assert hive.files_read_bytes / all_hive.files_read_bytes == pytest.approx(0.2, abs=0.02)
    two = _scan(spark, lakes["hive"], "year >= 2024")
    assert two.files_read_bytes / all_hive.files_read_bytes == pytest.approx(0.4, abs=0.03)


def test_parquet_skips_row_groups_and_csv_reads_every_byte(spark, facts, tmp_path):
    path = str(tmp_path / "sorted")
    facts.orderBy("txn_id").coalesce(1).write.option("parquet.block.size", 64 * 1024).parquet(path)
    csv = write_lake(facts, str(tmp_path / "csv"), layout="flat", fmt="csv")

    def run(reader, where):
        return measure(spark, lambda: reader().filter(where).write.format("noop").mode("overwrite").save())

    pq, pq_all = (run(lambda: spark.read.parquet(path), w) for w in ("txn_id < 500", "txn_id >= 0"))
    cs, cs_all = (run(lambda: partitioning.read_csv(spark, csv, SCHEMA), w) for w in ("txn_id < 500", "txn_id >= 0"))
    assert any("LessThan(txn_id,500)" in f for f in pq.plan.pushed_filters)
    assert pq.input_records < pq_all.input_records / 4  # row groups skipped: fewer rows decoded
    assert cs.input_bytes == cs_all.input_bytes  # CSV filters while parsing, but reads every byte


def test_read_csv_needs_a_schema_or_says_what_inferring_costs(spark, facts, tmp_path):
    csv = write_lake(facts, str(tmp_path / "csv"), layout="flat", fmt="csv")
    with pytest.raises(ValueError, match="extra pass"):
        partitioning.read_csv(spark, csv)
    explicit = measure(spark, lambda: partitioning.read_csv(spark, csv, SCHEMA))
    inferred = measure(spark, lambda: partitioning.read_csv(spark, csv, infer=True))
    assert explicit.jobs == 0 and inferred.jobs >= 1  # inferring the schema is a pass over the data


def test_write_formats_reports_sizes(spark, facts, tmp_path):
    sizes = partitioning.write_formats(facts, str(tmp_path / "fmt"), files=2)
    assert list(sizes.index) == ["csv", "parquet-snappy", "parquet-zstd"]
    assert (sizes["files"] == 2).all()
    assert sizes.loc["csv", "bytes"] > 2 * sizes.loc["parquet-snappy", "bytes"]
    assert sizes.loc["parquet-zstd", "bytes"] < sizes.loc["parquet-snappy", "bytes"]


def test_naive_partition_by_after_a_shuffle_writes_many_small_files_and_compact_fixes_it(spark, facts, tmp_path):
    naive = str(tmp_path / "naive")
    facts.repartition(16).write.partitionBy("year").parquet(naive)
    fixed = write_lake(facts, str(tmp_path / "fixed"), partition_by=["year"])
    assert file_stats(spark, naive).files == 5 * 16  # every task writes a file into every year folder
    assert file_stats(spark, fixed).files == 5
    one_year = f"{naive}/year=2024"
    before = file_stats(spark, one_year)
    partitioning.compact(spark, one_year, target_file_mb=1)
    after = file_stats(spark, one_year)
    assert before.files == 16 and after.files == 1 and after.bytes < before.bytes
    assertDataFrameEqual(spark.read.parquet(naive), spark.read.parquet(fixed))


def test_csv_compaction_round_trips_a_table_with_headers(spark, facts, tmp_path):
    path = write_lake(facts, str(tmp_path / "csv"), layout="flat", fmt="csv", files_per_partition=6)
    schema = facts.schema
    partitioning.compact(spark, path, fmt="csv")
    assert file_stats(spark, path).files == 1
    back = partitioning.read_csv(spark, path, schema)
    assertDataFrameEqual(back, facts)  # no header line came back as a data row
    assert spark.read.text(path).filter("value like 'txn_id,%'").count() == 1  # one header, the file's first line


def test_compaction_in_place_leaves_no_temporary_folder_a_reader_could_see(spark, facts, tmp_path):
    table = str(tmp_path / "hive")
    write_lake(facts, table, partition_by=["year"], files_per_partition=4)
    partitioning.compact(spark, f"{table}/year=2024")
    assert sorted(p.name for p in (tmp_path / "hive").iterdir() if not p.name.startswith(("_", "."))) == [
        f"year={y}" for y in range(2021, 2026)]
    assert not [p for p in (tmp_path / "hive").iterdir() if "compacting" in p.name or ".old-" in p.name]
    assertDataFrameEqual(spark.read.parquet(table).select(*facts.columns), facts)


def test_a_failed_compaction_is_hidden_from_spark(spark, facts, tmp_path):
    table = tmp_path / "hive"
    write_lake(facts, str(table), partition_by=["year"])
    leftover = table / ".year=2024.compacting-dead"  # what a crash between write and swap leaves behind
    facts.limit(5).write.parquet(str(leftover))
    assert spark.read.parquet(str(table)).count() == facts.count()  # the hidden folder is not a partition


def test_num_partitions_for_rounds_up_and_rejects_bad_sizes():
    assert partitioning.num_partitions_for(129 * 2**20) == 2
    assert partitioning.num_partitions_for(1, target_mb=1024) == 1
    with pytest.raises(ValueError, match="target_mb"):
        partitioning.num_partitions_for(10, target_mb=0)
    with pytest.raises(ValueError, match="total_bytes"):
        partitioning.num_partitions_for(-1)


def test_partition_types_and_their_sizes(spark, facts):
    stats = {
        "hash": partitioning.partition_stats(facts.repartition(8, "customer_id")),
        "range": partitioning.partition_stats(facts.repartitionByRange(8, "txn_id")),
        "round robin": partitioning.partition_stats(facts.repartition(8)),
        "coalesce": partitioning.partition_stats(facts.repartition(7).coalesce(3)),
    }
    assert all(s["rows"] == 20_000 for s in stats.values())
    assert stats["round robin"]["max"] - stats["round robin"]["min"] <= 1  # round robin is exactly even
    assert stats["range"]["skew"] < 1.2 and stats["coalesce"]["partitions"] == 3
    assert stats["coalesce"]["skew"] > 1.05  # 7 partitions merged into 3 cannot be even


def test_coalesce_does_not_shuffle_and_repartition_does(spark, facts):
    assert plan_summary(facts.coalesce(2)._jdf.queryExecution().executedPlan().toString()).exchanges == 0
    assert plan_summary(facts.repartition(2)._jdf.queryExecution().executedPlan().toString()).exchanges == 1


def test_a_join_of_two_tables_bucketed_the_same_way_has_no_exchange(spark, facts):
    dims = datagen.customers(spark, 200)
    tables = partitioning.bucketed_tables(spark, {"facts_b": facts, "dims_b": dims}, by="customer_id", buckets=8)
    with spark_conf(spark, {"spark.sql.autoBroadcastJoinThreshold": -1}):
        bucketed = spark.table(tables["facts_b"]).join(spark.table(tables["dims_b"]), "customer_id")
        plain = facts.join(dims, "customer_id")
        b, p = plan_summary(bucketed), plan_summary(plain)
    assert b.joins == ["SortMergeJoin"] and b.exchanges == 0
    assert p.exchanges == 2
    assert bucketed.count() == plain.count() == 20_000


def test_a_missing_partition_column_is_a_clear_error(spark, facts, tmp_path):
    with pytest.raises(ValueError, match=r"partition column \['day'\] not found"):
        write_lake(facts, str(tmp_path / "x"), partition_by=["year", "day"])
    with pytest.raises(ValueError, match="layout must be"):
        write_lake(facts, str(tmp_path / "x"), layout="nested")


def test_null_partition_values_land_in_the_hive_default_partition(spark, facts, tmp_path):
    with_nulls = facts.withColumn("region", F.when(F.col("txn_id") % 10 == 0, F.lit(None)).otherwise(F.col("region")))
    path = write_lake(with_nulls, str(tmp_path / "nulls"), partition_by=["region"])
    folders = {p.name for p in (tmp_path / "nulls").iterdir() if p.is_dir()}
    assert f"region={HIVE_DEFAULT_PARTITION}" in folders
    back = spark.read.parquet(path)
    assert back.filter("region is null").count() == 2_000
    assert back.count() == 20_000


def test_an_empty_input_still_writes_a_readable_layout(spark, facts, tmp_path):
    path = write_lake(facts.limit(0), str(tmp_path / "empty"))
    back = spark.read.parquet(path)
    assert back.count() == 0 and set(back.columns) == set(facts.columns)


def test_guide_checks_recompute_the_arithmetic_and_count_what_spark_reads(spark, tmp_path):
    got = partitioning.guide_checks(spark, str(tmp_path), partitions=20)
    assert got["sizing.100gb_in_400_partitions_mb"][0] == 256 and got["sizing.100gb_in_50_partitions_mb"][0] == 2048
    assert got["smallfiles.100_row_partitions.files_per_partition"][0] == 1.0  # one tiny file per partition
    scanned, unit, claim, note = got["pruning.guide_filter.partitions_scanned"]
    assert scanned == 14 and "2024/05" not in note and "2024/06" in note and "2025/01" not in note  # not 20
    with pytest.raises(ValueError, match="partitions"):
        partitioning.guide_checks(spark, str(tmp_path), partitions=0)


def test_tpch_lineitem_compresses_and_write_lake_checks_keep_nulls(spark, tmp_path):
    got = partitioning.tpch_size_ratio(spark, str(tmp_path), 0.001)
    assert got["rows"] > 5000 and got["ratio"] > 1.5  # realistic columns compress, unlike random ones
    facts = spark.range(100).selectExpr("id AS txn_id", "id % 3 AS year", "id % 12 + 1 AS month",
                                        "CAST(id % 2 AS STRING) AS region")
    checks = partitioning.write_lake_checks(facts, str(tmp_path / "lake"))
    assert "no_such_column" in checks["missing column"] and checks["null partition rows"] == 10
    assert checks["empty table rows"] == 0


@pytest.mark.slow
def test_file_size_experiment_straddles_the_guides_lines(spark, tmp_path):
    table = partitioning.file_size_experiment(spark, str(tmp_path), large_mb=128, small_mb=8, repeats=1)
    assert table.loc["files of 128 MB or more", "mean MB"] >= 128 and table.loc["files under 10 MB", "mean MB"] < 10
    assert table.loc["files under 10 MB", "files"] >= 10 * table.loc["files of 128 MB or more", "files"]
    with pytest.raises(ValueError, match="large_mb"):
        partitioning.file_size_experiment(spark, str(tmp_path), large_mb=64)


def test_range_partitions_are_contiguous_ranges_in_partition_order(spark, facts):
    bounds = partitioning.range_partitions(facts, "txn_id", 8)
    assert bounds.attrs["ordered"] and len(bounds) == 8 and int(bounds["rows"].sum()) == 20_000
    assert (bounds["max"].iloc[:-1].to_numpy() < bounds["min"].iloc[1:].to_numpy()).all()
    assert not partitioning.ranges_ordered(pd.DataFrame({"min": [0, 3], "max": [5, 9]}))  # overlapping ranges


def test_layout_experiments_refuse_an_existing_folder_or_table_and_bad_names(spark, facts, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        partitioning.folder_layouts(facts, str(tmp_path / "taken"), "month", "customer_id", 4)
    with pytest.raises(FileExistsError, match="already exists"):
        partitioning.bucketing_layouts(facts, "customer_id", 4, str(tmp_path / "taken"))
    with pytest.raises(ValueError, match="plain name"):
        partitioning.bucketing_layouts(facts, "customer_id", 4, str(tmp_path / "new"), database="x; DROP")
    with pytest.raises(ValueError, match="not found"):
        partitioning.folder_layouts(facts, str(tmp_path / "new"), "no_such", "customer_id", 4)
    assert not (tmp_path / "new").exists()  # nothing was written before the refusal


def test_write_layouts_writes_hive_and_flat_with_their_file_counts(spark, facts, tmp_path):
    layouts = partitioning.write_layouts(facts, str(tmp_path / "lake"), 3)
    assert list(layouts.index) == ["hive", "flat"] and list(layouts.columns) == ["path", "files", "bytes", "folders"]
    assert layouts.loc["hive", "folders"] == layouts.loc["hive", "files"] == 60 and layouts.loc["flat", "files"] == 3
    assert layouts.loc["hive", "path"].endswith("/hive")
    assertDataFrameEqual(spark.read.parquet(layouts.loc["flat", "path"]), facts)


def test_pruning_numbers_and_timings_read_the_pruning_table(spark, lakes):
    queries = {"one of five": "year = 2024", "two of five": "year >= 2024", "all": "year > 0"}
    pruning = partitioning.pruning_table(spark, lakes, queries)
    got = {r["key"]: r for r in partitioning.pruning_numbers(pruning)}
    assert got["pruning.one_of_five.bytes_reduction"]["value"] == pytest.approx(0.8, abs=0.02)
    assert got["pruning.two_of_five.bytes_reduction"]["value"] == pytest.approx(0.6, abs=0.03)
    assert got["pruning.two_of_five.athena_cost_savings"]["value"] == pytest.approx(0.6, abs=0.03)
    assert [r["claim"] for r in got.values()] == ["part-athena-80pct-scanned", "part-2tb-of-5tb-70pct",
                                                  "part-athena-25-10"]
    scanned = partitioning.scanned_mb(pruning, {"one of five": 1, "two of five": 2, "all": 5})
    assert scanned.set_index(["query", "layout"]).loc[("all", "hive"), "years"] == 5
    assert scanned["MB"].tolist() == pytest.approx((pruning["bytes"] / 2**20).tolist())

    times = partitioning.pruning_timings(spark, {"flat": lakes["flat"], "hive": lakes["hive"]}, queries, repeats=1)
    assert list(times.index) == ["flat: one of five", "hive: one of five", "flat: two of five", "hive: two of five"]
    numbers = partitioning.pruning_time_numbers(times, {"one of five": "part-5min-45s", "two of five": None}, "t")
    assert [r["key"] for r in numbers] == ["pruning.one_of_five.time_speedup", "pruning.one_of_five.time_reduction",
                                           "pruning.two_of_five.time_speedup", "pruning.two_of_five.time_reduction"]
    speedup = times.loc["flat: one of five", "median_s"] / times.loc["hive: one of five", "median_s"]
    assert numbers[0]["value"] == pytest.approx(speedup) and numbers[0]["claim"] == "part-5min-45s"
    assert numbers[1]["value"] == pytest.approx(1 - 1 / speedup) and numbers[1]["unit"] == "time_fraction"
    with pytest.raises(ValueError, match="no query to time"):
        partitioning.pruning_timings(spark, lakes, {"all": "year > 0"})


def test_pushdown_format_and_small_file_numbers_are_the_experiments_own(spark, facts, tmp_path):
    pushdown = partitioning.pushdown_experiment(facts, str(tmp_path / "push"), 2, row_group_bytes=64 * 1024)
    got = partitioning.pushdown_number(pushdown)
    rows = pushdown["rows from the reader"]
    assert got["key"] == "pushdown.parquet_rows_decoded_fraction" and got["unit"] == "fraction"
    assert got["value"] == rows[("parquet", "1% filter")] / rows[("parquet", "no filter")] < 0.5

    fmt = pd.DataFrame({"bytes": [500.0, 100.0], "full scan s": [3.0, 1.0], "2 columns s": [2.0, 0.5]},
                       index=["csv", "parquet-snappy"])
    numbers = {r["key"]: r for r in partitioning.format_numbers(fmt, {"ratio": 4.0, "rows": 6000}, 0.01, "tiny")}
    assert {k: r["value"] for k, r in numbers.items()} == {
        "formats.parquet_vs_csv.size_ratio": 5.0, "formats.lineitem.size_ratio": 4.0,
        "formats.parquet_vs_csv.read_speedup": 3.0, "formats.parquet_vs_csv.projection_speedup": 4.0}
    assert "6,000 rows" in numbers["formats.lineitem.size_ratio"]["note"]
    assert numbers["formats.parquet_vs_csv.read_speedup"]["note"].endswith("scale tiny")

    small = partitioning.small_files_experiment(facts, str(tmp_path / "small"), 4, repeats=1)
    compacted_speedup, naive_files = partitioning.small_files_numbers(small, 4)
    assert compacted_speedup["value"] == pytest.approx(small["times"].loc["compacted", "speedup"])
    assert naive_files["value"] == small["naive"].files > small["compacted"].files == 60
    kb = partitioning.kb_per_file(small)
    assert list(kb) == [f"naive partitionBy: {small['naive'].files} files", "repartitioned first: 60 files"]
    assert sum(kb["repartitioned first: 60 files"]) == pytest.approx(small["compacted"].bytes / 1024)


def test_file_size_number_is_skipped_at_0_mb_and_refuses_sizes_off_the_guides_lines(spark, tmp_path):
    assert partitioning.file_size_number(spark, str(tmp_path), 0) == dict(
        key="smallfiles.under_10mb_vs_128mb.slowdown", value=None, unit="x", claim="files-small-files-slower",
        note="skipped")
    assert not list(tmp_path.iterdir())  # nothing written when skipped
    with pytest.raises(ValueError, match="large_mb"):
        partitioning.file_size_number(spark, str(tmp_path), 64)


def test_bucketed_join_plans_and_dropped_tables_and_folder_values(spark, facts, tmp_path):
    bucketed, unbucketed = partitioning.bucketed_join_plans(spark, facts, datagen.customers(spark, 200),
                                                            "customer_id", 4, names=("f_b4", "d_b4"))
    assert bucketed.joins == ["SortMergeJoin"] and bucketed.exchanges == 0 and unbucketed.exchanges == 2
    layouts = partitioning.bucketing_layouts(facts.repartition(3), "customer_id", 4, str(tmp_path / "b"),
                                             prefix="dropped", drop_tables=True)
    assert not any(spark.catalog.tableExists(t) for t in layouts["table"])
    assert layouts.iloc[1]["files"] <= 4 and (tmp_path / "b" / "plain").exists()  # the files stay
    days = facts.where("year = 2024 AND month = 1").selectExpr("*", "to_date(ts) AS d")
    per_folder = partitioning.folder_layouts(days, str(tmp_path / "f"), "d", "customer_id", 4)
    assert per_folder.attrs["values"] == days.select("d").distinct().count() == per_folder.iloc[1]["folders"] > 20
