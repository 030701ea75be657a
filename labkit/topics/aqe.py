"""Adaptive Query Execution: the one home of the lab's AQE settings and thresholds.

Named configurations that differ in one feature each, the skew-join settings
that let AQE split a partition at laptop scale, and Spark's own defaults for
them, read from the running session rather than typed in.
"""

from __future__ import annotations

from typing import Any

from labkit.core.args import positive_int

__all__ = ["FEATURES", "SKEW_KEYS", "aqe_profiles", "laptop_skew_threshold", "skew_join_defaults",
           "skew_join_settings"]

FEATURES = ("coalesce", "skew_join", "dynamic_switch")
_P = "spark.sql.adaptive."
SKEW_KEYS = (f"{_P}skewJoin.skewedPartitionThresholdInBytes", f"{_P}skewJoin.skewedPartitionFactor",
             f"{_P}advisoryPartitionSizeInBytes")


def skew_join_settings(threshold: str = "1MB", factor: float = 2.0, advisory: str | None = None) -> dict[str, Any]:
    """Settings that turn AQE's skew join on with the given thresholds.

    Spark splits a partition only when it is larger than
    ``skewedPartitionThresholdInBytes`` *and* ``skewedPartitionFactor`` times the
    median partition; its defaults (see :func:`skew_join_defaults`) never fire on
    laptop-sized data.

    Parameters
    ----------
    threshold : str
        ``skewedPartitionThresholdInBytes``.
    factor : float
        ``skewedPartitionFactor``.
    advisory : str, optional
        ``advisoryPartitionSizeInBytes``, the size a skewed partition is split
        into; ``threshold`` by default.

    Returns
    -------
    dict
        For :func:`labkit.core.session.spark_conf`.

    Examples
    --------
    >>> skew_join_settings("2MB")["spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes"]
    '2MB'
    """
    if factor <= 0:
        raise ValueError(f"factor must be > 0, got {factor!r}")
    return {f"{_P}enabled": True, f"{_P}skewJoin.enabled": True, SKEW_KEYS[0]: threshold, SKEW_KEYS[1]: factor,
            SKEW_KEYS[2]: advisory or threshold}


def skew_join_defaults(spark) -> dict[str, Any]:
    """The skew join on, with Spark's own default thresholds, read from the running session.

    Examples
    --------
    >>> skew_join_defaults(spark)["spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes"]
    '256MB'
    """
    from labkit.core.session import spark_default

    threshold, factor, advisory = (spark_default(spark, k) for k in SKEW_KEYS)
    return skew_join_settings(threshold, float(factor), advisory)


def laptop_skew_threshold(rows: int, partitions: int, bytes_per_row: int = 36) -> str:
    """A ``skewedPartitionThresholdInBytes`` that lets AQE's skew join fire on laptop-sized data.

    Twice the mean join partition, estimated as ``rows * bytes_per_row / partitions``
    (about 36 shuffled bytes per row of ``datagen.transactions``), and at least 16 KB.
    It is a setting chosen for the demonstration, not a measurement.

    Examples
    --------
    >>> laptop_skew_threshold(1_000_000, 32)
    '2197KB'
    """
    positive_int("rows", rows, 0)
    positive_int("partitions", partitions)
    mean = max(1, rows * bytes_per_row // partitions)
    return f"{max(16, 2 * mean // 1024)}KB"


def aqe_profiles(skew_threshold: str = "1MB", skew_factor: float = 2.0,
                 broadcast_threshold: str = "10MB") -> dict[str, dict[str, Any]]:
    """AQE configurations for :func:`labkit.core.session.spark_conf`, one feature at a time.

    Parameters
    ----------
    skew_threshold : str
        ``skewedPartitionThresholdInBytes`` (and the advisory size) when the
        skew join is on; see :func:`laptop_skew_threshold`.
    skew_factor : float
        ``skewedPartitionFactor``.
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
    skew = skew_join_settings(skew_threshold, skew_factor)
    none = {**skew, f"{_P}skewJoin.enabled": False, f"{_P}coalescePartitions.enabled": False,
            f"{_P}autoBroadcastJoinThreshold": "-1"}
    features = {
        "coalesce": {f"{_P}coalescePartitions.enabled": True},
        "skew_join": {f"{_P}skewJoin.enabled": True},
        "dynamic_switch": {f"{_P}autoBroadcastJoinThreshold": broadcast_threshold},
    }
    profiles = {"off": {f"{_P}enabled": False}, "none": none}
    profiles.update({name: {**none, **change} for name, change in features.items()})
    profiles["all_on"] = {**none, **{k: v for change in features.values() for k, v in change.items()}}
    return profiles
