"""labkit: the Spark interview lab's techniques, and the machinery that measures them.

Importing labkit starts no JVM; :func:`spark_session` does. The modules keep
their own names (``labkit.measure.measure``, ``labkit.results.record``), so
``from labkit import measure, results`` gives the modules.
"""

from labkit import bench, datagen, measure, projection, results, session  # noqa: F401 - the modules
from labkit.bench import compare
from labkit.datagen import HotKeys, Zipf, cached, customers, key_distribution, products, transactions
from labkit.measure import Measurement, PlanSummary, plan_summary
from labkit.projection import project_job, project_makespan, projected_speedup
from labkit.scales import SCALES, Scale, scale_params
from labkit.session import JavaNotFoundError, check_java, spark_conf, spark_session

__version__ = "0.1.0"

__all__ = [
    "SCALES",
    "HotKeys",
    "JavaNotFoundError",
    "Measurement",
    "PlanSummary",
    "Scale",
    "Zipf",
    "cached",
    "check_java",
    "compare",
    "customers",
    "key_distribution",
    "plan_summary",
    "products",
    "project_job",
    "project_makespan",
    "projected_speedup",
    "scale_params",
    "spark_conf",
    "spark_session",
    "transactions",
]
