"""A child Python with its own JVM: run it, bound it in time, and leave nothing of it running.

A SparkSession's master, driver memory and serializer are fixed when its JVM
starts, and an OutOfMemoryError may kill it: the lab runs such work in a child
Python process (``python -m <module> <args...>``) with a session of its own.
:func:`run_child` starts the child in a process group of its own, kills the
whole group (the Python child, its JVM and anything they started) when it
ends or times out, waits until no member lives, then removes the child's
scratch folder (its ``java.io.tmpdir`` and ``SPARK_LOCAL_DIRS``).

The child side builds its session with :func:`child_session`: the lab's log4j
configuration, its temp files in the scratch folder, everything on 127.0.0.1
and a free UI port. Process-group members are read with ``psutil`` (Linux and
macOS alike), never from ``/proc``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import psutil

from labkit.core import jvm_archive, paths
from labkit.core.poll import wait_until

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SCRATCH_ENV", "ChildRun", "child_env", "child_session", "group_alive", "kill_group", "run_child",
           "start_in_group"]

SCRATCH_ENV = "LABKIT_CHILD_SCRATCH"  # the child's scratch folder, made and removed by run_child
# a child is a classic session with a JVM of its own, always: Spark Connect's switches are not passed on
_CONNECT_FLAGS = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")


@dataclass(frozen=True)
class ChildRun:
    """How a child run ended.

    ``returncode`` is None when the child was killed on its timeout (``timed_out``); ``stdout`` and ``stderr`` then
    hold what it printed before. ``pgid`` is the child's process group, gone when :func:`run_child` returns.
    """

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    wall_s: float
    pgid: int

    @property
    def ok(self) -> bool:
        """Whether the child ended by itself with exit code 0."""
        return not self.timed_out and self.returncode == 0

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of stderr (of stdout when stderr is empty), for an error message."""
        return "\n".join((self.stderr or self.stdout).splitlines()[-lines:])


