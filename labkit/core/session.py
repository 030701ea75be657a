"""Build a SparkSession for a profile, and change its configuration safely.

Nothing here runs at import time: a session exists only once
:func:`spark_session` is called.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from labkit._java import JavaNotFoundError, check_java
from labkit.core import cluster_state, jvm_archive, paths, runtime
from labkit.core.units import config_bytes

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "JavaNotFoundError",
    "check_java",
    "default_shuffle_partitions",
    "spark_conf",
    "spark_default",
    "spark_session",
]

_LOG4J = paths.LOG4J


def _local_cores(master: str) -> int:
    """Cores used by a ``local[...]`` or ``local-cluster[...]`` master."""
    cpus = os.cpu_count() or 1
    m = re.fullmatch(r"local\[(\d+|\*)(?:,\d+)?\]", master)
    if m:
        return cpus if m.group(1) == "*" else int(m.group(1))
    m = re.fullmatch(r"local-cluster\[(\d+),\s*(\d+),\s*\d+\]", master)
    if m:
        return int(m.group(1)) * int(m.group(2))
    return 1 if master == "local" else cpus


def default_shuffle_partitions(master: str) -> int | None:
    """Shuffle partitions sized to the cores: twice the local cores, or None on a cluster.

    Parameters
    ----------
    master : str
        A Spark master URL.

    Returns
    -------
    int or None
        ``2 * cores`` for local masters; None (keep Spark's default) otherwise.
    """
    if master.startswith("local"):
        return max(2, 2 * _local_cores(master))
    return None


def _defaults(master: str) -> dict[str, str]:
    """Laptop-friendly defaults for a master; the caller's conf wins over these."""
    log4j = f"-Dlog4j2.configurationFile=file:{_LOG4J}"
    conf = {
        "spark.ui.enabled": "true",
        "spark.ui.port": "0",  # a free port: measure reads the REST API there
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",  # datagen's year/month do not depend on the machine
        # the driver loads the pyspark jars' classes from the CDS archive when `labkit jvm-archive` built one
        "spark.driver.extraJavaOptions": f"{log4j} {jvm_archive.java_options()}".strip(),
        "spark.executor.extraJavaOptions": log4j,
    }
    parts = default_shuffle_partitions(master)
    if parts:
        conf["spark.sql.shuffle.partitions"] = str(parts)
    if _on_this_machine(master):
        conf["spark.sql.warehouse.dir"] = f"{paths.cache_dir()}/warehouse"  # not ./spark-warehouse wherever we run
        conf.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                     "spark.driver.memory": os.environ.get("LABKIT_DRIVER_MEMORY", "4g")})
    return conf


