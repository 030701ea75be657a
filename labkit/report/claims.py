"""The claims registry: every number the guide states, and the verdict our measurement gives it.

``benchmarks/claims.yaml`` lists the claims; a notebook records the measured
number under the claim's ``key``; :func:`evaluate` sets the two side by side.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Claim", "VERDICTS", "VERDICT_CLASS", "evaluate", "load_registry", "notebook_table", "verdict"]

REGISTRY = Path(__file__).resolve().parents[2] / "benchmarks" / "claims.yaml"
# the verdicts, in report order, each with the CSS class the report colours it by: their one home
HOLDS, PARTLY, FAILS = "holds", "partly holds", "does not hold at this scale"
NOT_MEASURABLE, NOT_MEASURED = "not measurable here", "not measured yet"
VERDICTS = (HOLDS, PARTLY, FAILS, NOT_MEASURABLE, NOT_MEASURED)
VERDICT_CLASS = {HOLDS: "holds", PARTLY: "partly", FAILS: "fails", NOT_MEASURABLE: "na", NOT_MEASURED: "na"}
_REQUIRED = ("id", "section", "quote", "stated", "unit", "notebook", "key", "compare", "tolerance", "partly_from",
             "cluster", "how")
_COMPARES = ("at_least", "about")


@dataclass(frozen=True)
class Claim:
    """One quantitative claim of the guide and where the lab measures it."""

    id: str
    section: str
    quote: str
    stated: float | tuple[float, float]
    unit: str
    notebook: str
    key: str
    compare: str
    tolerance: float
    partly_from: float
    cluster: bool
    how: str

    @property
    def stated_text(self) -> str:
        """The stated number as people read it."""
        return _fmt(self.stated, self.unit)


def _fmt(value: Any, unit: str) -> str:
    """Format a number (or range) with its unit."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return "–".join(_fmt(v, unit) for v in value)
    if isinstance(value, str):
        return value
    if unit == "fraction":
        return f"{value:.0%}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit.startswith("usd"):
        return f"${value:,.2f}" + ("/month" if unit == "usd_per_month" else "")
    if unit == "bytes":
        return f"{value / 2**20:,.1f} MB"
    return f"{value:,.3g} {unit}"


def _check_entry(entry: Mapping[str, Any], where: str) -> Claim:
    """Validate one registry entry, naming the field that is wrong."""
    missing = [f for f in _REQUIRED if f not in entry]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    if not re.fullmatch(r"\d\d_[a-z0-9_]+", str(entry["notebook"])):
        raise ValueError(f"{where}: notebook {entry['notebook']!r} is not a NN_topic name")
    if entry["compare"] not in _COMPARES:
        raise ValueError(f"{where}: compare must be one of {_COMPARES}, got {entry['compare']!r}")
    stated = entry["stated"]
    if isinstance(stated, list):
        if len(stated) != 2 or stated[0] > stated[1]:
            raise ValueError(f"{where}: a stated range must be [low, high], got {stated!r}")
        stated = (float(stated[0]), float(stated[1]))
    elif not isinstance(stated, (int, float)):
        raise ValueError(f"{where}: stated must be a number or [low, high], got {stated!r}")
    else:
        stated = float(stated)
    if not 0 <= float(entry["tolerance"]) < 1:
        raise ValueError(f"{where}: tolerance must be in [0, 1), got {entry['tolerance']!r}")
    return Claim(**{**{f: entry[f] for f in _REQUIRED}, "stated": stated, "tolerance": float(entry["tolerance"]),
                    "partly_from": float(entry["partly_from"]), "cluster": bool(entry["cluster"])})


def load_registry(path: str | Path = REGISTRY) -> list[Claim]:
    """Read and validate the claims registry.

    Raises
    ------
    ValueError
        For a missing field, a bad value or a duplicate id (the message names the entry).
    """
    import yaml

    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    claims, seen = [], set()
    for i, entry in enumerate(doc.get("claims") or []):
        claim = _check_entry(entry, f"{path} entry {i + 1} ({entry.get('id', '?')})")
        if claim.id in seen:
            raise ValueError(f"{path}: duplicate claim id {claim.id!r}")
        seen.add(claim.id)
        claims.append(claim)
    if not claims:
        raise ValueError(f"{path} lists no claims")
    return claims


