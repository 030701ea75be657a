"""Adaptive Query Execution: named configurations that differ in one feature each."""

from __future__ import annotations

from typing import Any

__all__ = ["FEATURES", "aqe_profiles"]

FEATURES = ("coalesce", "skew_join", "dynamic_switch")


def aqe_profiles(skew_threshold: str = "1MB", skew_factor: float = 2.0,
                 broadcast_threshold: str = "10MB") -> dict[str, dict[str, Any]]:
    """AQE configurations for :func:`labkit.session.spark_conf`, one feature at a time.

    Parameters
    ----------
    skew_threshold : str
        ``skewedPartitionThresholdInBytes`` when the skew join is on. Spark's
        default (256MB) never fires at laptop scale; pass ``"256MB"`` to see that.
    skew_factor : float
        ``skewedPartitionFactor`` (Spark's default: 5).
    broadcast_threshold : str
        ``spark.sql.adaptive.autoBroadcastJoinThreshold`` when the dynamic switch
        to broadcast is on.

    Returns
    -------
    dict
        ``off`` (AQE disabled); ``none`` (AQE on, every feature below off: the
        reference the three single-feature profiles differ from by one
        feature); ``coalesce``; ``skew_join``; ``dynamic_switch``; ``all_on``.

    Examples
    --------
    >>> p = aqe_profiles()
    >>> [k for k in p["coalesce"] if p["coalesce"][k] != p["none"][k]]
    ['spark.sql.adaptive.coalescePartitions.enabled']
    """
    none = {
        "spark.sql.adaptive.enabled": True,
        "spark.sql.adaptive.coalescePartitions.enabled": False,
        "spark.sql.adaptive.skewJoin.enabled": False,
        "spark.sql.adaptive.autoBroadcastJoinThreshold": "-1",
        "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes": skew_threshold,
        "spark.sql.adaptive.skewJoin.skewedPartitionFactor": skew_factor,
        # the size a skewed partition is split into (and, with parallelismFirst=false, the coalescing target)
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": skew_threshold,
    }
    features = {
        "coalesce": {"spark.sql.adaptive.coalescePartitions.enabled": True},
        "skew_join": {"spark.sql.adaptive.skewJoin.enabled": True},
        "dynamic_switch": {"spark.sql.adaptive.autoBroadcastJoinThreshold": broadcast_threshold},
    }
    profiles = {"off": {"spark.sql.adaptive.enabled": False}, "none": none}
    profiles.update({name: {**none, **change} for name, change in features.items()})
    profiles["all_on"] = {**none, **{k: v for change in features.values() for k, v in change.items()}}
    return profiles
