"""The report layer: the claims registry and its verdicts, the notebook runner, the HTML report, the CLI, plots.

It imports scenarios, experiments, topics and core; nothing below imports it.
"""

from labkit.core.paths import REPO
from labkit.report import claims, plots  # noqa: F401 - modules notebooks use
from labkit.report.html import claims_table, write_index
from labkit.report.model import NOTEBOOKS, NotebookRun, ReportRun
from labkit.report.reference import readme_section, save_reference
from labkit.report.runner import discover, run

__all__ = ["NOTEBOOKS", "REPO", "NotebookRun", "ReportRun", "claims_table", "discover", "readme_section", "run",
           "save_reference", "write_index"]
