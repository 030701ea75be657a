"""Data skew: detect it, and remove it from joins and aggregations.

Every technique here returns exactly the rows of the plain operation (the tests
check that with ``assertDataFrameEqual``); only the work per task changes.

How a salt is drawn, precisely. A seedless ``F.rand()`` is not re-drawn on a
retry: Spark picks its seed once, when the column is built, and each
partition's generator is seeded with that seed plus the partition index, so a
task rerun over the same rows in the same order draws the same salts (the
tests check it). A salt from ``rand()`` or from the row's position is a
function of *where* the row sits: its partition and its place in it. That is
the hazard: after a shuffle, the order of rows inside a partition is not
deterministic, so a stage recomputed after a lost executor or a fetch failure
can hand a row another salt than the first attempt did, and the join on
``(key, salt)`` downstream can then lose or duplicate it. The rule: **when the
input comes out of a shuffle, salt from columns that identify the row**.

* ``salt_by=None`` (the default): a hash of the seed and the row's position
  (``monotonically_increasing_id``). It reads no column, so Parquet column
  pruning still works, and duplicate rows get different salts. It has exactly
  the order hazard of ``rand()``: use it on input whose partitions and order
  are fixed, such as a file scan; the same rows in another partitioning get
  other salts.
* ``salt_by=["txn_id"]``: ``pmod(xxhash64(seed, txn_id), salts)``, a hash of
  the named columns. The same salt for a row whatever the partitioning or the
  order (use it after a shuffle); rows equal on those columns share a salt, so
  name columns that tell rows apart.

:func:`salt_stability` shows the three side by side on the same rows.

Hot-key lists may contain ``None``: null is a classic skew source. Every
hot-key test here is null-safe (``col.isin([None, ...])`` alone is NULL for
every other key, and a filter on it would silently drop those rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labkit.core.args import join_type, positive_int, require_columns
from labkit.core.bench import median_run, sweep_projection
from labkit.core.projection import balance, floor_ms

__all__ = [
    "CHECKED_AGGS",
    "SkewReport",
    "best_salt_tasks",
    "broadcast_skew_effect",
    "detector_checks",
    "groupby_skew_table",
    "isolate_hot_keys",
    "isolation_check",
    "join_task_view",
    "join_variants",
    "partition_spread",
    "rand_salted_join",
    "replication_table",
    "salt_stability",
    "salted_aggregate",
    "salted_join",
    "salted_join_hot_keys",
    "salting_claims",
    "skew_report",
    "sweep_guidance",
    "sweep_summary",
    "verify_techniques",
]

SIGNIFICANT, MODERATE = 3.0, 1.5  # the guide's thresholds on max / mean rows per key
_SALT = "_labkit_salt"
_REPLICATED = "the small side is replicated once per salt, so each of its unmatched rows would come out `salts` times"
_REFUSED = {"right_outer": _REPLICATED, "full_outer": _REPLICATED, "cross": "a cross join has no key to salt"}
_AGGS = ("sum", "count", "min", "max", "avg")
CHECKED_AGGS = {"revenue": ("sum", "amount"), "orders": ("count", "*"), "biggest": ("max", "amount"),
                "mean_qty": ("avg", "quantity")}  # the aggregates notebook 02's correctness checks compare


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
    ``labkit.core.measure.measure`` gives that (``shuffle_skew_ratio``).
    """
    from labkit.core.datagen import key_distribution

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
    keys = []
    for i, df in enumerate(frames):
        side = ("large", "small")[i] if len(frames) == 2 else "input"
        keys = require_columns(df, on, f"join key of the {side} side")
    return keys


def _join_type(how: str) -> str:
    """Normalise a join type, refusing the ones salting would get wrong."""
    kind = join_type(how)
    if kind in _REFUSED:
        raise ValueError(f"salted joins do not support how={how!r}: {_REFUSED[kind]}. "
                         "Salt inner, left, left_semi or left_anti joins, with the skewed side on the left.")
    return kind


