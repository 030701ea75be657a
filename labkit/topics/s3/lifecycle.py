"""Lifecycle rules on a bucket: put them (validated), check them as boto3 would, and simulate them over time.

The rules themselves are built and evaluated by :mod:`labkit.aws.lifecycle`; moto stores them but never applies
them (nor does S3 at once), so :func:`simulate_lifecycle` shows what a policy does day by day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import pandas as pd
from botocore.validate import ParamValidator

from labkit.aws.lifecycle import storage_class_at, validate_lifecycle
from labkit.core.args import positive_int
from labkit.topics.s3.versions import _check_bucket

__all__ = ["apply_lifecycle", "lifecycle_moves", "lifecycle_refusal", "simulate_lifecycle"]


def apply_lifecycle(s3, bucket: str, policy: dict) -> list[str]:
    """Validate a lifecycle configuration, put it on the bucket, and return its warnings.

    The server stores the rules; moto never applies them (nor does S3 at once):
    :func:`simulate_lifecycle` shows what they do over time.
    """
    warnings_ = validate_lifecycle(policy)
    _check_bucket(s3, bucket)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=policy)
    return warnings_


def lifecycle_refusal(s3, bucket: str, policy: dict) -> str | None:
    """Why boto3 would refuse ``put_bucket_lifecycle_configuration`` with this policy, or None; nothing is sent.

    Runs the client's own parameter validation (its service model, the check boto3 makes before any
    request), so a refusal here is exactly the ``ParamValidationError`` the call would raise.
    """
    model = s3.meta.service_model.operation_model("PutBucketLifecycleConfiguration")
    report = ParamValidator().validate({"Bucket": bucket, "LifecycleConfiguration": policy}, model.input_shape)
    return report.generate_report() if report.has_errors() else None


def lifecycle_moves(objects: Iterable[dict], policy: dict, days: int,
                    start: datetime | None = None) -> pd.DataFrame:
    """The days on which each object changes storage class under a policy (:func:`simulate_lifecycle`'s rows).

    Parameters
    ----------
    objects, policy, days, start
        As for :func:`simulate_lifecycle`.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`simulate_lifecycle` where an object's ``storage_class`` differs from its class
        the day before (an object's first day included), in day order per object.
    """
    timeline = simulate_lifecycle(objects, policy, days, start)
    timeline = timeline.sort_values(["key", "day"], kind="stable")
    cls = timeline["storage_class"].fillna("")  # None (not yet written, or expired) is a class here: no class
    changed = cls != cls.groupby(timeline["key"]).shift()
    return timeline[changed]


def simulate_lifecycle(objects: Iterable[dict], policy: dict, days: int,
                       start: datetime | None = None) -> pd.DataFrame:
    """Evaluate lifecycle rules day by day with an injectable clock: each object's class over time.

    moto stores lifecycle rules but never applies them, and S3 applies them
    asynchronously, so this is how the lab shows what a policy does.

    Parameters
    ----------
    objects : iterable of dict
        ``key``, ``size_gb``, ``created`` (a datetime) and optionally
        ``noncurrent_since`` (a datetime: the version was overwritten then).
    policy : dict
        A lifecycle configuration (validated first).
    days : int
        Days to simulate from ``start``.
    start : datetime, optional
        Day 0; the earliest ``created`` by default.

    Returns
    -------
    pandas.DataFrame
        One row per (day, object): ``day``, ``date``, ``key``, ``size_gb``,
        ``storage_class`` (None once expired, and before the object exists).
    """
    validate_lifecycle(policy)
    positive_int("days", days)
    objects = list(objects)
    if not objects:
        raise ValueError("simulate_lifecycle needs at least one object")
    start = start or min(o["created"] for o in objects)
    rows = []
    for d in range(days):
        now = start + timedelta(days=d)
        for o in objects:
            rule = next((r for r in policy["Rules"] if o["key"].startswith(r.get("Filter", {}).get("Prefix", ""))),
                        None)
            age = (now - o["created"]).days
            since = o.get("noncurrent_since")
            nc = (now - since).days if since is not None and now >= since else None
            cls = None if age < 0 else ("STANDARD" if rule is None else storage_class_at(rule, age, nc, now.date()))
            rows.append({"day": d, "date": now.date(), "key": o["key"], "size_gb": o["size_gb"],
                         "storage_class": cls})
    return pd.DataFrame(rows)
