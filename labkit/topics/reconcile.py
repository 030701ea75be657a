"""Migration parity (the guide's Core Q8): count, SUM and MAX agree on wrong data; a row reconciliation does not.

:func:`guide_checks` runs the guide's three validation queries (row count,
``SUM(CAST(amount AS DECIMAL(18,2)))`` and ``MAX(updated_at)``). :func:`plant_defects`
makes a target that passes all three while being wrong in four ways. :func:`reconcile`
hashes whole rows into buckets by key, compares the bucket summaries, and diffs only
the buckets that differ: it names missing, extra, duplicated and changed rows (with the
columns that changed), and keys that lost rows (a migration that dropped duplicates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from labkit.core.args import positive_int, require_columns

__all__ = ["DEFECTS", "DEFECT_KINDS", "full_comparison", "guide_checks", "guide_checks_per_defect", "plant_defects",
           "reconcile", "transfer_time"]

DEFECT_KINDS = ("swapped amounts", "dropped row", "duplicated row", "time zone shift", "truncated decimal")
# the defects as planted: a dropped row goes with a duplicated one (alone, either would change the row count)
DEFECTS = {"swapped amounts": ("swapped amounts",), "dropped and duplicated row": ("dropped row", "duplicated row"),
           "time zone shift": ("time zone shift",), "truncated decimal": ("truncated decimal",)}


def guide_checks(source, target, amount: str = "amount", updated: str = "updated_at") -> pd.DataFrame:
    """The guide's three parity checks, as written: row count, the sum of the amount as DECIMAL(18,2), max timestamp.

    Returns
    -------
    pandas.DataFrame
        Indexed by check: ``source``, ``target``, ``match``.
    """
    from pyspark.sql import functions as F

    def run(df):
        return df.agg(F.count("*").alias("row_count_check"),
                      F.sum(F.col(amount).cast("decimal(18,2)")).alias("checksum_validation"),
                      F.max(updated).alias("latest_timestamp")).first().asDict()

    src, tgt = run(source), run(target)
    return pd.DataFrame({"source": src, "target": tgt, "match": {k: src[k] == tgt[k] for k in src}})


def _row_hash(df, columns: Sequence[str]):
    """A 64-bit hash of a whole row (nulls distinct from any value), as a decimal so sums cannot overflow."""
    from pyspark.sql import functions as F

    parts = [F.coalesce(F.col(c).cast("string"), F.lit("\u0000null")) for c in columns]
    return F.xxhash64(*parts).cast("decimal(38,0)")


def _summaries(df, key: Sequence[str], columns: Sequence[str], buckets: int):
    """Per bucket of the key: row count and the sum of the row hashes (order-free, duplicates counted)."""
    from pyspark.sql import functions as F

    return (df.select(F.pmod(F.xxhash64(*key), F.lit(buckets)).alias("_bucket"), _row_hash(df, columns).alias("_h"))
            .groupBy("_bucket").agg(F.count("*").alias("_n"), F.sum("_h").alias("_s")))


def _value_string(c: str):
    """A column as text, nulls distinct from any value: the same encoding the row hash uses."""
    from pyspark.sql import functions as F

    return F.coalesce(F.col(c).cast("string"), F.lit("\u0000null"))


def _per_key(df, keys: Sequence[str], value_cols: Sequence[str], cols: Sequence[str], side: str):
    """Per key of one side: its row count, and its rows' hashes and each column's values as sorted sets and lists."""
    from pyspark.sql import functions as F

    h = _row_hash(df, cols)
    aggs = [F.count("*").alias(f"{side}_n"), F.array_sort(F.collect_set(h)).alias(f"{side}_rows"),
            F.array_sort(F.collect_list(h)).alias(f"{side}_all")]
    for c in value_cols:
        aggs += [F.array_sort(F.collect_set(_value_string(c))).alias(f"{side}_set_{c}"),
                 F.array_sort(F.collect_list(_value_string(c))).alias(f"{side}_list_{c}")]
    return df.groupBy(*keys).agg(*aggs)


def _changed(s, t, keys: Sequence[str], value_cols: Sequence[str], cols: Sequence[str]) -> pd.DataFrame:
    """Keys on both sides whose rows differ beyond a count of identical rows, with the columns whose values differ.

    A key's rows differ when the sets of distinct rows differ, or, with the same row count on both sides, the
    rows differ as multisets. A column is listed when its set of values for the key differs (or, with equal
    counts, its multiset). For a key of one row per side this is the plain column-by-column comparison.
    """
    from pyspark.sql import functions as F

    both = _per_key(s, keys, value_cols, cols, "s").join(_per_key(t, keys, value_cols, cols, "t"), keys)
    same_n = F.col("s_n") == F.col("t_n")

    def differs(a: str, b: str):
        return (F.col(f"s_{a}") != F.col(f"t_{a}")) | (same_n & (F.col(f"s_{b}") != F.col(f"t_{b}")))

    columns = F.array_compact(F.array(*[F.when(differs(f"set_{c}", f"list_{c}"), F.lit(c)) for c in value_cols]))
    return (both.where(differs("rows", "all")).select(*keys, columns.alias("columns")).orderBy(*keys).toPandas())


def reconcile(source, target, key: str | Sequence[str], buckets: int = 64) -> dict[str, Any]:
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


def full_comparison(source, target, key: str | Sequence[str]):
    """The plain way to compare two tables: a full outer join of every row on the key, every column compared.

    Returns
    -------
    pandas.DataFrame
        The keys whose rows differ (or exist on one side only), with ``side`` counts; the baseline that
        :func:`reconcile` is timed against.
    """
    from pyspark.sql import functions as F

    keys = [key] if isinstance(key, str) else list(key)
    cols = [c for c in source.columns if c not in keys]
    s = source.select(*keys, *[F.col(c).alias(f"s_{c}") for c in cols], F.lit(1).alias("_in_s"))
    t = target.select(*keys, *[F.col(c).alias(f"t_{c}") for c in cols], F.lit(1).alias("_in_t"))
    differs = F.col("_in_s").isNull() | F.col("_in_t").isNull()
    for c in cols:
        differs = differs | ~F.col(f"s_{c}").eqNullSafe(F.col(f"t_{c}"))
    return s.join(t, keys, "full_outer").where(differs).select(*keys, "_in_s", "_in_t").toPandas()


def plant_defects(df, key: str, amount: str = "amount", updated: str = "updated_at", seed: int = 7,
                  only: str | None = None):
    """A copy of ``df`` that the guide's three checks pass, with one defect of each kind in :data:`DEFECT_KINDS`.

    * two rows swap their amounts (count and sum unchanged);
    * one row is dropped and another row *with the same amount* is duplicated (count and sum unchanged);
    * one timestamp (not the latest) is shifted by a time-zone offset, 5 hours back;
    * one amount with a third decimal under 5 is truncated to 2 decimals (the guide's DECIMAL(18,2) cast rounds the
      source the same way, so the checksum still matches).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        With a unique ``key``, a decimal ``amount`` with more than 2 decimals, a timestamp ``updated``.
    key, amount, updated : str
    seed : int
    only : str, optional
        One key of :data:`DEFECTS`: plant that defect alone (the same rows as when all are planted).

    Returns
    -------
    (DataFrame, dict)
        The target, and ``{defect kind: [keys]}`` for the kinds planted.

    Raises
    ------
    ValueError
        When the data has no pair of rows to drop/duplicate with equal amounts or no amount to truncate.
    """
    from pyspark.sql import functions as F

    require_columns(df, [key, amount, updated], "column")
    latest = df.agg(F.max(updated)).first()[0]
    pair = (df.groupBy(amount).agg(F.count("*").alias("n"), F.min(key).alias("a"), F.max(key).alias("b"))
            .where("n >= 2").orderBy(F.xxhash64(F.lit(seed), amount)).first())
    if pair is None:
        raise ValueError("plant_defects needs two rows with the same amount (to drop one and duplicate the other)")
    drop, dup = pair["a"], pair["b"]
    frac = (F.col(amount) * 100) % 1  # the part beyond two decimals
    trunc_row = (df.where(~F.col(key).isin(drop, dup) & (frac != 0) & (frac < 0.5))
                 .orderBy(F.xxhash64(F.lit(seed), key)).first())
    if trunc_row is None:
        raise ValueError("plant_defects needs an amount with a third decimal under 5 to truncate")
    trunc = trunc_row[key]
    free = (df.where(~F.col(key).isin(drop, dup, trunc) & (F.col(updated) != F.lit(latest)))
            .orderBy(F.xxhash64(F.lit(seed), key)).limit(100).collect())
    amounts = {r[key]: r[amount] for r in free}
    swap_a, swap_b = next((x, y) for x in amounts for y in amounts if x < y and amounts[x] != amounts[y])
    shift = next(k for k in amounts if k not in (swap_a, swap_b))
    if only is not None and only not in DEFECTS:
        raise ValueError(f"unknown defect {only!r}; the defects are {list(DEFECTS)}")
    kinds = set(DEFECTS[only]) if only else set(DEFECT_KINDS)
    planted = {"swapped amounts": [swap_a, swap_b], "dropped row": [drop], "duplicated row": [dup],
               "time zone shift": [shift], "truncated decimal": [trunc]}
    none = F.lit(None).cast(df.schema[key].dataType)  # matches no row: the defect is not planted
    k = F.col(key)
    a_key, b_key = (F.lit(swap_a), F.lit(swap_b)) if "swapped amounts" in kinds else (none, none)
    t_key = F.lit(trunc) if "truncated decimal" in kinds else none
    s_key = F.lit(shift) if "time zone shift" in kinds else none
    dtype = df.schema[amount].dataType
    target = (df.where(k != F.lit(drop) if "dropped row" in kinds else F.lit(True))
              .withColumn(amount, F.when(k == a_key, F.lit(amounts[swap_b]).cast(dtype))
                          .when(k == b_key, F.lit(amounts[swap_a]).cast(dtype))
                          .when(k == t_key, F.floor(F.col(amount) * 100) / 100)
                          .otherwise(F.col(amount)).cast(dtype))
              .withColumn(updated, F.when(k == s_key, F.col(updated) - F.expr("INTERVAL 5 HOURS"))
                          .otherwise(F.col(updated))))
    if "duplicated row" in kinds:
        target = target.unionByName(target.where(k == F.lit(dup)))
    return target, {name: keys for name, keys in planted.items() if name in kinds}


def guide_checks_per_defect(source, key: str, amount: str = "amount", updated: str = "updated_at",
                            seed: int = 7) -> pd.DataFrame:
    """Plant each defect of :data:`DEFECTS` alone and run the guide's three checks on it: which one catches it?

    Returns
    -------
    pandas.DataFrame
        Indexed by defect: ``caught`` (any of the three checks mismatches) and ``checks`` (the ones that do).
    """
    rows = {}
    for name in DEFECTS:
        target, _ = plant_defects(source, key, amount, updated, seed, only=name)
        checks = guide_checks(source, target, amount, updated)
        failing = list(checks.index[~checks["match"]])
        rows[name] = {"caught": bool(failing), "checks": ", ".join(failing)}
    return pd.DataFrame(rows).T


def transfer_time(terabytes: float, gbps: float, decimal_units: bool = True) -> dict[str, float]:
    """Seconds, hours and days to move ``terabytes`` over a ``gbps`` link at full rate (no overhead).

    Examples
    --------
    >>> round(transfer_time(50, 1)["days"], 2), round(transfer_time(50, 10)["hours"], 1)
    (4.63, 11.1)
    """
    if terabytes < 0 or gbps <= 0:
        raise ValueError(f"need terabytes >= 0 and gbps > 0, got {terabytes} and {gbps}")
    size_bytes = terabytes * (1e12 if decimal_units else 2**40)
    seconds = size_bytes * 8 / (gbps * 1e9)
    return {"seconds": seconds, "hours": seconds / 3600, "days": seconds / 86400}
