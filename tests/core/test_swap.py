"""The journaled folder swap: on local paths through Python and on ``file:`` paths through Hadoop's FileSystem,
stopped by an error, an interrupt or a kill at every step, and recovered without losing a file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labkit.core import swap
from labkit.core.swap import Swap, SwapError


def _folder(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "part-0").write_text(text)
    return path


def _tree(root: Path) -> dict[str, str]:
    """Every visible file under ``root``, relative path -> text (Hadoop's hidden .crc files skipped)."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


@pytest.fixture
def world(tmp_path):
    _folder(tmp_path / "table", "old")
    _folder(tmp_path / "new", "new")
    return tmp_path


class _Kill(BaseException):
    """The process dying: no handler runs after it."""


def _stop_second_rename(monkeypatch, backend, exc):
    """Make the second rename of a swap (the new folder into place) raise ``exc``."""
    calls, rename = [], backend.rename

    def stopping(self, src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise exc
        return rename(self, src, dst)

    monkeypatch.setattr(backend, "rename", stopping)


# --------------------------------------------------------------------------- swap_folder, local paths


def test_swap_folder_puts_the_new_folder_in_place_and_leaves_nothing_else(world):
    swap.swap_folder(str(world / "new"), str(world / "table"))
    assert _tree(world) == {"table/part-0": "new"}
    assert sorted(p.name for p in world.iterdir()) == ["table"]  # no aside folder, no journal


def test_swap_folder_moves_the_new_folder_in_when_there_is_none_yet(tmp_path):
    _folder(tmp_path / "new", "new")
    swap.swap_folder(str(tmp_path / "new"), str(tmp_path / "table"))
    assert _tree(tmp_path) == {"table/part-0": "new"}


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failure_between_the_two_renames_puts_the_original_back(world, monkeypatch, exc):
    _stop_second_rename(monkeypatch, swap._Local, exc)
    with pytest.raises(SwapError if isinstance(exc, Exception) else KeyboardInterrupt) as caught:
        swap.swap_folder(str(world / "new"), str(world / "table"))
    assert _tree(world) == {"table/part-0": "old", "new/part-0": "new"}
    assert sorted(p.name for p in world.iterdir()) == ["new", "table"]
    if isinstance(exc, Exception):
        assert "was restored" in str(caught.value) and caught.value.__cause__ is exc


def test_a_failure_to_move_the_original_aside_changes_nothing_and_says_so(world, monkeypatch):
    def fails(self, src, dst):
        raise OSError("permission denied")

    monkeypatch.setattr(swap._Local, "rename", fails)
    with pytest.raises(SwapError, match="aside; it is unchanged"):
        swap.swap_folder(str(world / "new"), str(world / "table"))
    assert _tree(world) == {"table/part-0": "old", "new/part-0": "new"}


def test_when_the_original_cannot_be_put_back_the_error_names_where_it_is(world, monkeypatch):
    calls, rename = [], swap._Local.rename

    def only_the_first(self, src, dst):
        calls.append(src)
        if len(calls) > 1:
            raise OSError("the disk went away")
        return rename(self, src, dst)

    monkeypatch.setattr(swap._Local, "rename", only_the_first)
    with pytest.raises(SwapError, match="nor move the original back") as caught:
        swap.swap_folder(str(world / "new"), str(world / "table"), aside=str(world / "aside"))
    assert str(world / "aside") in str(caught.value) and _tree(world / "aside") == {"part-0": "old"}
    assert swap.read_journal(swap.journal_beside(str(world / "table"))) is not None  # kept for a person
    monkeypatch.undo()
    assert swap.recover(swap.journal_beside(str(world / "table"))).action == "back"
    assert _tree(world) == {"table/part-0": "old", "new/part-0": "new"}


def test_a_process_killed_between_the_two_renames_is_rolled_back_by_recover(world):
    code = textwrap.dedent(f"""
        import os, signal
        from labkit.core import swap
        calls, rename = [], swap._Local.rename
        def dying(self, src, dst):
            calls.append(src)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return rename(self, src, dst)
        swap._Local.rename = dying
        swap.swap_folder({str(world / "new")!r}, {str(world / "table")!r}, aside={str(world / "aside")!r})
    """)
    died = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert _tree(world) == {"aside/part-0": "old", "new/part-0": "new"}  # what the kill left: no table at all
    journal = swap.journal_beside(str(world / "table"))
    assert swap.read_journal(journal)["path"] == str(world / "table")
    done = swap.recover(journal)
    assert (done.action, done.journaled, done.undone) == ("back", 2, 1)  # the second journaled, never made
    assert _tree(world) == {"table/part-0": "old", "new/part-0": "new"}
    assert swap.recover(journal) is None and sorted(p.name for p in world.iterdir()) == ["new", "table"]


def test_a_kill_after_the_commit_is_rolled_forward(world, monkeypatch):
    monkeypatch.setattr(Swap, "finish", lambda self: None)  # the process died after the commit was journaled
    swap.swap_folder(str(world / "new"), str(world / "table"), aside=str(world / "aside"))
    assert _tree(world) == {"table/part-0": "new", "aside/part-0": "old"}
    monkeypatch.undo()
    done = swap.recover(swap.journal_beside(str(world / "table")))
    assert (done.action, done.undone) == ("forward", 0) and _tree(world) == {"table/part-0": "new"}


# --------------------------------------------------------------------------- Swap: several moves, its caller's commit


def _two_partitions(root: Path) -> Swap:
    """A table of two partitions, each with a staged replacement; a Swap over them (nothing moved yet)."""
    for part in ("p=1", "p=2"):
        _folder(root / "table" / part, f"old {part}")
        _folder(root / "staging" / part, f"new {part}")
    return Swap(str(root / "journal"), meta={"run": "r1"}, cleanup=[str(root / "staging"), str(root / "trash")])


def _move_all(s: Swap, root: Path) -> None:
    for part in ("p=1", "p=2"):
        s.replace(str(root / "table" / part), str(root / "staging" / part), str(root / "trash" / part))


def test_a_swap_of_several_folders_undone_puts_every_one_back(tmp_path):
    s = _two_partitions(tmp_path)
    _move_all(s, tmp_path)
    assert _tree(tmp_path / "table") == {"p=1/part-0": "new p=1", "p=2/part-0": "new p=2"}
    assert s.undo() == 4
    assert _tree(tmp_path) == {"table/p=1/part-0": "old p=1", "table/p=2/part-0": "old p=2"}  # staging removed


@pytest.mark.parametrize("committed", [False, True])
def test_recover_follows_the_callers_own_commit_point(tmp_path, committed):
    s = _two_partitions(tmp_path)
    _move_all(s, tmp_path)  # then the process dies: no commit in the journal, no finish
    done = swap.recover(str(tmp_path / "journal"), committed=lambda meta: meta == {"run": "r1"} and committed)
    assert done.action == ("forward" if committed else "back") and done.journaled == 4
    want = "new" if committed else "old"
    assert _tree(tmp_path) == {"table/p=1/part-0": f"{want} p=1", "table/p=2/part-0": f"{want} p=2"}


def test_a_journal_naming_a_path_outside_the_folder_it_may_touch_is_refused(tmp_path):
    s = _two_partitions(tmp_path / "wh")
    _move_all(s, tmp_path / "wh")
    with pytest.raises(ValueError, match="names paths outside"):
        swap.recover(str(tmp_path / "wh" / "journal"), within=str(tmp_path / "wh" / "table"))
    assert swap.read_journal(str(tmp_path / "wh" / "journal")) == {"run": "r1"}  # nothing moved, journal kept
    assert swap.recover(str(tmp_path / "wh" / "journal"), within=str(tmp_path / "wh")).action == "back"


def test_a_move_onto_an_existing_folder_is_refused_before_it_is_journaled(world):
    s = Swap(str(world / "journal"))
    with pytest.raises(SwapError, match="exists"):
        s.move(str(world / "new"), str(world / "table"))  # a Hadoop rename would nest it inside
    with pytest.raises(SwapError, match="nothing to move"):
        s.move(str(world / "missing"), str(world / "elsewhere"))
    assert sorted(p.name for p in (world / "journal").iterdir()) == ["000000.json"]  # the header only


def test_an_unfinished_journal_must_be_recovered_before_another_swap_starts(world):
    s = Swap(str(world / "journal"))
    s.move(str(world / "table"), str(world / "aside"), aside=True)
    with pytest.raises(SwapError, match="recover it first"):
        Swap(str(world / "journal"))
    assert swap.recover(str(world / "journal")).action == "back" and _tree(world / "table") == {"part-0": "old"}


def test_a_move_that_cannot_be_undone_keeps_the_journal_for_a_person(world):
    s = Swap(str(world / "journal"))
    s.move(str(world / "table"), str(world / "aside"), aside=True)
    _folder(world / "table", "another writer")  # both ends present: which one is right is not the swap's to guess
    with pytest.raises(SwapError, match="both are present"):
        swap.recover(str(world / "journal"))
    assert swap.read_journal(str(world / "journal")) == {} and _tree(world / "aside") == {"part-0": "old"}


def test_a_journal_without_its_header_is_dead_and_an_unreadable_one_is_kept(world):
    (world / "journal").mkdir()
    (world / "journal" / "000001.json").write_text(json.dumps({"step": "move", "src": "/x", "dst": "/y"}))
    assert swap.recover(str(world / "journal")) is None and not (world / "journal").exists()  # removal had begun
    s = Swap(str(world / "journal"))
    s.move(str(world / "table"), str(world / "aside"), aside=True)
    (world / "journal" / "000001.json").write_text('{"step": "mo')  # torn by hand: the module never writes one
    with pytest.raises(SwapError, match="unreadable entry"):
        swap.recover(str(world / "journal"))
    assert (world / "journal" / "000001.json").exists() and _tree(world / "aside") == {"part-0": "old"}


def test_a_local_swap_refuses_a_path_on_another_file_system_without_a_session():
    with pytest.raises(ValueError, match="not a local path"):
        Swap("s3a://bucket/journal")


# --------------------------------------------------------------------------- file: paths through Hadoop's FileSystem


def _uri(path: Path) -> str:
    return f"file:{path}"


def test_swap_folder_over_hadoop_on_a_file_path(spark, world):
    swap.swap_folder(_uri(world / "new"), _uri(world / "table"), spark=spark)
    assert _tree(world) == {"table/part-0": "new"} and spark.read.text(_uri(world / "table")).first()[0] == "new"


def test_an_error_between_the_two_renames_over_hadoop_puts_the_original_back(spark, world, monkeypatch):
    _stop_second_rename(monkeypatch, swap._Hadoop, OSError("rename failed"))
    with pytest.raises(SwapError, match="was restored"):
        swap.swap_folder(_uri(world / "new"), _uri(world / "table"), spark=spark)
    assert _tree(world) == {"table/part-0": "old", "new/part-0": "new"}


def test_a_kill_between_the_two_renames_over_hadoop_is_rolled_back_by_recover(spark, world, monkeypatch):
    with monkeypatch.context() as m:
        _stop_second_rename(m, swap._Hadoop, _Kill())
        m.setattr(Swap, "undo", lambda self: 0)  # a dead process runs no handler
        with pytest.raises(_Kill):
            swap.swap_folder(_uri(world / "new"), _uri(world / "table"), spark=spark, aside=_uri(world / "aside"))
    assert _tree(world) == {"aside/part-0": "old", "new/part-0": "new"}
    journal = swap.journal_beside(_uri(world / "table"))
    assert json.loads((world / ".table.swap" / "000001.json").read_text())["src"] == f"file:{world / 'table'}"
    done = swap.recover(journal, spark=spark, within=_uri(world))
    assert (done.action, done.journaled, done.undone) == ("back", 2, 1)  # the second journaled, never made
    assert _tree(world) == {"table/part-0": "old", "new/part-0": "new"} and not (world / ".table.swap").exists()
