"""The ingestion pipeline on inputs the lab did not write: a second file for a month, reruns, stops at every step of
the swap, stops part-way through archiving, 1,001 waiting keys, same file names, hidden-looking keys, header-only
files, re-uploads during a run, and ids that would become paths. The table is read back with DuckDB (a reader the
lab does not implement) and every row must be there exactly once, traced to its object by the ledger."""

import csv
import io
import uuid
from pathlib import Path

import duckdb
import pytest

from labkit.core import swap
from labkit.scenarios import ledger, pipeline
from labkit.scenarios.pipeline import IngestionError, TableSpec
from labkit.topics import s3

SCHEMA = "id int, day date, amount int"
SPEC = TableSpec(name="orders", schema=SCHEMA, partition_by="month", rules='Rules = [ ColumnValues "amount" >= 0 ]',
                 target_types={"amount": "bigint"}, derive={"month": "date_format(day, 'yyyy-MM')"})


def _csv(*ids, day="2024-01-01", header=True) -> bytes:
    """A CSV of the schema: one row per id, amount = id."""
    lines = (["id,day,amount"] if header else []) + [f"{i},{day},{i}" for i in ids]
    return ("\n".join(lines) + "\n").encode()


def _ids(body: bytes) -> list[int]:
    """The ids of a CSV, read with Python's csv module (the reference for what a file holds)."""
    return [int(r["id"]) for r in csv.DictReader(io.StringIO(body.decode()))]


@pytest.fixture
def world(s3c, tmp_path):
    bucket = f"adv-ingest-{uuid.uuid4().hex[:8]}"
    s3c.create_bucket(Bucket=bucket)
    return {"s3": s3c, "bucket": bucket, "wh": tmp_path / "wh"}


def _put(world, key: str, body: bytes) -> None:
    world["s3"].put_object(Bucket=world["bucket"], Key=key, Body=body)


def _run(spark, world, spec=SPEC, **kw):
    return pipeline.run_ingestion(spark, world["s3"], world["bucket"], str(world["wh"]), spec, **kw)


def _rows(world, table="orders") -> list[tuple[int, str]]:
    """(id, source key) of every row of the table, read by DuckDB from the Parquet files, sorted (duplicates kept)."""
    files = sorted(str(p) for p in Path(world["wh"], table).rglob("*.parquet"))
    if not files:
        return []
    return sorted(duckdb.execute("SELECT id, _source_key FROM read_parquet(?, hive_partitioning = true)",
                                 [files]).fetchall())


def _waiting(world) -> list[str]:
    pages = world["s3"].get_paginator("list_objects_v2").paginate(Bucket=world["bucket"], Prefix="data/in/")
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def _ledger_matches_table(world) -> None:
    """The ledger's current entries name every object the table's rows came from, with their row counts."""
    ledger = pipeline.read_ledger(str(world["wh"]), "orders")
    current = ledger[ledger["current"] & (ledger["rows"] > 0)]
    files = sorted(str(p) for p in Path(world["wh"], "orders").rglob("*.parquet"))
    counted = dict(duckdb.execute("SELECT _source_key || '@' || _source_sha256, count(*) FROM read_parquet(?) "
                                  "GROUP BY 1", [files]).fetchall())
    named = zip(current["source_key"], current["sha256"], current["rows"], strict=True)
    assert counted == {f"{k}@{h}": n for k, h, n in named}


# --------------------------------------------------------------------------- idempotent per object, not per partition


def test_a_second_file_for_the_same_month_adds_its_rows_and_a_rerun_of_either_replaces_only_its_own(spark, world):
    a, b = _csv(1, 2, 3), _csv(4, 5)
    _put(world, "data/in/a.csv", a)
    _run(spark, world)
    _put(world, "data/in/b.csv", b)
    log = _run(spark, world)
    both = sorted([(i, "data/in/a.csv") for i in _ids(a)] + [(i, "data/in/b.csv") for i in _ids(b)])
    assert log["accounted"] and _rows(world) == both  # before: ids 4-5 only, 1-3 gone with accounted True
    _put(world, "data/in/a.csv", a)  # the same bytes again: a rerun of a
    _run(spark, world)
    _put(world, "data/in/b.csv", b)
    _run(spark, world)
    assert _rows(world) == both
    _put(world, "data/in/a.csv", _csv(6))  # new bytes under a known key: a new object, its rows are added
    _run(spark, world)
    assert _rows(world) == sorted([*both, (6, "data/in/a.csv")])
    ledger = pipeline.read_ledger(str(world["wh"]), "orders")
    assert len(ledger) == 5 and ledger["current"].sum() == 3 and (ledger["partitions"].str[0] == "2024-01").all()
    _ledger_matches_table(world)


