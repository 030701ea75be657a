"""Notebook 02's correctness checks: every salting technique against the plain result, which salts stay with their row.

:func:`verify_techniques` runs each technique of :mod:`labkit.topics.skew` against the plain join or ``groupBy``
inside Spark; :func:`salt_stability` shows the three salts of the module docstring side by side;
:func:`isolation_check` and :func:`detector_checks` score the guide's technique 4 and its detector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import positive_int, require_columns
from labkit.core.checks import assert_same_rows
from labkit.topics import skew

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["CHECKED_AGGS", "detector_checks", "isolation_check", "salt_stability", "verify_techniques"]

CHECKED_AGGS = {"revenue": ("sum", "amount"), "orders": ("count", "*"), "biggest": ("max", "amount"),
                "mean_qty": ("avg", "quantity")}  # the aggregates notebook 02's correctness checks compare
_SALT = "_salt"


def _salts_by_id(df: DataFrame, ids: list[str], salts: Mapping[str, Column]) -> pd.DataFrame:
    """Every salt of every row, collected in one job: one column per salt name, indexed by the id columns."""
    named = {f"{_SALT}{i}": name for i, name in enumerate(salts)}
    frame = df.select(*ids, *(salt.alias(col) for col, salt in zip(named, salts.values(), strict=True))).toPandas()
    return frame.set_index(ids).rename(columns=named)


def _share_same(first: pd.Series, other: pd.Series) -> float:
    """Share of the rows of ``first`` whose salt is the same in ``other`` (matched by id)."""
    return float((first == other.reindex(first.index)).mean()) if len(first) else 1.0


def salt_stability(df: DataFrame, id_cols: str | Sequence[str], salts: int = 8, seed: int = 42, partitions: int = 7,
                   max_rows: int = 200_000) -> pd.DataFrame:
    """Which salts stay with their row: on a rerun of the same input, and when the same rows come in other partitions.

    Three salts over the same rows: the guide's seedless
    ``(rand() * salts).cast("int")``, the lab's default (a hash of the row
    position, :func:`labkit.topics.skew.salt_column`) and ``salt_by=id_cols`` (a hash of the columns that identify the
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
    counts = df.groupBy(*ids).count().agg(F.sum("count").alias("rows"), F.count("*").alias("ids")).first()
    rows = int(counts["rows"] or 0)  # rows, and distinct ids (a null id counted as one), in one job
    if rows > max_rows:
        raise ValueError(f"salt_stability collects every row: {rows} rows is more than max_rows={max_rows}; "
                         "pass a sample")
    duplicates = rows - int(counts["ids"])
    if duplicates:
        raise ValueError(f"the id column(s) {ids} do not identify the rows: {duplicates} rows repeat an id")
    candidates = {"seedless rand()": (F.rand() * salts).cast("int"),  # one seed, drawn here, used for all three runs
                  "row position (default)": skew.salt_column(df, salts, seed),
                  f"salt_by={ids}": skew.salt_column(df, salts, seed, ids)}
    moved = df.repartition(partitions)
    # the three salts side by side in each of the three runs: each salt is evaluated per row, as on its own
    first, again, other = (_salts_by_id(frame, ids, candidates) for frame in (df, df, moved))
    out = []
    for name in candidates:
        out.append({"salt": name, "same on rerun": _share_same(first[name], again[name]),
                    "same after repartition": _share_same(first[name], other[name]), "rows": rows})
    return pd.DataFrame(out).set_index("salt")


def verify_techniques(large: DataFrame, small: DataFrame, key: str, hot_keys: Sequence[Any], salts: int,
                      aggs: Mapping[str, tuple[str, str]], salt_by: Sequence[str] | None = None) -> pd.DataFrame:
    """Check every salting technique of :mod:`labkit.topics.skew` against the plain operation, inside Spark.

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
        As in :func:`labkit.topics.skew.salted_aggregate`.
    salt_by : list of str, optional
        The columns every technique salts from (see :mod:`labkit.topics.skew`);
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

    hot, with_null = list(hot_keys), [None, *hot_keys]
    half = small.filter(F.pmod(F.xxhash64(F.col(key)), F.lit(2)) == 0)
    # the plain results each check reads three times (rows missing, rows extra, rows), some in several checks:
    # cached, so each is computed once; so is the large side, which every check reads; unpersisted when they end
    large = large.cache()
    plain_agg = skew.plain_aggregate(large, key, aggs).cache()
    inner, left = large.join(small, key).cache(), large.join(half, key, "left").cache()
    left_all = large.join(small, key, "left").cache()
    try:
        return _verified(large, small, half, key, hot, with_null, salts, aggs, salt_by, plain_agg, inner, left,
                         left_all)
    finally:
        for frame in (plain_agg, inner, left, left_all, large):
            frame.unpersist()


def _verified(large: DataFrame, small: DataFrame, half: DataFrame, key: str, hot: list, with_null: list, salts: int,
              aggs: Mapping[str, tuple[str, str]], salt_by: Sequence[str] | None, plain_agg: DataFrame,
              inner: DataFrame, left: DataFrame, left_all: DataFrame) -> pd.DataFrame:
    """:func:`verify_techniques`' checks against the plain results given; each technique's result cached while its
    check reads it twice (rows missing, rows extra), so it is computed once."""
    by = {"salt_by": salt_by}
    checks = {
        "salted join": (skew.salted_join(large, small, key, salts, **by), inner),
        "salted left join, half the keys missing": (skew.salted_join(large, half, key, salts, "left", **by), left),
        "hot keys salted": (skew.salted_join_hot_keys(large, small, key, hot, salts, **by), inner),
        "hot keys salted, null among them": (skew.salted_join_hot_keys(large, small, key, with_null, salts, "left",
                                                                       **by), left_all),
        "two-stage aggregate": (skew.salted_aggregate(large, key, aggs, salts, **by), plain_agg),
        "isolated hot keys": (skew.isolate_hot_keys(large, key, aggs, hot, salts, **by), plain_agg),
        "isolated hot keys, null among them": (skew.isolate_hot_keys(large, key, aggs, with_null, salts, **by),
                                               plain_agg),
    }
    rows = []
    for name, (got, want) in checks.items():
        got = got.cache()
        try:
            rows.append({"technique": name, "rows": assert_same_rows(got, want, name)})
        finally:
            got.unpersist()
    return pd.DataFrame(rows).set_index("technique")


def isolation_check(df: DataFrame, sample: DataFrame, key: str, hot_keys: Sequence[Any], salts: int,
                    partitions: int = 100, null_every: int = 50, salt_by: Sequence[str] | None = ("txn_id",)
                    ) -> dict[str, int]:
    """The guide's technique 4 as written, against ``skew.isolate_hot_keys``: the counts that judge it.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The skewed rows; the first of ``hot_keys`` is repartitioned into ``partitions`` by ``key``.
    sample : pyspark.sql.DataFrame
        Rows with a ``txn_id``; the key of every ``null_every``-th is set to null.
    key : str
    hot_keys : sequence
    salts : int
        For :func:`labkit.topics.skew.isolate_hot_keys`.
    partitions, null_every : int
    salt_by : sequence of str, optional

    Returns
    -------
    dict
        ``spread over``: the partitions the first hot key's rows sit in after ``repartition(partitions, key)``
        (1: no extra parallelism); ``rows`` of the sample with nulls; ``kept``: the rows the guide's two
        filters (``isin(hot)`` and ``~isin(hot)``) keep together (the null keys are in neither);
        ``counted``: the rows :func:`labkit.topics.skew.isolate_hot_keys` counts (all of them).
    """
    from pyspark.sql import functions as F

    one_key = df.filter(F.col(key) == hot_keys[0]).repartition(positive_int("partitions", partitions), key)
    holed = sample.withColumn(key, F.when(F.col("txn_id") % positive_int("null_every", null_every) != 0, F.col(key)))
    hot_test = F.col(key).isin(list(hot_keys))
    ours = skew.isolate_hot_keys(holed, key, {"n": ("count", "*")}, hot_keys, salts,
                                 salt_by=list(salt_by or []) or None)
    # the guide's two filters' row counts, and all the rows, in one job: count(when(test, 1)) counts the rows a
    # filter(test) keeps (a null test keeps none)
    filtered = holed.agg(F.count("*").alias("rows"), F.count(F.when(hot_test, 1)).alias("hot"),
                         F.count(F.when(~hot_test, 1)).alias("cold")).first()
    return {"spread over": one_key.select(F.spark_partition_id()).distinct().count(), "rows": filtered["rows"],
            "kept": filtered["hot"] + filtered["cold"], "counted": ours.agg(F.sum("n")).first()[0]}


def detector_checks(uniform: DataFrame, one_hot: DataFrame, key: str, partitions: int = 100) -> list[dict[str, Any]]:
    """The guide's detector on data with no skew, and one hot key's partition, ready for ``lab.record(**r)``.

    - ``detect.uniform_key_skew_ratio``: :func:`labkit.topics.skew.skew_report`'s max / mean rows per key on
      ``uniform``, with the verdict the guide's thresholds give it (judged against ``skew-moderate-above-1-5``);
    - ``detect.one_customer_80pct.partition_ratio``: rows of the largest over the median hash partition of ``key``
      on ``one_hot`` into ``partitions`` partitions (:func:`labkit.topics.skew.partition_spread`,
      ``skew-99-1min-30min``).

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
    even = skew.skew_report(uniform, key)
    one = skew.partition_spread(one_hot, key, [partitions]).iloc[0]
    return [
        dict(key="detect.uniform_key_skew_ratio", value=even.skew_ratio, unit="x", claim="skew-moderate-above-1-5",
             note=f"no skew by construction; the guide's detector says {even.verdict}"),
        dict(key="detect.one_customer_80pct.partition_ratio", value=one["largest partition"] / one["median partition"],
             unit="x", claim="skew-99-1min-30min",
             note=f"1 customer with 80% of the rows, {partitions} partitions: largest / median rows"),
    ]