def spark_session(master: str | None = None, app_name: str = "labkit", spark_ui: str | None = None,
                  **conf: Any) -> SparkSession:
    """Build (or reuse) a SparkSession with defaults suited to a laptop.

    Parameters
    ----------
    master : str, optional
        ``local[*]`` by default; also ``local[N]``, ``local-cluster[N,C,MB]``,
        ``spark://host:port``, ``yarn``, or ``sc://host:port`` for a Spark
        Connect server. ``LABKIT_MASTER`` overrides the default.
    app_name : str
        Application name shown in the Spark UI (not used by Spark Connect).
    spark_ui : str, optional
        For Spark Connect: the server's UI (``http://127.0.0.1:4040``), where
        ``measure`` reads task metrics. Else ``$LABKIT_SPARK_UI`` or what
        ``labkit cluster up --connect`` recorded.
    **conf
        Spark configuration. Dots are written as ``__`` in keyword names
        (``spark__sql__shuffle__partitions=8``) or pass a dict:
        ``spark_session(**{"spark.sql.shuffle.partitions": "8"})``.

    Returns
    -------
    pyspark.sql.SparkSession
        The session. An active session is reused: its runtime-modifiable SQL
        settings are updated, and a warning names any static setting that
        cannot change any more.

    Raises
    ------
    JavaNotFoundError
        When no Java 17+ is available.

    Notes
    -----
    Defaults: shuffle partitions at twice the local cores, Spark logging at
    ERROR, no console progress bar, session time zone UTC, the UI on at a free
    port (``measure`` reads its REST API), and on local masters everything bound
    to 127.0.0.1 with a 4 GB driver heap (``LABKIT_DRIVER_MEMORY``).

    For the cluster ``labkit cluster up`` started (``spark://127.0.0.1:<port>``
    or ``sc://localhost:<port>``), the session authenticates with the cluster's
    secret or Connect token, read from its auth file
    (:func:`labkit.core.cluster_state.client_auth`); the secret reaches the driver's
    JVM through a properties file or py4j, never a command line. A missing or
    unreadable auth file raises :class:`labkit.core.cluster_state.ClusterError`.
    """
    from pyspark.sql import SparkSession

    asked = master
    master = master or os.environ.get("LABKIT_MASTER", "local[*]")
    wanted = {k.replace("__", "."): str(v) for k, v in conf.items()}
    if master.startswith("sc://"):
        return _connect_session(master, spark_ui, wanted)
    # a child of a Spark Connect notebook inherits the flag that turns every session into a Connect one
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    active = SparkSession.getActiveSession()
    if active is not None:
        running = runtime.master(active)
        if asked and asked != running:
            warnings.warn(f"spark_session: a session on {running!r} is already running, so master={asked!r} is "
                          "ignored; call spark.stop() first to change the master", stacklevel=2)
        _apply_to_active(active, wanted)
        return active
    check_java()
    auth = _standalone_auth(master)
    if _on_this_machine(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the UI binds here, not on every interface
        # Python workers (UDFs) run this interpreter, not whatever `python3` is first on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = {**_defaults(master), **wanted, **({"spark.authenticate": "true"} if auth else {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = _get_or_create(builder, auth)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _standalone_auth(master: str):
    """The lab's cluster secret when ``master`` is the standalone master ``labkit cluster up`` started, else None."""
    if not master.startswith("spark://"):
        return None
    return cluster_state.client_auth(master)


def _jvm_running() -> bool:
    """Whether this process already has a py4j gateway (a JVM) that new settings reach over py4j."""
    from pyspark import SparkContext

    return SparkContext._gateway is not None


def _jvm_stderr() -> int | None:
    """Where the driver JVM's stderr should go: in a Jupyter kernel, the kernel's own stderr, else None (inherit).

    ipykernel captures file descriptor 2 into the notebook and answers ``sys.stderr.fileno()`` with a copy of
    the stderr the kernel started with (the Jupyter server's terminal; ``labkit report``'s ``NN.kernel.log``).
    """
    if not type(sys.stderr).__module__.startswith("ipykernel"):  # a terminal, pytest, a StringIO: inherit
        return None
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if fd != 2 else None


def _launch_jvm(builder) -> None:
    """Start the driver JVM with its stderr on the kernel's stderr when in a notebook (see :func:`_jvm_stderr`).

    A JVM a kernel starts writes to that kernel's captured descriptor 2, so its start-up lines ("Using incubator
    modules", "Setting default log level") and Spark's own task-failure logs showed as red stderr boxes in every
    executed notebook, though no lesson printed them. pyspark's ``launch_gateway(conf, popen_kwargs)`` takes
    the Popen arguments for this; it is started with the builder's settings, as ``getOrCreate`` would.
    Nothing happens when a JVM runs already or the process is not a kernel.
    """
    fd = _jvm_stderr()
    options = getattr(builder, "_options", None)
    if fd is None or not isinstance(options, dict) or _jvm_running():
        return
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    conf = SparkConf(loadDefaults=False)
    for key, value in options.items():
        conf.set(key, str(value))
    with SparkContext._lock:
        if SparkContext._gateway is None:
            SparkContext._gateway = launch_gateway(conf, popen_kwargs={"stderr": fd})
            SparkContext._jvm = SparkContext._gateway.jvm


def _get_or_create(builder, auth, jvm_running: bool | None = None) -> SparkSession:
    """``builder.getOrCreate()``, with the cluster's secret where ``ps`` cannot show it.

    pyspark starts its JVM as ``spark-submit --conf k=v ...`` with every builder
    setting on the command line. So when no JVM runs yet, the secret goes in a
    properties file (``--properties-file`` in ``PYSPARK_SUBMIT_ARGS``, for this
    launch only); when one runs, the builder's settings travel over py4j.
    """
    if auth is None:
        _launch_jvm(builder)
        return builder.getOrCreate()
    if _jvm_running() if jvm_running is None else jvm_running:
        return builder.config("spark.authenticate.secret", auth.secret).getOrCreate()
    old = os.environ.get("PYSPARK_SUBMIT_ARGS")
    props = shlex.quote(str(auth.properties))
    os.environ["PYSPARK_SUBMIT_ARGS"] = f"--properties-file {props} {old or 'pyspark-shell'}"
    try:
        _launch_jvm(builder)
        return builder.getOrCreate()
    finally:
        if old is None:
            os.environ.pop("PYSPARK_SUBMIT_ARGS", None)
        else:
            os.environ["PYSPARK_SUBMIT_ARGS"] = old


def _shown(url: str) -> str:
    """A Connect URL as errors may show it: a ``token=`` parameter hidden."""
    return re.sub(r"(;token=)[^;]*", r"\1<hidden>", url)


def _with_token(url: str, token: str) -> str:
    """``sc://127.0.0.1:P/;k=v`` as ``sc://localhost:P/;k=v;token=T``; a URL that has its own token is kept.

    pyspark's client sends a token without TLS only to a host named ``localhost``
    (gRPC local credentials); to any other name it would open a TLS channel,
    which the lab's plain-text server on 127.0.0.1 does not speak.
    """
    rest = url[len("sc://"):]
    hostport, _, tail = rest.partition("/")
    params = [p for p in tail.lstrip(";").split(";") if p] if tail else []
    if any(p.startswith("token=") for p in params):
        return url
    port = hostport.rsplit(":", 1)[1] if ":" in hostport else "15002"
    return f"sc://localhost:{port}/;" + ";".join([*params, f"token={token}"])


def _on_this_machine(master: str) -> bool:
    """Local masters and a standalone master on the loopback address (``labkit cluster up``)."""
    return master.startswith("local") or bool(re.match(r"spark://(127\.0\.0\.1|localhost)[:/]", master))


def _connect_session(url: str, spark_ui: str | None, wanted: Mapping[str, str]) -> SparkSession:
    """A Spark Connect session on ``url`` with the lab's runtime defaults applied.

    Static settings (memory, UI port) belong to the server, which was started
    with them; asking for one here is an error rather than silently ignored.
    """
    from pyspark.sql import SparkSession

    try:
        import pyspark.sql.connect.session  # noqa: F401 - fails without grpcio & co.
    except ImportError as exc:  # the optional `connect` extra
        raise ImportError(f"spark_session({_shown(url)!r}) needs the Spark Connect client: pip install "
                          "'labkit[connect]' (grpcio, grpcio-status, googleapis-common-protos, zstandard); "
                          f"{exc}") from exc
    auth = cluster_state.client_auth(url)  # the lab's own server: its token, read from the cluster's auth file
    # the classic builder's remote() also switches pyspark.sql.functions to Connect for this process
    spark = SparkSession.builder.remote(_with_token(url, auth.token) if auth else url).getOrCreate()
    if spark_ui:
        runtime.set_spark_ui(spark, spark_ui)
    settings = {"spark.sql.session.timeZone": "UTC", **wanted}
    static = [k for k in settings if not spark.conf.isModifiable(k)]
    if static:
        raise ValueError(f"spark_session({_shown(url)!r}): {', '.join(sorted(static))} cannot be set from a Spark "
                         "Connect client; start the server with them (labkit cluster up --connect --conf KEY=VALUE)")
    for key, value in settings.items():
        spark.conf.set(key, value)
    return spark


def _apply_to_active(spark: SparkSession, wanted: Mapping[str, str]) -> None:
    """Apply what can still change to a reused session and warn about the rest."""
    static = []
    for key, value in wanted.items():
        if spark.conf.isModifiable(key):
            spark.conf.set(key, value)
        elif spark.conf.get(key, None) != value:
            static.append(key)
    if static:
        warnings.warn(
            f"reusing the active SparkSession: {', '.join(sorted(static))} cannot change after start; "
            "call spark.stop() first to apply them",
            stacklevel=3,
        )


def _known_sql_keys(spark: SparkSession) -> list[str]:
    """Every public SQL configuration key (for suggestions)."""
    return [r["key"] for r in spark.sql("SET -v").select("key").collect()]


def _registered(spark: SparkSession, key: str) -> bool:
    """Whether Spark's SQLConf registry or the SparkContext knows this key."""
    if runtime.is_connect(spark):
        return spark.conf.get(key, None) is not None
    entry = _config_entry(spark, key)
    return entry is not None or spark.sparkContext.getConf().contains(key)


def _config_entry(spark: SparkSession, key: str):
    """Spark's registered ConfigEntry for a SQL key, or None when the key is not registered."""
    if runtime.is_connect(spark):
        return None
    from py4j.protocol import Py4JError

    try:
        sqlconf = getattr(getattr(spark._jvm.org.apache.spark.sql.internal, "SQLConf$"), "MODULE$")
        return sqlconf.getConfigEntry(key)
    except Py4JError:  # the JVM API moved: callers fall back to what the session knows
        return None


def spark_default(spark: SparkSession, key: str) -> str:
    """Spark's own default for a SQL setting, as Spark prints it (``"256MB"``, ``"5.0"``, ``"true"``).

    Read from the session's registry of settings, not typed in, so it is the
    default of the Spark version actually running.

    Parameters
    ----------
    spark : SparkSession
    key : str

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For a key Spark does not register (with the closest known keys).

    Examples
    --------
    >>> spark_default(spark, "spark.sql.adaptive.skewJoin.skewedPartitionFactor")
    '5.0'
    """
    if runtime.is_connect(spark):
        return _connect_default(spark, key)
    entry = _config_entry(spark, key)
    if entry is None:
        _check_key(spark, key)  # raises with a suggestion when the key is unknown
        raise ValueError(f"spark_default: {key!r} has no registered default")
    text = str(entry.defaultValueString())
    fallback = re.fullmatch(r"<value of (\S+)>", text)  # a key that defaults to another key's value
    return spark_default(spark, fallback.group(1)) if fallback else text


def _connect_default(spark: SparkSession, key: str) -> str:
    """A setting's default on a Connect server: unset it in this session, read it, put it back.

    The server answers sizes in bytes (``268435456b``); they are written back
    the way the registry prints them (``256MB``) so both clients agree.
    """
    _check_key(spark, key)
    old = spark.conf.get(key) if _is_set(spark, key) else None
    spark.conf.unset(key)
    try:
        text = spark.conf.get(key)
    finally:
        if old is not None:
            spark.conf.set(key, old)
    m = re.fullmatch(r"(\d+)b", text)
    return config_bytes(int(m.group(1))) if m else text


def _check_key(spark: SparkSession, key: str) -> None:
    """Raise ValueError unless ``key`` is a SQL setting that can change at runtime."""
    if spark.conf.isModifiable(key):
        return
    if _registered(spark, key):
        raise ValueError(
            f"spark_conf: {key!r} is a static setting; it cannot change in a running session. "
            "Pass it to spark_session(...) before the JVM starts."
        )
    close = difflib.get_close_matches(key, _known_sql_keys(spark), n=3, cutoff=0.8)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"spark_conf: {key!r} is not a configuration key Spark knows.{hint}")


