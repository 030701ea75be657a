"""Notebook 05's experiments: OOMs run in child processes, classified, cleaned up; the comparisons through bench."""

import contextlib
import json

import pytest

from labkit.core import bench, runtime
from labkit.core.measure import Measurement
from labkit.experiments import memory as memory_exp
from labkit.experiments.memory import comparisons, isolated, run_isolated
from labkit.tools.child import group_alive
from labkit.topics.memory import CATEGORIES


def test_an_unknown_workload_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown workload 'explode'.*collect_large"):
        run_isolated("explode")


def test_a_lost_task_oom_in_local_mode_is_the_drivers_heap_and_on_a_cluster_the_executors():
    # the log of a local[2] collect that ran out of heap inside a task thread (as seen on CI)
    log = ("ERROR Executor: Exception in task 3.0 in stage 0.0 (TID 3)\njava.lang.OutOfMemoryError: Java heap space\n"
           "WARN TaskSetManager: Lost task 3.0 in stage 0.0 (TID 3) (127.0.0.1 executor driver): "
           "java.lang.OutOfMemoryError: Java heap space")
    local = isolated._outcome("collect_large", "", log, 1, 1.0, "local[2]")
    cluster = isolated._outcome("collect_large", "", log, 1, 1.0, "local-cluster[2,1,1024]")
    assert (local.status, cluster.status) == ("driver_oom", "executor_oom")
    assert local.fixes == CATEGORIES["driver_oom"][1] and "driver's JVM" in local.log[0]
    assert cluster.fixes == CATEGORIES["executor_oom"][1]


def test_the_childs_report_line_is_the_outcome_and_its_absence_an_error_naming_the_exit_code():
    ok = isolated._outcome("collect_large", 'noise\nLABKIT-OUTCOME {"status": "ok", "result": 7}\n', "", 0, 2.5)
    assert (ok.status, ok.result, ok.wall_s, ok.error_class) == ("ok", 7, 2.5, "")
    died = isolated._outcome("collect_large", "", "Segmentation fault", 139, 1.0)
    assert (died.status, died.error_class) == ("error", "exit code 139")
    assert "OomOutcome(collect_large: error in 1.0s, exit code 139" in repr(died)


def _gone(pgid):
    return group_alive(pgid) == []


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
    """The fix, then the failure, in one real child (as notebook 05 runs them): one JVM start, not two."""
    conf = {"spark.driver.memory": "512m", "spark.driver.maxResultSize": "0"}
    with _watched_scratch(tmp_path, monkeypatch) as seen:
        fixed, failed = memory_exp.run_in_one_child([("aggregate_instead", conf, {}), ("collect_large", conf, {})],
                                                    timeout_s=180)
    assert failed.status == "driver_oom" and "OutOfMemoryError" in " ".join(failed.log)
    assert fixed.status == "ok" and fixed.result == 4_000_000
    assert failed.pgid > 0 and fixed.pgid == failed.pgid  # one child ran both
    assert _gone(failed.pgid)
    # the children's JVMs wrote Spark's folders (SPARK_LOCAL_DIRS) and the native libraries (java.io.tmpdir) into
    # their scratch folders, not the machine's temp folder; and those are gone
    assert {"spark", "blockmgr", "liblz4"} <= seen, seen
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_child_that_runs_too_long_is_killed_with_its_jvm(tmp_path, monkeypatch):
    with _watched_scratch(tmp_path, monkeypatch):
        out = run_isolated("collect_large", {"spark.driver.memory": "1g"}, timeout_s=3)
    assert out.status == "timeout" and out.pgid > 0 and _gone(out.pgid) and list(tmp_path.iterdir()) == []


def test_every_workload_has_a_docstring():
    assert all(fn.__doc__ for fn in memory_exp.WORKLOADS.values())


def test_every_demo_runs_a_known_workload_and_expects_a_status_the_outcome_can_have():
    statuses = {"ok", "driver_oom", "executor_oom", "result_too_large", "container_killed"}
    for workload, _conf, _params, _master, expected, _quick in memory_exp.DEMOS.values():
        assert workload in memory_exp.WORKLOADS and expected in statuses


