"""What a session can tell about where it runs: classic (py4j) or Spark Connect, the same way.

A classic session has a local JVM (``sparkContext``, ``_jvm``); a Spark Connect
session (``sc://host:port``) has only a gRPC channel to a server. Everything in
labkit that needs the master, the cores, the UI or job tags asks this module, so
it works on both. What has no Connect path raises :class:`ConnectUnsupported`
naming the feature, never a bare ``AttributeError``.

The UI of a Connect server cannot be asked for by its client. It comes from
``spark_session(..., spark_ui=URL)``, from ``$LABKIT_SPARK_UI``, or from the
state of ``labkit cluster up --connect`` when the ``sc://`` address is the one
it started.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import TYPE_CHECKING, Any

from labkit.core import cluster_state

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [  # the job-tag, UI-registration and JVM-ending helpers stay out: measure's, session's, notebook's own
    "ConnectUnsupported",
    "api_base",
    "connect_address",
    "get_json",
    "is_connect",
    "master",
    "parallelism",
    "require_classic",
    "ui_url",
]

_UI: dict[str, str] = {}  # Connect session id -> the server's UI, given to spark_session


class ConnectUnsupported(RuntimeError):
    """A labkit feature that needs the local JVM was called on a Spark Connect session."""


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect session (``sc://``) rather than a classic one.

    Parameters
    ----------
    spark : SparkSession

    Returns
    -------
    bool
    """
    return type(spark).__module__.startswith("pyspark.sql.connect")


def require_classic(spark: SparkSession, feature: str) -> None:
    """Raise :class:`ConnectUnsupported` naming ``feature`` when ``spark`` is a Connect session.

    Parameters
    ----------
    spark : SparkSession
    feature : str
        What needs the JVM, e.g. ``"memory.rdd_storage (RDD storage info)"``.

    Raises
    ------
    ConnectUnsupported
    """
    if is_connect(spark):
        raise ConnectUnsupported(
            f"{feature} needs the driver's JVM (sparkContext/_jvm), which a Spark Connect session does not have; "
            "run this on a classic session (spark_master local[*], local-cluster[...] or spark://...)")


def master(spark: SparkSession) -> str:
    """The master URL: ``local[2]``, ``spark://...``; for Connect ``sc://host:port (server on <master>)``.

    Parameters
    ----------
    spark : SparkSession

    Returns
    -------
    str
    """
    if is_connect(spark):
        return f"{connect_address(spark)} (server on {spark.conf.get('spark.master')})"
    return spark.sparkContext.master


def connect_address(spark: SparkSession) -> str:
    """``sc://host:port`` of a Connect session, without its parameters.

    Parameters
    ----------
    spark : SparkSession

    Returns
    -------
    str
    """
    return f"sc://{spark.client._builder.endpoint}"


def set_spark_ui(spark: SparkSession, url: str) -> None:
    """Tell labkit where the Connect server's UI is (``http://127.0.0.1:4040``) for this session."""
    _UI[spark.session_id] = url.rstrip("/")


def ui_url(spark: SparkSession) -> str:
    """The Spark UI of the application that runs this session's jobs.

    Parameters
    ----------
    spark : SparkSession

    Returns
    -------
    str
        ``http://host:port``.

    Raises
    ------
    RuntimeError
        When the UI is off (classic) or, for Connect, when no address was
        given (``spark_ui=``, ``$LABKIT_SPARK_UI``) and ``labkit cluster`` did
        not start this server.
    """
    if not is_connect(spark):
        url = spark.sparkContext.uiWebUrl
        if not url:
            raise RuntimeError("measure needs the Spark UI (spark.ui.enabled=true); labkit.spark_session() turns it on")
        return url
    if spark.session_id in _UI:
        return _UI[spark.session_id]
    if os.environ.get("LABKIT_SPARK_UI"):
        return os.environ["LABKIT_SPARK_UI"].rstrip("/")
    url = cluster_state.connect_ui(connect_address(spark))
    if url:
        return url
    raise RuntimeError(
        f"a Spark Connect client cannot ask the server ({connect_address(spark)}) where its UI is, and measure "
        "reads task metrics there: set LABKIT_SPARK_UI=http://host:port (the server's spark.ui.port) or pass "
        "spark_session(..., spark_ui=...). `labkit cluster up --connect` records it for its own server.")


