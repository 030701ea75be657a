"""The lab beyond one JVM: local-cluster, a real standalone cluster (``labkit cluster``) and Spark Connect.

Every cluster here is started by the test with free ports and its own state
folder, and brought down in a ``finally``: nothing is left running, even when an
assertion fails. The notebook runs go through papermill, like ``labkit report``,
and their stderr (the kernel's and the JVM's) must hold no ERROR line. Both the
secured standalone cluster (which also refuses clients without its secret or
token) and the Spark Connect server on local[2] run
``tests/notebooks/1x_cluster_probe.ipynb`` (a lab notebook's start, cached data,
measured comparison, record and close, in ~10 Spark jobs); every lab notebook
runs in full at tiny under nbval.
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labkit.core import paths
from labkit.tools import cluster
from labkit.tools.child import group_alive
from labkit.tools.cluster import processes

REPO = paths.REPO
# the lab notebook's life in five calls (start, cached data, a measured comparison, a record, close): ~10 Spark jobs.
# Both the standalone and the Spark Connect test run it; every lab notebook runs in full at tiny under nbval.
PROBE = REPO / "tests" / "notebooks" / "1x_cluster_probe.ipynb"
PROBE_NAME = "19_cluster_probe"  # the name it starts its Lab with: its app, its results file

CHILD = textwrap.dedent("""
    import json, sys
    from pyspark.sql import SparkSession
    from labkit import datagen
    from labkit.core import notebook
    from labkit.core.measure import measure

    lab = notebook.start("99_probe", dict(scale="tiny", seed=1, spark_master="local-cluster[2,1,1024]",
                                          output_dir=sys.argv[1]))
    spark = lab.spark
    df = datagen.transactions(spark, 20_000, customers=200, partitions=4)
    m = measure(spark, lambda: df.groupBy("customer_id").count().collect(), "cluster")
    hosts = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    local = datagen.transactions(spark, 20_000, customers=200, partitions=1).groupBy("customer_id").count()
    lab.record("rows", sum(r["count"] for r in m.result))
    print("RESULT " + json.dumps({"rows": sum(r["count"] for r in m.result), "keys": len(m.result),
                                  "tasks": m.tasks, "stages": m.stages, "shuffle": m.shuffle_read_bytes,
                                  "block_managers": hosts, "master": lab.master, "cores": lab.cores,
                                  "same": sorted(map(tuple, m.result)) == sorted(map(tuple, local.collect()))}))
    lab.close()
    lab.close()  # a second call does nothing
    print("ACTIVE", SparkSession.getActiveSession())
""")


def _errors(text: str) -> list[str]:
    """Log lines at ERROR level (log4j's ``HH:mm:ss ERROR`` / ``yy/MM/dd HH:mm:ss ERROR``) or Java stack traces."""
    return [ln for ln in text.splitlines() if re.search(r"\bERROR\b|Exception in thread|exited with code 143", ln)]


@pytest.mark.slow
def test_datagen_and_measure_run_on_separate_executor_jvms_and_lab_close_ends_without_errors(tmp_path):
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    got = json.loads(lines[0][len("RESULT "):])
    assert got["master"] == "local-cluster[2,1,1024]" and got["cores"] == 2
    assert got["block_managers"] == 3  # the driver and two executor JVMs
    assert got["rows"] == 20_000 and got["keys"] == 200 and got["same"]
    assert got["stages"] == 2 and got["tasks"] >= 4 + 1 and got["shuffle"] > 0
    said = [ln for ln in out.stdout.splitlines() if "is stopped" in ln]  # once: the second close does nothing
    assert said == [f"99_probe: 1 number(s) in {tmp_path / '99_probe.json'}; the Spark session on "
                    "local-cluster[2,1,1024] is stopped"]
    assert "ACTIVE None" in out.stdout
    assert _errors(out.stderr) == [], out.stderr[-3000:]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pids_alive(state) -> list[int]:
    return [p["pid"] for p in state["processes"] if processes.alive(p)]


def _leftovers(home: Path) -> list[str]:
    """Processes whose command line mentions the cluster's folder (workers' executors run in its work dir)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if str(home) in ln and "ps -eo" not in ln]


def _papermill(notebook: Path, master: str, out_dir: Path, env: dict[str, str],
               extra: dict | None = None) -> tuple[subprocess.CompletedProcess, str]:
    """Run a notebook through papermill the way ``labkit report`` does; the process and the kernel's stderr."""
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"scale": "tiny", "spark_master": master, "output_dir": str(out_dir), **(extra or {})}
    code = ("import json, sys; from pathlib import Path; from labkit.report.runner import _execute; "
            "run = _execute(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), 600); "
            "sys.exit(run.error or 0)")
    done = subprocess.run([sys.executable, "-c", code, str(notebook), str(out_dir), json.dumps(params)],
                          capture_output=True, text=True, timeout=660, env=env)
    log = out_dir / f"{notebook.stem}.kernel.log"
    return done, (log.read_text(errors="replace") if log.exists() else "")