def _as_conf_string(value: Any) -> str:
    """Spark stores settings as strings; booleans are lower case."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@contextmanager
def spark_conf(spark: SparkSession, settings: Mapping[str, Any]) -> Iterator[dict[str, str]]:
    """Set SQL configuration inside a ``with`` block and restore it on exit.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session to change.
    settings : mapping
        Keys and values. Every key must be a SQL setting Spark knows and can
        change at runtime; booleans become ``"true"``/``"false"``.

    Yields
    ------
    dict
        The values read back from Spark after setting them.

    Raises
    ------
    ValueError
        For a key Spark does not know (with the closest known keys as a hint),
        for a static key, or when Spark does not keep the value that was set.

    Examples
    --------
    >>> with spark_conf(spark, {"spark.sql.adaptive.enabled": False}) as now:
    ...     now["spark.sql.adaptive.enabled"]
    'false'
    """
    for key in settings:
        _check_key(spark, key)
    unset = object()
    old = {key: spark.conf.get(key, None) if _is_set(spark, key) else unset for key in settings}
    try:
        now = {}
        for key, value in settings.items():
            spark.conf.set(key, _as_conf_string(value))
            now[key] = spark.conf.get(key)
            if now[key] != _as_conf_string(value) and not _same_value(now[key], value):
                raise ValueError(f"spark_conf: Spark kept {key}={now[key]!r}, not the {value!r} that was set")
        yield now
    finally:
        for key, value in old.items():
            if value is unset:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _is_set(spark: SparkSession, key: str) -> bool:
    """Whether a key has an explicit value (as opposed to Spark's default)."""
    from py4j.protocol import Py4JError

    try:
        return bool(spark._jsparkSession.conf().contains(key))
    except (AttributeError, Py4JError):  # no JVM handle (Spark Connect): a value read back means it is set
        return spark.conf.get(key, None) is not None


def _same_value(read_back: str, value: Any) -> bool:
    """Spark may normalise values (``10MB`` -> ``10485760``); accept equal numbers."""
    try:
        return float(read_back) == float(value)
    except (TypeError, ValueError):
        return False
