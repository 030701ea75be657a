"""S3 versioning and recovery, against a real S3 API: moto's server on 127.0.0.1, or any endpoint you name.

Every operation takes the boto3 client first, so the same code runs against
real S3. :func:`client` starts moto's ``ThreadedMotoServer`` on a free loopback
port and talks to it over HTTP, the S3 wire protocol; with ``LABKIT_S3_ENDPOINT``
set (and the usual ``AWS_*`` variables) it talks to that endpoint instead.

The guide's recovery code has three bugs this module fixes, and the notebook shows:

* it sorts versions by ``LastModified``, which S3 reports to the second, so
  overwrites within one second come back in any order and ``[1]`` is not
  "the previous version"; S3 already lists each key's versions newest first;
* it lists by prefix, so ``data/in/a.csv`` also returns ``data/in/a.csv.bak``;
* "as of" picks the version *closest* to a date, which can be one written after it.
"""

from __future__ import annotations

import atexit
import os
import threading
import time as wall_clock
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any

from labkit.aws.lifecycle import lifecycle_policy, storage_class_at, validate_lifecycle

__all__ = [
    "S3RecoveryError",
    "Version",
    "apply_lifecycle",
    "archive_with_timestamp",
    "as_of_refusal",
    "client",
    "enable_versioning",
    "get_version",
    "guide_previous_version",
    "guide_version_by_date",
    "lifecycle_policy",
    "lifecycle_moves",
    "lifecycle_refusal",
    "list_versions",
    "previous_version",
    "recovery_against_guide",
    "restore_version",
    "server_url",
    "simulate_lifecycle",
    "stop_server",
    "storage_class_at",
    "transition_refusals",
    "undelete",
    "validate_lifecycle",
    "version_as_of",
    "versioned_bucket",
    "write_across_enabling",
]

_LOCK = threading.Lock()
_SERVER: dict[str, Any] = {}


class S3RecoveryError(ValueError):
    """A recovery that cannot be done as asked; the message says what to do instead."""


@dataclass(frozen=True)
class Version:
    """One entry of a key's history: a version, or a delete marker."""

    key: str
    version_id: str
    last_modified: datetime  # S3 reports it to the second
    is_latest: bool
    delete_marker: bool
    size: int = 0
    etag: str = ""


def _start_server() -> str:
    """Start moto's S3 server on 127.0.0.1 at a free port, once per process; return its URL."""
    with _LOCK:
        if "url" not in _SERVER:
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on the terminal
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            _SERVER.update(server=server, url=f"http://{host}:{port}")
            atexit.register(stop_server)
        return _SERVER["url"]


def server_url() -> str | None:
    """The URL of the moto server this process started, or None."""
    return _SERVER.get("url")


def stop_server() -> None:
    """Stop the moto server this process started (nothing happens if none runs)."""
    with _LOCK:
        server = _SERVER.pop("server", None)
        _SERVER.pop("url", None)
    if server is not None:
        server.stop()


def client(endpoint: str | None = None):
    """A boto3 S3 client: moto's server on 127.0.0.1 by default, or ``endpoint`` / ``LABKIT_S3_ENDPOINT``.

    Parameters
    ----------
    endpoint : str, optional
        An S3 endpoint URL. When neither it nor ``LABKIT_S3_ENDPOINT`` is set, a
        moto server is started on a free loopback port (once per process, stopped
        at exit) with dummy credentials, in us-east-1.

    Returns
    -------
    botocore.client.S3
    """
    import boto3
    from botocore.config import Config

    endpoint = endpoint or os.environ.get("LABKIT_S3_ENDPOINT")
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"})
    if endpoint:  # real S3 or a compatible store: credentials and region come from the usual AWS variables
        return boto3.client("s3", endpoint_url=endpoint, config=config)
    return boto3.client("s3", endpoint_url=_start_server(), region_name="us-east-1", aws_access_key_id="labkit",
                        aws_secret_access_key="labkit", config=config)


def _code(exc) -> str:
    """The S3 error code of a botocore ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def _check_bucket(s3, bucket: str) -> None:
    """Raise S3RecoveryError when the bucket does not exist."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket"):
            raise S3RecoveryError(f"bucket {bucket!r} does not exist: check the name, or create it first") from None
        raise


