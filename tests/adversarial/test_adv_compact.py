"""partitioning.compact on folders no generator of ours writes: DuckDB's Parquet, hand-written CSV, mixed files.

References the lab does not implement: DuckDB (``read_parquet(..., union_by_name=true)``) for the merged
schema, Python's ``csv`` module for CSV values, ``hypothesis`` for generated awkward CSV values.
"""

import csv
import shutil
import uuid

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql.readwriter import DataFrameWriter
from pyspark.testing import assertDataFrameEqual

from labkit.core import files, swap
from labkit.topics import partitioning


def _parquet(path, sql):
    """A Parquet file written by DuckDB."""
    duckdb.sql(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")


def _snapshot(root):
    """Every file under ``root`` (hidden ones too), with its bytes: nothing added, removed or changed."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _two_files(tmp_path, first, second):
    folder = tmp_path / "table"
    folder.mkdir()
    _parquet(folder / "part-0.parquet", first)
    _parquet(folder / "part-1.parquet", second)
    return folder


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def _read_csv_files(folder):
    """(header of each data file, all data rows) read with Python's csv module."""
    headers, rows = [], []
    for p in sorted(folder.glob("part-*")):
        with open(p, newline="", encoding="utf-8") as fh:
            lines = list(csv.reader(fh))
        if lines:
            headers.append(lines[0])
            rows += lines[1:]
    return headers, rows


def test_files_with_different_columns_keep_every_column(spark, tmp_path):
    folder = _two_files(tmp_path, "SELECT range::INTEGER AS id, 'a' || range AS a FROM range(5)",
                        "SELECT (range + 5)::INTEGER AS id, 'b' || range AS b FROM range(5)")
    shutil.copytree(folder, tmp_path / "original")
    expected = duckdb.sql(f"SELECT id, a, b FROM read_parquet('{tmp_path}/original/*.parquet', union_by_name=true)"
                          ).fetchall()
    partitioning.compact(spark, str(folder), target_file_mb=1)
    back = spark.read.parquet(str(folder))
    assert sorted(back.columns) == ["a", "b", "id"]
    assertDataFrameEqual(back.select("id", "a", "b"), spark.createDataFrame(expected, "id int, a string, b string"))
    assert sorted(duckdb.sql(f"SELECT id, a, b FROM read_parquet('{folder}/*.parquet')").fetchall()) == sorted(
        expected)  # DuckDB reads the compacted files the same way
    assert len(list(folder.glob("part-*"))) == 1


def test_a_column_with_two_types_is_refused_by_name_before_anything_is_written(spark, tmp_path):
    folder = _two_files(tmp_path, "SELECT 1::INTEGER AS id, 2::INTEGER AS a", "SELECT 3::INTEGER AS id, 'x' AS a")
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"a: int in part-0\.parquet, string in part-1\.parquet"):
        partitioning.compact(spark, str(folder))
    assert _snapshot(tmp_path) == before


def test_json_files_whose_column_types_differ_are_refused_not_widened_to_string(spark, tmp_path):
    folder = tmp_path / "json"
    folder.mkdir()
    (folder / "part-0.json").write_text('{"id": 1, "n": 5}\n')
    (folder / "part-1.json").write_text('{"id": 2, "n": "five"}\n')
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"n: bigint in part-0\.json, string in part-1\.json"):
        partitioning.compact(spark, str(folder), fmt="json")
    assert _snapshot(tmp_path) == before


def test_csv_format_on_a_parquet_folder_is_refused_naming_the_file_and_the_folder_is_kept(spark, tmp_path):
    folder = _two_files(tmp_path, "SELECT 1 AS id", "SELECT 2 AS id")
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"part-0\.parquet is a Parquet file \(PAR1 magic bytes\), not csv"):
        partitioning.compact(spark, str(folder), fmt="csv")
    assert _snapshot(tmp_path) == before


def test_parquet_format_on_a_csv_folder_is_refused_naming_the_file(spark, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    _write_csv(folder / "part-0.csv", [["id"], ["1"]])
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"part-0\.csv is a CSV file .*, not parquet"):
        partitioning.compact(spark, str(folder))
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("fmt, name, body, found", [
    ("json", "part-0.csv", "id,a\n1,x\n", "a CSV file"),
    ("csv", "part-0.json", '{"id": 1, "a": "x"}\n', "a JSON file"),
])
def test_csv_and_json_are_told_apart_and_a_mismatch_is_refused(spark, tmp_path, fmt, name, body, found):
    folder = tmp_path / "text"
    folder.mkdir()
    (folder / name).write_text(body)
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=rf"{name.replace('.', '[.]')} is {found} .*, not {fmt}"):
        partitioning.compact(spark, str(folder), fmt=fmt)
    assert _snapshot(tmp_path) == before