def get_json(url: str, timeout: float = 60.0) -> Any:
    """GET a REST URL as JSON (the lab's one JSON GET: Spark's UIs and REST API).

    Raises
    ------
    OSError
        When the URL cannot be reached (``urllib.error.URLError``) or does not answer in ``timeout`` seconds.
    ValueError
        When the answer is not JSON.
    """
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - a Spark UI, loopback in this lab
        return json.load(resp)


def api_base(spark: SparkSession) -> str:
    """Base URL of this application's REST API: ``<ui>/api/v1/applications/<app id>``."""
    app = spark.conf.get("spark.app.id") if is_connect(spark) else spark.sparkContext.applicationId
    return f"{ui_url(spark)}/api/v1/applications/{app}"


def parallelism(spark: SparkSession) -> int:
    """Cores the session's tasks run on: ``defaultParallelism`` (classic) or the executors' cores (Connect).

    Parameters
    ----------
    spark : SparkSession

    Returns
    -------
    int
    """
    if not is_connect(spark):
        return spark.sparkContext.defaultParallelism
    given = spark.conf.get("spark.default.parallelism", None)
    if given:
        return int(given)
    executors = get_json(f"{api_base(spark)}/executors")
    workers = [e for e in executors if e["id"] != "driver" and e.get("isActive", True)]
    return int(sum(e["totalCores"] for e in (workers or executors)))


def add_job_tag(spark: SparkSession, tag: str) -> None:
    """Tag the jobs this session starts from now on (``sc.addJobTag`` or Connect's ``addTag``)."""
    if is_connect(spark):
        spark.addTag(tag)
    else:
        spark.sparkContext.addJobTag(tag)


def remove_job_tag(spark: SparkSession, tag: str) -> None:
    """Stop tagging jobs with ``tag``."""
    if is_connect(spark):
        spark.removeTag(tag)
    else:
        spark.sparkContext.removeJobTag(tag)


def has_job_tag(job: dict, tag: str) -> bool:
    """Whether a REST job carries ``tag``; Connect prefixes it (``SparkConnect_SessionTag_..._Tag_<tag>``)."""
    return any(t == tag or t.endswith(f"_Tag_{tag}") for t in job.get("jobTags") or [])


def end_local_jvm(timeout: float = 60.0) -> bool:
    """End the JVM this Python process started for its classic sessions, once none is active.

    ``spark.stop()`` stops the SparkContext but leaves its JVM running until
    Python exits. A Jupyter kernel is often killed rather than left to exit
    (nbval and a kernel restart send SIGKILL to its process group), and a killed
    JVM never runs its shutdown hooks: its ``spark-*`` and ``artifacts-*``
    folders and its extracted native libraries stay in the temp folder, a few of
    them for every notebook run. Closing the JVM's stdin makes it exit at once,
    hooks included. A later ``spark_session`` starts a new JVM.

    Parameters
    ----------
    timeout : float
        Seconds to wait for the JVM to exit.

    Returns
    -------
    bool
        Whether a JVM was ended: False when a session still runs, when the JVM
        was not started by this process (``PYSPARK_GATEWAY_PORT``), or when there
        is none (Spark Connect).
    """
    from pyspark import SparkContext

    gateway = getattr(SparkContext, "_gateway", None)
    proc = getattr(gateway, "proc", None)
    if proc is None or SparkContext._active_spark_context is not None:
        return False
    try:
        gateway.shutdown()
        proc.stdin.close()
        proc.wait(timeout=timeout)
    finally:
        SparkContext._gateway = None
        SparkContext._jvm = None
    return True