def test_the_collectors_are_read_from_the_jvm_with_the_flag_it_was_started_with(spark):
    """The session's JVM runs Serial (tests/conftest.py): flag and collectors are read back, and it is not G1's default.

    Notebook 05 checks the other case on its own kernel's JVM, started with no GC flag: G1 by default on Java 17.
    """
    if runtime.is_connect(spark):
        with pytest.raises(runtime.ConnectUnsupported, match="garbage collectors"):
            memory_exp.jvm_collectors(spark)
        return
    gc = memory_exp.jvm_collectors(spark)
    assert int(gc["java"].split(".")[0]) >= 17 and gc["gc_flags"] == ["-XX:+UseSerialGC"]  # TEST_SESSION_GC
    assert gc["collectors"] == ["Copy", "MarkSweepCompact"] and gc["g1_by_default"] is False


def test_classic_collectors_are_jvm_collectors_on_a_classic_session_and_none_on_connect(spark, monkeypatch):
    if runtime.is_connect(spark):
        assert memory_exp.classic_collectors(spark) is None
        return
    assert memory_exp.classic_collectors(spark) == memory_exp.jvm_collectors(spark)
    monkeypatch.setattr(runtime, "is_connect", lambda _spark: True)
    assert memory_exp.classic_collectors(spark) is None


# --------------------------------------------------------------------------- the comparisons, through bench


def _child_json(result):
    """What the parent reads back: the child prints its result as JSON."""
    return json.loads(json.dumps(result, default=str))


def test_the_spill_workload_compares_its_partition_counts_through_bench_and_survives_the_json(spark):
    params = {"rows": 4000, "partitions": [2, 4], "repeats": 2, "warmup": 1}
    out = _child_json(memory_exp.WORKLOADS["sort_spill"](spark, params))
    table = comparisons._table(out["table"])
    runs = comparisons._runs(out["runs"])
    assert list(table.index) == ["2", "4"] and list(table["runs"]) == [2, 2]
    assert [m.label for m in runs] == ["2", "4", "2", "4"]  # interleaved, the warm-up round not measured
    assert all(isinstance(m, Measurement) and m.tasks > 0 for m in runs)
    assert table.loc["2", "speedup"] == 1.0


def test_the_cache_workload_measures_its_first_read_apart_from_the_later_ones(spark):
    out = _child_json(memory_exp.WORKLOADS["cache_levels"](spark, {"rows": 4000, "level": "NONE", "reads": 3,
                                                                   "partitions": 4}))
    assert out["first"]["label"] == "NONE first" and out["first"]["tasks"] > 0
    assert [m.label for m in comparisons._runs(out["runs"])] == ["NONE", "NONE"]


def _run(label, wall_s, **metrics):
    fields = {f: 0 for f in Measurement.__dataclass_fields__}
    fields.update(label=label, wall_s=wall_s, heaviest_stage=None, shuffle_stage=None, **metrics)
    for name in ("heaviest_stage_tasks_ms", "stage_tasks_ms", "stage_wall_ms", "plan", "result", "ui_url"):
        fields.pop(name)
    return Measurement(**fields).as_dict()


def _fake_children(monkeypatch, results):
    """Replace run_isolated with children that return ``results`` in turn; return the calls made."""
    calls = []

    def fake(workload, conf=None, master="local[2]", timeout_s=120, params=None):
        calls.append((workload, dict(conf or {}), dict(params or {})))
        return isolated.OomOutcome(workload, "ok", result=results[len(calls) - 1])

    monkeypatch.setattr(comparisons, "run_isolated", fake)
    return calls