HAND_WRITTEN = [
    ["id", "text", "note"],
    ["1", "  padded  ", "a,b"],
    ["2", 'he said "hi"', ""],
    ["3", "", " "],
    ["4", "two\nlines", "back\\slash"],
    ["5", "café, naïve", '"'],
]


def test_csv_keeps_padding_quotes_commas_line_breaks_and_empty_strings(spark, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    _write_csv(folder / "part-0.csv", HAND_WRITTEN[:3])
    _write_csv(folder / "part-1.csv", [HAND_WRITTEN[0], *HAND_WRITTEN[3:]])
    with open(folder / "part-2.csv", "a", newline="", encoding="utf-8") as fh:
        fh.write('id,text,note\r\n6,"",x\r\n')  # a quoted empty string, as Excel writes it
    partitioning.compact(spark, str(folder), fmt="csv")
    headers, rows = _read_csv_files(folder)
    assert headers == [HAND_WRITTEN[0]]  # one file, its header once
    assert sorted(rows) == sorted([*HAND_WRITTEN[1:], ["6", "", "x"]])  # Python's csv reads the same values


def test_csv_files_with_different_headers_are_refused(spark, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    _write_csv(folder / "part-0.csv", [["id", "a"], ["1", "x"]])
    _write_csv(folder / "part-1.csv", [["9", "secret-value"], ["2", "y"]])  # no header: its first line is data
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"different headers \(part-0\.csv: 2 fields; part-1\.csv: 2 fields; "
                                         r"they differ at column\(s\) \[1, 2\]\)") as err:
        partitioning.compact(spark, str(folder), fmt="csv")
    assert "secret-value" not in str(err.value)  # a data row never reaches the message
    assert _snapshot(tmp_path) == before


_TEXT = st.text(alphabet=st.sampled_from(list('ab ,"\n\\é')), max_size=6)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_TEXT, _TEXT), min_size=2, max_size=12))
def test_generated_csv_values_round_trip_as_pythons_csv_module_reads_them(spark, tmp_path, values):
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    rows = [[str(i), a, b] for i, (a, b) in enumerate(values)]
    half = len(rows) // 2
    _write_csv(folder / "part-0.csv", [["id", "a", "b"], *rows[:half]])
    _write_csv(folder / "part-1.csv", [["id", "a", "b"], *rows[half:]])
    partitioning.compact(spark, str(folder), fmt="csv")
    headers, back = _read_csv_files(folder)
    assert headers == [["id", "a", "b"]]
    assert sorted(back) == sorted(rows)


@pytest.mark.parametrize("where", ["parent", "same", "inside"])
def test_an_output_that_contains_or_lies_inside_the_source_is_refused_before_anything_is_written(spark, tmp_path,
                                                                                                 where):
    folder = _two_files(tmp_path, "SELECT 1 AS id", "SELECT 2 AS id")
    output = {"parent": tmp_path, "same": folder, "inside": folder / "compacted"}[where]
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match="inside it or contains it"):
        partitioning.compact(spark, str(folder), output=str(output))
    assert _snapshot(tmp_path) == before


def test_an_output_that_exists_is_not_overwritten(spark, tmp_path):
    folder = _two_files(tmp_path, "SELECT 1 AS id", "SELECT 2 AS id")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.txt").write_text("mine")
    before = _snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="already exists"):
        partitioning.compact(spark, str(folder), output=str(tmp_path / "elsewhere"))
    assert _snapshot(tmp_path) == before


def test_compacting_to_an_output_leaves_the_source_as_it_was(spark, tmp_path):
    folder = _two_files(tmp_path, "SELECT 1 AS id", "SELECT 2 AS id")
    before = _snapshot(folder)
    out = partitioning.compact(spark, str(folder), output=str(tmp_path / "out"))
    assert _snapshot(folder) == before
    assertDataFrameEqual(spark.read.parquet(out), spark.read.parquet(str(folder)))


def test_a_folder_with_partition_subfolders_is_refused(spark, tmp_path):
    (tmp_path / "t" / "month=1").mkdir(parents=True)
    _parquet(tmp_path / "t" / "month=1" / "part-0.parquet", "SELECT 1 AS id")
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"1 subfolder\(s\)"):
        partitioning.compact(spark, str(tmp_path / "t"))
    assert _snapshot(tmp_path) == before


