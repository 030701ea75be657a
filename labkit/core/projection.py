"""Project measured task durations onto N cores, to show what a cluster would see.

Spark hands a stage's tasks to free cores in partition order: that is list
scheduling. Given the measured task durations of a stage, the makespan on
``cores`` cores is the time at which the last core finishes. The projection
assumes each task would take as long as it did here (no change in per-task
speed, no network): it isolates the effect of parallelism and skew.
"""

from __future__ import annotations

import heapq
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["balance", "floor_ms", "limiting_stages", "project_job", "project_makespan", "projected_speedup",
           "validate"]


def project_makespan(task_durations_ms: Sequence[float], cores: int) -> float:
    """Makespan of one stage on ``cores`` cores by list scheduling.

    Parameters
    ----------
    task_durations_ms : sequence of float
        Task durations (>= 0) in the order Spark launches them (partition order).
    cores : int
        Task slots (>= 1).

    Returns
    -------
    float
        Time (ms) until the last task finishes. Bounded by
        ``max(longest, total / cores) <= result <= total / cores + longest``.

    Raises
    ------
    ValueError
        For ``cores < 1`` or a negative duration.

    Examples
    --------
    >>> project_makespan([4, 1, 1, 1, 1], cores=2)
    4.0
    >>> project_makespan([4, 1, 1, 1, 1], cores=1)
    8.0
    """
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ValueError(f"cores must be an integer >= 1, got {cores!r}")
    if any(d < 0 for d in task_durations_ms):
        raise ValueError("task durations must be >= 0")
    free_at = [0.0] * min(cores, max(1, len(task_durations_ms)))
    for d in task_durations_ms:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + float(d))
    return max(free_at)


def project_job(stage_tasks_ms: Mapping[int, Sequence[float]], cores: int) -> float:
    """Projected time of a job whose stages run one after another.

    Parameters
    ----------
    stage_tasks_ms : mapping of stage id to task durations (ms)
        For example ``Measurement.stage_tasks_ms``.
    cores : int

    Returns
    -------
    float
        Sum over stages of :func:`project_makespan` (ms). Stages that could
        overlap (two independent scans) are serialised, so this is an upper bound.
    """
    return sum(project_makespan(list(t), cores) for _, t in sorted(stage_tasks_ms.items()))


def projected_speedup(before_ms: Mapping[int, Sequence[float]], after_ms: Mapping[int, Sequence[float]],
                      cores: Iterable[int]) -> dict[int, float]:
    """Projected speedup ``before / after`` of two jobs for each core count.

    Parameters
    ----------
    before_ms, after_ms : mapping of stage id to task durations (ms)
    cores : iterable of int

    Returns
    -------
    dict
        ``{cores: projected(before) / projected(after)}``.
    """
    out = {}
    for n in cores:
        after = project_job(after_ms, n)
        out[n] = project_job(before_ms, n) / after if after > 0 else float("nan")
    return out


def limiting_stages(stage_tasks_ms: Mapping[int, Sequence[float]], cores: int) -> list[str]:
    """The stages too coarse to project onto ``cores``: fewer than ``2 * cores`` tasks.

    A real N-core cluster would split such a stage's input into more tasks; the
    projection keeps the measured split, so it would blame the technique for the
    measurement's layout. Each stage is named with its task count.

    Examples
    --------
    >>> limiting_stages({0: [1] * 2, 1: [1] * 128}, 64)
    ['stage 0 (2 tasks)']
    >>> limiting_stages({0: [1] * 16}, 8)
    []
    """
    return [f"stage {sid} ({len(t)} tasks)" for sid, t in sorted(stage_tasks_ms.items()) if len(t) < 2 * cores]


def floor_ms(stage_tasks_ms: Mapping[int, Sequence[float]], cores: int) -> float:
    """The physical floor of a job on ``cores`` cores: per stage, the larger of its longest task and a perfect split.

    Examples
    --------
    >>> floor_ms({0: [4, 1, 1, 1, 1], 1: [2, 2, 2, 2]}, 2)
    8.0
    """
    return float(sum(max(max(t, default=0), sum(t) / cores) for t in stage_tasks_ms.values()))


