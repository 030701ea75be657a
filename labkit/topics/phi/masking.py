"""Column policies: masks, keyed pseudonyms, date shifts and AES tokens (plain Column/DataFrame functions)."""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from functools import reduce
from typing import TYPE_CHECKING

import pandas as pd

from labkit.core.args import require_columns
from labkit.topics.phi.keys import derive_key, secret_column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["HMAC_SINCE", "builtin_hmac_available", "generalize_date", "hmac_since", "interval_changes", "mask_email",
           "mask_phone", "mask_ssn", "pseudonym", "pseudonym_pandas", "pseudonym_udf", "require_dates", "shift_dates",
           "token_decrypt", "token_encrypt", "token_round_trip"]

# SPARK-53154 (apache/spark pull request 57344) added the SQL function ``hmac``; its ExpressionDescription says
# since = "4.3.0", pyspark's ``functions.hmac`` says ``versionadded:: 4.3.0``, and ``DESCRIBE FUNCTION EXTENDED hmac``
# prints "Since: 4.3.0". Spark 3.5 (AWS Glue 5, EMR 7) and Spark 4.0 to 4.2 do not have it.
HMAC_SINCE = "4.3.0"

_DATE_TYPES = ("date", "timestamp", "timestamp_ntz", "string")

# --------------------------------------------------------------------------- column policies


def mask_ssn(col: Column) -> Column:
    """``XXX-XX-1234`` from any SSN spelling (digits kept, everything else dropped); null stays null.

    An SSN with fewer than 4 digits becomes ``XXX-XX-XXXX``. Spark's ``mask()``
    keeps the *format* (``nnn-nn-nnnn``), so the masked value still says "this was
    an SSN, with dashes": fine for testing formats, a hint to an attacker otherwise.
    """
    from pyspark.sql import functions as F

    digits = F.regexp_replace(col.cast("string"), r"[^0-9]", "")
    return F.when(col.isNull(), None).when(F.length(digits) < 4, F.lit("XXX-XX-XXXX")).otherwise(
        F.concat(F.lit("XXX-XX-"), F.substring(digits, -4, 4)))


def mask_email(col: Column) -> Column:
    """``j***@domain``; a value without ``@`` becomes ``***`` (nothing of it kept)."""
    from pyspark.sql import functions as F

    at = F.instr(col, "@")
    return F.when(col.isNull(), None).when(at <= 1, F.lit("***")).otherwise(
        F.concat(F.substring(col, 1, 1), F.lit("***@"), F.substring_index(col, "@", -1)))


def mask_phone(col: Column) -> Column:
    """Only the last 4 digits: ``***-***-4567``; fewer than 4 digits become ``***-***-****``."""
    from pyspark.sql import functions as F

    digits = F.regexp_replace(col.cast("string"), r"[^0-9]", "")
    return F.when(col.isNull(), None).when(F.length(digits) < 4, F.lit("***-***-****")).otherwise(
        F.concat(F.lit("***-***-"), F.substring(digits, -4, 4)))


def pseudonym(col: Column, key: str | bytes | None = None) -> Column:
    """A keyed pseudonym: hex HMAC-SHA256 of the value (Spark's built-in ``hmac``, Spark 4.3.0 on; no UDF).

    The same value and key give the same pseudonym (joins still work); another
    key gives another; without the key a dictionary cannot be hashed. The HMAC
    key is the master key's ``"pseudonym"`` derivation (:func:`~labkit.topics.phi.keys.derive_key`), and it
    reaches Spark as data (:func:`~labkit.topics.phi.keys.secret_column`), so no plan, UI page or error
    message prints it. Needs an active SparkSession, and a Spark with the built-in
    ``hmac`` (:data:`HMAC_SINCE`: 4.3.0, SPARK-53154); on Spark 3.5 (AWS Glue 5,
    EMR 7) or 4.0 to 4.2 use :func:`pseudonym_pandas`, which gives the same bytes.

    Parameters
    ----------
    col : pyspark.sql.Column
    key : str or bytes, optional
        The master key (at least 32 bytes), else ``LABKIT_PHI_KEY``.

    Returns
    -------
    pyspark.sql.Column
        64 lowercase hex characters; null stays null.
    """
    from pyspark.sql import functions as F

    if not hasattr(F, "hmac"):
        raise RuntimeError(f"this pyspark has no built-in hmac (added in Spark {HMAC_SINCE}, SPARK-53154): use "
                           "phi.pseudonym_pandas, which gives the same pseudonyms")
    secret = secret_column(derive_key("pseudonym", key))
    return F.when(col.isNull(), None).otherwise(
        F.lower(F.hex(F.hmac(secret, col.cast("string"), F.lit("SHA256")))))


