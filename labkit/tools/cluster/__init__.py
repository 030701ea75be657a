"""A Spark standalone cluster and a Spark Connect server on this machine, from the installed pyspark.

``labkit cluster up`` starts a master and N workers with ``spark-class``
(``deploy.master.Master``, ``deploy.worker.Worker``) and, with ``--connect``,
Spark Connect's server through the wheel's ``sbin/start-connect-server.sh``.
Everything binds to 127.0.0.1. Logs, work folders and the state file live under
:func:`cluster_home` (the lab's cache), never inside the installed package.

Authentication: every ``up`` writes a new shared secret (``spark.authenticate``)
and a Spark Connect token into ``auth/spark-auth.properties`` (mode 0600, in a
0700 folder). The master, the workers and the Connect server read it with
``--properties-file``, so neither value is ever on a command line, in
``state.json`` or in a log. :func:`client_auth` hands them to the lab's own
clients (``labkit.spark_session``, ``labkit report --master``). The master's
REST submission server (on by default since Spark 4.1, and unauthenticated) is
turned off, and so are the UIs' kill links; the web UIs stay readable by anyone
on the machine (Spark has no UI authentication without a servlet filter).

Each process is started in a process group of its own and its id, process group
and start time are written to ``state.json`` (atomically, under a lock) as soon
as it starts; ``down`` stops exactly those groups (a worker's executors are in
its group) after checking that each recorded id still runs the class it was
started with, started at the recorded time and leads the recorded group.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labkit.core import paths
from labkit.core.cluster_state import (
    HARDENING,
    SECRET_KEYS,
    ClientAuth,
    ClusterError,
    client_auth,
    connect_ui,
    read_state,
)
from labkit.core.paths import AUTH_FILE, cluster_home
from labkit.core.poll import wait_until
from labkit.core.runtime import get_json
from labkit.tools.cluster import processes

__all__ = ["AUTH_FILE", "CONNECT", "MASTER", "WORKER", "ClientAuth", "ClusterError", "client_auth", "cluster_home",
           "connect_ui", "describe", "down", "status", "up"]

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
CONNECT = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a 0600 temp file beside it, fsync, then ``os.replace``.

    A crash leaves either the old file or the new one, never half of one.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_state(home: Path, state: dict[str, Any]) -> None:
    """Record the state atomically (readers never see a half-written file)."""
    _write_private(paths.cluster_state_file(home), json.dumps(state, indent=2))


@contextlib.contextmanager
def _lock(home: Path, verb: str) -> Iterator[None]:
    """Hold ``<home>/state.lock`` (``flock``) for an ``up`` or ``down``; refuse at once when another one holds it."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "state.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ClusterError(f"cluster {verb}: another `labkit cluster up` or `down` is running on {home} (it "
                               f"holds {path}); wait for it to finish, then retry") from None
        yield
    finally:
        os.close(fd)  # releases the lock; the lock file stays (removing it would race with a waiting process)


def _write_auth(home: Path) -> Path:
    """A new secret and Connect token in ``auth/spark-auth.properties`` (folder 0700, file 0600)."""
    folder = home / "auth"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    values = {**HARDENING, **{key: secrets.token_hex(32) for key in SECRET_KEYS}}
    text = ("# labkit cluster up: the shared secret of this cluster's master, workers and drivers, and its Spark\n"
            "# Connect token. Readable by you only; a new one at every `up`, deleted by `down`.\n"
            + "".join(f"{key}={value}\n" for key, value in values.items()))
    path = paths.cluster_auth_file(home)
    _write_private(path, text)
    return path


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_ports(ports: dict[str, Any], used: list[str]) -> None:
    """Every port an int in 1..65535 (ValueError naming its option), and no two parts that start on one port."""
    for flag, value in ports.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise ValueError(f"cluster up: {flag} must be a TCP port, a whole number from 1 to 65535; got {value!r}")
    seen: dict[int, str] = {}
    for flag in used:
        if ports[flag] in seen:
            raise ValueError(f"cluster up: {seen[ports[flag]]} and {flag} are both {ports[flag]}; "
                             "each part needs a port of its own")
        seen[ports[flag]] = flag


def _check_free(port: int, what: str, flag: str) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free for a server
        try:
            s.bind(("127.0.0.1", port))
        except PermissionError:
            raise ClusterError(f"cluster up: port {port} on 127.0.0.1 ({what}) needs privileges this user does not "
                               f"have (ports below 1024); pass {flag} to choose another port") from None
        except OSError:
            raise ClusterError(f"cluster up: port {port} on 127.0.0.1 ({what}) is in use; is a cluster already up "
                               f"(`labkit cluster status`)? Pass {flag} to choose another port") from None


