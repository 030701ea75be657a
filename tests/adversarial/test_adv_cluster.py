"""The cluster's open door (issue #23): authentication, the recorded pids, the state file, the ports.

Everything here is pure Python: fake "Spark" processes are plain ``python -c``
sleepers whose command line names a Spark class. The real secured cluster (a
master, three workers and a Spark Connect server, knocked on without the secret
and without the token) is started once, in ``tests/tools/test_cluster.py``,
where a notebook also runs on it.
"""

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from labkit.core import session
from labkit.report.cli import main
from labkit.tools import cluster
from labkit.tools.cluster import processes


@pytest.fixture(autouse=True)
def _nothing_starts(request, monkeypatch):
    """The fast tests prove refusals: starting a master or a Connect server there is itself a failure."""
    if request.node.get_closest_marker("slow"):
        return

    def started(*args, **kwargs):
        raise AssertionError("a refusal test started a Spark process")

    monkeypatch.setattr(cluster, "_start_standalone", started)
    monkeypatch.setattr(cluster, "_start_connect", started)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake(cls: str) -> subprocess.Popen:
    """A process in its own group whose command line names ``cls``, as a reused pid could.

    Registered like the processes ``up`` starts, so that ``down`` reaps it (a zombie is still in its group).
    """
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", cls], start_new_session=True)
    processes.CHILDREN[proc.pid] = proc
    return proc


def _record(home: Path, procs: list[dict]) -> None:
    (home / "state.json").write_text(json.dumps({"home": str(home), "processes": procs}))


def _entry(p: subprocess.Popen, cls: str = cluster.MASTER, **over) -> dict:
    entry = {"name": "master", "cls": cls, "pid": p.pid, "pgid": p.pid, "started": psutil.Process(p.pid).create_time(),
             "log": ""}
    return {**entry, **over}


def _kill(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


# --- ports ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, kwarg", [("--port", "port"), ("--ui-port", "ui_port"),
                                         ("--connect-port", "connect_port"), ("--connect-ui-port", "connect_ui_port")])
@pytest.mark.parametrize("value", [99999, 65536, 0, -1, True, "7077", 7077.0])
def test_a_port_outside_1_to_65535_is_refused_naming_its_option_before_anything_starts(tmp_path, flag, kwarg, value):
    home = tmp_path / "cluster"
    with pytest.raises(ValueError, match=rf"{flag} must be a TCP port"):
        cluster.up(workers=1, connect=True, home=home, echo=lambda *_: None, **{kwarg: value})
    assert not home.exists()  # no folder, no state, no secret, no process


def test_two_parts_on_one_port_are_refused_before_anything_starts(tmp_path):
    port = _port()
    with pytest.raises(ValueError, match=rf"--port and --connect-port are both {port}"):
        cluster.up(workers=1, port=port, ui_port=_port(), connect=True, connect_port=port, connect_ui_port=_port(),
                   home=tmp_path / "cluster", echo=lambda *_: None)
    assert not (tmp_path / "cluster").exists()


def test_the_cli_turns_port_99999_into_a_message_naming_the_option_not_an_overflow_error(tmp_path, monkeypatch,
                                                                                            capsys):
    monkeypatch.setenv("LABKIT_CLUSTER_DIR", str(tmp_path / "cluster"))
    assert main(["cluster", "up", "--port", "99999"]) == 2
    err = capsys.readouterr().err
    assert "--port must be a TCP port, a whole number from 1 to 65535; got 99999" in err
    assert "Traceback" not in err and not (tmp_path / "cluster").exists()


# --- the state file ------------------------------------------------------------------------------------------------

def test_a_truncated_state_file_is_a_clear_error_naming_it_for_down_status_and_the_cli(tmp_path, monkeypatch,
                                                                                         capsys):
    state = tmp_path / "state.json"
    state.write_text('{"home": "/x", "processes": [{"name": "master", "pid": 12')  # a crash mid-write
    for call in (lambda: cluster.down(tmp_path, echo=lambda *_: None), lambda: cluster.status(tmp_path)):
        with pytest.raises(cluster.ClusterError, match="not valid JSON") as err:
            call()
        assert str(state) in str(err.value) and "line 1, column" in str(err.value)
    monkeypatch.setenv("LABKIT_CLUSTER_DIR", str(tmp_path))
    assert main(["cluster", "down"]) == 2
    out = capsys.readouterr().err
    assert str(state) in out and "Traceback" not in out and "JSONDecodeError" not in out
    assert state.exists()  # nothing forgotten: the file stays for the user to look at


def test_valid_json_that_is_not_a_cluster_state_is_refused_naming_the_file(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"processes": [{"pid": 1}]}))
    with pytest.raises(cluster.ClusterError, match="not a labkit cluster state") as err:
        cluster.down(tmp_path, echo=lambda *_: None)
    assert str(tmp_path / "state.json") in str(err.value)


