"""Notebook 06's measured studies: how often a sample catches a defect, the four strategies timed, and pandera.

:func:`recall_sweep` samples the data again and again and counts how often a violation is seen, beside the
analytic chance (:func:`sampling_recall`); :func:`strategies` times :func:`labkit.topics.dq.find_violations`'s
four ways through :func:`labkit.core.bench.compare`; :func:`pandera_compare` runs the same checks with pandera.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from labkit.core.args import require_columns
from labkit.core.bench import compare
from labkit.core.measure import measure
from labkit.topics.dq import (
    STRATEGIES,
    Rule,
    check,
    find_violations,
    parse_dqdl,
    read_csv_accounted,
    rules,
    split_valid,
    violation,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["accounted_read_mb_s", "pandera_compare", "recall_lines", "recall_sweep", "recall_sweeps",
           "sampling_cases", "sampling_recall", "strategies", "with_negative_amounts"]

def sampling_cases(spark: SparkSession, rows: int, partitions: int = 8) -> dict[str, tuple[DataFrame, str]]:
    """Three ways one bad ``amount`` (< 0) hides in ``rows`` rows, for :func:`recall_sweep`.

    Parameters
    ----------
    spark : SparkSession
    rows : int
    partitions : int
        Partitions of the data; partition 3 holds the clustered defects (it stands for one file).

    Returns
    -------
    dict
        Case name -> (DataFrame with ``id``, ``amount``; the unit to sample: ``"rows"`` or ``"files"``):
        a single bad row, one bad row in 10,000, and every row of one partition bad.
    """
    from pyspark.sql import functions as F

    base = spark.range(0, rows, 1, partitions).selectExpr("id", "1.0 * (id % 997) as amount")

    def bad(cond: Column, value: Column) -> DataFrame:
        return base.withColumn("amount", F.when(cond, value).otherwise(F.col("amount")))

    return {f"1 in {rows:,}, rows": (bad(F.col("id") == 4_242, F.lit(-1.0)), "rows"),
            "1 in 10K, rows": (bad(F.col("id") % 10_000 == 17, F.lit(-1.0)), "rows"),
            "clustered, files": (bad(F.spark_partition_id() == 3, -F.col("amount") - 1), "files")}


def sampling_recall(defects: int, rows: int, fractions: Sequence[float]) -> pd.DataFrame:
    """The analytic chance that a Bernoulli sample catches at least one of ``defects`` bad rows: 1 - (1 - f)^k.

    Examples
    --------
    >>> round(float(sampling_recall(1, 10**6, [0.01]).loc[0, "detect probability"]), 2)
    0.01
    """
    return pd.DataFrame([{"fraction": f, "defects": defects, "rows": rows,
                          "detect probability": 1 - (1 - f) ** defects} for f in fractions])


def recall_sweep(df: DataFrame, rule_list: Sequence[Rule] | str, fractions: Sequence[float], seeds: int = 10,
                 unit: str = "rows") -> pd.DataFrame:
    """How often a sample catches the violations, over ``seeds`` samples per fraction, beside the analytic chance.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    rule_list : list of Rule, or DQDL text
    fractions : sequence of float
    seeds : int
    unit : {"rows", "files"}
        Sample rows (Bernoulli), or whole input files (what "check a few files" does;
        without files, Spark partitions stand in for them).

    Returns
    -------
    pandas.DataFrame
        ``fraction``, ``detected`` (share of seeds that found a violation), ``analytic`` (1 - (1 - f)^k for k
        violating rows, or the share of files that hold them), ``defects``.
    """
    from pyspark.sql import functions as F

    if unit not in ("rows", "files"):
        raise ValueError(f"unit must be 'rows' or 'files', got {unit!r}")
    file = F.input_file_name()  # "" when the data was not read from files: Spark partitions stand in for them
    unit_col = F.when(file == "", F.spark_partition_id().cast("string")).otherwise(file) if unit == "files" \
        else F.spark_partition_id()
    marked = df.withColumn("_bad", violation(rule_list)).withColumn("_unit", F.xxhash64(unit_col)).cache()
    defects = marked.where("_bad").count()
    units = marked.select("_unit").distinct().count()
    bad_units = marked.where("_bad").select("_unit").distinct().count()
    rows = []
    for f in fractions:
        hits = 0
        for seed in range(seeds):
            if unit == "rows":
                sample = marked.sample(fraction=f, seed=seed)
            else:
                sample = marked.where(F.pmod(F.xxhash64("_unit", F.lit(seed)), F.lit(10_000)) < int(f * 10_000))
            hits += sample.where("_bad").limit(1).count() > 0
        analytic = 1 - (1 - f) ** defects if unit == "rows" else 1 - (1 - f) ** bad_units
        rows.append({"fraction": f, "detected": hits / seeds, "analytic": analytic, "defects": defects,
                     "units": units if unit == "files" else None})
    marked.unpersist()
    return pd.DataFrame(rows)


def recall_sweeps(cases: Mapping[str, tuple[DataFrame, str]], rule_list: Sequence[Rule] | str,
                  fractions: Sequence[float], seeds: int = 10) -> pd.DataFrame:
    """:func:`recall_sweep` for each case of :func:`sampling_cases`, in one table.

    Parameters
    ----------
    cases : mapping
        Case name -> (DataFrame, ``"rows"`` or ``"files"``).
    rule_list : list of Rule, or DQDL text
    fractions : sequence of float
    seeds : int

    Returns
    -------
    pandas.DataFrame
        :func:`recall_sweep`'s columns plus ``case``.
    """
    return pd.concat([recall_sweep(df, rule_list, fractions, seeds, unit).assign(case=name)
                      for name, (df, unit) in cases.items()], ignore_index=True)


def recall_lines(sweeps: pd.DataFrame) -> pd.DataFrame:
    """:func:`recall_sweeps`'s table in long form for a line plot: measured and analytic recall per case.

    Returns
    -------
    pandas.DataFrame
        Every row twice: ``kind`` ``measured`` (``y`` = ``detected``) and ``analytic`` (``y`` = ``analytic``),
        with ``line`` = ``"<case> (<kind>)"``.
    """
    missing = [c for c in ("case", "detected", "analytic") if c not in sweeps.columns]
    if missing:
        raise ValueError(f"recall_lines: no column(s) {missing}; give recall_sweeps' table")
    long = pd.concat([sweeps.assign(kind="measured", y=sweeps["detected"]),
                      sweeps.assign(kind="analytic", y=sweeps["analytic"])], ignore_index=True)
    return long.assign(line=long["case"] + " (" + long["kind"] + ")")


def strategies(df: DataFrame, rule_list: Sequence[Rule] | str, repeats: int = 3, warmup: int | None = None,
               fraction: float = 0.01, minimum: int = 10_000) -> pd.DataFrame:
    """The four ways of :func:`labkit.topics.dq.find_violations` timed on ``df`` cached, with what each found.

    Each strategy is a variant of :func:`labkit.core.bench.compare`: ``warmup`` unmeasured rounds, then
    ``repeats`` interleaved rounds, the full scan the baseline. The measured rounds sample with seeds 0, 1, ...,
    ``repeats - 1`` (the warm-up rounds with negative seeds), so a sample's luck varies from round to round.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Cached here.
    rule_list : list of Rule, or DQDL text
    repeats, warmup : int
        As in :func:`labkit.core.bench.compare`.
    fraction, minimum : float, int
        As in :func:`labkit.topics.dq.find_violations`.

    Returns
    -------
    pandas.DataFrame
        The compare table indexed by strategy (:data:`labkit.topics.dq.STRATEGIES`): ``median_s``, ``min_s``,
        ``max_s``, ``speedup`` over ``full_scan`` with ``speedup_lo`` and ``speedup_hi``, ``jobs``, ...; plus
        ``found`` (the fewest violations a measured round found), ``rows_checked`` (the most rows a round
        checked) and ``detected`` (every measured round found one).
    """
    if repeats < 1:
        raise ValueError(f"strategies: repeats must be at least 1, got {repeats}")
    rule_list = parse_dqdl(rule_list) if isinstance(rule_list, str) else list(rule_list)
    warmup = (1 if repeats > 1 else 0) if warmup is None else warmup  # compare's default, fixed here for the seeds
    cached = df.cache()
    total = cached.count()
    seeds = {name: itertools.count(-warmup) for name in STRATEGIES}  # warm-up rounds -warmup..-1, then 0, 1, ...

    def run(name: str):
        return lambda: find_violations(cached, rule_list, name, fraction, minimum, next(seeds[name]), total)

    table = compare({name: run(name) for name in STRATEGIES}, repeats=repeats, warmup=warmup,
                    spark=df.sparkSession, progress=False)
    results = {name: [m.result for m in table.attrs["runs"] if m.label == name] for name in STRATEGIES}
    table["found"] = [min(found for found, _ in results[name]) for name in table.index]
    table["rows_checked"] = [max(rows for _, rows in results[name]) for name in table.index]
    table["detected"] = table["found"] > 0
    return table


def pandera_compare(df: DataFrame, min_amount: float = 0.0, quantity: tuple[int, int] = (1, 10), repeats: int = 3
                    ) -> pd.DataFrame:
    """The same three checks with pandera's PySpark backend and with labkit's ``dq.check`` and ``dq.split_valid``.

    Checks: ``txn_id`` not null, ``amount >= min_amount``, ``quantity`` between the bounds.

    Returns
    -------
    pandas.DataFrame
        Per tool: ``jobs`` (one measured run), ``median_s``, ``min_s``, ``max_s`` (``repeats`` interleaved runs
        after a warm-up, :func:`labkit.core.bench.compare`), ``failures found`` and ``row-level reasons``
        (whether each failing row comes back with the rules it broke).
    """
    import pandera.pyspark as pa
    import pyspark.sql.types as T

    schema = pa.DataFrameSchema({
        "txn_id": pa.Column(T.LongType(), nullable=False),
        "amount": pa.Column(T.DecimalType(10, 2), pa.Check.ge(min_amount)),
        "quantity": pa.Column(T.IntegerType(), pa.Check.in_range(*quantity)),
    })
    ours = [rules.is_complete("txn_id"), rules.column_values("amount", ">=", min_amount),
            rules.column_values("quantity", "between", quantity)]

    def run_pandera():
        checked = schema.validate(df.select("txn_id", "amount", "quantity"))
        errors = checked.pandera.errors
        return sum(len(v) for kinds in errors.values() for v in kinds.values()) if errors else 0

    def run_ours():
        _, bad = split_valid(df, ours)
        return bad.count()

    runs = {"pandera (pyspark backend)": run_pandera, "labkit check (one pass)": lambda: check(df, ours),
            "labkit split_valid": run_ours}
    once = {name: measure(df.sparkSession, fn, name) for name, fn in runs.items()}  # jobs and results: exact
    times = compare(runs, repeats=repeats, spark=df.sparkSession, progress=False)  # interleaved, medians
    found = {"pandera (pyspark backend)": once["pandera (pyspark backend)"].result,
             "labkit check (one pass)": int((once["labkit check (one pass)"].result.table["status"] == "fail").sum()),
             "labkit split_valid": once["labkit split_valid"].result}
    return pd.DataFrame([{"tool": name, "jobs": once[name].jobs, "median_s": times.loc[name, "median_s"],
                          "min_s": times.loc[name, "min_s"], "max_s": times.loc[name, "max_s"],
                          "failures found": found[name], "row-level reasons": name == "labkit split_valid"}
                         for name in runs]).set_index("tool")


def with_negative_amounts(df: DataFrame, every: int = 100_003, remainder: int = 7, id_col: str = "txn_id"
                          ) -> DataFrame:
    """``df`` with ``amount`` set to -1.00 where ``id_col % every == remainder``: rare rows a rule must catch.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        With ``amount`` (decimal(10,2)) and ``id_col`` columns (the fact table).
    every, remainder : int
    id_col : str

    Returns
    -------
    pyspark.sql.DataFrame
    """
    from pyspark.sql import functions as F

    require_columns(df, [id_col, "amount"], "with_negative_amounts")
    if every < 1 or not 0 <= remainder < every:
        raise ValueError(f"with_negative_amounts: need every >= 1 and 0 <= remainder < every, got {every}, {remainder}")
    return df.withColumn("amount", F.when(F.col(id_col) % every == remainder, F.lit(-1).cast("decimal(10,2)"))
                         .otherwise(F.col("amount")))


def accounted_read_mb_s(spark: SparkSession, path: str | Sequence[str], schema: str) -> float:
    """MB of CSV per second that ``dq.read_csv_accounted`` gets through: parse, type-check and count, measured.

    Returns
    -------
    float
        Input bytes the read's Spark jobs report, in MiB, over its wall time.
    """
    scan = measure(spark, lambda: read_csv_accounted(spark, path, schema).report, "accounted CSV read")
    if not scan.input_bytes or not scan.wall_s:
        raise ValueError(f"accounted_read_mb_s: the read reported {scan.input_bytes} bytes in {scan.wall_s} s")
    return scan.input_bytes / 2**20 / scan.wall_s
