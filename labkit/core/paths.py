"""Where the lab's files are: the repository, the dataset cache, the cluster's state and secret files.

One home for these paths, so that the core reads the state ``labkit cluster up``
records without importing the tools layer that writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["AUTH_FILE", "LOG4J", "REPO", "cache_dir", "cluster_auth_file", "cluster_home", "cluster_state_file"]

REPO = Path(__file__).resolve().parents[2]  # the checkout labkit runs from (its pyproject.toml, notebooks, ...)
LOG4J = Path(__file__).with_name("log4j2.properties")  # the lab's log4j configuration, for every JVM it starts
AUTH_FILE = "spark-auth.properties"


def cache_dir() -> str:
    """Where generated datasets are cached: ``$LABKIT_CACHE_DIR``, else ``datasets/cache`` in the repository.

    Outside a checkout (an installed labkit) it is ``~/.cache/labkit``. It may be a URL (``s3a://...``).
    """
    env = os.environ.get("LABKIT_CACHE_DIR")
    if env:
        return env
    if (REPO / "pyproject.toml").exists():
        return str(REPO / "datasets" / "cache")
    return str(Path.home() / ".cache" / "labkit")


def cluster_home() -> Path:
    """Where the cluster keeps its state, logs and work folders.

    ``$LABKIT_CLUSTER_DIR``, else ``<cache>/cluster`` when the dataset cache is a
    local folder, else ``~/.cache/labkit/cluster``.

    Returns
    -------
    pathlib.Path
    """
    if os.environ.get("LABKIT_CLUSTER_DIR"):
        return Path(os.environ["LABKIT_CLUSTER_DIR"])
    cache = cache_dir()
    return Path(cache) / "cluster" if "://" not in cache else Path.home() / ".cache" / "labkit" / "cluster"


def cluster_state_file(home: Path) -> Path:
    """``<home>/state.json``: the processes, URLs and UIs ``labkit cluster up`` recorded."""
    return home / "state.json"


def cluster_auth_file(home: Path) -> Path:
    """``<home>/auth/spark-auth.properties``: the cluster's shared secret and Connect token (mode 0600)."""
    return home / "auth" / AUTH_FILE
