"""Production incidents of the guide's ingestion job, against the AWS APIs (moto's server on 127.0.0.1 here).

:func:`troubleshoot_job` follows the guide's "Job Not Running for 3 Days" steps, fixed so
that they run: it returns findings, each with its evidence and its fix, instead of printing.
:func:`setup_job` builds the job's world (bucket, EventBridge rule, Glue job and table, IAM
role and policy, log group), so that a notebook or a test can break one thing at a time.
:func:`compare_runs` sets two runs side by side ("other jobs run but mine failed").
:func:`guide_code_checks` backs each entry of :data:`GUIDE_CODE_ISSUES` with a check (botocore's service
models, moto's server, the guide's own text), so that a notebook records a computed verdict for each.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from labkit.scenarios import pipeline
from labkit.topics import memory, s3

__all__ = ["Finding", "GUIDE_CODE_ISSUES", "LOG_GROUP", "RERUNS", "aws_clients", "compare_runs", "find_incidents",
           "guide_code_checks", "incidents", "land_files", "raw_field_values", "rerun_ingestion", "setup_job",
           "setup_new_job", "troubleshoot_job", "write_log"]

LOG_GROUP = "/aws-glue/jobs/error"
GUIDE_CODE_ISSUES = {
    "glue.get_resource_policy()": "returns the Data Catalog's resource policy, not DPU quotas or concurrent-run "
                                  "limits; those are in Service Quotas (service-quotas get_service_quota) and in "
                                  "glue.get_job (MaxConcurrentRuns) / get_job_runs (runs in RUNNING state)",
    "check_table_exists, check_s3_file_exists": "called but never defined: glue.get_table and s3.head_object here",
    "events.describe_rule(Name='glue-job-trigger')": "raises ResourceNotFoundException when the rule is missing "
                                                     "instead of reporting it",
    "emr.list_clusters": "irrelevant to a Glue job (and the guide's job is Glue)",
}


def _quota_fields(model_of) -> tuple[bool, str]:
    """Whether glue.get_resource_policy returns anything about quotas or concurrency (botocore's models)."""
    glue = model_of("glue")
    out = list(glue.operation_model("GetResourcePolicy").output_shape.members)
    quota = any(w in m.lower() for m in out for w in ("quota", "dpu", "concurrent", "limit"))
    where = "service-quotas GetServiceQuota" if "GetServiceQuota" in model_of("service-quotas").operation_names \
        else "(no Service Quotas model)"
    runs = "MaxConcurrentRuns" in glue.shape_for("ExecutionProperty").members
    return quota, (f"GetResourcePolicy returns {out}; quotas are in {where}"
                   + ("; concurrency in glue.get_job ExecutionProperty.MaxConcurrentRuns" if runs else ""))


def _defined(guide_text: str, names: list[str]) -> tuple[bool, str]:
    """Whether the guide defines every helper its troubleshooting code calls."""
    import re

    missing = [n for n in names if not re.search(rf"^\s*def {re.escape(n)}\(", guide_text, re.MULTILINE)]
    called = [n for n in names if f"{n}(" in guide_text]
    return not missing, f"called in the guide: {called}; defined nowhere in it: {missing}"


def _describe_missing_rule(events, rule: str) -> tuple[bool, str]:
    """Whether the guide's step 1 (``describe_rule(...)['State']``) can report a rule that does not exist."""
    try:
        state = events.describe_rule(Name=rule)["State"]
    except events.exceptions.ResourceNotFoundException as err:
        return False, f"describe_rule on a missing rule raises {type(err).__name__}: step 1 stops instead of reporting"
    return True, f"the rule exists (State {state}): the guide's step 1 reads it"


def _emr_knows_glue(model_of) -> tuple[bool, str]:
    """Whether emr.list_clusters can say anything about a Glue job (its parameters, in botocore's model)."""
    members = list(model_of("emr").operation_model("ListClusters").input_shape.members)
    return any("glue" in m.lower() or "job" in m.lower() for m in members), \
        f"ListClusters takes {members}: nothing names a Glue job, which runs without an EMR cluster"


def guide_code_checks(clients: Mapping[str, Any], guide_text: str, rule: str = "glue-job-trigger") -> pd.DataFrame:
    """Check each entry of :data:`GUIDE_CODE_ISSUES` against botocore's service models, moto and the guide's text.

    Parameters
    ----------
    clients : mapping
        :func:`aws_clients` (its ``events`` client is asked for the guide's rule).
    guide_text : str
        The guide (``labkit.report.guide.GUIDE``), searched for the helpers its code calls.
    rule : str
        The EventBridge rule the guide's code names; it must not exist in ``clients``' account.

    Returns
    -------
    pandas.DataFrame
        Indexed like :data:`GUIDE_CODE_ISSUES`: ``guide_holds`` (True when the guide's code would do what it
        says), ``evidence``.
    """
    import botocore.session

    session = botocore.session.get_session()
    checks = {
        "glue.get_resource_policy()": _quota_fields(session.get_service_model),
        "check_table_exists, check_s3_file_exists": _defined(guide_text, ["check_table_exists",
                                                                          "check_s3_file_exists"]),
        "events.describe_rule(Name='glue-job-trigger')": _describe_missing_rule(clients["events"], rule),
        "emr.list_clusters": _emr_knows_glue(session.get_service_model),
    }
    missing = sorted(set(GUIDE_CODE_ISSUES) - set(checks))
    if missing:
        raise AssertionError(f"GUIDE_CODE_ISSUES entries without a check: {missing}")
    return pd.DataFrame([{"issue": k, "guide_holds": bool(v[0]), "evidence": v[1]} for k, v in checks.items()]
                        ).set_index("issue")


@dataclass
class Finding:
    """One step's result: ``ok`` or a problem, with what was seen and what to do."""

    step: str
    ok: bool
    evidence: str
    fix: str = ""


def aws_clients(endpoint: str | None = None) -> dict[str, Any]:
    """boto3 clients for s3, events, logs, glue and iam on one endpoint (moto's server on 127.0.0.1 by default)."""
    import boto3

    s3c = s3.client(endpoint)
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


def raw_field_values(spark, raw_lines, position: int, column: str, contains: str = ""):
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


def _table_rows(spark, warehouse: str, table: str) -> list[tuple]:
    return sorted(map(tuple, spark.read.parquet(f"{warehouse}/{table}").collect()))


def rerun_ingestion(spark, s3c, bucket: str, warehouse: str, spec, files, phi_key: str | None = None,
                    runs=RERUNS) -> tuple[list[tuple], list[dict[str, Any]]]:
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


def write_log(logs, stream: str, messages: list[str], start_ms: int | None = None) -> None:
    """Write a job run's error log stream (as Glue would) into :data:`LOG_GROUP`, one event per message.

    Events are stamped now by default: CloudWatch (and moto) drop events older than 14 days.
    """
    import time

    start_ms = int(time.time() * 1000) if start_ms is None else start_ms
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream,
                        logEvents=[{"timestamp": start_ms + i, "message": m} for i, m in enumerate(messages)])


