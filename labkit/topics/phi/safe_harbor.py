"""HIPAA Safe Harbor (45 CFR 164.514(b)(2)): every identifier removed or transformed; free text redacted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import pandas as pd

from labkit.core.args import require_columns
from labkit.topics.phi._spec import _DROP, _PATTERNS, KINDS, RESTRICTED_ZIP3
from labkit.topics.phi.leaks import scan_for_phi
from labkit.topics.phi.masking import generalize_date

__all__ = ["deidentify_safe_harbor", "k_anonymity", "k_ladder", "redact_text"]


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
