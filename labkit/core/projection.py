"""Project measured task durations onto N cores, to show what a cluster would see.

Spark hands a stage's tasks to free cores in partition order: that is list
scheduling. Given the measured task durations of a stage, the makespan on
``cores`` cores is the time at which the last core finishes. The projection
assumes each task would take as long as it did here (no change in per-task
speed, no network): it isolates the effect of parallelism and skew.

This module is the scheduling arithmetic only; the projection's measured error
(a job run on ``local[1]`` and on ``local[N]`` in child processes) is
:func:`labkit.experiments.projection.validate`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["balance", "bounds_ms", "floor_ms", "limiting_stages", "project_job", "project_makespan",
           "projected_speedup"]


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


def bounds_ms(stage_tasks_ms: Mapping[int, Sequence[float]], cores: int, driver_ms: float = 0.0) -> dict[str, float]:
    """The bounds no cluster can beat, from the same task times the projection replays (Sparklens' bounds).

    Parameters
    ----------
    stage_tasks_ms : mapping of stage id to task durations (ms)
    cores : int
        For ``perfect``.
    driver_ms : float
        Time outside the stages (the driver's work between them: planning, result fetch), added to each bound.

    Returns
    -------
    dict
        ``critical_path``: the job on unboundedly many cores, per stage its longest task (no number of cores
        does better without splitting that task); ``perfect``: every stage's task time split evenly over
        ``cores`` (no skew, no scheduling loss); ``one_core``: every task one after another. Any projection on
        ``cores`` lies at or above ``max(critical_path, perfect)`` and at or below ``one_core``.

    Examples
    --------
    >>> bounds_ms({0: [4, 1, 1, 1, 1], 1: [2, 2, 2, 2]}, 2, driver_ms=1)
    {'critical_path': 7.0, 'perfect': 9.0, 'one_core': 17.0}
    """
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ValueError(f"cores must be an integer >= 1, got {cores!r}")
    if driver_ms < 0:
        raise ValueError(f"driver_ms must be >= 0, got {driver_ms!r}")
    tasks = [list(t) for t in stage_tasks_ms.values()]
    return {"critical_path": float(sum(max(t, default=0) for t in tasks) + driver_ms),
            "perfect": float(sum(sum(t) / cores for t in tasks) + driver_ms),
            "one_core": float(sum(sum(t) for t in tasks) + driver_ms)}


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
