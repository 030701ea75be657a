"""Notebook 08's experiments on S3 versions: the guide's recovery code as written, and where it goes wrong.

The techniques (listing a key's history exactly, recovering, restoring, lifecycle rules) live in
:mod:`labkit.topics.s3`. Here: the guide's "previous version" and "version by date" reproduced line for line
(:func:`guide_previous_version`, :func:`guide_version_by_date`), the demonstration that sets them against the
fixes (:func:`recovery_against_guide`), what survives enabling versioning (:func:`write_across_enabling`), and
the refusals the notebook records (:func:`as_of_refusal`, :func:`transition_refusals`).
"""

from __future__ import annotations

import time as wall_clock
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from labkit.aws.lifecycle import lifecycle_policy
from labkit.topics.s3 import (
    S3RecoveryError,
    Version,
    enable_versioning,
    list_versions,
    previous_version,
    version_as_of,
)

__all__ = ["as_of_refusal", "guide_previous_version", "guide_version_by_date", "recovery_against_guide",
           "transition_refusals", "write_across_enabling"]


# --------------------------------------------------------------------------- the guide's recovery, as written


def guide_previous_version(s3, bucket: str, key: str) -> dict:
    """The guide's "previous version", reproduced as written, for the notebook to show where it goes wrong.

    ``list_object_versions(Bucket, Prefix=key)['Versions']`` (one page, every
    key with that prefix, no delete markers), sorted by ``LastModified``
    descending, element ``[1]``. Do not use it: :func:`~labkit.topics.s3.previous_version` is the fix.
    """
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    if len(versions) < 2:
        raise S3RecoveryError("Only one version exists (current)")
    return sorted(versions, key=lambda v: v["LastModified"], reverse=True)[1]


def guide_version_by_date(s3, bucket: str, key: str, target_date) -> dict:
    """The guide's "version by date", reproduced as written: the version whose date is *closest* to the target."""
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return min(versions, key=lambda v: abs((v["LastModified"].date() - target_date).days))


# --------------------------------------------------------------------------- set against the fixes


def write_across_enabling(s3, bucket_prefix: str, key: str,
                          unversioned: tuple[bytes, ...] = (b"overwritten while unversioned\n",
                                                            b"written before versioning\n"),
                          versioned: bytes = b"written after\n") -> tuple[str, str, list[Version]]:
    """Write a key in a new bucket before and after versioning is enabled: what survives the switch.

    Creates a new bucket ``<bucket_prefix>-pre-<8 hex digits>`` (its versioning state never set), puts each
    of ``unversioned`` in turn, enables versioning, puts ``versioned``, and lists the key's versions. S3 keeps
    the object that was there when versioning was enabled as the version ``null``; the overwrites before it
    are gone.

    Parameters
    ----------
    s3 : botocore.client.S3
    bucket_prefix : str
        The new bucket's name starts with it.
    key : str
    unversioned : tuple of bytes
        Bodies written while versioning was never set, in order (the last one is the object in place).
    versioned : bytes
        The body written after versioning was enabled.

    Returns
    -------
    (str, str, list of Version)
        The new bucket's name, the version id of the write made after enabling, and the key's versions,
        newest first.
    """
    bucket = f"{bucket_prefix}-pre-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for body in unversioned:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    enable_versioning(s3, bucket)
    after = s3.put_object(Bucket=bucket, Key=key, Body=versioned)["VersionId"]
    return bucket, after, list_versions(s3, bucket, key)


def recovery_against_guide(s3, bucket: str, key: str, backup_body: bytes = b"a backup that shares the prefix\n",
                           wait_s: float = 1.1) -> tuple[dict, Version, datetime, str | None, dict]:
    """Write a backup whose key starts with ``key`` a second later, then recover ``key`` the guide's way and ours.

    Waits ``wait_s`` seconds (so the backup's ``LastModified`` second is later than every version of ``key``),
    puts ``<key>.bak``, and asks both recoveries: the previous version (:func:`guide_previous_version` against
    :func:`~labkit.topics.s3.previous_version`) and the version one day before the key's first version
    (:func:`~labkit.topics.s3.version_as_of`, which refuses, against :func:`guide_version_by_date`, which answers).

    Parameters
    ----------
    s3 : botocore.client.S3
    bucket, key : str
        A versioned bucket and a key with at least two versions.
    backup_body : bytes
    wait_s : float

    Returns
    -------
    guide : dict
        The guide's "previous version" entry.
    ours : Version
        :func:`~labkit.topics.s3.previous_version`.
    before : datetime
        The time asked for: the first version's ``LastModified`` minus one day.
    refusal : str or None
        :func:`as_of_refusal` at ``before``.
    closest : dict
        The guide's "closest date" entry for ``before.date()``.
    """
    wall_clock.sleep(wait_s)
    s3.put_object(Bucket=bucket, Key=key + ".bak", Body=backup_body)
    before = list_versions(s3, bucket, key)[-1].last_modified - timedelta(days=1)
    return (guide_previous_version(s3, bucket, key), previous_version(s3, bucket, key), before,
            as_of_refusal(s3, bucket, key, before), guide_version_by_date(s3, bucket, key, before.date()))


def as_of_refusal(s3, bucket: str, key: str, when: datetime | date) -> str | None:
    """Why :func:`~labkit.topics.s3.version_as_of` refuses ``when`` (its ``S3RecoveryError`` message), or None.

    Parameters
    ----------
    s3 : botocore.client.S3
    bucket, key : str
    when : datetime or date
        As for :func:`~labkit.topics.s3.version_as_of`.

    Returns
    -------
    str or None
        The refusal's message (a time before the key's first version, a naive datetime), or None.
    """
    try:
        version_as_of(s3, bucket, key, when)
    except S3RecoveryError as err:
        return str(err)
    return None


def transition_refusals(candidates: Iterable[list[tuple[int, str]]]) -> list[str | None]:
    """Build a lifecycle policy from each list of transitions; say why ``lifecycle_policy`` refuses each.

    Parameters
    ----------
    candidates : sequence of list of (int, str)
        One ``transitions`` argument of :func:`~labkit.aws.lifecycle.lifecycle_policy` per policy:
        ``[(days, storage class), ...]``.

    Returns
    -------
    list of (str or None)
        For each candidate, the ``ValueError`` message that refused it (what S3 rejects, or what only
        wastes money), or None when the policy was built.
    """
    out: list[str | None] = []
    for transitions in candidates:
        try:
            lifecycle_policy(transitions=transitions)
            out.append(None)
        except ValueError as err:
            out.append(str(err))
    return out
