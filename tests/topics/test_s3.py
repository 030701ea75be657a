"""Every S3 operation against moto's server over HTTP on 127.0.0.1."""

import threading
from datetime import datetime, timedelta, timezone

import pytest

from labkit.aws import s3 as aws_s3
from labkit.experiments import costs as costs_exp
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


def test_same_second_overwrites_keep_their_order_and_previous_is_the_one_replaced(bucket):
    ids = [_put(bucket, "data/in/sales.csv", f"v{i}") for i in range(5)]  # well within one second
    history = s3.list_versions(bucket, B, "data/in/sales.csv")
    assert len({v.last_modified for v in history}) < len(history)  # S3 reports several of them in the same second
    assert [v.version_id for v in history] == ids[::-1] and history[0].is_latest
    assert s3.previous_version(bucket, B, "data/in/sales.csv").version_id == ids[3]
    assert s3.get_version(bucket, B, "data/in/sales.csv", ids[3]) == b"v3"


def test_only_the_exact_key_is_listed_not_every_key_sharing_its_prefix(bucket):
    import time

    _put(bucket, "data/in/sales.csv", "old")
    _put(bucket, "data/in/sales.csv", "new")
    time.sleep(1.1)  # the next write gets a later LastModified second
    _put(bucket, "data/in/sales.csv.bak", "backup")  # another key that shares the prefix
    assert {v.key for v in s3.list_versions(bucket, B, "data/in/sales.csv")} == {"data/in/sales.csv"}
    assert s3.get_version(bucket, B, "data/in/sales.csv", s3.previous_version(bucket, B, "data/in/sales.csv")
                          .version_id) == b"old"


def test_versions_over_several_list_pages_are_all_listed(bucket, small_pages):
    """S3 lists at most 1,000 versions a page; with pages of 3, seven versions cross the same boundary."""
    for i in range(7):
        _put(bucket, "k.csv", str(i))
    with small_pages(bucket, "ListObjectVersions", 3) as pages:
        history = s3.list_versions(bucket, B, "k.csv")
    assert len(pages) == 3 and len(history) == 7 and history[0].is_latest
    assert [bucket.get_object(Bucket=B, Key="k.csv", VersionId=v.version_id)["Body"].read() for v in history] == [
        str(i).encode() for i in reversed(range(7))]  # newest first, every version once
    assert s3.get_version(bucket, B, "k.csv", history[-1].version_id) == b"0"


def test_undelete_removes_the_latest_delete_marker(bucket):
    first = _put(bucket, "k.csv", "a")
    bucket.delete_object(Bucket=B, Key="k.csv")
    assert s3.list_versions(bucket, B, "k.csv")[0].delete_marker
    assert s3.previous_version(bucket, B, "k.csv").version_id == first  # what the delete hid
    assert s3.undelete(bucket, B, "k.csv").version_id == first
    assert bucket.get_object(Bucket=B, Key="k.csv")["Body"].read() == b"a"
    with pytest.raises(S3RecoveryError, match="is not deleted"):
        s3.undelete(bucket, B, "k.csv")


def test_restore_is_a_new_version_and_keeps_every_older_one(bucket):
    ids = [_put(bucket, "k.csv", body) for body in ("good", "bad", "worse")]
    new = s3.restore_version(bucket, B, "k.csv", ids[0])
    history = s3.list_versions(bucket, B, "k.csv")
    assert [v.version_id for v in history] == [new, *ids[::-1]]
    assert bucket.get_object(Bucket=B, Key="k.csv")["Body"].read() == b"good"


def test_concurrent_writers_each_leave_a_version(bucket):
    def write(i):
        aws_s3.client().put_object(Bucket=B, Key="k.csv", Body=f"writer {i}".encode())

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    bodies = {s3.get_version(bucket, B, "k.csv", v.version_id) for v in s3.list_versions(bucket, B, "k.csv")}
    assert bodies == {f"writer {i}".encode() for i in range(8)}


def test_as_of_never_returns_a_version_written_after_the_time(bucket):
    first = _put(bucket, "k.csv", "monday")
    t_first = s3.list_versions(bucket, B, "k.csv")[0].last_modified
    assert s3.version_as_of(bucket, B, "k.csv", t_first + timedelta(days=1)).version_id == first
    with pytest.raises(S3RecoveryError, match="did not exist yet"):
        s3.version_as_of(bucket, B, "k.csv", t_first - timedelta(days=1))
    with pytest.raises(S3RecoveryError, match="no time zone"):
        s3.version_as_of(bucket, B, "k.csv", datetime(2024, 1, 1))


