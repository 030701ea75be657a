"""Archive a file under a timestamped name, never overwriting an archive: a conditional write per name."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from labkit.core.args import plain_name
from labkit.topics.s3.versions import S3RecoveryError, _check_bucket, _code

__all__ = ["archive_with_timestamp"]


def _archive_prefix(archive_prefix: str) -> str:
    """The archive prefix without its trailing ``/``, after checking every component is a plain name."""
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
                           etag: str | None = None, body: bytes | None = None) -> str:
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
    body : bytes, optional
        The bytes the caller already read of ``src_key`` (the ingestion's landed copy, checked against its hash):
        archived as given, so the archive holds exactly what was loaded, with no second ``GetObject`` and no
        bucket check first (a missing bucket still raises :class:`S3RecoveryError`, from the write).
        ``version_id`` and ``etag`` describe a read, so passing either with ``body`` is a ``ValueError``.

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
    prefix = _archive_prefix(archive_prefix)
    if body is None:
        _check_bucket(s3, bucket)
        body = _read_source(s3, bucket, src_key, version_id, etag)
    elif not isinstance(body, (bytes, bytearray)):
        raise TypeError(f"body must be the bytes read from {src_key!r}, got {type(body).__name__}")
    elif version_id is not None or etag is not None:
        raise ValueError("give either body (bytes already read) or version_id/etag (what to read), not both: "
                         "with body nothing is read, so neither could be checked; nothing was archived")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    name = PurePosixPath(src_key)
    stem = f"{prefix}/{now:%Y/%m}/{name.stem}_{now:%Y%m%d%H%M%S}"
    for n in range(1, 1000):
        key = f"{stem}{'' if n == 1 else f'_{n}'}{name.suffix}"
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            return key
        except ClientError as exc:
            if _code(exc) in ("NoSuchBucket",):
                raise S3RecoveryError(f"no bucket {bucket!r} to archive {src_key!r} into: nothing was archived") \
                    from None
            if _code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
    raise S3RecoveryError(f"999 archives of {src_key!r} in one second under {stem}: refusing to go on")
