"""The guide's "Job Not Running for 3 Days" steps, fixed so that they run, and the guide's own code checked.

:func:`troubleshoot_job` follows the guide's seven steps against the AWS APIs and returns findings, each with its
evidence and its fix, instead of printing. :func:`compare_runs` sets two runs side by side ("other jobs run but
mine failed"). :func:`guide_code_checks` backs each entry of :data:`GUIDE_CODE_ISSUES` with a check (botocore's
service models, moto's server, the guide's own text), so that a notebook records a computed verdict for each.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from labkit.topics import memory

__all__ = ["Finding", "GUIDE_CODE_ISSUES", "LOG_GROUP", "compare_runs", "guide_code_checks", "troubleshoot_job",
           "write_log"]

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


def write_log(logs, stream: str, messages: list[str], start_ms: int | None = None) -> None:
    """Write a job run's error log stream (as Glue would) into :data:`LOG_GROUP`, one event per message.

    Events are stamped now by default: CloudWatch (and moto) drop events older than 14 days.
    """
    start_ms = int(time.time() * 1000) if start_ms is None else start_ms
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream,
                        logEvents=[{"timestamp": start_ms + i, "message": m} for i, m in enumerate(messages)])


def _step_trigger(events, rule: str) -> Finding:
    """Step 1: the EventBridge rule exists and is enabled."""
    try:
        state = events.describe_rule(Name=rule)["State"]
    except events.exceptions.ResourceNotFoundException:
        return Finding("1 trigger", False, f"EventBridge rule {rule!r} does not exist", "create the schedule rule")
    if state != "ENABLED":
        return Finding("1 trigger", False, f"EventBridge rule {rule!r} is {state}",
                       f"events.enable_rule(Name={rule!r})")
    return Finding("1 trigger", True, f"rule {rule!r} is ENABLED")


def _step_sources(s3c, bucket: str, header: str | None) -> Finding:
    """Step 2: source files wait under ``data/in/``, not empty, with the expected header."""
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
    """Step 3: the latest error log stream, its first error diagnosed (``memory.diagnose``)."""
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
    """Step 4: the state of the job's last run."""
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
    """Step 5: the reference file and the upstream table exist."""
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
    """Step 6: the job's role may read the bucket."""
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


