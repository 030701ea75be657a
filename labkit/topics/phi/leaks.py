"""Detection and checks: the PHI scan, the leak check and the dictionary attack.

The leak check's design, and what it does not cover
---------------------------------------------------
Both sides are put into one form by the same Python function (:func:`_fold`):
Unicode NFKD with accents removed, case-folded, NFKC, whitespace collapsed. Spark
4.3 has no Unicode normalisation function, so this runs as a pandas UDF: on
the executors, for the output as for the originals (one pass over both), so
neither side is ever collected to the driver.

A text becomes *words* (split on whitespace and ``, ; : ( ) [ ] { } < > " ' ! ? |``,
with ``. - _ * # / + ~ = &`` trimmed from each end) and *digit windows* (every
maximal run of digits joined by up to 3 of ``space ( ) . - /``, not glued to a
letter or digit on either side nor joined by ``- . /`` to a group of letters and
digits such as a hex id's, nor inside a UUID, read as digits only, a decimal amount by its whole part;
every substring of 7 to 19 digits of it). An original value is found in an output cell when every word of
one of its *forms* is a word of that cell (any order, any spacing):

* its words of ``min_length`` or more characters (``John  Smith``, ``Smith, John``
  and ``JOHN\\nSMITH`` are one form);
* for a value that is a number with at most a short prefix (SSN, phone, record,
  account and plan numbers: ``123-45-6789``, ``+1 (555) 123-4567``,
  ``MRN-1234567``, ``Acct #123456789``) and 7 to 19 significant digits: its
  digits alone (an 11-digit number starting with 1 is looked for as its last
  10 digits, so ``+1`` does not hide a phone; an IPv4 address has no such form,
  since its digits alone spell amounts such as ``49123.75``: it is looked for as
  its dotted word);
* for a date (a date or timestamp column, or a string that is an ISO or
  ``M/d/yyyy`` date): ``yyyy-MM-dd``, ``MM/dd/yyyy``, ``M/d/yyyy``,
  ``yyyy/MM/dd``, ``dd/MM/yyyy``, ``dd.MM.yyyy``, ``MM-dd-yyyy``, and the month
  name or its 3-letter abbreviation with the day (``5`` or ``05``) and the year
  (``March 5, 1950``, ``5 Mar 1950``).

A value with no form (every word shorter than ``min_length``, no number, no
date) cannot be checked: it is counted in ``not_checked`` and fails the check.

The search is relational, so it scales with the output: the output's cells are
split into words once (cached with the originals' forms, and released before
returning), each form is joined to the cells holding its rarest word (a form with
a word the output never holds is cleared without a join), and only those
candidate cells are checked for the form's other words. The cost grows with how
often a form's rarest word occurs.

Not covered: a value split across cells or columns, or glued to other text
(``johnsmith``, ``MRN12345678`` rewritten as ``MRN1234-5678``, a number joined to
an id as in ``a1b2-1234567`` or in a UUID's groups); part of a value
(a last name alone is found only through a last-name column; the last 4 digits
of an SSN are not a leak); nicknames, initials, misspellings and
transliterations other than dropped accents; dates with 2-digit years or in
other orders or languages; numbers of fewer than 7 digits in another spelling
(they are found only as the words they are); anything not in text form
(images, binary files).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from labkit.core.args import positive_int, require_columns
from labkit.topics.phi._spec import _MONTHS, _NAME_HINTS, _PATTERNS, PHILeakError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["assert_no_phi", "dictionary_attack", "id_enumeration_attack", "leak_check_error", "scan_for_phi"]


def _age_share(values: pd.Series) -> float:
    """Share of values over 89, if every value is a whole number from 0 to 125 (an age); else 0."""
    nums = pd.to_numeric(values, errors="coerce")
    if nums.empty or nums.isna().any() or not ((nums % 1 == 0) & nums.between(0, 125)).all():
        return 0.0
    return float((nums > 89).mean())


def _content_shares(values: pd.Series, names: set[str]) -> dict[str, float]:
    """Share of the non-null values of one column that each content detector matches."""
    text = values.astype(str)
    if text.empty:
        return {k: 0.0 for k in (*_PATTERNS, "name", "age over 89")}
    shares = {k: float(text.str.contains(p, regex=True).mean()) for k, p in _PATTERNS.items()}
    shares["name"] = float(text.str.findall(r"[A-Za-z']+").map(lambda ws: any(w.lower() in names for w in ws)).mean())
    shares["age over 89"] = _age_share(values)
    return shares


def scan_for_phi(df: DataFrame, rows: int = 1000, truth: Iterable[str] | None = None,
                 min_share: float = 0.2) -> pd.DataFrame:
    """Find likely PHI columns by name and by content (SSN, email, phone, IP, date and record patterns, common
    names, ages over 89).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    rows : int
        Rows read (a sample from the start of the data), at least 1.
    truth : iterable of str, optional
        The columns that really hold PHI; adds ``precision`` and ``recall`` to ``attrs``.
    min_share : float
        Share of non-null values that must match a content detector. A column of
        whole numbers from 0 to 125 with any value over 89 is flagged whatever
        the share (Safe Harbor: ages over 89).

    Returns
    -------
    pandas.DataFrame
        Indexed by column: ``by_name``, ``by_content`` (the detector with the
        largest share, and that share), ``phi`` and ``why``.

    Raises
    ------
    ValueError
        If ``rows`` is not an integer >= 1 (0 would scan nothing and pass everything).
    """
    from labkit.core.datagen import faker_lists

    positive_int("rows", rows, 1)
    sample = df.limit(rows).toPandas()
    names = {n.lower() for n in (*faker_lists()["first"], *faker_lists()["last"])}
    out = []
    for c in sample.columns:
        shares = _content_shares(sample[c].dropna(), names)
        best = max(shares, key=shares.get)
        by_name = bool(_NAME_HINTS.search(c))
        by_content = shares[best] >= min_share or shares["age over 89"] > 0
        best = "age over 89" if shares["age over 89"] > 0 and shares[best] < min_share else best
        why = ", ".join([*(["its name"] if by_name else []), *([f"{shares[best]:.0%} of values look like {best}"]
                                                                 if by_content else [])])
        out.append({"column": c, "by_name": by_name, "by_content": best if by_content else "",
                    "share": round(float(shares[best]), 3), "phi": by_name or by_content, "why": why})
    table = pd.DataFrame(out, columns=["column", "by_name", "by_content", "share", "phi", "why"]).set_index("column")
    if truth is not None:
        truth, found = set(truth), set(table.index[table["phi"]])
        table.attrs["precision"] = len(found & truth) / len(found) if found else 1.0
        table.attrs["recall"] = len(found & truth) / len(truth) if truth else 1.0
    return table


# --------------------------------------------------------------------------- the leak check: one form for both sides

_SEP = re.compile(r"[\s,;:()\[\]{}<>\"'\u2018\u2019\u201c\u201d!?|]+")
_EDGE = ".-_*#/+~=&"
_RUN = re.compile(r"[0-9](?:[ ().\-/]{0,3}[0-9])*")
_NUMBER = re.compile(r"(?:[a-z]{1,6}\.?\s*)?(?:#|no\.?)?\s*[-+0-9 ().#/]+")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_DECIMAL = re.compile(r"[0-9]+\.[0-9]{1,2}")
_UUID = re.compile(r"(?<![0-9a-z])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-z])")
_JOIN = "-./"  # what joins a digit run to the rest of an id
_DIGITS = (7, 19)  # significant digits of a number looked for as digits only
_D = "d:"  # prefix of a digit window: never a word, since ":" splits words


def _fold(text: str) -> str:
    """One form for comparing text: NFKD without accents, case-folded, NFKC, whitespace collapsed."""
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(unicodedata.normalize("NFKC", bare.casefold()).split())


def _words(folded: str) -> list[str]:
    """The words of folded text, punctuation trimmed from their ends."""
    return [w for w in (p.strip(_EDGE) for p in _SEP.split(folded)) if w]


def _joined_to_mixed(folded: str, at: int, step: int) -> bool:
    """Whether ``folded[at]`` is one of ``- . /`` followed (in direction ``step``) by letters mixed with digits."""
    if not (0 <= at < len(folded)) or folded[at] not in _JOIN:
        return False
    i, group = at + step, []
    while 0 <= i < len(folded) and folded[i].isalnum():
        group.append(folded[i])
        i += step
    return any(ch.isdigit() for ch in group) and any(ch.isalpha() for ch in group)


def _windows(folded: str) -> set[str]:
    """Every 7- to 19-digit substring of each digit run that is not glued to a letter or digit.

    A UUID's groups are never numbers, whatever they hold (``08504320-eaad-...``: an all-digit group
    beside an all-letter one, which the rule below alone would read as a number). A decimal
    amount (``100000.00``: one ``.`` before the last one or two digits) is read by its whole
    part, so its cents do not make it a record number. A run joined by ``- . /`` to a group
    mixing letters and digits (a hex id's ``...-9d2e-4123-8765-def0...``)
    is glued too: it is part of that id, not a number.
    """
    out = set()
    folded = _UUID.sub(lambda m: "\0" * len(m.group()), folded)  # neither a digit nor a separator of a run
    for m in _RUN.finditer(folded):
        before = folded[m.start() - 1] if m.start() else " "
        after = folded[m.end()] if m.end() < len(folded) else " "
        if before.isalnum() or after.isalnum():
            continue
        if _joined_to_mixed(folded, m.start() - 1, -1) or _joined_to_mixed(folded, m.end(), 1):
            continue
        run = m.group()
        digits = re.sub(r"[^0-9]", "", run.split(".")[0] if _DECIMAL.fullmatch(run) else run)
        for width in range(_DIGITS[0], min(len(digits), _DIGITS[1]) + 1):
            out.update(_D + digits[i:i + width] for i in range(len(digits) - width + 1))
    return out


def _cell_tokens(text: str | None) -> list[str]:
    """The words and digit windows of one output cell."""
    if text is None:
        return []
    folded = _fold(text)
    return sorted(set(_words(folded)) | _windows(folded))


def _number_form(folded: str) -> list[str]:
    """The digits of a value that is a number with at most a short prefix, as one digit-window token."""
    if not _NUMBER.fullmatch(folded) or _IPV4.fullmatch(folded):
        return []  # an IPv4 address is looked for as its dotted word: its digits alone read as amounts
    digits = re.sub(r"[^0-9]", "", folded)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]  # +1 555 123 4567: the country code is not part of the number
    if not (_DIGITS[0] <= len(digits.lstrip("0")) and len(digits) <= _DIGITS[1]):
        return []
    return [_D + digits]


def _date_forms(iso: str) -> list[list[str]]:
    """The spellings of one date the check looks for, each as its words."""
    y, m, d = (int(p) for p in iso.split("-"))
    single = {f"{y:04d}-{m:02d}-{d:02d}", f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y}", f"{y}/{m:02d}/{d:02d}",
              f"{d:02d}/{m:02d}/{y}", f"{d:02d}.{m:02d}.{y}", f"{m:02d}-{d:02d}-{y}"}
    month = _MONTHS[m - 1]
    named = {tuple(sorted({name, day, str(y)})) for name in (month, month[:3]) for day in (str(d), f"{d:02d}")}
    return [[s] for s in sorted(single)] + [list(t) for t in sorted(named)]


def _forms(value: str | None, iso: str | None, min_length: int) -> list[list[str]]:
    """Every form of one original value (each a list of tokens that must all be in one cell); [] if it has none."""
    if value is None:
        return []
    folded = _fold(value)
    long_words = sorted({w for w in _words(folded) if len(w) >= min_length})
    forms = [long_words] if long_words else []
    number = _number_form(folded)
    forms += [number] if number else []
    forms += _date_forms(iso) if iso else []
    unique = []
    for f in forms:
        if f not in unique:
            unique.append(f)
    return unique


def _iso_date(originals: DataFrame, c: str) -> Column:
    """The column as an ISO date string where it is a date (typed, or text in ISO or M/d/yyyy form), else null."""
    from pyspark.sql import functions as F

    dtype = dict(originals.dtypes)[c]
    if dtype == "date" or dtype.startswith("timestamp"):
        return F.date_format(F.col(c), "yyyy-MM-dd")
    if dtype != "string":
        return F.lit(None).cast("string")
    text = F.trim(F.col(c))
    parsed = F.when(text.rlike(r"^\d{4}-\d{1,2}-\d{1,2}$"), F.try_to_date(text, "yyyy-M-d")).when(
        text.rlike(r"^\d{1,2}/\d{1,2}/\d{4}$"), F.try_to_date(text, "M/d/yyyy"))
    return F.date_format(parsed, "yyyy-MM-dd")


_NEEDLE, _CELL = 0, 1  # the two sides of the leak check, in one frame


def _prepare(sides: pd.Series, texts: pd.Series, isos: pd.Series, min_length: int) -> pd.Series:
    """Per row: an original value's forms, or an output cell's tokens as the one element of a list."""
    return pd.Series([_forms(t, i, min_length) if s == _NEEDLE else [_cell_tokens(t)]
                      for s, t, i in zip(sides, texts, isos, strict=True)])


def _texts(frame: DataFrame, cols: Sequence[str], side: int, iso: Callable[[str], Column]) -> DataFrame:
    """``side, name, text, iso``: one row per column and row of ``frame`` (one scan, not a union per column)."""
    from pyspark.sql import functions as F

    items = [F.struct(F.lit(c).alias("name"), F.col(c).cast("string").alias("text"), iso(c).alias("iso"))
             for c in cols]
    return frame.select(F.lit(side).alias("side"), F.explode(F.array(*items)).alias("item")).select("side", "item.*")


def _prepared(df: DataFrame, originals: DataFrame, cols: Sequence[str], min_length: int) -> DataFrame:
    """``side, name, text, forms``: every distinct non-null value of the identifier columns (``side`` 0, with its
    forms) and every distinct non-null cell of ``df`` (``side`` 1, ``forms`` holding its tokens), in one pass."""
    from pyspark import cloudpickle
    from pyspark.sql import functions as F

    # the UDF's helpers travel by value, so a Python worker imports pandas but not all of labkit
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    both = _texts(originals, cols, _NEEDLE, lambda c: _iso_date(originals, c))
    if df.columns:
        both = both.unionByName(_texts(df, df.columns, _CELL, lambda c: F.lit(None).cast("string")))
    both = both.where(F.col("text").isNotNull()).distinct()

    def prepare(sides: pd.Series, texts: pd.Series, isos: pd.Series) -> pd.Series:
        return _prepare(sides, texts, isos, min_length)

    return both.select("side", "name", "text",
                       F.pandas_udf(prepare, "array<array<string>>")("side", "text", "iso").alias("forms"))


def _hits(needles: DataFrame, cells: DataFrame) -> DataFrame:
    """``source, value, column``: each original value found in an output cell, and the column it was found in."""
    from pyspark.sql import functions as F

    out_tokens = cells.select("column", "cell", F.explode("tokens").alias("token"))
    forms = needles.select("source", "value", F.posexplode("forms").alias("form", "tokens"))
    form_tokens = forms.select("source", "value", "form", "tokens", F.explode("tokens").alias("token"))
    freq = out_tokens.groupBy("token").agg(F.count("*").alias("freq"))
    anchors = (form_tokens.join(freq, "token").groupBy("source", "value", "form")
               .agg(F.count("*").alias("held"), F.first("tokens").alias("tokens"),
                    F.min_by("token", F.struct("freq", "token")).alias("anchor"))
               .where(F.col("held") == F.size("tokens")))  # a form with a word the output never holds is in no cell
    candidates = anchors.join(out_tokens, anchors["anchor"] == out_tokens["token"]).select(
        "source", "value", "tokens", "cell", "column")
    found = candidates.join(cells.select("cell", F.col("tokens").alias("cell_tokens")), "cell").where(
        F.forall("tokens", lambda t: F.array_contains("cell_tokens", t)))  # every word of the form is in the cell
    return found.select("source", "value", "column")


def _report(table: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Per identifier column: values, not_checked, leaked and found_in (zeros for a column with no value)."""
    report = table.set_index("source").reindex(list(cols))
    for c in ("values", "not_checked", "leaked"):
        report[c] = report[c].fillna(0).astype(int)
    report.index.name = "source"
    return report


def assert_no_phi(df: DataFrame, originals: DataFrame, columns: Sequence[str] | None = None,
                  min_length: int = 2) -> pd.DataFrame:
    """Fail if any raw identifier value of ``originals`` appears anywhere in ``df``, free text included,
    or if a value could not be checked.

    Both sides are normalised alike (Unicode NFKC, accents dropped, case-folded,
    whitespace collapsed); a multi-word value is found when all its words are in
    one cell in any order; numbers are also looked for as digits only, dates in
    several spellings. The module docstring states the design, its cost and
    what it does not cover.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The data to check (every column, cast to text).
    originals : pyspark.sql.DataFrame
        The raw data.
    columns : sequence of str, optional
        The identifier columns of ``originals`` (all of them by default).
    min_length : int
        Words shorter than this are left out of a value's word form (the ``A`` of
        ``John A Smith``). A value with no word this long, no number and no date
        cannot be checked: it is counted in ``not_checked`` and fails the check.

    Returns
    -------
    pandas.DataFrame
        Per identifier column: ``values`` checked, ``not_checked`` and ``leaked`` (both zero when it returns).

    Raises
    ------
    PHILeakError
        Naming each column with leaked values (how many, found in which output
        columns) or with values it could not check (how many); never a value.
        The report is the error's ``report`` attribute.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    positive_int("min_length", min_length, 1)
    cols = require_columns(originals, list(columns) if columns is not None else originals.columns, "identifier")
    prepared = _prepared(df, originals, cols, min_length).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        needles = prepared.where(F.col("side") == _NEEDLE).select(
            F.col("name").alias("source"), F.col("text").alias("value"), "forms")
        cells = prepared.where(F.col("side") == _CELL).select(
            F.col("name").alias("column"), F.xxhash64("name", "text").alias("cell"), F.col("forms")[0].alias("tokens"))
        checked = needles.select("source", "value", (F.size("forms") > 0).cast("int").alias("checked"),
                                 F.lit(None).cast("string").alias("column"))
        hits = _hits(needles, cells).select("source", "value", F.lit(None).cast("int").alias("checked"), "column")
        table = (checked.unionByName(hits).groupBy("source")  # the counts and the hits in one aggregation
                 .agg(F.sum("checked").alias("values"), F.sum(1 - F.col("checked")).alias("not_checked"),
                      F.count_distinct(F.when(F.col("column").isNotNull(), F.col("value"))).alias("leaked"),
                      F.collect_set("column").alias("found_in"))
                 .toPandas())
    finally:
        prepared.unpersist()
    report = _report(table, cols)
    problems = [f"{c}: {int(r['leaked'])} value(s) leaked, found in {sorted(r['found_in'])}"
                for c, r in report[report["leaked"] > 0].iterrows()]
    problems += [f"{c}: {int(r['not_checked'])} value(s) could not be checked (no word of {min_length}+ characters, "
                 "no number, no date)" for c, r in report[report["not_checked"] > 0].iterrows()]
    report = report.drop(columns="found_in", errors="ignore")
    if problems:
        err = PHILeakError("the leak check failed: " + "; ".join(problems))
        err.report = report
        raise err
    return report


def _unsalted_sha2(col: Column) -> Column:
    """Unsalted ``sha2(x, 256)`` of the value as text: what anyone can compute for a list of guesses."""
    from pyspark.sql import functions as F

    return F.sha2(col.cast("string"), 256)


def dictionary_attack(df: DataFrame, column: str, candidates: Iterable[str],
                      hash_fn: Callable[[Column], Column] | None = None) -> dict:
    """Reverse hashed values by hashing a list of likely values and joining: what an attacker does.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    column : str
        The hashed column.
    candidates : iterable of str
        Guesses, e.g. Faker's lists of common first names.
    hash_fn : callable, optional
        Column -> Column, the hash to try; unsalted ``sha2(x, 256)`` by default (the guide's name masking,
        ``labkit.experiments.phi.guide_mask_name``).
        An attacker without the key cannot try a keyed hash.

    Returns
    -------
    dict
        ``hashes`` (distinct values), ``recovered`` (how many were reversed), ``fraction`` and ``examples``.
    """
    from pyspark.sql import functions as F

    require_columns(df, column)
    hash_fn = hash_fn or _unsalted_sha2
    spark = df.sparkSession
    guesses = spark.createDataFrame([(c,) for c in set(candidates)], "guess string").select(
        "guess", hash_fn(F.col("guess")).alias("h"))
    targets = df.select(F.col(column).alias("h")).where("h is not null").distinct()
    row = targets.join(F.broadcast(guesses), "h", "left").agg(  # one job: the counts and the examples
        F.count_distinct("h").alias("hashes"), F.count_distinct(F.when(F.col("guess").isNotNull(), F.col("h"))
                                                                ).alias("recovered"),
        F.slice(F.array_sort(F.collect_set("guess")), 1, 3).alias("examples")).first()
    total, recovered = row["hashes"], row["recovered"]
    return {"hashes": total, "recovered": recovered, "fraction": recovered / total if total else 0.0,
            "examples": list(row["examples"])}


def leak_check_error(df: DataFrame, originals: DataFrame, columns: Sequence[str] | None = None,
                     min_length: int = 2) -> str | None:
    """:func:`assert_no_phi`'s verdict as a value: None when ``df`` passes, else the error's message.

    For showing that an output *fails* the leak check (the guide's outputs) without a try block. The message
    names columns and counts, never a value. Parameters as :func:`assert_no_phi`.

    Returns
    -------
    str or None
    """
    try:
        assert_no_phi(df, originals, columns, min_length)
    except PHILeakError as err:
        return str(err)
    return None


def id_enumeration_attack(df: DataFrame, column: str, template: str = "P{:07d}", most: int = 100_000, per_row: int = 10
                          ) -> dict:
    """Re-link the guide's ``sha2(id, 256)`` study ids by hashing every id the id format allows.

    An id with a known format (``P0000042``) has few possible values: the attacker hashes them all and joins
    (:func:`dictionary_attack`), no name list needed.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    column : str
        The raw id column; its ``sha2(column, 256)`` is what the guide releases.
    template : str
        The id format, a :meth:`str.format` template taking the number.
    most, per_row : int
        Candidates: ``0 .. min(per_row * rows, most) - 1``.

    Returns
    -------
    dict
        As :func:`dictionary_attack`.
    """
    from pyspark.sql import functions as F

    require_columns(df, column)
    positive_int("most", most, 1)
    positive_int("per_row", per_row, 1)
    candidates = (template.format(i) for i in range(min(per_row * df.count(), most)))
    return dictionary_attack(df.select(F.sha2(column, 256).alias("h")), "h", candidates)