def child_env(scratch: str | os.PathLike | None = None, extra: Mapping[str, str] | None = None,
              base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: ``base`` (``os.environ``) on 127.0.0.1, unbuffered, without Spark Connect's flags.

    Parameters
    ----------
    scratch : path, optional
        The child's scratch folder: ``SPARK_LOCAL_DIRS`` and ``LABKIT_CHILD_SCRATCH`` point to it.
    extra : mapping, optional
        More variables, set last.
    base : mapping, optional
        The environment to start from; ``os.environ`` by default.

    Returns
    -------
    dict

    Examples
    --------
    >>> env = child_env("/tmp/x", base={"SPARK_REMOTE": "sc://h", "HOME": "/h"})
    >>> sorted(env.items())  # doctest: +NORMALIZE_WHITESPACE
    [('HOME', '/h'), ('LABKIT_CHILD_SCRATCH', '/tmp/x'), ('PYTHONUNBUFFERED', '1'), ('SPARK_LOCAL_DIRS', '/tmp/x'),
     ('SPARK_LOCAL_IP', '127.0.0.1')]
    """
    env = {**(os.environ if base is None else base), "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    for flag in _CONNECT_FLAGS:
        env.pop(flag, None)
    if scratch is not None:
        env.update(SPARK_LOCAL_DIRS=str(scratch), **{SCRATCH_ENV: str(scratch)})
    env.update(extra or {})
    return env


def start_in_group(argv: Sequence[str], env: Mapping[str, str], stdout: int | IO[Any] | None = subprocess.PIPE,
                   stderr: int | IO[Any] | None = subprocess.PIPE, stdin: int | IO[Any] | None = subprocess.DEVNULL,
                   text: bool = True) -> subprocess.Popen:
    """Start ``argv`` as the leader of a new session and process group (its pid is the group's id).

    Everything it starts stays in that group unless it leaves on purpose, so
    :func:`kill_group` ends the process and its JVM together.

    Returns
    -------
    subprocess.Popen
    """
    return subprocess.Popen(list(argv), stdout=stdout, stderr=stderr, stdin=stdin, text=text, env=dict(env),
                            start_new_session=True)


def group_alive(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, read with psutil; [] when none is left.

    Examples
    --------
    >>> group_alive(os.getpgid(0)) != []
    True
    """
    alive = []
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                alive.append(proc.pid)
        except (OSError, psutil.Error):  # gone meanwhile, or not ours to ask
            continue
    return alive


def kill_group(pgid: int, proc: subprocess.Popen | None = None, sig: int = signal.SIGKILL,
               wait_s: float = 10.0) -> list[int]:
    """Signal a whole process group, reap its leader, and wait until no member lives.

    Parameters
    ----------
    pgid : int
        The group (the pid of the process :func:`start_in_group` started).
    proc : subprocess.Popen, optional
        The leader, when this interpreter started it: reaped here, so it is no zombie.
    sig : int
        ``SIGKILL`` by default.
    wait_s : float
        How long to wait for the members to go.

    Returns
    -------
    list of int
        The members still alive after ``wait_s`` ([] when the group is gone).
    """
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    if proc is not None:
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            pass
    wait_until(lambda: not group_alive(pgid), wait_s, interval=0.05)
    return group_alive(pgid)


def run_child(module: str | None = None, args: Sequence[str] = (), *, argv: Sequence[str] | None = None,
              timeout_s: float = 120.0, env: Mapping[str, str] | None = None,
              scratch_prefix: str = "labkit-child-") -> ChildRun:
    """Run ``python -m <module> <args...>`` (or ``argv``) in its own process group, with a scratch folder.

    Parameters
    ----------
    module : str, optional
        The module the child runs (``sys.executable -m module``).
    args : sequence of str
        Its arguments.
    argv : sequence of str, optional
        A whole command line instead of ``module`` and ``args``.
    timeout_s : float
        The group is killed after this long (``timed_out``).
    env : mapping, optional
        Extra environment variables (over :func:`child_env`'s).
    scratch_prefix : str
        The scratch folder's name prefix (it is removed when the group is gone).

    Returns
    -------
    ChildRun

    Raises
    ------
    ValueError
        When neither or both of ``module`` and ``argv`` are given.

    Examples
    --------
    >>> run = run_child(argv=[sys.executable, "-c", "print('hi')"])
    >>> run.returncode, run.stdout, run.timed_out, group_alive(run.pgid)
    (0, 'hi\\n', False, [])
    """
    if (module is None) == (argv is None):
        raise ValueError("run_child: give a module (with its args) or an argv, not both and not neither")
    cmd = list(argv) if argv is not None else [sys.executable, "-m", module, *args]
    # The child's JVM is killed, never left to its shutdown hooks: its temp and block-manager folders go in a
    # folder of its own, removed once the process group is gone.
    scratch = tempfile.mkdtemp(prefix=scratch_prefix)
    start = time.monotonic()
    try:
        proc = start_in_group(cmd, child_env(scratch, env))
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, proc)
            out, err, timed_out = _leftover_output(proc)
        finally:
            kill_group(proc.pid, proc)  # the JVM, or a grandchild, the Python child left behind
        wall = time.monotonic() - start
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ChildRun(None if timed_out else proc.returncode, out or "", err or "", timed_out, wall, proc.pid)


def _leftover_output(proc: subprocess.Popen) -> tuple[str, str, bool]:
    """What a killed child had printed (empty when a process outside its group still holds its pipes)."""
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        out, err = "", ""
    return out or "", err or "", True


def child_session(app_name: str, conf: Mapping[str, Any] | None = None, master: str = "local[2]") -> SparkSession:
    """The child side: a classic SparkSession on ``master`` with ``conf`` applied before its JVM starts.

    The lab's log4j configuration, the driver's CDS archive when one is built
    (:mod:`labkit.core.jvm_archive`), everything bound to 127.0.0.1, a free UI
    port, no console progress, and (under :func:`run_child`) the JVM's temp
    folder in the child's scratch folder. ``conf`` overrides these defaults.

    Parameters
    ----------
    app_name : str
    conf : mapping, optional
        Spark settings (``spark.driver.memory`` works here, unlike in a running session).
    master : str

    Returns
    -------
    SparkSession
    """
    from pyspark.sql import SparkSession  # pyspark is imported only by the child that builds a session

    java = f"-Dlog4j2.configurationFile=file:{paths.LOG4J}"
    if os.environ.get(SCRATCH_ENV):  # native libraries and Spark's own temp files, removed by the parent
        java += f" -Djava.io.tmpdir={os.environ[SCRATCH_ENV]}"
    defaults = {"spark.ui.showConsoleProgress": "false", "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1", "spark.ui.port": "0",
                "spark.driver.extraJavaOptions": f"{java} {jvm_archive.java_options()}".strip(),
                "spark.executor.extraJavaOptions": java}
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**defaults, **{k: str(v) for k, v in (conf or {}).items()}}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
