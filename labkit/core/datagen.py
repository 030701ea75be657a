"""Deterministic data generators built from Spark expressions.

Every column is a pure function of the row id and the seed (``xxhash64``), so
the same parameters give the same rows on a laptop or a cluster, whatever the
number of partitions. Nothing is generated on the driver.

Two ways to skew the customer key of :func:`transactions`:

* ``HotKeys(share=0.8, keys=5)`` - the guide's picture: 80% of the rows belong
  to the top 5 customers (16% each), the rest spread uniformly over the others.
* ``Zipf(exponent=1.1)`` - a power law: customer ``k`` gets rows in proportion
  to ``k ** -exponent``. It is drawn by inverting the continuous power-law CDF
  (a close, fast approximation of the discrete Zipf law). ``exponent=0`` is
  uniform; above 1 the head dominates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from labkit.core.args import positive_int

__all__ = [
    "DEFECTS",
    "DIAGNOSES",
    "DirtyCSV",
    "HotKeys",
    "KeyDistribution",
    "ORDERS_HEADER",
    "ORDERS_SCHEMA",
    "PATIENT_IDENTIFIERS",
    "Zipf",
    "customers",
    "damaged_parquet",
    "dirty_csv",
    "employees",
    "key_distribution",
    "patients",
    "products",
    "transactions",
]

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


def _uniform(seed: int, stream: str):
    """A uniform [0, 1) column from a hash of (seed, stream, id)."""
    from pyspark.sql import functions as F

    h = F.xxhash64(F.lit(int(seed)), F.lit(stream), F.col("id"))
    return F.shiftrightunsigned(h, 11).cast("double") / float(1 << 53)


def _pick(u, n: int, offset: int = 1):
    """An integer in [offset, offset + n) from a uniform column."""
    from pyspark.sql import functions as F

    return (F.floor(u * n) + offset).cast("long")


def _choice(u, values: tuple[str, ...]):
    """One of ``values`` from a uniform column."""
    from pyspark.sql import functions as F

    return F.element_at(F.array(*[F.lit(v) for v in values]), _pick(u, len(values)).cast("int"))


def _customer_key(skew, customers: int, seed: int):
    """The customer_id column for a skew model."""
    from pyspark.sql import functions as F

    u = _uniform(seed, "customer")
    if skew is None:
        return _pick(u, customers)
    if isinstance(skew, HotKeys):
        if skew.keys > customers:
            raise ValueError(f"HotKeys.keys={skew.keys} exceeds customers={customers}")
        hot = _pick(_uniform(seed, "hot-key"), skew.keys)
        rest = customers - skew.keys
        cold = _pick(_uniform(seed, "cold-key"), rest, offset=skew.keys + 1) if rest else hot
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
    spark,
    rows: int,
    customers: int = 10_000,
    skew: HotKeys | Zipf | None = HotKeys(),
    seed: int = 42,
    products: int = 1_000,
    years: tuple[int, int] = (2021, 2025),
    partitions: int | None = None,
):
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
    ts = F.timestamp_seconds(F.lit(start) + F.floor(_uniform(seed, "ts") * span).cast("long"))
    df = spark.range(0, rows, 1, partitions) if partitions else spark.range(0, rows)
    return (
        df.select(
            F.col("id").alias("txn_id"),
            _customer_key(skew, customers, seed).alias("customer_id"),
            _pick(_uniform(seed, "product"), products).alias("product_id"),
            F.round(F.lit(1.0) + F.pow(_uniform(seed, "amount"), 3) * 999.0, 2).cast("decimal(10,2)").alias("amount"),
            _pick(_uniform(seed, "quantity"), 10).cast("int").alias("quantity"),
            ts.alias("ts"),
            F.year(ts).alias("year"),
            F.month(ts).alias("month"),
            _choice(_uniform(seed, "region"), REGIONS).alias("region"),
        )
    )


def employees(spark, n: int, departments: int = 10, seed: int = 42, skew: HotKeys | None = None,
              null_share: float = 0.02, unsalaried: int = 1):
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
    ctc = (F.lit(30_000) + F.floor(_uniform(seed, "ctc") * 271) * 1000).cast("long")
    no_salary = (_uniform(seed, "null-ctc") < null_share) | (dept > departments - unsalaried)
    return spark.range(1, n + 1).select(
        F.col("id").alias("employee_id"),
        F.concat(_choice(_uniform(seed, "first"), ("Alice", "Bob", "Chitra", "Diego", "Eve", "Farah", "Grace",
                                                   "Hiro", "Ines", "Jon")), F.lit(" "), F.col("id").cast("string"))
        .alias("employee_name"),
        F.format_string("D%05d", dept).alias("department"),
        F.when(no_salary, F.lit(None).cast("long")).otherwise(ctc).alias("annual_ctc"),
    )


def customers(spark, n: int, seed: int = 42):
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
        _choice(_uniform(seed, "segment"), SEGMENTS).alias("segment"),
        _choice(_uniform(seed, "cregion"), REGIONS).alias("region"),
        F.date_add(F.lit("2015-01-01").cast("date"), _pick(_uniform(seed, "signup"), 3650, 0).cast("int")).alias(
            "signup_date"
        ),
    )


def products(spark, n: int, seed: int = 42):
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
    stock = F.when(_uniform(seed, "zero-stock") < 0.1, F.lit(0)).otherwise(_pick(_uniform(seed, "stock"), 500))
    return spark.range(1, n + 1).select(
        F.col("id").alias("product_id"),
        _choice(_uniform(seed, "category"), CATEGORIES).alias("category"),
        F.round(F.lit(0.5) + _uniform(seed, "price") * 200.0, 2).cast("decimal(10,2)").alias("price"),
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


def key_distribution(df, key: str, top: int = 10) -> KeyDistribution:
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


# --------------------------------------------------------------------------- patients (the PHI notebook)

# every identifier column of :func:`patients`, with its HIPAA Safe Harbor kind: the generator's ground truth
PATIENT_IDENTIFIERS = {
    "patient_id": "record_id", "first_name": "name", "last_name": "name", "ssn": "ssn", "email": "email",
    "phone": "phone", "street": "street", "city": "city", "zip": "zip", "dob": "birth_date",
    "admission_date": "date", "discharge_date": "date", "mrn": "record_id", "health_plan_id": "record_id",
    "ip_address": "ip", "device_serial": "device", "note": "free_text",
}
DIAGNOSES = ("E11.9", "I10", "J45.909", "M54.5", "F32.9", "K21.9", "N39.0", "J06.9", "E78.5", "I25.10")
_EMAIL_DOMAINS = ("example.com", "mail.example.org", "patients.example.net")


def _faker_lists() -> dict[str, tuple[str, ...]]:
    """Faker's en_US name and place lists (the data Faker draws from), as tuples."""
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.person.en_US import Provider as Person

    cities = tuple(f"{p}{s}" for p in ("", "North ", "East ", "Lake ", "Port ") for s in
                   ("Springfield", "Riverside", "Fairview", "Madison", "Georgetown", "Clinton", "Salem", "Franklin"))
    return {"first": tuple(Person.first_names), "last": tuple(Person.last_names),
            "suffix": tuple(Address.street_suffixes), "street": tuple(Person.last_names)[:200],
            "state": tuple(s for s in Address.states_abbr if len(s) == 2)[:50], "city": cities}