def test_serializer_children_alternate_and_the_speedup_is_bench_pair_ratio_over_every_run(monkeypatch):
    def child(factor):  # one child: each job twice; the Kryo child is `factor` times faster on the JVM RDD
        walls = {"jvm_rdd": (4.0, 6.0), "python_rdd": (2.0, 2.0), "dataframe": (1.0, 1.0)}
        return {"runs": [_run(job, w[i] / (factor if job == "jvm_rdd" else 1.0))
                         for i in range(2) for job, w in walls.items()]}

    calls = _fake_children(monkeypatch, [child(1), child(2), child(1), child(4)])
    table = memory_exp.compare_serializers(rows=10, rounds=2, repeats=2, warmup=1)
    assert [c[1]["spark.serializer"].rsplit(".", 1)[1] for c in calls] == ["JavaSerializer", "KryoSerializer"] * 2
    assert all(c[2] == {"rows": 10, "repeats": 2, "warmup": 1} for c in calls)
    expected = bench.pair_ratio(table, "java jvm_rdd", "kryo jvm_rdd")
    # Java runs 4, 6, 4, 6 against Kryo 2, 3, 1, 1.5: medians 5 / 1.75, run for run 2 and 4
    assert table.loc["jvm_rdd", "kryo speedup"] == pytest.approx(5 / 1.75) == expected["speedup"]
    assert (table.loc["jvm_rdd", "kryo speedup_lo"], table.loc["jvm_rdd", "kryo speedup_hi"]) == (2.0, 4.0)
    assert table.loc["dataframe", "kryo speedup"] == 1.0 and table.loc["jvm_rdd", "java"] == 4.0


def test_cache_levels_run_one_child_each_and_their_ratio_is_bench_pair_ratio(monkeypatch):
    def child(level, first, later):
        table = [{"variant": level, "median_s": sum(later) / len(later), "tasks": 32}]
        return {"table": table, "runs": [_run(level, w) for w in later], "first": _run(f"{level} first", first),
                "cached_mb_memory": 1.0, "cached_mb_disk": 2.0}

    calls = _fake_children(monkeypatch, [child("NONE", 3, [3, 3]), child("MEMORY_ONLY", 4, [2, 2.5]),
                                         child("MEMORY_AND_DISK", 4, [1, 1])])
    table = memory_exp.compare_cache_levels(rows=10)
    assert [c[2]["level"] for c in calls] == ["NONE", "MEMORY_ONLY", "MEMORY_AND_DISK"]
    assert table.loc["MEMORY_ONLY", "later reads s"] == 2.25 and table.loc["NONE", "first read s"] == 3
    assert table.loc["MEMORY_AND_DISK", "speedup"] == 3.0 and table.loc["NONE", "speedup"] == 1.0
    assert bench.pair_ratio(table, "MEMORY_ONLY", "MEMORY_AND_DISK")["speedup"] == 2.25
    with pytest.raises(ValueError, match="reads >= 2"):
        memory_exp.compare_cache_levels(reads=1)


def test_a_comparison_whose_child_failed_raises_naming_the_failure(monkeypatch):
    monkeypatch.setattr(comparisons, "run_isolated", lambda workload, *a, **k: isolated.OomOutcome(
        workload, "driver_oom", "OutOfMemoryError", ["java.lang.OutOfMemoryError: Java heap space"]))
    with pytest.raises(RuntimeError, match="sort_spill ended driver_oom: java.lang.OutOfMemoryError"):
        memory_exp.compare_spill(rows=10)


@pytest.mark.slow
def test_the_spill_comparison_runs_in_a_child_and_each_partition_count_takes_effect():
    table = memory_exp.compare_spill(rows=100_000, partitions=(1, 16), repeats=1, warmup=0, timeout_s=600)
    assert list(table.index) == [1, 16] and table.loc[1, "speedup"] == 1.0
    runs = {m.label: m for m in table.attrs["runs"]}
    assert sorted(runs) == ["1", "16"] and runs["16"].tasks > runs["1"].tasks  # 16 sort tasks against 1
    assert table.loc[1, "disk spill MB"] >= table.loc[16, "disk spill MB"]  # fewer, larger tasks never spill less


# --------------------------------------------------------------------------- several workloads in one child


