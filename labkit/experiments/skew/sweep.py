"""Notebook 02's measured experiments: the join sweep over skew levels and salt counts, and what it records.

:func:`join_variants` builds the sweep's joins from :mod:`labkit.topics.skew`; :func:`labkit.core.bench.sweep` runs
them; :func:`sweep_summary`, :func:`sweep_guidance` and :func:`best_salt_tasks` read the result, and
:func:`salting_claims` turns it into the claim rows the notebook records. :func:`join_task_view` and
:func:`groupby_skew_table` measure through :mod:`labkit.core.bench` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core import runtime
from labkit.core.args import positive_int, require_columns
from labkit.core.bench import compare, median_run, sweep, sweep_projection
from labkit.core.measure import Measurement, noop
from labkit.core.projection import balance, floor_ms
from labkit.topics import skew

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["best_salt_tasks", "broadcast_skew_effect", "groupby_skew_table", "join_task_view", "join_variants",
           "replication_table", "salting_claims", "sweep_guidance", "sweep_subsets", "sweep_summary"]


def join_task_view(large: DataFrame, small: DataFrame, key: str, conf: Mapping[str, Any],
                   label: str = "plain join") -> Measurement:
    """Measure the plain join of ``large`` and ``small`` once, after one warm-up run, under ``conf`` (through bench).

    Parameters
    ----------
    large, small : pyspark.sql.DataFrame
    key : str
    conf : mapping
        Spark SQL settings for both runs (broadcast off, AQE off, the shuffle partitions).
    label : str

    Returns
    -------
    labkit.core.measure.Measurement
        Its task view: ``shuffle_skew_ratio`` and ``stage_tasks_ms`` of the join stage.
    """
    table = compare({label: noop(large.join(small, key))}, repeats=1, warmup=1, spark=large.sparkSession,
                    progress=False, conf={label: conf})
    return median_run(table.attrs["runs"], label)


def groupby_skew_table(df: DataFrame, key: str, value: str, salts: int = 8, repeats: int = 3) -> pd.DataFrame:
    """Where skew hurts a ``groupBy``, and where partial aggregation already absorbs it.

    For ``sum``, ``count``, ``min``, ``max`` and ``avg`` Spark aggregates on the
    map side first, so a hot key sends about one row per map task into the
    shuffle: the two-stage (salted) aggregate has little left to win.
    ``collect_list``, a percentile and a window over the key carry every row of
    the key to one task. Every variant runs with AQE off, interleaved.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Skewed on ``key``; cache it first.
    key, value : str
        The grouping key and a numeric column.
    salts : int
        Salts for the two-stage aggregate.
    repeats : int

    Returns
    -------
    pandas.DataFrame
        :func:`labkit.core.bench.compare` output against ``groupBy sum``, plus
        ``rows shuffled`` (shuffle records read, median run) and ``max/median task``
        of the stage that read the shuffle.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    (key,) = require_columns(df, key, "grouping key")
    positive_int("salts", salts)
    variants = {
        "groupBy sum": noop(df.groupBy(key).agg(F.sum(value).alias("v"))),
        f"two-stage sum, {salts} salts": noop(skew.salted_aggregate(df, key, {"v": ("sum", value)}, salts)),
        "groupBy collect_list": noop(df.groupBy(key).agg(F.collect_list(value).alias("v"))),
        "groupBy exact median": noop(df.groupBy(key).agg(F.median(value).alias("v"))),
        "row_number over the key": noop(df.withColumn("v", F.row_number().over(
            Window.partitionBy(key).orderBy(F.col(value).desc())))),
    }
    off = {"spark.sql.adaptive.enabled": False}
    table = compare(variants, repeats=repeats, conf={name: off for name in variants})
    runs = {n: median_run(table.attrs["runs"], n) for n in table.index}
    table["max/median task"] = [runs[n].shuffle_skew_ratio for n in table.index]
    return table


def join_variants(small: DataFrame, key: str, salts: Sequence[int], hot_keys: Sequence[Any], hot_salts: int = 16
                  ) -> dict[str, Any]:
    """The join variants of the sweep, each a function of the large side: plain, AQE, salted, hot keys salted.

    Parameters
    ----------
    small : pyspark.sql.DataFrame
        The small side of every join.
    key : str
    salts : sequence of int
        One ``salted <n>`` variant (:func:`labkit.topics.skew.salted_join`) each.
    hot_keys : sequence
        For the ``hot keys salted <hot_salts>`` variant (:func:`labkit.topics.skew.salted_join_hot_keys`).
    hot_salts : int

    Returns
    -------
    dict
        ``plain (AQE off)`` and ``AQE skew join`` (both the plain join: the settings tell them apart, see
        :func:`labkit.core.bench.sweep`), ``salted <n>`` per salt count, ``hot keys salted <hot_salts>``.
    """
    hot = list(hot_keys)
    return {
        "plain (AQE off)": lambda df: df.join(small, key),
        "AQE skew join": lambda df: df.join(small, key),
        **{f"salted {s}": (lambda df, s=s: skew.salted_join(df, small, key, s)) for s in salts},
        f"hot keys salted {hot_salts}": lambda df: skew.salted_join_hot_keys(df, small, key, hot, hot_salts),
    }