def _salt_column(df, salts: int, seed: int, salt_by: Sequence[str] | None = None):
    """A deterministic salt in [0, salts): from the row position, or from the ``salt_by`` columns."""
    from pyspark.sql import functions as F

    if salt_by is None:
        source = [F.monotonically_increasing_id()]
    else:
        source = [F.col(c) for c in require_columns(df, salt_by, "salt_by column")]
    return F.pmod(F.xxhash64(F.lit(int(seed)), *source), F.lit(salts)).cast("int")


def rand_salted_join(large, small, on: str | Sequence[str], salts: int):
    """The guide's salted join as written: a seedless ``(rand() * salts).cast("int")`` and ``explode(array(lit(i)))``.

    Kept as the reference the lab's salts are compared with. Its result is the
    plain inner join's rows; its salts are a function of where each row sits
    (see the module docstring), so do not use it on input that comes out of a
    shuffle.

    Parameters
    ----------
    large, small : pyspark.sql.DataFrame
    on : str or list of str
    salts : int

    Returns
    -------
    pyspark.sql.DataFrame
        The same rows and columns as ``large.join(small, on)``.
    """
    from pyspark.sql import functions as F

    keys = _keys(on, large, small)
    positive_int("salts", salts)
    salted = large.withColumn(_SALT, (F.rand() * salts).cast("int"))
    exploded = small.withColumn(_SALT, F.explode(F.array(*[F.lit(i) for i in range(salts)])))
    return salted.join(exploded, [*keys, _SALT]).drop(_SALT)


def _salts_by_id(df, ids: list[str], salt) -> pd.Series:
    """The salt of every row, collected and indexed by the id columns."""
    return df.select(*ids, salt.alias(_SALT)).toPandas().set_index(ids)[_SALT]


def _share_same(first: pd.Series, other: pd.Series) -> float:
    """Share of the rows of ``first`` whose salt is the same in ``other`` (matched by id)."""
    return float((first == other.reindex(first.index)).mean()) if len(first) else 1.0


def salt_stability(df, id_cols: str | Sequence[str], salts: int = 8, seed: int = 42, partitions: int = 7,
                   max_rows: int = 200_000) -> pd.DataFrame:
    """Which salts stay with their row: on a rerun of the same input, and when the same rows come in other partitions.

    Three salts over the same rows: the guide's seedless
    ``(rand() * salts).cast("int")``, the lab's default (a hash of the row
    position) and ``salt_by=id_cols`` (a hash of the columns that identify the
    row). Each is evaluated twice on ``df`` as it is (a rerun of the same
    input, as a retried task over a file scan sees it) and once on
    ``df.repartition(partitions)``: the same rows in another partitioning and
    order, as a stage recomputed after a shuffle may see them.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Input whose partitioning and order are fixed (a file scan); it is
        collected, one (id, salt) pair per row and salt, so pass a sample.
    id_cols : str or list of str
        Columns that identify a row; rows are matched by them.
    salts : int
    seed : int
        The hash salts' seed (``rand()`` draws its own, once).
    partitions : int
        Partitions of the repartitioned copy.
    max_rows : int
        Refuse larger inputs rather than collect them.

    Returns
    -------
    pandas.DataFrame
        Indexed by salt: ``same on rerun`` and ``same after repartition``
        (shares of the rows whose salt did not change) and ``rows``.

    Raises
    ------
    ValueError
        For a missing id column, ids that do not identify the rows, or more
        than ``max_rows`` rows.
    """
    from pyspark.sql import functions as F

    ids = require_columns(df, id_cols, "id column")
    positive_int("salts", salts)
    positive_int("partitions", partitions)
    rows = df.count()
    if rows > max_rows:
        raise ValueError(f"salt_stability collects every row: {rows} rows is more than max_rows={max_rows}; "
                         "pass a sample")
    duplicates = rows - df.select(*ids).distinct().count()
    if duplicates:
        raise ValueError(f"the id column(s) {ids} do not identify the rows: {duplicates} rows repeat an id")
    candidates = {"seedless rand()": (F.rand() * salts).cast("int"),  # one seed, drawn here, used for all three runs
                  "row position (default)": _salt_column(df, salts, seed),
                  f"salt_by={ids}": _salt_column(df, salts, seed, ids)}
    moved = df.repartition(partitions)
    out = []
    for name, salt in candidates.items():
        first, again, other = (_salts_by_id(frame, ids, salt) for frame in (df, df, moved))
        out.append({"salt": name, "same on rerun": _share_same(first, again),
                    "same after repartition": _share_same(first, other), "rows": rows})
    return pd.DataFrame(out).set_index("salt")


