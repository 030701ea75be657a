"""Each injected incident is found by the right step of troubleshoot_job, on moto's AWS APIs."""

import json
import uuid

import pytest

from labkit.core import datagen
from labkit.scenarios import ops


@pytest.fixture
def job(s3c):
    clients = ops.aws_clients()
    name = f"ingest-{uuid.uuid4().hex[:6]}"
    bucket = f"src-{uuid.uuid4().hex[:8]}"
    made = ops.setup_job(clients, name, bucket)
    clients["s3"].put_object(Bucket=bucket, Key="data/in/orders.csv",
                             Body=(datagen.ORDERS_HEADER + "\n1,2,a@b.com,1.00,1,2024-01-01,x\n").encode())
    return {"clients": clients, "name": name, "bucket": bucket, **made}


def _problems(job):
    found = ops.troubleshoot_job(job["clients"], job["name"], header=datagen.ORDERS_HEADER)
    return {r.step: r for r in found.itertuples() if not r.ok}, found


def test_a_healthy_job_has_no_finding(job):
    problems, found = _problems(job)
    assert not problems and len(found) == 7


def test_a_disabled_rule_is_found_by_step_1(job):
    job["clients"]["events"].disable_rule(Name=job["rule"])
    problems, _ = _problems(job)
    assert list(problems) == ["1 trigger"] and "enable_rule" in problems["1 trigger"].fix


def test_no_source_files_is_found_by_step_2(job):
    job["clients"]["s3"].delete_object(Bucket=job["bucket"], Key="data/in/orders.csv")
    assert list(_problems(job)[0]) == ["2 source files"]


def test_a_schema_change_is_found_by_step_2(job):
    job["clients"]["s3"].put_object(Bucket=job["bucket"], Key="data/in/orders.csv",
                                    Body=b"order_id,customer_id,email,amount,currency\n1,2,a@b.com,1.0,EUR\n")
    problems, _ = _problems(job)
    assert list(problems) == ["2 source files"] and "schema change" in problems["2 source files"].fix


def test_an_oom_in_the_last_log_is_found_by_step_3(job):
    logs = job["clients"]["logs"]
    stream = f"{job['name']}-run-{uuid.uuid4().hex[:4]}"
    ops.write_log(logs, stream, ["ERROR Executor: Exception in task 3.0",
                                 "java.lang.OutOfMemoryError: Java heap space"])
    problems, _ = _problems(job)
    assert "3 logs" in problems and "oom" in problems["3 logs"].evidence.lower()
    logs.delete_log_stream(logGroupName=ops.LOG_GROUP, logStreamName=stream)


def test_a_missing_reference_file_is_found_by_step_5(job):
    job["clients"]["s3"].delete_object(Bucket=job["bucket"], Key="reference/data.csv")
    problems, _ = _problems(job)
    assert list(problems) == ["5 dependencies"] and "reference/data.csv" in problems["5 dependencies"].evidence


def test_a_role_without_its_s3_policy_is_found_by_step_6(job):
    job["clients"]["iam"].detach_role_policy(RoleName=job["role"], PolicyArn=job["policy_arn"])
    problems, _ = _problems(job)
    assert list(problems) == ["6 IAM"] and "s3:GetObject" in problems["6 IAM"].fix


def test_compare_runs_names_what_differs():
    good = {"conf": {"spark.executor.memory": "8g", "spark.sql.shuffle.partitions": 200}, "input_mb": 120,
            "schema": ["a int", "b string"]}
    bad = {"conf": {"spark.executor.memory": "8g", "spark.sql.shuffle.partitions": 200}, "input_mb": 9100,
           "schema": ["a int", "b string", "c double"]}
    table = ops.compare_runs(good, bad)
    assert list(table.index[table["differs"]]) == ["input_mb", "schema"]
    assert json.loads(table.loc["schema", "bad"])[-1] == "c double"


def test_find_incidents_names_the_right_step_for_each_fault(job):
    table = ops.find_incidents(job["clients"], job["name"], job["bucket"], job, datagen.ORDERS_HEADER)
    assert table["found by"].to_dict() == {
        "a disabled rule": "1 trigger", "no source files": "2 source files", "an OOM in the last run's log": "3 logs",
        "a missing reference file": "5 dependencies", "a role without its S3 policy": "6 IAM",
        "a schema change in the input": "2 source files"}
    assert ops.troubleshoot_job(job["clients"], job["name"], header=datagen.ORDERS_HEADER, test_run=False)["ok"].all()


