"""Notebook 05's measured comparisons: spill against partition count, cache levels under pressure, Kryo against Java.

Each runs in child processes (:func:`~labkit.experiments.memory.run_isolated`), because what it varies is fixed
when a JVM starts (``spark.serializer``, the driver's heap) or must not share one (the storage memory each cache
level fills). Inside a child the variants go through :func:`labkit.core.bench.compare`: warm-up, interleaved
repeats, medians and spreads. Across children (one per serializer, one per cache level) the children alternate,
and the ratio and its spread come from :func:`labkit.core.bench.pair_ratio` over every run; each returned table
carries those runs in ``attrs["runs"]`` (labelled by variant), so ``labkit.pair_ratio(table, a, b)`` works on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from labkit.core import bench
from labkit.core.measure import Measurement
from labkit.experiments.memory.isolated import OomOutcome, run_isolated

__all__ = ["SERIALIZERS", "compare_cache_levels", "compare_serializers", "compare_spill"]

SERIALIZERS = {"java": "org.apache.spark.serializer.JavaSerializer",
               "kryo": "org.apache.spark.serializer.KryoSerializer"}
_JOBS = ("jvm_rdd", "python_rdd", "dataframe")


def _checked(out: OomOutcome) -> Any:
    """An ok outcome's result, or a RuntimeError that names the failure (a measurement must not fail silently)."""
    if out.status != "ok":
        raise RuntimeError(f"{out.workload} ended {out.status}: {' | '.join(out.log[:2])}")
    return out.result


def _runs(records: Iterable[dict[str, Any]], label: str | None = None) -> list[Measurement]:
    """The child's measurements, rebuilt from their ``as_dict()`` (optionally relabelled)."""
    runs = [Measurement(**r) for r in records]
    return runs if label is None else [dataclasses.replace(m, label=label) for m in runs]


def _table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """A child's :func:`~labkit.core.bench.compare` table, indexed by variant again."""
    return pd.DataFrame(records).set_index("variant")


def compare_serializers(rows: int = 1_000_000, rounds: int = 2, repeats: int = 2, warmup: int = 1,
                        timeout_s: float = 120) -> pd.DataFrame:
    """Java against Kryo serialization, one child process per run (``spark.serializer`` is fixed at start).

    The children alternate (Java, Kryo, Java, Kryo, ...), ``rounds`` pairs of them. Each child compares three
    jobs with :func:`labkit.core.bench.compare` (``warmup`` unmeasured rounds, then ``repeats`` interleaved
    measured ones); the speedup per job is :func:`labkit.core.bench.pair_ratio` over every measured run of the
    Java children against the Kryo ones, run for run in order.

    Parameters
    ----------
    rows : int
        Rows each job shuffles.
    rounds : int
        Java-and-Kryo pairs of children.
    repeats, warmup : int
        Measured and unmeasured runs of each job in each child.
    timeout_s : float
        Each child is killed after this long (the comparison then raises ``RuntimeError``).

    Returns
    -------
    pandas.DataFrame
        Indexed by job (``jvm_rdd``, ``python_rdd``, ``dataframe``): ``java`` and ``kryo`` (the median run's
        seconds, :func:`~labkit.core.bench.median_run`), ``kryo speedup`` (Java median / Kryo median),
        ``kryo speedup_lo`` and ``kryo speedup_hi`` (the smallest and largest run-for-run ratio; a row is
        ready for ``Lab.record_speedup(key, row, column="kryo speedup")``).
        ``attrs["runs"]`` holds every run, labelled ``"<serializer> <job>"`` (``"kryo jvm_rdd"``).
    """
    runs: list[Measurement] = []
    for _ in range(rounds):
        for short, cls in SERIALIZERS.items():
            result = _checked(run_isolated("serializer_job", {"spark.serializer": cls}, timeout_s=timeout_s,
                                           params={"rows": rows, "repeats": repeats, "warmup": warmup}))
            runs += [dataclasses.replace(m, label=f"{short} {m.label}") for m in _runs(result["runs"])]
    table = pd.DataFrame(index=pd.Index(_JOBS, name="job"), columns=["java", "kryo"], dtype=float)
    table.attrs["runs"] = runs
    for job in _JOBS:
        ratio = bench.pair_ratio(table, f"java {job}", f"kryo {job}")
        table.loc[job, "java"] = bench.median_run(runs, f"java {job}").wall_s
        table.loc[job, "kryo"] = bench.median_run(runs, f"kryo {job}").wall_s
        table.loc[job, ["kryo speedup", "kryo speedup_lo", "kryo speedup_hi"]] = ratio.to_numpy()
    return table


