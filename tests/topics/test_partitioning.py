"""The partitioning techniques: write_lake and read_csv, file_stats, compact, partition_stats and range partitions."""

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
    assert [partitioning.partition_count(f) for f in (facts.repartition(8), facts.repartition(7).coalesce(3))] == [8, 3]


def test_rows_per_partition_match_the_rdds_own_partitions_empty_ones_included(spark, facts):
    """The reference: each partition's rows counted in Python from the RDD (``glom``), which ships every row."""
    from labkit.topics.partitioning.partitions import _partition_counts

    two_keys = facts.where("customer_id in (1, 2)")  # range partitioning is left out: each execution samples
    for df in (facts.repartition(8, "customer_id"), facts.repartition(8),  # its bounds, so two runs cut elsewhere
               facts.repartition(7).coalesce(3), two_keys.repartition(8, "customer_id")):
        assert _partition_counts(df) == df.rdd.glom().map(len).collect()
    counts = _partition_counts(two_keys.repartition(8, "customer_id"))
    assert len(counts) == 8 and counts.count(0) >= 6  # two keys fill at most two of the eight


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
    assert plain.count() == 20_000
    assertDataFrameEqual(bucketed, plain)  # the same rows, without the two exchanges


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


def test_range_partitions_are_contiguous_ranges_in_partition_order(spark, facts):
    bounds = partitioning.range_partitions(facts, "txn_id", 8)
    assert bounds.attrs["ordered"] and len(bounds) == 8 and int(bounds["rows"].sum()) == 20_000
    assert (bounds["max"].iloc[:-1].to_numpy() < bounds["min"].iloc[1:].to_numpy()).all()
    assert not partitioning.ranges_ordered(pd.DataFrame({"min": [0, 3], "max": [5, 9]}))  # overlapping ranges
