"""S3 versioning, recovery, archiving and lifecycle rules, against a real S3 API: moto's server on 127.0.0.1, or any.

Every operation takes the boto3 client first, so the same code runs against real S3; the client (moto's
server over HTTP, the S3 wire protocol, or ``LABKIT_S3_ENDPOINT``) comes from :mod:`labkit.aws.s3`.
:mod:`.versions` lists a key's history exactly and recovers from it (the fixes of the guide's recovery
code, which :mod:`labkit.experiments.s3` reproduces), :mod:`.archive` archives without collisions, and
:mod:`.lifecycle` puts, checks and simulates lifecycle rules (built by :mod:`labkit.aws.lifecycle`).
"""

from labkit.aws.lifecycle import lifecycle_policy, storage_class_at, validate_lifecycle
from labkit.topics.s3.archive import archive_with_timestamp
from labkit.topics.s3.lifecycle import apply_lifecycle, lifecycle_moves, lifecycle_refusal, simulate_lifecycle
from labkit.topics.s3.versions import (
    S3RecoveryError,
    Version,
    enable_versioning,
    get_version,
    list_versions,
    previous_version,
    restore_version,
    undelete,
    version_as_of,
    versioned_bucket,
)

__all__ = [
    "S3RecoveryError",
    "Version",
    "apply_lifecycle",
    "archive_with_timestamp",
    "enable_versioning",
    "get_version",
    "lifecycle_moves",
    "lifecycle_policy",
    "lifecycle_refusal",
    "list_versions",
    "previous_version",
    "restore_version",
    "simulate_lifecycle",
    "storage_class_at",
    "undelete",
    "validate_lifecycle",
    "version_as_of",
    "versioned_bucket",
]
