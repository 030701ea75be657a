"""labkit.tools.child: a child Python in its own process group, bounded in time, leaving nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from labkit.tools import child


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_a_child_that_prints_returns_its_output_and_leaves_nothing():
    run = child.run_child(argv=_python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"))
    assert (run.returncode, run.stdout, run.stderr, run.timed_out) == (3, "out\n", "err\n", False)
    assert not run.ok
    assert run.tail() == "err"
    assert run.pgid > 0 and child.group_alive(run.pgid) == []
    assert 0 < run.wall_s < 30


def test_a_module_runs_with_its_arguments(tmp_path):
    data = tmp_path / "in.json"
    data.write_text('{"a": [1, 2]}')
    run = child.run_child("json.tool", ["--compact", str(data)], timeout_s=60)
    assert run.ok, run.stderr
    assert run.stdout == '{"a":[1,2]}\n'


def test_a_child_that_times_out_is_killed_with_its_group():
    run = child.run_child(argv=_python("""
        import time
        print('started', flush=True)
        time.sleep(60)
    """), timeout_s=1.5)
    assert run.timed_out and run.returncode is None and not run.ok
    assert run.stdout == "started\n"  # what it printed before it was killed
    assert 1.5 <= run.wall_s < 20
    assert child.group_alive(run.pgid) == []


def test_a_grandchild_left_behind_is_killed(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    run = child.run_child(argv=_python(f"""
        import subprocess, sys
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        open({str(pidfile)!r}, "w").write(str(p.pid))
    """), timeout_s=30)
    assert run.ok, run.stderr
    grandchild = int(pidfile.read_text())
    assert child.group_alive(run.pgid) == []
    try:  # gone, or a zombie that init has not reaped yet (it is no child of ours)
        assert psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass


def test_the_env_is_loopback_unbuffered_classic_and_points_at_the_scratch(monkeypatch):
    monkeypatch.setenv("SPARK_REMOTE", "sc://elsewhere:15002")
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
    run = child.run_child(argv=_python("""
        import json, os
        keys = ["SPARK_LOCAL_IP", "PYTHONUNBUFFERED", "SPARK_LOCAL_DIRS", "LABKIT_CHILD_SCRATCH", "SPARK_REMOTE",
                "SPARK_CONNECT_MODE_ENABLED", "EXTRA"]
        scratch = os.environ["LABKIT_CHILD_SCRATCH"]
        open(os.path.join(scratch, "junk"), "w").write("x")
        print(json.dumps({"env": {k: os.environ.get(k) for k in keys}, "is_dir": os.path.isdir(scratch)}))
    """), env={"EXTRA": "yes"}, scratch_prefix="labkit-test-child-")
    assert run.ok, run.stderr
    seen = json.loads(run.stdout)
    env = seen["env"]
    assert env["SPARK_LOCAL_IP"] == "127.0.0.1" and env["PYTHONUNBUFFERED"] == "1" and env["EXTRA"] == "yes"
    assert env["SPARK_REMOTE"] is None and env["SPARK_CONNECT_MODE_ENABLED"] is None
    scratch = Path(env["LABKIT_CHILD_SCRATCH"])
    assert env["SPARK_LOCAL_DIRS"] == str(scratch) and scratch.name.startswith("labkit-test-child-")
    assert seen["is_dir"]
    assert not scratch.exists()  # removed, with what the child wrote there, once the group was gone


def test_the_scratch_is_removed_after_a_timeout_too(tmp_path):
    where = tmp_path / "scratch.txt"
    run = child.run_child(argv=_python(f"""
        import os, time
        open({str(where)!r}, "w").write(os.environ["LABKIT_CHILD_SCRATCH"])
        time.sleep(60)
    """), timeout_s=2)
    assert run.timed_out
    assert where.exists() and not Path(where.read_text()).exists()


def test_run_child_needs_a_module_or_an_argv_not_both():
    with pytest.raises(ValueError, match="a module .* or an argv"):
        child.run_child()
    with pytest.raises(ValueError, match="not both"):
        child.run_child("platform", argv=["true"])


def test_kill_group_ends_a_started_group_and_reports_nothing_left():
    proc = child.start_in_group(_python("import time; time.sleep(60)"), child.child_env())
    assert os.getpgid(proc.pid) == proc.pid  # the leader of its own group
    assert child.group_alive(proc.pid) == [proc.pid]
    assert child.kill_group(proc.pid, proc) == []
    assert proc.returncode is not None  # reaped: no zombie left
    assert child.group_alive(proc.pid) == []


def test_kill_group_of_a_group_already_gone_is_quiet():
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    proc.wait()
    assert child.kill_group(proc.pid, proc, wait_s=0.5) == []


def test_group_alive_skips_zombies():
    proc = child.start_in_group(_python("pass"), child.child_env())
    deadline = time.monotonic() + 20
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)  # exited but not reaped: a zombie
    assert psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
    assert child.group_alive(proc.pid) == []
    proc.wait()


@pytest.mark.slow
def test_child_session_runs_a_job_on_loopback_with_its_tmpdir_in_the_scratch():
    run = child.run_child(argv=_python("""
        import json
        from labkit.tools.child import child_session
        spark = child_session("labkit-test-child", {"spark.sql.shuffle.partitions": 3}, master="local[1]")
        conf = spark.sparkContext.getConf()
        print("RESULT " + json.dumps({"n": spark.range(10).count(), "host": conf.get("spark.driver.host"),
                                      "ui": conf.get("spark.ui.port"),
                                      "parts": spark.conf.get("spark.sql.shuffle.partitions"),
                                      "java": conf.get("spark.driver.extraJavaOptions"),
                                      "app": spark.sparkContext.appName}))
    """), timeout_s=180)
    assert run.ok, run.tail()
    got = json.loads(next(ln for ln in run.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert (got["n"], got["host"], got["ui"], got["parts"], got["app"]) == (10, "127.0.0.1", "0", "3",
                                                                         "labkit-test-child")
    assert "log4j2.configurationFile=file:" in got["java"] and "-Djava.io.tmpdir=" in got["java"]
    assert child.group_alive(run.pgid) == []