def _is_hot(key: str, hot: Sequence[Any]):
    """A null-safe test for membership in ``hot``: never NULL, and true for a null key when None is hot."""
    from pyspark.sql import functions as F

    values = [h for h in hot if h is not None]
    test = F.coalesce(F.col(key).isin(values), F.lit(False)) if values else F.lit(False)
    return test | F.col(key).isNull() if len(values) < len(hot) else test


def _replicate(small, salts: int):
    """The small side once per salt value 0..salts-1."""
    from pyspark.sql import functions as F

    return small.withColumn(_SALT, F.explode(F.sequence(F.lit(0), F.lit(salts - 1))))


def salted_join(large, small, on: str | Sequence[str], salts: int, how: str = "inner", seed: int = 42,
                salt_by: Sequence[str] | None = None):
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
    salt_by : list of str, optional
        Columns of ``large`` the salt is hashed from; by default the row
        position (see the module docstring).

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
    positive_int("salts", salts)
    kind = _join_type(how)
    salted = large.withColumn(_SALT, _salt_column(large, salts, seed, salt_by))
    return salted.join(_replicate(small, salts), [*keys, _SALT], kind).drop(_SALT)


def salted_join_hot_keys(large, small, on: str, hot_keys: Sequence[Any], salts: int, how: str = "inner",
                         seed: int = 42, salt_by: Sequence[str] | None = None):
    """Salt only the hot keys: cold keys join as usual, hot keys spread over ``salts`` partitions.

    The corrected version of the guide's "products with zero stock" example:
    the salt is a hash (of the row's position, or of the ``salt_by`` columns)
    instead of a seedless ``rand()`` (the two share the order hazard of the
    module docstring: pass ``salt_by`` when ``large`` comes out of a shuffle),
    and the two halves of the small side are combined with ``unionByName``,
    not by column position.

    Parameters
    ----------
    large, small : pyspark.sql.DataFrame
    on : str
        The join key column.
    hot_keys : sequence
        Key values to salt (e.g. ``skew_report(...).hot_keys``); may be empty
        and may contain None (null keys are then salted too).
    salts : int
        Salt values for the hot keys (>= 1).
    how : {"inner", "left", "left_semi", "left_anti"}
    seed : int
    salt_by : list of str, optional
        As in :func:`salted_join`.

    Returns
    -------
    pyspark.sql.DataFrame
        The same rows and columns as ``large.join(small, on, how)``; only the
        hot keys' rows of the small side are replicated.
    """
    from pyspark.sql import functions as F

    (key,) = _keys(on, large, small)
    positive_int("salts", salts)
    kind = _join_type(how)
    hot = list(hot_keys)
    salt = F.when(_is_hot(key, hot), _salt_column(large, salts, seed, salt_by)).otherwise(F.lit(0))
    return large.withColumn(_SALT, salt).join(_replicate_hot(small, key, hot, salts), [key, _SALT], kind).drop(_SALT)


def _replicate_hot(small, key: str, hot: list, salts: int):
    """The small side with its hot keys' rows once per salt and every other row once, at salt 0."""
    from pyspark.sql import functions as F

    is_hot = _is_hot(key, hot)
    return _replicate(small.filter(is_hot), salts).unionByName(small.filter(~is_hot).withColumn(_SALT, F.lit(0)))


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


def salted_aggregate(df, key: str | Sequence[str], aggs: Mapping[str, tuple[str, str]], salts: int, seed: int = 42,
                     salt_by: Sequence[str] | None = None):
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
    salt_by : list of str, optional
        As in :func:`salted_join`.

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
    positive_int("salts", salts)
    parsed = _parse_aggs(aggs, df)
    plain_schema = df.groupBy(*keys).agg(*[_plain_agg(*p) for p in parsed]).schema  # analysis only, no job
    partials, finals = [], []
    for out, func, column in parsed:
        p, f = _two_stage(out, func, column)
        partials += p
        finals.append(f.cast(plain_schema[out].dataType).alias(out))
    salted = df.withColumn(_SALT, _salt_column(df, salts, seed, salt_by))
    return salted.groupBy(*keys, _SALT).agg(*partials).groupBy(*keys).agg(*finals)