def _results(out_dir: Path, name: str) -> dict:
    """The results a notebook's Lab ``name`` recorded in ``out_dir``."""
    return json.loads((out_dir / f"{name}.json").read_text())


def _labkit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The installed ``labkit`` command, as a learner types it."""
    exe = Path(sys.executable).parent / "labkit"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, env=env)


def _rpc_probe(port: int) -> bytes:
    """Send one RpcRequest frame (not a SASL message) to a Spark RPC port; the reply's bytes."""
    body = b"\x00hello"
    msg = struct.pack(">bqi", 3, 42, len(body)) + body  # type RpcRequest, request id, body length
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(struct.pack(">q", 8 + len(msg)) + msg)
        s.settimeout(30)
        reply = b""
        try:
            while chunk := s.recv(65536):
                reply += chunk
                if b"Exception" in reply and len(reply) > 200:
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    return reply


CLIENTS = textwrap.dedent("""
    import json, sys
    from pyspark.sql import SparkSession

    url, wrong = sys.argv[1], sys.argv[2]
    out = {}
    for name, remote in (("no token", url), ("wrong token", wrong)):
        try:
            SparkSession.builder.remote(remote).getOrCreate().range(3).count()
            out[name] = "accepted"
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
        SparkSession.builder.remote(remote).getOrCreate().stop()
    from labkit import spark_session
    spark = spark_session(url)
    out["labkit"] = spark.range(1000).repartition(4).count()
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_a_notebook_runs_on_a_secured_standalone_cluster_that_refuses_strangers_and_down_leaves_nothing(tmp_path):
    """One real cluster, started as a learner types it: a master, three 1-core workers and a Spark Connect server
    holding one of the cores (``spark.cores.max=1``), so a notebook's own app gets the other two. The notebook runs on
    the master; the master speaks to no one without the secret, the Connect server to no one without the token, and
    neither appears in a command line or a log; ``down`` stops all five processes and deletes the secret."""
    home = tmp_path / "cluster"
    env = {**os.environ, "LABKIT_CLUSTER_DIR": str(home)}
    env.pop("SPARK_CONNECT_AUTHENTICATE_TOKEN", None)
    port, state = _port(), None
    try:
        started = _labkit("cluster", "up", "--workers", "3", "--cores", "1", "--memory", "1g", "--port", str(port),
                          "--ui-port", str(_port()), "--connect", "--connect-port", str(_port()),
                          "--connect-ui-port", str(_port()), "--conf", "spark.cores.max=1", env=env)
        assert started.returncode == 0, started.stderr
        state = cluster.status(home)
        assert f"master URL      {state['master_url']}" in started.stdout and "worker 2 UI" in started.stdout
        assert state["master_url"].startswith("spark://127.0.0.1:") and len(state["worker_uis"]) == 3
        assert state["master_view"]["aliveworkers"] == 3 and state["master_view"]["cores"] == 3
        assert all(p["alive"] for p in state["processes"]) and len(state["processes"]) == 5
        run, kernel = _papermill(PROBE, state["master_url"], tmp_path / "out", env)
        assert run.returncode == 0, run.stderr[-3000:] + kernel[-3000:]
        doc = _results(tmp_path / "out", PROBE_NAME)
        assert doc["environment"]["master"] == state["master_url"]
        assert doc["environment"]["default_parallelism"] == 2  # the two free workers' cores, not this machine's
        assert doc["environment"]["spark_connect"] is False
        ratio = doc["results"]["ctc.row_number_over_groupby"]["value"]
        assert isinstance(ratio, float) and ratio > 0
        assert _errors(run.stderr + kernel) == [], _errors(run.stderr + kernel)[:20]
        finished = cluster._get(f"{state['master_ui']}/json/")["completedapps"]
        assert [a["name"] for a in finished] == [PROBE_NAME]  # the notebook's app ran on this master
        assert list((home / "work").glob("worker-*/app-*")), "executor folders belong under the cluster's home"
        # strangers: no secret for the master, no token or a wrong one for the Connect server
        auth = cluster.client_auth(state["master_url"], home=home)
        reply = _rpc_probe(port)
        url = state["connect_url"]
        clients = subprocess.run([sys.executable, "-c", CLIENTS, url.replace("localhost", "127.0.0.1"),
                                  f"{url}/;token=not-the-token"], capture_output=True, text=True, timeout=300,
                                 env=env, cwd=tmp_path)
        ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
        logs = "".join(f.read_text(errors="replace") for f in home.rglob("*")
                       if f.is_file() and f.suffix != ".properties")
        master_log = Path(state["processes"][0]["log"]).read_text(errors="replace")
    finally:
        stopped = _labkit("cluster", "down", env=env)
    assert stopped.returncode == 0 and stopped.stdout.count("stopped") == 5, stopped.stdout + stopped.stderr
    assert state is not None and _pids_alive(state) == [] and _leftovers(home) == []
    assert cluster.status(home) is None
    assert b"Expected SaslMessage" in reply, reply[:500]  # the master speaks to no one without the secret
    lines = [ln for ln in clients.stdout.splitlines() if ln.startswith("RESULT ")]
    assert clients.returncode == 0 and lines, clients.stderr[-3000:]
    got = json.loads(lines[0][len("RESULT "):])
    assert "UNAUTHENTICATED" in got["no token"] and "UNAUTHENTICATED" in got["wrong token"], got
    assert got["labkit"] == 1000  # labkit's session on the Connect server, itself a driver on the secured master
    for value in (auth.secret, auth.token):
        assert value not in ps and value not in logs and value not in clients.stdout + clients.stderr
        assert value not in started.stdout + started.stderr + stopped.stdout + stopped.stderr
    assert "REST server" not in master_log and "authentication enabled" in master_log.lower()
    assert not auth.properties.exists()  # `down` deletes the secret


@pytest.mark.slow
def test_a_notebook_runs_on_spark_connect_and_measure_sees_the_same_task_facts_as_local_mode(tmp_path, spark):
    home = tmp_path / "cluster"
    env = {**os.environ, "LABKIT_CLUSTER_DIR": str(home)}
    try:
        state = cluster.up(workers=0, cores=2, connect=True, connect_port=_port(), connect_ui_port=_port(),
                           home=home, echo=lambda *_: None)
        url = state["connect_url"]
        run, kernel = _papermill(PROBE, url, tmp_path / "out", env)  # the probe: a lab notebook's five calls
        assert run.returncode == 0, run.stderr[-3000:] + kernel[-3000:]
        doc = _results(tmp_path / "out", PROBE_NAME)
        assert doc["environment"]["master"] == f"{url} (server on local[2])"
        assert doc["environment"]["spark_connect"] is True and doc["environment"]["default_parallelism"] == 2
        assert doc["results"]["ctc.row_number_over_groupby"]["value"] > 0
        assert _errors(run.stderr + kernel) == [], _errors(run.stderr + kernel)[:20]
        remote = subprocess.run([sys.executable, "-c", FACTS, url], capture_output=True, text=True, timeout=300,
                                env=env)
        assert remote.returncode == 0, remote.stderr[-3000:]
        over_connect = json.loads(remote.stdout.strip().splitlines()[-1])
    finally:
        cluster.down(home, echo=lambda *_: None)
    assert _leftovers(home) == []
    local = _facts(spark)
    assert over_connect["connect"] is True
    for key in ("jobs", "stages", "tasks", "input_records", "shuffled", "joins", "exchanges", "rows", "defaults",
                "partitions", "cores"):
        assert over_connect[key] == local[key], (key, over_connect, local)
    assert over_connect["estimate"] == pytest.approx(local["estimate"], rel=0.01)  # Connect reads it rounded
    assert over_connect["static_refused"] and over_connect["classic_only"].startswith("ConnectUnsupported")


FACTS = textwrap.dedent("""
    import json, sys
    from labkit import spark_session
    from labkit.core import runtime
    from tests.tools.test_cluster import _facts

    from labkit.experiments import memory as memory_exp

    spark = spark_session(sys.argv[1])
    out = _facts(spark)
    out["connect"] = runtime.is_connect(spark)
    try:
        spark_session(sys.argv[1], **{"spark.executor.memory": "2g"})
        out["static_refused"] = False
    except ValueError as exc:
        out["static_refused"] = "cannot be set from a Spark Connect client" in str(exc)
    try:
        runtime.require_classic(spark, "a JVM-only feature")
    except Exception as exc:
        out["classic_only"] = f"{type(exc).__name__}: {exc}"
    out["heap_mb"] = memory_exp.jvm_heap_mb(spark)
    spark.stop()
    print(json.dumps(out))
""")


def _facts(spark) -> dict:
    """What measure says about one fixed join + aggregation, with the settings that decide its shape pinned."""
    from labkit import datagen
    from labkit.core import runtime
    from labkit.core.measure import measure, noop
    from labkit.core.plans import estimated_size_bytes
    from labkit.core.session import spark_conf, spark_default
    from labkit.topics.partitioning import partition_stats

    settings = {"spark.sql.shuffle.partitions": 4, "spark.sql.adaptive.enabled": False,
                "spark.sql.autoBroadcastJoinThreshold": -1}
    with spark_conf(spark, settings):
        facts = datagen.transactions(spark, 20_000, customers=200, partitions=4)
        dims = datagen.customers(spark, 200)
        query = facts.join(dims, "customer_id").groupBy("segment").count()
        m = measure(spark, noop(query), "facts")
        rows = sorted(tuple(r) for r in query.collect())
        spread = partition_stats(facts.repartition(3, "customer_id"))
    keys = ("spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes",
            "spark.sql.adaptive.advisoryPartitionSizeInBytes", "spark.sql.adaptive.skewJoin.skewedPartitionFactor")
    return {"jobs": m.jobs, "stages": m.stages, "tasks": m.tasks, "input_records": m.input_records,
            "shuffled": m.shuffle_read_bytes > 0, "joins": m.plan.joins, "exchanges": m.plan.exchanges,
            "rows": [list(r) for r in rows], "defaults": [spark_default(spark, k) for k in keys],
            "estimate": estimated_size_bytes(dims), "partitions": spread, "cores": runtime.parallelism(spark)}


def test_up_refuses_a_busy_port_naming_it_and_the_flag(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(cluster.ClusterError, match=rf"port {port} .*--port"):
            cluster.up(workers=1, port=port, ui_port=_port(), home=tmp_path, echo=lambda *_: None)
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize("kwargs, words", [({"workers": 0}, "workers >= 1"), ({"cores": 0}, "cores >= 1")])
def test_up_refuses_bad_sizes(tmp_path, kwargs, words):
    with pytest.raises(cluster.ClusterError, match=words):
        cluster.up(home=tmp_path, echo=lambda *_: None, **kwargs)


def test_up_failing_after_a_process_started_stops_it_names_what_failed_and_leaves_nothing(tmp_path, monkeypatch):
    fake = tmp_path / "spark"  # a spark-class whose master runs (as a Python sleeping) and whose worker dies at once
    (fake / "bin").mkdir(parents=True)
    script = fake / "bin" / "spark-class"
    script.write_text(f"""#!/bin/sh
case "$1" in *Worker) echo "worker: cannot reach the master"; exit 3 ;; esac
exec {sys.executable} -c "import time; time.sleep(300)" "$@"
""")
    script.chmod(0o755)
    monkeypatch.setattr(processes, "spark_home", lambda: fake)
    monkeypatch.setattr(cluster, "_get", lambda url: {"status": "ALIVE", "workers": []})  # the master's UI answers
    started = []
    spawn = processes.spawn
    monkeypatch.setattr(processes, "spawn", lambda *a: started.append(spawn(*a)) or started[-1])
    home = tmp_path / "cluster"
    with pytest.raises(cluster.ClusterError) as err:
        cluster.up(workers=1, port=_port(), ui_port=_port(), home=home, timeout=60, echo=lambda *_: None)
    assert [p["name"] for p in started] == ["master", "worker-1"]
    assert re.search(r"worker-1 \(pid \d+\) exited while waiting for 1 worker\(s\)", str(err.value))
    assert "worker: cannot reach the master" in str(err.value)  # the end of its log
    for proc in started:  # the master had started: up stopped it
        assert not processes.running(proc["pid"]) and group_alive(proc["pgid"]) == [], proc
    assert not (home / "state.json").exists() and not (home / "auth" / "spark-auth.properties").exists()


def test_down_stops_only_recorded_processes_that_still_run_the_class_they_were_started_as(tmp_path):
    """A recorded pid that now belongs to another program (a reused pid) is left alone."""
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        state = {"home": str(tmp_path), "processes": [
            {"name": "master", "cls": cluster.MASTER, "pid": other.pid, "pgid": other.pid, "log": ""}]}
        (tmp_path / "state.json").write_text(json.dumps(state))
        lines = cluster.down(tmp_path, echo=lambda *_: None)
        assert lines == [f"master (pid {other.pid}) is not the process labkit started (it runs another program); "
                         "left alone"]
        assert other.poll() is None  # still running: it is not ours
        assert cluster.down(tmp_path, echo=lambda *_: None) == []  # the state is gone
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait()


def test_the_cli_prints_a_clear_message_when_no_cluster_is_recorded(tmp_path, monkeypatch, capsys):
    from labkit.report.cli import main

    monkeypatch.setenv("LABKIT_CLUSTER_DIR", str(tmp_path))
    assert main(["cluster", "status"]) == 0
    assert f"no cluster recorded in {tmp_path}" in capsys.readouterr().out
    assert main(["cluster", "up", "--conf", "novalue"]) == 2
    assert "--conf needs KEY=VALUE" in capsys.readouterr().err


def test_the_cluster_home_follows_the_dataset_cache_never_the_installed_package(monkeypatch, tmp_path):
    monkeypatch.delenv("LABKIT_CLUSTER_DIR", raising=False)
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path))
    assert cluster.cluster_home() == tmp_path / "cluster"
    monkeypatch.setenv("LABKIT_CACHE_DIR", "s3a://bucket/cache")
    assert cluster.cluster_home() == Path.home() / ".cache" / "labkit" / "cluster"
    assert not str(cluster.cluster_home()).startswith(str(processes.spark_home()))


def test_connect_ui_is_found_only_for_the_server_labkit_started(tmp_path):
    state = {"home": str(tmp_path), "processes": [], "connect_url": "sc://127.0.0.1:15999",
             "connect_ui": "http://127.0.0.1:4999"}
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert cluster.connect_ui("sc://127.0.0.1:15999", home=tmp_path) == "http://127.0.0.1:4999"
    assert cluster.connect_ui("sc://127.0.0.1:15999/;user_id=x", home=tmp_path) == "http://127.0.0.1:4999"
    assert cluster.connect_ui("sc://10.0.0.1:15002", home=tmp_path) is None
