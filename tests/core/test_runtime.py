"""labkit.core.runtime and labkit.core.files on a classic session; the Connect paths run in test_cluster."""

import pytest

from labkit.core import files, runtime
from labkit.core.args import byte_string


def test_a_classic_session_is_not_connect_and_answers_master_cores_and_ui(spark):
    assert runtime.is_connect(spark) is False
    assert runtime.master(spark) == "local[2]"
    assert runtime.parallelism(spark) == 2
    assert runtime.ui_url(spark).startswith("http://127.0.0.1:")
    assert runtime.api_base(spark).endswith(f"/applications/{spark.sparkContext.applicationId}")
    runtime.require_classic(spark, "anything")  # no error on a classic session


class _FakeConnect:
    """Stands in for a Connect session: only its module matters to is_connect."""

    session_id = "fake"


_FakeConnect.__module__ = "pyspark.sql.connect.session"


def test_require_classic_names_the_feature_and_what_to_do_instead():
    fake = _FakeConnect()
    assert runtime.is_connect(fake)
    with pytest.raises(runtime.ConnectUnsupported, match=r"memory\.rdd_storage.*local\[\*\]"):
        runtime.require_classic(fake, "memory.rdd_storage")


def test_a_connect_session_without_a_known_ui_says_how_to_give_one(monkeypatch, tmp_path):
    monkeypatch.delenv("LABKIT_SPARK_UI", raising=False)
    monkeypatch.setenv("LABKIT_CLUSTER_DIR", str(tmp_path))
    monkeypatch.setattr(runtime, "_UI", {})  # restored after the test, whatever happens
    monkeypatch.setattr(runtime, "connect_address", lambda spark: "sc://10.1.2.3:15002")
    with pytest.raises(RuntimeError, match="LABKIT_SPARK_UI"):
        runtime.ui_url(_FakeConnect())
    monkeypatch.setenv("LABKIT_SPARK_UI", "http://10.1.2.3:4040/")
    assert runtime.ui_url(_FakeConnect()) == "http://10.1.2.3:4040"
    runtime.set_spark_ui(_FakeConnect(), "http://10.1.2.3:4041")  # a parameter wins over the environment
    assert runtime.ui_url(_FakeConnect()) == "http://10.1.2.3:4041"


@pytest.mark.parametrize("tags, found", [
    (["labkit-1"], True),
    (["SparkConnect_SessionTag_User__Session_0e54_Tag_labkit-1"], True),  # how Connect passes a user tag on
    (["labkit-10"], False),
    (["SparkConnect_SessionTag_User__Session_0e54_Tag_labkit-10"], False),
    ([], False),
])
def test_job_tags_match_exactly_also_under_connects_prefix(tags, found):
    assert runtime.has_job_tag({"jobTags": tags}, "labkit-1") is found


def test_files_list_exists_rename_delete_on_a_folder_spark_wrote(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.range(100).repartition(3).write.parquet(path)
    assert files.exists(spark, path) and not files.exists(spark, str(tmp_path / "none"))
    found = files.list_files(spark, path)
    assert len(found) == 3 and all(p.endswith(".parquet") and n > 0 for p, n in found)  # no _SUCCESS, no .crc
    assert files.rename(spark, path, str(tmp_path / "u")) and not files.exists(spark, path)
    files.delete(spark, str(tmp_path / "u"))
    assert not files.exists(spark, str(tmp_path / "u"))
    with pytest.raises(FileNotFoundError, match="no such path"):
        files.list_files(spark, path)


@pytest.mark.parametrize("text, expected", [("10MB", 10 * 2**20), ("10485760b", 10 * 2**20), ("-1", -1),
                                            ("256mb", 256 * 2**20), ("1g", 2**30), ("4096", 4096)])
def test_byte_string_reads_sizes_the_way_spark_does(text, expected, spark):
    assert byte_string(text) == expected
    if expected >= 0:  # JavaUtils rejects "-1"; SQLConf's byte settings take it as "off"
        assert byte_string(text) == spark._jvm.org.apache.spark.network.util.JavaUtils.byteStringAsBytes(text)


@pytest.mark.parametrize("bad", ["ten", "1.5g", "10 parsecs", ""])
def test_byte_string_names_a_bad_size(bad):
    with pytest.raises(ValueError, match="cannot read size"):
        byte_string(bad)
