"""Notebook 05's demonstrations: each failure run in a child process and then its fix; the driver JVM's heap and GC.

:data:`DEMOS` names every failure the notebook reproduces, the workload, settings and master it runs with, and
the status it must end with; :func:`run_demos` runs them through :func:`~labkit.experiments.memory.run_in_one_child`,
the demonstrations that share a master and JVM settings in one child, fixes first and failures last.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from labkit.core import runtime
from labkit.experiments.memory.isolated import jvm_settings, run_in_one_child
from labkit.topics.memory import RESERVED_MB

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DEMOS", "classic_collectors", "jvm_collectors", "jvm_heap_mb", "run_demos"]

_SMALL_DRIVER = {"spark.driver.memory": "512m"}
_EXECUTOR = {"spark.executor.memory": "512m", "spark.task.maxFailures": 1, "spark.sql.shuffle.partitions": 4,
             "spark.sql.adaptive.enabled": "false"}
# name -> (workload, conf, params, master, the status it must end with, quick enough for CI)
DEMOS = {
    "driver OOM: collect() of 4M rows, 512 MiB driver": (
        "collect_large", {**_SMALL_DRIVER, "spark.driver.maxResultSize": "0"}, {}, "local[2]", "driver_oom", True),
    "fix 1: aggregate on the cluster": ("aggregate_instead", _SMALL_DRIVER, {}, "local[2]", "ok", True),
    "result too large: 200k rows against a 1 MiB maxResultSize": (
        "collect_large", {**_SMALL_DRIVER, "spark.driver.maxResultSize": "1m"}, {"rows": 200_000}, "local[2]",
        "result_too_large", True),
    "fix 2: write instead of collect": ("write_instead", _SMALL_DRIVER, {}, "local[2]", "ok", False),
    "fix 3: toLocalIterator()": ("local_iterator", _SMALL_DRIVER, {"rows": 1_000_000}, "local[2]", "ok", False),
    "broadcast OOM: 8M rows, 512 MiB driver": ("broadcast_big", _SMALL_DRIVER, {"rows": 8_000_000}, "local[2]",
                                             "driver_oom", False),
    "fix 4: the same join, sort-merge": ("plain_join", _SMALL_DRIVER, {"rows": 8_000_000}, "local[2]", "ok", False),
    "executor OOM: collect_list over a hot key": (
        "collect_list_hot_key", _EXECUTOR, {}, "local-cluster[2,1,1024]", "executor_oom", False),
    "fix 5: the hot key's list split over 16 salts": (
        "collect_list_split", _EXECUTOR, {}, "local-cluster[2,1,1024]", "ok", False),
}


def run_demos(quick_only: bool = True, timeout_s: float = 180) -> pd.DataFrame:
    """Run :data:`DEMOS` in child processes, each failure with its fix, with a progress line per child.

    The demonstrations that share a master and JVM settings (driver memory) run in one child, each in a new
    SparkSession (:func:`~labkit.experiments.memory.run_in_one_child`): those expected to end ``ok`` first, then
    ``result_too_large`` (a job the driver aborts), then the out-of-memory ones, each of which ends its child.

    Parameters
    ----------
    quick_only : bool
        Only the demonstrations fast enough for CI (a driver OOM, its fix, maxResultSize).
    timeout_s : float
        Per demonstration.

    Returns
    -------
    pandas.DataFrame
        Indexed by demonstration, in :data:`DEMOS` order: ``id`` (a short name for results keys), ``workload``,
        ``master``, ``expected``, ``status``, ``seconds`` (its run in the child: the JVM's start counts in the
        first run of each child), ``cause`` (the line that shows it) and ``first fix``; ``attrs["outcomes"]``
        holds every :class:`~labkit.experiments.memory.OomOutcome`.
    """
    chosen = {k: v for k, v in DEMOS.items() if v[5] or not quick_only}
    outcomes = {}
    for master, names in tqdm(_groups(chosen).items(), desc="isolated children"):
        steps = [(chosen[n][0], chosen[n][1], chosen[n][2]) for n in names]
        outcomes.update(zip(names, run_in_one_child(steps, master[0], timeout_s), strict=True))
    rows = []
    for name, (workload, _conf, _params, master, expected, _) in chosen.items():
        out = outcomes[name]
        rows.append({"demo": name, "id": re.sub(r"[^a-z0-9]+", "_", name.split(":")[0].lower()).strip("_"),
                     "workload": workload, "master": master, "expected": expected,
                     "status": out.status, "seconds": round(out.wall_s, 1),
                     "cause": (out.log[0] if out.log else "").lstrip(": ")[:140],
                     "first fix": out.fixes[0] if out.fixes else ""})
    table = pd.DataFrame(rows).set_index("demo")
    table.attrs["outcomes"] = {name: outcomes[name] for name in chosen}
    return table


_ORDER = {"ok": 0, "result_too_large": 1}  # the rest (out-of-memory failures) last: each ends its child


def _groups(chosen: dict[str, tuple]) -> dict[tuple[str, str], list[str]]:
    """Demonstrations by (master, JVM settings), in the order one child runs them: fixes, aborted jobs, OOMs."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, (_workload, conf, _params, master, _expected, _quick) in chosen.items():
        groups.setdefault((master, repr(sorted(jvm_settings(conf).items()))), []).append(name)
    return {key: sorted(names, key=lambda n: _ORDER.get(chosen[n][4], 2)) for key, names in groups.items()}


