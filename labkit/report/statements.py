"""The guide's non-numeric statements the lab checks, and the verdict each check gives.

``benchmarks/statements.yaml`` lists them: code that does not run, an API used
wrongly, out-of-date advice, a wrong premise, unsafe advice, or a plain error.
Each names the notebook that checks it and the results key the check records:
``lab.record("statement.<id>", <bool>, claim="<id>")``, where the value is
computed in the notebook (a plan, an assertion, a count), True when the guide's
statement survives the check, False when the check refutes it. The verdict
follows from that value by the same rule as the numbers (:data:`labkit.report.
claims.RULE`): a check that passes "holds"; one that refutes the statement gives
the verdict of its kind (:data:`KIND_VERDICT`); nothing recorded is "not
measured yet". A statement that no Spark run can check (an exam that was
retired, a service closed to new customers) is *documented*: it names its
public source instead of a notebook, and its verdict comes from that source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from labkit.core.paths import REPO
from labkit.report.verdicts import (
    API_MISUSE,
    DOES_NOT_RUN,
    HOLDS,
    NOT_MEASURED,
    OUT_OF_DATE,
    PREMISE,
    UNSAFE,
    WRONG,
)

__all__ = ["KIND_VERDICT", "STATEMENTS", "Statement", "evaluate_statements", "judge_statement", "load_statements"]

STATEMENTS = REPO / "benchmarks" / "statements.yaml"
# what a refuting check says, by the kind of error the registry names
KIND_VERDICT = {"wrong": WRONG, "out_of_date": OUT_OF_DATE, "does_not_run": DOES_NOT_RUN, "api_misuse": API_MISUSE,
                "wrong_premise": PREMISE, "unsafe": UNSAFE}
_REQUIRED = ("id", "section", "quote", "kind", "notebook", "key", "evidence", "finding")
_OPTIONAL = ("source",)


@dataclass(frozen=True)
class Statement:
    """One non-numeric statement of the guide and where the lab checks it."""

    id: str
    section: str
    quote: str
    kind: str
    notebook: str | None  # None for a documented statement
    key: str | None
    evidence: str
    finding: str
    source: str = ""

    @property
    def documented(self) -> bool:
        """True when no notebook checks it: its verdict comes from ``source``."""
        return self.notebook is None


def _check(entry: Mapping[str, Any], where: str) -> Statement:
    """Validate one entry, naming the field that is wrong."""
    missing = [f for f in _REQUIRED if f not in entry]
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}")
    sid, kind, notebook, key = entry["id"], entry["kind"], entry["notebook"], entry["key"]
    if not isinstance(sid, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", sid):
        raise ValueError(f"{where}: id must be lowercase words joined by dashes (topic-short), got {sid!r}")
    if kind not in KIND_VERDICT:
        raise ValueError(f"{where}: kind must be one of {sorted(KIND_VERDICT)}, got {kind!r}")
    _check_where(sid, notebook, key, str(entry.get("source", "")), where)
    for field in ("section", "quote", "evidence", "finding"):
        if not str(entry[field] or "").strip():
            raise ValueError(f"{where}: {field} is empty")
    return Statement(**{f: entry[f] for f in _REQUIRED}, source=str(entry.get("source", "")))


def _check_where(sid: str, notebook: Any, key: Any, source: str, where: str) -> None:
    """A checked statement names its notebook and ``statement.<id>``; a documented one, an https source."""
    if notebook is None:
        if key is not None or not source.startswith("https://"):
            raise ValueError(f"{where}: a documented statement (notebook: null) has key: null and an https source")
    elif not re.fullmatch(r"\d\d_[a-z0-9_]+", str(notebook)):
        raise ValueError(f"{where}: notebook {notebook!r} is not a NN_topic name")
    elif key != f"statement.{sid}":
        raise ValueError(f"{where}: key must be 'statement.{sid}' (the notebook records its check there), got {key!r}")


def load_statements(path: str | Path = STATEMENTS) -> list[Statement]:
    """Read and validate the statements registry.

    Raises
    ------
    ValueError
        For a missing or unknown field, a bad kind, key or notebook, or a duplicate id (the message names the entry).
    """
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out, seen = [], set()
    for i, entry in enumerate(doc.get("statements") or []):
        stmt = _check(entry, f"{path} entry {i + 1} ({entry.get('id', '?')})")
        if stmt.id in seen:
            raise ValueError(f"{path}: duplicate statement id {stmt.id!r}")
        seen.add(stmt.id)
        out.append(stmt)
    return out


def judge_statement(stmt: Statement, recorded: Any) -> tuple[str, str]:
    """The verdict of a statement from what its check recorded.

    Parameters
    ----------
    stmt : Statement
    recorded : bool or None
        The value the notebook recorded under ``stmt.key`` (True: the statement survives the check); None when
        nothing was recorded. Ignored for a documented statement.

    Returns
    -------
    (str, str)
        The verdict and its detail.

    Examples
    --------
    >>> s = Statement("dq-x", "s", "q", "wrong", "06_data_quality", "statement.dq-x", "e", "f")
    >>> judge_statement(s, False), judge_statement(s, True)[0], judge_statement(s, None)[0]
    (('the guide is wrong', 'f'), 'holds', 'not measured yet')
    """
    if stmt.documented:
        return KIND_VERDICT[stmt.kind], f"{stmt.finding} (documented: {stmt.source})"
    if recorded is None:
        return NOT_MEASURED, ""
    if not isinstance(recorded, bool):
        return NOT_MEASURED, f"the check recorded {type(recorded).__name__}, not True/False"
    return (HOLDS, "the check passed") if recorded else (KIND_VERDICT[stmt.kind], stmt.finding)


def evaluate_statements(statements: list[Statement], runs: Mapping[str, Mapping[str, Any] | None],
                        present: set[str]) -> pd.DataFrame:
    """The statements table, with the columns of :func:`labkit.report.claims.evaluate`.

    Parameters
    ----------
    statements : list of Statement
    runs : mapping of notebook name to its results document (None if it failed; absent if not run)
    present : set of str
        Notebooks that exist in this lab.

    Returns
    -------
    pandas.DataFrame
        One row per statement; ``guide`` is the kind of error checked for, ``ours`` what the check showed,
        ``kind`` is ``checked`` or ``documented``.
    """
    rows = []
    for s in statements:
        doc = runs.get(s.notebook) if s.notebook else None
        entry = ((doc or {}).get("results") or {}).get(s.key) if s.key else None
        why = ""
        if s.documented:
            (verdict, detail), ours = judge_statement(s, None), "documented"
        elif s.notebook not in present:
            verdict, detail, why = NOT_MEASURED, "", f"notebook {s.notebook} is planned"
        elif s.notebook not in runs or doc is None:
            verdict, detail = NOT_MEASURED, ""
            why = f"notebook {s.notebook} " + ("failed in this run" if s.notebook in runs else "was not run")
        else:
            verdict, detail = judge_statement(s, (entry or {}).get("value"))
            why = "" if entry else f"{s.notebook} recorded no {s.key}"
        if not s.documented:
            ours = why or ("the check passed" if verdict == HOLDS else "the check refutes it")
        rows.append({"id": s.id, "section": s.section, "claim": s.quote, "guide": s.kind.replace("_", " "),
                     "ours": ours, "value": (entry or {}).get("value"), "spread": None, "detail": detail,
                     "basis": "", "arithmetic": False, "kind": "documented" if s.documented else "checked",
                     "verdict": verdict, "notebook": s.notebook or "", "key": s.key or "",
                     "how": s.evidence, "scale": ((doc or {}).get("parameters") or {}).get("scale", ""),
                     "note": (entry or {}).get("note") or "", "finding": s.finding, "source": s.source})
    return pd.DataFrame(rows)
