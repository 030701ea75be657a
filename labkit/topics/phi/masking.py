"""Column policies: masks, keyed pseudonyms, date shifts and AES tokens (plain Column/DataFrame functions)."""

from __future__ import annotations

from collections.abc import Sequence

from labkit.core.args import require_columns
from labkit.topics.phi._spec import PHIKeyError
from labkit.topics.phi.keys import phi_key

__all__ = ["generalize_date", "guide_mask_name", "mask_email", "mask_phone",
           "mask_ssn", "pseudonym", "pseudonym_udf", "shift_dates", "token_decrypt", "token_encrypt"]

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


def pseudonym(col, key: str | None = None):
    """A keyed pseudonym: hex HMAC-SHA256 of the value (Spark's built-in ``hmac``, no UDF).

    The same value and key give the same pseudonym (joins still work); another
    key gives another; without the key a dictionary cannot be hashed.
    """
    from pyspark.sql import functions as F

    return F.when(col.isNull(), None).otherwise(
        F.lower(F.hex(F.hmac(F.lit(phi_key(key)), col.cast("string"), F.lit("SHA256")))))


def pseudonym_udf(key: str | None = None):
    """The same keyed pseudonym as :func:`pseudonym`, as a Python UDF: every row goes to a Python worker and back.

    Only for comparison: the notebook times it against the built-in ``hmac``.
    """
    from pyspark.sql import functions as F

    secret = phi_key(key).encode()

    def digest(value):
        import hashlib
        import hmac

        return None if value is None else hmac.new(secret, str(value).encode(), hashlib.sha256).hexdigest()

    return F.udf(digest, "string")


def guide_mask_name(col):
    """The guide's name masking, as written: unsalted ``sha2(name, 256)``. Reversed by :func:`dictionary_attack`."""
    from pyspark.sql import functions as F

    return F.sha2(col.cast("string"), 256)


def generalize_date(col):
    """The year only (an int): the one date element Safe Harbor keeps."""
    from pyspark.sql import functions as F

    return F.year(col)


def shift_dates(df, id_col: str, date_cols: Sequence[str], key: str | None = None, max_days: int = 180):
    """Shift every date of a patient by the same secret offset (-max_days..max_days): intervals survive.

    Right for a study that needs lengths of stay or time to readmission inside
    a trusted environment; it is *not* Safe Harbor, which keeps the year only.
    The offset is keyed (HMAC of the patient id), so it cannot be recomputed
    without the key, and it is the same in every table of one release.
    """
    from pyspark.sql import functions as F

    require_columns(df, [id_col, *date_cols])
    digest = F.conv(F.substring(F.hex(F.hmac(F.lit(phi_key(key)), df[id_col].cast("string"), F.lit("SHA256"))), 1, 8),
                    16, 10).cast("long")
    offset = (F.pmod(digest, F.lit(2 * max_days + 1)) - max_days).cast("int")
    return df.select(*[F.date_add(F.col(c), offset).alias(c) if c in date_cols else F.col(c) for c in df.columns])



def token_encrypt(col, key: str | None = None, mode: str = "GCM"):
    """A reversible token: base64 of ``aes_encrypt``. GCM is randomised (equal values, different tokens: not
    joinable); ECB is deterministic and joinable, and so leaks which rows are equal. Key: 16, 24 or 32 bytes."""
    from pyspark.sql import functions as F

    k = phi_key(key)
    if len(k.encode()) not in (16, 24, 32):
        raise PHIKeyError(f"AES needs a key of 16, 24 or 32 bytes, got {len(k.encode())}")
    if mode not in ("GCM", "ECB", "CBC"):
        raise ValueError(f"mode must be GCM, CBC or ECB, got {mode!r}")
    return F.base64(F.aes_encrypt(col.cast("string"), F.lit(k), F.lit(mode)))


def token_decrypt(col, key: str | None = None, mode: str = "GCM"):
    """The value back from :func:`token_encrypt` (null for a token made with another key)."""
    from pyspark.sql import functions as F

    return F.try_aes_decrypt(F.unbase64(col), F.lit(phi_key(key)), F.lit(mode)).cast("string")