def isolate_hot_keys(df, key: str, aggs: Mapping[str, tuple[str, str]], hot_keys: Sequence[Any],
                     salts: int = 16, seed: int = 42, salt_by: Sequence[str] | None = None):
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
    salt_by : list of str, optional
        As in :func:`salted_join`.

    Returns
    -------
    pyspark.sql.DataFrame
        The same rows as ``df.groupBy(key).agg(...)``: the key sets of the two
        halves are disjoint (null goes with the hot half when None is in
        ``hot_keys``, with the cold half otherwise), so the union is exact.
    """

    (key,) = _keys(key, df)
    parsed = _parse_aggs(aggs, df)
    hot = list(hot_keys)
    if not hot:
        return df.groupBy(key).agg(*[_plain_agg(*p) for p in parsed])
    is_hot = _is_hot(key, hot)
    cold = df.filter(~is_hot).groupBy(key).agg(*[_plain_agg(*p) for p in parsed])
    return cold.unionByName(salted_aggregate(df.filter(is_hot), key, aggs, salts, seed, salt_by))


def partition_spread(df, key: str, partitions: Sequence[int]) -> pd.DataFrame:
    """Rows in the largest and the median hash partition of ``key``, for several partition counts.

    The guide's technique 6 raises ``spark.sql.shuffle.partitions`` (200 -> 400).
    Every row of one key still hashes to one partition, so the largest partition
    never falls below the hottest key's row count: more partitions only thin the
    cold keys out. AQE is off while this runs, so each count is used as given.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str
    partitions : sequence of int

    Returns
    -------
    pandas.DataFrame
        ``partitions``, ``largest partition``, ``median partition`` and
        ``hottest key rows`` (the floor the largest partition cannot go below).
    """
    from pyspark.sql import functions as F

    from labkit.core.session import spark_conf

    (key,) = _keys(key, df)
    hottest = df.groupBy(key).count().agg(F.max("count")).first()[0] or 0
    rows = []
    for n in partitions:
        positive_int("partitions", n)
        with spark_conf(df.sparkSession, {"spark.sql.adaptive.enabled": False, "spark.sql.shuffle.partitions": n}):
            sizes = df.repartition(key).groupBy(F.spark_partition_id().alias("p")).count()
            stats = sizes.agg(F.max("count").alias("max"), F.expr("percentile(count, 0.5)").alias("median")).first()
        rows.append({"partitions": n, "largest partition": stats["max"], "median partition": stats["median"],
                     "hottest key rows": hottest})
    return pd.DataFrame(rows)


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
        row = {"dataset": dataset, "fastest here": measured.idxmax(),
               "best salts, measured": measured[list(salted)].idxmax(),
               "its speedup": round(float(measured[list(salted)].max()), 2)}
        for n in cores:
            row[f"best salts, {n} cores (projected)"] = projected.loc[list(salted), f"projected_speedup_{n}"].idxmax()
        row["salting wins here"] = bool(measured[list(salted)].max() > 1.0)
        rows.append(row)
    return pd.DataFrame(rows).set_index("dataset")


def verify_techniques(large, small, key: str, hot_keys: Sequence[Any], salts: int,
                      aggs: Mapping[str, tuple[str, str]], salt_by: Sequence[str] | None = None) -> pd.DataFrame:
    """Check every salting technique of this module against the plain operation, inside Spark.

    The joins are compared with ``large.join(small, key, how)`` for an inner
    join and for a left join against a small side missing half its keys; the
    aggregations with ``large.groupBy(key).agg(...)``. Hot-key variants run
    with ``hot_keys`` and with ``[None, *hot_keys]`` (a null among the hot keys).

    Parameters
    ----------
    large, small : pyspark.sql.DataFrame
    key : str
    hot_keys : sequence
    salts : int
    aggs : mapping
        As in :func:`salted_aggregate`.
    salt_by : list of str, optional
        The columns every technique salts from (see the module docstring);
        by default the row position.

    Returns
    -------
    pandas.DataFrame
        One row per technique with the number of rows compared.

    Raises
    ------
    AssertionError
        Naming the technique and how many rows were missing or extra.
    """
    from pyspark.sql import functions as F

    from labkit.core.checks import assert_same_rows

    hot, with_null = list(hot_keys), [None, *hot_keys]
    half = small.filter(F.pmod(F.xxhash64(F.col(key)), F.lit(2)) == 0)
    plain_agg = large.groupBy(key).agg(*[_plain_agg(*p) for p in _parse_aggs(aggs, large)])
    inner, left = large.join(small, key), large.join(half, key, "left")
    by = {"salt_by": salt_by}
    checks = {
        "salted join": (salted_join(large, small, key, salts, **by), inner),
        "salted left join, half the keys missing": (salted_join(large, half, key, salts, "left", **by), left),
        "hot keys salted": (salted_join_hot_keys(large, small, key, hot, salts, **by), inner),
        "hot keys salted, null among them": (salted_join_hot_keys(large, small, key, with_null, salts, "left", **by),
                                             large.join(small, key, "left")),
        "two-stage aggregate": (salted_aggregate(large, key, aggs, salts, **by), plain_agg),
        "isolated hot keys": (isolate_hot_keys(large, key, aggs, hot, salts, **by), plain_agg),
        "isolated hot keys, null among them": (isolate_hot_keys(large, key, aggs, with_null, salts, **by),
                                               plain_agg),
    }
    return pd.DataFrame([{"technique": name, "rows": assert_same_rows(got, want, name)}
                         for name, (got, want) in checks.items()]).set_index("technique")


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


def groupby_skew_table(df, key: str, value: str, salts: int = 8, repeats: int = 3):
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

    from labkit.core.bench import compare
    from labkit.core.measure import noop

    (key,) = _keys(key, df)
    positive_int("salts", salts)
    variants = {
        "groupBy sum": noop(df.groupBy(key).agg(F.sum(value).alias("v"))),
        f"two-stage sum, {salts} salts": noop(salted_aggregate(df, key, {"v": ("sum", value)}, salts)),
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


def broadcast_skew_effect(table: pd.DataFrame, variant: str = "broadcast", even: str = "0%",
                          skewed: str = "80%") -> tuple[float, tuple[float, float]]:
    """How much skew slows a variant of a sweep: its median time on even data over its median time on skewed data.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`labkit.core.bench.sweep` output that ran ``variant`` on both datasets.
    variant, even, skewed : str

    Returns
    -------
    (float, (float, float))
        The ratio (1.0: unaffected; below 1: slower with skew) and its spread
        (the smallest and largest ratio of any run on even data to any run on skewed data).
    """
    runs = table.attrs["runs"]
    missing = [d for d in (even, skewed) if d not in runs]
    if missing:
        raise ValueError(f"the sweep has no dataset {missing}; it has {sorted(runs)}")
    walls = {d: sorted(m.wall_s for m in runs[d] if m.label == variant) for d in (even, skewed)}
    if not walls[even] or not walls[skewed]:
        raise ValueError(f"no runs of {variant!r} in datasets {even!r} and {skewed!r}")
    mid = {d: float(np.median(w)) for d, w in walls.items()}
    return mid[even] / mid[skewed], (walls[even][0] / walls[skewed][-1], walls[even][-1] / walls[skewed][0])


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



def detector_checks(uniform, one_hot, key: str, partitions: int = 100) -> list[dict[str, Any]]:
    """The guide's detector on data with no skew, and one hot key's partition, ready for ``lab.record(**r)``.

    - ``detect.uniform_key_skew_ratio``: :func:`skew_report`'s max / mean rows per key on ``uniform``, with
      the verdict the guide's thresholds give it (judged against ``skew-moderate-above-1-5``);
    - ``detect.one_customer_80pct.partition_ratio``: rows of the largest over the median hash partition of
      ``key`` on ``one_hot`` into ``partitions`` partitions (:func:`partition_spread`, ``skew-99-1min-30min``).

    Parameters
    ----------
    uniform : pyspark.sql.DataFrame
        Rows with no skew by construction.
    one_hot : pyspark.sql.DataFrame
        Rows with one customer holding 80% of them (the notes say so).
    key : str
    partitions : int

    Returns
    -------
    list of dict
    """
    even = skew_report(uniform, key)
    one = partition_spread(one_hot, key, [partitions]).iloc[0]
    return [
        dict(key="detect.uniform_key_skew_ratio", value=even.skew_ratio, unit="x", claim="skew-moderate-above-1-5",
             note=f"no skew by construction; the guide's detector says {even.verdict}"),
        dict(key="detect.one_customer_80pct.partition_ratio", value=one["largest partition"] / one["median partition"],
             unit="x", claim="skew-99-1min-30min",
             note=f"1 customer with 80% of the rows, {partitions} partitions: largest / median rows"),
    ]


def join_task_view(large, small, key: str, conf: Mapping[str, Any], label: str = "plain join"):
    """Measure the plain join of ``large`` and ``small`` once, after one warm-up run, under ``conf``.

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
    from labkit.core.measure import measure, noop
    from labkit.core.session import spark_conf

    spark = large.sparkSession
    with spark_conf(spark, conf):
        noop(large.join(small, key))()  # warm-up
        return measure(spark, noop(large.join(small, key)), label)


