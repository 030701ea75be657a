"""labkit.experiments.skew: notebook 02's checks, its measured sweep, and the claim rows it records."""

import dataclasses
import re

import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit.core import datagen
from labkit.core.bench import sweep, sweep_projection
from labkit.core.measure import Measurement
from labkit.core.session import spark_conf
from labkit.experiments import skew as skew_exp
from labkit.topics import skew

AGGS = {"total": ("sum", "amount"), "n": ("count", "*"), "n_amount": ("count", "amount"),
        "lo": ("min", "amount"), "hi": ("max", "txn"), "mean": ("avg", "amount")}
_REQUIRED = [f.name for f in dataclasses.fields(Measurement)
             if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def run(label: str, wall: float, **fields) -> Measurement:
    """A Measurement built by keyword: every metric 0 and no stage, unless given."""
    return Measurement(**{**dict.fromkeys(_REQUIRED, 0), "heaviest_stage": None, "shuffle_stage": None,
                          "label": label, "wall_s": wall, **fields})


@pytest.fixture(scope="module")
def large(spark):
    """Hot keys 1 and 2 (70% of rows), null keys, and keys 900.. that the small side lacks."""
    k = (F.when(F.col("id") % 10 < 4, F.lit(1)).when(F.col("id") % 10 < 7, F.lit(2))
         .when(F.col("id") % 50 == 7, F.lit(None)).otherwise(F.col("id") % 1000))
    return spark.range(0, 6_000, 1, 3).select(F.col("id").alias("txn"), k.cast("long").alias("k"),
                                              (F.col("id") % 97).cast("double").alias("amount")).cache()


@pytest.fixture(scope="module")
def small(spark):
    """Keys 0..799 (so 800..999 are missing), key 2 twice (a duplicate), and a null key."""
    rows = [(i, f"name-{i}") for i in range(800)] + [(2, "name-2-dup"), (None, "null-key")]
    return spark.createDataFrame(rows, "k long, name string").cache()


# --------------------------------------------------------------------------- checks


def test_verify_techniques_compares_every_technique_with_salt_by_and_counts_the_rows(large, small):
    checked = skew_exp.verify_techniques(large.repartition(5), small, "k", [1, 2], 8, AGGS, salt_by=["txn"])
    assert list(checked.index) == ["salted join", "salted left join, half the keys missing", "hot keys salted",
                                   "hot keys salted, null among them", "two-stage aggregate", "isolated hot keys",
                                   "isolated hot keys, null among them"]
    inner, groups = large.join(small, "k").count(), large.select("k").distinct().count()
    assert checked.loc["salted join", "rows"] == checked.loc["hot keys salted", "rows"] == inner
    assert checked.loc["hot keys salted, null among them", "rows"] == large.join(small, "k", "left").count()
    assert (checked.loc[["two-stage aggregate", "isolated hot keys", "isolated hot keys, null among them"], "rows"]
            == groups).all()


def test_verify_techniques_names_a_technique_that_loses_rows(large, small, monkeypatch):
    real = skew.salted_join_hot_keys
    monkeypatch.setattr(skew, "salted_join_hot_keys", lambda *a, **kw: real(*a, **kw).filter("k != 1"))
    with pytest.raises(AssertionError, match="hot keys salted"):
        skew_exp.verify_techniques(large, small, "k", [1, 2], 4, AGGS)


def test_salt_stability_refuses_ids_that_repeat_and_inputs_too_large_to_collect(spark):
    df = spark.range(0, 100).selectExpr("id % 10 AS k", "id")
    with pytest.raises(ValueError, match=r"do not identify the rows: 90 rows repeat an id"):
        skew_exp.salt_stability(df, "k")
    with pytest.raises(ValueError, match="100 rows is more than max_rows=50"):
        skew_exp.salt_stability(df, "id", max_rows=50)
    with pytest.raises(ValueError, match=r"id column \['nope'\] not found"):
        skew_exp.salt_stability(df, "nope")


def test_checked_aggs_are_the_four_aggregates_the_notebook_compares_and_salt_exactly(spark):
    assert skew_exp.CHECKED_AGGS == {"revenue": ("sum", "amount"), "orders": ("count", "*"),
                                     "biggest": ("max", "amount"), "mean_qty": ("avg", "quantity")}
    facts = datagen.transactions(spark, 2_000, customers=20, skew=datagen.HotKeys(0.8, 1), partitions=2)
    plain = facts.groupBy("customer_id").agg(F.sum("amount").alias("revenue"), F.count("*").alias("orders"),
                                             F.max("amount").alias("biggest"), F.avg("quantity").alias("mean_qty"))
    assertDataFrameEqual(skew.salted_aggregate(facts, "customer_id", skew_exp.CHECKED_AGGS, 4), plain)


def test_isolation_check_counts_what_the_guides_technique_4_loses(spark):
    df = spark.range(0, 3_000, 1, 3).selectExpr("id AS txn_id", "IF(id % 3 = 0, 1, id % 50) AS k")
    got = skew_exp.isolation_check(df, df, "k", [1], salts=4, partitions=10, null_every=10)
    assert got["spread over"] == 1  # repartition(10, k): key 1 stays in one partition
    assert got["rows"] == got["counted"] == 3_000 and got["kept"] == 3_000 - 300  # the 300 null keys are in neither
    with pytest.raises(ValueError, match="null_every"):
        skew_exp.isolation_check(df, df, "k", [1], salts=4, null_every=0)


def test_detector_checks_score_the_even_data_and_the_one_hot_partition(spark):
    even = datagen.transactions(spark, 4_000, customers=100, skew=None, partitions=2)
    one_hot = datagen.transactions(spark, 4_000, customers=100, skew=datagen.HotKeys(0.8, 1), partitions=2)
    got = {r["key"]: r for r in skew_exp.detector_checks(even, one_hot, "customer_id", partitions=20)}
    assert list(got) == ["detect.uniform_key_skew_ratio", "detect.one_customer_80pct.partition_ratio"]
    report = skew.skew_report(even, "customer_id")
    assert got["detect.uniform_key_skew_ratio"]["value"] == pytest.approx(report.skew_ratio)
    assert got["detect.uniform_key_skew_ratio"]["note"].endswith(f"says {report.verdict}")
    one = skew.partition_spread(one_hot, "customer_id", [20]).iloc[0]
    ratio = got["detect.one_customer_80pct.partition_ratio"]
    assert ratio["value"] == pytest.approx(one["largest partition"] / one["median partition"]) and ratio["value"] > 5
    assert ratio["claim"] == "skew-99-1min-30min" and "20 partitions" in ratio["note"]


# --------------------------------------------------------------------------- measured


def test_join_task_view_measures_the_plain_join_in_its_settings(spark, large, small):
    view = skew_exp.join_task_view(large, small, "k", {"spark.sql.autoBroadcastJoinThreshold": -1,
                                                       "spark.sql.adaptive.enabled": False}, "plain")
    assert view.label == "plain" and view.plan.joins == ["SortMergeJoin"]  # broadcast off inside the settings
    assert view.shuffle_stage is not None and view.stage_tasks_ms[view.shuffle_stage]
    assert spark.conf.get("spark.sql.autoBroadcastJoinThreshold") != "-1"  # restored afterwards


def test_groupby_skew_table_times_each_grouping_and_keeps_the_results_equal(spark):
    df = spark.range(20_000).selectExpr("IF(id % 10 < 8, 1, id % 97) AS k", "CAST(id % 1000 AS DOUBLE) AS v").cache()
    table = skew_exp.groupby_skew_table(df, "k", "v", salts=4, repeats=1)
    assert list(table.index) == ["groupBy sum", "two-stage sum, 4 salts", "groupBy collect_list",
                                 "groupBy exact median", "row_number over the key"]
    assert table.loc["groupBy sum", "speedup"] == 1.0 and (table["max/median task"] >= 1).all()
    # partial aggregation: the plain sum shuffles about one row per key per map task, collect_list every row
    assert table.loc["groupBy sum", "shuffle_read_bytes"] < table.loc["groupBy collect_list", "shuffle_read_bytes"]
    with pytest.raises(ValueError, match="salts"):
        skew_exp.groupby_skew_table(df, "k", "v", salts=0)


def test_join_variants_are_the_plain_join_and_its_salted_versions(large, small):
    variants = skew_exp.join_variants(small, "k", [2, 4], [1, 2], hot_salts=3)
    assert list(variants) == ["plain (AQE off)", "AQE skew join", "salted 2", "salted 4", "hot keys salted 3"]
    plain = large.join(small, "k")
    for fn in variants.values():
        assertDataFrameEqual(fn(large), plain)  # every variant is the plain inner join, row for row


def test_replication_table_counts_rows_and_rejects_bad_salts():
    t = skew_exp.replication_table(100, 5, [1, 8])
    assert t.to_dict("records") == [{"salts": 1, "full salting": 100, "hot keys only": 100},
                                    {"salts": 8, "full salting": 800, "hot keys only": 135}]
    with pytest.raises(ValueError, match="salts must be an integer >= 1"):
        skew_exp.replication_table(100, 5, [0])


# --------------------------------------------------------------------------- a hand-made sweep: every number known

VARIANTS = ["plain (AQE off)", "salted 2", "salted 4", "broadcast"]
# the join (shuffle) stage of each variant's one run: tasks (ms) and the stage's wall time (ms); broadcast has none
STAGES = {"plain (AQE off)": ([100, 10, 10, 10], 130.0), "salted 2": ([30] * 4, 60.0), "salted 4": ([20] * 8, 100.0)}


def _hand_sweep() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A sweep table and its projection written by hand, in the shape bench.sweep and bench.sweep_projection give."""
    measured = {  # dataset -> variant -> (speedup, lo, hi, median_s, min_s, max_s)
        "0%": {"plain (AQE off)": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0), "salted 2": (0.8, 0.7, 0.9, 1.25, 1.1, 1.4),
               "salted 4": (0.7, 0.6, 0.8, 1.4, 1.3, 1.6), "broadcast": (1.5, 1.4, 1.6, 1.0, 0.9, 1.2)},
        "80%": {"plain (AQE off)": (1.0, 1.0, 1.0, 2.4, 2.4, 2.4), "salted 2": (1.5, 1.2, 1.8, 1.6, 1.5, 1.7),
                "salted 4": (2.0, 1.6, 2.4, 1.2, 1.1, 1.3), "broadcast": (3.0, 2.8, 3.2, 0.8, 0.75, 1.0)}}
    cols = ["speedup", "speedup_lo", "speedup_hi", "median_s", "min_s", "max_s"]
    table = pd.DataFrame([{"dataset": d, "variant": v, **dict(zip(cols, x, strict=True)), "skew_ratio": 9.0 - i,
                           "shuffle_read_bytes": (i + 1) * 2**20}
                          for d, rows in measured.items() for i, (v, x) in enumerate(rows.items())])
    runs = {v: run(v, 1.0, shuffle_stage=3, stage_tasks_ms={3: tasks}, stage_wall_ms={3: wall})
            for v, (tasks, wall) in STAGES.items()}
    runs["broadcast"] = run("broadcast", 1.0, heaviest_stage=1, stage_tasks_ms={1: [10]}, stage_wall_ms={1: 10.0})
    table.attrs.update(runs={d: [runs[v] for v in VARIANTS] for d in measured}, cores=2)
    projected = {"0%": [1.0, 0.9, 0.95, 1.2], "80%": [1.0, 1.8, 2.7, 3.5]}
    limited = {"salted 4": "stage 3 (8 tasks)"}
    projection = pd.DataFrame([{"dataset": d, "variant": v, "projected_speedup_4": p,
                                "limited_by_4": limited.get(v, "")}
                               for d, ps in projected.items() for v, p in zip(VARIANTS, ps, strict=True)])
    return table, projection


def test_salting_claims_are_the_hand_computed_numbers_of_a_hand_made_sweep():
    table, projection = _hand_sweep()
    got = {r["key"]: r for r in skew_exp.salting_claims(table, projection, [2, 4], 4, setting="test data")}
    assert list(got) == ["claim.salting_5x.measured", "claim.salting_5x.projected_max",
                         "claim.join_stage_10x.projected_max", "claim.broadcast_skew_effect"]
    assert got["claim.salting_5x.measured"] == dict(  # salted 4 is the faster salt count at 80%: 2.0x (1.6-2.4)
        key="claim.salting_5x.measured", value=2.0, unit="x", claim="skew-salting-10min-2min", kind="measured",
        spread=(1.6, 2.4), note="best salt count here: 4; test data")
    assert got["claim.salting_5x.projected_max"] == dict(
        key="claim.salting_5x.projected_max", value=2.7, unit="x", claim="skew-salting-10min-2min", kind="projected",
        note="4 cores; limited by: stage 3 (8 tasks)")
    # the join stage alone on 4 cores: plain [100, 10, 10, 10] takes 100 ms, salted 2 [30] * 4 takes 30 ms,
    # salted 4 [20] * 8 takes 2 rounds of 20 ms: the best is 100 / 30
    stage = got["claim.join_stage_10x.projected_max"]
    assert stage["value"] == pytest.approx(100 / 30) and stage["claim"] == "skew-one-partition-10x"
    assert stage["kind"] == "projected" and stage["note"] == "join stage, best salt count, 4 cores"
    # the broadcast join: median 1.0 s at 0% and 0.8 s at 80%; runs 0.9-1.2 s and 0.75-1.0 s
    effect = got["claim.broadcast_skew_effect"]
    assert effect["value"] == pytest.approx(1.25) and effect["claim"] == "skew-broadcast-works-with-skew"
    assert effect["spread"] == (pytest.approx(0.9 / 1.0), pytest.approx(1.2 / 0.75)) and effect["kind"] == "measured"
    assert effect["note"].startswith("the broadcast join's time at 0% hot share / at 80%")


def test_salting_claims_name_what_the_sweep_lacks():
    table, projection = _hand_sweep()
    with pytest.raises(ValueError, match=r"no \['salted 8'\]"):
        skew_exp.salting_claims(table, projection, [2, 8], 4)
    with pytest.raises(ValueError, match="no 64 cores"):
        skew_exp.salting_claims(table, projection, [2, 4], 64)
    with pytest.raises(ValueError, match="no dataset '95%'"):
        skew_exp.salting_claims(table, projection, [2, 4], 4, dataset="95%")


def test_sweep_summary_reads_balance_and_the_floor_from_the_median_runs():
    table, projection = _hand_sweep()
    summary = skew_exp.sweep_summary(table, projection, "80%")
    assert list(summary.index) == VARIANTS
    assert summary["speedup"].tolist() == [1.0, 1.5, 2.0, 3.0]
    assert summary["projected_speedup_4"].tolist() == [1.0, 1.8, 2.7, 3.5]
    assert summary["shuffle read (MB)"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert summary["join-stage max/median"].tolist() == [9.0, 8.0, 7.0, 6.0]
    # on 2 cores: balance = total task time / 2 / stage time; floor = max(longest task, total / 2)
    assert summary["balance"].tolist() == pytest.approx([65 / 130, 60 / 60, 80 / 100, 5 / 10])
    assert summary["time / floor"].tolist() == pytest.approx([130 / 100, 60 / 60, 100 / 80, 10 / 10])
    assert summary["limited by"].tolist() == ["", "", "stage 3 (8 tasks)", ""]


def test_sweep_guidance_names_the_fastest_variant_and_the_best_salt_count_per_dataset():
    table, projection = _hand_sweep()
    guide = skew_exp.sweep_guidance(table, projection, ["salted 2", "salted 4"], cores=[4])
    assert guide.to_dict("index") == {
        "0%": {"fastest here": "broadcast", "best salts, measured": "salted 2", "its speedup": 0.8,
               "best salts, 4 cores (projected)": "salted 4", "salting wins here": False},
        "80%": {"fastest here": "broadcast", "best salts, measured": "salted 4", "its speedup": 2.0,
                "best salts, 4 cores (projected)": "salted 4", "salting wins here": True}}


def test_broadcast_skew_effect_reads_the_sweeps_medians_and_refuses_missing_ones():
    table, _ = _hand_sweep()
    ratio, (lo, hi) = skew_exp.broadcast_skew_effect(table)
    assert ratio == pytest.approx(1.0 / 0.8) and lo == pytest.approx(0.9 / 1.0) and hi == pytest.approx(1.2 / 0.75)
    assert skew_exp.broadcast_skew_effect(table, "salted 4")[0] == pytest.approx(1.4 / 1.2)
    with pytest.raises(ValueError, match="no dataset"):
        skew_exp.broadcast_skew_effect(table, skewed="95%")
    with pytest.raises(ValueError, match="no runs"):
        skew_exp.broadcast_skew_effect(table, variant="salted 8")


def test_best_salt_tasks_picks_the_salt_count_projected_fastest():
    table = pd.DataFrame()
    table.attrs["runs"] = {"80%": [run("plain (AQE off)", 2.0, shuffle_stage=3, stage_tasks_ms={3: [90, 10]}),
                                   run("plain (AQE off)", 3.0, shuffle_stage=3, stage_tasks_ms={3: [99, 1]}),
                                   run("salted 2", 1.0, shuffle_stage=3, stage_tasks_ms={3: [40, 40]}),
                                   run("salted 4", 1.0, shuffle_stage=3, stage_tasks_ms={3: [30, 30, 30]})]}
    projected = pd.DataFrame({"projected_speedup_8": [1.5, 2.5]}, index=["salted 2", "salted 4"])
    got = skew_exp.best_salt_tasks(table, projected, [2, 4], 8)
    assert got == {"plain (AQE off)": [90, 10], "salted 4": [30, 30, 30]}  # median run of 2; best projected: 4
    projected["projected_speedup_8"] = [3.0, 2.5]
    assert list(skew_exp.best_salt_tasks(table, projected, [2, 4], 8)) == ["plain (AQE off)", "salted 2"]


@pytest.mark.slow
def test_salting_claims_take_a_real_sweep(spark):
    """The hand-made sweep above fixes the numbers; this one checks a sweep bench really runs fits the function."""
    dims = datagen.customers(spark, 200).cache()
    facts = {f"{s:.0%}": datagen.transactions(spark, 6_000, customers=200, skew=datagen.HotKeys(s, 2),
                                              partitions=4).cache() for s in (0.0, 0.8)}
    variants = {"plain (AQE off)": lambda df: df.join(dims, "customer_id"),
                **{f"salted {n}": (lambda df, n=n: skew.salted_join(df, dims, "customer_id", n)) for n in (2, 4)},
                "broadcast": lambda df: df.join(F.broadcast(dims), "customer_id")}
    with spark_conf(spark, {"spark.sql.adaptive.enabled": False, "spark.sql.autoBroadcastJoinThreshold": -1}):
        table = sweep(spark, facts, variants, repeats=2, warmup=0, progress=False)
    proj = sweep_projection(table, cores=[2, 4], baseline="plain (AQE off)")
    got = skew_exp.salting_claims(table, proj, [2, 4], 4, setting="test data")
    assert [r["key"] for r in got] == ["claim.salting_5x.measured", "claim.salting_5x.projected_max",
                                       "claim.join_stage_10x.projected_max", "claim.broadcast_skew_effect"]
    assert all(r["unit"] == "x" and r["value"] > 0 for r in got)
    assert [r["kind"] for r in got] == ["measured", "projected", "projected", "measured"]
    assert re.fullmatch(r"best salt count here: [24]; test data", got[0]["note"])
    assert len(got[0]["spread"]) == len(got[3]["spread"]) == 2
    for n in (2, 4):  # every projection lies between the bounds computed from the same median run's tasks
        assert (proj[f"projected_ms_{n}"] >= proj[["critical_path_ms", f"perfect_ms_{n}"]].max(axis=1) - 1e-6).all()
        assert (proj[f"projected_ms_{n}"] <= proj["one_core_ms"] + 1e-6).all()
    assert (proj["driver_ms"] >= 0).all() and (proj["critical_path_ms"] < proj["one_core_ms"]).all()


def test_sweep_subsets_runs_each_dataset_with_its_kept_variants_and_the_baseline(spark, large, small):
    variants = skew_exp.join_variants(small, "k", [2], [1], hot_salts=2)
    conf = {name: {"spark.sql.adaptive.enabled": False} for name in variants}
    table = skew_exp.sweep_subsets(spark, {"a": large, "b": large}, variants, conf, repeats=1, keep={"b": ["salted 2"]})
    assert table[table["dataset"] == "a"]["variant"].tolist() == list(variants)
    assert table[table["dataset"] == "b"]["variant"].tolist() == ["plain (AQE off)", "salted 2"]
    assert set(table.attrs["runs"]) == {"a", "b"} and table.attrs["cores"] >= 1
    assert (table[table["variant"] == "plain (AQE off)"]["speedup"] == 1.0).all()
    with pytest.raises(ValueError, match="no variant"):
        skew_exp.sweep_subsets(spark, {"a": large}, variants, conf, repeats=1, keep={"a": ["salted 9"]})
