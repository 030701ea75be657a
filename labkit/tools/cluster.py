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
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # a recorded pid's start time: a reused pid is never signalled

__all__ = ["ClientAuth", "ClusterError", "client_auth", "cluster_home", "connect_ui", "describe", "down", "status",
           "up"]

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
CONNECT = "org.apache.spark.sql.connect.service.SparkConnectServer"

AUTH_FILE = "spark-auth.properties"
# settings every part of the lab's cluster gets from the auth file; a --conf may not change them
_HARDENING = {
    "spark.authenticate": "true",                       # master, workers, drivers and executors share the secret
    "spark.master.rest.enabled": "false",               # REST submission has no authentication (on by default in 4.1+)
    "spark.ui.killEnabled": "false",                    # the UIs have no authentication: no kill links
    "spark.master.ui.decommission.allow.mode": "DENY",  # nor the master UI's /workers/kill
}
_SECRET_KEYS = ("spark.authenticate.secret", "spark.connect.authenticate.token")
_START_SLACK = 0.01  # seconds: psutil reads a process's start time in clock ticks
_LOOPBACK_URL = re.compile(r"(spark|sc)://(127\.0\.0\.1|localhost)(?::(\d{1,5}))?(?:/.*)?")
_DEFAULT_PORTS = {"spark": 7077, "sc": 15002}


class ClusterError(RuntimeError):
    """The cluster could not start, or is not in the state the command needs."""


@dataclass(frozen=True)
class ClientAuth:
    """What a client of the lab's cluster needs: the auth file, the shared secret, the Connect token.

    The secret and the token never show in ``repr``.
    """

    properties: Path
    secret: str = field(repr=False)
    token: str = field(repr=False)


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
    """``<home>/state.json``."""
    return home / "state.json"


def _auth_path(home: Path) -> Path:
    """``<home>/auth/spark-auth.properties``."""
    return home / "auth" / AUTH_FILE


_PROC_KEYS = {"name", "cls", "pid", "pgid"}