def test_a_file_added_while_compacting_stops_the_swap_and_is_kept(spark, tmp_path, monkeypatch):
    folder = _two_files(tmp_path, "SELECT 1 AS id", "SELECT 2 AS id")
    save = DataFrameWriter.save

    def save_then_a_writer_appends(self, *args, **kwargs):
        save(self, *args, **kwargs)
        _parquet(folder / "part-late.parquet", "SELECT 3 AS id")  # another job's file lands meanwhile

    monkeypatch.setattr(DataFrameWriter, "save", save_then_a_writer_appends)
    with pytest.raises(RuntimeError, match=r"changed while it ran \(1 added, 0 removed, 0 rewritten\)"):
        partitioning.compact(spark, str(folder))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table"]  # no copy or old folder left beside it
    assert sorted(p.name for p in folder.iterdir()) == ["part-0.parquet", "part-1.parquet", "part-late.parquet"]
    assert sorted(r.id for r in spark.read.parquet(str(folder)).collect()) == [1, 2, 3]


def _renames(monkeypatch, outcomes):
    """Make the n-th rename of compact's swap do the real rename (True), fail (False) or raise (an exception)."""
    real, calls = files.rename, []

    def rename(spark, src, dst):
        outcome = outcomes[len(calls)]
        calls.append((src, dst))
        if isinstance(outcome, BaseException):
            raise outcome
        return real(spark, src, dst) if outcome else False

    monkeypatch.setattr(files, "rename", rename)
    return calls


@pytest.mark.parametrize("restore", [False, OSError("the restore raised")], ids=["returns False", "raises"])
def test_when_the_swap_and_its_restore_both_fail_the_error_names_where_the_original_files_are(spark, tmp_path,
                                                                                              monkeypatch, restore):
    folder = _two_files(tmp_path, "SELECT 1 AS id", "SELECT 2 AS id")
    originals = _snapshot(folder)
    calls = _renames(monkeypatch, [True, False, restore])
    with pytest.raises(RuntimeError, match="nor move the original back") as err:
        partitioning.compact(spark, str(folder))
    monkeypatch.undo()
    old = calls[0][1].rsplit("/", 1)[-1]  # the rename's own (qualified) destination: the folder moved aside
    assert f"it is at {tmp_path / old}," in str(err.value) and old.startswith(".table.old-")
    assert _snapshot(tmp_path / old) == originals  # nothing deleted
    assert not folder.exists() and (tmp_path / ".table.swap").is_dir()  # the journal is kept for the next run
    with pytest.warns(UserWarning, match="the original folder put back"):
        partitioning.compact(spark, str(folder))  # the next compaction recovers the journal first
    assert sorted(r.id for r in spark.read.parquet(str(folder)).collect()) == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table"]  # no copy, old folder or journal left


def test_when_the_swap_fails_and_the_restore_works_the_folder_is_back_unchanged(spark, tmp_path, monkeypatch):
    folder = _two_files(tmp_path, "SELECT 1 AS id", "SELECT 2 AS id")
    originals = _snapshot(folder)
    _renames(monkeypatch, [True, False, True])
    with pytest.raises(RuntimeError, match="was restored"):
        partitioning.compact(spark, str(folder))
    monkeypatch.undo()
    assert _snapshot(folder) == originals
    assert not [p for p in tmp_path.iterdir() if ".old-" in p.name]


class _Kill(BaseException):
    """The process dying: no handler runs after it."""


def test_a_compaction_killed_between_the_two_renames_is_undone_by_the_next_one(spark, tmp_path, monkeypatch):
    folder = _two_files(tmp_path, "SELECT 1 AS id", "SELECT 2 AS id")
    originals = _snapshot(folder)
    with monkeypatch.context() as m:
        _renames(m, [True, _Kill()])  # the folder moved aside, then the process dies
        m.setattr(swap.Swap, "undo", lambda self: 0)  # a dead process runs no handler
        with pytest.raises(_Kill):
            partitioning.compact(spark, str(folder))
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(".table.old-")]
    assert not folder.exists() and len(aside) == 1 and _snapshot(aside[0]) == originals  # what the kill left
    assert (tmp_path / ".table.swap").is_dir() and [p for p in tmp_path.iterdir() if ".compacting-" in p.name]
    with pytest.warns(UserWarning, match="stopped during its swap; its journal was recovered"):
        partitioning.compact(spark, str(folder))
    assert sorted(r.id for r in spark.read.parquet(str(folder)).collect()) == [1, 2]
    assert len(list(folder.glob("part-*"))) == 1  # compacted, from the original files put back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table"]  # the dead run's copy and journal removed
