"""Notebook 11's migration parity experiments: the guide's three checks, the defects they miss, the plain diff.

:func:`guide_parity_checks` runs the guide's three validation queries (row count,
``SUM(CAST(amount AS DECIMAL(18,2)))`` and ``MAX(updated_at)``). :func:`plant_defects` makes a target that passes
all three while being wrong in four ways; :func:`guide_parity_checks_per_defect` plants each alone.
:func:`full_comparison` is the plain full outer join that :func:`labkit.topics.reconcile.reconcile` is timed
against, and :func:`transfer_time` the guide's bandwidth arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from labkit.core.args import require_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["DEFECTS", "DEFECT_KINDS", "full_comparison", "guide_parity_checks", "guide_parity_checks_per_defect",
           "plant_defects", "transfer_time"]

DEFECT_KINDS = ("swapped amounts", "dropped row", "duplicated row", "time zone shift", "truncated decimal")
# the defects as planted: a dropped row goes with a duplicated one (alone, either would change the row count)
DEFECTS = {"swapped amounts": ("swapped amounts",), "dropped and duplicated row": ("dropped row", "duplicated row"),
           "time zone shift": ("time zone shift",), "truncated decimal": ("truncated decimal",)}


def guide_parity_checks(source: DataFrame, target: DataFrame, amount: str = "amount", updated: str = "updated_at"
                        ) -> pd.DataFrame:
    """The guide's three parity checks, as written: row count, the sum of the amount as DECIMAL(18,2), max timestamp.

    Returns
    -------
    pandas.DataFrame
        Indexed by check: ``source``, ``target``, ``match``.
    """
    return _parity_table(_guide_checks(source, amount, updated), _guide_checks(target, amount, updated))


def _guide_checks(df: DataFrame, amount: str, updated: str) -> dict:
    """The guide's three validation values of one side, in one job."""
    from pyspark.sql import functions as F

    return df.agg(F.count("*").alias("row_count_check"),
                  F.sum(F.col(amount).cast("decimal(18,2)")).alias("checksum_validation"),
                  F.max(updated).alias("latest_timestamp")).first().asDict()


def _parity_table(src: dict, tgt: dict) -> pd.DataFrame:
    """:func:`guide_parity_checks`' table from both sides' values."""
    return pd.DataFrame({"source": src, "target": tgt, "match": {k: src[k] == tgt[k] for k in src}})



def full_comparison(source: DataFrame, target: DataFrame, key: str | Sequence[str]) -> pd.DataFrame:
    """The plain way to compare two tables: a full outer join of every row on the key, every column compared.

    Returns
    -------
    pandas.DataFrame
        The keys whose rows differ (or exist on one side only), with ``side`` counts; the baseline that
        :func:`labkit.topics.reconcile.reconcile` is timed against.
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


def plant_defects(df: DataFrame, key: str, amount: str = "amount", updated: str = "updated_at", seed: int = 7,
                  only: str | None = None) -> tuple[DataFrame, dict[str, list]]:
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
    if only is not None and only not in DEFECTS:
        raise ValueError(f"unknown defect {only!r}; the defects are {list(DEFECTS)}")
    require_columns(df, [key, amount, updated], "column")
    return _plant(df, key, amount, updated, _defect_rows(df, key, amount, updated, seed), only)


def _defect_rows(df: DataFrame, key: str, amount: str, updated: str, seed: int) -> dict:
    """The rows :func:`plant_defects` changes, chosen by ``seed``: the same whichever defects are planted."""
    from pyspark.sql import functions as F

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
    return {"swapped amounts": [swap_a, swap_b], "dropped row": [drop], "duplicated row": [dup],
            "time zone shift": [shift], "truncated decimal": [trunc], "amounts": amounts}


def _plant(df: DataFrame, key: str, amount: str, updated: str, rows: dict, only: str | None
           ) -> tuple[DataFrame, dict[str, list]]:
    """:func:`plant_defects`' target and planted keys, from :func:`_defect_rows`' choice."""
    from pyspark.sql import functions as F

    kinds = set(DEFECTS[only]) if only else set(DEFECT_KINDS)
    planted = {name: rows[name] for name in DEFECT_KINDS}
    (swap_a, swap_b), [drop], [dup] = rows["swapped amounts"], rows["dropped row"], rows["duplicated row"]
    [shift], [trunc], amounts = rows["time zone shift"], rows["truncated decimal"], rows["amounts"]
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


def guide_parity_checks_per_defect(source: DataFrame, key: str, amount: str = "amount", updated: str = "updated_at",
                                   seed: int = 7) -> pd.DataFrame:
    """Plant each defect of :data:`DEFECTS` alone and run the guide's three checks on it: which one catches it?

    Returns
    -------
    pandas.DataFrame
        Indexed by defect: ``caught`` (any of the three checks mismatches) and ``checks`` (the ones that do).
    """
    require_columns(source, [key, amount, updated], "column")
    chosen = _defect_rows(source, key, amount, updated, seed)  # once: each defect alone plants the same rows
    src = _guide_checks(source, amount, updated)
    rows = {}
    for name in DEFECTS:
        target, _ = _plant(source, key, amount, updated, chosen, name)
        checks = _parity_table(src, _guide_checks(target, amount, updated))
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