def balance(task_durations_ms: Sequence[float], cores: int, stage_wall_ms: float) -> float:
    """How close a stage came to perfect balance: (total task time / cores) / measured stage time (1.0 is perfect).

    Examples
    --------
    >>> balance([4, 1, 1, 1, 1], 2, 4.0)
    1.0
    >>> balance([8, 0, 0, 0], 2, 8.0)
    0.5
    """
    if stage_wall_ms <= 0:
        return float("nan")
    return min(1.0, sum(task_durations_ms) / cores / stage_wall_ms)


def _child_job(args: dict) -> dict:
    """Run in a child process: measure the validation job on one master; print the median run."""
    from labkit.core import datagen
    from labkit.core.bench import compare, median_run  # bench imports this module: imported here, not at the top
    from labkit.core.measure import noop
    from labkit.core.session import spark_conf, spark_session

    spark = spark_session(args["master"])
    facts = datagen.transactions(spark, args["rows"], customers=args["customers"], seed=args["seed"],
                                 skew=datagen.HotKeys(0.5, 5), partitions=args["partitions"]).cache()
    dims = datagen.customers(spark, args["customers"], seed=args["seed"]).repartition(args["partitions"]).cache()
    facts.count(), dims.count()
    job = noop(facts.join(dims, "customer_id").groupBy("segment").count())
    with spark_conf(spark, {"spark.sql.shuffle.partitions": args["partitions"],
                            "spark.sql.adaptive.enabled": False, "spark.sql.autoBroadcastJoinThreshold": -1}):
        table = compare({"job": job}, repeats=args["repeats"], warmup=1, spark=spark, progress=False)
    m = median_run(table.attrs["runs"], "job")
    spark.stop()
    return {"wall_ms": m.wall_s * 1000, "stage_tasks_ms": {str(k): v for k, v in m.stage_tasks_ms.items()},
            "stage_wall_ms": {str(k): v for k, v in m.stage_wall_ms.items()}}


def validate(rows: int, customers: int, seed: int = 42, cores: int = 2, partitions: int | None = None,
             repeats: int = 3, timeout: float = 600.0) -> dict:
    """Check the projection against a measurement: measure a job on ``local[1]``, project it onto ``cores``,
    and compare with the same job measured on ``local[cores]``.

    Each master runs in its own child Python process (a JVM's master cannot change), one after the other.

    Parameters
    ----------
    rows, customers, seed : int
        The transactions (50% of rows on 5 hot customers) and the customer dimension.
    cores : int
        The cores projected onto and measured (at most this machine's).
    partitions : int, optional
        Input splits and shuffle partitions; ``4 * cores`` by default, so every stage has at least 2N tasks.
    repeats : int
        Measured runs per master (the median run is used).
    timeout : float
        Seconds per child.

    Returns
    -------
    dict
        ``projected_ms`` (local[1] tasks on ``cores``), ``measured_ms`` (local[cores], sum of stage times),
        ``error`` (projected / measured - 1), ``one_core_ms``, ``limited_by`` (stages under 2N tasks).

    Raises
    ------
    RuntimeError
        When a child fails: its last lines of output are in the message.
    """
    partitions = partitions or 4 * cores
    out = {}
    for master in ("local[1]", f"local[{cores}]"):
        args = dict(master=master, rows=rows, customers=customers, seed=seed, partitions=partitions, repeats=repeats)
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        done = subprocess.run([sys.executable, "-m", "labkit.core.projection", json.dumps(args)], capture_output=True,
                              text=True, timeout=timeout, env=env, check=False)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if done.returncode != 0 or not lines:
            tail = "\n".join((done.stderr or done.stdout).splitlines()[-15:])
            raise RuntimeError(f"projection.validate: the {master} child failed (exit {done.returncode}):\n{tail}")
        out[master] = json.loads(lines[-1])
    one = {int(k): v for k, v in out["local[1]"]["stage_tasks_ms"].items()}
    many = out[f"local[{cores}]"]
    measured = float(sum(many["stage_wall_ms"].values()))
    projected = project_job(one, cores)
    return {"projected_ms": projected, "measured_ms": measured, "error": projected / measured - 1,
            "one_core_ms": float(sum(out["local[1]"]["stage_wall_ms"].values())), "cores": cores,
            "partitions": partitions, "limited_by": limiting_stages(one, cores),
            "measured_wall_ms": many["wall_ms"]}


if __name__ == "__main__":  # pragma: no cover - the child of validate()
    print(json.dumps(_child_job(json.loads(sys.argv[1]))))
