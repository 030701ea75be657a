"""Build the driver JVM's class-data-sharing archive: ``labkit jvm-archive``.

A child Python starts a session the way every notebook and test does
(:func:`labkit.core.session.spark_session`, so the same class path), with
``-XX:ArchiveClassesAtExit``, runs a little of everything the lab runs (SQL
and DataFrame queries with joins, windows, aggregations and AQE; Parquet, CSV
and JSON; a cache; a pandas UDF; Arrow; the UI's REST API), then lets its JVM
exit, which writes the archive. The file is written under a temporary name and
renamed only once a JVM has started with it in ``-Xshare:on`` mode (which fails
on any mismatch) on exactly the class path that session had, so a half-written
or unusable archive is never picked up. Other archives in the folder (for an
earlier Java or ``pyspark``) are removed then.

Building took 94 seconds on 2 cores and wrote 203 MB (Java 17, pyspark 4); each
driver JVM then saved 13-17 CPU-seconds (:mod:`labkit.core.jvm_archive`).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from labkit.core import jvm_archive
from labkit.tools.child import run_child

__all__ = ["ArchiveError", "build", "ensure"]

_TIMEOUT_S = 600.0


class ArchiveError(RuntimeError):
    """The archive could not be built or does not load; the message says which step failed."""


def ensure(rebuild: bool = False, log=print) -> Path | None:
    """The archive for this Java and ``pyspark``, built first when missing (or ``rebuild``).

    Parameters
    ----------
    rebuild : bool
        Build it again even when a matching archive exists.
    log : callable
        Receives one line per step (the build takes about 1.5 minutes).

    Returns
    -------
    pathlib.Path or None
        The archive; None when ``LABKIT_JVM_ARCHIVE=0`` or there is no Java or pyspark to build it for.

    Raises
    ------
    ArchiveError
        When the build or its check failed (nothing is left in place then).
    """
    if os.environ.get(jvm_archive.ARCHIVE_ENV) == "0":
        return None
    target = jvm_archive.archive_path()
    if target is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:  # two make runs at once build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file() and not rebuild:
            return target
        return build(target, log)


def build(target: Path, log=print) -> Path:
    """Build the archive at ``target``: dump, check, rename; see the module docstring.

    Parameters
    ----------
    target : pathlib.Path
    log : callable

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    ArchiveError
    """
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    log(f"labkit jvm-archive: building {target.name} (a Spark session's classes, about 1.5 minutes)")
    start = time.monotonic()
    try:
        run = run_child("labkit.tools.jvm_archive", [str(partial)], timeout_s=_TIMEOUT_S)
        if run.returncode != 0 or not partial.is_file():
            tail = (run.stderr or run.stdout).strip().splitlines()[-5:]
            raise ArchiveError("the dump run failed " + ("(timed out)" if run.timed_out else
                               f"(exit {run.returncode})") + ": " + " | ".join(tail))
        class_path = json.loads(run.stdout.strip().splitlines()[-1])["class_path"]
        _check(partial, class_path)
        partial.chmod(0o444)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    for old in target.parent.glob("spark-driver-*.jsa"):
        if old != target:
            old.unlink(missing_ok=True)
    log(f"labkit jvm-archive: {target} ({target.stat().st_size / 2**20:.0f} MB, "
        f"{time.monotonic() - start:.0f} s)")
    return target


def _check(archive: Path, class_path: str) -> None:
    """Start a JVM with ``-Xshare:on`` (an error on any mismatch) on the session's class path."""
    java = jvm_archive._java()
    run = subprocess.run([str(java), f"-XX:SharedArchiveFile={archive}", "-Xshare:on", "-cp", class_path,
                          "-version"], capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "JDK_JAVA_OPTIONS"})
    if run.returncode != 0:
        raise ArchiveError(f"the archive does not load on the session's class path: {run.stderr.strip()[:300]}")


def _workload(out: str) -> None:
    """The child: a session whose JVM dumps its classes to ``out`` at exit, and a bit of every kind of job."""
    import urllib.request

    import pandas as pd
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from labkit.core import paths
    from labkit.core.session import spark_session

    log4j = f"-Dlog4j2.configurationFile=file:{paths.LOG4J}"
    spark = spark_session("local[2]", app_name="labkit-jvm-archive", **{
        "spark.driver.extraJavaOptions": f"{log4j} -XX:ArchiveClassesAtExit={out} -Xlog:cds=off -Xlog:cds+dynamic=off",
        "spark.sql.shuffle.partitions": "4"})
    scratch = os.environ.get("LABKIT_CHILD_SCRATCH") or "/tmp"
    ts = F.expr("timestamp'2024-01-01' + make_interval(0, 0, 0, 0, 0, 0, id)")
    facts = spark.range(5_000).select(F.col("id").alias("k"), (F.col("id") % 97).alias("g"),
                                       (F.col("id") % 3).alias("p"),
                                       (F.rand(1) * 100).cast("decimal(10,2)").alias("amount"), ts.alias("ts"))
    dims = spark.createDataFrame(pd.DataFrame({"g": range(97), "name": [f"n{i}" for i in range(97)]}))
    joined = facts.join(dims, "g").groupBy("name").agg(F.sum("amount"), F.countDistinct("k"), F.max("ts"))
    joined.explain("formatted")
    joined.toPandas()
    facts.join(F.broadcast(dims), "g").count()
    with_rank = facts.withColumn("r", F.row_number().over(Window.partitionBy("g").orderBy(F.desc("amount"), "k")))
    with_rank.where("r = 1").collect()
    for fmt in ("parquet", "csv", "json", "orc"):
        path = f"{scratch}/w.{fmt}"
        facts.write.mode("overwrite").partitionBy("p").format(fmt).option("header", "true").save(path)
        spark.read.format(fmt).option("header", "true").load(path).where("p = 1").count()
    cached = facts.cache()
    cached.count()
    cached.unpersist()
    spark.sql("SELECT g, percentile_approx(amount, 0.5) FROM range(10) CROSS JOIN VALUES (1, 2.0) AS t(g, amount) "
              "GROUP BY g").collect()

    def double(s):
        return s * 2

    double.__annotations__ = {"s": pd.Series, "return": pd.Series}  # real types: this module's hints are strings
    twice = F.pandas_udf(double, "double")
    facts.select(twice(F.col("amount").cast("double")).alias("x")).agg(F.sum("x")).collect()
    ui = spark.sparkContext.uiWebUrl
    if ui:
        app = json.load(urllib.request.urlopen(f"{ui}/api/v1/applications", timeout=10))[0]["id"]
        urllib.request.urlopen(f"{ui}/api/v1/applications/{app}/stages?details=true", timeout=10).read()
    class_path = spark.sparkContext._jvm.System.getProperty("java.class.path")
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    spark.stop()
    if proc is not None:  # the JVM writes the archive as it exits
        proc.stdin.close()
        proc.wait(timeout=_TIMEOUT_S)
    print(json.dumps({"class_path": class_path}))


if __name__ == "__main__":
    _workload(sys.argv[1])
