"""Column policies: masks, keyed pseudonyms, date shifts and AES tokens (plain Column/DataFrame functions)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import reduce

from labkit.core.args import require_columns
from labkit.topics.phi.keys import derive_key, secret_column

__all__ = ["generalize_date", "guide_mask_name", "mask_email", "mask_phone", "mask_ssn", "pseudonym",
           "pseudonym_udf", "require_dates", "shift_dates", "token_decrypt", "token_encrypt"]

_DATE_TYPES = ("date", "timestamp", "timestamp_ntz", "string")

# --------------------------------------------------------------------------- column policies


def mask_ssn(col):
    """``XXX-XX-1234`` from any SSN spelling (digits kept, everything else dropped); null stays null.

    An SSN with fewer than 4 digits becomes ``XXX-XX-XXXX``. Spark's ``mask()``
    keeps the *format* (``nnn-nn-nnnn``), so the masked value still says "this was
    an SSN, with dashes": fine for testing formats, a hint to an attacker otherwise.
    """
    from pyspark.sql import functions as F

    digits = F.regexp_replace(col.cast("string"), r"[^0-9]", "")
    return F.when(col.isNull(), None).when(F.length(digits) < 4, F.lit("XXX-XX-XXXX")).otherwise(
        F.concat(F.lit("XXX-XX-"), F.substring(digits, -4, 4)))


def mask_email(col):
    """``j***@domain``; a value without ``@`` becomes ``***`` (nothing of it kept)."""
    from pyspark.sql import functions as F

    at = F.instr(col, "@")
    return F.when(col.isNull(), None).when(at <= 1, F.lit("***")).otherwise(
        F.concat(F.substring(col, 1, 1), F.lit("***@"), F.substring_index(col, "@", -1)))


def mask_phone(col):
    """Only the last 4 digits: ``***-***-4567``; fewer than 4 digits become ``***-***-****``."""
    from pyspark.sql import functions as F

    digits = F.regexp_replace(col.cast("string"), r"[^0-9]", "")
    return F.when(col.isNull(), None).when(F.length(digits) < 4, F.lit("***-***-****")).otherwise(
        F.concat(F.lit("***-***-"), F.substring(digits, -4, 4)))


def pseudonym(col, key: str | bytes | None = None):
    """A keyed pseudonym: hex HMAC-SHA256 of the value (Spark's built-in ``hmac``, no UDF).

    The same value and key give the same pseudonym (joins still work); another
    key gives another; without the key a dictionary cannot be hashed. The HMAC
    key is the master key's ``"pseudonym"`` derivation (:func:`~labkit.topics.phi.keys.derive_key`), and it
    reaches Spark as data (:func:`~labkit.topics.phi.keys.secret_column`), so no plan, UI page or error
    message prints it. Needs an active SparkSession.

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

    secret = secret_column(derive_key("pseudonym", key))
    return F.when(col.isNull(), None).otherwise(
        F.lower(F.hex(F.hmac(secret, col.cast("string"), F.lit("SHA256")))))


def pseudonym_udf(key: str | bytes | None = None):
    """The same keyed pseudonym as :func:`pseudonym`, as a Python UDF: every row goes to a Python worker and back.

    Only for comparison: the notebook times it against the built-in ``hmac``.
    """
    from pyspark.sql import functions as F

    secret = derive_key("pseudonym", key)

    def digest(value):
        import hashlib
        import hmac

        return None if value is None else hmac.new(secret, str(value).encode(), hashlib.sha256).hexdigest()

    return F.udf(digest, "string")


def guide_mask_name(col):
    """The guide's name masking, as written: unsalted ``sha2(name, 256)``. Reversed by :func:`dictionary_attack`."""
    from pyspark.sql import functions as F

    return F.sha2(col.cast("string"), 256)


def generalize_date(col, name: str = "a date column"):
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


def require_dates(df, columns: Sequence[str], what: str = "require_dates") -> None:
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


def shift_dates(df, id_col: str, date_cols: Sequence[str], key: str | bytes | None = None, max_days: int = 180):
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


def token_encrypt(col, key: str | bytes | None = None, mode: str = "GCM", aad: str | None = None):
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


def token_decrypt(col, key: str | bytes | None = None, mode: str = "GCM", aad: str | None = None):
    """The value back from :func:`token_encrypt`; null for a token made with another key or another ``aad``.

    The key is checked exactly as :func:`token_encrypt` checks it (a missing or
    short key is an error, not a column of nulls).
    """
    from pyspark.sql import functions as F

    args = _aes_args(mode, aad)
    secret = secret_column(derive_key("aes-token", key))
    return F.try_aes_decrypt(F.unbase64(col), secret, *args).cast("string")
