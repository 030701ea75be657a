"""S3 storage costs: a lifecycle policy priced day by day, and what reading old data back costs.

Prices come from :mod:`labkit.aws.prices` (us-east-1, dated, with their
source); lifecycle rules are evaluated by :mod:`labkit.aws.lifecycle`. The
model bills each GB by the storage class it sits in each day (a GB-month is 30
days here), adds the early-deletion charge when data leaves a class before its
minimum duration, and, when an object size is given, the minimum billable size,
the per-object overhead of the archive classes and the transition requests.

:func:`monthly_read_costs` adds what the storage price leaves out: reads. Standard-IA and Glacier Instant
Retrieval bill every GB read; Glacier Flexible Retrieval and Deep Archive must restore first (per GB, per
1,000 requests, and hours of waiting, by retrieval tier); Intelligent-Tiering bills no retrieval but a
monitoring fee per object. :func:`break_even_reads` is where a cheaper class stops paying off.

The guide's cost examples, recomputed with this model, are :mod:`labkit.experiments.costs`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from labkit.aws.lifecycle import require_days, storage_class_at, validate_lifecycle
from labkit.aws.prices import INTELLIGENT_TIERING, S3_CLASSES, S3_GET_USD_PER_1000, restore_tier, s3_class
from labkit.core.args import positive_int

__all__ = ["DAYS_PER_MONTH", "READ_OPTIONS", "break_even_reads", "discount", "intelligent_tiering_split",
           "monthly_read_costs", "schedule_cost", "simulate_costs"]

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


_INSTANT = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR")
READ_OPTIONS = _INSTANT + ("INTELLIGENT_TIERING", "GLACIER/Expedited", "GLACIER/Standard", "GLACIER/Bulk",
                           "DEEP_ARCHIVE/Standard", "DEEP_ARCHIVE/Bulk")
_AUTOMATIC_TIERS = ("Frequent Access", "Infrequent Access", "Archive Instant Access")


def intelligent_tiering_split(read_fraction: float) -> dict[str, float]:
    """Share of the data in each automatic Intelligent-Tiering tier, in the steady state of random reads.

    Each month a fraction ``read_fraction`` of the objects, picked at random, is read. An object read in the
    last 30 days is in Frequent Access, one unread for 30 to 90 days in Infrequent Access, one unread for 90
    days or more in Archive Instant Access (the opt-in archive tiers are left off). For data older than 90 days.

    Examples
    --------
    >>> intelligent_tiering_split(0.0)["Archive Instant Access"]
    1.0
    """
    if not 0.0 <= read_fraction <= 1.0:
        raise ValueError(f"read_fraction must be between 0 and 1, got {read_fraction!r}")
    unread = 1.0 - read_fraction
    shares = (read_fraction, unread - unread ** 3, unread ** 3)
    return dict(zip(_AUTOMATIC_TIERS, shares, strict=True))


def _check_read_inputs(stored_gb: float, read_gb: float, object_mb: float | None, restore_days: int) -> None:
    """Raise ValueError for a negative size or read volume, a non-positive object size, or restore_days < 1."""
    if stored_gb <= 0 or read_gb < 0:
        raise ValueError(f"stored_gb must be > 0 and read_gb_per_month >= 0, got {stored_gb!r} and {read_gb!r}")
    if object_mb is not None and object_mb <= 0:
        raise ValueError(f"object_mb must be > 0 (or None: bill bytes only), got {object_mb!r}")
    positive_int("restore_days", restore_days, 1)


def _storage_usd(cls: str, stored_gb: float, objects: float) -> float:
    """A month of storage in one class, with minimum object sizes and archive overheads when objects are known."""
    meta = s3_class(cls).overhead_bytes_standard * objects / 2**30 * s3_class("STANDARD").usd_per_gb_month
    return _billed_gb(cls, stored_gb, objects) * s3_class(cls).usd_per_gb_month + meta


def _intelligent_tiering_row(stored_gb: float, read_gb: float, object_mb: float | None) -> dict[str, float]:
    """A month of Intelligent-Tiering: tiered storage (by the random-read split), monitoring, GET requests."""
    if object_mb is None:
        raise ValueError("Intelligent-Tiering bills its monitoring fee per object: give object_mb")
    it, objects = INTELLIGENT_TIERING, stored_gb * 1024 / object_mb
    prices = {name: usd for name, _, usd, _ in it.tiers}
    if object_mb * 2**20 < it.min_monitored_bytes:  # not monitored: always Frequent Access, no fee
        storage, monitoring = stored_gb * prices["Frequent Access"], 0.0
    else:
        split = intelligent_tiering_split(min(read_gb / stored_gb, 1.0))
        storage = sum(stored_gb * share * prices[tier] for tier, share in split.items())
        monitoring = objects / 1000 * it.monitoring_usd_per_1000_objects
    gets = read_gb * 1024 / object_mb / 1000 * S3_GET_USD_PER_1000["INTELLIGENT_TIERING"]
    return {"storage": storage, "retrieval": read_gb * it.retrieval_usd_per_gb, "requests": gets,
            "monitoring": monitoring, "restored copy": 0.0, "hours to first byte": 0.0}


def _option_row(option: str, stored_gb: float, read_gb: float, object_mb: float | None,
                restore_days: int) -> dict[str, float]:
    """One storage option's month: storage, retrieval, requests, monitoring, the restored copy, and the wait."""
    if option == "INTELLIGENT_TIERING":
        return _intelligent_tiering_row(stored_gb, read_gb, object_mb)
    cls, _, tier = option.partition("/")
    if tier:
        restore_tier(cls, tier)  # a clear error naming the tiers there are
    elif option not in READ_OPTIONS:
        raise ValueError(f"unknown storage option {option!r}; the options are {', '.join(READ_OPTIONS)}")
    objects = stored_gb * 1024 / object_mb if object_mb else 0.0
    requests_read = read_gb * 1024 / object_mb / 1000 if object_mb else 0.0  # thousands of objects read
    row = {"storage": _storage_usd(cls, stored_gb, objects), "monitoring": 0.0}
    if not tier:
        row.update(retrieval=read_gb * s3_class(cls).retrieval_usd_per_gb, restored_copy=0.0, wait=0.0,
                   requests=requests_read * S3_GET_USD_PER_1000[cls])
    else:
        t = restore_tier(cls, tier)
        standard = s3_class("STANDARD").usd_per_gb_month
        row.update(retrieval=read_gb * t.usd_per_gb, restored_copy=read_gb * standard * restore_days / DAYS_PER_MONTH,
                   wait=t.hours[1], requests=requests_read * (t.usd_per_1000_requests + S3_GET_USD_PER_1000[cls]))
    return {"storage": row["storage"], "retrieval": row["retrieval"], "requests": row["requests"],
            "monitoring": row["monitoring"], "restored copy": row["restored_copy"], "hours to first byte": row["wait"]}