def jvm_heap_mb(spark: SparkSession) -> float:
    """The driver JVM's maximum heap in MiB: in local mode the executors share it.

    On Spark Connect the server's driver is asked through its REST API: its
    unified memory is ``(heap - 300 MiB) * spark.memory.fraction``, so the heap
    is that divided by the fraction, plus the 300 MiB.
    """
    if runtime.is_connect(spark):
        driver = next(e for e in runtime.get_json(f"{runtime.api_base(spark)}/executors") if e["id"] == "driver")
        fraction = float(spark.conf.get("spark.memory.fraction", "0.6"))
        return driver["maxMemory"] / 2**20 / fraction + RESERVED_MB
    return spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**20


def jvm_collectors(spark: SparkSession) -> dict[str, Any]:
    """The driver JVM's garbage collectors, and the GC flags it was started with (a classic session only).

    The guide's ``-XX:+UseG1GC`` picks the collector that Java 9 and later already use by default: with no GC
    flag given, ``collectors`` are G1's two (``g1_by_default``).

    Returns
    -------
    dict
        ``java`` (version), ``gc_flags`` (the JVM arguments ending in ``GC``), ``collectors`` (their MXBean
        names), ``g1_by_default`` (no flag given and every collector is G1's).

    Raises
    ------
    labkit.core.runtime.ConnectUnsupported
        On Spark Connect: the collectors are the server's JVM's, out of a client's reach.
    """
    runtime.require_classic(spark, "reading the driver JVM's garbage collectors")
    jvm = spark.sparkContext._jvm
    mx = jvm.java.lang.management.ManagementFactory
    collectors = [str(b.getName()) for b in mx.getGarbageCollectorMXBeans()]
    flags = [str(a) for a in mx.getRuntimeMXBean().getInputArguments() if str(a).endswith("GC")]
    return {"java": str(jvm.java.lang.System.getProperty("java.version")), "gc_flags": flags,
            "collectors": collectors, "g1_by_default": not flags and all(c.startswith("G1 ") for c in collectors)}


def classic_collectors(spark: SparkSession) -> dict[str, Any] | None:
    """:func:`jvm_collectors` on a classic session; None on Spark Connect (the server's JVM is out of reach).

    Returns
    -------
    dict or None
    """
    return None if runtime.is_connect(spark) else jvm_collectors(spark)
