"""Compare variants that differ in one knob: warm-up, interleaved repeats, medians, ratios; sweeps over datasets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core import runtime
from labkit.core.measure import Measurement, measure, noop
from labkit.core.projection import bounds_ms, floor_ms, limiting_stages, project_job, project_makespan
from labkit.core.session import spark_conf

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["compare", "median_run", "pair_ratio", "sweep", "sweep_projection"]

_FIELDS = ("wall_s", "task_max_ms", "task_p50_ms", "skew_ratio", "shuffle_read_bytes",
           "shuffle_write_bytes", "disk_spill_bytes", "input_bytes", "tasks", "jobs", "stages")


def compare(
    variants: Mapping[str, Callable[[], Any]],
    repeats: int = 3,
    warmup: int | None = None,
    *,
    baseline: str | None = None,
    spark: SparkSession | None = None,
    progress: bool = True,
    conf: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Run variants interleaved (A B A B ...) and summarise each by its median.

    Parameters
    ----------
    variants : mapping of name to callable
        Each callable forces one run of its variant. Build and cache inputs
        before calling ``compare``; the callables should hold only the work.
        Force the work with ``df.write.format("noop").mode("overwrite").save()``
        or ``df.count()``, which plan afresh on every call: ``df.collect()``
        reuses the physical plan the DataFrame was first planned with, so a
        setting changed afterwards would not reach it.
    repeats : int
        Measured runs per variant (>= 1).
    warmup : int, optional
        Unmeasured rounds first (JIT, caches, broadcast of small tables). By
        default one round, or none when ``repeats`` is 1: a single run is a
        smoke run (tiny scale, whose times are never judged), not a measurement.
    baseline : str, optional
        The variant the ratios are taken against; the first one by default.
    spark : SparkSession, optional
        The active session by default.
    progress : bool
        Show a progress bar.
    conf : mapping of variant name to settings, optional
        Spark SQL settings applied (with :func:`labkit.core.session.spark_conf`,
        outside the timed body) while that variant runs, e.g. AQE on for the
        AQE variant only. A variant with no entry runs with the session's settings.

    Returns
    -------
    pandas.DataFrame
        One row per variant, indexed by name: ``median_s``, ``min_s``,
        ``max_s``, ``runs``, ``speedup`` (baseline median / variant median,
        > 1 is faster than the baseline), ``speedup_lo`` and ``speedup_hi`` (the
        smallest and largest per-round ratio, baseline run / variant run of the
        same round: the spread the verdict rule reads), and the median of the task metrics
        (``task_max_ms``, ``skew_ratio``, shuffle bytes, ...). ``df.attrs["runs"]``
        holds every :class:`~labkit.measure.Measurement`, and
        ``df.attrs["baseline"]`` the baseline's name.

    Raises
    ------
    ValueError
        For no variants, ``repeats < 1``, ``warmup < 0``, an unknown baseline, or
        ``conf`` naming a variant that does not exist.
    """
    from pyspark.sql import SparkSession
    from tqdm.auto import tqdm

    if not variants:
        raise ValueError("compare needs at least one variant")
    warmup = (1 if repeats > 1 else 0) if warmup is None else warmup
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    baseline = baseline or next(iter(variants))
    if baseline not in variants:
        raise ValueError(f"baseline {baseline!r} is not one of the variants {list(variants)}")
    conf = conf or {}
    unknown = sorted(set(conf) - set(variants))
    if unknown:
        raise ValueError(f"conf names variants that do not exist: {unknown}")
    spark = spark or SparkSession.getActiveSession()
    for _ in range(warmup):
        for name, fn in variants.items():
            with spark_conf(spark, conf.get(name, {})):
                fn()
    runs: list[tuple[str, Measurement]] = []
    bar = tqdm(total=repeats * len(variants), desc="compare", disable=not progress, leave=False)
    for r in range(repeats):
        for name, fn in variants.items():
            bar.set_postfix_str(f"{name} (round {r + 1}/{repeats})")
            with spark_conf(spark, conf.get(name, {})):
                runs.append((name, measure(spark, fn, label=name)))
            bar.update()
    bar.close()
    rows = []
    for name in variants:
        ms = [m for n, m in runs if n == name]
        walls = pd.Series([m.wall_s for m in ms])
        row = {"variant": name, "median_s": walls.median(), "min_s": walls.min(), "max_s": walls.max(), "runs": len(ms)}
        row.update({f: pd.Series([getattr(m, f) for m in ms]).median() for f in _FIELDS if f != "wall_s"})
        rows.append(row)
    out = pd.DataFrame(rows).set_index("variant")
    out["speedup"] = out.loc[baseline, "median_s"] / out["median_s"]
    base = [m.wall_s for n, m in runs if n == baseline]
    per_round = {name: [b / m.wall_s for b, m in zip(base, [m for n, m in runs if n == name], strict=True)]
                 for name in variants}
    out["speedup_lo"] = [min(per_round[n]) for n in out.index]
    out["speedup_hi"] = [max(per_round[n]) for n in out.index]
    out.attrs["runs"] = [m for _, m in runs]
    out.attrs["baseline"] = baseline
    return out


def pair_ratio(table: pd.DataFrame, slower: str, faster: str) -> pd.Series:
    """The speedup of one variant of a :func:`compare` over another, with its spread from the interleaved rounds.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`compare` output (it carries every run in ``attrs["runs"]``).
    slower, faster : str
        The variants: the ratio is ``slower`` time / ``faster`` time (median, and per round for the spread).

    Returns
    -------
    pandas.Series
        ``speedup``, ``speedup_lo``, ``speedup_hi`` (ready for ``Lab.record_speedup``).
    """
    runs = table.attrs["runs"]
    a, b = ([m.wall_s for m in runs if m.label == v] for v in (slower, faster))
    if not a or not b:
        raise ValueError(f"no runs of {slower!r} or {faster!r}; the variants are {sorted({m.label for m in runs})}")
    per_round = [x / y for x, y in zip(a, b, strict=True)]
    return pd.Series({"speedup": float(pd.Series(a).median() / pd.Series(b).median()),
                      "speedup_lo": min(per_round), "speedup_hi": max(per_round)})


