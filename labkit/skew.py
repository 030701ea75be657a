"""Data skew: detect it, and remove it from joins and aggregations.

Every technique here returns exactly the rows of the plain operation (the tests
check that with ``assertDataFrameEqual``); only the work per task changes.

Salts are deterministic: a row's salt is a hash of its own values and a seed,
not ``rand()``. A seedless ``rand()`` draws new salts when a failed task is
retried or a stage is recomputed, so a recomputed partition can send a row to
a different salt than the first attempt did: rows can then be lost or
duplicated downstream. ``rand(seed)`` is only safe when the input order within
each partition is itself deterministic, which it is not after a shuffle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "SkewReport",
    "aqe_skew_settings",
    "laptop_skew_threshold",
    "broadcast_join",
    "isolate_hot_keys",
    "salted_aggregate",
    "salted_join",
    "salted_join_hot_keys",
    "skew_report",
    "sweep",
    "sweep_projection",
]

SIGNIFICANT, MODERATE = 3.0, 1.5  # the guide's thresholds on max / mean rows per key
_SALT = "_labkit_salt"
_JOINS = {"inner": "inner", "left": "left", "leftouter": "left", "left_outer": "left",
          "semi": "left_semi", "leftsemi": "left_semi", "left_semi": "left_semi",
          "anti": "left_anti", "leftanti": "left_anti", "left_anti": "left_anti"}
_REFUSED = {
    "right": "the small side is replicated once per salt, so each of its unmatched rows would come out `salts` times",
    "full": "the small side is replicated once per salt, so each of its unmatched rows would come out `salts` times",
    "cross": "a cross join has no key to salt",
}
_REFUSED.update({k: _REFUSED["right"] for k in ("rightouter", "right_outer")})
_REFUSED.update({k: _REFUSED["full"] for k in ("outer", "fullouter", "full_outer")})
_AGGS = ("sum", "count", "min", "max", "avg")


@dataclass(frozen=True)
class SkewReport:
    """How skewed a key is, with the guide's verdict thresholds (> 3 significant, > 1.5 moderate)."""

    key: str
    rows: int
    keys: int
    max_rows: int
    mean_rows: float
    skew_ratio: float  # max / mean rows per key
    verdict: str  # "significant" | "moderate" | "balanced"
    top: pd.DataFrame  # key, rows, share of the heaviest keys
    hot_keys: list  # keys holding more than ``hot_threshold`` of the rows


def skew_report(df, key: str, top: int = 20, hot_threshold: float = 0.1) -> SkewReport:
    """Rows per key, the top keys with their share, the skew ratio and the guide's verdict.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str
        The join or grouping column.
    top : int
        How many heavy keys to list.
    hot_threshold : float
        A key holding more than this share of the rows is reported as hot
        (the guide's ``identify_skewed_keys`` uses 0.1).

    Returns
    -------
    SkewReport

    Notes
    -----
    This is the data view. Whether a job is slow depends on the task view: how
    the keys fall into shuffle partitions and how long the longest task runs.
    ``labkit.measure.measure`` gives that (``shuffle_skew_ratio``).
    """
    from labkit.datagen import key_distribution

    if not 0.0 < hot_threshold < 1.0:
        raise ValueError(f"hot_threshold must be in (0, 1), got {hot_threshold!r}")
    dist = key_distribution(df, key, top=top)
    verdict = "significant" if dist.skew_ratio > SIGNIFICANT else "moderate" if dist.skew_ratio > MODERATE else (
        "balanced")
    hot = dist.top.loc[dist.top["share"] > hot_threshold, key].tolist()
    return SkewReport(key, dist.rows, dist.keys, dist.max_rows, dist.mean_rows, dist.skew_ratio, verdict, dist.top,
                      hot)


def _keys(on: str | Sequence[str], *frames) -> list[str]:
    """Join keys as a list of column names present in every frame."""
    keys = [on] if isinstance(on, str) else list(on)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"on must be a column name or a list of column names, got {on!r}")
    for i, df in enumerate(frames):
        missing = [k for k in keys if k not in df.columns]
        if missing:
            side = ("large", "small")[i] if len(frames) == 2 else "input"
            raise ValueError(f"join key(s) {missing} not in the {side} side's columns {df.columns}")
    return keys


def _check_salts(salts: int) -> None:
    """Salts must be a positive integer."""
    if isinstance(salts, bool) or not isinstance(salts, int) or salts < 1:
        raise ValueError(f"salts must be an integer >= 1, got {salts!r}")


def _join_type(how: str) -> str:
    """Normalise a join type, refusing the ones salting would get wrong."""
    norm = how.lower().replace(" ", "")
    if norm in _REFUSED:
        raise ValueError(f"salted joins do not support how={how!r}: {_REFUSED[norm]}. "
                         "Salt inner, left, left_semi or left_anti joins, with the skewed side on the left.")
    if norm not in _JOINS:
        raise ValueError(f"unknown join type {how!r}")
    return _JOINS[norm]


