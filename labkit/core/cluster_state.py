"""The read side of ``labkit cluster up``'s files: its recorded state, its secret, and who may use them.

``labkit.tools.cluster`` starts and stops the lab's standalone cluster and
Spark Connect server, and records them in ``state.json`` and a private
``auth/spark-auth.properties`` (:mod:`labkit.core.paths`). A session for that
cluster needs the secret (``spark.authenticate``) or the Connect token, and
``measure`` needs the Connect server's UI: the core reads both here, so it
never imports the tools layer that writes them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.core import paths
from labkit.core.args import confined

__all__ = ["HARDENING", "SECRET_KEYS", "ClientAuth", "ClusterError", "client_auth", "connect_ui", "loopback",
           "read_auth", "read_state", "recorded"]

# settings every part of the lab's cluster gets from the auth file; a --conf may not change them
HARDENING = {
    "spark.authenticate": "true",                       # master, workers, drivers and executors share the secret
    "spark.master.rest.enabled": "false",               # REST submission has no authentication (on by default in 4.1+)
    "spark.ui.killEnabled": "false",                    # the UIs have no authentication: no kill links
    "spark.master.ui.decommission.allow.mode": "DENY",  # nor the master UI's /workers/kill
}
SECRET_KEYS = ("spark.authenticate.secret", "spark.connect.authenticate.token")
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


_PROC_KEYS = {"name", "cls", "pid", "pgid"}


def read_state(home: Path) -> dict[str, Any] | None:
    """The recorded state, None when there is none; a ClusterError naming the file when it cannot be read."""
    path = paths.cluster_state_file(home)
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


def read_auth(path: Path) -> ClientAuth:
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
    missing = [key for key in SECRET_KEYS if not values.get(key, "").strip()]
    if missing:
        raise ClusterError(f"cluster: the secret file {path} has no {' and no '.join(missing)}; {again}")
    return ClientAuth(path, values[SECRET_KEYS[0]].strip(), values[SECRET_KEYS[1]].strip())


def loopback(url: str) -> tuple[str, int] | None:
    """``("spark"|"sc", port)`` for a ``spark://`` or ``sc://`` URL on 127.0.0.1/localhost, else None.

    Examples
    --------
    >>> loopback("sc://localhost"), loopback("spark://127.0.0.1:7078/x"), loopback("spark://10.0.0.1:7077")
    (('sc', 15002), ('spark', 7078), None)
    """
    m = _LOOPBACK_URL.fullmatch(url or "")
    if not m:
        return None
    return m.group(1), int(m.group(3)) if m.group(3) else _DEFAULT_PORTS[m.group(1)]


def recorded(state: dict[str, Any], url: str) -> bool:
    """Whether ``url`` names the master or the Connect server of a recorded cluster."""
    where = loopback(url)
    if where is None:
        return False
    key = "master_url" if where[0] == "spark" else "connect_url"
    return bool(state.get(key)) and loopback(state[key]) == where


def client_auth(url: str, home: str | os.PathLike | None = None) -> ClientAuth | None:
    """The secret and token a client needs for ``url`` when it is the lab's own cluster, else None.

    Parameters
    ----------
    url : str
        A master URL: ``spark://127.0.0.1:7077`` or ``sc://localhost:15002``
        (``127.0.0.1`` and ``localhost`` are the same). Any other URL gives None.
    home : path, optional
        :func:`labkit.core.paths.cluster_home` by default.

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
    if loopback(url) is None:
        return None
    home = Path(home or paths.cluster_home())
    state = read_state(home)
    if not state or not state.get("auth") or not recorded(state, url):
        return None
    try:
        path = confined(state["auth"], home, "the secret file")
    except ValueError as exc:
        raise ClusterError(f"cluster: the state file {paths.cluster_state_file(home)} names a secret file outside "
                           f"{home}; `labkit cluster down`, then `up`") from exc
    return read_auth(path)


def connect_ui(address: str, home: str | os.PathLike | None = None) -> str | None:
    """The UI of the Connect server ``labkit cluster up`` started at ``address`` (``sc://host:port``), if any.

    ``127.0.0.1`` and ``localhost`` name the same server; ``/;params`` are ignored.
    """
    if loopback(address) is None:
        return None
    state = read_state(Path(home or paths.cluster_home()))
    if state and recorded(state, address):
        return state["connect_ui"]
    return None