def test_a_crash_while_writing_the_state_leaves_the_previous_state_whole(tmp_path, monkeypatch):
    cluster._write_state(tmp_path, {"home": str(tmp_path), "processes": [], "master_url": "spark://127.0.0.1:1"})
    before = (tmp_path / "state.json").read_text()

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        cluster._write_state(tmp_path, {"home": str(tmp_path), "processes": [], "master_url": "spark://x:2" * 1000})
    assert (tmp_path / "state.json").read_text() == before
    assert json.loads(before)["master_url"] == "spark://127.0.0.1:1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp file left behind


def test_up_and_down_refuse_while_another_up_or_down_holds_the_lock(tmp_path):
    (tmp_path / "state.lock").touch()
    with open(tmp_path / "state.lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(cluster.ClusterError, match="another `labkit cluster up` or `down` is running") as err:
            cluster.up(workers=1, port=_port(), ui_port=_port(), home=tmp_path, echo=lambda *_: None)
        assert str(tmp_path / "state.lock") in str(err.value)
        with pytest.raises(cluster.ClusterError, match="another `labkit cluster up` or `down` is running"):
            cluster.down(tmp_path, echo=lambda *_: None)
    assert not (tmp_path / "state.json").exists() and not (tmp_path / "auth").exists()


# --- down: the recorded pid must still be the recorded process -----------------------------------------------------

def test_down_leaves_alone_a_reused_pid_even_when_its_command_line_names_the_class(tmp_path):
    other = _fake(cluster.MASTER)
    try:
        _record(tmp_path, [_entry(other, started=psutil.Process(other.pid).create_time() - 100)])
        lines = cluster.down(tmp_path, echo=lambda *_: None)
        assert lines == [f"master (pid {other.pid}) is not the process labkit started (it started at another time "
                         "than the recorded process (a reused pid)); left alone"]
        assert other.poll() is None  # still running
    finally:
        _kill(other)


def test_down_never_signals_a_process_group_other_than_the_recorded_leaders_own(tmp_path):
    """The recorded pgid points at someone else's group: neither that group nor the pid is signalled."""
    leader, bystander = _fake(cluster.WORKER), _fake("bystander")
    try:
        _record(tmp_path, [_entry(leader, cls=cluster.WORKER, name="worker-1", pgid=bystander.pid)])
        lines = cluster.down(tmp_path, echo=lambda *_: None)
        assert lines == [f"worker-1 (pid {leader.pid}) is not the process labkit started (it is in process group "
                         f"{leader.pid}, not the recorded {bystander.pid}); left alone"]
        assert leader.poll() is None and bystander.poll() is None
    finally:
        _kill(leader, bystander)


def test_down_leaves_alone_a_recorded_process_with_no_start_time(tmp_path):
    other = _fake(cluster.MASTER)
    try:
        _record(tmp_path, [_entry(other, started=None)])
        [line] = cluster.down(tmp_path, echo=lambda *_: None)
        assert "has no start time" in line and line.endswith("left alone") and other.poll() is None
    finally:
        _kill(other)


def test_down_stops_a_recorded_process_that_is_still_exactly_the_one_started(tmp_path):
    ours = _fake(cluster.MASTER)
    try:
        _record(tmp_path, [_entry(ours)])
        (tmp_path / "auth").mkdir()
        (tmp_path / "auth" / cluster.AUTH_FILE).write_text("x")
        assert cluster.down(tmp_path, grace=10, echo=lambda *_: None) == [f"master (pid {ours.pid}) stopped"]
        assert ours.returncode == -signal.SIGTERM  # down reaped it
        assert not (tmp_path / "state.json").exists() and not (tmp_path / "auth" / cluster.AUTH_FILE).exists()
    finally:
        _kill(ours)


# --- the secret file and who gets it -------------------------------------------------------------------------------

def _state_with_auth(home: Path) -> Path:
    auth = cluster._write_auth(home)
    (home / "state.json").write_text(json.dumps({
        "home": str(home), "processes": [], "master_url": "spark://127.0.0.1:17077",
        "connect_url": "sc://localhost:15999", "connect_ui": "http://127.0.0.1:4999", "auth": str(auth)}))
    return auth


def test_the_secret_file_is_private_fresh_at_every_up_and_never_shown(tmp_path):
    auth = _state_with_auth(tmp_path)
    assert auth.stat().st_mode & 0o777 == 0o600 and (tmp_path / "auth").stat().st_mode & 0o777 == 0o700
    first = cluster.client_auth("spark://127.0.0.1:17077", home=tmp_path)
    assert len(first.secret) == 64 and len(first.token) == 64 and first.secret != first.token
    assert first.secret not in repr(first) and first.token not in repr(first)
    assert first.secret not in (tmp_path / "state.json").read_text()
    text = auth.read_text()
    assert "spark.authenticate=true" in text and "spark.master.rest.enabled=false" in text
    cluster._write_auth(tmp_path)
    second = cluster.client_auth("spark://localhost:17077", home=tmp_path)
    assert second.secret != first.secret and second.token != first.token


def test_a_secret_file_others_can_read_is_refused_naming_it(tmp_path):
    auth = _state_with_auth(tmp_path)
    auth.chmod(0o644)
    with pytest.raises(cluster.ClusterError, match="can be read by others \\(mode 644") as err:
        cluster.client_auth("sc://127.0.0.1:15999", home=tmp_path)
    assert str(auth) in str(err.value)


def test_a_missing_secret_file_is_a_clear_error_for_the_client_and_for_labkit_report(tmp_path, monkeypatch, capsys):
    auth = _state_with_auth(tmp_path)
    auth.unlink()
    with pytest.raises(cluster.ClusterError, match="is missing") as err:
        cluster.client_auth("spark://127.0.0.1:17077", home=tmp_path)
    assert str(auth) in str(err.value)
    monkeypatch.setenv("LABKIT_CLUSTER_DIR", str(tmp_path))
    assert main(["report", "--master", "sc://localhost:15999/;token=mine", "--out", str(tmp_path / "r")]) == 2
    said = capsys.readouterr().err
    assert str(auth) in said and "mine" not in said and not (tmp_path / "r").exists()


def test_only_the_lab_own_master_and_server_get_the_secret(tmp_path):
    _state_with_auth(tmp_path)
    for other in ("spark://127.0.0.1:7077", "spark://10.0.0.5:17077", "sc://localhost:15002", "local[2]", "yarn",
                  "sc://example.com:15999"):
        assert cluster.client_auth(other, home=tmp_path) is None, other
    assert cluster.client_auth("sc://127.0.0.1:15999/;user_id=a", home=tmp_path) is not None
    assert cluster.connect_ui("sc://127.0.0.1:15999", home=tmp_path) == "http://127.0.0.1:4999"


def test_up_refuses_a_conf_that_would_turn_authentication_off_or_put_a_secret_on_a_command_line(tmp_path):
    for key in ("spark.authenticate", "spark.authenticate.secret", "spark.connect.authenticate.token",
                "spark.master.rest.enabled", "spark.ui.killEnabled"):
        with pytest.raises(cluster.ClusterError, match=f"--conf {key} is set by `labkit cluster up` itself"):
            cluster.up(workers=0, connect=True, connect_port=_port(), connect_ui_port=_port(), conf={key: "x"},
                       home=tmp_path / "c", echo=lambda *_: None)
    assert not (tmp_path / "c").exists()


def test_a_connect_url_gets_the_token_on_localhost_and_errors_hide_it():
    assert session._with_token("sc://127.0.0.1:15999", "T") == "sc://localhost:15999/;token=T"
    assert session._with_token("sc://localhost:1/;user_id=a", "T") == "sc://localhost:1/;user_id=a;token=T"
    assert session._with_token("sc://localhost:1/;token=own", "T") == "sc://localhost:1/;token=own"
    assert session._shown("sc://localhost:1/;token=abc;user_id=a") == "sc://localhost:1/;token=<hidden>;user_id=a"


class _Builder:
    """Records what a SparkSession builder would launch the JVM with."""

    def __init__(self):
        self.options, self.submit_args = {}, None

    def config(self, key, value):
        self.options[key] = value
        return self

    def getOrCreate(self):  # noqa: N802 - pyspark's name
        self.submit_args = os.environ.get("PYSPARK_SUBMIT_ARGS")
        return self


def test_the_secret_reaches_a_new_jvm_through_a_properties_file_never_the_builder(tmp_path, monkeypatch):
    """pyspark puts every builder setting on spark-submit's command line (visible in ps) when it starts the JVM."""
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    auth = cluster.ClientAuth(tmp_path / "a b.properties", "s3cr3t", "t0k3n")
    new_jvm = session._get_or_create(_Builder(), auth, jvm_running=False)
    assert "s3cr3t" not in json.dumps(new_jvm.options)
    assert new_jvm.submit_args == f"--properties-file '{tmp_path / 'a b.properties'}' pyspark-shell"
    assert "PYSPARK_SUBMIT_ARGS" not in os.environ  # for that launch only
    running = session._get_or_create(_Builder(), auth, jvm_running=True)  # over py4j: no command line involved
    assert running.options == {"spark.authenticate.secret": "s3cr3t"} and running.submit_args is None