def _require_versioning(s3, bucket: str) -> None:
    """Raise S3RecoveryError unless versioning is (or was) enabled on the bucket."""
    _check_bucket(s3, bucket)
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status not in ("Enabled", "Suspended"):
        raise S3RecoveryError(
            f"versioning is not enabled on bucket {bucket!r}, so S3 kept no older versions to recover. "
            f"Call enable_versioning(s3, {bucket!r}) now: from then on an overwrite or delete keeps what it "
            "replaces (an object already there is kept as its version 'null'); what was overwritten before is gone")


def enable_versioning(s3, bucket: str) -> str:
    """Turn versioning on for a bucket and return the status S3 reports back (``"Enabled"``)."""
    _check_bucket(s3, bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return s3.get_bucket_versioning(Bucket=bucket)["Status"]


def versioned_bucket(s3, bucket: str) -> str:
    """Create the bucket when it is missing, turn versioning on, and return the status S3 reports back.

    Parameters
    ----------
    s3 : botocore.client.S3
    bucket : str

    Returns
    -------
    str
        ``"Enabled"``, as :func:`enable_versioning` reads it back from the server.
    """
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    return enable_versioning(s3, bucket)


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


def _entry(item: dict, marker: bool) -> Version:
    """A Version from one ListObjectVersions item."""
    return Version(item["Key"], item["VersionId"], item["LastModified"], bool(item["IsLatest"]), marker,
                   int(item.get("Size", 0)), str(item.get("ETag", "")).strip('"'))


def _merge(versions: list[Version], markers: list[Version]) -> list[Version]:
    """Merge S3's two newest-first lists into one, never reordering either list.

    The API returns versions and delete markers as two lists, each in S3's own
    order. They are interleaved by LastModified; a version and a marker in the
    same second go with the one S3 flags IsLatest first, then the version.
    """
    out, i, j = [], 0, 0
    while i < len(versions) and j < len(markers):
        v, m = versions[i], markers[j]
        take_marker = m.last_modified > v.last_modified or (m.last_modified == v.last_modified and m.is_latest)
        if take_marker:
            out.append(m)
            j += 1
        else:
            out.append(v)
            i += 1
    return out + versions[i:] + markers[j:]


def list_versions(s3, bucket: str, key: str) -> list[Version]:
    """Every version and delete marker of exactly ``key``, newest first, in S3's order.

    Pages through ``ListObjectVersions`` (so more than 1000 versions work), keeps
    only ``key`` itself (not every key that shares its prefix), and never
    re-sorts by ``LastModified``, which has one-second resolution.

    Raises
    ------
    S3RecoveryError
        For a missing bucket.
    """
    _check_bucket(s3, bucket)
    versions, markers = [], []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        versions += [_entry(v, False) for v in page.get("Versions", []) if v["Key"] == key]
        markers += [_entry(m, True) for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    return _merge(versions, markers)


def _history(s3, bucket: str, key: str) -> list[Version]:
    """list_versions, with versioning required and a missing key as a clear error."""
    _require_versioning(s3, bucket)
    history = list_versions(s3, bucket, key)
    if not history:
        raise S3RecoveryError(f"no object {key!r} in bucket {bucket!r}, and no version of it either: check the key "
                              "(keys are case-sensitive and include the full path)")
    return history


def get_version(s3, bucket: str, key: str, version_id: str) -> bytes:
    """The bytes of one version of a key.

    Raises
    ------
    S3RecoveryError
        For a missing bucket or key, an unknown version id, or a delete marker.
    """
    history = _history(s3, bucket, key)
    entry = next((v for v in history if v.version_id == version_id), None)
    if entry is None:
        raise S3RecoveryError(f"{key!r} has no version {version_id!r}; list_versions(s3, {bucket!r}, {key!r}) "
                              f"lists its {len(history)} versions and delete markers")
    if entry.delete_marker:
        raise S3RecoveryError(f"version {version_id!r} of {key!r} is a delete marker and has no content; "
                              "undelete(...) removes it")
    return s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()


def previous_version(s3, bucket: str, key: str) -> Version:
    """The version before the current one (skipping delete markers): what an overwrite replaced.

    Raises
    ------
    S3RecoveryError
        When the key has only one version.
    """
    versions = [v for v in _history(s3, bucket, key) if not v.delete_marker]
    current = 0 if versions and versions[0].is_latest else -1  # a deleted key: its newest version is the previous
    if current == -1 and versions:
        return versions[0]
    if len(versions) < 2:
        raise S3RecoveryError(f"{key!r} has a single version, so there is no previous one")
    return versions[1]


def _as_of_cut(when: datetime | date) -> datetime:
    """The UTC instant, to the second, that ``when`` stands for (a date: the last second of that day in UTC)."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise S3RecoveryError(f"when={when!r} has no time zone; S3 times are UTC: pass a timezone-aware "
                                  "datetime (or a date, meaning the end of that day in UTC)")
        return when.astimezone(timezone.utc).replace(microsecond=0)
    if isinstance(when, date):
        return datetime.combine(when, time(23, 59, 59), tzinfo=timezone.utc)
    raise TypeError(f"when must be a timezone-aware datetime or a date, got {type(when).__name__}")


def version_as_of(s3, bucket: str, key: str, when: datetime | date) -> Version:
    """The version that was current at ``when``: the newest one written at or before it.

    The guide picks the version *closest* to the date, which can be one written
    after it. S3 reports times to the second, so a version written in the same
    second as ``when`` counts as written before it.

    Parameters
    ----------
    s3 : botocore.client.S3
    bucket, key : str
    when : datetime or date
        A timezone-aware datetime; or a ``date``, which means the end of that day in UTC
        (23:59:59 UTC: the version current when the day was over). A naive datetime is refused
        (``S3RecoveryError``), since S3 times are UTC and a local time would be guessed.

    Returns
    -------
    Version
        Possibly a delete marker: the key was deleted at ``when``.

    Raises
    ------
    S3RecoveryError
        When ``when`` is before the key's first version (it did not exist yet), or is a naive datetime.
    TypeError
        When ``when`` is neither a datetime nor a date.
    """
    cut = _as_of_cut(when)
    history = _history(s3, bucket, key)
    for entry in history:  # newest first
        if entry.last_modified <= cut:
            return entry
    raise S3RecoveryError(f"{key!r} did not exist yet at {cut.isoformat()}: its first version was written "
                          f"{history[-1].last_modified.isoformat()}")


def recovery_against_guide(s3, bucket: str, key: str, backup_body: bytes = b"a backup that shares the prefix\n",
                           wait_s: float = 1.1) -> tuple[dict, Version, datetime, str | None, dict]:
    """Write a backup whose key starts with ``key`` a second later, then recover ``key`` the guide's way and ours.

    Waits ``wait_s`` seconds (so the backup's ``LastModified`` second is later than every version of ``key``),
    puts ``<key>.bak``, and asks both recoveries: the previous version (:func:`guide_previous_version` against
    :func:`previous_version`) and the version one day before the key's first version (:func:`version_as_of`,
    which refuses, against :func:`guide_version_by_date`, which answers).

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
        :func:`previous_version`.
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
    """Why :func:`version_as_of` refuses ``when`` (its ``S3RecoveryError`` message), or None when it answers.

    Parameters
    ----------
    s3 : botocore.client.S3
    bucket, key : str
    when : datetime or date
        As for :func:`version_as_of`.

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


def _refuse_suspended(s3, bucket: str) -> None:
    """Raise S3RecoveryError when the bucket's versioning is Suspended (a write would replace the ``null`` version)."""
    _check_bucket(s3, bucket)
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Suspended":
        raise S3RecoveryError(
            f"versioning on bucket {bucket!r} is Suspended: S3 keeps the versions it has, but every new write "
            "replaces the key's 'null' version instead of adding one, so a restore would not keep every version. "
            f"Call enable_versioning(s3, {bucket!r}) first, or read the old bytes with get_version(...)")


def restore_version(s3, bucket: str, key: str, version_id: str) -> str:
    """Make an older version current again by copying it on top: every version, old and new, survives.

    That promise needs versioning Enabled. Under Suspended versioning S3 keeps every version it already has,
    but a write (this copy too) gets the version id ``null`` and replaces the key's existing ``null`` version,
    if there is one; so the restore is refused, before anything is written.

    Returns
    -------
    str
        The version id of the new current version.

    Raises
    ------
    S3RecoveryError
        When versioning is Suspended or was never enabled, or for a missing bucket, key or version, or a
        delete marker.
    """
    _refuse_suspended(s3, bucket)
    get_version(s3, bucket, key, version_id)  # checks bucket, versioning, key, version id and delete markers
    out = s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": version_id})
    return out["VersionId"]


def _latest(history: list[Version]) -> Version | None:
    """The entry S3 flags ``IsLatest`` (exact, unlike the order of a same-second version and marker)."""
    return next((v for v in history if v.is_latest), None)


def undelete(s3, bucket: str, key: str) -> Version:
    """Remove every delete marker above a key's newest version, so that version is current again.

    A key deleted twice has two markers stacked on its newest version; both go. The markers are removed
    from the top, one at a time, each time the one S3 flags as latest, until a version is latest. When no
    version lies under the markers (every version was deleted for good), nothing is removed.

    Returns
    -------
    Version
        The version that is current afterwards.

    Raises
    ------
    S3RecoveryError
        When the key is not deleted (its latest entry is not a delete marker), or has no version left under
        its delete markers; the bucket is left as it was.
    """
    history = _history(s3, bucket, key)
    latest = _latest(history) or history[0]
    if not latest.delete_marker:
        raise S3RecoveryError(f"{key!r} is not deleted: its current version is {latest.version_id!r}")
    markers = sum(v.delete_marker for v in history)
    if markers == len(history):
        raise S3RecoveryError(f"{key!r} has {markers} delete marker(s) and no version under them: there is "
                              "nothing to undelete (every version was deleted for good); nothing was removed")
    for _ in range(markers):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=latest.version_id)
        latest = _latest(list_versions(s3, bucket, key))
        if latest is None:
            break
        if not latest.delete_marker:
            return latest
    raise S3RecoveryError(f"{key!r} still reads as deleted after removing {markers} delete marker(s): its history "
                          "changed while undeleting; list_versions(...) shows it now")


def _archive_prefix(archive_prefix: str) -> str:
    """The archive prefix without its trailing ``/``, after checking every component is a plain name."""
    from labkit.core.args import plain_name

    if not isinstance(archive_prefix, str) or not archive_prefix.strip("/"):
        raise ValueError(f"archive_prefix must name a folder such as 'data/archive', got {archive_prefix!r}: an "
                         "empty prefix would write keys that start with '/'")
    if archive_prefix.startswith("/"):
        raise ValueError(f"archive_prefix must be relative to the bucket (no leading '/'), got {archive_prefix!r}")
    parts = archive_prefix.rstrip("/").split("/")
    for part in parts:
        plain_name("archive_prefix", part)  # no '', '.', '..' and nothing a key should not hold
    return "/".join(parts)


_PRECONDITION = ("PreconditionFailed", "412")
_GONE = ("NoSuchKey", "NoSuchVersion", "404", "MethodNotAllowed", "405", "InvalidArgument")


def _read_source(s3, bucket: str, src_key: str, version_id: str | None, etag: str | None) -> bytes:
    """The bytes of the version to archive (the current one, or ``version_id``), only while it has ``etag``."""
    from botocore.exceptions import ClientError

    args: dict[str, Any] = {"Bucket": bucket, "Key": src_key}
    if version_id is not None:
        args["VersionId"] = version_id
    if etag is not None:
        args["IfMatch"] = etag
    what = "the source object" if version_id is None else "the asked-for version of the source object"
    try:
        return s3.get_object(**args)["Body"].read()
    except ClientError as exc:
        if _code(exc) in _PRECONDITION:
            raise S3RecoveryError(f"{what} {src_key!r} in bucket {bucket!r} changed since it was read (its ETag no "
                                  "longer matches): nothing was archived; read it again and retry") from None
        if _code(exc) in _GONE:
            raise S3RecoveryError(f"no source object {src_key!r} in bucket {bucket!r} to archive: {what} is gone "
                                  "(deleted, or no such version); nothing was archived") from None
        raise


def archive_with_timestamp(s3, bucket: str, src_key: str, archive_prefix: str = "data/archive",
                           now: datetime | None = None, version_id: str | None = None,
                           etag: str | None = None) -> str:
    """Copy a source file to ``<prefix>/YYYY/MM/<name>_YYYYmmddHHMMSS<ext>``, never overwriting an archive.

    The guide's naming, made collision-free: a second archive of the same name
    in the same second gets ``_2``, ``_3``... The write is conditional
    (``If-None-Match: *``), so two concurrent archivers cannot both take a name.

    The source is read with ``GetObject`` (``VersionId``, ``If-Match``) and written with a conditional
    ``PutObject``, not with a server-side ``CopyObject``: S3's ``CopyObject`` takes ``CopySourceIfMatch`` and
    ``IfNoneMatch``, but moto (5.2) ignores both on a copy and overwrites the destination, so the copy could
    not keep either promise on the lab's server. The object passes through this process (fine for the lab's
    files; for large objects use a multipart copy).

    Parameters
    ----------
    s3 : botocore.client.S3
    bucket, src_key : str
    archive_prefix : str
        A folder relative to the bucket, e.g. ``"data/archive"``; components are plain names (letters, digits,
        ``._-``); empty or absolute prefixes are refused.
    now : datetime, optional
        The archive time (UTC); injectable for tests.
    version_id : str, optional
        Archive exactly this version of ``src_key`` (the current one by default).
    etag : str, optional
        Archive only while the version read still has this ETag (quoted or not): a source replaced since
        the caller read it is not archived.

    Returns
    -------
    str
        The archive key.

    Raises
    ------
    ValueError
        For an empty, absolute or non-plain ``archive_prefix`` (before anything is read or written).
    S3RecoveryError
        When the bucket does not exist, the source (or its version) is gone, or its ETag no longer matches;
        nothing is written then.
    """
    from botocore.exceptions import ClientError

    prefix = _archive_prefix(archive_prefix)
    _check_bucket(s3, bucket)
    body = _read_source(s3, bucket, src_key, version_id, etag)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    name = PurePosixPath(src_key)
    stem = f"{prefix}/{now:%Y/%m}/{name.stem}_{now:%Y%m%d%H%M%S}"
    for n in range(1, 1000):
        key = f"{stem}{'' if n == 1 else f'_{n}'}{name.suffix}"
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            return key
        except ClientError as exc:
            if _code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
    raise S3RecoveryError(f"999 archives of {src_key!r} in one second under {stem}: refusing to go on")


# --------------------------------------------------------------------------- the guide's recovery, as written


def guide_previous_version(s3, bucket: str, key: str) -> dict:
    """The guide's "previous version", reproduced as written, for the notebook to show where it goes wrong.

    ``list_object_versions(Bucket, Prefix=key)['Versions']`` (one page, every
    key with that prefix, no delete markers), sorted by ``LastModified``
    descending, element ``[1]``. Do not use it: :func:`previous_version` is the fix.
    """
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    if len(versions) < 2:
        raise S3RecoveryError("Only one version exists (current)")
    return sorted(versions, key=lambda v: v["LastModified"], reverse=True)[1]


def guide_version_by_date(s3, bucket: str, key: str, target_date) -> dict:
    """The guide's "version by date", reproduced as written: the version whose date is *closest* to the target."""
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return min(versions, key=lambda v: abs((v["LastModified"].date() - target_date).days))


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
    from botocore.validate import ParamValidator

    model = s3.meta.service_model.operation_model("PutBucketLifecycleConfiguration")
    report = ParamValidator().validate({"Bucket": bucket, "LifecycleConfiguration": policy}, model.input_shape)
    return report.generate_report() if report.has_errors() else None


def transition_refusals(candidates) -> list[str | None]:
    """Build a lifecycle policy from each list of transitions; say why :func:`lifecycle_policy` refuses each.

    Parameters
    ----------
    candidates : sequence of list of (int, str)
        One ``transitions`` argument of :func:`lifecycle_policy` per policy: ``[(days, storage class), ...]``.

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


# --------------------------------------------------------------------------- lifecycle (rules: labkit.aws.lifecycle)


def lifecycle_moves(objects, policy: dict, days: int, start: datetime | None = None):
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


def simulate_lifecycle(objects, policy: dict, days: int, start: datetime | None = None):
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
    import pandas as pd

    from labkit.core.args import positive_int

    validate_lifecycle(policy)
    positive_int("days", days)
    objects = list(objects)
    if not objects:
        raise ValueError("simulate_lifecycle needs at least one object")
    start = start or min(o["created"] for o in objects)
    rows = []
    for d in range(days):
        now = start + _days(d)
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


def _days(n: int):
    """A timedelta of n days."""
    from datetime import timedelta

    return timedelta(days=n)
