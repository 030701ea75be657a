import pytest

from labkit.core.bench import compare, sweep


def test_compare_interleaves_variants_and_reports_medians_and_speedups(spark):
    calls = []
    small = spark.range(0, 1_000, 1, 2)
    big = spark.range(0, 1_000_000, 1, 2)

    def variant(name, df):
        def run():
            calls.append(name)
            return df.selectExpr("sum(id)").collect()
        return run

    out = compare({"big": variant("big", big), "small": variant("small", small)}, repeats=3, warmup=1,
                  spark=spark, progress=False)
    assert calls == ["big", "small"] * 4  # one warm-up round, then A B A B A B
    assert list(out.index) == ["big", "small"] and (out["runs"] == 3).all()
    assert out.loc["big", "speedup"] == 1.0
    assert out.loc["small", "speedup"] == pytest.approx(out.loc["big", "median_s"] / out.loc["small", "median_s"])
    assert (out["min_s"] <= out["median_s"]).all() and (out["median_s"] <= out["max_s"]).all()
    assert len(out.attrs["runs"]) == 6 and out.attrs["baseline"] == "big"
    assert out.loc["big", "tasks"] == 3  # two partial sums and the final one


def test_compare_warms_up_once_by_default_and_not_before_a_single_smoke_run(spark):
    calls = []

    def variant(name):
        return lambda: calls.append(name)

    compare({"a": variant("a"), "b": variant("b")}, repeats=2, spark=spark, progress=False)
    assert calls == ["a", "b"] * 3  # one warm-up round, then two measured
    calls.clear()
    out = compare({"a": variant("a"), "b": variant("b")}, repeats=1, spark=spark, progress=False)
    assert calls == ["a", "b"] and (out["runs"] == 1).all()  # tiny scale: one run each, none unmeasured
    calls.clear()
    compare({"a": variant("a")}, repeats=1, warmup=2, spark=spark, progress=False)
    assert calls == ["a"] * 3  # an explicit warm-up is kept


def test_compare_rejects_bad_arguments(spark):
    with pytest.raises(ValueError, match="at least one variant"):
        compare({}, spark=spark)
    with pytest.raises(ValueError, match="baseline 'c' is not one of"):
        compare({"a": lambda: None}, baseline="c", spark=spark)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        compare({"a": lambda: None}, repeats=0, spark=spark)


def test_median_run_picks_the_middle_wall_time_of_a_variant(make_measurement):
    from labkit.core.bench import median_run

    def run(label, wall):
        return make_measurement(label=label, wall_s=wall, jobs=1, stages=1, tasks=1)

    runs = [run("a", 3.0), run("b", 9.0), run("a", 1.0), run("a", 2.0), run("a", 4.0)]
    assert median_run(runs, "a").wall_s == 2.0  # the lower middle of 1, 2, 3, 4
    assert median_run(runs, "b").wall_s == 9.0
    with pytest.raises(ValueError, match="no run labelled 'c'"):
        median_run(runs, "c")


def test_sweep_compares_variants_per_dataset(spark):
    large = spark.range(0, 2_000).selectExpr("id % 10 as k", "id as v")
    small = spark.range(0, 10).withColumnRenamed("id", "k")

    out = sweep(spark, {"skewed": large}, {"plain": lambda df: df.join(small, "k"),
                                                "broadcast": lambda df: df.join(small.hint("broadcast"), "k")},
                     conf={"plain": {"spark.sql.autoBroadcastJoinThreshold": -1}}, repeats=1, warmup=0,
                     progress=False)
    assert list(out["variant"]) == ["plain", "broadcast"] and list(out["dataset"]) == ["skewed", "skewed"]
    assert out.loc[0, "speedup"] == 1.0 and len(out.attrs["runs"]["skewed"]) == 2
    with pytest.raises(ValueError, match="do not exist"):
        sweep(spark, {"x": large}, {"plain": lambda df: df}, conf={"typo": {}})


def test_compare_gives_each_ratio_its_spread_and_pair_ratio_pairs_rounds(spark):
    import time as _time

    from labkit.core.bench import compare, pair_ratio

    def slow():
        _time.sleep(0.3)  # every run of it takes at least this long: a bound that does not depend on the load
        spark.range(10).count()

    def fast():
        spark.range(10).count()

    table = compare({"slow": slow, "fast": fast}, repeats=3, warmup=0, progress=False)
    row = table.loc["fast"]
    walls = {v: [m.wall_s for m in table.attrs["runs"] if m.label == v] for v in ("slow", "fast")}
    assert len(walls["slow"]) == len(walls["fast"]) == 3 and min(walls["slow"]) >= 0.3
    rounds = [s / f for s, f in zip(walls["slow"], walls["fast"], strict=True)]  # same round, paired
    assert (row["speedup_lo"], row["speedup_hi"]) == pytest.approx((min(rounds), max(rounds)))
    assert row["speedup_lo"] <= row["speedup"] <= row["speedup_hi"]  # no timing between two variants is asserted
    assert table.loc["slow", "speedup_lo"] == table.loc["slow", "speedup_hi"] == 1.0
    pr = pair_ratio(table, "slow", "fast")
    assert pr["speedup"] == pytest.approx(row["speedup"]) and pr["speedup_lo"] == pytest.approx(row["speedup_lo"])
    with pytest.raises(ValueError, match="no runs of"):
        pair_ratio(table, "slow", "missing")
