import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.core import paths
from labkit.core.session import JavaNotFoundError, check_java, default_shuffle_partitions, spark_conf, spark_session

REPO = paths.REPO


def test_spark_conf_rejects_a_misspelled_key_and_suggests_the_real_one(spark):
    with pytest.raises(ValueError, match="skewdedJoin") as err:
        with spark_conf(spark, {"spark.sql.adaptive.skewdedJoin.enabled": "true"}):
            pass
    assert "spark.sql.adaptive.skewJoin.enabled" in str(err.value)


def test_spark_conf_rejects_a_static_key(spark):
    with pytest.raises(ValueError, match="static"):
        with spark_conf(spark, {"spark.sql.warehouse.dir": "/tmp/elsewhere"}):
            pass


def test_spark_conf_sets_reads_back_and_restores(spark):
    before = spark.conf.get("spark.sql.shuffle.partitions")
    with spark_conf(spark, {"spark.sql.shuffle.partitions": 7, "spark.sql.adaptive.enabled": False}) as now:
        assert now == {"spark.sql.shuffle.partitions": "7", "spark.sql.adaptive.enabled": "false"}
        assert spark.conf.get("spark.sql.shuffle.partitions") == "7"
        assert spark.conf.get("spark.sql.adaptive.enabled") == "false"
    assert spark.conf.get("spark.sql.shuffle.partitions") == before
    assert spark.conf.get("spark.sql.adaptive.enabled") == "true"


def test_spark_conf_restores_after_an_error_and_unsets_what_was_unset(spark):
    key = "spark.sql.adaptive.skewJoin.skewedPartitionFactor"
    assert not spark._jsparkSession.conf().contains(key)
    with pytest.raises(RuntimeError):
        with spark_conf(spark, {key: 2}):
            assert spark.conf.get(key) == "2"
            raise RuntimeError("boom")
    assert not spark._jsparkSession.conf().contains(key)
    assert spark.conf.get(key) == "5.0"  # Spark's default is back


def test_a_bad_key_leaves_the_other_settings_untouched(spark):
    before = spark.conf.get("spark.sql.shuffle.partitions")
    with pytest.raises(ValueError):
        with spark_conf(spark, {"spark.sql.shuffle.partitions": 3, "spark.sql.nonsense.key": 1}):
            pass
    assert spark.conf.get("spark.sql.shuffle.partitions") == before


def test_spark_session_reuses_the_active_session(spark):
    assert spark_session() is spark


def test_reusing_with_a_static_setting_warns(spark):
    with pytest.warns(UserWarning, match="spark.driver.memory"):
        spark_session(**{"spark.driver.memory": "9g"})


def test_session_binds_the_ui_to_loopback(spark):
    assert spark.sparkContext.uiWebUrl.startswith("http://127.0.0.1:")
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


@pytest.mark.parametrize("master, parts", [("local[2]", 4), ("local[3]", 6), ("local-cluster[2,1,1024]", 4),
                                           ("spark://host:7077", None), ("yarn", None)])
def test_default_shuffle_partitions_follow_the_cores(master, parts):
    assert default_shuffle_partitions(master) == parts


def test_check_java_finds_this_machines_java():
    assert check_java() >= 17


def test_check_java_names_the_fix_when_java_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="openjdk-17-jre-headless"):
        check_java()


def test_check_java_rejects_java_11(tmp_path):
    fake = tmp_path / "java"
    fake.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    fake.chmod(0o755)
    with pytest.raises(JavaNotFoundError, match=r"too old.*11\.0\.2.*openjdk-17-jre-headless"):
        check_java(str(fake))


def test_java_script_prints_one_clear_message_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java here
    out = subprocess.run([sys.executable, str(REPO / "labkit" / "_java.py")], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert "openjdk-17-jre-headless" in out.stderr and "environment.yml" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_make_test_stops_with_the_java_message_when_java_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # python and make, but ...
    if subprocess.run(["sh", "-c", "command -v java"], env=env, capture_output=True).returncode == 0:
        env["PATH"] = f"{tmp_path}:{env['PATH']}"
        (tmp_path / "java").write_text("#!/bin/sh\nexit 127\n")  # ... a java that does not run
        (tmp_path / "java").chmod(0o755)
    out = subprocess.run(["make", "-s", "java", f"PYTHON={sys.executable}"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "openjdk-17-jre-headless" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_master_that_cannot_apply_to_the_running_session_is_a_warning(spark):
    running = spark.sparkContext.master
    other = "local[1]" if running != "local[1]" else "local[2]"
    with pytest.warns(UserWarning, match=rf"already running, so master='{re.escape(other)}' is ignored"):
        assert spark_session(other) is spark


def test_spark_default_reads_spark_not_the_session_value(spark):
    from labkit.core.session import spark_default

    key = "spark.sql.adaptive.skewJoin.skewedPartitionFactor"
    with spark_conf(spark, {key: 3}):
        assert spark_default(spark, key) == "5.0"
    assert spark_default(spark, "spark.sql.adaptive.advisoryPartitionSizeInBytes") == "64MB"  # via its fallback key
    with pytest.raises(ValueError, match="not a configuration key"):
        spark_default(spark, "spark.sql.adaptive.skewdJoin.enabled")


def test_python_udfs_run_in_this_interpreter(spark):
    from pyspark.sql import functions as F

    where = F.udf(lambda _: __import__("sys").executable, "string")
    assert spark.range(1).select(where("id")).first()[0] == sys.executable
