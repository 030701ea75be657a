"""S3 storage costs: a lifecycle policy priced day by day, and the guide's cost examples recomputed.

Prices come from :mod:`labkit.core.prices` (us-east-1, dated, with their
source); lifecycle rules are evaluated by :mod:`labkit.core.lifecycle`. The
model bills each GB by the storage class it sits in each day (a GB-month is 30
days here), adds the early-deletion charge when data leaves a class before its
minimum duration, and, when an object size is given, the minimum billable size,
the per-object overhead of the archive classes and the transition requests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from labkit.core.args import positive_int
from labkit.core.lifecycle import require_days, storage_class_at, validate_lifecycle
from labkit.core.prices import S3_CLASSES, s3_class

__all__ = ["DAYS_PER_MONTH", "GUIDE_TIERING_POLICY", "GUIDE_VERSION_POLICY", "discount", "guide_examples",
           "schedule_cost", "simulate_costs"]

DAYS_PER_MONTH = 30
_CLASSES = list(S3_CLASSES)


def discount(storage_class: str, versus: str = "STANDARD") -> float:
    """How much cheaper a GB-month of one class is than another: ``1 - price / versus price``.

    Examples
    --------
    >>> round(discount("STANDARD_IA"), 3)  # the guide says 54%
    0.457
    """
    return 1.0 - s3_class(storage_class).usd_per_gb_month / s3_class(versus).usd_per_gb_month


def schedule_cost(size_gb: float, schedule: Sequence[tuple[int, str]]) -> float:
    """The storage bill of ``size_gb`` kept ``months`` in each class in turn, e.g. ``[(12, "STANDARD"), ...]``.

    Examples
    --------
    >>> schedule_cost(1000, [(12, "STANDARD")])
    276.0
    """
    if size_gb < 0:
        raise ValueError(f"size_gb must be >= 0, got {size_gb!r}")
    return float(sum(positive_int("months", m, 0) * size_gb * s3_class(c).usd_per_gb_month for m, c in schedule))


def _timeline(rule: dict | None, horizon: int, noncurrent_at: int | None) -> list[tuple[int, str | None]]:
    """(age in days, class) at every age where the class changes, up to ``horizon`` days of age."""
    changes, last = [], object()
    points = {0, horizon}
    if rule is not None:
        for t in rule.get("Transitions", []):
            points.add(t["Days"])
        if rule.get("Expiration", {}).get("Days") is not None:
            points.add(rule["Expiration"]["Days"])
        if noncurrent_at is not None:
            points.add(noncurrent_at)
            for t in rule.get("NoncurrentVersionTransitions", []):
                points.add(noncurrent_at + t["NoncurrentDays"])
            if "NoncurrentVersionExpiration" in rule:
                points.add(noncurrent_at + rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
    for age in sorted(p for p in points if 0 <= p <= horizon):
        if rule is None:
            cls = "STANDARD"
        else:
            nc = age - noncurrent_at if noncurrent_at is not None and age >= noncurrent_at else None
            cls = storage_class_at(rule, age, nc)
        if cls != last:
            changes.append((age, cls))
            last = cls
    return changes


def _billed_gb(cls: str, size_gb: float, objects: float) -> float:
    """GB billed for data in a class, with the minimum object size and per-object overhead when objects are known."""
    c = s3_class(cls)
    if not objects:
        return size_gb
    per_object = max(size_gb * 2**30 / objects, c.min_object_bytes) + c.overhead_bytes_class
    return per_object * objects / 2**30  # the STANDARD-priced overhead is added by the caller


def simulate_costs(growth_gb: float | Sequence[float], policy: dict | None, months: int, every: str = "month",
                   overwrite: bool = False, object_mb: float | None = None) -> pd.DataFrame:
    """The monthly bill of a growing dataset under a lifecycle policy, per storage class.

    Parameters
    ----------
    growth_gb : float or sequence of float
        GB written each period (a sequence gives each period's amount; a number
        repeats for every period of the horizon).
    policy : dict or None
        A lifecycle configuration (its first rule applies to everything); None
        keeps everything in STANDARD.
    months : int
        Horizon, in 30-day months.
    every : {"month", "day"}
        The period of ``growth_gb``.
    overwrite : bool
        Each write overwrites the previous one under versioning: the previous
        version becomes noncurrent (the daily-overwritten file of the guide).
    object_mb : float, optional
        Object size: adds the minimum billable size, the archive classes'
        per-object overhead and the transition requests. None: bill bytes only.

    Returns
    -------
    pandas.DataFrame
        Indexed by month (1..months): one column per storage class (USD),
        ``early deletion``, ``transitions`` and ``total``. ``attrs["stored_gb"]``
        is a daily frame of GB stored per class, and ``attrs["run_rate"]`` the
        daily series of what a month costs at that day's storage.
    """
    positive_int("months", months)
    if every not in ("month", "day"):
        raise ValueError(f"every must be 'month' or 'day', got {every!r}")
    if policy is not None:
        validate_lifecycle(policy)
        require_days(policy, "the cost model")
    rule = policy["Rules"][0] if policy else None
    days, step = months * DAYS_PER_MONTH, DAYS_PER_MONTH if every == "month" else 1
    starts = list(range(0, days, step))
    sizes = [float(growth_gb)] * len(starts) if np.isscalar(growth_gb) else [float(g) for g in growth_gb]
    if len(sizes) < len(starts):
        sizes += [0.0] * (len(starts) - len(sizes))
    stored = np.zeros((days + 1, len(_CLASSES)))  # GB per class, as a difference array over days
    extra = {"early deletion": np.zeros(days + 1), "transitions": np.zeros(days + 1)}
    for i, (start, size) in enumerate(zip(starts, sizes, strict=False)):
        if size <= 0:
            continue
        nc = (starts[i + 1] - start) if overwrite and i + 1 < len(starts) else None
        objects = size * 1024 / object_mb if object_mb else 0.0
        _bill_cohort(stored, extra, _timeline(rule, days - start, nc), start, days, size, objects)
    daily = pd.DataFrame(np.cumsum(stored, axis=0)[:days], columns=_CLASSES)
    prices = np.array([S3_CLASSES[c].usd_per_gb_month for c in _CLASSES])
    per_day_usd = daily.to_numpy() * prices / DAYS_PER_MONTH
    month = np.arange(days) // DAYS_PER_MONTH + 1
    out = pd.DataFrame(per_day_usd, columns=_CLASSES).groupby(month).sum()
    for name, arr in extra.items():
        out[name] = pd.Series(arr[:days]).groupby(month).sum().to_numpy()
    out = out.loc[:, (out != 0).any()]  # keep classes that were used
    out["total"] = out.sum(axis=1)
    out.index.name = "month"
    out.attrs["stored_gb"] = daily.loc[:, (daily != 0).any()]
    out.attrs["run_rate"] = pd.Series(daily.to_numpy() @ prices, name="usd per month at that day's storage")
    return out


def _bill_cohort(stored, extra, timeline, start: int, days: int, size: float, objects: float) -> None:
    """Add one cohort's storage, early-deletion and transition charges to the running arrays."""
    for j, (age, cls) in enumerate(timeline):
        end_age = timeline[j + 1][0] if j + 1 < len(timeline) else days - start
        a, b = start + age, min(start + end_age, days)
        if cls is None or a >= b:
            continue
        col = _CLASSES.index(cls)
        billed = _billed_gb(cls, size, objects)
        stored[a, col] += billed
        stored[b, col] -= billed
        if objects:  # the 8 KB of metadata that Glacier classes bill at the STANDARD price
            meta = s3_class(cls).overhead_bytes_standard * objects / 2**30
            stored[a, 0] += meta
            stored[b, 0] -= meta
            if age > 0:
                extra["transitions"][a] += objects / 1000 * s3_class(cls).transition_usd_per_1000
        left_early = j + 1 < len(timeline) and (end_age - age) < s3_class(cls).min_days
        if left_early and start + end_age < days:
            short = s3_class(cls).min_days - (end_age - age)
            extra["early deletion"][start + end_age] += billed * s3_class(cls).usd_per_gb_month * short / DAYS_PER_MONTH