def test_a_run_stopped_part_way_through_archiving_loses_nothing_when_the_next_run_picks_up_the_rest(
        spark, world, monkeypatch):
    _put(world, "data/in/a.csv", _csv(1, 2, 3))
    _put(world, "data/in/b.csv", _csv(4, 5))
    calls, archive = [], s3.archive_with_timestamp

    def stops_on_the_second(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 2:
            raise RuntimeError("the job was stopped while archiving")
        return archive(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(s3, "archive_with_timestamp", stops_on_the_second)
        with pytest.raises(RuntimeError, match="stopped while archiving"):
            _run(spark, world)
    assert _waiting(world) == ["data/in/b.csv"]
    _run(spark, world)  # before: b's rows replaced the month, a's were archived and gone
    assert _rows(world) == [(1, "data/in/a.csv"), (2, "data/in/a.csv"), (3, "data/in/a.csv"), (4, "data/in/b.csv"),
                            (5, "data/in/b.csv")]
    _ledger_matches_table(world)


def test_waiting_keys_over_several_list_pages_are_all_loaded_in_one_run(spark, world, small_pages):
    """S3 lists at most 1,000 keys a page; with pages of 3, seven keys cross the same boundary 1,001 would."""
    for i in range(7):
        _put(world, f"data/in/k{i:04d}.csv", _csv(i))
    with small_pages(world["s3"], "ListObjectsV2", 3) as pages:
        log = _run(spark, world)
    assert len(pages) >= 3  # the run read every page of the listing, not the first one
    assert log["loaded"] == len(_rows(world)) == 7 and len(log["files"]) == len(log["archived"]) == 7
    assert _waiting(world) == []  # before: the first page listed and loaded, the rest left for a run that replaced them


# --------------------------------------------------------------------------- keys Spark would skip or land on one file


@pytest.fixture(scope="module")
def odd_keys(spark, s3_server, tmp_path_factory):
    """One run over same-named and hidden-looking keys; what it left, captured before the next test empties S3."""
    world = {"s3": s3_server, "bucket": f"adv-odd-{uuid.uuid4().hex[:8]}", "wh": tmp_path_factory.mktemp("odd") / "wh"}
    s3_server.create_bucket(Bucket=world["bucket"])
    bodies = {"data/in/east/orders.csv": _csv(1, 2), "data/in/west/orders.csv": _csv(3, 4),
              "data/in/_late.csv": _csv(5), "data/in/.dot.csv": _csv(6), "data/in/_sub/x.csv": _csv(7)}
    for key, body in bodies.items():
        _put(world, key, body)
    _put(world, "data/in/readme.txt", b"not a csv")
    return {"bodies": bodies, "log": _run(spark, world), "rows": _rows(world), "waiting": _waiting(world)}


def test_two_keys_with_the_same_file_name_both_load_and_both_are_archived_apart(odd_keys):
    for key in ("data/in/east/orders.csv", "data/in/west/orders.csv"):  # before: one lost, both archived and deleted
        assert [r for r in odd_keys["rows"] if r[1] == key] == [(i, key) for i in _ids(odd_keys["bodies"][key])]
    assert len(set(odd_keys["log"]["archived"])) == 5 and odd_keys["waiting"] == ["data/in/readme.txt"]


def test_keys_starting_with_underscore_or_dot_are_read_before_they_are_archived(odd_keys):
    for key in ("data/in/_late.csv", "data/in/.dot.csv", "data/in/_sub/x.csv"):  # before: skipped, then deleted
        assert [r for r in odd_keys["rows"] if r[1] == key] == [(i, key) for i in _ids(odd_keys["bodies"][key])]
    log = odd_keys["log"]
    assert log["accounted"] and log["lines"] == log["loaded"] == 7


def test_a_key_that_is_not_csv_is_left_in_place_and_named_in_the_log(odd_keys):
    assert odd_keys["log"]["skipped"] == ["data/in/readme.txt"] and "data/in/readme.txt" in odd_keys["waiting"]


# --------------------------------------------------------------------------- defaults and empty files


def test_a_table_spec_with_its_default_rules_and_target_types_loads(spark, world):
    _put(world, "data/in/a.csv", _csv(1, 2))
    log = _run(spark, world, TableSpec(name="orders", schema=SCHEMA, partition_by="day"))  # before: AnalysisException
    assert log["accounted"] and log["rejected"] == 0 and _rows(world) == [(1, "data/in/a.csv"), (2, "data/in/a.csv")]



def test_a_phi_policy_naming_a_column_the_data_lacks_stops_the_run_before_anything_is_loaded(spark, world):
    _put(world, "data/in/a.csv", _csv(1, 2))
    typo = TableSpec(name="orders", schema=SCHEMA, partition_by="day", phi={"amuont": "drop"})  # for "amount"
    with pytest.raises(pipeline.IngestionError, match=r"names column\(s\) \['amuont'\]"):  # before: loaded raw
        _run(spark, world, typo)
    assert _waiting(world) == ["data/in/a.csv"] and _rows(world) == []

def test_a_header_only_file_loads_zero_rows_is_archived_and_the_next_run_works(spark, world):
    _put(world, "data/in/empty.csv", _csv())
    _put(world, "data/in/zero-bytes.csv", b"")
    log = _run(spark, world)  # before: "unable to infer schema", and every later run the same
    assert (log["lines"], log["loaded"], len(log["archived"]), log["accounted"]) == (0, 0, 2, True)
    assert _waiting(world) == [] and _rows(world) == []
    ledger = pipeline.read_ledger(str(world["wh"]), "orders")
    assert sorted(ledger["source_key"]) == ["data/in/empty.csv", "data/in/zero-bytes.csv"] and ledger["rows"].sum() == 0
    _put(world, "data/in/a.csv", _csv(1))
    assert _run(spark, world)["loaded"] == 1 and _rows(world) == [(1, "data/in/a.csv")]


# --------------------------------------------------------------------------- a swap stopped between its two renames


class _Kill(BaseException):
    """The process dying: no handler of the pipeline's gets to run (its ``recover`` is patched out)."""


def _stop_second_rename(monkeypatch, exc):
    """Make the move of a staged partition into the table raise ``exc`` (the old one has just gone to the trash)."""
    rename = swap._Local.rename

    def stopping(self, src, dst):
        if "_staging" in str(src) and "=" in Path(src).name:
            raise exc
        return rename(self, src, dst)

    monkeypatch.setattr(swap._Local, "rename", stopping)


def test_an_interrupt_between_the_two_renames_of_a_swap_puts_the_old_partition_back(spark, world, monkeypatch):
    _put(world, "data/in/a.csv", _csv(1, 2, 3))
    _run(spark, world)
    _put(world, "data/in/b.csv", _csv(4, 5))
    with monkeypatch.context() as m:
        _stop_second_rename(m, KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            _run(spark, world)
    assert _rows(world) == [(1, "data/in/a.csv"), (2, "data/in/a.csv"), (3, "data/in/a.csv")]  # before: gone
    assert Path(world["wh"], "_journal").is_dir()  # the swap had begun: its journal is what was removed
    assert not any(Path(world["wh"]).glob("_trash/orders/*")) and not Path(world["wh"], "_journal/orders").exists()
    _run(spark, world)
    assert [r[0] for r in _rows(world)] == [1, 2, 3, 4, 5]


def test_a_kill_between_the_two_renames_of_a_swap_is_rolled_back_by_the_next_run(spark, world, monkeypatch):
    _put(world, "data/in/a.csv", _csv(1, 2, 3))
    _run(spark, world)
    _put(world, "data/in/b.csv", _csv(4, 5))
    with monkeypatch.context() as m:
        _stop_second_rename(m, _Kill())
        m.setattr(ledger, "recover", lambda paths: None)
        with pytest.raises(_Kill):
            _run(spark, world)
    assert _rows(world) == []  # what the kill left: the month's old partition in the trash, the new one not moved in
    assert swap.read_journal(str(world["wh"] / "_journal" / "orders")) is not None
    log = _run(spark, world)
    assert "rolled back" in log["recovered"]
    assert _rows(world) == [(1, "data/in/a.csv"), (2, "data/in/a.csv"), (3, "data/in/a.csv"), (4, "data/in/b.csv"),
                            (5, "data/in/b.csv")]
    _ledger_matches_table(world)


# --------------------------------------------------------------------------- archive and delete what was read


@pytest.mark.parametrize("versioned", [False, True])
def test_a_re_upload_during_a_run_is_not_archived_or_deleted_unread(spark, world, monkeypatch, versioned):
    if versioned:
        s3.enable_versioning(world["s3"], world["bucket"])
    _put(world, "data/in/a.csv", _csv(1, 2))
    archive = s3.archive_with_timestamp

    def producer_re_uploads_first(*args, **kwargs):
        _put(world, "data/in/a.csv", _csv(9))
        return archive(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(s3, "archive_with_timestamp", producer_re_uploads_first)
        log = _run(spark, world)
    assert _waiting(world) == ["data/in/a.csv"]  # before: the re-upload was archived and deleted unread
    body = world["s3"].get_object(Bucket=world["bucket"], Key="data/in/a.csv")["Body"].read()
    assert _ids(body) == [9]
    archived = world["s3"].get_object(Bucket=world["bucket"], Key=log["archived"][0])["Body"].read()
    assert _ids(archived) == [1, 2]  # what was loaded is archived (its landed bytes), never the re-upload
    if versioned:  # the version read was deleted, exactly; the re-upload is the current version
        assert log["left"] == {}
    else:  # the conditional delete refuses: the key now holds other bytes
        assert log["left"] == {"data/in/a.csv": "changed since it was read: archived as read, not deleted"}
    _run(spark, world)
    assert _rows(world) == [(1, "data/in/a.csv"), (2, "data/in/a.csv"), (9, "data/in/a.csv")]


def test_a_landed_copy_that_no_longer_matches_its_hash_is_neither_archived_nor_deleted(world, tmp_path):
    _put(world, "data/in/a.csv", _csv(1, 2))
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "o000000.csv").write_bytes(b"id,day,amount\n9,2024-01-01,1\n")  # not the bytes that were hashed
    obj = ledger.SourceObject("data/in/a.csv", '"etag"', None, "0" * 64, "o000000.csv")
    log = {"archived": [], "left": {}}
    pipeline._archive(world["s3"], world["bucket"], [obj], log, None, landing)
    assert log == {"archived": [], "left": {"data/in/a.csv": "its landed copy changed since it was loaded: not "
                                                             "archived, not deleted"}}
    assert _waiting(world) == ["data/in/a.csv"]  # still waiting: nothing deleted
    assert world["s3"].list_objects_v2(Bucket=world["bucket"], Prefix="data/archive/")["KeyCount"] == 0


# --------------------------------------------------------------------------- ids that would become paths


@pytest.mark.parametrize("bad", ["ABSOLUTE", "../x", "a/b", "..", "_landing"])
def test_a_run_id_that_is_not_a_plain_name_is_refused_before_anything_is_deleted(spark, world, tmp_path, bad):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    (world["wh"] / "orders" / "month=2024-01").mkdir(parents=True)
    run_id = str(victim) if bad == "ABSOLUTE" else bad
    with pytest.raises(ValueError, match="run_id must be a plain name"):  # before: the folder was deleted
        _run(spark, world, run_id=run_id)
    assert (victim / "keep.txt").exists() and (world["wh"] / "orders" / "month=2024-01").is_dir()


@pytest.mark.parametrize("field,bad", [("name", "../x"), ("name", "/tmp/x"), ("partition_by", "a/b")])
def test_a_table_name_or_partition_column_that_is_not_a_plain_name_is_refused(spark, world, field, bad):
    spec = TableSpec(**{**vars(SPEC), field: bad})
    with pytest.raises(ValueError, match=f"spec.{field} must be a plain name"):
        _run(spark, world, spec)
    assert not world["wh"].exists()


def test_a_journal_naming_a_run_outside_the_warehouse_is_refused(spark, world):
    journal = str(world["wh"] / "_journal" / "orders")
    swap.Swap(journal, meta={"run_id": "../../elsewhere"})  # a journal left behind, naming a run id that is a path
    with pytest.raises(ValueError, match="run_id must be a plain name"):
        _run(spark, world)
    assert swap.read_journal(journal) == {"run_id": "../../elsewhere"}  # kept for a person to look at


def test_a_journal_naming_a_partition_outside_the_warehouse_is_refused_before_anything_moves(spark, world, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    journal = str(world["wh"] / "_journal" / "orders")
    left = swap.Swap(journal, meta={"run_id": "r0"})
    left.move(str(victim), str(world["wh"] / "_trash" / "orders" / "r0" / "x"), aside=True)  # moved in, by hand
    with pytest.raises(ValueError, match="names paths outside"):
        _run(spark, world)
    assert (world["wh"] / "_trash" / "orders" / "r0" / "x" / "keep.txt").exists() and not victim.exists()
    assert swap.read_journal(journal) == {"run_id": "r0"}  # nothing moved back out of the warehouse, nothing deleted


def test_a_used_run_id_is_refused_before_it_can_overwrite_its_ledger(spark, world):
    _run(spark, world, run_id="r1")  # no input: nothing is written under r1, so it may be used again
    _put(world, "data/in/a.csv", _csv(1))
    _run(spark, world, run_id="r1")
    _put(world, "data/in/b.csv", _csv(2))
    with pytest.raises(IngestionError, match="was used before"):
        _run(spark, world, run_id="r1")
    assert _rows(world) == [(1, "data/in/a.csv")] and _waiting(world) == ["data/in/b.csv"]


def test_a_table_written_before_the_ledger_is_refused_not_mixed(spark, world):
    spark.createDataFrame([(1, "2024-01")], "id int, month string").write.partitionBy("month").parquet(
        str(world["wh"] / "orders"))
    _put(world, "data/in/a.csv", _csv(2))
    with pytest.raises(IngestionError, match="rebuild it"):
        _run(spark, world)
    assert sorted(duckdb.execute("SELECT id FROM read_parquet(?)", [str(world["wh"] / "orders/*/*.parquet")])
                  .fetchall()) == [(1,)]
    assert _waiting(world) == ["data/in/a.csv"]
