"""Production incidents of the guide's ingestion job, against the AWS APIs (moto's server on 127.0.0.1 here).

* :mod:`~labkit.scenarios.ops.troubleshoot`: :func:`troubleshoot_job` follows the guide's "Job Not Running for 3
  Days" steps, fixed so that they run (findings with their evidence and fix, not prints); :func:`compare_runs`
  sets two runs side by side; :func:`guide_code_checks` backs each entry of :data:`GUIDE_CODE_ISSUES` with a check.
* :mod:`~labkit.scenarios.ops.incidents`: :func:`setup_job` builds the job's world (bucket, EventBridge rule, Glue
  job and table, IAM role and policy, log group) so that one thing can be broken at a time (:func:`incidents`,
  :func:`find_incidents`); :func:`rerun_ingestion` runs the pipeline again, run after run.
"""

from labkit.scenarios.ops.incidents import (
    RERUNS,
    aws_clients,
    find_incidents,
    incidents,
    land_files,
    raw_field_values,
    rerun_ingestion,
    setup_job,
    setup_new_job,
)
from labkit.scenarios.ops.troubleshoot import (
    GUIDE_CODE_ISSUES,
    LOG_GROUP,
    Finding,
    compare_runs,
    guide_code_checks,
    troubleshoot_job,
    write_log,
)

__all__ = ["Finding", "GUIDE_CODE_ISSUES", "LOG_GROUP", "RERUNS", "aws_clients", "compare_runs", "find_incidents",
           "guide_code_checks", "incidents", "land_files", "raw_field_values", "rerun_ingestion", "setup_job",
           "setup_new_job", "troubleshoot_job", "write_log"]
