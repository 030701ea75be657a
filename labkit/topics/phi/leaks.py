"""Detection and checks: the PHI scan, the leak check, k-anonymity and the dictionary attack."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from labkit.core.args import require_columns
from labkit.topics.phi._spec import _NAME_HINTS, _PATTERNS, PHILeakError
from labkit.topics.phi.masking import guide_mask_name

__all__ = ["assert_no_phi", "dictionary_attack", "scan_for_phi"]


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
