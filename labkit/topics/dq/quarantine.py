"""The quarantine :func:`~labkit.topics.dq.accounted.read_csv_accounted` returns, looked at without its raw text.

Its precision and recall against ground truth, a summary per file and reason (no line's text: a quarantined line
can hold PHI), and the lines of the wrong width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from labkit.core.args import require_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["precision_recall", "quarantine_summary", "wrong_width_lines"]


def precision_recall(quarantined: DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """Precision and recall of a quarantine against ground-truth labels (``file, raw, label``; "good" is clean).

    Lines are matched by file name and text, as multisets.
    """
    from pyspark.sql import functions as F

    got = quarantined.select(F.regexp_extract("file", r"([^/]+)$", 1).alias("file"), "raw").toPandas()
    predicted = got.groupby(["file", "raw"]).size()
    truth = labels[labels["label"] != "good"].groupby(["file", "raw"]).size()
    hits = int(pd.concat([predicted, truth], axis=1).fillna(0).min(axis=1).sum())
    return {"precision": hits / max(int(predicted.sum()), 1), "recall": hits / max(int(truth.sum()), 1),
            "quarantined": int(predicted.sum()), "truly_bad": int(truth.sum())}


def quarantine_summary(quarantined: DataFrame) -> pd.DataFrame:
    """Where and why lines were quarantined, without their raw text: one row per file name and reason.

    A quarantined line can hold PHI (an email, say), so the summary shows only the file's name (not its folder),
    the reason, how many lines and the first line number.

    Parameters
    ----------
    quarantined : pyspark.sql.DataFrame
        :attr:`Accounted.quarantined` (columns ``file``, ``line``, ``reason``).

    Returns
    -------
    pandas.DataFrame
        ``file``, ``reason``, ``lines``, ``first line``, sorted by file and reason.
    """
    from pyspark.sql import functions as F

    require_columns(quarantined, ["file", "line", "reason"], "quarantine_summary")
    return quarantined.groupBy(F.regexp_extract("file", r"([^/]+)$", 1).alias("file"), "reason").agg(
        F.count("*").alias("lines"), F.min("line").alias("first line")).orderBy("file", "reason").toPandas()


def wrong_width_lines(quarantined: DataFrame) -> DataFrame:
    """The quarantined lines of the wrong width: reason ``extra columns`` or ``missing columns``.

    Parameters
    ----------
    quarantined : pyspark.sql.DataFrame
        :attr:`Accounted.quarantined` (a ``reason`` column; ``raw`` for :func:`permissive_width_cases`).

    Returns
    -------
    pyspark.sql.DataFrame
    """
    from pyspark.sql import functions as F

    require_columns(quarantined, ["reason"], "wrong_width_lines")
    return quarantined.where(F.col("reason").rlike("^(extra|missing) columns"))