def _digits(seed: int, stream: str, n: int):
    """A zero-padded string of ``n`` random digits."""
    from pyspark.sql import functions as F

    return F.lpad(_pick(_uniform(seed, stream), 10**n, 0).cast("string"), n, "0")


def patients(spark, n: int, seed: int = 42, as_of: str = "2025-06-30"):
    """Generate synthetic patients with every kind of identifier HIPAA names, deterministically.

    Names, streets and states come from Faker's en_US lists, drawn by a hash of
    the row id and the seed (so the same ``n`` and ``seed`` give the same rows on
    any cluster, with nothing built on the driver). About 3% of patients are over
    89, and about 2% live in a ZIP whose 3-digit prefix HIPAA restricts.

    Parameters
    ----------
    spark : SparkSession
    n : int
        Patients (>= 0).
    seed : int
    as_of : str
        The date ages are computed at.

    Returns
    -------
    pyspark.sql.DataFrame
        ``patient_id, first_name, last_name, ssn, email, phone, street, city,
        state, zip, dob, admission_date, discharge_date, mrn, health_plan_id,
        ip_address, device_serial, age, gender, diagnosis_code, amount, note``.
        :data:`PATIENT_IDENTIFIERS` names the identifier columns and their kinds.
    """
    from pyspark.sql import functions as F

    positive_int("n", n, 0)
    lists = _faker_lists()
    first, last = _choice(_uniform(seed, "first"), lists["first"]), _choice(_uniform(seed, "last"), lists["last"])
    old = _uniform(seed, "old") < 0.03
    age_days = F.when(old, F.lit(90 * 365) + _pick(_uniform(seed, "old-age"), 12 * 365, 0)).otherwise(
        _pick(_uniform(seed, "age"), 88 * 365, 365))
    dob = F.date_sub(F.lit(as_of).cast("date"), age_days.cast("int"))
    admission = F.date_sub(F.lit(as_of).cast("date"), _pick(_uniform(seed, "admit"), 3 * 365, 0).cast("int"))
    zip3 = tuple(f"{p:03d}" for p in range(101, 990, 23))  # 39 populated 3-digit prefixes
    zip_code = F.when(_uniform(seed, "restricted") < 0.02, F.concat(F.lit("036"), _digits(seed, "zip-tail", 2))
                      ).otherwise(F.concat(_choice(_uniform(seed, "zip3"), zip3), _digits(seed, "zip-tail", 2)))
    phone = F.concat(F.lit("("), _pick(_uniform(seed, "area"), 800, 200).cast("string"), F.lit(") "),
                     _pick(_uniform(seed, "exch"), 800, 200).cast("string"), F.lit("-"), _digits(seed, "line", 4))
    frame = spark.range(1, n + 1).select(
        F.concat(F.lit("P"), F.lpad(F.col("id").cast("string"), 7, "0")).alias("patient_id"),
        first.alias("first_name"), last.alias("last_name"),
        F.concat_ws("-", _pick(_uniform(seed, "ssn1"), 664, 100).cast("string"), _digits(seed, "ssn2", 2),
                    _digits(seed, "ssn3", 4)).alias("ssn"),
        F.lower(F.concat(first, F.lit("."), last, F.col("id").cast("string"), F.lit("@"),
                         _choice(_uniform(seed, "domain"), _EMAIL_DOMAINS))).alias("email"),
        phone.alias("phone"),
        F.concat_ws(" ", _pick(_uniform(seed, "house"), 9899, 100).cast("string"),
                    _choice(_uniform(seed, "street"), lists["street"]),
                    _choice(_uniform(seed, "suffix"), lists["suffix"])).alias("street"),
        _choice(_uniform(seed, "city"), lists["city"]).alias("city"),
        _choice(_uniform(seed, "state"), lists["state"]).alias("state"),
        zip_code.alias("zip"), dob.alias("dob"), admission.alias("admission_date"),
        F.date_add(admission, _pick(_uniform(seed, "stay"), 14, 1).cast("int")).alias("discharge_date"),
        F.concat(F.lit("MRN"), _digits(seed, "mrn", 8)).alias("mrn"),
        F.concat(F.lit("HP"), _digits(seed, "plan", 10)).alias("health_plan_id"),
        F.concat_ws(".", *[_pick(_uniform(seed, f"ip{i}"), 254, 1).cast("string") for i in range(4)]).alias(
            "ip_address"),
        F.concat(F.lit("SN-"), F.upper(F.hex(_pick(_uniform(seed, "serial"), 2**40, 2**36)))).alias("device_serial"),
        F.floor(F.months_between(F.lit(as_of).cast("date"), dob) / 12).cast("int").alias("age"),
        _choice(_uniform(seed, "gender"), ("F", "M")).alias("gender"),
        _choice(_uniform(seed, "dx"), DIAGNOSES).alias("diagnosis_code"),
        F.round(F.lit(50.0) + F.pow(_uniform(seed, "bill"), 2) * 20_000, 2).cast("decimal(12,2)").alias("amount"),
    )
    note = F.concat(F.lit("Pt "), F.col("first_name"), F.lit(" "), F.col("last_name"), F.lit(" seen "),
                    F.date_format("admission_date", "MM/dd/yyyy"), F.lit(" for "), F.col("diagnosis_code"),
                    F.lit("; call back at "), F.col("phone"), F.lit("."))
    return frame.withColumn("note", note)


