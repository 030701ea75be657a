"""The job's world and its incidents: build it healthy, break it one way at a time, run the pipeline again.

:func:`setup_job` builds the world of the guide's ingestion job on one endpoint (bucket, EventBridge rule, Glue
job and table, IAM role and policy, log group), so that a notebook or a test can break one thing at a time
(:func:`incidents`) and see which step of :func:`~labkit.scenarios.ops.troubleshoot.troubleshoot_job` finds it
(:func:`find_incidents`). :func:`rerun_ingestion` runs the ingestion pipeline again, run after run, stopped or not.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.aws import s3 as aws_s3
from labkit.scenarios import pipeline
from labkit.scenarios.ops.troubleshoot import LOG_GROUP, troubleshoot_job, write_log

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["RERUNS", "aws_clients", "find_incidents", "incidents", "land_files", "raw_field_values",
           "rerun_ingestion", "setup_job", "setup_new_job"]


def aws_clients(endpoint: str | None = None) -> dict[str, Any]:
    """boto3 clients for s3, events, logs, glue and iam on one endpoint (moto's server on 127.0.0.1 by default)."""
    import boto3

    s3c = aws_s3.client(endpoint)
    url = s3c.meta.endpoint_url
    creds = dict(region_name="us-east-1", aws_access_key_id="labkit", aws_secret_access_key="labkit")
    return {"s3": s3c, **{name: boto3.client(name, endpoint_url=url, **creds)
                          for name in ("events", "logs", "glue", "iam")}}


_S3_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
    "Resource": ["arn:aws:s3:::{bucket}", "arn:aws:s3:::{bucket}/*"]}]}


