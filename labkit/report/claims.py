"""The claims registry: every number the guide states, and the verdict our measurement gives it.

``benchmarks/claims.yaml`` lists the claims; a notebook records the measured
number under the claim's ``key``; :func:`evaluate` sets the two side by side.

The verdict rule (one rule for every claim; :data:`RULE` prints it)
-----------------------------------------------------------------
* **Time fractions are speedups.** A claimed or measured time reduction ``r``
  (unit ``time_fraction``) is compared as the speedup ``1 / (1 - r)``.
* **At-least claims** (``at_least``: "5x faster", "3-5x smaller") hold only when
  the measured value reaches the stated bound (the low end of a range); above it
  is still "holds". Below the bound but clearly above no effect they partly
  hold, and the report gives the fraction of the claim reached.
* **Arithmetic and byte claims** (``about``) hold within one uniform band, 5%.
  A claim whose number the guide derives from its own figures and gets wrong
  (``arithmetic: true``) is "the guide's arithmetic is wrong", with the
  recomputed figure. ``at_most`` claims hold at or under the bound (+5%).
* **Noise.** A measured ratio carries the spread of its runs (min and max of the
  per-round ratios). A number recorded without a spread (one run, a count, a
  byte size) carries the same uniform 5% band. When that spread includes "no
  effect" (1.0 for a ratio), the verdict is "no measurable effect here".
* **Claims of no harm** (``no_effect``: "works even with skew") hold when the
  spread includes 1.0 or the ratio is better beyond it; qualitative claims (``criterion``) state their criterion
  in words and hold when the ratio is above 1.0 beyond the spread.
* **Censored values.** A bound a sweep never crossed is shown as "≥ value"; it
  can confirm an at-least claim, refute an ``about`` claim it already exceeds,
  and is "not measurable here" otherwise.
* **Premises.** A claim whose premise is wrong (``premise:`` in the registry, with
  the reason: the right arithmetic on the wrong price) is "wrong premise" whatever
  its arithmetic gives; the detail keeps the arithmetic's own verdict.
* **Statements** (no number: code, APIs, advice) are checked in their notebook and
  judged by :mod:`labkit.report.statements` under the same rule.

The verdicts themselves and :data:`RULE` live in :mod:`labkit.report.verdicts`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from labkit.core.paths import REPO
from labkit.core.results import load
from labkit.core.units import format_bytes
from labkit.report.statements import evaluate_statements, load_statements
from labkit.report.verdicts import (
    API_MISUSE,
    ARITHMETIC,
    BAND,
    DOES_NOT_RUN,
    FAILS,
    HOLDS,
    NO_EFFECT,
    NOT_MEASURABLE,
    NOT_MEASURED,
    OUT_OF_DATE,
    PARTLY,
    PREMISE,
    RULE,
    UNSAFE,
    VERDICT_CLASS,
    VERDICTS,
    WRONG,
)

__all__ = ["API_MISUSE", "ARITHMETIC", "BAND", "Claim", "DOES_NOT_RUN", "FAILS", "HOLDS", "NOT_MEASURABLE",
           "NOT_MEASURED", "NO_EFFECT", "OUT_OF_DATE", "PARTLY", "PREMISE", "RULE", "UNSAFE", "VERDICTS",
           "VERDICT_CLASS", "WRONG", "evaluate", "judge", "load_registry", "notebook_table", "verdict"]

REGISTRY = REPO / "benchmarks" / "claims.yaml"
_REQUIRED = ("id", "section", "quote", "stated", "unit", "notebook", "key", "compare", "cluster", "how")
_OPTIONAL = {"criterion": "", "arithmetic": False, "basis": "", "premise": ""}
_COMPARES = ("at_least", "about", "at_most", "no_effect", "criterion")
_NULL = {"x": 1.0, "time_fraction": 0.0}  # "no effect" per unit (0 for everything else)


@dataclass(frozen=True)
class Claim:
    """One quantitative claim of the guide and where the lab measures it."""

    id: str
    section: str
    quote: str
    stated: float | tuple[float, float] | None
    unit: str
    notebook: str
    key: str
    compare: str
    cluster: bool
    how: str
    criterion: str = ""
    arithmetic: bool = False
    basis: str = ""
    premise: str = ""  # why the premise is wrong, when it is: the verdict is PREMISE whatever the arithmetic gives

    @property
    def stated_text(self) -> str:
        """The stated number as people read it (the criterion for a qualitative claim)."""
        if self.compare == "criterion":
            return self.criterion
        if self.compare == "no_effect":
            return "no effect (1.00x)"
        return _fmt(self.stated, self.unit)


def _fmt(value: Any, unit: str) -> str:
    """Format a number (or range) with its unit."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return "–".join(_fmt(v, unit) for v in value)
    if isinstance(value, str):
        return value
    if unit in ("fraction", "time_fraction"):
        return f"{value:.0%}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit.startswith("usd"):
        return f"${value:,.2f}" + ("/month" if unit == "usd_per_month" else "")
    if unit == "bytes":
        return format_bytes(value, unit="MiB")
    return f"{value:,.4g} {unit}"