def sweep_subsets(spark: Any, datasets: Mapping[str, DataFrame], variants: Mapping[str, Any],
                  conf: Mapping[str, Mapping[str, Any]], repeats: int, keep: Mapping[str, Sequence[str]] | None = None
                  ) -> pd.DataFrame:
    """:func:`labkit.core.bench.sweep`, each dataset with only the variants ``keep`` names for it (and the baseline).

    Parameters
    ----------
    spark : SparkSession
    datasets, variants, repeats
        As in :func:`labkit.core.bench.sweep`; the first variant is every dataset's baseline.
    conf : mapping of variant name to settings
        As in :func:`labkit.core.bench.sweep`; entries of variants a dataset does not run are left out for it.
    keep : mapping of dataset to variant names, optional
        A dataset that is not named runs every variant; an empty list runs every variant too.

    Returns
    -------
    pandas.DataFrame
        Shaped as :func:`labkit.core.bench.sweep`'s output: one row per (dataset, variant) run, ``attrs["runs"]``
        per dataset and ``attrs["cores"]``.

    Raises
    ------
    ValueError
        For a kept name that is not a variant, or a dataset ``keep`` names that is not in ``datasets``.
    """
    keep = {d: list(v) for d, v in (keep or {}).items() if v}
    unknown = sorted({v for names in keep.values() for v in names} - set(variants))
    if unknown or set(keep) - set(datasets):
        raise ValueError(f"sweep_subsets: no variant {unknown} or dataset {sorted(set(keep) - set(datasets))}")
    baseline = next(iter(variants))
    frames, runs = [], {}
    for label, df in datasets.items():
        names = [v for v in variants if v == baseline or label not in keep or v in keep[label]]
        table = sweep(spark, {label: df}, {v: variants[v] for v in names},
                      conf={v: c for v, c in conf.items() if v in names}, repeats=repeats, baseline=baseline)
        runs.update(table.attrs["runs"])
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["runs"] = runs
    out.attrs["cores"] = runtime.parallelism(spark)
    return out


