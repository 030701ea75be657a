"""Recovery inputs no generator of ours writes: hand-made histories on moto's S3 server, and lifecycle rules
checked against botocore's own model of ``PutBucketLifecycleConfiguration`` and against moto."""

from datetime import date, datetime, timedelta, timezone

import botocore.session
import pytest
from botocore.validate import ParamValidator

from labkit.aws.lifecycle import storage_class_at, validate_lifecycle
from labkit.topics import s3
from labkit.topics.s3 import S3RecoveryError

B = "adv-bucket"
K = "data/in/sales.csv"


@pytest.fixture
def bucket(s3c):
    s3c.create_bucket(Bucket=B)
    s3.enable_versioning(s3c, B)
    return s3c


def _put(c, key, body):
    return c.put_object(Bucket=B, Key=key, Body=body.encode())["VersionId"]


def _entries(c, key):
    """Every (version id, is a marker) of ``key``, straight from the API, as a set (no order assumed)."""
    page = c.list_object_versions(Bucket=B, Prefix=key)
    return ({(v["VersionId"], False) for v in page.get("Versions", []) if v["Key"] == key}
            | {(m["VersionId"], True) for m in page.get("DeleteMarkers", []) if m["Key"] == key})


# --------------------------------------------------------------------------- undelete


def test_undelete_removes_both_stacked_delete_markers_and_the_key_reads_again(bucket):
    _put(bucket, K, "old")
    newest = _put(bucket, K, "newest")
    bucket.delete_object(Bucket=B, Key=K)
    bucket.delete_object(Bucket=B, Key=K)  # deleted twice: two markers on the newest version
    assert sum(marker for _, marker in _entries(bucket, K)) == 2
    current = s3.undelete(bucket, B, K)
    assert current.version_id == newest and not current.delete_marker
    assert bucket.get_object(Bucket=B, Key=K)["Body"].read() == b"newest"
    assert not any(marker for _, marker in _entries(bucket, K))
    assert len(_entries(bucket, K)) == 2  # both versions kept


def test_undelete_keeps_a_delete_marker_that_lies_below_the_newest_version(bucket):
    _put(bucket, K, "first")
    bucket.delete_object(Bucket=B, Key=K)  # an old delete, then the key was written again
    newest = _put(bucket, K, "second")
    bucket.delete_object(Bucket=B, Key=K)
    assert s3.undelete(bucket, B, K).version_id == newest
    assert bucket.get_object(Bucket=B, Key=K)["Body"].read() == b"second"
    assert sum(marker for _, marker in _entries(bucket, K)) == 1  # the old marker is history, not removed


def test_undelete_with_only_a_delete_marker_left_refuses_and_removes_nothing(bucket):
    vid = _put(bucket, K, "gone")
    bucket.delete_object(Bucket=B, Key=K)
    bucket.delete_object(Bucket=B, Key=K, VersionId=vid)  # the version itself deleted for good
    before = _entries(bucket, K)
    assert len(before) == 1 and next(iter(before))[1]
    with pytest.raises(S3RecoveryError, match=r"'data/in/sales.csv' has 1 delete marker\(s\) and no version"):
        s3.undelete(bucket, B, K)
    assert _entries(bucket, K) == before


def test_undelete_with_two_markers_and_no_version_refuses_and_removes_nothing(bucket):
    vid = _put(bucket, K, "gone")
    bucket.delete_object(Bucket=B, Key=K)
    bucket.delete_object(Bucket=B, Key=K)
    bucket.delete_object(Bucket=B, Key=K, VersionId=vid)
    before = _entries(bucket, K)
    with pytest.raises(S3RecoveryError, match="has 2 delete marker"):
        s3.undelete(bucket, B, K)
    assert _entries(bucket, K) == before


# --------------------------------------------------------------------------- restore under Suspended


def test_restore_under_suspended_versioning_names_the_state_and_writes_nothing(bucket):
    ids = [_put(bucket, K, body) for body in ("good", "bad")]
    bucket.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Suspended"})
    before = _entries(bucket, K)
    with pytest.raises(S3RecoveryError, match=r"versioning on bucket 'adv-bucket' is Suspended.*'null' version"):
        s3.restore_version(bucket, B, K, ids[0])
    assert _entries(bucket, K) == before
    assert bucket.get_object(Bucket=B, Key=K)["Body"].read() == b"bad"


def test_suspended_versioning_replaces_the_null_version_which_is_why_restore_refuses(bucket):
    bucket.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Suspended"})
    first = bucket.put_object(Bucket=B, Key=K, Body=b"null one").get("VersionId", "null")
    second = bucket.put_object(Bucket=B, Key=K, Body=b"null two").get("VersionId", "null")
    assert first == second == "null"  # both writes are the 'null' version: the first one is gone
    assert [v.version_id for v in s3.list_versions(bucket, B, K)] == ["null"]
    assert s3.get_version(bucket, B, K, "null") == b"null two"
    # (S3 keeps the versions written while versioning was Enabled; moto 5.2 drops them too on a Suspended write)