def _check_stated(entry: Mapping[str, Any], where: str) -> float | tuple[float, float] | None:
    """The stated number of an entry, validated against its compare kind and unit."""
    stated = entry["stated"]
    if entry["compare"] in ("criterion", "no_effect"):
        if stated is not None:
            raise ValueError(f"{where}: a {entry['compare']} claim states no number (the guide gives none); "
                             f"got {stated!r}")
        if entry["compare"] == "criterion" and not entry.get("criterion"):
            raise ValueError(f"{where}: a criterion claim needs its criterion in words")
    elif isinstance(stated, list):
        if len(stated) != 2 or stated[0] > stated[1]:
            raise ValueError(f"{where}: a stated range must be [low, high], got {stated!r}")
        stated = (float(stated[0]), float(stated[1]))
    elif not isinstance(stated, (int, float)) or isinstance(stated, bool):
        raise ValueError(f"{where}: stated must be a number or [low, high], got {stated!r}")
    else:
        stated = float(stated)
    if entry["unit"] == "time_fraction" and any(s >= 1 for s in (stated if isinstance(stated, tuple) else [stated])):
        raise ValueError(f"{where}: a time fraction must be below 1 (a 100% reduction is no time at all)")
    return stated


def _check_entry(entry: Mapping[str, Any], where: str) -> Claim:
    """Validate one registry entry, naming the field that is wrong."""
    missing = [f for f in _REQUIRED if f not in entry]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} (one verdict rule: no per-claim tolerance)")
    if not re.fullmatch(r"\d\d_[a-z0-9_]+", str(entry["notebook"])):
        raise ValueError(f"{where}: notebook {entry['notebook']!r} is not a NN_topic name")
    if entry["compare"] not in _COMPARES:
        raise ValueError(f"{where}: compare must be one of {_COMPARES}, got {entry['compare']!r}")
    stated = _check_stated(entry, where)
    fields = {f: entry[f] for f in _REQUIRED} | {f: entry.get(f, d) for f, d in _OPTIONAL.items()}
    return Claim(**(fields | {"stated": stated, "cluster": bool(entry["cluster"]),
                              "arithmetic": bool(fields["arithmetic"])}))


def load_registry(path: str | Path = REGISTRY) -> list[Claim]:
    """Read and validate the claims registry.

    Raises
    ------
    ValueError
        For a missing field, a bad value or a duplicate id (the message names the entry).
    """
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


def _as_speedup(value: float, unit: str) -> float:
    """A time reduction r as the speedup 1 / (1 - r); any other number unchanged."""
    if unit != "time_fraction":
        return float(value)
    return math.inf if value >= 1 else 1.0 / (1.0 - float(value))


def judge(claim: Claim, measured: float | None, spread: Sequence[float] | None = None,
          censored: bool = False) -> tuple[str, str]:
    """Judge a measured number against a claim by the one verdict rule (:data:`RULE`).

    Parameters
    ----------
    claim : Claim
    measured : float or None
        None (or NaN) when nothing was measured.
    spread : (low, high), optional
        The range of the per-round values of a measured ratio. Without one the
        number carries the uniform :data:`BAND`.
    censored : bool
        The true value is at least ``measured`` (a sweep that never crossed).

    Returns
    -------
    (str, str)
        The verdict (one of :data:`VERDICTS`) and a detail: the fraction of the
        claim reached, how far off an ``about`` claim is, or why it cannot be judged.

    Examples
    --------
    >>> c = Claim("x", "s", "q", (3.0, 5.0), "x", "01_a", "k", "at_least", False, "h")
    >>> judge(c, 2.73)
    ('partly holds', 'reached 86% of the claim (3.00x)')
    >>> judge(c, 7.0)[0], judge(c, 1.2, spread=(0.9, 1.6))[0]
    ('holds', 'no measurable effect here')
    """
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return NOT_MEASURED, ""
    unit = claim.unit
    m = _as_speedup(measured, unit)
    if spread is not None and min(spread) < max(spread):  # one run has no spread: the band applies
        lo, hi = sorted(_as_speedup(v, unit) for v in spread)
        lo, hi = min(lo, m), max(hi, m)
    else:
        lo, hi = sorted((m * (1 - BAND), m * (1 + BAND)))
    noise = unit in _NULL and lo <= 1.0 <= hi
    if claim.compare in ("criterion", "no_effect"):
        return _judge_qualitative(claim.compare, m, lo, hi, noise)
    return _judge_bounded(claim, m, lo, hi, noise, censored)