GUIDE_TIERING_POLICY = dict(transitions=[(30, "STANDARD_IA"), (730, "GLACIER_IR"), (1095, "DEEP_ARCHIVE")])
GUIDE_VERSION_POLICY = dict(noncurrent_transitions=[(30, "GLACIER")], noncurrent_expiration_days=90)


def guide_examples() -> pd.DataFrame:
    """The guide's S3 cost figures next to ours, recomputed from the price table and the cost model.

    Returns
    -------
    pandas.DataFrame
        Indexed by results key: ``claim`` (registry id), ``guide`` (its number),
        ``ours``, ``unit`` and ``how`` (what was computed, and where the guide's
        arithmetic goes wrong).
    """
    from labkit.core.lifecycle import lifecycle_policy
    from labkit.core.prices import TRANSFER_USD_PER_GB

    tiered = schedule_cost(1000, [(12, "STANDARD"), (12, "STANDARD_IA"), (36, "GLACIER_IR")])
    standard = schedule_cost(1000, [(60, "STANDARD")])
    keep = simulate_costs(10, None, 13, every="day", overwrite=True)  # 13 months of 30 days reach day 365
    ruled = simulate_costs(10, lifecycle_policy(**GUIDE_VERSION_POLICY), 13, every="day", overwrite=True)
    rows = [
        ("costs.tiering.savings", "s3-tiering-79pct", 0.79, 1 - tiered / standard, "fraction",
         f"its own layout: 12 months STANDARD, 12 IA, 36 Glacier IR = ${tiered:,.0f} over 5 years against "
         f"${standard:,.0f} all-STANDARD; '$285/year' is half of the 5-year total, and 1 - 570/1380 is 59%, not 79%"),
        ("costs.standard_ia.discount", "s3-standard-ia-54pct", 0.54, discount("STANDARD_IA"), "fraction",
         "1 - $0.0125 / $0.023 = 46%, by the guide's own prices"),
        ("costs.glacier_ir.discount", "s3-glacier-ir-68pct", 0.68, discount("GLACIER_IR"), "fraction",
         "1 - $0.004 / $0.023 = 83%, by the guide's own prices"),
        ("costs.deep_archive.discount", "s3-deep-archive-95pct", 0.95, discount("DEEP_ARCHIVE"), "fraction",
         "1 - $0.00099 / $0.023"),
        ("costs.versioning.monthly_cost_after_1y", "s3-versioning-83-95", 83.95, float(keep.attrs["run_rate"][364]),
         "usd_per_month", "10 GB a day, every version kept: the month's bill at day 365, simulated day by day"),
        ("costs.versioning.lifecycle_savings", "s3-lifecycle-70pct", 0.70,
         1 - ruled["total"].iloc[:12].sum() / keep["total"].iloc[:12].sum(), "fraction",
         "first-year bill with the guide's rule (Glacier after 30 noncurrent days, deleted after 90, with Glacier's "
         "90-day early-deletion charge) against keeping every version"),
        ("costs.direct_connect.savings", "dx-78pct", 0.78,
         1 - TRANSFER_USD_PER_GB["direct_connect"] / TRANSFER_USD_PER_GB["internet"], "fraction",
         "1 - $0.02 / $0.09 per GB transferred out"),
    ]
    return pd.DataFrame(rows, columns=["key", "claim", "guide", "ours", "unit", "how"]).set_index("key")