def monthly_read_costs(stored_gb: float, read_gb_per_month: float, object_mb: float | None = 128.0,
                       options: Sequence[str] = READ_OPTIONS, restore_days: int = 1) -> pd.DataFrame:
    """What a month costs for data at rest that is read ``read_gb_per_month``, in each storage option.

    Parameters
    ----------
    stored_gb : float
        Data kept (already past every minimum storage duration: no early-deletion charge here).
    read_gb_per_month : float
        GB read back each month (re-reads count again: every GB read is billed).
    object_mb : float or None
        Object size: GET and restore requests, the 128 KB minimum billable size, the archive classes'
        per-object overhead, and Intelligent-Tiering's monitoring fee. None bills bytes only (and refuses
        Intelligent-Tiering, whose fee is per object).
    options : sequence of str
        Storage classes, and ``CLASS/Tier`` for the archive classes read through a restore
        (``GLACIER/Expedited|Standard|Bulk``, ``DEEP_ARCHIVE/Standard|Bulk``); see :data:`READ_OPTIONS`.
    restore_days : int
        Days a restored copy is kept (billed at the S3 Standard price).

    Returns
    -------
    pandas.DataFrame
        Indexed by option: ``storage``, ``retrieval``, ``requests``, ``monitoring``, ``restored copy``,
        ``total`` (USD per month) and ``hours to first byte`` (the upper bound of a restore; 0: milliseconds).

    Examples
    --------
    >>> t = monthly_read_costs(1000, 0, object_mb=None, options=["STANDARD", "STANDARD_IA"])
    >>> t["total"].round(2).tolist()
    [23.0, 12.5]
    """
    _check_read_inputs(stored_gb, read_gb_per_month, object_mb, restore_days)
    rows = {o: _option_row(o, float(stored_gb), float(read_gb_per_month), object_mb, restore_days) for o in options}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.insert(5, "total", out[["storage", "retrieval", "requests", "monitoring", "restored copy"]].sum(axis=1))
    out.index.name = "option"
    return out


def break_even_reads(storage_class: str = "STANDARD_IA", versus: str = "STANDARD", stored_gb: float = 1.0,
                     object_mb: float | None = None) -> float:
    """GB read per month at which ``storage_class`` costs as much as ``versus``: below it, it is cheaper.

    Both bills are straight lines in the GB read (storage is fixed, every GB read adds its retrieval and
    requests), so the crossing is (storage saved) / (extra paid per GB read). ``inf`` when the cheaper class
    pays no more per GB read. Not for Intelligent-Tiering, whose storage itself moves with the reads.

    Examples
    --------
    >>> round(break_even_reads(), 2)  # Standard-IA against Standard: reads of 1.05x the data a month
    1.05
    """
    options = [storage_class, versus]
    if "INTELLIGENT_TIERING" in options:
        raise ValueError("break_even_reads compares classes whose bill is linear in the reads; compare "
                         "Intelligent-Tiering with monthly_read_costs at the read volumes you expect")
    at0 = monthly_read_costs(stored_gb, 0.0, object_mb, options)["total"]
    at1 = monthly_read_costs(stored_gb, stored_gb, object_mb, options)["total"]
    per_gb = (at1 - at0) / stored_gb
    extra = per_gb[storage_class] - per_gb[versus]
    saved = at0[versus] - at0[storage_class]
    return float("inf") if extra <= 0 else float(saved / extra)
