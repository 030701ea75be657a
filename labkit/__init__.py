"""labkit: the Spark interview lab's techniques, and the machinery that measures them.

The top level is the notebook-facing API: the topic modules, and the few functions every notebook calls.

Layers, arrows pointing down only (checked by import-linter in ``make test``)::

    report -> scenarios -> experiments -> topics -> aws | tools -> core

* ``labkit.report``       claims and verdicts, the notebook runner, the HTML report, the CLI, plots;
* ``labkit.scenarios``    topics composed: the ingestion pipeline, incident troubleshooting;
* ``labkit.experiments``  what each notebook measures and records, and the guide's own code;
* ``labkit.topics``       one module (or package) per technique, techniques only;
* ``labkit.aws``          prices, lifecycle rules, the S3 client; ``labkit.tools``: processes the lab starts;
* ``labkit.core``         session, datagen and cache, measure and plans, bench, projection, results, notebook.

Importing labkit starts no JVM; :func:`spark_session` does. ``from labkit import skew`` gives a topic module,
``labkit.notebook.start`` the entry point every notebook starts with.
"""

from labkit.core import datagen, notebook
from labkit.core.bench import compare, median_run, pair_ratio, sweep, sweep_projection
from labkit.core.cache import cached
from labkit.core.checks import assert_same_rows
from labkit.core.measure import Measurement, measure, noop
from labkit.core.plans import estimated_size_bytes, plan_summary, plan_text
from labkit.core.projection import limiting_stages, project_makespan
from labkit.core.results import load as load_results
from labkit.core.scales import SCALES, Scale, scale_params
from labkit.core.session import JavaNotFoundError, check_java, spark_conf, spark_default, spark_session
from labkit.scenarios import ops, pipeline
from labkit.topics import (
    aqe,
    costs,
    dq,
    joins,
    memory,
    partitioning,
    phi,
    reconcile,
    s3,
    schema,
    skew,
    tuning,
    windows,
)

__version__ = "0.2.0"

__all__ = [
    "SCALES",
    "JavaNotFoundError",
    "Measurement",
    "Scale",
    "aqe",
    "assert_same_rows",
    "cached",
    "check_java",
    "compare",
    "costs",
    "datagen",
    "dq",
    "estimated_size_bytes",
    "joins",
    "limiting_stages",
    "load_results",
    "measure",
    "median_run",
    "memory",
    "noop",
    "notebook",
    "ops",
    "pair_ratio",
    "partitioning",
    "phi",
    "pipeline",
    "plan_summary",
    "plan_text",
    "project_makespan",
    "reconcile",
    "s3",
    "scale_params",
    "schema",
    "skew",
    "spark_conf",
    "spark_default",
    "spark_session",
    "sweep",
    "sweep_projection",
    "tuning",
    "windows",
]