def sweep_summary(table: pd.DataFrame, projection: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One dataset of a sweep, one row per variant: measured and projected speedups, skew and shuffle volume.

    Parameters
    ----------
    table, projection : pandas.DataFrame
        :func:`labkit.core.bench.sweep` and :func:`labkit.core.bench.sweep_projection` outputs.
    dataset : str
        For example ``"80%"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by variant: ``speedup`` (measured), ``projected_speedup_<n>``
        for each projected core count, ``join-stage max/median``,
        ``shuffle read (MB)``, ``balance`` (the join stage's total task time /
        cores / its measured time: 1.0 is perfect balance on this machine),
        ``time / floor`` (the median run against the job's physical floor on
        this machine's cores: 1.0 is as fast as the task layout allows) and
        ``limited by`` (stages too coarse for the largest projection).
    """
    if dataset not in set(table["dataset"]):
        raise ValueError(f"no dataset {dataset!r} in the sweep; it has {sorted(set(table['dataset']))}")
    measured = table[table["dataset"] == dataset].set_index("variant")
    projected = projection[projection["dataset"] == dataset].set_index("variant")
    spread = [c for c in ("speedup_lo", "speedup_hi") if c in measured.columns]
    out = measured[["speedup", *spread]].join(projected.filter(like="projected_speedup_"))
    out["join-stage max/median"] = measured["skew_ratio"]
    out["shuffle read (MB)"] = measured["shuffle_read_bytes"] / 2**20
    cores = int(table.attrs.get("cores") or 2)
    runs = table.attrs["runs"][dataset]
    bal, ratio = [], []
    for variant in out.index:
        m = median_run(runs, variant)
        sid = m.shuffle_stage if m.shuffle_stage is not None else m.heaviest_stage
        bal.append(balance(m.stage_tasks_ms.get(sid, []), cores, m.stage_wall_ms.get(sid, 0.0)))
        ratio.append(sum(m.stage_wall_ms.values()) / max(floor_ms(m.stage_tasks_ms, cores), 1e-9))
    out["balance"] = bal
    out["time / floor"] = ratio
    limits = sorted((c for c in projected.columns if c.startswith("limited_by_")),
                    key=lambda c: int(c.rsplit("_", 1)[1]))
    if limits:
        out["limited by"] = projected[limits[-1]]
    return out


def sweep_guidance(table: pd.DataFrame, projection: pd.DataFrame, salted: Sequence[str],
                   cores: Sequence[int] = (8, 64)) -> pd.DataFrame:
    """Per skew level: the fastest variant here, the best salt count measured and projected, and whether salting won.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`labkit.core.bench.sweep` output (``dataset``, ``variant``, ``speedup``).
    projection : pandas.DataFrame
        :func:`labkit.core.bench.sweep_projection` output for the same sweep.
    salted : sequence of str
        The salted variants' names.
    cores : sequence of int
        Core counts present in ``projection``.

    Returns
    -------
    pandas.DataFrame
        Indexed by dataset.
    """
    rows = []
    for dataset, part in projection.groupby("dataset", sort=False):
        measured = table[table["dataset"] == dataset].set_index("variant")["speedup"]
        projected = part.set_index("variant")
        ran = [v for v in salted if v in measured.index]  # a dataset of sweep_subsets may run none of them
        row = {"dataset": dataset, "fastest here": measured.idxmax(),
               "best salts, measured": measured[ran].idxmax() if ran else "not run",
               "its speedup": round(float(measured[ran].max()), 2) if ran else float("nan")}
        for n in cores:
            row[f"best salts, {n} cores (projected)"] = (projected.loc[ran, f"projected_speedup_{n}"].idxmax()
                                                         if ran else "not run")
        row["salting wins here"] = bool(ran) and bool(measured[ran].max() > 1.0)
        rows.append(row)
    return pd.DataFrame(rows).set_index("dataset")


def best_salt_tasks(table: pd.DataFrame, projected: pd.DataFrame, salts: Sequence[int], cores: int,
                    dataset: str = "80%", baseline: str = "plain (AQE off)") -> dict[str, list[float]]:
    """The join-stage task durations of the plain join and of the salt count projected fastest on ``cores``.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`labkit.core.bench.sweep` output, with ``attrs["runs"][dataset]``.
    projected : pandas.DataFrame
        Its projection on ``dataset`` indexed by variant, with ``projected_speedup_<cores>``.
    salts : sequence of int
        The ``salted <n>`` variants to choose from.
    cores : int
    dataset, baseline : str

    Returns
    -------
    dict
        ``baseline`` and ``salted <best>``, each the task durations (ms) of the join (shuffle) stage of its
        median run.
    """
    best = max(salts, key=lambda s: projected.loc[f"salted {s}", f"projected_speedup_{cores}"])
    runs = {v: median_run(table.attrs["runs"][dataset], v) for v in (baseline, f"salted {best}")}
    return {v: m.stage_tasks_ms[m.shuffle_stage] for v, m in runs.items()}


def broadcast_skew_effect(table: pd.DataFrame, variant: str = "broadcast", even: str = "0%",
                          skewed: str = "80%") -> tuple[float, tuple[float, float]]:
    """How much skew slows a variant of a sweep: its median time on even data over its median time on skewed data.

    Read from the sweep's own ``median_s``, ``min_s`` and ``max_s`` (:func:`labkit.core.bench.compare` takes them).
    The two datasets ran apart, not interleaved, so the spread is the widest one their runs allow rather than a
    per-round ratio.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`labkit.core.bench.sweep` output that ran ``variant`` on both datasets.
    variant, even, skewed : str

    Returns
    -------
    (float, (float, float))
        The ratio (1.0: unaffected; below 1: slower with skew) and its spread (``min_s`` on even data over
        ``max_s`` on skewed data, and ``max_s`` over ``min_s``: the smallest and largest ratio of any run on
        even data to any run on skewed data).

    Raises
    ------
    ValueError
        When a dataset, or ``variant`` on one of them, is missing from the sweep.
    """
    datasets = list(dict.fromkeys(table["dataset"])) if "dataset" in table.columns else []
    missing = [d for d in (even, skewed) if d not in datasets]
    if missing:
        raise ValueError(f"the sweep has no dataset {missing}; it has {sorted(datasets)}")
    rows = table[table["variant"] == variant].set_index("dataset")
    if even not in rows.index or skewed not in rows.index:
        raise ValueError(f"no runs of {variant!r} in datasets {even!r} and {skewed!r}")
    a, b = rows.loc[even], rows.loc[skewed]
    return (float(a["median_s"] / b["median_s"]),
            (float(a["min_s"] / b["max_s"]), float(a["max_s"] / b["min_s"])))


def salting_claims(table: pd.DataFrame, projection: pd.DataFrame, salts: Sequence[int], cores: int, *,
                   baseline: str = "plain (AQE off)", dataset: str = "80%", setting: str = "") -> list[dict]:
    """The numbers the guide's salting claims are judged on, from one sweep, ready for ``lab.record(**r)``.

    - ``claim.salting_5x.measured``: the best salt count's measured speedup over
      ``baseline`` on ``dataset``, with its spread;
    - ``claim.salting_5x.projected_max``: that salt count's projected speedup on
      ``cores`` cores (kind ``projected``), naming the stages that limit it;
    - ``claim.join_stage_10x.projected_max``: the best projected speedup of the
      join stage alone over any salt count, on ``cores`` cores;
    - ``claim.broadcast_skew_effect``: see :func:`broadcast_skew_effect`
      (``0%`` against ``dataset``).

    Parameters
    ----------
    table, projection : pandas.DataFrame
        :func:`labkit.core.bench.sweep` output with variants ``salted <n>`` for
        every n in ``salts``, ``baseline`` and ``broadcast``, on datasets ``0%``
        and ``dataset``; and its :func:`labkit.core.bench.sweep_projection` with
        ``cores`` among its core counts.
    salts : sequence of int
    cores : int
    baseline, dataset : str
    setting : str
        Added to the measured number's note (scale, cores, data shape).

    Returns
    -------
    list of dict
        One per number: ``key``, ``value``, ``unit``, ``claim``, ``kind``,
        ``note`` and, for measured ratios, ``spread``.

    Raises
    ------
    ValueError
        When a ``salted <n>`` variant, the dataset or the projection onto
        ``cores`` is missing (the message names it).
    """
    summary = sweep_summary(table, projection, dataset)
    salted = [f"salted {s}" for s in salts]
    missing = [v for v in salted if v not in summary.index]
    if missing or not salted:
        raise ValueError(f"salting_claims: the sweep has no {missing or 'salted variants'}; "
                         f"it has {list(summary.index)}")
    column = f"projected_speedup_{cores}"
    if column not in summary.columns:
        raise ValueError(f"salting_claims: the projection has no {cores} cores; project onto it first")
    best = max(salted, key=lambda v: summary.loc[v, "speedup"])
    row = summary.loc[best]
    limited = projection[(projection["dataset"] == dataset) & (projection["variant"] == best)]
    limited_by = limited[f"limited_by_{cores}"].iloc[0] if f"limited_by_{cores}" in limited.columns else ""
    stage = sweep_projection(table, [cores], baseline, "shuffle")
    stage = stage[(stage["dataset"] == dataset) & stage["variant"].isin(salted)]
    effect, effect_spread = broadcast_skew_effect(table, skewed=dataset)
    spread = (float(row["speedup_lo"]), float(row["speedup_hi"])) if "speedup_lo" in row.index else None
    return [
        dict(key="claim.salting_5x.measured", value=float(row["speedup"]), unit="x", claim="skew-salting-10min-2min",
             kind="measured", spread=spread, note=f"best salt count here: {best.split()[1]}; {setting}".rstrip("; ")),
        dict(key="claim.salting_5x.projected_max", value=float(row[column]), unit="x", claim="skew-salting-10min-2min",
             kind="projected", note=f"{cores} cores; limited by: {limited_by or 'no stage'}"),
        dict(key="claim.join_stage_10x.projected_max", value=float(stage[column].max()), unit="x",
             claim="skew-one-partition-10x", kind="projected", note=f"join stage, best salt count, {cores} cores"),
        dict(key="claim.broadcast_skew_effect", value=effect, unit="x", claim="skew-broadcast-works-with-skew",
             kind="measured", spread=effect_spread,
             note=f"the broadcast join's time at 0% hot share / at {dataset}: 1.0 means unaffected by skew"),
    ]


def replication_table(small_rows: int, hot_keys: int, salts: Sequence[int]) -> pd.DataFrame:
    """Rows of the small side after replication, full salting against hot-key salting.

    Full salting copies every small-side row once per salt; hot-key salting
    copies only the hot keys' rows (one row per hot key on a dimension).

    Examples
    --------
    >>> replication_table(100, 5, [1, 4]).to_dict("records")[1]
    {'salts': 4, 'full salting': 400, 'hot keys only': 115}
    """
    positive_int("small_rows", small_rows, 0)
    positive_int("hot_keys", hot_keys, 0)
    return pd.DataFrame([{"salts": s, "full salting": small_rows * s, "hot keys only": small_rows + hot_keys * (s - 1)}
                         for s in (positive_int("salts", s) for s in salts)])
