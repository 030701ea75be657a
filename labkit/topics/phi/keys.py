"""Secret keys: where they come from, how long they must be, one key per purpose, and how one reaches Spark.

The master key (a parameter or ``LABKIT_PHI_KEY``) never reaches Spark. Each
policy derives its own key from it with HKDF (RFC 5869, HMAC-SHA256) and a
purpose label, so the HMAC pseudonyms, the date shifts and the AES tokens do not
share a key. A derived key reaches Spark as *data*, a one-row DataFrame read by
a scalar subquery (:func:`secret_column`), never as a literal: a literal is
printed by ``explain()``, by the SQL tab of the Spark UI and its REST API (the
plan :func:`labkit.core.measure.measure` keeps) and by analysis errors, and the
UI has no login. :func:`key_id` names a key without revealing it, so a release
can record which key made it and a rotated key is noticed before joins break.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import TYPE_CHECKING

from labkit.topics.phi._spec import PHIKeyError

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession

__all__ = ["MIN_KEY_BYTES", "PURPOSES", "derive_key", "key_id", "parquet_kms_available", "phi_key",
           "require_key_id", "run_key", "secret_column"]

MIN_KEY_BYTES = 32  # RFC 2104 section 3: a key shorter than the hash output (32 bytes for SHA-256) is weaker
PURPOSES = ("pseudonym", "date-shift", "aes-token", "key-id")  # the HKDF info labels this package derives keys for
_INFO = b"labkit/phi/v1/"  # prefix of every HKDF info label: a new scheme gets a new version, not the same keys


def phi_key(key: str | bytes | None = None) -> str | bytes:
    """The master secret key: ``key`` if given, else ``LABKIT_PHI_KEY``; checked, never printed.

    Parameters
    ----------
    key : str or bytes, optional
        The master key. Without it, the ``LABKIT_PHI_KEY`` environment variable.

    Returns
    -------
    str or bytes
        The key as given.

    Raises
    ------
    PHIKeyError
        When there is no key, or when it is shorter than :data:`MIN_KEY_BYTES` (32) bytes. The message names
        the rule and the key's length, never the key.
    """
    source = "key"
    if key is None:
        key, source = os.environ.get("LABKIT_PHI_KEY"), "LABKIT_PHI_KEY"
    if not key:
        raise PHIKeyError("a keyed PHI policy needs a secret key: pass key=... or set LABKIT_PHI_KEY (keep it out of "
                          "the code and the notebook, e.g. in a secrets manager)")
    size = len(_as_bytes(key))
    if size < MIN_KEY_BYTES:
        raise PHIKeyError(f"the PHI key ({source}) is {size} bytes; it must be at least {MIN_KEY_BYTES} bytes "
                          "(RFC 2104: an HMAC key no shorter than the hash output, 32 bytes for SHA-256). "
                          "Generate one with secrets.token_hex(32)")
    return key


def _as_bytes(key: str | bytes) -> bytes:
    """The key's bytes (UTF-8 for a str)."""
    return key.encode() if isinstance(key, str) else bytes(key)


def _hkdf(ikm: bytes, info: bytes, length: int = 32, salt: bytes = b"") -> bytes:
    """HKDF-SHA256 (RFC 5869): extract a pseudorandom key from ``ikm``, expand it to ``length`` bytes for ``info``."""
    if not 0 < length <= 255 * 32:
        raise ValueError(f"HKDF-SHA256 gives 1 to {255 * 32} bytes, not {length}")
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    block, out = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
    return out[:length]


