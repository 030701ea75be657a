"""The ingestion pipeline end to end on moto's S3 server: every line accounted, PHI masked, idempotent, atomic."""

import json
import shutil
import uuid
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from labkit.core import datagen
from labkit.scenarios import ledger, pipeline
from labkit.scenarios.pipeline import IngestionError, TableSpec
from labkit.topics import phi

SPEC = TableSpec(name="orders", schema=datagen.ORDERS_SCHEMA, partition_by="order_month",
                 rules="Rules = [ ColumnValues \"amount\" >= 0, IsComplete \"order_id\" ]",
                 phi={"email": "pseudonym"}, target_types={"amount": "decimal(8,2)", "quantity": "smallint"},
                 derive={"order_month": "date_format(order_date, 'yyyy-MM')"})
KEY = "a-test-key-of-enough-length-0123456789"


def _land(s3c, bucket, root):
    dirty = datagen.dirty_csv(str(root), lines=400, defect_rate=0.1, seed=5)
    for f in dirty.files:
        s3c.upload_file(f, bucket, f"data/in/{Path(f).name}")
    return dirty


@pytest.fixture
def world(spark, s3c, tmp_path):
    bucket = f"ingest-{uuid.uuid4().hex[:8]}"
    s3c.create_bucket(Bucket=bucket)
    dirty = _land(s3c, bucket, tmp_path / "src")
    return {"bucket": bucket, "dirty": dirty, "warehouse": str(tmp_path / "wh")}


def _table(spark, world):
    return spark.read.parquet(f"{world['warehouse']}/orders")


@pytest.fixture(scope="module")
def first_run(spark, s3_server, tmp_path_factory):
    """One first run, shared: its log and what it left (warehouse, S3), captured before the next test empties S3."""
    root = tmp_path_factory.mktemp("first")
    bucket = f"ingest-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(Bucket=bucket)
    dirty = _land(s3_server, bucket, root / "src")
    warehouse = str(root / "wh")
    log = pipeline.run_ingestion(spark, s3_server, bucket, warehouse, SPEC, phi_key=KEY)
    rows = spark.read.parquet(f"{warehouse}/orders")
    return {"log": log, "dirty": dirty, "warehouse": warehouse, "rows": rows.collect(), "schema": rows.schema,
            "left": s3_server.list_objects_v2(Bucket=bucket, Prefix="data/in/").get("Contents", []),
            "archived": {k: s3_server.get_object(Bucket=bucket, Key=k)["Body"].read() for k in log["archived"]},
            "log_size": s3_server.get_object(Bucket=bucket, Key=log["log_key"])["ContentLength"]}


@pytest.fixture
def after_first(first_run, s3c, tmp_path):
    """A world as the first run left it: its warehouse copied, its archives in a new bucket, data/in/ empty."""
    bucket = f"ingest-{uuid.uuid4().hex[:8]}"
    s3c.create_bucket(Bucket=bucket)
    for key, body in first_run["archived"].items():
        s3c.put_object(Bucket=bucket, Key=key, Body=body)
    shutil.copytree(first_run["warehouse"], tmp_path / "wh")
    return {"bucket": bucket, "dirty": first_run["dirty"], "warehouse": str(tmp_path / "wh")}


def test_end_to_end_every_line_is_accounted_masked_and_archived(spark, first_run):
    log, labels = first_run["log"], first_run["dirty"].labels
    assert log["accounted"] and log["lines"] == len(labels)  # every physical data line, repeated headers included
    assert log["lines"] == log["loaded"] + log["quarantined"] + log["rejected"] and log["loaded"] > 0
    assert log["quarantined"] > 0 and all(k.startswith(("quarantined: ", "rule: ", "type: ")) for k in log["reasons"])
    table = spark.createDataFrame(first_run["rows"], first_run["schema"])  # the table as the run left it
    assert table.count() == log["loaded"]
    originals = spark.createDataFrame([(e,) for e in labels["raw"].str.split(",").str[2].dropna().unique()
                                       if "@" in e], "email string")
    phi.assert_no_phi(table, originals, ["email"])
    left = first_run["left"]
    assert not left and len(log["archived"]) == len(set(log["archived"])) == len(log["files"])
    assert all(k.startswith("data/archive/") for k in log["archived"])
    assert first_run["log_size"] > 0


def test_a_second_run_of_the_same_input_gives_the_same_table(spark, s3c, after_first, tmp_path):
    world = after_first  # the first run's table, ledger and archives
    first = _table(spark, world).collect()
    _land(s3c, world["bucket"], tmp_path / "again")  # the same files land again
    log = pipeline.run_ingestion(spark, s3c, world["bucket"], world["warehouse"], SPEC, phi_key=KEY)
    assertDataFrameEqual(_table(spark, world), first)
    assert log["loaded"] == len(first) > 0
    archived = [o["Key"] for o in s3c.list_objects_v2(Bucket=world["bucket"], Prefix="data/archive/")["Contents"]]
    assert len(archived) == len(set(archived)) == 2 * len(log["files"])  # no archive overwritten


