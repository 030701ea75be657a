"""Notebook 08's S3 experiments: the guide's recovery code as written, against the fixes, on moto over HTTP."""

import time
from datetime import datetime, timedelta

import pytest

from labkit.experiments import s3 as s3_exp
from labkit.topics import s3
from labkit.topics.s3 import S3RecoveryError

B = "lab-bucket"


@pytest.fixture
def bucket(s3c):
    s3c.create_bucket(Bucket=B)
    assert s3.enable_versioning(s3c, B) == "Enabled"
    return s3c


def _put(c, key, body):
    return c.put_object(Bucket=B, Key=key, Body=body.encode())["VersionId"]


def test_the_guides_previous_version_is_the_current_file_when_a_backup_shares_the_prefix(bucket):
    _put(bucket, "data/in/sales.csv", "old")
    current = _put(bucket, "data/in/sales.csv", "new")
    time.sleep(1.1)  # the next write gets a later LastModified second
    _put(bucket, "data/in/sales.csv.bak", "backup")  # another key that shares the prefix
    guide = s3_exp.guide_previous_version(bucket, B, "data/in/sales.csv")  # Prefix= returns the .bak too, first
    assert guide["VersionId"] == current  # the guide "recovers" the file that overwrote the one it wanted
    assert s3.get_version(bucket, B, "data/in/sales.csv", s3.previous_version(bucket, B, "data/in/sales.csv")
                          .version_id) == b"old"


def test_the_guides_version_by_date_answers_for_a_date_before_the_key_existed(bucket):
    first = _put(bucket, "k.csv", "monday")
    t_first = s3.list_versions(bucket, B, "k.csv")[0].last_modified
    # the guide's "closest date" takes the only version even for a date before the key existed
    assert s3_exp.guide_version_by_date(bucket, B, "k.csv", (t_first - timedelta(days=1)).date())["VersionId"] == first
    with pytest.raises(S3RecoveryError, match="did not exist yet"):
        s3.version_as_of(bucket, B, "k.csv", t_first - timedelta(days=1))


def test_the_guides_previous_version_raises_its_own_error_for_a_single_version(bucket):
    _put(bucket, "k.csv", "only")
    with pytest.raises(S3RecoveryError, match="Only one version exists"):
        s3_exp.guide_previous_version(bucket, B, "k.csv")


def test_write_across_enabling_keeps_the_object_in_place_as_version_null_and_loses_the_earlier_one(s3c):
    pre, after, kept = s3_exp.write_across_enabling(s3c, "lab", "k.csv", unversioned=(b"lost", b"in place"),
                                                versioned=b"after")
    assert pre.startswith("lab-pre-") and s3c.get_bucket_versioning(Bucket=pre)["Status"] == "Enabled"
    assert [v.version_id for v in kept] == [after, "null"] and after != "null"
    assert [s3.get_version(s3c, pre, "k.csv", v.version_id) for v in kept] == [b"after", b"in place"]
    assert s3_exp.write_across_enabling(s3c, "lab", "k.csv")[0] != pre  # a new bucket each time


def test_as_of_refusal_is_the_message_for_a_time_before_the_first_version_and_none_after(bucket):
    _put(bucket, "k.csv", "v")
    first = s3.list_versions(bucket, B, "k.csv")[0].last_modified
    assert "did not exist yet" in s3_exp.as_of_refusal(bucket, B, "k.csv", first - timedelta(days=1))
    assert "no time zone" in s3_exp.as_of_refusal(bucket, B, "k.csv", datetime(2024, 1, 1))
    assert s3_exp.as_of_refusal(bucket, B, "k.csv", first + timedelta(days=1)) is None


def test_recovery_against_guide_shows_the_guide_returning_the_current_file_and_a_later_version(bucket):
    ids = [_put(bucket, "data/in/sales.csv", f"day {i}") for i in range(3)]
    guide, ours, before, refused, closest = s3_exp.recovery_against_guide(bucket, B, "data/in/sales.csv")
    # Prefix=key lists the backup too; sorted by LastModified it comes first, so [1] is the current file
    assert guide["Key"] == "data/in/sales.csv" and guide["VersionId"] == ids[-1] and ours.version_id == ids[1]
    first = s3.list_versions(bucket, B, "data/in/sales.csv")[-1].last_modified
    assert before == first - timedelta(days=1) and "did not exist yet" in refused
    assert closest["LastModified"].date() > before.date()  # the guide's "closest date" is after the date asked
    assert s3.get_version(bucket, B, "data/in/sales.csv.bak", s3.list_versions(bucket, B, "data/in/sales.csv.bak")[0]
                          .version_id) == b"a backup that shares the prefix\n"


def test_transition_refusals_name_what_s3_rejects_and_accept_a_valid_waterfall():
    refusals = s3_exp.transition_refusals([[(7, "STANDARD_IA")], [(90, "GLACIER"), (120, "GLACIER_IR")],
                                       [(30, "STANDARD_IA"), (90, "GLACIER")]])
    assert "before 30 days" in refusals[0]
    assert "cannot move from GLACIER to GLACIER_IR" in refusals[1]
    assert refusals[2] is None