def derive_key(purpose: str, key: str | bytes | None = None) -> bytes:
    """The 32-byte key for one purpose, derived from the master key with HKDF-SHA256 (RFC 5869).

    Parameters
    ----------
    purpose : str
        One of :data:`PURPOSES`: ``"pseudonym"`` (HMAC), ``"date-shift"``, ``"aes-token"``, ``"key-id"``.
    key : str or bytes, optional
        The master key (:func:`phi_key` rules apply).

    Returns
    -------
    bytes
        32 bytes. A different purpose gives an unrelated key, and none of them reveals the master key.

    Raises
    ------
    ValueError
        For an unknown purpose.
    PHIKeyError
        For a missing or short master key.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}: one of {', '.join(PURPOSES)}")
    return _hkdf(_as_bytes(phi_key(key)), _INFO + purpose.encode())


def key_id(key: str | bytes | None = None) -> str:
    """A short public name of the master key: 8 hex characters of its HKDF ``key-id`` derivation.

    Record it with a release. Another key gives another id, so a rotated key is
    noticed (:func:`require_key_id`) before pseudonyms silently stop joining.
    The id cannot be turned back into the key.

    Parameters
    ----------
    key : str or bytes, optional
        The master key (:func:`phi_key` rules apply).

    Returns
    -------
    str
    """
    return derive_key("key-id", key)[:4].hex()


def require_key_id(expected: str, key: str | bytes | None = None) -> None:
    """Stop unless the master key is the one whose :func:`key_id` a release recorded.

    Parameters
    ----------
    expected : str
        The key id the earlier release recorded.
    key : str or bytes, optional
        The master key now in use.

    Raises
    ------
    PHIKeyError
        When the ids differ: the key was rotated, and new pseudonyms will not join the old ones.
    """
    now = key_id(key)
    if not hmac.compare_digest(now, expected):
        raise PHIKeyError(f"the PHI key's id is {now}, the release was made with key id {expected}: the key was "
                          "rotated or is the wrong one, so new pseudonyms and date shifts will not match the old "
                          "ones. Re-key the whole release, or use the key it was made with")


def secret_column(secret: bytes, spark: SparkSession | None = None) -> Column:
    """A derived key as a Spark Column that is data, not a literal: a scalar subquery over a one-row DataFrame.

    ``F.lit(key)`` puts the key into every plan string (``explain()``, the Spark
    UI's SQL tab and REST API, analysis errors). A scalar subquery shows only
    ``scalar-subquery#n`` and a scan of an in-memory relation whose rows plans do
    not print.

    Parameters
    ----------
    secret : bytes
        A derived key (:func:`derive_key`).
    spark : SparkSession, optional
        The active session by default.

    Returns
    -------
    pyspark.sql.Column
        A binary column; Spark runs the subquery once per query.
    """
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.active()
    return spark.createDataFrame([(bytearray(secret),)], "k binary").scalar()


def run_key() -> str:
    """``LABKIT_PHI_KEY`` if set (checked by :func:`phi_key`); otherwise a random 32-byte key for this run only.

    Pseudonyms then differ between runs, which is what a demo wants and a data
    release does not. The key is never printed; record :func:`key_id` instead.
    """
    import secrets
    import warnings

    if os.environ.get("LABKIT_PHI_KEY"):
        return phi_key()
    warnings.warn("LABKIT_PHI_KEY is not set: using a random key for this run only", stacklevel=2)
    return secrets.token_hex(32)


def parquet_kms_available(spark: SparkSession) -> bool:
    """Whether an in-memory KMS client for Parquet modular encryption is on the JVM's classpath.

    Parquet's columnar encryption (``parquet.crypto.factory.class``) needs a KMS
    client class. The pyspark wheel ships the crypto factory and the abstract
    ``LocalWrapKmsClient``, but no concrete in-memory KMS (that one lives in
    parquet-hadoop's test jar), so without an extra JAR this returns False.
    """
    from labkit.core import runtime

    name = "org.apache.parquet.crypto.keytools.mocks.InMemoryKMS"
    if runtime.is_connect(spark):  # ask the server's JVM: Class.forName through SQL's reflect()
        try:
            spark.sql(f"SELECT reflect('java.lang.Class', 'forName', '{name}')").collect()
            return True
        except Exception as exc:  # noqa: BLE001 - ClassNotFoundException arrives wrapped in a SparkException
            if "ClassNotFoundException" in str(exc) or "InvocationTargetException" in str(exc):
                return False
            raise
    from py4j.protocol import Py4JJavaError

    try:
        spark._jvm.java.lang.Class.forName(name)
        return True
    except Py4JJavaError:
        return False