def _salt_column(df, salts: int, seed: int):
    """A deterministic salt in [0, salts) from a hash of the row's own values."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(F.lit(int(seed)), *[F.col(c) for c in df.columns]), F.lit(salts)).cast("int")


def _replicate(small, salts: int):
    """The small side once per salt value 0..salts-1."""
    from pyspark.sql import functions as F

    return small.withColumn(_SALT, F.explode(F.sequence(F.lit(0), F.lit(salts - 1))))


def salted_join(large, small, on: str | Sequence[str], salts: int, how: str = "inner", seed: int = 42):
    """Join a skewed large side to a small side with every key spread over ``salts`` partitions.

    Parameters
    ----------
    large : pyspark.sql.DataFrame
        The skewed side; it is salted and kept on the left.
    small : pyspark.sql.DataFrame
        The other side; it is replicated ``salts`` times with
        ``explode(sequence(0, salts - 1))``.
    on : str or list of str
        Join key column(s), present on both sides.
    salts : int
        Number of salt values (>= 1). 1 is the plain join.
    how : {"inner", "left", "left_semi", "left_anti"}
        Join type. right and full joins are refused: the replicated side's
        unmatched rows would be duplicated once per salt.
    seed : int
        Seeds the salt hash.

    Returns
    -------
    pyspark.sql.DataFrame
        The same rows and columns as ``large.join(small, on, how)``.

    Raises
    ------
    ValueError
        For a refused or unknown join type, a missing key column, or ``salts < 1``.

    Notes
    -----
    A large row with key ``k`` gets one salt ``s``; the small side holds every
    ``(k, s)`` pair, so the row meets each small row of ``k`` exactly once, as
    in the plain join. Null keys match nothing on either path, as in SQL.
    """
    keys = _keys(on, large, small)
    _check_salts(salts)
    kind = _join_type(how)
    salted = large.withColumn(_SALT, _salt_column(large, salts, seed))
    return salted.join(_replicate(small, salts), [*keys, _SALT], kind).drop(_SALT)


def salted_join_hot_keys(large, small, on: str, hot_keys: Sequence[Any], salts: int, how: str = "inner",
                         seed: int = 42):
    """Salt only the hot keys: cold keys join as usual, hot keys spread over ``salts`` partitions.

    The corrected version of the guide's "products with zero stock" example:
    the salt is deterministic (not a seedless ``rand()``), and the two halves
    of the small side are combined with ``unionByName``, not by column position.

    Parameters
    ----------
    large, small : pyspark.sql.DataFrame
    on : str
        The join key column.
    hot_keys : sequence
        Key values to salt (e.g. ``skew_report(...).hot_keys``); may be empty.
    salts : int
        Salt values for the hot keys (>= 1).
    how : {"inner", "left", "left_semi", "left_anti"}
    seed : int

    Returns
    -------
    pyspark.sql.DataFrame
        The same rows and columns as ``large.join(small, on, how)``; only the
        hot keys' rows of the small side are replicated.
    """
    from pyspark.sql import functions as F

    (key,) = _keys(on, large, small)
    _check_salts(salts)
    kind = _join_type(how)
    hot = list(hot_keys)
    is_hot = F.col(key).isin(hot) if hot else F.lit(False)
    salted = large.withColumn(_SALT, F.when(is_hot, _salt_column(large, salts, seed)).otherwise(F.lit(0)))
    return salted.join(_replicate_hot(small, key, hot, salts), [key, _SALT], kind).drop(_SALT)


def _replicate_hot(small, key: str, hot: list, salts: int):
    """The small side with its hot keys' rows once per salt and every other row once, at salt 0."""
    from pyspark.sql import functions as F

    is_hot = F.col(key).isin(hot) if hot else F.lit(False)
    return _replicate(small.filter(is_hot), salts).unionByName(
        small.filter(~is_hot | F.col(key).isNull()).withColumn(_SALT, F.lit(0)))


def broadcast_join(large, small, on: str | Sequence[str], how: str = "inner"):
    """Join with the small side broadcast to every task: no shuffle, so no skewed partition.

    Parameters
    ----------
    large, small : pyspark.sql.DataFrame
    on : str or list of str
    how : str
        Any join type that keeps the broadcast side on the right (inner, left,
        left_semi, left_anti).

    Returns
    -------
    pyspark.sql.DataFrame
    """
    from pyspark.sql import functions as F

    return large.join(F.broadcast(small), _keys(on, large, small), how)


