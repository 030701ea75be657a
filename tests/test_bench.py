import pytest

from labkit.bench import compare


def test_compare_interleaves_variants_and_reports_medians_and_speedups(spark):
    calls = []
    small = spark.range(0, 1_000, 1, 2)
    big = spark.range(0, 100_000_000, 1, 2)  # seconds of work against milliseconds: robust to a busy machine

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
    assert out.loc["small", "speedup"] > 1.0
    assert (out["min_s"] <= out["median_s"]).all() and (out["median_s"] <= out["max_s"]).all()
    assert len(out.attrs["runs"]) == 6 and out.attrs["baseline"] == "big"
    assert out.loc["big", "tasks"] == 3  # two partial sums and the final one


def test_compare_rejects_bad_arguments(spark):
    with pytest.raises(ValueError, match="at least one variant"):
        compare({}, spark=spark)
    with pytest.raises(ValueError, match="baseline 'c' is not one of"):
        compare({"a": lambda: None}, baseline="c", spark=spark)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        compare({"a": lambda: None}, repeats=0, spark=spark)


def test_median_run_picks_the_middle_wall_time_of_a_variant():
    from labkit.bench import median_run
    from labkit.measure import Measurement

    def run(label, wall):
        return Measurement(label, wall, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, 0.0)

    runs = [run("a", 3.0), run("b", 9.0), run("a", 1.0), run("a", 2.0), run("a", 4.0)]
    assert median_run(runs, "a").wall_s == 2.0  # the lower middle of 1, 2, 3, 4
    assert median_run(runs, "b").wall_s == 9.0
    with pytest.raises(ValueError, match="no run labelled 'c'"):
        median_run(runs, "c")
