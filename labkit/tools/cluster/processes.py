"""The processes ``labkit cluster up`` starts: spawned in groups of their own, proven ours, stopped together.

A recorded pid is signalled only while it still runs the recorded class,
started at the recorded time (a reused pid starts later) and leads the
recorded process group. Processes are read with ``psutil`` (Linux and macOS).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil  # a recorded pid's command line and start time: a reused pid is never signalled

from labkit.core.poll import wait_until
from labkit.tools.child import child_env, group_alive, start_in_group

__all__ = ["CHILDREN", "alive", "cluster_env", "not_ours", "running", "spark_home", "spawn", "start_time", "stop"]

_START_SLACK = 0.01  # seconds: psutil reads a process's start time in clock ticks
CHILDREN: dict[int, subprocess.Popen] = {}  # processes this interpreter started: poll() reaps them


def spark_home() -> Path:
    """The installed pyspark: its ``bin/spark-class`` and ``sbin/`` scripts."""
    import pyspark  # the cluster's own Spark: imported when a part starts, not with the CLI

    return Path(pyspark.__file__).resolve().parent


def _cmdline(pid: int) -> str:
    """The command line of a running process ('' when it is gone)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.AccessDenied:
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True)
        return out.stdout.strip()
    except psutil.Error:  # gone, or a zombie
        return ""


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    child = CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def start_time(pid: int) -> float | None:
    """When a process started (seconds since the epoch), None when it is gone or not readable."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _settled_cmdline(pid: int) -> str:
    """The command line, read again for a moment while it is empty (``spark-class`` execs Java)."""
    line = wait_until(lambda: _cmdline(pid) or (not running(pid) and " "), 1.0, interval=0.05)
    return (line or "").strip()


def not_ours(proc: dict[str, Any]) -> str | None:
    """Why a running recorded pid is not the process ``up`` started, or None when it is.

    It must still run the recorded class, have started at the recorded time (a
    reused pid starts later) and lead the recorded process group.
    """
    if proc["cls"] not in _settled_cmdline(proc["pid"]):
        return "it runs another program"
    started = start_time(proc["pid"])
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


def alive(proc: dict[str, Any]) -> bool:
    """Whether a recorded process still runs and is still the very process it was started as."""
    return running(proc["pid"]) and not_ours(proc) is None


def cluster_env(home: Path) -> dict[str, str]:
    """The environment of the cluster's processes: its folders, 127.0.0.1, and no secret but the auth file's."""
    env = child_env(extra={"SPARK_HOME": str(spark_home()), "SPARK_LOG_DIR": str(home / "logs"),
                           "SPARK_PID_DIR": str(home / "pids"), "SPARK_WORKER_DIR": str(home / "work"),
                           "PYSPARK_PYTHON": sys.executable})
    for key in ("SPARK_CONNECT_AUTHENTICATE_TOKEN", "_SPARK_AUTH_SECRET"):
        env.pop(key, None)  # the auth file is the one source of the secret and the token
    return env


def spawn(home: Path, name: str, cls: str, args: list[str]) -> dict[str, Any]:
    """Start ``spark-class <cls> args`` in its own process group, logging to ``logs/<name>.log``."""
    log_path = home / "logs" / f"{name}.log"
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        proc = start_in_group([str(spark_home() / "bin" / "spark-class"), cls, *args], cluster_env(home),
                              stdout=log, stderr=subprocess.STDOUT, text=False)
    CHILDREN[proc.pid] = proc
    return {"name": name, "cls": cls, "pid": proc.pid, "pgid": proc.pid, "started": start_time(proc.pid),
            "log": str(log_path)}


def _signal(proc: dict[str, Any]) -> str | None:
    """SIGTERM a recorded process group once its leader is proven ours; None when signalled, else why not."""
    if not running(proc["pid"]):
        return "was not running"
    why = not_ours(proc)
    if why is not None:
        return f"is not the process labkit started ({why}); left alone"
    try:
        os.killpg(proc["pgid"], signal.SIGTERM)
    except ProcessLookupError:
        return "was not running"
    return None


def stop(procs: list[dict[str, Any]], grace: float) -> list[str]:
    """Stop recorded process groups together: SIGTERM, then SIGKILL for what outlives ``grace``."""
    skipped = {id(p): _signal(p) for p in procs}
    signalled = [p for p in procs if skipped[id(p)] is None]
    wait_until(lambda: not any(running(p["pid"]) or group_alive(p["pgid"]) for p in signalled), grace, interval=0.2)
    lines = []
    for p in procs:
        if skipped[id(p)] is not None:
            lines.append(f"{p['name']} (pid {p['pid']}) {skipped[id(p)]}")
            continue
        left = group_alive(p["pgid"])
        if left:
            os.killpg(p["pgid"], signal.SIGKILL)
            lines.append(f"{p['name']} (pid {p['pid']}) stopped; {len(left)} process(es) killed after {grace:.0f} s")
        else:
            lines.append(f"{p['name']} (pid {p['pid']}) stopped")
    return lines
