"""The memory model against worked examples, and diagnose on real captured errors and the guide's patterns."""

from pathlib import Path

import pytest

from labkit.topics.memory import diagnose, memory_model, parse_memory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "memory"


@pytest.mark.parametrize("text, mib", [("8g", 8192), ("512m", 512), ("1.5g", 1536), ("2048", 2048), (4096, 4096),
                                       ("1024k", 1), ("1t", 2**20), (" 16G ", 16384), ("64mb", 64)])
def test_memory_strings_parse(text, mib):
    assert parse_memory(text) == mib


@pytest.mark.parametrize("bad", ["8 gigs", "g", "-1g", "1.5.2g", "", "0m", True, 0])
def test_malformed_memory_strings_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="memory"):
        parse_memory(bad)


def test_the_model_matches_sparks_documented_arithmetic():
    # tuning guide: M = usable * spark.memory.fraction, R = M * storageFraction; usable = heap - 300 MiB;
    # configuration: memoryOverhead = max(384 MiB, 0.10 * executor memory)
    m = memory_model("8g", 4)
    assert (m.usable, m.unified, m.storage, m.execution, m.user) == pytest.approx(
        (7892, 4735.2, 2367.6, 2367.6, 3156.8))
    assert (m.per_task_min, m.per_task_max) == pytest.approx((591.9, 1183.8))
    assert m.overhead == pytest.approx(819.2) and m.container == pytest.approx(9011.2)
    guide = memory_model("16g", 4, memory_fraction=0.8, storage_fraction=0.3)
    assert guide.user == pytest.approx((16384 - 300) * 0.2)
    assert guide.storage == pytest.approx((16384 - 300) * 0.8 * 0.3)
    small = memory_model("2g", 1)
    assert small.overhead == 384  # the floor
    explicit = memory_model("4g", 2, overhead="1g", offheap="512m", pyspark_memory="256m")
    assert explicit.container == 4096 + 1024 + 512 + 256
    assert memory_model("8g", 4).as_series().sum() == pytest.approx(m.container)


@pytest.mark.parametrize("kwargs, match", [(dict(memory_fraction=1.2), "memory_fraction must be in"),
                                           (dict(storage_fraction=0), "storage_fraction must be in"),
                                           (dict(executor_memory="300m"), "too small")])
def test_bad_fractions_and_tiny_heaps_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        memory_model(**{"executor_memory": "8g", "executor_cores": 2, **kwargs})


@pytest.mark.parametrize("fixture, category", [("driver_oom", "driver_oom"), ("result_too_large", "result_too_large"),
                                               ("broadcast_oom", "broadcast_oom"), ("executor_oom", "executor_oom")])
def test_diagnose_classifies_errors_captured_from_real_runs(fixture, category):
    found = diagnose((FIXTURES / f"{fixture}.txt").read_text())
    assert found.category == category and found.fixes and found.evidence


@pytest.mark.parametrize("log, category", [
    ("Container killed by YARN for exceeding memory limits. 10.4 GB of 10 GB physical memory used.",
     "container_killed"),
    ("ExecutorLostFailure (executor 3 exited caused by one of the running tasks) Reason: Container from a bad node: "
     "exited with code 137", "container_killed"),
    ("java.io.FileNotFoundException: No such file or directory: s3://bucket/data/in/2024/01/01/sales.csv",
     "file_not_found"),
    ("pyspark.errors.exceptions.captured.AnalysisException: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column ...",
     "analysis"),
    ("com.amazonaws.services.s3.model.AmazonS3Exception: Slow Down (Service: Amazon S3; Status Code: 503; "
     "Error Code: SlowDown", "s3_throttling"),
    ("com.esotericsoftware.kryo.KryoException: Buffer overflow. Available: 0, required: 8", "kryo_buffer"),
    ("java.lang.OutOfMemoryError: GC overhead limit exceeded", "driver_oom"),
    ("everything ran", "unknown"),
])
def test_diagnose_classifies_the_guides_log_patterns(log, category):
    assert diagnose(log).category == category


def test_skew_is_diagnosed_from_task_times():
    assert diagnose("", task_ms=[100, 110, 95, 2000]).category == "skew"
    assert diagnose("", task_ms=[100, 110, 95, 120]).category == "unknown"


@pytest.mark.parametrize("text, mib", [("1.5 GiB", 1536), ("64KB", 1 / 16), ("512 MiB", 512), ("2,048m", 2048)])
def test_memory_strings_in_the_forms_spark_prints_parse_too(text, mib):
    assert parse_memory(text) == mib