def _judge_qualitative(how: str, m: float, lo: float, hi: float, noise: bool) -> tuple[str, str]:
    """A criterion claim (a ratio above 1 beyond the spread) or a claim of no effect (the spread includes 1)."""
    if how == "no_effect":  # "not hurt by": no measurable change, or better
        if noise:
            return HOLDS, "the spread includes no effect"
        if lo > 1:
            return HOLDS, f"better by {m:.2f}x, beyond the spread {lo:.2f}–{hi:.2f}: not hurt"
        return FAILS, f"worse: {m:.2f}x, beyond the spread {lo:.2f}–{hi:.2f}"
    if noise:
        return NO_EFFECT, f"spread {lo:.2f}–{hi:.2f} includes 1.00"
    if lo > 1:
        return HOLDS, f"{m:.2f}x, above 1 beyond the spread"
    return FAILS, f"{m:.2f}x: the opposite of the claim"


def _judge_bounded(claim: Claim, m: float, lo: float, hi: float, noise: bool, censored: bool) -> tuple[str, str]:
    """An at-least, about or at-most claim against its stated number (or range)."""
    unit = claim.unit
    shown = (lambda v: f"{v:.2f}x") if unit == "time_fraction" else (lambda v: _fmt(v, unit))
    low, high = (claim.stated if isinstance(claim.stated, tuple) else (claim.stated, claim.stated))
    low, high = _as_speedup(low, unit), _as_speedup(high, unit)
    wrong = ARITHMETIC if claim.arithmetic else FAILS
    if claim.compare == "about":
        if low * (1 - BAND) <= m <= high * (1 + BAND):
            return HOLDS, f"within {BAND:.0%}"
        if censored and m <= high * (1 + BAND):
            return NOT_MEASURABLE, f"censored: the true value is ≥ {shown(m)}"
        off = m / (low if m < low else high) - 1
        return wrong, (f"recomputed: {shown(m)}" if claim.arithmetic else f"{off:+.0%} off the claim")
    if claim.compare == "at_most":
        return (HOLDS, f"at most {shown(high)}") if m <= high * (1 + BAND) else (
            wrong, f"{m / high - 1:+.0%} above the bound")
    if censored:  # at_least: a lower bound confirms the claim or says nothing
        return (HOLDS, f"≥ {shown(m)} already reaches the claim") if m >= low else (
            NOT_MEASURABLE, f"censored: the sweep never crossed; the true value is ≥ {shown(m)}")
    null = 1.0 if unit in _NULL else 0.0
    if noise:
        return NO_EFFECT, f"spread {lo:.2f}–{hi:.2f} includes 1.00"
    if m >= low:
        return HOLDS, "reaches the claim"
    if m > null:
        return PARTLY, f"reached {(m - null) / (low - null):.0%} of the claim ({shown(low)})"
    return FAILS, ("the opposite of the claim" if unit in _NULL else f"{shown(m)} against {shown(low)}")


