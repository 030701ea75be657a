"""Notebook 08's cost experiments: the guide's S3 cost figures and policies, recomputed with the cost model.

The model itself (a lifecycle policy billed day by day, reads priced by class) is :mod:`labkit.topics.costs`.
Here: the guide's lifecycle policies as it writes them (:data:`GUIDE_Q3_LIFECYCLE`, :data:`GUIDE_Q10_LIFECYCLE`)
and as arguments of :func:`~labkit.aws.lifecycle.lifecycle_policy` (:data:`GUIDE_TIERING_POLICY`,
:data:`GUIDE_VERSION_POLICY`), its cost figures next to ours (:func:`guide_examples`), and the comparison tables
the notebook plots and records (:func:`tiering_against_standard`, :func:`versioning_costs`,
:func:`read_volume_bills`).
"""

from __future__ import annotations

import pandas as pd

from labkit.aws.lifecycle import lifecycle_policy
from labkit.aws.prices import TRANSFER_USD_PER_GB
from labkit.topics.costs import break_even_reads, discount, monthly_read_costs, schedule_cost, simulate_costs

__all__ = ["GUIDE_LIFECYCLES", "GUIDE_Q3_LIFECYCLE", "GUIDE_Q10_LIFECYCLE", "GUIDE_TIERING_POLICY",
           "GUIDE_VERSION_POLICY", "guide_examples", "read_volume_bills", "tiering_against_standard",
           "versioning_costs"]

# The guide's policies as arguments of lifecycle_policy: its tiering (General Guidance Q3 a) and its
# noncurrent-version rule (Core Technical Q10).
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


# The guide's two lifecycle configurations, as it prints them (General Guidance Q3 a; Core Technical Q10).
GUIDE_Q3_LIFECYCLE = {"Rules": [{
    "Id": "Hot-Warm-Cold-Archive", "Status": "Enabled", "Filter": {"Prefix": "data/"},
    "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 730, "StorageClass": "GLACIER_IR"},
                    {"Days": 1095, "StorageClass": "DEEP_ARCHIVE"}],
    "NoncurrentVersionTransitions": [{"NoncurrentDays": 90, "StorageClass": "GLACIER"}]}]}
GUIDE_Q10_LIFECYCLE = {"Rules": [{
    "Id": "delete-old-versions", "Status": "Enabled",
    "NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "GLACIER"}],
    "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]}
GUIDE_LIFECYCLES = (GUIDE_Q3_LIFECYCLE, GUIDE_Q10_LIFECYCLE)  # in that order: Q3, then Q10


def tiering_against_standard(dataset_gb: float, years: int,
                             policy: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, float]:
    """A dataset's bill under a tiering policy against keeping it all in STANDARD, month by month.

    Parameters
    ----------
    dataset_gb : float
        Written once, in the first month.
    years : int
        Horizon (months of 30 days: ``12 * years``).
    policy : dict, optional
        A lifecycle configuration; the guide's own tiering policy (:data:`GUIDE_TIERING_POLICY`) by default.

    Returns
    -------
    tiered, standard : pandas.DataFrame
        The :func:`~labkit.topics.costs.simulate_costs` tables under the policy and with no policy (all STANDARD).
    cumulative : pandas.DataFrame
        The two running totals, columns ``"the guide's policy"`` and ``"all STANDARD"``.
    savings : float
        ``1 -`` (the policy's total over the horizon) / (the all-STANDARD total).
    """
    policy = lifecycle_policy(**GUIDE_TIERING_POLICY) if policy is None else policy
    tiered = simulate_costs([dataset_gb], policy, years * 12)
    standard = simulate_costs([dataset_gb], None, years * 12)
    cumulative = pd.DataFrame({"the guide's policy": tiered["total"].cumsum(),
                               "all STANDARD": standard["total"].cumsum()})
    return tiered, standard, cumulative, float(1 - tiered["total"].sum() / standard["total"].sum())


def versioning_costs(file_gb: float, months: int = 13) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One file overwritten every day under versioning: every version kept, against the guide's version rule.

    Parameters
    ----------
    file_gb : float
        Size of the file overwritten daily.
    months : int
        Horizon, in 30-day months (13 reach day 365).

    Returns
    -------
    kept, ruled : pandas.DataFrame
        The :func:`~labkit.topics.costs.simulate_costs` tables with no rule, and with :data:`GUIDE_VERSION_POLICY`
        (Glacier after 30 noncurrent days, deleted at 90).
    totals : pandas.DataFrame
        Their monthly totals side by side, columns ``"every version kept"`` and
        ``"Glacier at 30 days, deleted at 90"``.
    """
    kept = simulate_costs(file_gb, None, months, every="day", overwrite=True)
    ruled = simulate_costs(file_gb, lifecycle_policy(**GUIDE_VERSION_POLICY), months, every="day", overwrite=True)
    totals = pd.DataFrame({"every version kept": kept["total"], "Glacier at 30 days, deleted at 90": ruled["total"]})
    return kept, ruled, totals


def read_volume_bills(stored_gb: float,
                      object_mb: float | None = 128.0) -> tuple[dict, dict, pd.DataFrame, float]:
    """Monthly read costs at four read volumes, and where Standard-IA stops paying off against Standard.

    Parameters
    ----------
    stored_gb : float
        Old data kept.
    object_mb : float or None
        Object size (see :func:`~labkit.topics.costs.monthly_read_costs`).

    Returns
    -------
    volumes : dict
        GB read a month by name: ``"none"``, ``"10% a month"``, ``"all of it, once"``, ``"twice"``.
    bills : dict
        The :func:`~labkit.topics.costs.monthly_read_costs` table for each volume.
    table : pandas.DataFrame
        The ``total`` of each bill: one row per option, one column per volume.
    break_even : float
        :func:`~labkit.topics.costs.break_even_reads` of Standard-IA against Standard, in GB read a month.
    """
    volumes = {"none": 0.0, "10% a month": 0.1 * stored_gb, "all of it, once": stored_gb, "twice": 2 * stored_gb}
    bills = {name: monthly_read_costs(stored_gb, gb, object_mb) for name, gb in volumes.items()}
    table = pd.DataFrame({name: bill["total"] for name, bill in bills.items()})
    return volumes, bills, table, break_even_reads("STANDARD_IA", "STANDARD", stored_gb, object_mb)