def _step_trigger(events, rule: str) -> Finding:
    try:
        state = events.describe_rule(Name=rule)["State"]
    except events.exceptions.ResourceNotFoundException:
        return Finding("1 trigger", False, f"EventBridge rule {rule!r} does not exist", "create the schedule rule")
    if state != "ENABLED":
        return Finding("1 trigger", False, f"EventBridge rule {rule!r} is {state}",
                       f"events.enable_rule(Name={rule!r})")
    return Finding("1 trigger", True, f"rule {rule!r} is ENABLED")


def _step_sources(s3c, bucket: str, header: str | None) -> Finding:
    files = s3c.list_objects_v2(Bucket=bucket, Prefix="data/in/").get("Contents", [])
    if not files:
        return Finding("2 source files", False, f"no objects under s3://{bucket}/data/in/",
                       "check the upstream system that delivers the files (nothing to process is not a job error)")
    sized = [o for o in files if o.get("Size", 0) > 0]
    if header and not sized:
        return Finding("2 source files", False, f"{len(files)} file(s) under data/in/, all empty",
                       "check the upstream export: it delivered empty files")
    if header:
        newest = max(sized, key=lambda o: (o["LastModified"], o["Key"]))
        first = s3c.get_object(Bucket=bucket, Key=newest["Key"], Range="bytes=0-4095")["Body"].read()
        got = first.decode("utf-8", "replace").lstrip("\ufeff").splitlines()[0].strip()
        if got != header:
            return Finding("2 source files", False, f"{newest['Key']} has header {got!r}, expected {header!r}",
                           "a schema change upstream: agree the new layout, update the table spec, reprocess")
    return Finding("2 source files", True, f"{len(files)} file(s) under data/in/")


def _step_logs(logs) -> Finding:
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, orderBy="LastEventTime", descending=True,
                                        limit=5).get("logStreams", [])
    if not streams:
        return Finding("3 logs", True, f"no error log streams in {LOG_GROUP}")
    name = streams[0]["logStreamName"]
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=name, startFromHead=True)["events"]
    text = "\n".join(e["message"] for e in events)
    errors = [e["message"] for e in events if "error" in e["message"].lower() or "exception" in e["message"].lower()]
    if not errors:
        return Finding("3 logs", True, f"latest stream {name!r} has no error line")
    d = memory.diagnose(text)
    return Finding("3 logs", False, f"{name}: {errors[0][:160]} → {d.category}", "; ".join(d.fixes[:2]))