def _parse_aggs(aggs: Mapping[str, tuple[str, str]], df) -> list[tuple[str, str, str]]:
    """Validate ``{out: (func, column)}`` into a list of (out, func, column)."""
    if not aggs:
        raise ValueError("aggs must name at least one aggregate, e.g. {'total': ('sum', 'amount')}")
    parsed = []
    for out, spec in aggs.items():
        func, column = spec
        func = func.lower()
        if func in ("count_distinct", "countdistinct", "approx_count_distinct"):
            raise ValueError(f"{out}: a distinct count cannot be split by salt: the same value can appear under "
                             "several salts, so partial distinct counts do not add up. Count distinct on the "
                             "(key, value) pairs first, or use the plain groupBy.")
        if func not in _AGGS:
            raise ValueError(f"{out}: unsupported aggregate {func!r}; use one of {_AGGS}")
        if column != "*" and column not in df.columns:
            raise ValueError(f"{out}: no column {column!r} in {df.columns}")
        if column == "*" and func != "count":
            raise ValueError(f"{out}: only count can take '*'")
        parsed.append((out, func, column))
    return parsed


def _plain_agg(out: str, func: str, column: str):
    """The single-stage aggregate expression."""
    from pyspark.sql import functions as F

    col = F.lit(1) if column == "*" else F.col(column)
    return {"sum": F.sum, "count": F.count, "min": F.min, "max": F.max, "avg": F.avg}[func](col).alias(out)


def _two_stage(out: str, func: str, column: str):
    """(partial expressions, final expression) of one aggregate split by salt.

    avg is not an aggregate of averages: each salt sees a different number of
    rows, so the final stage needs the partial sums and counts.
    """
    from pyspark.sql import functions as F

    col = F.lit(1) if column == "*" else F.col(column)
    s, c = f"_{out}_sum", f"_{out}_count"
    if func == "avg":
        return [F.sum(col).alias(s), F.count(col).alias(c)], F.sum(s) / F.sum(c)
    if func == "count":  # a count is never null, as in the plain groupBy
        return [F.count(col).alias(c)], F.coalesce(F.sum(c), F.lit(0))
    partial = {"sum": F.sum, "min": F.min, "max": F.max}[func]
    return [partial(col).alias(s)], partial(s)


def salted_aggregate(df, key: str | Sequence[str], aggs: Mapping[str, tuple[str, str]], salts: int, seed: int = 42):
    """Two-stage aggregation for a skewed ``groupBy``: partial by (key, salt), then final by key.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str or list of str
        Grouping column(s).
    aggs : mapping
        ``{output_name: (func, column)}`` with func in sum, count, min, max, avg
        (``("count", "*")`` counts rows). Distinct counts are refused: they
        cannot be split by salt.
    salts : int
        Partial groups per key (>= 1).
    seed : int

    Returns
    -------
    pyspark.sql.DataFrame
        The same rows, columns and types as
        ``df.groupBy(key).agg(...)`` (floating-point sums may differ in the
        last digits, because they are added in another order).

    Examples
    --------
    >>> df = spark.createDataFrame([(1, 2.0), (1, 4.0), (2, 5.0)], ["k", "v"])
    >>> out = salted_aggregate(df, "k", {"total": ("sum", "v"), "n": ("count", "*")}, salts=4)
    >>> sorted(map(tuple, out.collect()))
    [(1, 6.0, 2), (2, 5.0, 1)]
    """

    keys = _keys(key, df)
    _check_salts(salts)
    parsed = _parse_aggs(aggs, df)
    plain_schema = df.groupBy(*keys).agg(*[_plain_agg(*p) for p in parsed]).schema  # analysis only, no job
    partials, finals = [], []
    for out, func, column in parsed:
        p, f = _two_stage(out, func, column)
        partials += p
        finals.append(f.cast(plain_schema[out].dataType).alias(out))
    salted = df.withColumn(_SALT, _salt_column(df, salts, seed))
    return salted.groupBy(*keys, _SALT).agg(*partials).groupBy(*keys).agg(*finals)


def isolate_hot_keys(df, key: str, aggs: Mapping[str, tuple[str, str]], hot_keys: Sequence[Any],
                     salts: int = 16, seed: int = 42):
    """Aggregate the hot keys apart, spread over ``salts`` partial groups, and union the cold keys' result.

    The guide's technique 4, corrected: its ``repartition(100, key)`` sends each
    hot key back to one partition (no extra parallelism at all), and its
    ``~isin(hot)`` filter silently drops the rows whose key is null.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str
    aggs : mapping
        As in :func:`salted_aggregate`.
    hot_keys : sequence
        Key values to process apart.
    salts : int
        Partial groups per hot key.
    seed : int

    Returns
    -------
    pyspark.sql.DataFrame
        The same rows as ``df.groupBy(key).agg(...)``: the key sets of the two
        halves are disjoint (nulls go with the cold half), so the union is exact.
    """
    from pyspark.sql import functions as F

    (key,) = _keys(key, df)
    parsed = _parse_aggs(aggs, df)
    hot = list(hot_keys)
    if not hot:
        return df.groupBy(key).agg(*[_plain_agg(*p) for p in parsed])
    is_hot = F.col(key).isin(hot)
    cold = df.filter(~is_hot | F.col(key).isNull()).groupBy(key).agg(*[_plain_agg(*p) for p in parsed])
    return cold.unionByName(salted_aggregate(df.filter(is_hot), key, aggs, salts, seed))