def test_guide_code_checks_refute_every_guide_code_issue(s3c):
    from labkit.report.guide import GUIDE

    table = ops.guide_code_checks(ops.aws_clients(), GUIDE.read_text())
    assert list(table.index) == list(ops.GUIDE_CODE_ISSUES)
    assert not table["guide_holds"].any()
    assert "PolicyInJson" in table.loc["glue.get_resource_policy()", "evidence"]
    assert "ResourceNotFoundException" in table.loc["events.describe_rule(Name='glue-job-trigger')", "evidence"]


def test_guide_code_checks_say_the_guide_holds_where_it_would(s3c):
    clients = ops.aws_clients()
    rule = f"glue-job-trigger-{uuid.uuid4().hex[:6]}"
    clients["events"].put_rule(Name=rule, ScheduleExpression="rate(1 day)", State="ENABLED")
    text = "def check_table_exists(db, t):\n    pass\ndef check_s3_file_exists(b, k):\n    pass\n"
    table = ops.guide_code_checks(clients, text, rule=rule)
    assert table.loc["events.describe_rule(Name='glue-job-trigger')", "guide_holds"]
    assert table.loc["check_table_exists, check_s3_file_exists", "guide_holds"]
    clients["events"].delete_rule(Name=rule)


def test_setup_new_job_makes_a_healthy_job_under_fresh_names(s3c):
    clients = ops.aws_clients()
    job, bucket, made = ops.setup_new_job(clients, "etl", "src")
    assert job.startswith("etl-") and len(job) == len("etl-") + 6 and bucket.startswith("src-")
    assert made["rule"] == f"{job}-schedule" and made["role"] == f"{job}-role"
    assert clients["glue"].get_job(JobName=job)["Job"]["DefaultArguments"]["--source_bucket"] == bucket
    assert ops.setup_new_job(clients)[:2] != (job, bucket)


def test_land_files_uploads_by_file_name_under_the_prefix_and_filters_by_suffix(s3c, tmp_path):
    s3c.create_bucket(Bucket="landing")
    files = []
    for name in ("orders.csv", "orders_latin1.csv", "notes.txt"):
        (tmp_path / name).write_text(name)
        files.append(str(tmp_path / name))
    assert ops.land_files(s3c, "landing", files) == ["data/in/orders.csv", "data/in/orders_latin1.csv",
                                                     "data/in/notes.txt"]
    assert ops.land_files(s3c, "landing", files, "data/in/late/", suffix="/orders.csv") == ["data/in/late/orders.csv"]
    assert s3c.get_object(Bucket="landing", Key="data/in/late/orders.csv")["Body"].read() == b"orders.csv"
    with pytest.raises(ValueError, match="no file ends with '.parquet'"):
        ops.land_files(s3c, "landing", files, suffix=".parquet")


def test_raw_field_values_are_the_distinct_values_of_one_field(spark):
    import pandas as pd

    raw = pd.Series(["1,2,a@b.co,3", "2,3,not-an-email,4", "3,4,a@b.co,5", "short", "4,5,c@d.org,6"])
    frame = ops.raw_field_values(spark, raw, 2, "email", contains="@")
    assert frame.columns == ["email"] and [r.email for r in frame.collect()] == ["a@b.co", "c@d.org"]
    assert ops.raw_field_values(spark, raw, 0, "id").count() == 5  # "short" is its own first field


def test_rerun_ingestion_is_idempotent_and_a_stopped_run_changes_nothing(spark, s3c, tmp_path):
    from labkit.scenarios import pipeline

    spec = pipeline.TableSpec(name="orders", schema=datagen.ORDERS_SCHEMA, partition_by="order_month",
                              derive={"order_month": "date_format(order_date, 'yyyy-MM')"})
    bucket, warehouse = f"rerun-{uuid.uuid4().hex[:6]}", str(tmp_path / "wh")
    s3c.create_bucket(Bucket=bucket)
    dirty = datagen.dirty_csv(str(tmp_path / "src"), lines=120, defect_rate=0.1, seed=3)
    ops.land_files(s3c, bucket, dirty.files)
    first = pipeline.run_ingestion(spark, s3c, bucket, warehouse, spec)
    before, runs = ops.rerun_ingestion(spark, s3c, bucket, warehouse, spec, dirty.files)
    assert len(before) == first["loaded"] > 0
    assert [(r["fail_at"], r["landed"], bool(r["error"])) for r in runs] == [
        (None, True, False), ("after_staging", True, True), ("during_swap", True, True), (None, False, False)]
    assert all(r["rows"] == before for r in runs)
    assert runs[1]["log"] is None and "injected" in runs[1]["error"]
    assert runs[-1]["log"]["accounted"] and runs[-1]["log"]["lines"] == first["lines"]  # the stopped run's files