def setup_job(clients: Mapping[str, Any], job: str, bucket: str, reference_key: str = "reference/data.csv",
              upstream: tuple[str, str] = ("warehouse", "customers")) -> dict[str, str]:
    """Create everything the job needs, healthy: bucket with a reference file, an enabled schedule rule, a Glue
    job with its role (with an S3 policy), the upstream table, and the error log group.

    Returns
    -------
    dict
        ``role``, ``rule``, ``policy_arn``, ``database``, ``table``.
    """
    s3c, events, glue, iam, logs = (clients[k] for k in ("s3", "events", "glue", "iam", "logs"))
    existing = {b["Name"] for b in s3c.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3c.create_bucket(Bucket=bucket)
    s3c.put_object(Bucket=bucket, Key=reference_key, Body=b"code,label\n1,one\n")
    role = f"{job}-role"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    doc = json.dumps(_S3_POLICY).replace("{bucket}", bucket)
    policy_arn = iam.create_policy(PolicyName=f"{job}-s3", PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
    glue.create_job(Name=job, Role=arn, Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/job.py"},
                    DefaultArguments={"--source_bucket": bucket, "--reference_key": reference_key,
                                      "--upstream_table": ".".join(upstream)})
    rule = f"{job}-schedule"
    events.put_rule(Name=rule, ScheduleExpression="cron(0 2 * * ? *)", State="ENABLED")
    events.put_targets(Rule=rule, Targets=[{"Id": "glue", "Arn": f"arn:aws:glue:us-east-1:123456789012:job/{job}"}])
    db, table = upstream
    try:
        glue.create_database(DatabaseInput={"Name": db})
    except glue.exceptions.AlreadyExistsException:
        pass
    try:
        glue.create_table(DatabaseName=db, TableInput={"Name": table, "StorageDescriptor": {"Columns": [
            {"Name": "customer_id", "Type": "int"}], "Location": f"s3://{bucket}/warehouse/{table}/"}})
    except glue.exceptions.AlreadyExistsException:
        pass
    try:
        logs.create_log_group(logGroupName=LOG_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    return {"role": role, "rule": rule, "policy_arn": policy_arn, "database": db, "table": table}


def setup_new_job(clients: Mapping[str, Any], job_prefix: str = "orders-etl",
                  bucket_prefix: str = "ingest") -> tuple[str, str, dict[str, str]]:
    """:func:`setup_job` under fresh names, so that a run never meets an earlier run's job or bucket.

    Parameters
    ----------
    clients : mapping
        :func:`aws_clients`.
    job_prefix, bucket_prefix : str
        The names are ``<prefix>-<6 hex digits>``.

    Returns
    -------
    (str, str, dict)
        The job's name, the bucket's name, and what :func:`setup_job` made.
    """
    job, bucket = f"{job_prefix}-{uuid.uuid4().hex[:6]}", f"{bucket_prefix}-{uuid.uuid4().hex[:6]}"
    return job, bucket, setup_job(clients, job, bucket)


def land_files(s3c, bucket: str, files, prefix: str = "data/in/", suffix: str = "") -> list[str]:
    """Upload local files to ``s3://bucket/<prefix><file name>``, as a source system lands them.

    Parameters
    ----------
    s3c : botocore.client.S3
    bucket : str
    files : iterable of str
        Local paths.
    prefix : str
        Key prefix, ending with ``/``.
    suffix : str
        Only the paths ending with it are uploaded (every path by default).

    Returns
    -------
    list of str
        The keys written, in the order of ``files``.

    Raises
    ------
    ValueError
        When no path ends with ``suffix``: landing nothing is never what was meant.
    """
    keys = []
    for f in files:
        if str(f).endswith(suffix):
            keys.append(f"{prefix}{str(f).rsplit('/', 1)[-1]}")
            s3c.upload_file(str(f), bucket, keys[-1])
    if not keys:
        raise ValueError(f"land_files: no file ends with {suffix!r}")
    return keys


def raw_field_values(spark: SparkSession, raw_lines: pd.Series, position: int, column: str,
                     contains: str = "") -> DataFrame:
    """The distinct values of one comma-separated field of a source's raw lines, as a one-column frame.

    What the landed files held before any cleaning: for example the raw emails that must never reach the
    warehouse (``labkit.topics.phi.assert_no_phi``).

    Parameters
    ----------
    spark : SparkSession
    raw_lines : pandas.Series of str
        The raw lines (``datagen.dirty_csv(...).labels["raw"]``); a line without the field is skipped.
    position : int
        The field's index, from 0.
    column : str
        The frame's column name.
    contains : str
        Keep only the values that contain it (every value by default).

    Returns
    -------
    pyspark.sql.DataFrame
        One string column, one row per distinct value, in first-seen order.
    """
    values = raw_lines.str.split(",").str[position].dropna().unique()
    return spark.createDataFrame([(v,) for v in values if contains in v], f"`{column}` string")


# (fail_at, land the files again first): a rerun of the same objects, two runs stopped part-way, a rerun after a fix
RERUNS = ((None, True), ("after_staging", True), ("during_swap", True), (None, False))


def _table_rows(spark: SparkSession, warehouse: str, table: str) -> list[tuple]:
    """The table's rows as tuples, sorted."""
    return sorted(map(tuple, spark.read.parquet(f"{warehouse}/{table}").collect()))


def rerun_ingestion(spark: SparkSession, s3c, bucket: str, warehouse: str, spec: pipeline.TableSpec, files,
                    phi_key: str | None = None, runs=RERUNS) -> tuple[list[tuple], list[dict[str, Any]]]:
    """Run :func:`labkit.scenarios.pipeline.run_ingestion` again, run after run, and read the table after each.

    Parameters
    ----------
    spark : SparkSession
    s3c : botocore.client.S3
    bucket, warehouse : str
        As for ``run_ingestion``; the table ``<warehouse>/<spec.name>`` must exist (a first run made it).
    spec : labkit.scenarios.pipeline.TableSpec
    files : iterable of str
        The local files landed again (under ``data/in/``, :func:`land_files`) before a run that asks for it.
    phi_key : str, optional
    runs : sequence of (str or None, bool)
        ``(fail_at, land)`` per run, in order: :data:`RERUNS` by default.

    Returns
    -------
    before : list of tuple
        The table's rows, sorted, before the first of these runs.
    results : list of dict
        Per run: ``fail_at``, ``landed`` (bool), ``log`` (the run log; None when the run stopped), ``error``
        (the ``IngestionError`` message; empty when the run finished) and ``rows`` (the table's rows, sorted,
        after the run).
    """
    files = list(files)
    before = _table_rows(spark, warehouse, spec.name)
    results = []
    for fail_at, land in runs:
        if land:
            land_files(s3c, bucket, files)
        log, error = None, ""
        try:
            log = pipeline.run_ingestion(spark, s3c, bucket, warehouse, spec, phi_key=phi_key, fail_at=fail_at)
        except pipeline.IngestionError as err:
            error = str(err)
        results.append({"fail_at": fail_at, "landed": land, "log": log, "error": error,
                        "rows": _table_rows(spark, warehouse, spec.name)})
    return before, results


def incidents(clients: Mapping[str, Any], job: str, bucket: str, made: Mapping[str, str],
              header: str) -> dict[str, tuple[Any, Any]]:
    """The notebook's six faults, each as ``(break, restore)`` callables on the world :func:`setup_job` made."""
    c = clients
    good = f"{header}\n1,2,a@b.co,1.00,1,2024-01-01,x\n".encode()
    ref = c["s3"].get_object(Bucket=bucket, Key="reference/data.csv")["Body"].read()
    stream = f"{job}-run-failed"

    def put(key, body):
        return lambda: c["s3"].put_object(Bucket=bucket, Key=key, Body=body)

    return {
        "a disabled rule": (lambda: c["events"].disable_rule(Name=made["rule"]),
                            lambda: c["events"].enable_rule(Name=made["rule"])),
        "no source files": (lambda: c["s3"].delete_object(Bucket=bucket, Key="data/in/orders.csv"),
                            put("data/in/orders.csv", good)),
        "an OOM in the last run's log": (
            lambda: write_log(c["logs"], stream, ["ERROR Executor: Exception in task 3.0 in stage 4.0",
                                                  "java.lang.OutOfMemoryError: Java heap space"]),
            lambda: c["logs"].delete_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)),
        "a missing reference file": (lambda: c["s3"].delete_object(Bucket=bucket, Key="reference/data.csv"),
                                     put("reference/data.csv", ref)),
        "a role without its S3 policy": (
            lambda: c["iam"].detach_role_policy(RoleName=made["role"], PolicyArn=made["policy_arn"]),
            lambda: c["iam"].attach_role_policy(RoleName=made["role"], PolicyArn=made["policy_arn"])),
        "a schema change in the input": (put("data/in/orders.csv", b"order_id,customer,email,amount,currency\n"
                                                                   b"1,2,a@b.co,1.00,EUR\n"),
                                         put("data/in/orders.csv", good)),
    }


def find_incidents(clients: Mapping[str, Any], job: str, bucket: str, made: Mapping[str, str],
                   header: str) -> pd.DataFrame:
    """Break the job one way at a time, run :func:`troubleshoot_job`, restore; which step found each fault.

    Returns
    -------
    pandas.DataFrame
        Indexed by incident: ``found by`` (the failing steps), ``evidence``, ``fix``.

    Raises
    ------
    AssertionError
        When the world is not healthy before the first incident.
    """
    clients["s3"].put_object(Bucket=bucket, Key="data/in/orders.csv",
                             Body=f"{header}\n1,2,a@b.co,1.00,1,2024-01-01,x\n".encode())
    healthy = troubleshoot_job(clients, job, header=header, test_run=False)
    if not healthy["ok"].all():
        raise AssertionError(f"the job is not healthy before the incidents:\n{healthy[~healthy['ok']]}")
    rows = {}
    for name, (breaks, restores) in incidents(clients, job, bucket, made, header).items():
        breaks()
        try:
            steps = troubleshoot_job(clients, job, header=header, test_run=False)
        finally:
            restores()
        bad = steps[~steps["ok"]]
        rows[name] = {"found by": ", ".join(bad["step"]), "evidence": "; ".join(bad["evidence"]),
                      "fix": "; ".join(bad["fix"])}
    return pd.DataFrame(rows).T