# --------------------------------------------------------------------------- version_as_of


def test_version_as_of_a_date_means_the_end_of_that_day_in_utc(bucket):
    vid = _put(bucket, K, "today")
    written = s3.list_versions(bucket, B, K)[0].last_modified
    assert s3.version_as_of(bucket, B, K, written.date()).version_id == vid  # written during that day
    with pytest.raises(S3RecoveryError, match="did not exist yet"):
        s3.version_as_of(bucket, B, K, written.date() - timedelta(days=1))
    with pytest.raises(S3RecoveryError, match="did not exist yet"):
        s3.version_as_of(bucket, B, K, date(2024, 1, 1))


@pytest.mark.parametrize("when", ["2024-01-01", 1704067200, None])
def test_version_as_of_anything_but_a_datetime_or_date_is_a_type_error_naming_what_it_expects(s3c, when):
    with pytest.raises(TypeError, match="timezone-aware datetime or a date, got"):
        s3.version_as_of(s3c, B, K, when)


def test_version_as_of_a_naive_datetime_is_still_refused(s3c):
    with pytest.raises(S3RecoveryError, match="no time zone"):
        s3.version_as_of(s3c, B, K, datetime(2024, 1, 1, 12))


# --------------------------------------------------------------------------- archive_with_timestamp