def _version(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a Spark version string such as ``3.5.4-amzn-0`` or ``4.3.0-SNAPSHOT``."""
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not found:
        raise ValueError(f"not a Spark version: {text!r}")
    return int(found[1]), int(found[2]), int(found[3] or 0)


def builtin_hmac_available(version: str) -> bool:
    """Whether a Spark of this version has the built-in SQL ``hmac`` (from :data:`HMAC_SINCE`, 4.3.0, on).

    Parameters
    ----------
    version : str
        ``spark.version``, e.g. ``"3.5.4-amzn-0"`` (Glue 5 / EMR 7) or ``"4.3.0"``.

    Returns
    -------
    bool
        False for 3.5 and 4.0 to 4.2: use :func:`pseudonym_pandas` there.
    """
    return _version(version) >= _version(HMAC_SINCE)


def hmac_since(spark: SparkSession) -> str | None:
    """The ``Since:`` line Spark itself prints for ``hmac`` (``DESCRIBE FUNCTION EXTENDED``); None without it."""
    from pyspark.errors import AnalysisException

    try:
        rows = spark.sql("DESCRIBE FUNCTION EXTENDED hmac").collect()
    except AnalysisException:  # the function does not exist on this Spark
        return None
    found = re.search(r"Since:\s*(\S+)", "\n".join(r[0] for r in rows))
    return found[1] if found else None


def _hmac_hex_udf(secret: bytes):
    """A vectorised (Arrow) pandas UDF: hex HMAC-SHA256 under ``secret`` of each UTF-8 string; null stays null."""
    from pyspark.sql.functions import pandas_udf

    def hmac_sha256_hex(values: pd.Series) -> pd.Series:
        import hashlib
        import hmac

        return values.map(lambda v: hmac.new(secret, v.encode("utf-8"), hashlib.sha256).hexdigest(),
                          na_action="ignore")

    return pandas_udf(hmac_sha256_hex, "string")


def pseudonym_pandas(col: Column, key: str | bytes | None = None) -> Column:
    """:func:`pseudonym` for a Spark without the built-in ``hmac`` (before 4.3.0): a vectorised pandas UDF.

    Byte for byte the same pseudonym: Spark casts the value to a string (as
    :func:`pseudonym` does), Arrow hands batches of them to a Python worker, and
    Python's ``hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()``
    computes them under the master key's ``"pseudonym"`` derivation. Use it on
    AWS Glue 5 and EMR 7 (Spark 3.5), where ``hmac`` does not exist; on 4.3+
    the built-in is faster (the notebook times both).

    Where the key goes: the UDF closes over the 32 derived key bytes, so no
    plan string, ``explain()`` or analysis error shows them (the plan prints
    only the function's name). But the closure is pickled (cloudpickle) into
    the plan's Python function, shipped to the executors with every task and
    unpickled in each Python worker: the key travels with the task, and on
    Spark Connect the client sends it to the server inside the plan. The
    built-in path ships it too (executors must have the key to compute an
    HMAC): :func:`~labkit.topics.phi.keys.secret_column` sends it as a
    one-row relation, a scalar subquery evaluated once per query whose result is
    serialised into the tasks; plans print ``scalar-subquery#n``, not the value.
    The difference is that no Python process holds it.

    Parameters
    ----------
    col : pyspark.sql.Column
    key : str or bytes, optional
        The master key (at least 32 bytes), else ``LABKIT_PHI_KEY``; checked before anything is built.

    Returns
    -------
    pyspark.sql.Column
        64 lowercase hex characters; null stays null.
    """
    return _hmac_hex_udf(derive_key("pseudonym", key))(col.cast("string"))


def pseudonym_udf(key: str | bytes | None = None):
    """The same keyed pseudonym as :func:`pseudonym`, as a Python UDF: every row goes to a Python worker and back.

    Only for comparison: the notebook times it against the built-in ``hmac`` and :func:`pseudonym_pandas`.
    It hashes ``str(value)`` in Python, which differs from Spark's string cast for non-strings (``True`` against
    ``true``); give it string columns.
    """
    from pyspark.sql import functions as F

    secret = derive_key("pseudonym", key)

    def digest(value):
        import hashlib
        import hmac

        return None if value is None else hmac.new(secret, str(value).encode(), hashlib.sha256).hexdigest()

    return F.udf(digest, "string")


def generalize_date(col: Column, name: str = "a date column") -> Column:
    """The year only (an int): the one date element Safe Harbor keeps.

    A string that is not a date stops the query with an error naming ``name``,
    never the value (Spark's ANSI cast error would quote it, and it may be PHI).
    Call :func:`require_dates` first for an error with the column and the count
    before anything runs.

    Parameters
    ----------
    col : pyspark.sql.Column
        A date, a timestamp or a ``yyyy-mm-dd`` string.
    name : str
        What the error calls the column.

    Returns
    -------
    pyspark.sql.Column
        The year; null stays null.
    """
    from pyspark.sql import functions as F

    parsed = col.try_cast("date")
    bad = F.raise_error(F.lit(f"generalize_date: {name} holds a value that is not a date (the value is not shown: it "
                              "may be PHI); find the rows with phi.require_dates"))
    return F.when(col.isNotNull() & parsed.isNull(), bad).otherwise(F.year(parsed))


def require_dates(df: DataFrame, columns: Sequence[str], what: str = "require_dates") -> None:
    """Stop unless every non-null value of ``columns`` is a date (or a ``yyyy-mm-dd`` string that parses as one).

    One aggregation with ``try_cast`` counts the values that do not parse. The
    error names each column and its count, never a value: Spark's own ANSI cast
    error quotes the value (a birth date ``1950-02-30``), and it would travel on
    into notebook outputs, ``run.json`` and reports.

    Parameters
    ----------
    df : DataFrame
    columns : sequence of str
        Date, timestamp or string columns.
    what : str
        The caller's name, at the start of the error.

    Raises
    ------
    ValueError
        For a column of another type, or with the count of values per column that are not dates.
    """
    from pyspark.sql import functions as F

    require_columns(df, list(columns))
    types = dict(df.dtypes)
    wrong = {c: types[c] for c in columns if types[c] not in _DATE_TYPES}
    if wrong:
        raise ValueError(f"{what}: column(s) {', '.join(f'{c!r} ({t})' for c, t in wrong.items())} are not dates, "
                         "timestamps or yyyy-mm-dd strings")
    strings = [c for c in columns if types[c] == "string"]
    if not strings:
        return
    row = df.agg(*[F.count_if(F.col(c).isNotNull() & F.col(c).try_cast("date").isNull()) for c in strings]).first()
    bad = {c: n for c, n in zip(strings, row, strict=True) if n}
    if bad:
        raise ValueError(f"{what}: {'; '.join(f'column {c!r} has {n:,} value(s)' for c, n in bad.items())} that "
                         "are not dates (yyyy-mm-dd); the values are not shown, they may be PHI. Fix or quarantine "
                         "those rows first")


def shift_dates(df: DataFrame, id_col: str, date_cols: Sequence[str], key: str | bytes | None = None,
                max_days: int = 180) -> DataFrame:
    """Shift every date of a patient by the same secret offset (-max_days..max_days): intervals survive.

    Right for a study that needs lengths of stay or time to readmission inside
    a trusted environment; it is *not* Safe Harbor, which keeps the year only.
    The offset is keyed (HMAC of the patient id with the master key's
    ``"date-shift"`` derivation, fed to Spark as data), so it cannot be
    recomputed without the key, and it is the same in every table of one release.

    Parameters
    ----------
    df : DataFrame
    id_col : str
        The patient id; a row with a null id and a date is refused (its offset cannot be keyed).
    date_cols : sequence of str
        Date, timestamp (kept a timestamp) or ``yyyy-mm-dd`` string columns (returned as dates).
    key : str or bytes, optional
        The master key, else ``LABKIT_PHI_KEY``.
    max_days : int
        The largest shift, in days (at least 1).

    Returns
    -------
    DataFrame
        The same columns in the same order, the dates shifted.

    Raises
    ------
    ValueError
        Before anything changes: a date that does not parse, or a null id beside a date (counts per column,
        never values), or a bad ``max_days``.
    """
    from pyspark.sql import functions as F

    require_columns(df, [id_col, *date_cols])
    if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 1:
        raise ValueError(f"shift_dates: max_days must be a whole number of days >= 1, got {max_days!r}")
    secret = derive_key("date-shift", key)
    require_dates(df, date_cols, "shift_dates")
    dated = reduce(operator.or_, [F.col(c).isNotNull() for c in date_cols], F.lit(False))
    orphans = df.where(F.col(id_col).isNull() & dated).count()
    if orphans:
        raise ValueError(f"shift_dates: {orphans:,} row(s) have a null {id_col!r} and a date: their offset cannot "
                         "be keyed; give them an id or quarantine them first")
    digest = F.conv(F.substring(F.hex(F.hmac(secret_column(secret, df.sparkSession), df[id_col].cast("string"),
                                             F.lit("SHA256"))), 1, 8), 16, 10).cast("long")
    offset = (F.pmod(digest, F.lit(2 * max_days + 1)) - max_days).cast("int")
    types = dict(df.dtypes)

    def shifted(c: str):
        if types[c].startswith("timestamp"):
            return F.timestamp_add("DAY", offset, F.col(c))
        return F.date_add(F.col(c).try_cast("date") if types[c] == "string" else F.col(c), offset)

    return df.select(*[shifted(c).alias(c) if c in date_cols else F.col(c) for c in df.columns])


_MODES = ("GCM", "ECB", "CBC")


def _aes_args(mode: str, aad: str | None) -> list:
    """The mode (and, with associated data, the padding and the aad) arguments of the AES functions; checked."""
    from pyspark.sql import functions as F

    if mode not in _MODES:
        raise ValueError(f"mode must be GCM, CBC or ECB, got {mode!r}")
    if aad is None:
        return [F.lit(mode)]
    if mode != "GCM" or not isinstance(aad, str) or not aad:
        raise ValueError("aad (associated data, e.g. the column name) needs mode='GCM' and a non-empty string")
    return [F.lit(mode), F.lit("DEFAULT"), F.lit(aad)]


def token_encrypt(col: Column, key: str | bytes | None = None, mode: str = "GCM", aad: str | None = None) -> Column:
    """A reversible token: base64 of ``aes_encrypt`` with AES-256 under the master key's ``"aes-token"`` derivation.

    GCM is randomised (equal values, different tokens: not joinable) and
    authenticated; give it the column name as ``aad`` (associated data), so a
    token copied into another column does not decrypt there. ECB is
    deterministic and joinable, so it leaks which rows are equal, how often
    each value occurs, which values share their first 16-byte blocks, and the
    length; CBC (random IV) has no integrity. Join on :func:`pseudonym`, not on tokens.

    Parameters
    ----------
    col : pyspark.sql.Column
    key : str or bytes, optional
        The master key (at least 32 bytes), else ``LABKIT_PHI_KEY``; the key reaches Spark as data, never a literal.
    mode : {"GCM", "CBC", "ECB"}
    aad : str, optional
        Associated data for GCM, e.g. the column name; :func:`token_decrypt` needs the same.

    Returns
    -------
    pyspark.sql.Column
        A base64 string.
    """
    from pyspark.sql import functions as F

    args = _aes_args(mode, aad)
    secret = secret_column(derive_key("aes-token", key))
    if aad is not None:  # aes_encrypt(input, key, mode, padding, iv, aad): an empty iv asks for a random one
        args = [*args[:2], F.lit(b""), args[2]]
    return F.base64(F.aes_encrypt(col.cast("string"), secret, *args))


def token_decrypt(col: Column, key: str | bytes | None = None, mode: str = "GCM", aad: str | None = None) -> Column:
    """The value back from :func:`token_encrypt`; null for a token made with another key or another ``aad``.

    The key is checked exactly as :func:`token_encrypt` checks it (a missing or
    short key is an error, not a column of nulls).
    """
    from pyspark.sql import functions as F

    args = _aes_args(mode, aad)
    secret = secret_column(derive_key("aes-token", key))
    return F.try_aes_decrypt(F.unbase64(col), secret, *args).cast("string")


def interval_changes(df: DataFrame, id_col: str, start: str, end: str, key: str | bytes | None = None) -> int:
    """How many rows :func:`shift_dates` changes the ``end - start`` interval of, in days: 0 when it keeps them.

    Parameters
    ----------
    df : DataFrame
    id_col : str
        The patient id (unique per row here: the rows are joined back on it).
    start, end : str
        Two date columns of one row (admission and discharge, say).
    key : str or bytes, optional
        The master key, else ``LABKIT_PHI_KEY``.
    """
    from pyspark.sql import functions as F

    require_columns(df, [id_col, start, end])
    stay = shift_dates(df, id_col, [start, end], key)
    shifted = stay.select(id_col, F.datediff(end, start).alias("_shifted"))
    return df.join(shifted, id_col).where(F.datediff(end, start) != F.col("_shifted")).count()


def token_round_trip(df: DataFrame, column: str, key: str | bytes | None = None, other_aad: str = "email") -> dict:
    """Encrypt ``column`` with GCM and the column name as associated data, then decrypt it two ways.

    Parameters
    ----------
    df : DataFrame
    column : str
        Also the ``aad`` the tokens are made with.
    key : str or bytes, optional
        The master key, else ``LABKIT_PHI_KEY``.
    other_aad : str
        Another column's name: a token moved there must not decrypt.

    Returns
    -------
    dict
        ``rows``, ``not back`` (rows whose token does not decrypt to the value; a null value has a null token
        and is not counted) and ``opened elsewhere`` (rows whose token decrypts under ``other_aad``): both 0 when
        tokens work and stay in their column.
    """
    from pyspark.sql import functions as F

    require_columns(df, [column])
    if other_aad == column:
        raise ValueError(f"token_round_trip: other_aad must name another column than {column!r}")
    tokens = df.select(token_encrypt(F.col(column), key, aad=column).alias("gcm"), F.col(column))
    back = tokens.select((token_decrypt(F.col("gcm"), key, aad=column) == F.col(column)).alias("ok"),
                         token_decrypt(F.col("gcm"), key, aad=other_aad).alias("moved"))
    row = back.agg(F.count("*").alias("rows"), F.count_if(~F.col("ok")).alias("not_back"),  # a null value: no token
                   F.count_if(F.col("moved").isNotNull()).alias("moved")).first()
    return {"rows": row["rows"], "not back": row["not_back"], "opened elsewhere": row["moved"]}