def test_archives_in_the_same_second_do_not_collide(bucket):
    _put(bucket, "data/in/sales.csv", "x")
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    keys = [s3.archive_with_timestamp(bucket, B, "data/in/sales.csv", now=now) for _ in range(3)]
    assert keys == ["data/archive/2024/05/sales_20240501120000.csv", "data/archive/2024/05/sales_20240501120000_2.csv",
                    "data/archive/2024/05/sales_20240501120000_3.csv"]


def test_bad_input_gives_a_clear_error_that_says_what_to_do(s3c):
    with pytest.raises(S3RecoveryError, match="bucket 'missing-bucket' does not exist"):
        s3.list_versions(s3c, "missing-bucket", "k")
    s3c.create_bucket(Bucket=B)
    s3c.put_object(Bucket=B, Key="k.csv", Body=b"x")
    with pytest.raises(S3RecoveryError, match=r"versioning is not enabled.*enable_versioning"):
        s3.previous_version(s3c, B, "k.csv")
    s3.enable_versioning(s3c, B)
    with pytest.raises(S3RecoveryError, match="no object 'nope.csv'"):
        s3.previous_version(s3c, B, "nope.csv")
    with pytest.raises(S3RecoveryError, match="has no version 'no-such-id'"):
        s3.get_version(s3c, B, "k.csv", "no-such-id")
    with pytest.raises(S3RecoveryError, match="no source object"):
        s3.archive_with_timestamp(s3c, B, "nope.csv")


def test_lifecycle_rules_are_applied_to_the_server_and_simulated(bucket):
    policy = s3.lifecycle_policy(transitions=[(30, "STANDARD_IA"), (730, "GLACIER_IR")],
                                 noncurrent_transitions=[(30, "GLACIER")], noncurrent_expiration_days=90)
    warnings = s3.apply_lifecycle(bucket, B, policy)
    assert any("before its 90-day minimum" in w for w in warnings)
    assert bucket.get_bucket_lifecycle_configuration(Bucket=B)["Rules"][0]["ID"] == "labkit-tiering"
    day0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    objs = [{"key": "data/a.csv", "size_gb": 1.0, "created": day0},
            {"key": "data/b.csv", "size_gb": 1.0, "created": day0, "noncurrent_since": day0 + timedelta(days=10)},
            {"key": "other/c.csv", "size_gb": 1.0, "created": day0}]
    sim = s3.simulate_lifecycle(objs, policy, 800).set_index(["day", "key"])["storage_class"]
    assert sim[(29, "data/a.csv")] == "STANDARD" and sim[(30, "data/a.csv")] == "STANDARD_IA"
    assert sim[(730, "data/a.csv")] == "GLACIER_IR"
    assert sim[(39, "data/b.csv")] == "STANDARD" and sim[(40, "data/b.csv")] == "GLACIER"
    assert sim[(100, "data/b.csv")] is None  # expired 90 days after it became noncurrent
    assert sim[(799, "other/c.csv")] == "STANDARD"  # outside the rule's prefix


def test_an_object_written_before_versioning_is_kept_as_version_null_and_recoverable(s3c):
    s3c.create_bucket(Bucket=B)
    s3c.put_object(Bucket=B, Key="k.csv", Body=b"lost")  # overwritten while unversioned: gone for good
    s3c.put_object(Bucket=B, Key="k.csv", Body=b"before versioning")
    assert s3.enable_versioning(s3c, B) == "Enabled"
    after = _put(s3c, "k.csv", "after versioning")
    raw = s3c.list_object_versions(Bucket=B, Prefix="k.csv")["Versions"]  # the API itself, not our listing
    assert sorted((v["VersionId"], v["IsLatest"]) for v in raw) == sorted([("null", False), (after, True)])
    assert s3.previous_version(s3c, B, "k.csv").version_id == "null"
    assert s3.get_version(s3c, B, "k.csv", "null") == b"before versioning"
    s3.restore_version(s3c, B, "k.csv", "null")
    assert s3c.get_object(Bucket=B, Key="k.csv")["Body"].read() == b"before versioning"
    assert b"lost" not in [s3.get_version(s3c, B, "k.csv", v.version_id) for v in s3.list_versions(s3c, B, "k.csv")]


