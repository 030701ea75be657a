"""HIPAA Safe Harbor (45 CFR 164.514(b)(2)): every identifier removed or transformed; free text redacted.

What Safe Harbor requires and no function over columns can enforce is listed in
:data:`labkit.topics.phi.NOT_ENFORCED` (geographic units smaller than a state other than street, city
and ZIP, such as county and precinct; identifiers of relatives, employers and
household members; the condition that the covered entity has no actual knowledge
that what remains could identify the person). A release built with
:func:`deidentify_safe_harbor` still needs those checked by a person.

Values are validated before anything is built: a bad birth date (``1950-02-30``),
age or ZIP stops the release with an error naming the column and the number of
bad rows, never the value (Spark's ANSI cast errors quote the value, so every
cast here is a ``try_cast`` after that check).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from labkit.core.args import positive_int, require_columns
from labkit.topics.phi._spec import _DROP, _TEXT_PATTERNS, KINDS, RESTRICTED_ZIP3
from labkit.topics.phi.leaks import scan_for_phi
from labkit.topics.phi.masking import generalize_date

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["deidentify_safe_harbor", "k_anonymity", "k_ladder", "redact_text"]

_DATE_TYPES = ("date", "timestamp", "timestamp_ntz")
_INTEGRAL = ("tinyint", "smallint", "int", "bigint")
_ZIP_TEXT = r"^\d{1,5}$|^\d{5}-?\d{4}$"  # a ZIP (leading zeros possibly lost) or a ZIP+4
# the row's own identifiers redacted from its free text, longest kinds first (a street holds a city's name)
_TEXT_KINDS = ("street", "email", "url", "record_id", "account", "license", "vehicle", "device", "ssn", "phone",
               "fax", "ip", "name", "city", "geo", "zip")


def _restricted(restricted_zip3: Iterable[str] | None) -> tuple[str, ...]:
    """The restricted ZIP3 list to use: the given one (3-digit strings) or :data:`RESTRICTED_ZIP3`."""
    if restricted_zip3 is None:
        return RESTRICTED_ZIP3
    zips = tuple(restricted_zip3)
    bad = [z for z in zips if not (isinstance(z, str) and re.fullmatch(r"\d{3}", z))]
    if bad:
        raise ValueError(f"restricted_zip3 must hold 3-digit strings such as '036'; {len(bad)} entries are not")
    return zips


def _as_of(as_of: str | None) -> date:
    """``as_of`` as a date (today if None); a clear error for anything but an ISO date."""
    if as_of is None:
        return date.today()
    try:
        return date.fromisoformat(str(as_of))
    except ValueError:
        raise ValueError("as_of must be an ISO date (yyyy-mm-dd)") from None


def _zip5(col: Column, dtype: str) -> Column:
    """A ZIP as 5 characters: a number or short text left-padded with zeros (3601 -> 03601), a ZIP+4 cut to 5."""
    from pyspark.sql import functions as F

    if dtype != "string":
        return F.lpad(col.try_cast("long").cast("string"), 5, "0")
    text = F.trim(col)
    return F.when(text.rlike(r"^\d{1,5}$"), F.lpad(text, 5, "0")).when(text.rlike(_ZIP_TEXT), F.substring(text, 1, 5))


def _zip3(col: Column, dtype: str = "string", restricted: Sequence[str] = RESTRICTED_ZIP3) -> Column:
    """The first 3 digits of a 5-character ZIP, or 000 for a restricted prefix."""
    from pyspark.sql import functions as F

    z3 = F.substring(_zip5(col, dtype), 1, 3)
    return F.when(z3.isNull(), None).when(z3.isin(*restricted), F.lit("000")).otherwise(z3)


def _as_date(col: Column, dtype: str) -> Column:
    """A date column as is; text through ``try_cast`` (bad values were refused before)."""
    return col if dtype in _DATE_TYPES else col.try_cast("date")


def _top_code_birth(col: Column, as_of: date) -> Column:
    """Birth year as text, or ``90+`` when it implies an age over 89 at ``as_of`` (``col`` a date column)."""
    from pyspark.sql import functions as F

    age = F.floor(F.months_between(F.lit(as_of), col) / 12)
    return F.when(col.isNull(), None).when(age > 89, F.lit("90+")).otherwise(F.year(col).cast("string"))


def _top_code_age(col: Column) -> Column:
    """Age as text, or ``90+`` over 89 (bad values were refused before)."""
    from pyspark.sql import functions as F

    years = col.try_cast("int")
    return F.when(col.isNull(), None).when(years > 89, F.lit("90+")).otherwise(years.cast("string"))


def _bad_values(c: str, kind: str, dtype: str):
    """(Column counting the rows of ``c`` that cannot be read as ``kind``, what is wrong with them), or None."""
    from pyspark.sql import functions as F

    col = F.col(c)
    if kind in ("date", "birth_date") and dtype not in _DATE_TYPES:
        return F.sum((col.isNotNull() & col.try_cast("date").isNull()).cast("int")), "not valid ISO dates"
    if kind == "age" and dtype not in _INTEGRAL:
        return F.sum((col.isNotNull() & col.try_cast("int").isNull()).cast("int")), "not whole numbers of years"
    if kind == "zip" and dtype == "string":
        return (F.sum((col.isNotNull() & (F.trim(col) != "") & ~F.trim(col).rlike(_ZIP_TEXT)).cast("int")),
                "not 5-digit ZIPs or ZIP+4 codes")
    if kind == "zip":  # a number: leading zeros are lost, so only whole numbers 0..99999 can be padded back
        as_num = col.try_cast("double")
        bad = col.isNotNull() & (as_num.isNull() | (as_num < 0) | (as_num > 99999) | (as_num != F.floor(as_num)))
        return F.sum(bad.cast("int")), ("not whole numbers from 0 to 99999 (a numeric ZIP has lost its leading "
                                        "zeros; read the column as text)")
    return None


def _unlisted_age(c: str):
    """Count of values over 89 in a column of whole numbers 0..125 (an age by its content), else 0."""
    from pyspark.sql import functions as F

    col = F.col(c)
    return F.when((F.min(col) >= 0) & (F.max(col) <= 125), F.sum((col > 89).cast("int"))).otherwise(0)


def _check_values(df: DataFrame, spec: Mapping[str, str]) -> None:
    """One pass over the data: every value of a dated, age, ZIP or unlisted age-like column can be read safely."""

    types = dict(df.dtypes)
    checks, reasons = [], {}
    for c, kind in spec.items():
        found = _bad_values(c, kind, types[c])
        if found is not None:
            checks.append(found[0].alias(f"bad:{c}"))
            reasons[f"bad:{c}"] = f"column {c!r} ({kind}): {{n}} row(s) are {found[1]}"
    for c in df.columns:
        if c not in spec and types[c] in _INTEGRAL:
            checks.append(_unlisted_age(c).alias(f"age:{c}"))
            reasons[f"age:{c}"] = (f"column {c!r} is not in the spec but holds whole numbers 0..125 with {{n}} over "
                                   "89 (an age?); add it to the spec as 'age', or 'keep' if it is not one")
    if not checks:
        return
    row = df.agg(*checks).first().asDict()
    problems = [reasons[k].format(n=int(n)) for k, n in row.items() if n]
    if problems:
        raise ValueError("; ".join(problems))


def _check_spec(df: DataFrame, spec: Mapping[str, str]) -> None:
    """Every spec column exists and every kind is known."""
    missing = [c for c in spec if c not in df.columns]
    if missing:
        raise ValueError(f"the spec names column(s) {missing} that the data does not have; its columns: {df.columns}")
    unknown = {c: k for c, k in spec.items() if k not in KINDS}
    if unknown:
        raise ValueError(f"unknown identifier kind(s) {unknown}; the kinds are {', '.join(KINDS)}")


def _check_unlisted(df: DataFrame, spec: Mapping[str, str], scan_rows: int) -> None:
    """Refuse columns outside the spec that :func:`scan_for_phi` finds PHI in (by name or by content)."""
    unlisted = [c for c in df.columns if c not in spec]
    if not unlisted:
        return
    found = scan_for_phi(df.select(*unlisted), rows=scan_rows)
    flagged = found[found["phi"]]
    if not flagged.empty:
        raise ValueError(f"column(s) {list(flagged.index)} are not in the spec but look like PHI "
                         f"({'; '.join(f'{c}: {r}' for c, r in flagged['why'].items())}); add them to the spec "
                         "with their kind, or 'keep' if they are not identifiers")


def _transform(c: str, kind: str, dtype: str, spec: Mapping[str, str], as_of: date, restricted: Sequence[str]):
    """The released form of one column that is kept."""
    from pyspark.sql import functions as F

    col = F.col(c)
    if kind == "zip":
        return _zip3(col, dtype, restricted)
    if kind == "date":
        return generalize_date(_as_date(col, dtype))
    if kind == "birth_date":
        return _top_code_birth(_as_date(col, dtype), as_of)
    if kind == "age":
        return _top_code_age(col)
    if kind == "free_text":
        names = [F.col(o) for o, k in spec.items() if k == "name"]
        others = [(k.upper(), F.col(o)) for t in _TEXT_KINDS for o, k in spec.items() if k == t and k != "name"]
        return redact_text(col, names, others=others)
    return col


def deidentify_safe_harbor(df: DataFrame, spec: Mapping[str, str], as_of: str | None = None, scan_rows: int = 1000,
                           restricted_zip3: Iterable[str] | None = None) -> tuple[DataFrame, DataFrame]:
    """HIPAA Safe Harbor (45 CFR 164.514(b)(2)): remove or transform every identifier.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    spec : mapping of column to kind
        Kinds: the identifiers to remove (``name, ssn, email, phone, fax, street,
        city, geo, ip, device, url, vehicle, license, account, biometric, photo``;
        ``geo`` is any other place smaller than a state: county, precinct, tract,
        coordinates), ``record_id`` (replaced by a random study id), ``zip``
        (ZIP3, ``000`` for restricted prefixes; numbers and short text are read
        as 5-character ZIPs, ``3601`` as ``03601``), ``date`` (year only),
        ``birth_date`` (year, or ``90+``), ``age`` (``90+`` over 89),
        ``free_text`` (the row's own identifier values and the patterns of
        emails, record and account numbers, dates, phones, SSNs, IPs, ages over
        89 and any run of 7+ digits redacted) and ``keep`` (not an identifier).
        Relatives', employers' and household members' identifiers must be
        listed too: see :data:`NOT_ENFORCED`.
    as_of : str, optional
        The ISO date ages are judged at (today by default).
    scan_rows : int
        Rows :func:`scan_for_phi` reads from each column the spec does not name (at least 1).
    restricted_zip3 : iterable of str, optional
        The 3-digit ZIP prefixes released as ``000``; :data:`RESTRICTED_ZIP3`
        (2000 Census, :data:`RESTRICTED_ZIP3_VINTAGE`) by default. Pass a list
        built from newer Census data when there is one.

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
        Before anything is built: for a spec column the data lacks, an unknown
        kind, ``scan_rows`` < 1, a bad ``as_of`` or restricted list, values that
        cannot be read as their kind (the column and the row count are named,
        never a value), an unlisted column of ages with some over 89, or a column
        outside the spec in which :func:`scan_for_phi` finds PHI.
    """
    from pyspark.sql import functions as F

    _check_spec(df, spec)
    positive_int("scan_rows", scan_rows, 1)
    when, restricted = _as_of(as_of), _restricted(restricted_zip3)
    _check_values(df, spec)
    _check_unlisted(df, spec, scan_rows)
    ids = [c for c, k in spec.items() if k == "record_id"]
    keyed = df.withColumn("study_id", F.expr("uuid()")).localCheckpoint()  # fix the random ids once
    link = keyed.select("study_id", *ids)
    types = dict(df.dtypes)
    out = [F.col("study_id")]
    for c in df.columns:
        kind = spec.get(c, "keep")
        if kind in _DROP or kind == "record_id":
            continue
        out.append(_transform(c, kind, types[c], spec, when, restricted).alias(c))
    return keyed.select(*out), link


def _literal(value):
    """A case-insensitive Java regex matching ``value`` as whole words, with any whitespace between its words."""
    from pyspark.sql import functions as F

    escaped = F.regexp_replace(F.trim(value.cast("string")), r"([^\p{L}\p{N}\s])", r"\\$1")
    body = F.concat_ws(r"\s+", F.split(escaped, r"\s+"))
    return F.concat(F.lit(r"(?iu)(?<![\p{L}\p{N}])"), body, F.lit(r"(?![\p{L}\p{N}])"))


def redact_text(col: Column, also: Iterable = (), others: Iterable[tuple] = ()) -> Column:
    """Free text with the row's own identifier values removed, then emails, record and account numbers, IPs, dates,
    phones, SSNs, ages over 89 and any other run of 7+ digits replaced by a label (``[EMAIL]``, ``[RECORD_ID]``, ...).

    Parameters
    ----------
    col : pyspark.sql.Column
        The text.
    also : iterable of Column
        Columns whose values (the row's names) are replaced by ``[NAME]``, as whole
        words in any case and spacing.
    others : iterable of (str, Column)
        More of the row's values, each replaced by ``[LABEL]`` (e.g. ``("STREET", F.col("street"))``);
        redacted before the names.

    Returns
    -------
    pyspark.sql.Column
    """
    from pyspark.sql import functions as F

    out = col
    for label, other in [*others, *(("NAME", o) for o in also)]:
        # whole words only: "Frank" must not eat the start of "Franklin" and leave "lin" behind
        # an empty value matches nothing ("(?!)"); `out` appears once per step, so the plan grows linearly
        empty = other.isNull() | (F.length(F.trim(other.cast("string"))) == 0)
        pattern = F.when(empty, F.lit("(?!)")).otherwise(_literal(other))
        out = F.regexp_replace(out, pattern, F.lit(f"[{label}]"))
    for label, pattern in _TEXT_PATTERNS:
        out = F.regexp_replace(out, pattern, f"[{label}]")
    return out


def k_anonymity(df: DataFrame, quasi_identifiers: Sequence[str], smallest: int = 5) -> tuple[int, pd.DataFrame]:
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


def k_ladder(df: DataFrame, zip_col: str, birth_col: str, gender_col: str, as_of: str, target: int = 5,
             restricted_zip3: Iterable[str] | None = None) -> pd.DataFrame:
    """k-anonymity at ever coarser generalisations of (ZIP, birth date, gender), until k reaches ``target``.

    The levels: the raw values; Safe Harbor's (ZIP3, birth year, gender); then
    5- and 10-year birth bands; then the first ZIP digit. Ages over 89 are one
    "90+" class at every level, as Safe Harbor requires. ZIPs and birth dates
    are validated first, as in :func:`deidentify_safe_harbor`.

    Returns
    -------
    pandas.DataFrame
        One row per level tried: ``level``, ``k``, ``classes`` and ``meets_target``.
    """
    from pyspark.sql import functions as F

    require_columns(df, [zip_col, birth_col, gender_col])
    when, restricted = _as_of(as_of), _restricted(restricted_zip3)
    _check_values(df.select(zip_col, birth_col), {zip_col: "zip", birth_col: "birth_date"})
    types = dict(df.dtypes)
    born = _as_date(F.col(birth_col), types[birth_col])
    age = F.floor(F.months_between(F.lit(when), born) / 12)
    year = F.year(born)
    zip3 = _zip3(F.col(zip_col), types[zip_col], restricted)

    def band(width):
        return F.when(age > 89, F.lit("90+")).otherwise((F.floor(year / width) * width).cast("string"))

    levels = {
        "raw: ZIP, birth date, gender": [F.col(zip_col), F.col(birth_col), F.col(gender_col)],
        "Safe Harbor: ZIP3, birth year (90+), gender": [zip3, band(1), F.col(gender_col)],
        "ZIP3, 5-year birth band, gender": [zip3, band(5), F.col(gender_col)],
        "ZIP3, 10-year birth band, gender": [zip3, band(10), F.col(gender_col)],
        "first ZIP digit, 10-year birth band, gender": [F.substring(zip3, 1, 1), band(10), F.col(gender_col)],
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