def _step_output(*steps):
    """A child's stdout and stderr: per step its marker, its log lines and, when given, its report."""
    out, err = [], []
    for i, (report, log) in enumerate(steps):
        out.append(f"{isolated._STEP}{i}")
        err += [f"{isolated._STEP}{i}", *log]
        if report is not None:
            out.append(isolated._MARK + json.dumps(report))
    return "\n".join(out) + "\n", "\n".join(err) + "\n"


def _fake_child_runs(monkeypatch, runs):
    """Replace run_child in isolated with children that answer ``runs`` in turn; return the steps each was given."""
    from labkit.tools.child import ChildRun

    given = []

    def fake(module, args, timeout_s, **kw):
        given.append(([s["workload"] for s in json.loads(args[0])], json.loads(args[1])["master"], timeout_s))
        out, err, code = runs[len(given) - 1]
        return ChildRun(code, out, err, False, 9.0, 100 + len(given))

    monkeypatch.setattr(isolated, "run_child", fake)
    return given


def test_one_child_runs_its_steps_in_turn_and_each_gets_its_own_outcome(monkeypatch):
    oom = "java.lang.OutOfMemoryError: Java heap space"
    out, err = _step_output(({"status": "ok", "result": 4, "wall_s": 3.0}, []),
                            ({"status": "failed", "error_class": "SparkException", "wall_s": 1.0,
                              "message": "Total size of serialized results of 2 tasks (1.1 MiB) is bigger than "
                                         "spark.driver.maxResultSize (1024.0 KiB)"}, []),
                            (None, [oom]))
    given = _fake_child_runs(monkeypatch, [(out, err, 1)])
    got = memory_exp.run_in_one_child([("aggregate_instead", {"spark.driver.memory": "512m"}, {}),
                                       ("collect_large", {"spark.driver.memory": "512m"}, {"rows": 10}),
                                       ("collect_large", {"spark.driver.memory": "512m"}, {})], timeout_s=10)
    assert given == [(["aggregate_instead", "collect_large", "collect_large"], "local[2]", 30)]
    assert [o.status for o in got] == ["ok", "result_too_large", "driver_oom"] and got[0].result == 4
    assert [o.wall_s for o in got] == [3.0, 1.0, 5.0]  # the crashed step: the child's time after the others
    assert {o.pgid for o in got} == {101} and oom in " ".join(got[2].log)


def test_the_steps_after_one_that_killed_the_child_run_in_a_new_child(monkeypatch):
    first = _step_output((None, ["java.lang.OutOfMemoryError: Java heap space"]))
    second = _step_output(({"status": "ok", "result": "written", "wall_s": 2.0}, []))
    given = _fake_child_runs(monkeypatch, [(*first, 1), (*second, 0)])
    got = memory_exp.run_in_one_child([("collect_large", {}, {}), ("write_instead", {}, {})], timeout_s=5)
    assert [g[0] for g in given] == [["collect_large", "write_instead"], ["write_instead"]]
    assert [(o.status, o.pgid) for o in got] == [("driver_oom", 101), ("ok", 102)]


def test_steps_whose_jvm_settings_differ_cannot_share_a_child():
    with pytest.raises(ValueError, match="JVM settings differ"):
        memory_exp.run_in_one_child([("collect_large", {"spark.driver.memory": "512m"}, {}),
                                     ("collect_large", {"spark.driver.memory": "1g"}, {})])


def test_demos_share_a_child_per_master_and_driver_memory_with_the_failures_last():
    from labkit.experiments.memory import demos

    quick = {k: v for k, v in memory_exp.DEMOS.items() if v[5]}
    assert [[memory_exp.DEMOS[n][4] for n in names] for names in demos._groups(quick).values()] == [
        ["ok", "result_too_large", "driver_oom"]]
    every = demos._groups(dict(memory_exp.DEMOS))
    assert [key[0] for key in every] == ["local[2]", "local-cluster[2,1,1024]"]
    assert sorted(n for names in every.values() for n in names) == sorted(memory_exp.DEMOS)
    assert [[memory_exp.DEMOS[n][4] for n in names] for names in every.values()] == [
        ["ok"] * 4 + ["result_too_large", "driver_oom", "driver_oom"], ["ok", "executor_oom"]]