NOW = datetime(2026, 12, 1, 8, 30, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("prefix", ["", "/", "//", "/data/archive", "data/../x", "data//archive"])
def test_archive_refuses_an_empty_or_absolute_prefix_before_writing_anything(bucket, prefix):
    _put(bucket, K, "x")
    with pytest.raises(ValueError, match="archive_prefix"):
        s3.archive_with_timestamp(bucket, B, K, archive_prefix=prefix, now=NOW)
    assert [o["Key"] for o in bucket.list_objects_v2(Bucket=B).get("Contents", [])] == [K]


def test_archive_of_a_pinned_version_copies_that_version_not_the_current_one(bucket):
    old = _put(bucket, K, "old bytes")
    _put(bucket, K, "new bytes")
    key = s3.archive_with_timestamp(bucket, B, K, now=NOW, version_id=old)
    assert key == "data/archive/2026/12/sales_20261201083000.csv"
    assert bucket.get_object(Bucket=B, Key=key)["Body"].read() == b"old bytes"


def test_archive_with_a_stale_etag_raises_naming_the_key_and_writes_nothing(bucket):
    _put(bucket, K, "read by the caller")
    etag = bucket.head_object(Bucket=B, Key=K)["ETag"]
    _put(bucket, K, "replaced since")
    with pytest.raises(S3RecoveryError, match=r"'data/in/sales.csv'.*changed since it was read") as err:
        s3.archive_with_timestamp(bucket, B, K, now=NOW, etag=etag)
    assert "replaced" not in str(err.value)  # names the key, never the data
    assert [o["Key"] for o in bucket.list_objects_v2(Bucket=B).get("Contents", [])] == [K]


def test_archive_with_a_matching_etag_quoted_or_not_archives(bucket):
    _put(bucket, K, "same")
    etag = bucket.head_object(Bucket=B, Key=K)["ETag"]
    a = s3.archive_with_timestamp(bucket, B, K, now=NOW, etag=etag)
    b = s3.archive_with_timestamp(bucket, B, K, now=NOW, etag=etag.strip('"'))
    stem = "data/archive/2026/12/sales_20261201083000"
    assert (a, b) == (f"{stem}.csv", f"{stem}_2.csv")


def test_archive_of_a_deleted_source_or_unknown_version_raises_and_writes_nothing(bucket):
    vid = _put(bucket, K, "x")
    bucket.delete_object(Bucket=B, Key=K)
    with pytest.raises(S3RecoveryError, match="no source object 'data/in/sales.csv'"):
        s3.archive_with_timestamp(bucket, B, K, now=NOW)
    bucket.delete_object(Bucket=B, Key=K, VersionId=vid)
    with pytest.raises(S3RecoveryError, match="no source object 'data/in/sales.csv'"):
        s3.archive_with_timestamp(bucket, B, K, now=NOW, version_id=vid)
    assert bucket.list_objects_v2(Bucket=B).get("KeyCount") == 0


def test_archive_never_overwrites_an_archive_someone_else_wrote_in_the_same_second(bucket):
    _put(bucket, K, "mine")
    taken = "data/archive/2026/12/sales_20261201083000.csv"
    bucket.put_object(Bucket=B, Key=taken, Body=b"theirs")
    assert s3.archive_with_timestamp(bucket, B, K, now=NOW) == taken.replace(".csv", "_2.csv")
    assert bucket.get_object(Bucket=B, Key=taken)["Body"].read() == b"theirs"


# --------------------------------------------------------------------------- lifecycle: botocore and moto as references

_SHAPE = (botocore.session.get_session().get_service_model("s3")
          .operation_model("PutBucketLifecycleConfiguration").input_shape.members["LifecycleConfiguration"])

DATED = {"Rules": [{"ID": "dated", "Status": "Enabled", "Filter": {"Prefix": "data/"},
                    "Transitions": [{"Date": datetime(2027, 1, 1, tzinfo=timezone.utc), "StorageClass": "STANDARD_IA"},
                                    {"Date": datetime(2027, 6, 1, tzinfo=timezone.utc), "StorageClass": "GLACIER"}],
                    "Expiration": {"Date": datetime(2028, 1, 1, tzinfo=timezone.utc)}}]}
ACCEPTED = {
    "dated transitions and expiration": DATED,
    "dated expiration alone": {"Rules": [{"ID": "e", "Status": "Enabled", "Filter": {"Prefix": ""},
                                          "Expiration": {"Date": datetime(2027, 3, 1, tzinfo=timezone.utc)}}]},
    "days with noncurrent rules": {"Rules": [{"ID": "d", "Status": "Enabled", "Filter": {"Prefix": "data/"},
                                              "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}],
                                              "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]},
    "expired delete markers": {"Rules": [{"ID": "m", "Status": "Enabled", "Filter": {"Prefix": ""},
                                          "Expiration": {"ExpiredObjectDeleteMarker": True}}]},
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_what_validate_lifecycle_accepts_botocore_and_moto_accept_too(bucket, name):
    policy = ACCEPTED[name]
    validate_lifecycle(policy)
    report = ParamValidator().validate(policy, _SHAPE)
    assert not report.has_errors(), report.generate_report()
    bucket.put_bucket_lifecycle_configuration(Bucket=B, LifecycleConfiguration=policy)
    assert bucket.get_bucket_lifecycle_configuration(Bucket=B)["Rules"][0]["ID"] == policy["Rules"][0]["ID"]


def test_a_date_based_transition_is_validated_not_a_key_error():
    assert validate_lifecycle(DATED) == []


def test_a_date_based_rule_puts_objects_in_their_class_by_calendar_date():
    rule = DATED["Rules"][0]
    assert storage_class_at(rule, 0, on=date(2026, 12, 31)) == "STANDARD"
    assert storage_class_at(rule, 0, on=date(2027, 1, 1)) == "STANDARD_IA"
    assert storage_class_at(rule, 400, on=date(2027, 6, 1)) == "GLACIER"
    assert storage_class_at(rule, 5, on=date(2028, 1, 1)) is None
    with pytest.raises(ValueError, match="Date-based.*pass on="):
        storage_class_at(rule, 10)


def test_simulating_a_date_based_policy_follows_the_calendar():
    day0 = datetime(2026, 12, 30, tzinfo=timezone.utc)
    sim = s3.simulate_lifecycle([{"key": "data/a.csv", "size_gb": 1.0, "created": day0}], DATED, 400)
    by_date = sim.set_index("date")["storage_class"]
    assert by_date[date(2026, 12, 31)] == "STANDARD" and by_date[date(2027, 1, 1)] == "STANDARD_IA"
    assert by_date[date(2027, 6, 1)] == "GLACIER"


REFUSED = {
    "date not at midnight UTC": ({"Date": datetime(2027, 1, 1, 12, tzinfo=timezone.utc),
                                  "StorageClass": "GLACIER"}, None, "midnight UTC"),
    "days and date in one transition": ({"Days": 30, "Date": datetime(2027, 1, 1, tzinfo=timezone.utc),
                                         "StorageClass": "GLACIER"}, None, "either Days or Date"),
    "dates mixed with days": ({"Date": datetime(2027, 1, 1, tzinfo=timezone.utc), "StorageClass": "GLACIER"},
                              {"Days": 400}, "mixes Date and Days"),
    "expiration date before the last transition": ({"Date": datetime(2027, 1, 1, tzinfo=timezone.utc),
                                                    "StorageClass": "GLACIER"},
                                                   {"Date": datetime(2026, 1, 1, tzinfo=timezone.utc)},
                                                   "not after their last transition"),
    "a transition without days or date": ({"StorageClass": "GLACIER"}, None, "either Days or Date"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_date_based_rules_s3_refuses_are_refused_with_the_reason(name):
    transition, expiration, match = REFUSED[name]
    rule = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}, "Transitions": [transition]}
    if expiration:
        rule["Expiration"] = expiration
    with pytest.raises(ValueError, match=match):
        validate_lifecycle({"Rules": [rule]})


def test_a_shape_botocore_rejects_is_refused_before_any_request():
    bad = {"Rules": [{"ID": "x", "Status": "Enabled", "Expiration": {"Days": "thirty"}}]}
    assert ParamValidator().validate(bad, _SHAPE).has_errors()  # the reference rejects it
    with pytest.raises(ValueError, match="PutBucketLifecycleConfiguration"):
        validate_lifecycle(bad)
