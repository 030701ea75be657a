"""Notebook 07's experiments on PHI: the guide's code and settings as written, what they actually do, and timings.

The techniques (column policies, Safe Harbor, the leak check, keys, JDBC TLS rules) live in
:mod:`labkit.topics.phi`. Here, each returning what Spark or a file actually did:

* the guide's name masking (:func:`guide_mask_name`, unsalted ``sha2``), its 22 "HIPAA identifiers"
  (:data:`GUIDE_IDENTIFIERS`), its access policy and retention rule (:func:`guide_policies`) and its Redshift
  URL (:data:`GUIDE_REDSHIFT_URL`, set beside the safe one by :func:`jdbc_tls_table`);
* ``spark.conf.set("spark.ssl.enabled", "true")`` in a running session: :func:`runtime_ssl_setting`;
* ``df.write.option("encryption", "SSE-KMS").option("kmsKeyId", ...)``: :func:`write_with_guide_encryption`,
  then :func:`readable_without_keys` (pyarrow reads the files back with no key at all);
* the three ways to compute a keyed pseudonym (:func:`pseudonym_implementations`), timed through
  :mod:`labkit.core.bench` (:func:`pseudonym_throughput`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq

from labkit.core import runtime
from labkit.core.args import require_columns
from labkit.core.bench import compare
from labkit.core.measure import noop
from labkit.topics.phi import SAFE_REDSHIFT_URL, jdbc_tls, pseudonym, pseudonym_pandas, pseudonym_udf

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["GUIDE_IDENTIFIERS", "GUIDE_REDSHIFT_URL", "guide_mask_name", "guide_policies", "jdbc_tls_table",
           "pseudonym_implementations", "pseudonym_throughput", "readable_without_keys", "runtime_ssl_setting",
           "write_with_guide_encryption"]

# --------------------------------------------------------------------------- the guide's code and settings, as written

# the guide's list of 22 "HIPAA identifiers", mapped to the official 18 of labkit.topics.phi.SAFE_HARBOR_18 (None: not
# an identifier of its own)
GUIDE_IDENTIFIERS = {
    "name": "A", "address": "B", "city": "B", "state": None, "zip": "B", "dates": "C", "phone": "D", "fax": "E",
    "email": "F", "ssn": "G", "medical_record_number": "H", "health_plan_number": "I", "account_number": "J",
    "certificate_number": "K", "license_number": "K", "vehicle_identifier": "L", "device_serial_number": "M",
    "url": "N", "ip_address": "O", "biometric_identifier": "P", "photo": "Q", "any_unique_identifier": "R",
}
GUIDE_REDSHIFT_URL = "jdbc:redshift://cluster:5439/db?ssl=true&sslfactory=com.amazon.redshift.ssl.NonValidatingFactory"


def guide_mask_name(col: Column) -> Column:
    """The guide's name masking, as written: unsalted ``sha2(name, 256)``. Reversed by
    :func:`~labkit.topics.phi.dictionary_attack`."""
    from pyspark.sql import functions as F  # pyspark only when a Column is built

    return F.sha2(col.cast("string"), 256)


def guide_policies() -> tuple[dict, dict]:
    """The guide's S3 access policy and lifecycle (retention) configuration, as it writes them.

    The policy allows ``s3:GetObject``/``PutObject`` on ``phi-data-bucket`` from ``10.0.0.0/8`` to the
    Healthcare department, and KMS use through S3; the lifecycle rule (spelt ``Id``, as in the guide) moves
    ``phi/`` to Glacier Instant Retrieval after 90 days, Deep Archive after 2190, and deletes after 2555.

    Returns
    -------
    tuple of dict
        (access policy, lifecycle configuration): new objects on each call, safe to change.
    """
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::phi-data-bucket/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]},
                       "StringEquals": {"aws:PrincipalTag/Department": "Healthcare"}}},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "arn:aws:kms:us-east-1:1:key/x",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]}
    retention = {"Rules": [{"Id": "phi-retention-policy", "Status": "Enabled", "Filter": {"Prefix": "phi/"},
                            "Transitions": [{"Days": 90, "StorageClass": "GLACIER_IR"},
                                            {"Days": 2190, "StorageClass": "DEEP_ARCHIVE"}],
                            "Expiration": {"Days": 2555}, "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]}
    return policy, retention


def jdbc_tls_table(connections: Sequence[tuple[str, Mapping[str, str] | None]] | None = None) -> pd.DataFrame:
    """:func:`~labkit.topics.phi.jdbc_tls` for several connections, one row each (without the ``problems`` text).

    Parameters
    ----------
    connections : sequence of (url, properties or None), optional
        The guide's URL with its ``{"sslmode": "require"}`` and :data:`~labkit.topics.phi.SAFE_REDSHIFT_URL` by default.

    Returns
    -------
    pandas.DataFrame
        ``url`` and :func:`~labkit.topics.phi.jdbc_tls`'s fields.
    """
    if connections is None:
        connections = ((GUIDE_REDSHIFT_URL, {"sslmode": "require"}), (SAFE_REDSHIFT_URL, None))
    return pd.DataFrame([{"url": url, **{k: v for k, v in jdbc_tls(url, props).items() if k != "problems"}}
                         for url, props in connections])


def runtime_ssl_setting(spark: SparkSession, key: str = "spark.ssl.enabled", value: str = "true") -> dict:
    """Set a core Spark setting with ``spark.conf.set`` in a running session, read it back, and undo it.

    Parameters
    ----------
    spark : SparkSession
        A classic session (the SparkContext's configuration is read).
    key, value : str
        The guide's ``spark.ssl.enabled`` = ``true`` by default.

    Returns
    -------
    dict
        ``error`` (the exception's class name, or None when the call was accepted), ``session_value`` (what
        ``spark.conf.get`` answers afterwards) and ``context_value`` (what the running SparkContext, which
        opened its sockets at start-up, holds: None when unset). The setting is unset again before returning.
    """
    runtime.require_classic(spark, "reading the SparkContext's configuration")
    before = spark.conf.get(key, None)
    error = None
    try:
        spark.conf.set(key, value)
    except Exception as exc:  # noqa: BLE001 - reported: which exception is the finding
        error = type(exc).__name__
    try:
        return {"error": error, "session_value": spark.conf.get(key, None),
                "context_value": spark.sparkContext.getConf().get(key)}
    finally:
        if error is None and before is None:
            spark.conf.unset(key)
        elif error is None:
            spark.conf.set(key, before)


def write_with_guide_encryption(df: DataFrame, path: str, kms_key_id: str = "arn:aws:kms:us-east-1:1:key/x") -> str:
    """Write ``df`` as Parquet exactly as the guide's ``encrypt_data_at_rest`` does; return the folder.

    The guide's ``.option("encryption", "SSE-KMS").option("kmsKeyId", ...)`` are not options of Spark's
    Parquet writer: Spark accepts unknown options silently. :func:`readable_without_keys` then shows the files
    hold the values in the clear.

    Parameters
    ----------
    df : DataFrame
    path : str
        A local folder (overwritten, as the guide's ``mode("overwrite")`` does).
    kms_key_id : str
        The key the guide names; it is never contacted.
    """
    df.write.mode("overwrite").option("encryption", "SSE-KMS").option("kmsKeyId", kms_key_id).parquet(path)
    return path


def readable_without_keys(path: str, column: str) -> list:
    """The values of ``column`` read from Parquet files with pyarrow and no decryption key (sorted, as text).

    Encrypted Parquet (modular encryption) cannot be read without its keys, so getting the values back proves
    that the files are plaintext.

    Raises
    ------
    ValueError
        When the folder holds no Parquet files.
    """
    files = sorted(p for p in Path(path).glob("*.parquet") if not p.name.startswith(("_", ".")))
    if not files:
        raise ValueError(f"readable_without_keys: no .parquet files in {path}")
    values = [v for f in files for v in pq.read_table(f, columns=[column]).column(column).to_pylist()]
    return sorted(str(v) for v in values if v is not None)


# --------------------------------------------------------------------------- keyed pseudonyms, three ways, timed


def pseudonym_implementations(df: DataFrame, column: str, key: str | bytes | None = None) -> dict[str, DataFrame]:
    """The same pseudonym of ``df[column]`` three ways, one DataFrame each: the one knob a throughput test turns.

    ``built-in hmac`` (:func:`~labkit.topics.phi.pseudonym`, JVM), ``pandas UDF``
    (:func:`~labkit.topics.phi.pseudonym_pandas`, Arrow batches) and ``Python UDF``
    (:func:`~labkit.topics.phi.pseudonym_udf`, one row at a time). Each DataFrame has one column, ``p``.
    """
    from pyspark.sql import functions as F  # pyspark only when a DataFrame is built

    require_columns(df, [column])
    col = F.col(column).cast("string")
    return {"built-in hmac": df.select(pseudonym(col, key).alias("p")),
            "pandas UDF": df.select(pseudonym_pandas(col, key).alias("p")),
            "Python UDF": df.select(pseudonym_udf(key)(col).alias("p"))}


def pseudonym_throughput(ways: Mapping[str, DataFrame], rows: int, repeats: int = 3) -> pd.DataFrame:
    """Time each way of computing the pseudonyms (:func:`pseudonym_implementations`).

    Parameters
    ----------
    ways : dict
        Name -> DataFrame; each is run in full into Spark's no-op sink.
    rows : int
        The rows each DataFrame holds.
    repeats : int
        Interleaved rounds (:func:`labkit.core.bench.compare`).

    Returns
    -------
    pandas.DataFrame
        :func:`labkit.core.bench.compare`'s table plus ``rows_per_s`` (``rows`` over the median).
    """
    if rows < 0:
        raise ValueError(f"pseudonym_throughput: rows must be >= 0, got {rows}")
    speed = compare({name: noop(df) for name, df in ways.items()}, repeats=repeats)
    speed["rows_per_s"] = rows / speed["median_s"]
    return speed
