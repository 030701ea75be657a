"""Secret keys: where they come from, and whether Parquet encryption can use one here."""

from __future__ import annotations

import os

from labkit.topics.phi._spec import PHIKeyError

__all__ = ["parquet_kms_available", "phi_key", "run_key"]


def phi_key(key: str | None = None) -> str:
    """The secret key: ``key`` if given, else ``LABKIT_PHI_KEY``; a missing or empty key is an error."""
    key = key if key is not None else os.environ.get("LABKIT_PHI_KEY")
    if not key:
        raise PHIKeyError("a keyed PHI policy needs a secret key: pass key=... or set LABKIT_PHI_KEY (keep it out of "
                          "the code and the notebook, e.g. in a secrets manager)")
    return key


def run_key() -> str:
    """``LABKIT_PHI_KEY`` if set; otherwise a random 32-byte key for this run only (pseudonyms then differ between
    runs, which is what a demo wants and a data release does not). The key is never printed."""
    import secrets
    import warnings

    if os.environ.get("LABKIT_PHI_KEY"):
        return os.environ["LABKIT_PHI_KEY"]
    warnings.warn("LABKIT_PHI_KEY is not set: using a random key for this run only", stacklevel=2)
    return secrets.token_hex(16)


def parquet_kms_available(spark) -> bool:
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