# --------------------------------------------------------------------------- dirty CSV (the data-quality notebook)

ORDERS_SCHEMA = ("order_id int, customer_id int, email string, amount decimal(10,2), quantity int, "
                 "order_date date, note string")
ORDERS_HEADER = "order_id,customer_id,email,amount,quantity,order_date,note"
DEFECTS = ("extra column", "missing column", "not a number", "impossible date", "unbalanced quote",
           "repeated header", "invalid UTF-8")


@dataclass(frozen=True)
class DirtyCSV:
    """A folder of CSV files with known defects, and the label of every line."""

    root: str
    files: tuple[str, ...]
    schema: str  # DDL of the clean table
    header: str
    labels: pd.DataFrame  # file, raw (the line as text, undecodable bytes replaced), label ("good" or a defect)


def _good_fields(rng, i: int, quoted: bool = True) -> list[str]:
    """The 7 fields of a valid order; with ``quoted``, about 1 in 20 notes is quoted and holds a comma."""
    comma = quoted and rng.random() < 0.05
    note = f'"left at door, ring {rng.randint(1, 9)}"' if comma else f"ok-{rng.randint(0, 999)}"
    return [str(i), str(rng.randint(1, 500)), f"user{i}@example.com", f"{rng.randint(100, 99999) / 100:.2f}",
            str(rng.randint(1, 9)), f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", note]


def _good_line(rng, i: int) -> str:
    """One valid order line."""
    return ",".join(_good_fields(rng, i))


def _defect_line(rng, i: int, kind: str) -> str:
    """One line with a known defect (built from fields whose note holds no comma)."""
    good = _good_fields(rng, i, quoted=False)
    if kind == "extra column":
        return ",".join([*good[:7], "surplus"])
    if kind == "missing column":
        return ",".join(good[:5])
    if kind == "not a number":
        return ",".join([*good[:3], "twelve", *good[4:7]])
    if kind == "impossible date":
        return ",".join([*good[:5], "2024-02-30", good[6]])
    if kind == "unbalanced quote":
        return ",".join([*good[:6], '"never closed'])
    raise ValueError(f"unknown defect {kind!r}")


def dirty_csv(root: str, lines: int = 1000, defect_rate: float = 0.05, seed: int = 42) -> DirtyCSV:
    """Write CSV files with every defect the data-quality notebook handles, and their ground truth.

    ``orders.csv`` holds ``lines`` data lines, ``defect_rate`` of them broken
    (extra and missing columns, a non-numeric number, an impossible date, an
    unbalanced quote, a repeated header line as left by concatenated files), and
    quoted notes with embedded commas (valid). ``windows.csv`` has a UTF-8 BOM and
    CRLF line endings; ``latin1.csv`` has a line in Latin-1 (invalid UTF-8);
    ``multiline.csv`` has valid records whose quoted note spans two lines (a
    one-line reader splits them); ``empty.csv`` is empty and ``header_only.csv``
    holds only the header.

    Returns
    -------
    DirtyCSV
        ``labels`` has one row per physical line after each file's header.
    """
    import random

    positive_int("lines", lines, 1)
    if not 0 <= defect_rate < 1:
        raise ValueError(f"defect_rate must be in [0, 1), got {defect_rate!r}")
    rng = random.Random(seed)
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    labels, order = [], 0
    body = []
    for _ in range(lines):
        order += 1
        if rng.random() < defect_rate:
            kind = rng.choice(DEFECTS[:5] + ("repeated header",))
            text = ORDERS_HEADER if kind == "repeated header" else _defect_line(rng, order, kind)
            body.append(text)
            labels.append(("orders.csv", text, kind))
        else:
            body.append(_good_line(rng, order))
            labels.append(("orders.csv", body[-1], "good"))
    (folder / "orders.csv").write_text("\n".join([ORDERS_HEADER, *body]) + "\n", encoding="utf-8")
    win = [_good_line(rng, order + k) for k in range(1, 6)]
    order += 5
    (folder / "windows.csv").write_bytes(("\ufeff" + "\r\n".join([ORDERS_HEADER, *win]) + "\r\n").encode("utf-8"))
    labels += [("windows.csv", text, "good") for text in win]
    good = _good_line(rng, order + 1)
    latin = f"{order + 2},7,cafe@example.com,12.50,1,2024-03-03,Café crème"
    order += 2
    (folder / "latin1.csv").write_bytes(f"{ORDERS_HEADER}\n{good}\n".encode() + (latin + "\n").encode("latin-1"))
    labels += [("latin1.csv", good, "good"), ("latin1.csv", latin.replace("é", "\ufffd").replace("è", "\ufffd"),
                                               "invalid UTF-8")]
    first = f'{order + 1},8,multi@example.com,10.00,1,2024-04-04,"first line'
    (folder / "multiline.csv").write_text(f'{ORDERS_HEADER}\n{first}\nsecond line"\n', encoding="utf-8")
    labels += [("multiline.csv", first, "quoted newline"), ("multiline.csv", 'second line"', "quoted newline")]
    (folder / "empty.csv").write_bytes(b"")
    (folder / "header_only.csv").write_text(ORDERS_HEADER + "\n", encoding="utf-8")
    files = tuple(sorted(str(p) for p in folder.glob("*.csv")))
    return DirtyCSV(str(folder), files, ORDERS_SCHEMA, ORDERS_HEADER,
                    pd.DataFrame(labels, columns=["file", "raw", "label"]))


def damaged_parquet(root: str) -> dict[str, str]:
    """Write a folder of Parquet files with each kind of damage the data-quality notebook diagnoses.

    Two readable files; schema variants (an added column, int -> bigint, int -> string); a file with bad magic
    bytes; a truncated file; a 0-byte file; a file with no rows.

    Returns
    -------
    dict
        File name to what is wrong with it ("" for a good file).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file():
            old.unlink()
    base = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "amount": [1.5, 2.5, 3.5]})
    pq.write_table(base, folder / "part-0.parquet")
    pq.write_table(base, folder / "part-1.parquet")
    pq.write_table(base.append_column("channel", pa.array(["web", "shop", "web"])), folder / "part-2-added.parquet")
    pq.write_table(pa.table({"id": pa.array([4], pa.int64()), "amount": [4.5]}), folder / "part-3-bigint.parquet")
    pq.write_table(pa.table({"id": ["5"], "amount": [5.5]}), folder / "part-4-string.parquet")
    (folder / "part-5-magic.parquet").write_bytes(b"PAR0 this is not a parquet file")
    good = (folder / "part-0.parquet").read_bytes()
    (folder / "part-6-truncated.parquet").write_bytes(good[: len(good) // 2])
    (folder / "part-7-zero.parquet").write_bytes(b"")
    pq.write_table(base.slice(0, 0), folder / "part-8-norows.parquet")
    return {"part-0.parquet": "", "part-1.parquet": "", "part-2-added.parquet": "added column",
            "part-3-bigint.parquet": "int -> bigint", "part-4-string.parquet": "int -> string",
            "part-5-magic.parquet": "bad magic", "part-6-truncated.parquet": "truncated",
            "part-7-zero.parquet": "0 bytes", "part-8-norows.parquet": "no rows"}
