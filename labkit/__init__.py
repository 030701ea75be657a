"""labkit: the Spark interview lab's techniques, and the machinery that measures them.

Three layers, arrows pointing down only (checked by import-linter in ``make test``):

* ``labkit.report``  — claims and verdicts, the notebook runner, the HTML report, the CLI, plots;
* ``labkit.topics``  — one module per technique (partitioning, skew, joins, aqe, ...);
* ``labkit.core``    — session, datagen and cache, measure and plans, bench, projection, results, notebook.

Importing labkit starts no JVM; :func:`spark_session` does. ``from labkit import skew`` gives a topic module,
``from labkit import notebook`` the entry point every notebook starts with.
"""

from labkit.core import bench, cache, checks, datagen, measure, notebook, plans, projection, results, session
from labkit.core.bench import compare
from labkit.core.datagen import HotKeys, Zipf, customers, key_distribution, products, transactions
from labkit.core.scales import SCALES, Scale, scale_params
from labkit.core.session import JavaNotFoundError, check_java, spark_conf, spark_session
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
    skew,
    tuning,
    windows,
)

__version__ = "0.2.0"

__all__ = [
    "SCALES",
    "HotKeys",
    "JavaNotFoundError",
    "Scale",
    "Zipf",
    "aqe",
    "bench",
    "cache",
    "check_java",
    "checks",
    "compare",
    "costs",
    "customers",
    "datagen",
    "dq",
    "joins",
    "key_distribution",
    "measure",
    "memory",
    "notebook",
    "ops",
    "partitioning",
    "phi",
    "pipeline",
    "plans",
    "products",
    "projection",
    "reconcile",
    "results",
    "s3",
    "scale_params",
    "session",
    "skew",
    "spark_conf",
    "spark_session",
    "transactions",
    "tuning",
    "windows",
]