def _read_state(home: Path) -> dict[str, Any] | None:
    """The recorded state, None when there is none; a ClusterError naming the file when it cannot be read."""
    path = _state_path(home)
    advice = (f"if a cluster may still run, find its processes with `ps` (pid files in {home / 'pids'}, logs in "
              f"{home / 'logs'}) and stop them, then delete {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClusterError(f"cluster: cannot read the state file {path} ({type(exc).__name__}); {advice}") from None
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClusterError(f"cluster: the state file {path} is not valid JSON ({exc.msg} at line {exc.lineno}, "
                           f"column {exc.colno}; a crash while writing it?); {advice}") from None
    procs = state.get("processes") if isinstance(state, dict) else None
    if not isinstance(procs, list) or not all(isinstance(p, dict) and _PROC_KEYS <= p.keys() for p in procs):
        raise ClusterError(f"cluster: the state file {path} is not a labkit cluster state (it needs a list of "
                           f"processes with {', '.join(sorted(_PROC_KEYS))}); {advice}")
    return state


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
    _write_private(_state_path(home), json.dumps(state, indent=2))


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
    values = {**_HARDENING, **{key: secrets.token_hex(32) for key in _SECRET_KEYS}}
    text = ("# labkit cluster up: the shared secret of this cluster's master, workers and drivers, and its Spark\n"
            "# Connect token. Readable by you only; a new one at every `up`, deleted by `down`.\n"
            + "".join(f"{key}={value}\n" for key, value in values.items()))
    path = _auth_path(home)
    _write_private(path, text)
    return path


def _read_auth(path: Path) -> ClientAuth:
    """The secret and token from an auth file, after checking that only this user can read it."""
    again = "`labkit cluster down`, then `labkit cluster up`, writes a new one"
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ClusterError(f"cluster: the secret file {path} of the running cluster is missing; {again}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClusterError(f"cluster: cannot read the secret file {path} ({type(exc).__name__}); {again}") from None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ClusterError(f"cluster: the secret file {path} can be read by others (mode {info.st_mode & 0o777:o}, "
                           f"owner uid {info.st_uid}); it must be yours with mode 600: {again}")
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    missing = [key for key in _SECRET_KEYS if not values.get(key, "").strip()]
    if missing:
        raise ClusterError(f"cluster: the secret file {path} has no {' and no '.join(missing)}; {again}")
    return ClientAuth(path, values[_SECRET_KEYS[0]].strip(), values[_SECRET_KEYS[1]].strip())


def _loopback(url: str) -> tuple[str, int] | None:
    """``("spark"|"sc", port)`` for a ``spark://`` or ``sc://`` URL on 127.0.0.1/localhost, else None."""
    m = _LOOPBACK_URL.fullmatch(url or "")
    if not m:
        return None
    return m.group(1), int(m.group(3)) if m.group(3) else _DEFAULT_PORTS[m.group(1)]


def _recorded(state: dict[str, Any], url: str) -> bool:
    """Whether ``url`` names the master or the Connect server of a recorded cluster."""
    where = _loopback(url)
    if where is None:
        return False
    key = "master_url" if where[0] == "spark" else "connect_url"
    return bool(state.get(key)) and _loopback(state[key]) == where


def client_auth(url: str, home: str | os.PathLike | None = None) -> ClientAuth | None:
    """The secret and token a client needs for ``url`` when it is the lab's own cluster, else None.

    Parameters
    ----------
    url : str
        A master URL: ``spark://127.0.0.1:7077`` or ``sc://localhost:15002``
        (``127.0.0.1`` and ``localhost`` are the same). Any other URL gives None.
    home : path, optional
        :func:`cluster_home` by default.

    Returns
    -------
    ClientAuth or None
        None when ``url`` is not the master or Connect server that
        ``labkit cluster up`` recorded (or the cluster has no auth file).

    Raises
    ------
    ClusterError
        When ``url`` is the lab's cluster but its secret file is missing,
        unreadable or readable by others, or the state file is unreadable.
    """
    if _loopback(url) is None:
        return None
    home = Path(home or cluster_home())
    state = _read_state(home)
    if not state or not state.get("auth") or not _recorded(state, url):
        return None
    from labkit.core.args import confined

    try:
        path = confined(state["auth"], home, "the secret file")
    except ValueError as exc:
        raise ClusterError(f"cluster: the state file {_state_path(home)} names a secret file outside {home}; "
                           "`labkit cluster down`, then `up`") from exc
    return _read_auth(path)


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
    mine = [key for key in conf if key in _HARDENING or key.startswith("spark.authenticate")
            or key in _SECRET_KEYS]
    if mine:
        raise ClusterError(f"cluster up: --conf {', '.join(sorted(mine))} is set by `labkit cluster up` itself "
                           f"(authentication, from {AUTH_FILE}; a secret on a command line is visible in `ps`)")


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


def _start_time(pid: int) -> float | None:
    """When a process started (seconds since the epoch), None when it is gone or not readable."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _settled_cmdline(pid: int) -> str:
    """The command line, read again for a moment while it is empty (``spark-class`` execs Java)."""
    for _ in range(20):
        line = _cmdline(pid)
        if line or not _running(pid):
            return line
        time.sleep(0.05)
    return ""


def _not_ours(proc: dict[str, Any]) -> str | None:
    """Why a running recorded pid is not the process ``up`` started, or None when it is.

    It must still run the recorded class, have started at the recorded time (a
    reused pid starts later) and lead the recorded process group.
    """
    if proc["cls"] not in _settled_cmdline(proc["pid"]):
        return "it runs another program"
    started = _start_time(proc["pid"])
    if proc.get("started") is None:
        return "the state file has no start time for it, so it cannot be told from a reused pid"
    if started is None or abs(started - proc["started"]) > _START_SLACK:
        return "it started at another time than the recorded process (a reused pid)"
    try:
        pgid = os.getpgid(proc["pid"])
    except ProcessLookupError:
        return "it has exited"
    if pgid != proc["pgid"]:
        return f"it is in process group {pgid}, not the recorded {proc['pgid']}"
    return None


def _alive(proc: dict[str, Any]) -> bool:
    """Whether a recorded process still runs and is still the very process it was started as."""
    return _running(proc["pid"]) and _not_ours(proc) is None


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SPARK_HOME=str(_spark_home()), SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(home / "logs"),
               SPARK_PID_DIR=str(home / "pids"), SPARK_WORKER_DIR=str(home / "work"),
               PYSPARK_PYTHON=sys.executable)
    for key in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_CONNECT_AUTHENTICATE_TOKEN",
                "_SPARK_AUTH_SECRET"):
        env.pop(key, None)  # the auth file is the one source of the secret and the token
    return env


def _spawn(home: Path, name: str, cls: str, args: list[str]) -> dict[str, Any]:
    """Start ``spark-class <cls> args`` in its own process group, logging to ``logs/<name>.log``."""
    log = open(home / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen([str(_spark_home() / "bin" / "spark-class"), cls, *args], env=_env(home),
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    _CHILDREN[proc.pid] = proc
    return {"name": name, "cls": cls, "pid": proc.pid, "pgid": proc.pid, "started": _start_time(proc.pid),
            "log": str(home / "logs" / f"{name}.log")}


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
        except (OSError, ValueError):  # not listening yet, or a UI still starting answers a page that is not JSON
            pass
        time.sleep(0.5)
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
    home = Path(home or cluster_home())
    with _lock(home, "up"):
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
    master = _spawn(home, "master", MASTER, ["--host", "127.0.0.1", "--port", str(port),
                                             "--webui-port", str(ui_port), *auth])
    state["processes"].append(master)
    state.update(master_url=master_url, master_ui=master_ui)
    _write_state(home, state)
    echo(f"master  {master_url}  (pid {master['pid']}) ...")
    _wait("the master", lambda: _get(f"{master_ui}/json/").get("status") == "ALIVE", [master], timeout)
    for i in range(workers):
        wport = _free_port()
        w = _spawn(home, f"worker-{i + 1}", WORKER, [
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
    script = _spark_home() / "sbin" / "start-connect-server.sh"
    out = subprocess.run(["bash", str(script), *args], env=_env(home), capture_output=True, text=True,
                         timeout=60, start_new_session=True)
    pidfile = next((home / "pids").glob(f"spark-*-{CONNECT}-1.pid"), None)
    if out.returncode != 0 or pidfile is None:
        raise ClusterError(f"cluster up: start-connect-server.sh failed ({out.returncode}): "
                           f"{(out.stdout + out.stderr)[-2000:]}")
    pid = int(pidfile.read_text().strip())
    log = next((home / "logs").glob(f"spark-*-{CONNECT}-1-*.out"), home / "logs")
    proc = {"name": "connect", "cls": CONNECT, "pid": pid, "pgid": os.getpgid(pid), "started": _start_time(pid),
            "log": str(log)}
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


def _signal(proc: dict[str, Any]) -> str | None:
    """SIGTERM a recorded process group once its leader is proven ours; None when signalled, else why not."""
    if not _running(proc["pid"]):
        return "was not running"
    why = _not_ours(proc)
    if why is not None:
        return f"is not the process labkit started ({why}); left alone"
    try:
        os.killpg(proc["pgid"], signal.SIGTERM)
    except ProcessLookupError:
        return "was not running"
    return None


def _stop(procs: list[dict[str, Any]], grace: float) -> list[str]:
    """Stop recorded process groups together: SIGTERM, then SIGKILL for what outlives ``grace``."""
    skipped = {id(p): _signal(p) for p in procs}
    signalled = [p for p in procs if skipped[id(p)] is None]
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_running(p["pid"]) or _group_members(p["pgid"]) for p in signalled):
        time.sleep(0.2)
    lines = []
    for p in procs:
        if skipped[id(p)] is not None:
            lines.append(f"{p['name']} (pid {p['pid']}) {skipped[id(p)]}")
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
    home = Path(home or cluster_home())
    if not home.is_dir():
        echo(f"no cluster recorded in {home}")
        return []
    with _lock(home, "down"):
        return _down(home, grace, echo)


def _down(home: Path, grace: float, echo) -> list[str]:
    """``down`` with the lock already held."""
    state = _read_state(home)
    if not state:
        echo(f"no cluster recorded in {home}")
        _auth_path(home).unlink(missing_ok=True)
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
    _auth_path(home).unlink(missing_ok=True)
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
    """The UI of the Connect server ``labkit cluster up`` started at ``address`` (``sc://host:port``), if any.

    ``127.0.0.1`` and ``localhost`` name the same server; ``/;params`` are ignored.
    """
    if _loopback(address) is None:
        return None
    state = _read_state(Path(home or cluster_home()))
    if state and _recorded(state, address):
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
