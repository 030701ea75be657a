"""Facts and dimensions: transactions with a skewed customer key, employees, customers, products; key spread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pandas as pd

from labkit.core.args import positive_int
from labkit.core.datagen._columns import choice, pick, uniform

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["CATEGORIES", "REGIONS", "SEGMENTS", "HotKeys", "KeyDistribution", "Zipf", "customers", "employees",
           "key_distribution", "products", "transactions"]

REGIONS = ("us-east", "us-west", "eu-west", "eu-central", "ap-south")
CATEGORIES = ("books", "electronics", "grocery", "home", "toys", "sports", "beauty", "garden")
SEGMENTS = ("consumer", "smb", "enterprise")


@dataclass(frozen=True)
class HotKeys:
    """``share`` of the rows go to the ``keys`` hottest customers (ids 1..keys), uniformly among them."""

    share: float = 0.8
    keys: int = 5

    def __post_init__(self):
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"HotKeys.share must be in [0, 1], got {self.share!r}")
        if self.keys < 1:
            raise ValueError(f"HotKeys.keys must be at least 1, got {self.keys!r}")


@dataclass(frozen=True)
class Zipf:
    """Customer ``k`` (1-based rank) gets rows in proportion to ``k ** -exponent``."""

    exponent: float = 1.1

    def __post_init__(self):
        if not 0.0 <= self.exponent <= 10.0:
            raise ValueError(f"Zipf.exponent must be in [0, 10], got {self.exponent!r}")



def _customer_key(skew, customers: int, seed: int):
    """The customer_id column for a skew model."""
    from pyspark.sql import functions as F

    u = uniform(seed, "customer")
    if skew is None:
        return pick(u, customers)
    if isinstance(skew, HotKeys):
        if skew.keys > customers:
            raise ValueError(f"HotKeys.keys={skew.keys} exceeds customers={customers}")
        hot = pick(uniform(seed, "hot-key"), skew.keys)
        rest = customers - skew.keys
        cold = pick(uniform(seed, "cold-key"), rest, offset=skew.keys + 1) if rest else hot
        return F.when(u < F.lit(skew.share), hot).otherwise(cold)
    if isinstance(skew, Zipf):
        s = skew.exponent
        if abs(s - 1.0) < 1e-9:  # CDF ~ ln(k)/ln(N): k = N ** u
            k = F.pow(F.lit(float(customers + 1)), u)
        else:  # CDF ~ (k^(1-s) - 1) / ((N+1)^(1-s) - 1)
            a = 1.0 - s
            k = F.pow(u * ((customers + 1) ** a - 1.0) + 1.0, 1.0 / a)
        return F.least(F.floor(k), F.lit(customers)).cast("long")
    raise ValueError(f"skew must be None, HotKeys(...) or Zipf(...), got {skew!r}")


def transactions(
    spark: SparkSession,
    rows: int,
    customers: int = 10_000,
    skew: HotKeys | Zipf | None = HotKeys(),
    seed: int = 42,
    products: int = 1_000,
    years: tuple[int, int] = (2021, 2025),
    partitions: int | None = None,
) -> DataFrame:
    """Generate a fact table of transactions with a skewed customer key.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    rows : int
        Number of rows (>= 0).
    customers : int
        Number of distinct customers (>= 1); ids are 1..customers.
    skew : HotKeys, Zipf or None
        How rows are spread over customers (see the module docstring). None is
        uniform. The default is the guide's 80% of rows on the top 5 customers.
    seed : int
        Same seed, same rows.
    products : int
        Number of distinct products (ids 1..products).
    years : (int, int)
        First and last year of ``ts`` (inclusive), uniform over the span.
    partitions : int, optional
        Partitions of the generated frame. It does not change the rows.

    Returns
    -------
    pyspark.sql.DataFrame
        ``txn_id, customer_id, product_id, amount, quantity, ts, year, month, region``.

    Raises
    ------
    ValueError
        For a negative row count, a non-positive customer or product count,
        an out-of-range skew, or ``years`` out of order.

    Examples
    --------
    >>> df = transactions(spark, rows=1000, customers=100, skew=HotKeys(0.8, 5))
    >>> df.filter("customer_id <= 5").count() / 1000 > 0.7
    True
    """
    from pyspark.sql import functions as F

    positive_int("rows", rows, 0)
    positive_int("customers", customers)
    positive_int("products", products)
    first, last = years
    if first > last:
        raise ValueError(f"years must be (first, last) with first <= last, got {years!r}")
    start = int(datetime(first, 1, 1, tzinfo=timezone.utc).timestamp())
    span = int(datetime(last + 1, 1, 1, tzinfo=timezone.utc).timestamp()) - start
    ts = F.timestamp_seconds(F.lit(start) + F.floor(uniform(seed, "ts") * span).cast("long"))
    df = spark.range(0, rows, 1, partitions) if partitions else spark.range(0, rows)
    return (
        df.select(
            F.col("id").alias("txn_id"),
            _customer_key(skew, customers, seed).alias("customer_id"),
            pick(uniform(seed, "product"), products).alias("product_id"),
            F.round(F.lit(1.0) + F.pow(uniform(seed, "amount"), 3) * 999.0, 2).cast("decimal(10,2)").alias("amount"),
            pick(uniform(seed, "quantity"), 10).cast("int").alias("quantity"),
            ts.alias("ts"),
            F.year(ts).alias("year"),
            F.month(ts).alias("month"),
            choice(uniform(seed, "region"), REGIONS).alias("region"),
        )
    )


def employees(spark: SparkSession, n: int, departments: int = 10, seed: int = 42, skew: HotKeys | None = None,
              null_share: float = 0.02, unsalaried: int = 1) -> DataFrame:
    """Employees for the guide's "max annual CTC per department": ties, null salaries and salary-less departments.

    Parameters
    ----------
    spark : SparkSession
    n : int
        Employees (>= 0).
    departments : int
        Departments ``D00001``...; the last ``unsalaried`` of them have no salary at all (every ``annual_ctc`` null).
    seed : int
    skew : HotKeys, optional
        ``HotKeys(0.8, 1)``: 80% of the employees in department 1.
    null_share : float
        Share of the other employees with a null salary.
    unsalaried : int
        Departments with no salaried employee (0 for none).

    Returns
    -------
    pyspark.sql.DataFrame
        ``employee_id`` (long, 1..n), ``employee_name``, ``department`` (string), ``annual_ctc`` (long, a
        multiple of 1,000 between 30,000 and 300,000, so ties are common, or null).

    Examples
    --------
    >>> df = employees(spark, 1000, departments=5)
    >>> df.count(), df.select("department").distinct().count()
    (1000, 5)
    """
    from pyspark.sql import functions as F

    if n < 0 or departments < 1 or not 0 <= unsalaried < departments or not 0 <= null_share < 1:
        raise ValueError(f"employees: need n >= 0, departments >= 1, 0 <= unsalaried < departments and "
                         f"null_share in [0, 1); got n={n}, departments={departments}, unsalaried={unsalaried}, "
                         f"null_share={null_share}")
    dept = _customer_key(skew, departments, seed)
    ctc = (F.lit(30_000) + F.floor(uniform(seed, "ctc") * 271) * 1000).cast("long")
    no_salary = (uniform(seed, "null-ctc") < null_share) | (dept > departments - unsalaried)
    return spark.range(1, n + 1).select(
        F.col("id").alias("employee_id"),
        F.concat(choice(uniform(seed, "first"), ("Alice", "Bob", "Chitra", "Diego", "Eve", "Farah", "Grace",
                                                   "Hiro", "Ines", "Jon")), F.lit(" "), F.col("id").cast("string"))
        .alias("employee_name"),
        F.format_string("D%05d", dept).alias("department"),
        F.when(no_salary, F.lit(None).cast("long")).otherwise(ctc).alias("annual_ctc"),
    )


def customers(spark: SparkSession, n: int, seed: int = 42):
    """Generate the customer dimension, one row per id 1..n.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    n : int
        Number of customers (>= 0).
    seed : int

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id, name, email, segment, region, signup_date``.
    """
    from pyspark.sql import functions as F

    positive_int("n", n, 0)
    return spark.range(1, n + 1).select(
        F.col("id").alias("customer_id"),
        F.concat(F.lit("Customer "), F.col("id").cast("string")).alias("name"),
        F.concat(F.lit("customer"), F.col("id").cast("string"), F.lit("@example.com")).alias("email"),
        choice(uniform(seed, "segment"), SEGMENTS).alias("segment"),
        choice(uniform(seed, "cregion"), REGIONS).alias("region"),
        F.date_add(F.lit("2015-01-01").cast("date"), pick(uniform(seed, "signup"), 3650, 0).cast("int")).alias(
            "signup_date"
        ),
    )


def products(spark: SparkSession, n: int, seed: int = 42):
    """Generate the product dimension, one row per id 1..n.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    n : int
        Number of products (>= 0).
    seed : int

    Returns
    -------
    pyspark.sql.DataFrame
        ``product_id, category, price, stock`` (about 10% of products have zero stock).
    """
    from pyspark.sql import functions as F

    positive_int("n", n, 0)
    stock = F.when(uniform(seed, "zero-stock") < 0.1, F.lit(0)).otherwise(pick(uniform(seed, "stock"), 500))
    return spark.range(1, n + 1).select(
        F.col("id").alias("product_id"),
        choice(uniform(seed, "category"), CATEGORIES).alias("category"),
        F.round(F.lit(0.5) + uniform(seed, "price") * 200.0, 2).cast("decimal(10,2)").alias("price"),
        stock.cast("int").alias("stock"),
    )


@dataclass(frozen=True)
class KeyDistribution:
    """How rows spread over the values of a key."""

    rows: int
    keys: int
    max_rows: int
    mean_rows: float
    skew_ratio: float  # max / mean rows per key
    top_share: float  # share of rows held by the top ``len(top)`` keys
    top: pd.DataFrame  # key, rows, share for the heaviest keys


def key_distribution(df: DataFrame, key: str, top: int = 10) -> KeyDistribution:
    """Rows per key, the top keys and their share, and the skew ratio (max / mean).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    key : str
        Column to group by. Null is counted as a key of its own.
    top : int
        How many of the heaviest keys to return.

    Returns
    -------
    KeyDistribution

    Raises
    ------
    ValueError
        If ``key`` is not a column of ``df`` or ``df`` is empty.
    """
    from pyspark.sql import functions as F

    if key not in df.columns:
        raise ValueError(f"key_distribution: no column {key!r}; the columns are {df.columns}")
    counts = df.groupBy(key).count()
    stats = counts.agg(F.sum("count").alias("rows"), F.count("*").alias("keys"), F.max("count").alias("max")).first()
    if not stats["keys"]:
        raise ValueError("key_distribution: the DataFrame is empty")
    heads = counts.orderBy(F.desc("count"), F.asc(key)).limit(top).toPandas().rename(columns={"count": "rows"})
    heads["share"] = heads["rows"] / stats["rows"]
    mean = stats["rows"] / stats["keys"]
    return KeyDistribution(
        rows=int(stats["rows"]),
        keys=int(stats["keys"]),
        max_rows=int(stats["max"]),
        mean_rows=float(mean),
        skew_ratio=float(stats["max"] / mean),
        top_share=float(heads["share"].sum()),
        top=heads,
    )
