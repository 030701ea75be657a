"""The driver's CDS archive: its key follows Java and the jars, it is used only when present, and can be turned off."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from labkit.core import jvm_archive, session


@pytest.fixture
def fake_install(tmp_path, monkeypatch):
    """A pyspark ``jars`` folder and a Java install of our own, so the key's inputs can be changed."""
    jars = tmp_path / "pyspark" / "jars"
    jars.mkdir(parents=True)
    (jars / "spark-core_2.13-4.0.0.jar").write_bytes(b"x" * 100)
    (jars / "scala-library-2.13.jar").write_bytes(b"y" * 50)
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_bytes(b"java")
    (tmp_path / "jdk" / "lib" / "server").mkdir(parents=True)
    (tmp_path / "jdk" / "lib" / "server" / "libjvm.so").write_bytes(b"libjvm")
    monkeypatch.setattr(jvm_archive, "pyspark_jars", lambda: jars)
    monkeypatch.setattr(jvm_archive, "_java", lambda: java)
    monkeypatch.setenv(jvm_archive.ARCHIVE_ENV, str(tmp_path / "archives"))
    return jars, java, tmp_path / "archives"


def test_key_changes_with_a_jar_added_resized_or_removed(fake_install):
    jars, _, _ = fake_install
    first = jvm_archive.archive_key()
    assert first is not None and len(first) == 16 and first == jvm_archive.archive_key()  # stable
    (jars / "extra.jar").write_bytes(b"z")
    added = jvm_archive.archive_key()
    (jars / "extra.jar").write_bytes(b"zz")
    resized = jvm_archive.archive_key()
    (jars / "extra.jar").unlink()
    assert len({first, added, resized}) == 3 and jvm_archive.archive_key() == first


def test_key_changes_with_libjvm(fake_install):
    _, java, _ = fake_install
    before = jvm_archive.archive_key()
    (java.parent.parent / "lib" / "server" / "libjvm.so").write_bytes(b"another build")
    assert jvm_archive.archive_key() != before


def test_no_java_or_no_pyspark_means_no_archive(fake_install, monkeypatch):
    monkeypatch.setattr(jvm_archive, "_java", lambda: None)
    assert jvm_archive.archive_key() is None and jvm_archive.archive_path() is None
    assert jvm_archive.java_options() == ""


def test_missing_archive_adds_no_option(fake_install):
    _, _, folder = fake_install
    assert jvm_archive.archive_path().parent == folder and not jvm_archive.archive_path().exists()
    assert jvm_archive.java_options() == ""
    assert "SharedArchiveFile" not in session._defaults("local[2]")["spark.driver.extraJavaOptions"]


def test_present_archive_is_loaded_by_the_driver_only(fake_install):
    path = jvm_archive.archive_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    opts = jvm_archive.java_options()
    assert shlex.split(opts)[0] == f"-XX:SharedArchiveFile={path}"
    assert "-Xlog:cds=off" in opts  # no per-kernel "Skipping ..." lines
    conf = session._defaults("local[2]")
    assert opts in conf["spark.driver.extraJavaOptions"]
    assert "SharedArchiveFile" not in conf["spark.executor.extraJavaOptions"]  # executors: another class path


def test_an_archive_for_another_key_is_not_used(fake_install):
    jars, _, folder = fake_install
    path = jvm_archive.archive_path()
    folder.mkdir()
    path.write_bytes(b"archive")
    (jars / "upgraded.jar").write_bytes(b"new")  # pyspark changed: the old file is not asked for
    assert jvm_archive.archive_path() != path and jvm_archive.java_options() == ""


def test_zero_turns_it_off(fake_install, monkeypatch):
    path = jvm_archive.archive_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    monkeypatch.setenv(jvm_archive.ARCHIVE_ENV, "0")
    assert jvm_archive.java_options() == ""


def test_a_folder_with_spaces_is_quoted(fake_install, monkeypatch, tmp_path):
    folder = tmp_path / "my archives; here"
    monkeypatch.setenv(jvm_archive.ARCHIVE_ENV, str(folder))
    path = jvm_archive.archive_path()
    folder.mkdir()
    path.write_bytes(b"archive")
    assert shlex.split(jvm_archive.java_options())[0] == f"-XX:SharedArchiveFile={path}"


def test_default_folder_is_the_environment(monkeypatch):
    monkeypatch.delenv(jvm_archive.ARCHIVE_ENV, raising=False)
    import sys

    folder = jvm_archive.archive_dir()
    assert folder in (Path(sys.prefix) / "share" / "labkit", Path.home() / ".cache" / "labkit" / "jvm")


def test_the_real_install_has_a_key():
    jars = jvm_archive.pyspark_jars()
    assert jars is not None and any(j.name.startswith("spark-core") for j in jars.glob("*.jar"))
    assert jvm_archive.archive_key() is not None