def _step_runs(glue, job: str) -> Finding:
    runs = glue.get_job_runs(JobName=job).get("JobRuns", [])
    if not runs:
        return Finding("4 job runs", True, "no runs recorded yet")
    last = max(runs, key=lambda r: r.get("StartedOn") or 0)
    state = last.get("JobRunState", "?")
    if state in ("FAILED", "TIMEOUT", "ERROR"):
        return Finding("4 job runs", False, f"last run {last['Id']} {state}: {last.get('ErrorMessage', '')[:160]}",
                       "read its log (step 3)")
    return Finding("4 job runs", True, f"last run {last['Id']} is {state}")


def _step_dependencies(s3c, glue, bucket: str, args: Mapping[str, str]) -> Finding:
    missing = []
    ref = args.get("--reference_key")
    if ref:
        try:
            s3c.head_object(Bucket=bucket, Key=ref)
        except Exception:  # noqa: BLE001 - a 404 ClientError
            missing.append(f"s3://{bucket}/{ref}")
    upstream = args.get("--upstream_table")
    if upstream:
        db, table = upstream.split(".", 1)
        try:
            glue.get_table(DatabaseName=db, Name=table)
        except glue.exceptions.EntityNotFoundException:
            missing.append(f"table {upstream}")
    if missing:
        return Finding("5 dependencies", False, "missing: " + ", ".join(missing),
                       "restore the reference file / upstream table, or wait for its producer")
    return Finding("5 dependencies", True, "reference file and upstream table present")


def _step_iam(iam, role_arn: str, bucket: str) -> Finding:
    role = role_arn.rsplit("/", 1)[-1]
    actions = set()
    for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=p["PolicyArn"])["Policy"]["DefaultVersionId"]
        doc = iam.get_policy_version(PolicyArn=p["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        for st in doc.get("Statement", []):
            res = st.get("Resource", [])
            res = [res] if isinstance(res, str) else res
            if st.get("Effect") == "Allow" and any(bucket in r or r == "*" for r in res):
                acts = st.get("Action", [])
                actions |= set([acts] if isinstance(acts, str) else acts)
    needed = {"s3:GetObject", "s3:ListBucket"}
    if not (needed <= actions or "s3:*" in actions):
        return Finding("6 IAM", False, f"role {role!r} allows {sorted(actions) or 'nothing'} on {bucket!r}",
                       f"attach a policy allowing {sorted(needed)} on arn:aws:s3:::{bucket}")
    return Finding("6 IAM", True, f"role {role!r} can read {bucket!r}")


def troubleshoot_job(clients: Mapping[str, Any], job: str, header: str | None = None,
                     test_run: bool = True) -> pd.DataFrame:
    """The guide's seven steps for "Job Not Running for 3 Days", run against the AWS APIs.

    Parameters
    ----------
    clients : mapping
        :func:`aws_clients`.
    job : str
        The Glue job (its DefaultArguments name the bucket, the reference file and the upstream table).
    header : str, optional
        The expected CSV header: step 2 compares the newest source file's first line with it.
    test_run : bool
        Step 7: start a test run (``--test_mode true``).

    Returns
    -------
    pandas.DataFrame
        One row per step: ``step``, ``ok``, ``evidence``, ``fix``.
    """
    glue = clients["glue"]
    spec = glue.get_job(JobName=job)["Job"]
    args = spec.get("DefaultArguments", {})
    bucket = args.get("--source_bucket", "")
    found = [_step_trigger(clients["events"], f"{job}-schedule"), _step_sources(clients["s3"], bucket, header),
             _step_logs(clients["logs"]), _step_runs(glue, job), _step_dependencies(clients["s3"], glue, bucket, args),
             _step_iam(clients["iam"], spec["Role"], bucket)]
    if test_run:
        run = glue.start_job_run(JobName=job, Arguments={"--test_mode": "true"})
        found.append(Finding("7 test run", True, f"started run {run['JobRunId']}"))
    return pd.DataFrame([vars(f) for f in found])


def compare_runs(good: Mapping[str, Any], bad: Mapping[str, Any]) -> pd.DataFrame:
    """Two runs side by side — configuration, inputs, schemas, metrics — and what differs ("mine failed").

    Parameters
    ----------
    good, bad : mapping
        Flat or nested run descriptions (a run log of :func:`labkit.scenarios.pipeline.run_ingestion`, a Spark
        configuration, an input listing...). Nested keys are joined with dots.

    Returns
    -------
    pandas.DataFrame
        Indexed by key: ``good``, ``bad``, ``differs``; differing keys first.
    """
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, Mapping):
                out.update(flat(v, key + "."))
            else:
                out[key] = json.dumps(v, default=str) if isinstance(v, (list, tuple)) else v
        return out

    a, b = flat(good), flat(bad)
    rows = [{"key": k, "good": a.get(k), "bad": b.get(k), "differs": a.get(k) != b.get(k)}
            for k in sorted(set(a) | set(b))]
    table = pd.DataFrame(rows).set_index("key")
    return table.sort_values("differs", ascending=False, kind="stable")


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
