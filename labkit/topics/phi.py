"""PHI de-identification that survives an attack: column policies, HIPAA Safe Harbor, detection, checks.

The guide hashes names with an unsalted ``sha2``. Anyone with a list of common
names hashes the list and looks the hashes up: :func:`dictionary_attack` does
exactly that. A keyed pseudonym (HMAC-SHA256 with a secret key, Spark 4's
built-in ``hmac``) resists it: without the key the list cannot be hashed.

Every policy is a plain function of Columns or DataFrames. Keys come from a
parameter or the ``LABKIT_PHI_KEY`` environment variable, never from the code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import pandas as pd

from labkit.core.args import require_columns

__all__ = [
    "GUIDE_IDENTIFIERS",
    "KINDS",
    "RESTRICTED_ZIP3",
    "SAFE_HARBOR_18",
    "PHIKeyError",
    "PHILeakError",
    "assert_no_phi",
    "deidentify_safe_harbor",
    "dictionary_attack",
    "generalize_date",
    "guide_mask_name",
    "k_anonymity",
    "k_ladder",
    "mask_email",
    "mask_phone",
    "mask_ssn",
    "parquet_kms_available",
    "phi_key",
    "run_key",
    "pseudonym",
    "pseudonym_udf",
    "redact_text",
    "scan_for_phi",
    "shift_dates",
    "token_decrypt",
    "token_encrypt",
    "validate_access_policy",
    "validate_retention",
]

# 45 CFR 164.514(b)(2)(i): the 18 identifiers, with the spec kinds this module treats them as
SAFE_HARBOR_18 = [
    ("A", "Names", ("name",)),
    ("B", "Geographic subdivisions smaller than a state (street, city, county, ZIP beyond 3 digits)",
     ("street", "city", "zip")),
    ("C", "All elements of dates (except year) directly related to an individual; ages over 89",
     ("date", "birth_date", "age")),
    ("D", "Telephone numbers", ("phone",)),
    ("E", "Fax numbers", ("fax",)),
    ("F", "Email addresses", ("email",)),
    ("G", "Social security numbers", ("ssn",)),
    ("H", "Medical record numbers", ("record_id",)),
    ("I", "Health plan beneficiary numbers", ("record_id",)),
    ("J", "Account numbers", ("account",)),
    ("K", "Certificate/license numbers", ("license",)),
    ("L", "Vehicle identifiers and serial numbers, including license plates", ("vehicle",)),
    ("M", "Device identifiers and serial numbers", ("device",)),
    ("N", "Web Universal Resource Locators (URLs)", ("url",)),
    ("O", "Internet Protocol (IP) address numbers", ("ip",)),
    ("P", "Biometric identifiers, including finger and voice prints", ("biometric",)),
    ("Q", "Full face photographic images and any comparable images", ("photo",)),
    ("R", "Any other unique identifying number, characteristic, or code", ("record_id", "free_text")),
]
# the guide's list of 22 "HIPAA identifiers", mapped to the official 18 (None: not an identifier of its own)
GUIDE_IDENTIFIERS = {
    "name": "A", "address": "B", "city": "B", "state": None, "zip": "B", "dates": "C", "phone": "D", "fax": "E",
    "email": "F", "ssn": "G", "medical_record_number": "H", "health_plan_number": "I", "account_number": "J",
    "certificate_number": "K", "license_number": "K", "vehicle_identifier": "L", "device_serial_number": "M",
    "url": "N", "ip_address": "O", "biometric_identifier": "P", "photo": "Q", "any_unique_identifier": "R",
}
# 3-digit ZIP prefixes whose population is 20,000 or fewer (HHS guidance, 2000 Census): reported as 000
RESTRICTED_ZIP3 = ("036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
                   "884", "890", "893")
_DROP = ("name", "ssn", "email", "phone", "fax", "street", "city", "ip", "device", "url", "vehicle", "license",
         "account", "biometric", "photo")
KINDS = (*_DROP, "record_id", "zip", "date", "birth_date", "age", "free_text", "keep")

_PATTERNS = {  # content detectors: a value matching one of these is likely PHI
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b|^\d{9}$",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": r"\(?\b\d{3}\)?[ .-]?\d{3}[ .-]\d{4}\b",
    "ip": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    "date": r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{4}\b",
    "record id": r"^[A-Z]{1,4}-?[0-9A-F]{6,}$",
}
_NAME_HINTS = re.compile(r"patient|member|_id$|^id$|name|ssn|social|e?mail|phone|fax|addr|street|city|zip|postal|"
                         r"dob|birth|mrn|record|plan|account|licen|vehicle|plate|device|serial|url|ip_?addr|biometric|photo|note|admission|"
                         r"discharge|death", re.I)


class PHIKeyError(ValueError):
    """The secret key a keyed policy needs is missing or empty."""


class PHILeakError(AssertionError):
    """Raw identifier values appear in data that should hold none."""


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


def redact_text(col, also: Iterable = ()):
    """Free text with SSNs, emails, phones, IPs and dates replaced by ``[REDACTED]``, and the ``also`` columns'
    values (the row's own names, for example) removed wherever they appear, in any case."""
    from pyspark.sql import functions as F

    out = col
    for name in ("ssn", "email", "phone", "ip", "date"):  # record ids in text are caught by the `also` columns
        out = F.regexp_replace(out, _PATTERNS[name].replace("^", "").replace("$", ""), f"[{name.upper()}]")
    for other in also:
        # whole words only: "Frank" must not eat the start of "Franklin" and leave "lin" behind
        quoted = F.concat(F.lit(r"(?i)\b\Q"), other.cast("string"), F.lit(r"\E\b"))
        out = F.when(other.isNull() | (F.length(other) == 0), out).otherwise(
            F.regexp_replace(out, quoted, F.lit("[NAME]")))
    return out


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


# --------------------------------------------------------------------------- Safe Harbor


def _zip3(col):
    """The first 3 digits of a ZIP, or 000 for a restricted prefix."""
    from pyspark.sql import functions as F

    z3 = F.substring(F.regexp_replace(col.cast("string"), r"[^0-9]", ""), 1, 3)
    return F.when(col.isNull(), None).when(z3.isin(*RESTRICTED_ZIP3) | (F.length(z3) < 3), F.lit("000")).otherwise(z3)


def _top_code_birth(col, as_of: str):
    """Birth year as text, or ``90+`` when it implies an age over 89 at ``as_of``."""
    from pyspark.sql import functions as F

    age = F.floor(F.months_between(F.lit(as_of).cast("date"), col.cast("date")) / 12)
    return F.when(col.isNull(), None).when(age > 89, F.lit("90+")).otherwise(F.year(col).cast("string"))


def _top_code_age(col):
    """Age as text, or ``90+`` over 89."""
    from pyspark.sql import functions as F

    return F.when(col.isNull(), None).when(col.cast("int") > 89, F.lit("90+")).otherwise(col.cast("int").cast("string"))


def _check_spec(df, spec: Mapping[str, str]) -> None:
    """Every spec column exists and every kind is known."""
    missing = [c for c in spec if c not in df.columns]
    if missing:
        raise ValueError(f"the spec names column(s) {missing} that the data does not have; its columns: {df.columns}")
    unknown = {c: k for c, k in spec.items() if k not in KINDS}
    if unknown:
        raise ValueError(f"unknown identifier kind(s) {unknown}; the kinds are {', '.join(KINDS)}")


def deidentify_safe_harbor(df, spec: Mapping[str, str], as_of: str | None = None, scan_rows: int = 1000):
    """HIPAA Safe Harbor (45 CFR 164.514(b)(2)): remove or transform every identifier.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    spec : mapping of column to kind
        Kinds: the identifiers to remove (``name, ssn, email, phone, fax, street,
        city, ip, device, url, vehicle, license, account, biometric, photo``),
        ``record_id`` (replaced by a random study id), ``zip`` (ZIP3, ``000`` for
        restricted prefixes), ``date`` (year only), ``birth_date`` (year, or
        ``90+``), ``age`` (``90+`` over 89), ``free_text`` (patterns and the row's
        name columns redacted) and ``keep`` (not an identifier).
    as_of : str, optional
        The date ages are judged at (today by default).
    scan_rows : int
        Rows :func:`scan_for_phi` reads from each column the spec does not name.

    Returns
    -------
    (pyspark.sql.DataFrame, pyspark.sql.DataFrame)
        The de-identified data, with ``study_id`` first; and the link table
        (``study_id`` and the original record ids), to be stored apart. Study
        ids are random (``uuid()``), never derived from an identifier, as
        §164.514(c) requires of a re-identification code; the link table is
        materialised here so the ids are fixed.

    Raises
    ------
    ValueError
        For a spec column the data lacks, an unknown kind, or a column outside
        the spec in which :func:`scan_for_phi` finds PHI (named in the message).
    """
    from pyspark.sql import functions as F

    _check_spec(df, spec)
    as_of = as_of or date.today().isoformat()
    unlisted = [c for c in df.columns if c not in spec]
    if unlisted:
        found = scan_for_phi(df.select(*unlisted), rows=scan_rows)
        flagged = found[found["phi"]]
        if not flagged.empty:
            raise ValueError(f"column(s) {list(flagged.index)} are not in the spec but look like PHI "
                             f"({'; '.join(f'{c}: {r}' for c, r in flagged['why'].items())}); add them to the spec "
                             "with their kind, or 'keep' if they are not identifiers")
    ids = [c for c, k in spec.items() if k == "record_id"]
    names = [F.col(c) for c, k in spec.items() if k == "name"]
    keyed = df.withColumn("study_id", F.expr("uuid()")).localCheckpoint()  # fix the random ids once
    link = keyed.select("study_id", *ids)
    out = [F.col("study_id")]
    for c in df.columns:
        kind = spec.get(c, "keep")
        if kind in _DROP or kind == "record_id":
            continue
        transform = {"zip": _zip3, "date": generalize_date, "age": _top_code_age,
                     "birth_date": lambda x: _top_code_birth(x, as_of),
                     "free_text": lambda x: redact_text(x, names)}.get(kind, lambda x: x)
        out.append(transform(F.col(c)).alias(c))
    return keyed.select(*out), link


# --------------------------------------------------------------------------- detection and checks


def scan_for_phi(df, rows: int = 1000, truth: Iterable[str] | None = None, min_share: float = 0.2) -> pd.DataFrame:
    """Find likely PHI columns by name and by content (SSN, email, phone, IP and date patterns, common names).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    rows : int
        Rows read (a sample from the start of the data).
    truth : iterable of str, optional
        The columns that really hold PHI; adds ``precision`` and ``recall`` to ``attrs``.
    min_share : float
        Share of non-null values that must match a content detector.

    Returns
    -------
    pandas.DataFrame
        Indexed by column: ``by_name``, ``by_content`` (the detector with the
        largest share, and that share), ``phi`` and ``why``.
    """
    from labkit.core.datagen import _faker_lists

    sample = df.limit(rows).toPandas()
    names = {n.lower() for n in (*_faker_lists()["first"], *_faker_lists()["last"])}
    out = []
    for c in sample.columns:
        values = sample[c].dropna().astype(str)
        shares = {k: values.str.contains(p, regex=True).mean() if len(values) else 0.0 for k, p in _PATTERNS.items()}
        words = values.str.findall(r"[A-Za-z']+")
        shares["name"] = words.map(lambda ws: any(w.lower() in names for w in ws)).mean() if len(values) else 0.0
        best = max(shares, key=shares.get)
        by_name = bool(_NAME_HINTS.search(c))
        by_content = shares[best] >= min_share
        why = ", ".join([*(["its name"] if by_name else []), *([f"{shares[best]:.0%} of values look like {best}"]
                                                                 if by_content else [])])
        out.append({"column": c, "by_name": by_name, "by_content": best if by_content else "",
                    "share": round(float(shares[best]), 3), "phi": by_name or by_content, "why": why})
    table = pd.DataFrame(out).set_index("column")
    if truth is not None:
        truth, found = set(truth), set(table.index[table["phi"]])
        table.attrs["precision"] = len(found & truth) / len(found) if found else 1.0
        table.attrs["recall"] = len(found & truth) / len(truth) if truth else 1.0
    return table


_SPLIT = r"[\s,;:()\[\]\"'<>]+"
_TRIM = r"^[.\-]+|[.\-]+$"


def assert_no_phi(df, originals, columns: Sequence[str] | None = None, min_length: int = 4,
                  max_tokens: int = 8) -> pd.DataFrame:
    """Fail if any raw identifier value of ``originals`` appears anywhere in ``df``, free text included.

    Each identifier value is looked for as a whole cell and inside text
    (matched on its longest token, then checked as a substring), in lower case.
    Dates are also looked for as ``MM/dd/yyyy``. A value of more than
    ``max_tokens`` words is free text, not an identifier: it is searched *in*,
    not *for* (the identifiers inside it are checked through their own columns).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The data to check (every column, cast to text).
    originals : pyspark.sql.DataFrame
        The raw data.
    columns : sequence of str, optional
        The identifier columns of ``originals`` (all of them by default).
    min_length : int
        Values shorter than this are not checked (``"F"``, ``"1"``) and are counted.
    max_tokens : int
        Values with more words than this are not looked for, and are counted.

    Returns
    -------
    pandas.DataFrame
        Per identifier column: ``values`` checked, ``not_checked`` (too short or free text) and ``leaked`` (all zero).

    Raises
    ------
    PHILeakError
        Naming each column with leaked values, how many, and where they appeared.
    """
    from pyspark.sql import functions as F

    cols = require_columns(originals, list(columns) if columns is not None else originals.columns, "identifier")
    raws = []
    for c in cols:
        value = F.lower(F.col(c).cast("string"))
        raws.append(originals.select(F.lit(c).alias("source"), value.alias("value")))
        if dict(originals.dtypes)[c] in ("date", "timestamp"):
            raws.append(originals.select(F.lit(c).alias("source"), F.date_format(c, "MM/dd/yyyy").alias("value")))
    raw = raws[0]
    for more in raws[1:]:
        raw = raw.unionByName(more)
    raw = raw.where(F.col("value").isNotNull()).distinct()
    words = F.filter(F.transform(F.split("value", _SPLIT), lambda t: F.regexp_replace(t, _TRIM, "")),
                     lambda t: F.length(t) > 0)
    raw = raw.withColumn("checked", (F.length("value") >= min_length) & (F.size(words) <= max_tokens))
    # the join key is the value's longest token: rare, unlike a first word such as "Pt" that every note shares
    longest = F.aggregate(words, F.lit(""), lambda acc, t: F.when(F.length(t) > F.length(acc), t).otherwise(acc))
    needles = raw.where("checked").withColumn("first", longest)
    cells = None
    for c in df.columns:
        part = df.select(F.lit(c).alias("column"), F.lower(F.col(c).cast("string")).alias("text"))
        cells = part if cells is None else cells.unionByName(part)
    tokens = (cells.where(F.col("text").isNotNull()).select("column", "text", F.explode(F.split("text", _SPLIT))
              .alias("token")).withColumn("token", F.regexp_replace("token", _TRIM, "")))
    hits = tokens.join(F.broadcast(needles) if needles.count() < 200_000 else needles,
                       F.col("token") == F.col("first")).where(F.instr("text", F.col("value")) > 0)
    leaked = hits.groupBy("source").agg(F.countDistinct("value").alias("leaked"),
                                        F.collect_set("column").alias("found_in")).toPandas().set_index("source")
    counts = raw.groupBy("source").agg(F.sum(F.col("checked").cast("int")).alias("values"),
                                       F.sum((~F.col("checked")).cast("int")).alias("not_checked")).toPandas()
    report = counts.set_index("source").join(leaked, how="left").fillna({"leaked": 0})
    report["leaked"] = report["leaked"].astype(int)
    bad = report[report["leaked"] > 0]
    if not bad.empty:
        raise PHILeakError("raw identifiers leaked: " + "; ".join(
            f"{c}: {int(r['leaked'])} value(s), found in {sorted(r['found_in'])}" for c, r in bad.iterrows()))
    return report.drop(columns="found_in", errors="ignore")


def k_anonymity(df, quasi_identifiers: Sequence[str], smallest: int = 5) -> tuple[int, pd.DataFrame]:
    """k: the size of the smallest group of rows sharing the quasi-identifiers, and the smallest groups.

    Returns
    -------
    (int, pandas.DataFrame)
        k (0 for empty data) and the ``smallest`` groups with their sizes.
    """
    from pyspark.sql import functions as F

    qi = require_columns(df, list(quasi_identifiers), "quasi-identifier")
    groups = df.groupBy(*qi).count()
    low = groups.orderBy("count", *qi).limit(smallest).toPandas()
    k = groups.agg(F.min("count")).first()[0]
    return int(k or 0), low


def k_ladder(df, zip_col: str, birth_col: str, gender_col: str, as_of: str, target: int = 5) -> pd.DataFrame:
    """k-anonymity at ever coarser generalisations of (ZIP, birth date, gender), until k reaches ``target``.

    The levels: the raw values; Safe Harbor's (ZIP3, birth year, gender); then
    5- and 10-year birth bands; then the first ZIP digit. Ages over 89 are one
    "90+" class at every level, as Safe Harbor requires.

    Returns
    -------
    pandas.DataFrame
        One row per level tried: ``level``, ``k``, ``classes`` and ``meets_target``.
    """
    from pyspark.sql import functions as F

    require_columns(df, [zip_col, birth_col, gender_col])
    age = F.floor(F.months_between(F.lit(as_of).cast("date"), F.col(birth_col).cast("date")) / 12)
    year = F.year(birth_col)

    def band(width):
        return F.when(age > 89, F.lit("90+")).otherwise((F.floor(year / width) * width).cast("string"))

    levels = {
        "raw: ZIP, birth date, gender": [F.col(zip_col), F.col(birth_col), F.col(gender_col)],
        "Safe Harbor: ZIP3, birth year (90+), gender": [_zip3(F.col(zip_col)), band(1), F.col(gender_col)],
        "ZIP3, 5-year birth band, gender": [_zip3(F.col(zip_col)), band(5), F.col(gender_col)],
        "ZIP3, 10-year birth band, gender": [_zip3(F.col(zip_col)), band(10), F.col(gender_col)],
        "first ZIP digit, 10-year birth band, gender": [F.substring(_zip3(F.col(zip_col)), 1, 1), band(10),
                                                        F.col(gender_col)],
    }
    rows = []
    for level, cols in levels.items():
        frame = df.select(*[c.alias(f"q{i}") for i, c in enumerate(cols)])
        k, _ = k_anonymity(frame, frame.columns)
        classes = frame.distinct().count()
        rows.append({"level": level, "k": k, "classes": classes, "meets_target": k >= target})
        if k >= target:
            break
    return pd.DataFrame(rows)


def dictionary_attack(df, column: str, candidates: Iterable[str], hash_fn=None) -> dict:
    """Reverse hashed values by hashing a list of likely values and joining: what an attacker does.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    column : str
        The hashed column.
    candidates : iterable of str
        Guesses, e.g. Faker's lists of common first names.
    hash_fn : callable, optional
        Column -> Column, the hash to try; the guide's unsalted ``sha2(x, 256)`` by default.
        An attacker without the key cannot try a keyed hash.

    Returns
    -------
    dict
        ``hashes`` (distinct values), ``recovered`` (how many were reversed), ``fraction`` and ``examples``.
    """
    from pyspark.sql import functions as F

    require_columns(df, column)
    hash_fn = hash_fn or guide_mask_name
    spark = df.sparkSession
    guesses = spark.createDataFrame([(c,) for c in set(candidates)], "guess string").select(
        "guess", hash_fn(F.col("guess")).alias("h"))
    targets = df.select(F.col(column).alias("h")).where("h is not null").distinct()
    matched = targets.join(F.broadcast(guesses), "h")
    total, recovered = targets.count(), matched.select("h").distinct().count()
    return {"hashes": total, "recovered": recovered, "fraction": recovered / total if total else 0.0,
            "examples": [r["guess"] for r in matched.limit(3).collect()]}


# --------------------------------------------------------------------------- access control and retention, as data


def validate_access_policy(policy: Mapping) -> list[str]:
    """Check that an IAM policy document parses and is well formed; return what is risky in it.

    Raises
    ------
    ValueError
        For a missing Version or Statement, a statement without Effect, Action or Resource, or an unknown Effect.
    """
    if policy.get("Version") != "2012-10-17":
        raise ValueError(f"an IAM policy needs Version '2012-10-17', got {policy.get('Version')!r}")
    statements = policy.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise ValueError("an IAM policy needs a non-empty Statement list")
    notes = []
    for i, st in enumerate(statements):
        for field in ("Effect", "Action", "Resource"):
            if field not in st:
                raise ValueError(f"statement {i + 1} has no {field}")
        if st["Effect"] not in ("Allow", "Deny"):
            raise ValueError(f"statement {i + 1}: Effect must be Allow or Deny, got {st['Effect']!r}")
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        if any(a.endswith("*") for a in actions):
            notes.append(f"statement {i + 1} allows a wildcard action: {actions}")
        if st["Resource"] == "*":
            notes.append(f"statement {i + 1} applies to every resource")
        if "Condition" not in st:
            notes.append(f"statement {i + 1} has no condition (no network or tag restriction)")
    return notes


def validate_retention(rules: Mapping, years: int = 6) -> list[str]:
    """Check a lifecycle configuration keeps data at least ``years`` years; return its problems as text.

    The S3 API spells a rule's id ``ID``; boto3 rejects ``Id`` (the guide's spelling) before the request is sent.
    """
    from labkit.core.lifecycle import validate_lifecycle

    problems = []
    for rule in rules.get("Rules", []):
        if "Id" in rule and "ID" not in rule:
            problems.append(f"rule {rule['Id']!r} spells its id 'Id'; S3 expects 'ID' (boto3 rejects the request)")
    fixed = {"Rules": [{("ID" if k == "Id" else k): v for k, v in r.items()} for r in rules.get("Rules", [])]}
    problems += validate_lifecycle(fixed)
    for rule in fixed["Rules"]:
        days = rule.get("Expiration", {}).get("Days")
        if days is not None and days < years * 365:
            problems.append(f"rule {rule.get('ID')!r} deletes data after {days} days, under {years} years")
    return problems