def aqe_skew_settings(threshold: str = "1MB", factor: float = 2.0, advisory: str = "1MB") -> dict[str, Any]:
    """Settings that let AQE's skew join fire at laptop scale.

    Spark's defaults split a partition only when it is larger than 256 MB *and*
    5x the median partition, which laptop-sized data never reaches.

    Parameters
    ----------
    threshold : str
        ``skewedPartitionThresholdInBytes``.
    factor : float
        ``skewedPartitionFactor``.
    advisory : str
        ``advisoryPartitionSizeInBytes``: the size AQE splits a skewed partition into.

    Returns
    -------
    dict
        For :func:`labkit.session.spark_conf`.
    """
    return {
        "spark.sql.adaptive.enabled": True,
        "spark.sql.adaptive.skewJoin.enabled": True,
        "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes": threshold,
        "spark.sql.adaptive.skewJoin.skewedPartitionFactor": factor,
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": advisory,
    }


def laptop_skew_threshold(rows: int, partitions: int, bytes_per_row: int = 36) -> str:
    """A ``skewedPartitionThresholdInBytes`` that lets AQE's skew join fire on laptop-sized data.

    Twice the mean join partition, estimated as ``rows * bytes_per_row / partitions``
    (about 36 shuffled bytes per row of ``datagen.transactions``), and at least 16 KB.
    It is a setting chosen for the demonstration, not a measurement.

    Examples
    --------
    >>> laptop_skew_threshold(1_000_000, 32)
    '2197KB'
    """
    mean = max(1, rows * bytes_per_row // max(1, partitions))
    return f"{max(16, 2 * mean // 1024)}KB"


def sweep(spark, datasets: Mapping[str, Any], variants: Mapping[str, Callable[[Any], Any]],
          conf: Mapping[str, Mapping[str, Any]] | None = None, repeats: int = 3, warmup: int = 1,
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
        Settings applied while that variant runs (see :func:`labkit.bench.compare`).
    repeats, warmup, baseline, progress
        As in :func:`labkit.bench.compare`.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, variant) with the columns of ``bench.compare``
        plus ``dataset``; ``attrs["runs"]`` maps dataset to its measurements.
    """
    from labkit.bench import compare

    def runner(name, df):
        frame = variants[name](df)
        return lambda: frame.write.format("noop").mode("overwrite").save()

    frames, runs = [], {}
    for label, df in datasets.items():
        table = compare({name: runner(name, df) for name in variants}, repeats=repeats, warmup=warmup,
                        baseline=baseline, spark=spark, progress=progress, conf=conf)
        runs[label] = table.attrs["runs"]
        frames.append(table.assign(dataset=label).reset_index())
    out = pd.concat(frames, ignore_index=True)
    out.attrs["runs"] = runs
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
        ``dataset, variant`` and, per core count, ``projected_ms_<n>`` and
        ``projected_speedup_<n>``. Each projection replays the task durations of
        the variant's median run (see :mod:`labkit.projection`).
    """
    from labkit.bench import median_run
    from labkit.projection import project_job, project_makespan

    if stage not in ("job", "shuffle"):
        raise ValueError(f"stage must be 'job' or 'shuffle', got {stage!r}")
    baseline = baseline or table["variant"].iloc[0]
    rows = []
    for (dataset, variant), _ in table.groupby(["dataset", "variant"], sort=False):
        m = median_run(table.attrs["runs"][dataset], variant)
        row = {"dataset": dataset, "variant": variant}
        for n in cores:
            if stage == "job":
                row[f"projected_ms_{n}"] = project_job(m.stage_tasks_ms, n)
            else:
                sid = m.shuffle_stage if m.shuffle_stage is not None else m.heaviest_stage
                row[f"projected_ms_{n}"] = project_makespan(m.stage_tasks_ms.get(sid, []), n)
        rows.append(row)
    out = pd.DataFrame(rows)
    for n in cores:
        base = out[out["variant"] == baseline].set_index("dataset")[f"projected_ms_{n}"]
        out[f"projected_speedup_{n}"] = out["dataset"].map(base) / out[f"projected_ms_{n}"]
    return out
