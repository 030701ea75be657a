"""The memory model against worked examples, diagnose on real captured errors, and OOMs run in child processes."""

import contextlib
from pathlib import Path

import pytest

from labkit.topics import memory
from labkit.topics.memory import diagnose, memory_model, parse_memory, run_isolated

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


def test_an_unknown_workload_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown workload 'explode'.*collect_large"):
        run_isolated("explode")


def test_a_lost_task_oom_in_local_mode_is_the_drivers_heap_and_on_a_cluster_the_executors():
    # the log of a local[2] collect that ran out of heap inside a task thread (as seen on CI)
    log = ("ERROR Executor: Exception in task 3.0 in stage 0.0 (TID 3)\njava.lang.OutOfMemoryError: Java heap space\n"
           "WARN TaskSetManager: Lost task 3.0 in stage 0.0 (TID 3) (127.0.0.1 executor driver): "
           "java.lang.OutOfMemoryError: Java heap space")
    local = memory._outcome("collect_large", "", log, 1, 1.0, "local[2]")
    cluster = memory._outcome("collect_large", "", log, 1, 1.0, "local-cluster[2,1,1024]")
    assert (local.status, cluster.status) == ("driver_oom", "executor_oom")
    assert local.fixes == memory.CATEGORIES["driver_oom"][1] and "driver's JVM" in local.log[0]
    assert cluster.fixes == memory.CATEGORIES["executor_oom"][1]


def _gone(pgid):
    return memory.group_alive(pgid) == []


@contextlib.contextmanager
def _watched_scratch(tmp_path, monkeypatch):
    """Make each child's scratch folder under ``tmp_path``; yield what those folders held while the children ran."""
    import tempfile
    import threading

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen, done = set(), threading.Event()

    def watch():
        while not done.wait(0.1):
            for scratch in tmp_path.glob("labkit-*"):
                try:
                    seen.update(p.name.split("-")[0].split(".")[0] for p in scratch.iterdir())
                except OSError:  # removed between the glob and the listing
                    pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


@pytest.mark.slow
def test_a_512m_driver_fails_to_collect_and_the_fix_passes_with_nothing_left_running(tmp_path, monkeypatch):
    conf = {"spark.driver.memory": "512m", "spark.driver.maxResultSize": "0"}
    with _watched_scratch(tmp_path, monkeypatch) as seen:
        failed = run_isolated("collect_large", conf, timeout_s=180)
        fixed = run_isolated("aggregate_instead", conf, timeout_s=180)
    assert failed.status == "driver_oom" and "OutOfMemoryError" in " ".join(failed.log)
    assert fixed.status == "ok" and fixed.result == 4_000_000
    assert _gone(failed.pgid) and _gone(fixed.pgid)
    # the children's JVMs wrote Spark's folders (SPARK_LOCAL_DIRS) and the native libraries (java.io.tmpdir) into
    # their scratch folders, not the machine's temp folder; and those are gone
    assert {"spark", "blockmgr", "liblz4"} <= seen, seen
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_child_that_runs_too_long_is_killed_with_its_jvm(tmp_path, monkeypatch):
    with _watched_scratch(tmp_path, monkeypatch):
        out = run_isolated("collect_large", {"spark.driver.memory": "1g"}, timeout_s=3)
    assert out.status == "timeout" and _gone(out.pgid) and list(tmp_path.iterdir()) == []


def test_every_workload_has_a_docstring():
    assert all(fn.__doc__ for fn in memory.WORKLOADS.values())


def test_java_17_picks_g1_when_no_collector_flag_is_given(spark):
    from labkit.core import runtime

    if runtime.is_connect(spark):
        with pytest.raises(runtime.ConnectUnsupported, match="garbage collectors"):
            memory.jvm_collectors(spark)
        return
    gc = memory.jvm_collectors(spark)
    assert int(gc["java"].split(".")[0]) >= 17 and gc["gc_flags"] == []
    assert gc["collectors"] == ["G1 Young Generation", "G1 Old Generation"] and gc["g1_by_default"] is True