def median_run(runs: list[Measurement], label: str) -> Measurement:
    """The run of a variant whose wall time is the median (the lower middle for an even count).

    Parameters
    ----------
    runs : list of Measurement
        For example ``compare(...).attrs["runs"]``.
    label : str
        The variant's name.

    Returns
    -------
    Measurement

    Raises
    ------
    ValueError
        If no run has that label.
    """
    mine = sorted((m for m in runs if m.label == label), key=lambda m: m.wall_s)
    if not mine:
        raise ValueError(f"no run labelled {label!r}; the labels are {sorted({m.label for m in runs})}")
    return mine[(len(mine) - 1) // 2]


def sweep(spark: SparkSession, datasets: Mapping[str, Any], variants: Mapping[str, Callable[[Any], Any]],
          conf: Mapping[str, Mapping[str, Any]] | None = None, repeats: int = 3, warmup: int | None = None,
          baseline: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Compare variants on several datasets (one per skew level), interleaved within each dataset.

    Parameters
    ----------
    spark : SparkSession
    datasets : mapping of label to DataFrame
        For example ``{"80%": facts_80, "0%": facts_0}``; cache them first.
    variants : mapping of name to callable
        ``fn(df)`` returns the DataFrame to run for one dataset.
    conf : mapping of variant name to settings, optional
        Settings applied while that variant runs (see :func:`compare`).
    repeats, warmup, baseline, progress
        As in :func:`compare`.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, variant) with the columns of ``bench.compare``
        plus ``dataset``; ``attrs["runs"]`` maps dataset to its measurements.
    """
    def runner(name, df: DataFrame):
        return noop(variants[name](df))

    frames, runs = [], {}
    for label, df in datasets.items():
        table = compare({name: runner(name, df) for name in variants}, repeats=repeats, warmup=warmup,
                        baseline=baseline, spark=spark, progress=progress, conf=conf)
        runs[label] = table.attrs["runs"]
        frames.append(table.assign(dataset=label).reset_index())
    out = pd.concat(frames, ignore_index=True)
    out.attrs["runs"] = runs
    out.attrs["cores"] = runtime.parallelism(spark)
    return out


def sweep_projection(table: pd.DataFrame, cores: Sequence[int] = (8, 64), baseline: str | None = None,
                     stage: str = "job") -> pd.DataFrame:
    """Project each (dataset, variant) of a :func:`sweep` onto N cores, and the speedup over the baseline.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`sweep` (it carries the measurements in ``attrs``).
    cores : sequence of int
    baseline : str, optional
        The variant speedups are taken against; the sweep's first variant by default.
    stage : {"job", "shuffle"}
        ``job`` projects every stage of the run (stages serialised);
        ``shuffle`` only the stage that read the most shuffle data (the join
        or aggregation stage), or the heaviest stage when there is no shuffle.

    Returns
    -------
    pandas.DataFrame
        ``dataset, variant``; the bounds of :func:`labkit.core.projection.bounds_ms` from the same tasks,
        ``critical_path_ms`` (on unboundedly many cores) and ``one_core_ms``, with ``driver_ms`` (the
        measured run's wall time minus its stages' wall times, at least 0: the driver's time between stages when
        stages run one after another, less when two overlap; none of the projected figures include it); and, per
        core count, ``perfect_ms_<n>`` (no skew), ``projected_ms_<n>``,
        ``projected_speedup_<n>``, ``floor_ms_<n>`` (the job's physical floor on
        n cores: per stage, the larger of its longest task and a perfect split)
        and ``limited_by_<n>`` (the projected stages with fewer than 2n tasks, which
        a real n-core cluster would split further; empty when none). Each
        projection replays the task durations of the variant's median run (see
        :mod:`labkit.core.projection`).
    """
    if stage not in ("job", "shuffle"):
        raise ValueError(f"stage must be 'job' or 'shuffle', got {stage!r}")
    baseline = baseline or table["variant"].iloc[0]
    rows = []
    for (dataset, variant), _ in table.groupby(["dataset", "variant"], sort=False):
        m = median_run(table.attrs["runs"][dataset], variant)
        row = {"dataset": dataset, "variant": variant}
        sid = m.shuffle_stage if m.shuffle_stage is not None else m.heaviest_stage
        stages = m.stage_tasks_ms if stage == "job" else {sid: m.stage_tasks_ms.get(sid, [])}
        row.update({f"{k}_ms": v for k, v in bounds_ms(stages, 1).items() if k != "perfect"})
        row["driver_ms"] = max(0.0, m.wall_s * 1000 - sum(m.stage_wall_ms.values()))  # between stages, if serial
        for n in cores:
            row[f"perfect_ms_{n}"] = bounds_ms(stages, n)["perfect"]
            row[f"projected_ms_{n}"] = (project_job(stages, n) if stage == "job"
                                        else project_makespan(stages[sid], n))
            row[f"floor_ms_{n}"] = floor_ms(stages, n)
            row[f"limited_by_{n}"] = ", ".join(limiting_stages(stages, n))
        rows.append(row)
    out = pd.DataFrame(rows)
    for n in cores:
        base = out[out["variant"] == baseline].set_index("dataset")[f"projected_ms_{n}"]
        out[f"projected_speedup_{n}"] = out["dataset"].map(base) / out[f"projected_ms_{n}"]
    return out