def test_lifecycle_refusal_is_the_error_boto3_raises_and_sends_nothing(bucket):
    import botocore.exceptions

    refusal = s3.lifecycle_refusal(bucket, B, costs_exp.GUIDE_Q3_LIFECYCLE)
    assert refusal == ('Unknown parameter in LifecycleConfiguration.Rules[0]: "Id", must be one of: Expiration, '
                       'ID, Prefix, Filter, Status, Transitions, NoncurrentVersionTransitions, '
                       'NoncurrentVersionExpiration, AbortIncompleteMultipartUpload')
    with pytest.raises(botocore.exceptions.ParamValidationError) as err:
        bucket.put_bucket_lifecycle_configuration(Bucket=B, LifecycleConfiguration=costs_exp.GUIDE_Q3_LIFECYCLE)
    assert refusal in str(err.value)
    assert s3.lifecycle_refusal(bucket, B, s3.lifecycle_policy(transitions=[(30, "STANDARD_IA")])) is None


def test_versioned_bucket_creates_a_missing_bucket_and_leaves_an_existing_ones_objects(s3c):
    assert s3.versioned_bucket(s3c, B) == "Enabled"
    assert s3c.get_bucket_versioning(Bucket=B)["Status"] == "Enabled"
    first = _put(s3c, "k.csv", "kept")
    assert s3.versioned_bucket(s3c, B) == "Enabled"  # already there: not recreated, nothing lost
    assert s3.get_version(s3c, B, "k.csv", first) == b"kept"














def test_lifecycle_moves_are_the_days_each_object_changes_class():
    policy = s3.lifecycle_policy(transitions=[(30, "STANDARD_IA"), (90, "GLACIER")], expiration_days=400)
    day0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    objs = [{"key": "data/a.csv", "size_gb": 1.0, "created": day0},
            {"key": "data/b.csv", "size_gb": 1.0, "created": day0 + timedelta(days=10)}]
    moves = s3.lifecycle_moves(objs, policy, 500)
    a = moves[moves["key"] == "data/a.csv"]
    assert list(a[["day", "storage_class"]].itertuples(index=False, name=None)) == [
        (0, "STANDARD"), (30, "STANDARD_IA"), (90, "GLACIER"), (400, None)]
    b = moves[moves["key"] == "data/b.csv"]
    assert list(b[["day", "storage_class"]].itertuples(index=False, name=None)) == [
        (0, None), (10, "STANDARD"), (40, "STANDARD_IA"), (100, "GLACIER"), (410, None)]


def test_archive_of_given_bytes_writes_them_without_reading_the_source_again(bucket):
    _put(bucket, "data/in/sales.csv", "as loaded")
    _put(bucket, "data/in/sales.csv", "replaced later")  # the source changed after the caller read it
    calls = []
    def seen(model, **_):
        calls.append(model.name)

    bucket.meta.events.register("before-call.s3", seen)
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    key = s3.archive_with_timestamp(bucket, B, "data/in/sales.csv", now=now, body=b"as loaded")
    bucket.meta.events.unregister("before-call.s3", seen)
    assert calls == ["PutObject"]  # no HeadBucket, no GetObject
    assert bucket.get_object(Bucket=B, Key=key)["Body"].read() == b"as loaded"
    with pytest.raises(S3RecoveryError, match="no bucket 'missing-bucket' to archive"):
        s3.archive_with_timestamp(bucket, "missing-bucket", "data/in/sales.csv", now=now, body=b"x")
    with pytest.raises(TypeError, match="body must be the bytes"):
        s3.archive_with_timestamp(bucket, B, "data/in/sales.csv", now=now, body="text")
    with pytest.raises(ValueError, match="either body .* or version_id/etag"):
        s3.archive_with_timestamp(bucket, B, "data/in/sales.csv", now=now, body=b"x", etag='"abc"')
    assert len(bucket.list_objects_v2(Bucket=B, Prefix="data/archive/")["Contents"]) == 1  # the refusals wrote nothing
