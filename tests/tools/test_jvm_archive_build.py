"""Building the CDS archive: nothing unusable is left in place, old archives go, the command says what happened."""

from __future__ import annotations

import pytest

from labkit.core import jvm_archive as where
from labkit.report import cli
from labkit.tools import jvm_archive


def test_check_rejects_a_file_that_is_no_archive(tmp_path):
    bad = tmp_path / "spark-driver-0000.jsa"
    bad.write_bytes(b"not an archive")
    with pytest.raises(jvm_archive.ArchiveError, match="does not load"):
        jvm_archive._check(bad, str(tmp_path))


class _Run:
    def __init__(self, returncode, stdout="", stderr="", timed_out=False):
        self.returncode, self.stdout, self.stderr, self.timed_out = returncode, stdout, stderr, timed_out


def test_a_failed_dump_leaves_nothing_and_keeps_the_old_archive(tmp_path, monkeypatch):
    old = tmp_path / "spark-driver-old.jsa"
    old.write_bytes(b"old")
    target = tmp_path / "spark-driver-new.jsa"
    monkeypatch.setattr(jvm_archive, "run_child", lambda *a, **k: _Run(1, stderr="boom\nJVM died"))
    with pytest.raises(jvm_archive.ArchiveError, match=r"dump run failed \(exit 1\): boom \| JVM died"):
        jvm_archive.build(target, log=lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spark-driver-old.jsa"]


def test_an_archive_that_fails_its_check_is_not_renamed(tmp_path, monkeypatch):
    target = tmp_path / "spark-driver-new.jsa"

    def dump(module, args, **kw):
        from pathlib import Path

        Path(args[0]).write_bytes(b"half written")
        return _Run(0, stdout='{"class_path": "/nowhere"}\n')

    monkeypatch.setattr(jvm_archive, "run_child", dump)
    with pytest.raises(jvm_archive.ArchiveError, match="does not load"):
        jvm_archive.build(target, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_a_good_build_replaces_older_archives(tmp_path, monkeypatch):
    (tmp_path / "spark-driver-old.jsa").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("kept")
    target = tmp_path / "spark-driver-new.jsa"

    def dump(module, args, **kw):
        from pathlib import Path

        Path(args[0]).write_bytes(b"archive")
        return _Run(0, stdout='log line\n{"class_path": "/cp"}\n')

    checked = []
    monkeypatch.setattr(jvm_archive, "run_child", dump)
    monkeypatch.setattr(jvm_archive, "_check", lambda archive, cp: checked.append(cp))
    lines = []
    assert jvm_archive.build(target, log=lines.append) == target
    assert checked == ["/cp"] and target.read_bytes() == b"archive" and not target.stat().st_mode & 0o222
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "spark-driver-new.jsa"]
    assert "building spark-driver-new.jsa" in lines[0] and "MB" in lines[-1]


def test_ensure_returns_an_existing_archive_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv(where.ARCHIVE_ENV, str(tmp_path))
    target = where.archive_path()
    tmp_path.mkdir(exist_ok=True)
    target.write_bytes(b"archive")
    monkeypatch.setattr(jvm_archive, "build", lambda *a, **k: pytest.fail("built again"))
    assert jvm_archive.ensure() == target


def test_ensure_is_off_with_zero(monkeypatch):
    monkeypatch.setenv(where.ARCHIVE_ENV, "0")
    assert jvm_archive.ensure(rebuild=True) is None


def test_cli_reports_a_failure_and_exits_1(monkeypatch, capsys):
    def fail(rebuild):
        raise jvm_archive.ArchiveError("the dump run failed (timed out): x")

    monkeypatch.setattr(jvm_archive, "ensure", lambda rebuild=False: fail(rebuild))
    assert cli.main(["jvm-archive"]) == 1
    assert "sessions start without it" in capsys.readouterr().err


def test_cli_prints_the_archive(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(jvm_archive, "ensure", lambda rebuild=False: tmp_path / "a.jsa")
    assert cli.main(["jvm-archive"]) == 0
    assert str(tmp_path / "a.jsa") in capsys.readouterr().out