def _check_conf(conf: dict[str, str]) -> None:
    """Refuse ``--conf`` keys that would weaken or reveal the cluster's authentication."""
    mine = [key for key in conf if key in HARDENING or key.startswith("spark.authenticate")
            or key in SECRET_KEYS]
    if mine:
        raise ClusterError(f"cluster up: --conf {', '.join(sorted(mine))} is set by `labkit cluster up` itself "
                           f"(authentication, from {AUTH_FILE}; a secret on a command line is visible in `ps`)")


def _get(url: str) -> Any:
    """GET one of the cluster's UIs as JSON, with a short timeout (they are on this machine)."""
    return get_json(url, timeout=5.0)


def _tail(path: str, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(what: str, ready, procs: list[dict[str, Any]], timeout: float) -> None:
    """Poll ``ready()`` until true; fail early, with the log, when a process died."""

    def check() -> bool:
        for p in procs:
            if not processes.alive(p):
                raise ClusterError(f"cluster up: {p['name']} (pid {p['pid']}) exited while waiting for {what}; "
                                   f"its log {p['log']} ends:\n{_tail(p['log'])}")
        try:
            return bool(ready())
        except (OSError, ValueError):  # not listening yet, or a UI still starting answers a page that is not JSON
            return False

    if not wait_until(check, timeout, interval=0.25):  # a local HTTP GET and a few psutil reads per call
        raise ClusterError(f"cluster up: {what} not ready after {timeout:.0f} s; logs in {procs[0]['log']}")


def _check_up_args(workers: int, cores: int, connect: bool, ports: dict[str, Any], conf: dict[str, str]) -> None:
    """Everything about ``up``'s arguments that can be checked before anything starts."""
    used = (["--port", "--ui-port"] if workers else []) + (["--connect-port", "--connect-ui-port"] if connect else [])
    _check_ports(ports, used)
    if workers < 0 or cores < 1 or (workers == 0 and not connect):
        raise ClusterError(f"cluster up: need workers >= 1 (or --connect with --workers 0) and cores >= 1; "
                           f"got workers={workers}, cores={cores}")
    _check_conf(conf)


def up(workers: int = 2, cores: int = 1, memory: str = "2g", port: int = 7077, ui_port: int = 8080,
       connect: bool = False, connect_port: int = 15002, connect_ui_port: int = 4040,
       conf: dict[str, str] | None = None, home: str | os.PathLike | None = None,
       timeout: float = 120.0, echo=print) -> dict[str, Any]:
    """Start a standalone master, ``workers`` workers and, optionally, a Spark Connect server.

    Every part authenticates with a secret made for this ``up`` (see the module's notes).

    Parameters
    ----------
    workers : int
        Worker processes (0: no standalone cluster; then ``connect`` runs its
        server on ``local[cores]``).
    cores, memory : int, str
        Cores and memory each worker offers to executors (``"2g"``).
    port, ui_port : int
        The master's port (``spark://127.0.0.1:<port>``) and web UI port.
    connect : bool
        Also start Spark Connect's server, as a driver on this cluster.
    connect_port, connect_ui_port : int
        Its gRPC port (``sc://localhost:<port>``) and its UI, where ``measure``
        reads task metrics.
    conf : dict, optional
        Extra ``--conf`` settings for the Connect server (not the
        authentication settings, which ``up`` sets itself).
    home : path, optional
        :func:`cluster_home` by default.
    timeout : float
        Seconds to wait for each part to be ready.
    echo : callable
        Progress lines (``print``).

    Returns
    -------
    dict
        The recorded state: URLs, UIs, process ids, log folder, the auth file's path.

    Raises
    ------
    ValueError
        For a port that is not a whole number from 1 to 65535, or two parts on one port.
    ClusterError
        For bad sizes, a port in use, a cluster already up, another ``up`` or
        ``down`` running, or a part that did not start (with its log's last
        lines). What had started is stopped.
    """
    conf = dict(conf or {})
    _check_up_args(workers, cores, connect, {"--port": port, "--ui-port": ui_port, "--connect-port": connect_port,
                                             "--connect-ui-port": connect_ui_port}, conf)
    home = Path(home or paths.cluster_home())
    with _lock(home, "up"):
        old = read_state(home)
        if old and any(processes.alive(p) for p in old["processes"]):
            raise ClusterError(f"cluster up: a cluster is already up ({old.get('master_url') or old.get('connect_url')}"
                               f", state in {paths.cluster_state_file(home)}); run `labkit cluster down` first")
        if workers:
            _check_free(port, "master", "--port")
            _check_free(ui_port, "master UI", "--ui-port")
        if connect:
            _check_free(connect_port, "Spark Connect", "--connect-port")
            _check_free(connect_ui_port, "Spark Connect UI", "--connect-ui-port")
        for sub in ("logs", "pids", "work"):  # executors' output and logs: this user's only
            (home / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(home / sub, 0o700)
        state: dict[str, Any] = {"home": str(home), "processes": [], "master_url": None, "master_ui": None,
                                 "worker_uis": [], "connect_url": None, "connect_ui": None,
                                 "auth": str(_write_auth(home)), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        try:
            _write_state(home, state)
            if workers:
                _start_standalone(home, state, workers, cores, memory, port, ui_port, timeout, echo)
            if connect:
                _start_connect(home, state, workers, cores, connect_port, connect_ui_port, conf, timeout, echo)
        except BaseException:
            _down(home, 20.0, lambda *_: None)
            raise
    return state


def _start_standalone(home, state, workers, cores, memory, port, ui_port, timeout, echo) -> None:
    master_url, master_ui = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}"
    auth = ["--properties-file", state["auth"]]
    master = processes.spawn(home, "master", MASTER, ["--host", "127.0.0.1", "--port", str(port),
                                             "--webui-port", str(ui_port), *auth])
    state["processes"].append(master)
    state.update(master_url=master_url, master_ui=master_ui)
    _write_state(home, state)
    echo(f"master  {master_url}  (pid {master['pid']}) ...")
    _wait("the master", lambda: _get(f"{master_ui}/json/").get("status") == "ALIVE", [master], timeout)
    for i in range(workers):
        wport = _free_port()
        w = processes.spawn(home, f"worker-{i + 1}", WORKER, [
            "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory, "--webui-port", str(wport),
            "--work-dir", str(home / "work" / f"worker-{i + 1}"), *auth, master_url])
        state["processes"].append(w)
        state["worker_uis"].append(f"http://127.0.0.1:{wport}")
        _write_state(home, state)
    echo(f"workers {workers} x {cores} core(s), {memory} ...")
    alive = lambda: sum(w.get("state") == "ALIVE" for w in _get(f"{master_ui}/json/")["workers"])  # noqa: E731
    _wait(f"{workers} worker(s)", lambda: alive() >= workers, state["processes"], timeout)


def _start_connect(home, state, workers, cores, port, ui_port, conf, timeout, echo) -> None:
    master = state["master_url"] or f"local[{cores}]"
    total = workers * cores if workers else cores
    settings = {"spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(port),
                "spark.ui.port": str(ui_port), "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1", "spark.sql.session.timeZone": "UTC",
                "spark.sql.shuffle.partitions": str(max(2, 2 * total)), "spark.ui.showConsoleProgress": "false",
                "spark.sql.warehouse.dir": str(home / "work" / "warehouse"), **conf}
    args = ["--master", master, "--properties-file", state["auth"]]  # the secret and the token, not on the command line
    for key, value in settings.items():
        args += ["--conf", f"{key}={value}"]
    script = processes.spark_home() / "sbin" / "start-connect-server.sh"
    out = subprocess.run(["bash", str(script), *args], env=processes.cluster_env(home), capture_output=True, text=True,
                         timeout=60, start_new_session=True)
    pidfile = next((home / "pids").glob(f"spark-*-{CONNECT}-1.pid"), None)
    if out.returncode != 0 or pidfile is None:
        raise ClusterError(f"cluster up: start-connect-server.sh failed ({out.returncode}): "
                           f"{(out.stdout + out.stderr)[-2000:]}")
    pid = int(pidfile.read_text().strip())
    log = next((home / "logs").glob(f"spark-*-{CONNECT}-1-*.out"), home / "logs")
    proc = {"name": "connect", "cls": CONNECT, "pid": pid, "pgid": os.getpgid(pid),
            "started": processes.start_time(pid), "log": str(log)}
    state["processes"].append(proc)
    # localhost, not 127.0.0.1: pyspark's client sends a token without TLS only to a host named "localhost"
    state.update(connect_url=f"sc://localhost:{port}", connect_ui=f"http://127.0.0.1:{ui_port}",
                 connect_master=master)
    _write_state(home, state)
    echo(f"connect sc://localhost:{port} on {master} (pid {pid}) ...")

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        return bool(_get(f"http://127.0.0.1:{ui_port}/api/v1/applications"))

    _wait("the Spark Connect server", ready, [proc], timeout)


def down(home: str | os.PathLike | None = None, grace: float = 20.0, echo=print) -> list[str]:
    """Stop exactly the processes ``up`` started (by their recorded ids) and forget them.

    A recorded pid is signalled only when it still runs the recorded class,
    started at the recorded time and leads the recorded process group; any
    other process with that pid is left alone and named. The auth file goes too.

    Parameters
    ----------
    home : path, optional
        :func:`cluster_home` by default.
    grace : float
        Seconds between SIGTERM and SIGKILL for each process group.
    echo : callable

    Returns
    -------
    list of str
        One line per recorded process: stopped, was not running, or left alone (and why).

    Raises
    ------
    ClusterError
        When the state file is unreadable (naming it), or another ``up`` or
        ``down`` holds the lock.
    """
    home = Path(home or paths.cluster_home())
    if not home.is_dir():
        echo(f"no cluster recorded in {home}")
        return []
    with _lock(home, "down"):
        return _down(home, grace, echo)


def _down(home: Path, grace: float, echo) -> list[str]:
    """``down`` with the lock already held."""
    state = read_state(home)
    if not state:
        echo(f"no cluster recorded in {home}")
        paths.cluster_auth_file(home).unlink(missing_ok=True)
        return []
    # the Connect server (a driver) first, so its application ends cleanly; then workers and master together
    drivers = [p for p in state["processes"] if p["cls"] == CONNECT]
    daemons = [p for p in reversed(state["processes"]) if p["cls"] != CONNECT]
    lines = []
    for group in (drivers, daemons):
        for line in processes.stop(group, grace):
            lines.append(line)
            echo(line)
    paths.cluster_state_file(home).unlink()
    paths.cluster_auth_file(home).unlink(missing_ok=True)
    for pidfile in (home / "pids").glob("*.pid"):
        pidfile.unlink()
    return lines


def status(home: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The recorded cluster with, per process, whether it still runs, and the master's view of its workers.

    Returns
    -------
    dict or None
        None when no cluster is recorded.

    Raises
    ------
    ClusterError
        When the state file is unreadable (naming it).
    """
    home = Path(home or paths.cluster_home())
    state = read_state(home)
    if not state:
        return None
    for proc in state["processes"]:
        proc["alive"] = processes.alive(proc)
    if state.get("master_ui"):
        try:
            info = _get(f"{state['master_ui']}/json/")
            state["master_view"] = {k: info.get(k) for k in ("status", "aliveworkers", "cores", "coresused",
                                                              "memory", "memoryused")}
            state["master_view"]["applications"] = [a.get("name") for a in info.get("activeapps", [])]
        except OSError as exc:
            state["master_view"] = {"error": str(exc)}
    return state


def describe(state: dict[str, Any]) -> str:
    """The URLs and UI links of a recorded cluster, as ``labkit cluster up/status`` print them."""
    lines = []
    if state.get("master_url"):
        lines += [f"master URL      {state['master_url']}", f"master UI       {state['master_ui']}"]
        lines += [f"worker {i + 1} UI     {u}" for i, u in enumerate(state["worker_uis"])]
        busy = state.get("connect_master") == state["master_url"]
        lines.append(f"run             labkit report --master {state['master_url']}" + (
            "  (after `down`: the Connect server holds the workers' cores while it runs)" if busy else ""))
    if state.get("connect_url"):
        lines += [f"Spark Connect   {state['connect_url']}  (driver on {state.get('connect_master')})",
                  f"its UI          {state['connect_ui']}  (measure reads it; LABKIT_SPARK_UI overrides)",
                  f"run             labkit report --master {state['connect_url']}"]
    if state.get("auth"):
        lines.append(f"auth            {state['auth']}  (secret + Connect token, yours only; labkit's clients "
                     "read it; the web UIs stay open to local users)")
    lines.append(f"logs            {state['home']}/logs  (executors: {state['home']}/work)")
    for proc in state["processes"]:
        if "alive" in proc:
            lines.append(f"  {proc['name']:<10} pid {proc['pid']:<8} {'running' if proc['alive'] else 'NOT RUNNING'}")
    if "master_view" in state:
        lines.append(f"  master view: {state['master_view']}")
    return "\n".join(lines)