@pytest.mark.parametrize("fail_at", ["after_staging", "during_swap"])
def test_a_run_failing_part_way_leaves_the_table_as_it_was(spark, s3c, after_first, tmp_path, fail_at):
    world = after_first  # the first run's table, ledger and archives
    before = _table(spark, world).collect()
    folders = sorted(p.name for p in Path(world["warehouse"], "orders").iterdir())
    _land(s3c, world["bucket"], tmp_path / "again")
    with pytest.raises(IngestionError, match="injected"):
        pipeline.run_ingestion(spark, s3c, world["bucket"], world["warehouse"], SPEC, phi_key=KEY, fail_at=fail_at)
    assertDataFrameEqual(_table(spark, world), before)
    assert len(before) > 0 and sorted(p.name for p in Path(world["warehouse"], "orders").iterdir()) == folders
    assert s3c.list_objects_v2(Bucket=world["bucket"], Prefix="data/in/").get("Contents")  # nothing archived


def test_a_missing_reference_file_stops_the_run_before_anything_changes(spark, s3c, world):
    spec = TableSpec(**{**vars(SPEC), "reference_key": "reference/missing.csv"})
    with pytest.raises(IngestionError, match="reference file"):
        pipeline.run_ingestion(spark, s3c, world["bucket"], world["warehouse"], spec, phi_key=KEY)
    assert not Path(world["warehouse"], "orders").exists()


# --------------------------------------------------------------------------- the journaled swap, on plain folders

_OLD = {"p=a": "old a", "p=b": "old b", "p=z": "untouched"}
_STAGED = {"p=a": "new a", "p=c": "new c"}  # p=b: every row replaced, none staged (the partition goes)
_PARTS = ["p=a", "p=b", "p=c"]
_NEW = {"p=a": "new a", "p=c": "new c", "p=z": "untouched"}


def _folders(root: Path, content: dict) -> None:
    for name, text in content.items():
        (root / name).mkdir(parents=True)
        (root / name / "part.parquet").write_text(text)


def _state(root: Path) -> dict:
    return {p.parent.name: p.read_text() for p in root.glob("*/part.parquet")}


class _Kill(BaseException):
    """The process dying: the pipeline's own handler does not run."""


@pytest.mark.parametrize("how", ["error", "interrupt", "kill"])
@pytest.mark.parametrize("point", ["before_swap", "after_trash", "during_swap", "after_swap", "after_ledger"])
def test_a_swap_stopped_at_any_step_is_rolled_back_or_forward_and_nothing_is_lost(tmp_path, monkeypatch, point, how):
    paths = ledger.Paths.of(tmp_path, "t", "run-1")
    _folders(paths.table, _OLD)
    _folders(paths.staging, _STAGED)
    with monkeypatch.context() as m:
        if how != "error":
            exc = KeyboardInterrupt if how == "interrupt" else _Kill

            def stop(at, fail_at):
                if at == fail_at:
                    raise exc()

            m.setattr(ledger, "checkpoint", stop)
        if how == "kill":
            m.setattr(ledger, "recover", lambda p: None)
        with pytest.raises((IngestionError, KeyboardInterrupt, _Kill)):
            ledger.swap_in(paths, _PARTS, [{"source_key": "k"}], point)
    committed = point == "after_ledger"
    if how == "kill":  # what a dead process leaves; its staging folder may be gone too
        assert paths.journal.exists()
        shutil.rmtree(paths.staging, ignore_errors=True)
        said = ledger.recover(ledger.Paths.of(tmp_path, "t", "run-2"))  # the next run, first thing
        assert said.startswith("run run-1") and ("rolled forward" if committed else "rolled back") in said
    assert _state(paths.table) == (_NEW if committed else _OLD)
    assert not paths.journal.exists() and not paths.trash.exists() and paths.ledger.exists() == committed


def test_a_swap_that_finishes_leaves_the_new_partitions_the_ledger_and_no_trash(tmp_path):
    paths = ledger.Paths.of(tmp_path, "t", "run-1")
    _folders(paths.table, _OLD)
    _folders(paths.staging, _STAGED)
    ledger.swap_in(paths, _PARTS, [{"source_key": "k"}], None)
    assert _state(paths.table) == _NEW and not paths.trash.exists() and not paths.journal.exists()
    assert json.loads(paths.ledger.read_text()) == [{"source_key": "k"}]


def test_an_unknown_failure_point_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="fail_at must be one of"):
        pipeline.run_ingestion(None, None, "no-such-bucket", str(tmp_path / "wh"), SPEC, fail_at="somewhere")
    assert not (tmp_path / "wh").exists()


def test_a_stopped_swap_that_cannot_be_undone_is_an_ingestion_error_and_its_journal_is_kept(tmp_path, monkeypatch):
    paths = ledger.Paths.of(tmp_path, "t", "run-1")
    _folders(paths.table, _OLD)
    _folders(paths.staging, _STAGED)
    with monkeypatch.context() as m:
        m.setattr(ledger, "recover", lambda p: None)  # killed after p=a went to the trash
        with pytest.raises(IngestionError, match="injected"):
            ledger.swap_in(paths, _PARTS, [{"source_key": "k"}], "after_trash")
    _folders(paths.table / "p=a", {"x": "written meanwhile by another writer"})  # both ends of the move present
    with pytest.raises(IngestionError, match="both are present"):
        ledger.recover(ledger.Paths.of(tmp_path, "t", "run-2"))
    assert paths.journal.exists() and (paths.trash / "p=a" / "part.parquet").read_text() == "old a"