def verdict(claim: Claim, measured: float | None) -> str:
    """Judge a measured number against a claim.

    Parameters
    ----------
    claim : Claim
    measured : float or None
        None (or NaN) when nothing was measured.

    Returns
    -------
    str
        ``holds`` — within ``tolerance`` of the stated number (``about``), or at
        least the stated number less the tolerance (``at_least``; a range needs
        its low end); ``partly holds`` — the effect is there (above
        ``partly_from``) but smaller; otherwise ``does not hold at this scale``.
        For ``about``, a number past the stated one (or range) by more than the
        tolerance is ``partly holds`` when above ``partly_from``.

    Examples
    --------
    >>> c = Claim("x", "s", "q", 5.0, "x", "01_a", "k", "at_least", 0.2, 1.0, False, "h")
    >>> verdict(c, 6.0), verdict(c, 4.2), verdict(c, 2.0), verdict(c, 0.8)
    ('holds', 'holds', 'partly holds', 'does not hold at this scale')
    """
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return NOT_MEASURED
    low, high = claim.stated if isinstance(claim.stated, tuple) else (claim.stated, claim.stated)
    tol = claim.tolerance
    if claim.compare == "at_least":
        if measured >= low * (1 - tol):
            return HOLDS
    elif low * (1 - tol) <= measured <= high * (1 + tol):
        return HOLDS
    return PARTLY if measured > claim.partly_from else FAILS


def evaluate(claims: list[Claim], runs: Mapping[str, Mapping[str, Any] | None], present: set[str],
             reference: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The claims table: one row per claim, with our number and the verdict.

    Parameters
    ----------
    claims : list of Claim
    runs : mapping of notebook name to its results document (None if it failed; absent if it was not run)
    present : set of str
        Notebooks that exist in this lab; a claim whose notebook is not written
        yet is "not measured yet", never left out.
    reference : mapping, optional
        Results documents of a reference run, for a comparison column.

    Returns
    -------
    pandas.DataFrame
        Columns ``id, section, claim, guide, ours, value, kind, verdict, notebook, key, how`` (and
        ``reference`` and ``vs_reference`` when a reference is given).
    """
    rows = []
    for c in claims:
        doc = runs.get(c.notebook)
        entry = ((doc or {}).get("results") or {}).get(c.key)
        value = entry.get("value") if entry else None
        kind = entry.get("kind", "measured") if entry else ""
        if c.notebook not in present:
            status, why = NOT_MEASURED, f"notebook {c.notebook} is planned"
        elif c.notebook not in runs:
            status, why = NOT_MEASURED, f"notebook {c.notebook} was not run in this report"
        elif doc is None:
            status, why = NOT_MEASURED, f"notebook {c.notebook} failed in this run"
        elif entry is None:
            status, why = (NOT_MEASURABLE, "needs a cluster") if c.cluster else (
                NOT_MEASURED, f"{c.notebook} recorded no {c.key}")
        else:
            status, why = verdict(c, value), ""
        row = {"id": c.id, "section": c.section, "claim": c.quote, "guide": c.stated_text,
               "ours": _fmt(value, c.unit) if value is not None else why, "value": value,
               "kind": kind or ("projected" if c.cluster else ""), "verdict": status, "notebook": c.notebook,
               "key": c.key, "how": c.how, "scale": ((doc or {}).get("parameters") or {}).get("scale", ""),
               "note": (entry or {}).get("note") or ""}
        if reference is not None:
            ref = (((reference.get(c.notebook) or {}).get("results") or {}).get(c.key) or {}).get("value")
            row["reference"] = _fmt(ref, c.unit) if ref is not None else ""
            row["vs_reference"] = (value / ref) if (value is not None and ref not in (None, 0)) else None
        rows.append(row)
    return pd.DataFrame(rows)


def notebook_table(notebook: str, output_dir: str | Path, registry: str | Path = REGISTRY) -> pd.DataFrame:
    """The claims one notebook checks, with the verdicts of what it has recorded so far.

    Parameters
    ----------
    notebook : str
        Notebook name, e.g. ``"02_data_skew_and_salting"``.
    output_dir : path
        Where the notebook's results JSON is.
    registry : path
        The claims registry.

    Returns
    -------
    pandas.DataFrame
        ``claim, guide, ours, kind, verdict`` for this notebook's claims.
    """
    from labkit.core.results import load

    mine = [c for c in load_registry(registry) if c.notebook == notebook]
    doc = load(Path(output_dir) / f"{notebook}.json")
    table = evaluate(mine, {notebook: doc}, {notebook})
    return table[["id", "claim", "guide", "ours", "kind", "verdict"]].set_index("id")