def verdict(claim: Claim, measured: float | None, spread: Sequence[float] | None = None,
            censored: bool = False) -> str:
    """The verdict alone (see :func:`judge`).

    Examples
    --------
    >>> c = Claim("x", "s", "q", 5.0, "x", "01_a", "k", "at_least", False, "h")
    >>> verdict(c, 6.0), verdict(c, 4.2), verdict(c, 1.01), verdict(c, 0.5)
    ('holds', 'partly holds', 'no measurable effect here', 'does not hold at this scale')
    """
    return judge(claim, measured, spread, censored)[0]


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
        Columns ``id, section, claim, guide, ours, value, spread, kind, verdict, detail, notebook, key,
        how, basis, arithmetic`` (and ``reference`` and ``vs_reference`` when a reference is given).
    """
    rows = []
    error = (((runs.get("00_start_here") or {}).get("results") or {}).get("projection.error_2cores") or {}).get("value")
    for c in claims:
        doc = runs.get(c.notebook)
        entry = ((doc or {}).get("results") or {}).get(c.key)
        value = entry.get("value") if entry else None
        spread = (entry or {}).get("spread")
        censored = bool((entry or {}).get("censored"))
        kind = entry.get("kind", "measured") if entry else ""
        detail = ""
        if c.notebook not in present:
            status, why = NOT_MEASURED, f"notebook {c.notebook} is planned"
        elif c.notebook not in runs:
            status, why = NOT_MEASURED, f"notebook {c.notebook} was not run in this report"
        elif doc is None:
            status, why = NOT_MEASURED, f"notebook {c.notebook} failed in this run"
        elif entry is None or (value is None and c.cluster):
            status, why = (NOT_MEASURABLE, (entry or {}).get("note") or "needs a cluster") if c.cluster else (
                NOT_MEASURED, f"{c.notebook} recorded no {c.key}")
        else:
            (status, detail), why = judge(c, value, spread, censored), ""
            if c.premise:
                alone = f"{status}, {detail}" if detail else status
                status, detail = PREMISE, f"{c.premise} (the arithmetic alone: {alone})"
        ours = why if value is None else ("≥ " if censored else "") + _fmt(value, c.unit)
        if value is not None and spread and min(spread) < max(spread):
            ours += f" (runs {_fmt(min(spread), c.unit)}–{_fmt(max(spread), c.unit)})"
        row = {"id": c.id, "section": c.section, "claim": c.quote, "guide": c.stated_text,
               "ours": ours, "value": value, "spread": spread, "detail": detail, "basis": c.basis,
               "arithmetic": c.arithmetic,
               "kind": kind or ("projected" if c.cluster else ""), "verdict": status, "notebook": c.notebook,
               "key": c.key, "how": c.how, "scale": ((doc or {}).get("parameters") or {}).get("scale", ""),
               "note": (entry or {}).get("note") or ""}
        if row["kind"] == "projected" and value is not None:
            row["note"] = (f"projection error {error:+.0%} (local[1] projected onto 2 cores, against local[2]). "
                           if error is not None else "projection error not measured in this run. ") + row["note"]
        if reference is not None:
            ref = (((reference.get(c.notebook) or {}).get("results") or {}).get(c.key) or {}).get("value")
            row["reference"] = _fmt(ref, c.unit) if ref is not None else ""
            row["vs_reference"] = (value / ref) if (value is not None and ref not in (None, 0)) else None
        rows.append(row)
    return pd.DataFrame(rows)


def notebook_table(notebook: str, output_dir: str | Path, registry: str | Path = REGISTRY,
                   statements: str | Path | None = None) -> pd.DataFrame:
    """The claims and statements one notebook checks, with the verdicts of what it has recorded so far.

    Parameters
    ----------
    notebook : str
        Notebook name, e.g. ``"02_data_skew_and_salting"``.
    output_dir : path
        Where the notebook's results JSON is.
    registry : path
        The claims registry.
    statements : path, optional
        The statements registry (``benchmarks/statements.yaml`` by default).

    Returns
    -------
    pandas.DataFrame
        ``claim, guide, ours, kind, verdict, detail`` for this notebook's numeric claims, then its statements
        (``guide`` is the kind of error checked for).
    """
    mine = [c for c in load_registry(registry) if c.notebook == notebook]
    said = [s for s in (load_statements(statements) if statements else load_statements()) if s.notebook == notebook]
    doc = load(Path(output_dir) / f"{notebook}.json")
    parts = ([evaluate(mine, {notebook: doc}, {notebook})] if mine else []) + (
        [evaluate_statements(said, {notebook: doc}, {notebook})] if said else [])
    table = pd.concat([p.dropna(axis=1, how="all") for p in parts], ignore_index=True) if parts else pd.DataFrame()
    columns = ["id", "claim", "guide", "ours", "kind", "verdict", "detail"]
    return (table if not table.empty else pd.DataFrame(columns=columns))[columns].set_index("id")
