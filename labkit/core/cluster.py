"""A Spark standalone cluster and a Spark Connect server on this machine, from the installed pyspark.

``labkit cluster up`` starts a master and N workers with ``spark-class``
(``deploy.master.Master``, ``deploy.worker.Worker``) and, with ``--connect``,
Spark Connect's server through the wheel's ``sbin/start-connect-server.sh``.
Everything binds to 127.0.0.1. Logs, work folders and the state file live under
:func:`cluster_home` (the lab's cache), never inside the installed package.

Each process is started in a process group of its own and its id is written
to ``state.json`` as soon as it starts; ``down`` stops exactly those groups
(a worker's executors are in its group) after checking that each recorded id
still runs the class it was started with, and nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["ClusterError", "cluster_home", "connect_ui", "describe", "down", "status", "up"]

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
CONNECT = "org.apache.spark.sql.connect.service.SparkConnectServer"


class ClusterError(RuntimeError):
    """The cluster could not start, or is not in the state the command needs."""


def cluster_home() -> Path:
    """Where the cluster keeps its state, logs and work folders.

    ``$LABKIT_CLUSTER_DIR``, else ``<cache>/cluster`` when the dataset cache is a
    local folder, else ``~/.cache/labkit/cluster``.

    Returns
    -------
    pathlib.Path
    """
    from labkit.core.cache import cache_dir

    if os.environ.get("LABKIT_CLUSTER_DIR"):
        return Path(os.environ["LABKIT_CLUSTER_DIR"])
    cache = cache_dir()
    return Path(cache) / "cluster" if "://" not in cache else Path.home() / ".cache" / "labkit" / "cluster"


def _spark_home() -> Path:
    """The installed pyspark: its ``bin/spark-class`` and ``sbin/`` scripts."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _state_path(home: Path) -> Path:
    return home / "state.json"


def _read_state(home: Path) -> dict[str, Any] | None:
    path = _state_path(home)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _write_state(home: Path, state: dict[str, Any]) -> None:
    _state_path(home).write_text(json.dumps(state, indent=2), encoding="utf-8")


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_free(port: int, what: str, flag: str) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free for a server
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise ClusterError(f"cluster up: port {port} on 127.0.0.1 ({what}) is in use; is a cluster already up "
                               f"(`labkit cluster status`)? Pass {flag} to choose another port") from None