def compare_cache_levels(rows: int = 2_000_000, levels: Sequence[str] = ("NONE", "MEMORY_ONLY", "MEMORY_AND_DISK"),
                         reads: int = 3, timeout_s: float = 120) -> pd.DataFrame:
    """One frame read ``reads`` times, uncached and at each storage level, with storage memory smaller than it.

    A 2 GiB driver with ``spark.memory.fraction=0.1`` leaves about 175 MiB for
    execution and storage together, so the cached frame does not fit: MEMORY_ONLY
    recomputes the partitions it could not keep, MEMORY_AND_DISK reads them from disk.
    Each level runs in a child of its own (the levels would evict each other's blocks in one JVM); the first
    read fills the cache, and the later ones are :func:`labkit.core.bench.compare`'s repeats.

    Parameters
    ----------
    rows : int
    levels : sequence of str
        ``StorageLevel`` names, or ``"NONE"`` (not cached); the first is the baseline of ``speedup``.
    reads : int
        Reads per level, the first included (>= 2).
    timeout_s : float
        Each child is killed after this long (the comparison then raises ``RuntimeError``).

    Returns
    -------
    pandas.DataFrame
        Indexed by level: ``first read s``, ``later reads s`` (median), ``speedup`` (the first level's later
        reads against this one's, :func:`~labkit.core.bench.pair_ratio`), ``speedup_lo``, ``speedup_hi``,
        ``tasks per later read``, ``cached in memory MB`` and ``cached on disk MB``. ``attrs["runs"]`` holds
        the later reads, labelled by level.
    """
    if reads < 2:
        raise ValueError(f"compare_cache_levels needs reads >= 2 (a first read and a later one), got {reads}")
    rows_out, runs = [], []
    for level in levels:
        r = _checked(run_isolated("cache_levels", {"spark.driver.memory": "2g", "spark.memory.fraction": 0.1},
                                  timeout_s=timeout_s, params={"rows": rows, "level": level, "reads": reads}))
        later = _table(r["table"]).loc[level]
        runs += _runs(r["runs"])
        rows_out.append({"level": level, "first read s": r["first"]["wall_s"], "later reads s": later["median_s"],
                         "tasks per later read": int(later["tasks"]), "cached in memory MB": r["cached_mb_memory"],
                         "cached on disk MB": r["cached_mb_disk"]})
    table = pd.DataFrame(rows_out).set_index("level")
    table.attrs["runs"] = runs
    ratios = pd.DataFrame({level: bench.pair_ratio(table, levels[0], level) for level in levels}).T
    table[["speedup", "speedup_lo", "speedup_hi"]] = ratios[["speedup", "speedup_lo", "speedup_hi"]].to_numpy()
    return table


def compare_spill(rows: int = 3_000_000, partitions: Sequence[int] = (2, 32), repeats: int = 2,
                  warmup: int = 1, timeout_s: float = 120) -> pd.DataFrame:
    """The same sort with few and with many partitions, 700 MiB driver: spill bytes and time, through ``bench``.

    One child (its driver sized before its JVM starts) compares the partition counts with
    :func:`labkit.core.bench.compare`: ``warmup`` unmeasured rounds, then ``repeats`` interleaved measured ones.

    Parameters
    ----------
    rows : int
    partitions : sequence of int
        The task counts; the first is the baseline of ``speedup``.
    repeats, warmup : int
    timeout_s : float
        The child is killed after this long (the comparison then raises ``RuntimeError``).

    Returns
    -------
    pandas.DataFrame
        Indexed by partitions: ``disk spill MB`` (median), ``memory spill MB`` (of the median run),
        ``seconds`` (median), ``speedup``, ``speedup_lo`` and ``speedup_hi`` (against the first count).
        ``attrs["runs"]`` holds every run, labelled by the partition count as a string.
    """
    r = _checked(run_isolated("sort_spill", {"spark.driver.memory": "700m"}, timeout_s=timeout_s,
                              params={"rows": rows, "partitions": list(partitions), "repeats": repeats,
                                      "warmup": warmup}))
    compared, runs = _table(r["table"]), _runs(r["runs"])
    out = pd.DataFrame([{"partitions": n, "disk spill MB": compared.loc[str(n), "disk_spill_bytes"] / 2**20,
                         "memory spill MB": bench.median_run(runs, str(n)).memory_spill_bytes / 2**20,
                         "seconds": compared.loc[str(n), "median_s"], "speedup": compared.loc[str(n), "speedup"],
                         "speedup_lo": compared.loc[str(n), "speedup_lo"],
                         "speedup_hi": compared.loc[str(n), "speedup_hi"]} for n in partitions])
    out = out.set_index("partitions")
    out.attrs["runs"] = runs
    return out
