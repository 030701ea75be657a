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

:func:`labkit.experiments.skew.salt_stability` shows the three side by side on the same rows.

Hot-key lists may contain ``None``: null is a classic skew source. Every
hot-key test here is null-safe (``col.isin([None, ...])`` alone is NULL for
every other key, and a filter on it would silently drop those rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import join_type, positive_int, require_columns
from labkit.core.datagen import key_distribution

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["SkewReport", "isolate_hot_keys", "partition_spread", "plain_aggregate", "rand_salted_join",
           "salt_column", "salted_aggregate", "salted_join", "salted_join_hot_keys", "skew_report"]

SIGNIFICANT, MODERATE = 3.0, 1.5  # the guide's thresholds on max / mean rows per key
_SALT = "_labkit_salt"
_REPLICATED = "the small side is replicated once per salt, so each of its unmatched rows would come out `salts` times"
_REFUSED = {"right_outer": _REPLICATED, "full_outer": _REPLICATED, "cross": "a cross join has no key to salt"}
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


def skew_report(df: DataFrame, key: str, top: int = 20, hot_threshold: float = 0.1) -> SkewReport:
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
    if not 0.0 < hot_threshold < 1.0:
        raise ValueError(f"hot_threshold must be in (0, 1), got {hot_threshold!r}")
    dist = key_distribution(df, key, top=top)
    verdict = "significant" if dist.skew_ratio > SIGNIFICANT else "moderate" if dist.skew_ratio > MODERATE else (
        "balanced")
    hot = dist.top.loc[dist.top["share"] > hot_threshold, key].tolist()
    return SkewReport(key, dist.rows, dist.keys, dist.max_rows, dist.mean_rows, dist.skew_ratio, verdict, dist.top,
                      hot)


def _keys(on: str | Sequence[str], *frames: DataFrame) -> list[str]:
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


def salt_column(df: DataFrame, salts: int, seed: int = 42, salt_by: Sequence[str] | None = None) -> Column:
    """A deterministic salt in ``[0, salts)``: a hash of the seed and the row position, or of the ``salt_by`` columns.

    The salt every technique here uses (see the module docstring for which to choose).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The frame the column is for (``salt_by`` is checked against it).
    salts : int
    seed : int
    salt_by : list of str, optional
        Columns that identify a row; by default the row position (``monotonically_increasing_id``).

    Returns
    -------
    pyspark.sql.Column
        ``pmod(xxhash64(seed, *source), salts)`` as an int.
    """
    from pyspark.sql import functions as F

    if salt_by is None:
        source = [F.monotonically_increasing_id()]
    else:
        source = [F.col(c) for c in require_columns(df, salt_by, "salt_by column")]
    return F.pmod(F.xxhash64(F.lit(int(seed)), *source), F.lit(salts)).cast("int")


def rand_salted_join(large: DataFrame, small: DataFrame, on: str | Sequence[str], salts: int) -> DataFrame:
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


def _is_hot(key: str, hot: Sequence[Any]) -> Column:
    """A null-safe test for membership in ``hot``: never NULL, and true for a null key when None is hot."""
    from pyspark.sql import functions as F

    values = [h for h in hot if h is not None]
    test = F.coalesce(F.col(key).isin(values), F.lit(False)) if values else F.lit(False)
    return test | F.col(key).isNull() if len(values) < len(hot) else test


def _replicate(small: DataFrame, salts: int) -> DataFrame:
    """The small side once per salt value 0..salts-1."""
    from pyspark.sql import functions as F

    return small.withColumn(_SALT, F.explode(F.sequence(F.lit(0), F.lit(salts - 1))))


def salted_join(large: DataFrame, small: DataFrame, on: str | Sequence[str], salts: int, how: str = "inner",
                seed: int = 42, salt_by: Sequence[str] | None = None) -> DataFrame:
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
    salted = large.withColumn(_SALT, salt_column(large, salts, seed, salt_by))
    return salted.join(_replicate(small, salts), [*keys, _SALT], kind).drop(_SALT)


def salted_join_hot_keys(large: DataFrame, small: DataFrame, on: str, hot_keys: Sequence[Any], salts: int,
                         how: str = "inner", seed: int = 42, salt_by: Sequence[str] | None = None) -> DataFrame:
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
    salt = F.when(_is_hot(key, hot), salt_column(large, salts, seed, salt_by)).otherwise(F.lit(0))
    return large.withColumn(_SALT, salt).join(_replicate_hot(small, key, hot, salts), [key, _SALT], kind).drop(_SALT)


def _replicate_hot(small: DataFrame, key: str, hot: list, salts: int) -> DataFrame:
    """The small side with its hot keys' rows once per salt and every other row once, at salt 0."""
    from pyspark.sql import functions as F

    is_hot = _is_hot(key, hot)
    return _replicate(small.filter(is_hot), salts).unionByName(small.filter(~is_hot).withColumn(_SALT, F.lit(0)))


def _parse_aggs(aggs: Mapping[str, tuple[str, str]], df: DataFrame) -> list[tuple[str, str, str]]:
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


def _plain_agg(out: str, func: str, column: str) -> Column:
    """The single-stage aggregate expression."""
    from pyspark.sql import functions as F

    col = F.lit(1) if column == "*" else F.col(column)
    return {"sum": F.sum, "count": F.count, "min": F.min, "max": F.max, "avg": F.avg}[func](col).alias(out)


def plain_aggregate(df: DataFrame, key: str | Sequence[str], aggs: Mapping[str, tuple[str, str]]) -> DataFrame:
    """The single-stage ``df.groupBy(key).agg(...)`` of an ``aggs`` spec: what every salted aggregate must equal.

    It takes (and refuses) the same ``aggs`` as :func:`salted_aggregate`, with the same output types.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str or list of str
    aggs : mapping
        As in :func:`salted_aggregate`.

    Returns
    -------
    pyspark.sql.DataFrame
    """
    return df.groupBy(*_keys(key, df)).agg(*[_plain_agg(*p) for p in _parse_aggs(aggs, df)])


def _two_stage(out: str, func: str, column: str) -> tuple[list[Column], Column]:
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


def salted_aggregate(df: DataFrame, key: str | Sequence[str], aggs: Mapping[str, tuple[str, str]], salts: int,
                     seed: int = 42, salt_by: Sequence[str] | None = None) -> DataFrame:
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
    salted = df.withColumn(_SALT, salt_column(df, salts, seed, salt_by))
    return salted.groupBy(*keys, _SALT).agg(*partials).groupBy(*keys).agg(*finals)


def isolate_hot_keys(df: DataFrame, key: str, aggs: Mapping[str, tuple[str, str]], hot_keys: Sequence[Any],
                     salts: int = 16, seed: int = 42, salt_by: Sequence[str] | None = None) -> DataFrame:
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
    hot = list(hot_keys)
    if not hot:
        return plain_aggregate(df, key, aggs)
    is_hot = _is_hot(key, hot)
    cold = plain_aggregate(df.filter(~is_hot), key, aggs)
    return cold.unionByName(salted_aggregate(df.filter(is_hot), key, aggs, salts, seed, salt_by))


def partition_spread(df: DataFrame, key: str, partitions: Sequence[int]) -> pd.DataFrame:
    """Rows in the largest and the median hash partition of ``key``, for several partition counts.

    The guide's technique 6 raises ``spark.sql.shuffle.partitions`` (200 -> 400).
    Every row of one key still hashes to one partition, so the largest partition
    never falls below the hottest key's row count: more partitions only thin the
    cold keys out.

    A row's partition is computed the way Spark's ``HashPartitioning`` computes
    it for ``repartition(n, key)`` and for a join or aggregation shuffle on the
    key, ``pmod(hash(key), n)`` (Murmur3, seed 42), on the rows per key: one
    aggregation for every ``n`` instead of a shuffle into ``n`` partitions each
    (``tests/topics/test_skew.py`` checks the sizes against a real
    ``repartition`` and ``spark_partition_id``). The median is over the
    partitions that hold a row, as a shuffle's non-empty partitions.

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

    (key,) = _keys(key, df)
    counts = [positive_int("partitions", n) for n in partitions]
    if not counts:
        return pd.DataFrame(columns=["partitions", "largest partition", "median partition", "hottest key rows"])
    per_key = df.groupBy(key).count()
    placed = per_key.select("count", F.explode(F.array(*[
        F.struct(F.lit(n).alias("n"), F.pmod(F.hash(F.col(key)), F.lit(n)).alias("p")) for n in counts])).alias("at"))
    sizes = placed.groupBy("at.n", "at.p").agg(F.sum("count").alias("rows"), F.max("count").alias("hottest"))
    stats = {r["n"]: r for r in sizes.groupBy("n").agg(
        F.max("rows").alias("max"), F.expr("percentile(rows, 0.5)").alias("median"),
        F.max("hottest").alias("hottest")).collect()}
    hottest = max((r["hottest"] for r in stats.values()), default=0)
    return pd.DataFrame([{"partitions": n, "largest partition": stats[n]["max"] if n in stats else None,
                          "median partition": stats[n]["median"] if n in stats else None,
                          "hottest key rows": hottest} for n in counts])
