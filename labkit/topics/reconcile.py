"""Migration parity (the guide's Core Q8): reconcile two tables row by row, cheaply, naming what differs.

:func:`reconcile` hashes whole rows into buckets by key, compares the bucket summaries, and diffs only the
buckets that differ: it names missing, extra, duplicated and changed rows (with the columns that changed), and
keys that lost rows (a migration that dropped duplicates). The guide's three aggregate checks, the defects they
miss and the plain full comparison it is timed against are in :mod:`labkit.experiments.reconcile`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import positive_int, require_columns

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["reconcile"]


def _row_hash(df: DataFrame, columns: Sequence[str]) -> Column:
    """A 64-bit hash of a whole row (nulls distinct from any value), as a decimal so sums cannot overflow."""
    from pyspark.sql import functions as F

    parts = [F.coalesce(F.col(c).cast("string"), F.lit("\u0000null")) for c in columns]
    return F.xxhash64(*parts).cast("decimal(38,0)")


def _summaries(df: DataFrame, key: Sequence[str], columns: Sequence[str], buckets: int) -> DataFrame:
    """Per bucket of the key: row count and the sum of the row hashes (order-free, duplicates counted)."""
    from pyspark.sql import functions as F

    return (df.select(F.pmod(F.xxhash64(*key), F.lit(buckets)).alias("_bucket"), _row_hash(df, columns).alias("_h"))
            .groupBy("_bucket").agg(F.count("*").alias("_n"), F.sum("_h").alias("_s")))


def _value_string(c: str) -> Column:
    """A column as text, nulls distinct from any value: the same encoding the row hash uses."""
    from pyspark.sql import functions as F

    return F.coalesce(F.col(c).cast("string"), F.lit("\u0000null"))


def _per_key(df: DataFrame, keys: Sequence[str], value_cols: Sequence[str], cols: Sequence[str], side: str
             ) -> DataFrame:
    """Per key of one side: its row count, and its rows' hashes and each column's values as sorted sets and lists."""
    from pyspark.sql import functions as F

    h = _row_hash(df, cols)
    aggs = [F.count("*").alias(f"{side}_n"), F.array_sort(F.collect_set(h)).alias(f"{side}_rows"),
            F.array_sort(F.collect_list(h)).alias(f"{side}_all")]
    for c in value_cols:
        aggs += [F.array_sort(F.collect_set(_value_string(c))).alias(f"{side}_set_{c}"),
                 F.array_sort(F.collect_list(_value_string(c))).alias(f"{side}_list_{c}")]
    return df.groupBy(*keys).agg(*aggs)


def _changed(s: DataFrame, t: DataFrame, keys: Sequence[str], value_cols: Sequence[str], cols: Sequence[str]
             ) -> pd.DataFrame:
    """Keys on both sides whose rows differ beyond a count of identical rows, with the columns whose values differ.

    A key's rows differ when the sets of distinct rows differ, or, with the same row count on both sides, the
    rows differ as multisets. A column is listed when its set of values for the key differs (or, with equal
    counts, its multiset). For a key of one row per side this is the plain column-by-column comparison.
    """
    from pyspark.sql import functions as F

    both = _per_key(s, keys, value_cols, cols, "s").join(_per_key(t, keys, value_cols, cols, "t"), keys)
    same_n = F.col("s_n") == F.col("t_n")

    def differs(a: str, b: str) -> Column:
        return (F.col(f"s_{a}") != F.col(f"t_{a}")) | (same_n & (F.col(f"s_{b}") != F.col(f"t_{b}")))

    columns = F.array_compact(F.array(*[F.when(differs(f"set_{c}", f"list_{c}"), F.lit(c)) for c in value_cols]))
    return (both.where(differs("rows", "all")).select(*keys, columns.alias("columns")).orderBy(*keys).toPandas())


def reconcile(source: DataFrame, target: DataFrame, key: str | Sequence[str], buckets: int = 64) -> dict[str, Any]:
    """Compare two tables row by row, cheaply: bucket summaries first, then a diff of the differing buckets only.

    Parameters
    ----------
    source, target : pyspark.sql.DataFrame
        The same columns (by name; the target's are put in the source's order).
    key : str or list of str
        The columns that identify a row.
    buckets : int
        Hash buckets of the key; only the buckets whose count or hash sum differ are compared in full.

    Returns
    -------
    dict
        All pandas DataFrames, sorted by key:

        * ``missing``: keys in the source only; ``extra``: keys in the target only;
        * ``duplicated``: keys with more rows in the target than in the source (both present), and
          ``lost_duplicates``: keys with fewer rows in the target than in the source (a migration that dropped
          duplicates), each with ``source_rows`` and ``target_rows``;
        * ``changed``: keys present on both sides whose rows differ beyond a count of identical rows, with a
          ``columns`` list (the columns whose values for the key differ; empty only when every column holds the
          same values on both sides, recombined into different rows);

        and ``buckets_differing``, ``buckets``, ``equal``. When ``equal`` is False at least one of the frames is
        not empty (barring a 64-bit hash collision of the summaries).

    Raises
    ------
    ValueError
        For a missing key column, different column sets, or ``buckets < 1``.
    """
    from pyspark.sql import functions as F

    keys = [key] if isinstance(key, str) else list(key)
    require_columns(source, keys, "key column of the source")
    require_columns(target, keys, "key column of the target")
    positive_int("buckets", buckets)
    if set(source.columns) != set(target.columns):
        only_s = sorted(set(source.columns) - set(target.columns))
        only_t = sorted(set(target.columns) - set(source.columns))
        raise ValueError(f"the tables have different columns: source only {only_s}, target only {only_t}")
    cols = list(source.columns)
    target = target.select(*cols)
    a, b = _summaries(source, keys, cols, buckets), _summaries(target, keys, cols, buckets)
    diff = (a.join(b.withColumnRenamed("_n", "_n2").withColumnRenamed("_s", "_s2"), "_bucket", "full")
            .where(~F.col("_n").eqNullSafe(F.col("_n2")) | ~F.col("_s").eqNullSafe(F.col("_s2")))
            .select("_bucket"))
    differing = [r[0] for r in diff.collect()]
    out = {"buckets": buckets, "buckets_differing": len(differing), "equal": not differing}
    if not differing:
        counted = pd.DataFrame(columns=[*keys, "source_rows", "target_rows"])
        return {**out, "missing": pd.DataFrame(columns=keys), "extra": pd.DataFrame(columns=keys),
                "duplicated": counted, "lost_duplicates": counted.copy(),
                "changed": pd.DataFrame(columns=[*keys, "columns"])}
    bucket = F.pmod(F.xxhash64(*[F.col(k) for k in keys]), F.lit(buckets))
    s = source.where(bucket.isin(differing))
    t = target.where(bucket.isin(differing))
    counts = (s.groupBy(keys).agg(F.count("*").alias("source_rows"))
              .join(t.groupBy(keys).agg(F.count("*").alias("target_rows")), keys, "full")
              .fillna(0, ["source_rows", "target_rows"]).where("source_rows != target_rows")
              .orderBy(*keys).toPandas())
    ns, nt = counts["source_rows"], counts["target_rows"]
    found = {name: counts.loc[rows, [*keys, *extra]].reset_index(drop=True) for name, rows, extra in [
        ("missing", nt == 0, []), ("extra", ns == 0, []),
        ("duplicated", (nt > ns) & (ns > 0), ["source_rows", "target_rows"]),
        ("lost_duplicates", (ns > nt) & (nt > 0), ["source_rows", "target_rows"])]}
    value_cols = [c for c in cols if c not in keys]
    return {**out, **found, "changed": _changed(s, t, keys, value_cols, cols), "equal": False}