def _cmdline(pid: int) -> str:
    """The command line of a running process ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True)
        return out.stdout.strip()


_CHILDREN: dict[int, subprocess.Popen] = {}  # processes this interpreter started: poll() reaps them


def _running(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _alive(proc: dict[str, Any]) -> bool:
    """Whether a recorded process still runs, and is still the Spark class it was started as.

    ``spark-class`` execs Java: for a moment the command line can read empty,
    so an empty one is read again before the process counts as someone else's.
    """
    for _ in range(20):
        if not _running(proc["pid"]):
            return False
        line = _cmdline(proc["pid"])
        if line:
            return proc["cls"] in line
        time.sleep(0.05)
    return False


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SPARK_HOME=str(_spark_home()), SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(home / "logs"),
               SPARK_PID_DIR=str(home / "pids"), SPARK_WORKER_DIR=str(home / "work"),
               PYSPARK_PYTHON=sys.executable)
    env.pop("SPARK_REMOTE", None)
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    return env


def _spawn(home: Path, name: str, cls: str, args: list[str]) -> dict[str, Any]:
    """Start ``spark-class <cls> args`` in its own process group, logging to ``logs/<name>.log``."""
    log = open(home / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen([str(_spark_home() / "bin" / "spark-class"), cls, *args], env=_env(home),
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    _CHILDREN[proc.pid] = proc
    return {"name": name, "cls": cls, "pid": proc.pid, "pgid": proc.pid, "log": str(home / "logs" / f"{name}.log")}


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
        return json.load(resp)


def _tail(path: str, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(what: str, ready, procs: list[dict[str, Any]], timeout: float) -> None:
    """Poll ``ready()`` until true; fail early, with the log, when a process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if not _alive(p):
                raise ClusterError(f"cluster up: {p['name']} (pid {p['pid']}) exited while waiting for {what}; "
                                   f"its log {p['log']} ends:\n{_tail(p['log'])}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise ClusterError(f"cluster up: {what} not ready after {timeout:.0f} s; logs in {procs[0]['log']}")


def up(workers: int = 2, cores: int = 1, memory: str = "2g", port: int = 7077, ui_port: int = 8080,
       connect: bool = False, connect_port: int = 15002, connect_ui_port: int = 4040,
       conf: dict[str, str] | None = None, home: str | os.PathLike | None = None,
       timeout: float = 120.0, echo=print) -> dict[str, Any]:
    """Start a standalone master, ``workers`` workers and, optionally, a Spark Connect server.

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
        Its gRPC port (``sc://127.0.0.1:<port>``) and its UI, where ``measure``
        reads task metrics.
    conf : dict, optional
        Extra ``--conf`` settings for the Connect server.
    home : path, optional
        :func:`cluster_home` by default.
    timeout : float
        Seconds to wait for each part to be ready.
    echo : callable
        Progress lines (``print``).

    Returns
    -------
    dict
        The recorded state: URLs, UIs, process ids, log folder.

    Raises
    ------
    ClusterError
        For bad arguments, a port in use, a cluster already up, or a part that
        did not start (with its log's last lines). What had started is stopped.
    """
    if workers < 0 or cores < 1 or (workers == 0 and not connect):
        raise ClusterError(f"cluster up: need workers >= 1 (or --connect with --workers 0) and cores >= 1; "
                           f"got workers={workers}, cores={cores}")
    home = Path(home or cluster_home())
    old = _read_state(home)
    if old and any(_alive(p) for p in old["processes"]):
        raise ClusterError(f"cluster up: a cluster is already up ({old.get('master_url') or old.get('connect_url')}"
                           f", state in {_state_path(home)}); run `labkit cluster down` first")
    if workers:
        _check_free(port, "master", "--port")
        _check_free(ui_port, "master UI", "--ui-port")
    if connect:
        _check_free(connect_port, "Spark Connect", "--connect-port")
        _check_free(connect_ui_port, "Spark Connect UI", "--connect-ui-port")
    for sub in ("logs", "pids", "work"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"home": str(home), "processes": [], "master_url": None, "master_ui": None,
                             "worker_uis": [], "connect_url": None, "connect_ui": None,
                             "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        if workers:
            _start_standalone(home, state, workers, cores, memory, port, ui_port, timeout, echo)
        if connect:
            _start_connect(home, state, workers, cores, connect_port, connect_ui_port, conf or {}, timeout, echo)
    except BaseException:
        down(home, echo=lambda *_: None)
        raise
    return state


def _start_standalone(home, state, workers, cores, memory, port, ui_port, timeout, echo) -> None:
    master_url, master_ui = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}"
    master = _spawn(home, "master", MASTER, ["--host", "127.0.0.1", "--port", str(port),
                                             "--webui-port", str(ui_port)])
    state["processes"].append(master)
    state.update(master_url=master_url, master_ui=master_ui)
    _write_state(home, state)
    echo(f"master  {master_url}  (pid {master['pid']}) ...")
    _wait("the master", lambda: _get(f"{master_ui}/json/").get("status") == "ALIVE", [master], timeout)
    for i in range(workers):
        wport = _free_port()
        w = _spawn(home, f"worker-{i + 1}", WORKER, [
            "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory, "--webui-port", str(wport),
            "--work-dir", str(home / "work" / f"worker-{i + 1}"), master_url])
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
    args = ["--master", master]
    for key, value in settings.items():
        args += ["--conf", f"{key}={value}"]
    script = _spark_home() / "sbin" / "start-connect-server.sh"
    out = subprocess.run(["bash", str(script), *args], env=_env(home), capture_output=True, text=True,
                         timeout=60, start_new_session=True)
    pidfile = next((home / "pids").glob(f"spark-*-{CONNECT}-1.pid"), None)
    if out.returncode != 0 or pidfile is None:
        raise ClusterError(f"cluster up: start-connect-server.sh failed ({out.returncode}): "
                           f"{(out.stdout + out.stderr)[-2000:]}")
    pid = int(pidfile.read_text().strip())
    log = next((home / "logs").glob(f"spark-*-{CONNECT}-1-*.out"), home / "logs")
    proc = {"name": "connect", "cls": CONNECT, "pid": pid, "pgid": os.getpgid(pid), "log": str(log)}
    state["processes"].append(proc)
    state.update(connect_url=f"sc://127.0.0.1:{port}", connect_ui=f"http://127.0.0.1:{ui_port}",
                 connect_master=master)
    _write_state(home, state)
    echo(f"connect sc://127.0.0.1:{port} on {master} (pid {pid}) ...")

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        return bool(_get(f"http://127.0.0.1:{ui_port}/api/v1/applications"))

    _wait("the Spark Connect server", ready, [proc], timeout)


def _group_members(pgid: int) -> list[int]:
    """Processes still in a process group (Linux /proc; empty elsewhere)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(entry.name)) == pgid:
                members.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return members


def _signal(proc: dict[str, Any]) -> bool:
    """SIGTERM a recorded process group after checking its leader is still ours; False when it was not running."""
    if not _alive(proc):
        return False
    try:
        os.killpg(proc["pgid"], signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def _stop(procs: list[dict[str, Any]], grace: float) -> list[str]:
    """Stop recorded process groups together: SIGTERM, then SIGKILL for what outlives ``grace``."""
    signalled = {id(p): _signal(p) for p in procs}
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(
            signalled[id(p)] and (_running(p["pid"]) or _group_members(p["pgid"])) for p in procs):
        time.sleep(0.2)
    lines = []
    for p in procs:
        if not signalled[id(p)]:
            lines.append(f"{p['name']} (pid {p['pid']}) was not running")
            continue
        left = _group_members(p["pgid"])
        if left:
            os.killpg(p["pgid"], signal.SIGKILL)
            lines.append(f"{p['name']} (pid {p['pid']}) stopped; {len(left)} process(es) killed after {grace:.0f} s")
        else:
            lines.append(f"{p['name']} (pid {p['pid']}) stopped")
    return lines


def down(home: str | os.PathLike | None = None, grace: float = 20.0, echo=print) -> list[str]:
    """Stop exactly the processes ``up`` started (by their recorded ids) and forget them.

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
        One line per recorded process: stopped, or was not running.
    """
    home = Path(home or cluster_home())
    state = _read_state(home)
    if not state:
        echo(f"no cluster recorded in {home}")
        return []
    # the Connect server (a driver) first, so its application ends cleanly; then workers and master together
    drivers = [p for p in state["processes"] if p["cls"] == CONNECT]
    daemons = [p for p in reversed(state["processes"]) if p["cls"] != CONNECT]
    lines = []
    for group in (drivers, daemons):
        for line in _stop(group, grace):
            lines.append(line)
            echo(line)
    _state_path(home).unlink()
    for pidfile in (home / "pids").glob("*.pid"):
        pidfile.unlink()
    return lines


def status(home: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The recorded cluster with, per process, whether it still runs, and the master's view of its workers.

    Returns
    -------
    dict or None
        None when no cluster is recorded.
    """
    home = Path(home or cluster_home())
    state = _read_state(home)
    if not state:
        return None
    for proc in state["processes"]:
        proc["alive"] = _alive(proc)
    if state.get("master_ui"):
        try:
            info = _get(f"{state['master_ui']}/json/")
            state["master_view"] = {k: info.get(k) for k in ("status", "aliveworkers", "cores", "coresused",
                                                              "memory", "memoryused")}
            state["master_view"]["applications"] = [a.get("name") for a in info.get("activeapps", [])]
        except OSError as exc:
            state["master_view"] = {"error": str(exc)}
    return state


def connect_ui(address: str, home: str | os.PathLike | None = None) -> str | None:
    """The UI of the Connect server ``labkit cluster up`` started at ``address`` (``sc://host:port``), if any."""
    state = _read_state(Path(home or cluster_home()))
    if state and state.get("connect_url") == address.split("/;")[0].rstrip("/"):
        return state["connect_ui"]
    return None


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
    lines.append(f"logs            {state['home']}/logs  (executors: {state['home']}/work)")
    for proc in state["processes"]:
        if "alive" in proc:
            lines.append(f"  {proc['name']:<10} pid {proc['pid']:<8} {'running' if proc['alive'] else 'NOT RUNNING'}")
    if "master_view" in state:
        lines.append(f"  master view: {state['master_view']}")
    return "\n".join(lines)
