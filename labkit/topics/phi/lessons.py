"""Checks behind the notebook's corrections of the guide: each returns what Spark or a file actually did.

* ``spark.conf.set("spark.ssl.enabled", "true")`` in a running session: :func:`runtime_ssl_setting`;
* ``df.write.option("encryption", "SSE-KMS").option("kmsKeyId", ...)``: :func:`write_with_guide_encryption`,
  then :func:`readable_without_keys` (pyarrow reads the files back with no key at all).

And :func:`pseudonym_throughput`, the notebook's timing of the three ways to compute a keyed pseudonym.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["pseudonym_throughput", "readable_without_keys", "runtime_ssl_setting", "write_with_guide_encryption"]


def runtime_ssl_setting(spark, key: str = "spark.ssl.enabled", value: str = "true") -> dict:
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
    from labkit.core import runtime

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


def write_with_guide_encryption(df, path: str, kms_key_id: str = "arn:aws:kms:us-east-1:1:key/x") -> str:
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
    import pyarrow.parquet as pq

    files = sorted(p for p in Path(path).glob("*.parquet") if not p.name.startswith(("_", ".")))
    if not files:
        raise ValueError(f"readable_without_keys: no .parquet files in {path}")
    values = [v for f in files for v in pq.read_table(f, columns=[column]).column(column).to_pylist()]
    return sorted(str(v) for v in values if v is not None)


def pseudonym_throughput(ways: dict, rows: int, repeats: int = 3):
    """Time each way of computing the pseudonyms (:func:`~labkit.topics.phi.masking.pseudonym_implementations`).

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
    from labkit.core.bench import compare
    from labkit.core.measure import noop

    if rows < 0:
        raise ValueError(f"pseudonym_throughput: rows must be >= 0, got {rows}")
    speed = compare({name: noop(df) for name, df in ways.items()}, repeats=repeats)
    speed["rows_per_s"] = rows / speed["median_s"]
    return speed