def isolation_check(df, sample, key: str, hot_keys: Sequence[Any], salts: int, partitions: int = 100,
                    null_every: int = 50, salt_by: Sequence[str] | None = ("txn_id",)) -> dict[str, int]:
    """The guide's technique 4 as written, against :func:`isolate_hot_keys`: the counts that judge it.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The skewed rows; the first of ``hot_keys`` is repartitioned into ``partitions`` by ``key``.
    sample : pyspark.sql.DataFrame
        Rows with a ``txn_id``; the key of every ``null_every``-th is set to null.
    key : str
    hot_keys : sequence
    salts : int
        For :func:`isolate_hot_keys`.
    partitions, null_every : int
    salt_by : sequence of str, optional

    Returns
    -------
    dict
        ``spread over``: the partitions the first hot key's rows sit in after ``repartition(partitions, key)``
        (1: no extra parallelism); ``rows`` of the sample with nulls; ``kept``: the rows the guide's two
        filters (``isin(hot)`` and ``~isin(hot)``) keep together (the null keys are in neither);
        ``counted``: the rows :func:`isolate_hot_keys` counts (all of them).
    """
    from pyspark.sql import functions as F

    one_key = df.filter(F.col(key) == hot_keys[0]).repartition(positive_int("partitions", partitions), key)
    holed = sample.withColumn(key, F.when(F.col("txn_id") % positive_int("null_every", null_every) != 0, F.col(key)))
    hot_test = F.col(key).isin(list(hot_keys))
    ours = isolate_hot_keys(holed, key, {"n": ("count", "*")}, hot_keys, salts, salt_by=list(salt_by or []) or None)
    return {"spread over": one_key.select(F.spark_partition_id()).distinct().count(), "rows": holed.count(),
            "kept": holed.filter(hot_test).count() + holed.filter(~hot_test).count(),
            "counted": ours.agg(F.sum("n")).first()[0]}


def join_variants(small, key: str, salts: Sequence[int], hot_keys: Sequence[Any], hot_salts: int = 16
                  ) -> dict[str, Any]:
    """The join variants of the sweep, each a function of the large side: plain, AQE, salted, hot keys salted.

    Parameters
    ----------
    small : pyspark.sql.DataFrame
        The small side of every join.
    key : str
    salts : sequence of int
        One ``salted <n>`` variant (:func:`salted_join`) each.
    hot_keys : sequence
        For the ``hot keys salted <hot_salts>`` variant (:func:`salted_join_hot_keys`).
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
        **{f"salted {s}": (lambda df, s=s: salted_join(df, small, key, s)) for s in salts},
        f"hot keys salted {hot_salts}": lambda df: salted_join_hot_keys(df, small, key, hot, hot_salts),
    }


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
