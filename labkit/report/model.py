"""What a report run is: each notebook's run and the whole run, shared by the runner that fills them in and the
pages (:mod:`labkit.report.html`) that show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.core.paths import REPO

__all__ = ["NOTEBOOKS", "NotebookRun", "ReportRun"]

NOTEBOOKS = REPO / "notebooks"  # the lab's NN_topic.ipynb notebooks


@dataclass
class NotebookRun:
    """One notebook's run: where it went, how long it took, and its error if it failed."""

    name: str
    status: str  # "ok" | "failed"
    seconds: float
    output: Path
    html: Path | None = None
    error: str | None = None
    results: dict[str, Any] | None = None
    traceback: str | None = None
    redacted: dict[str, int] = field(default_factory=dict)  # what redaction removed from its files, by kind


@dataclass
class ReportRun:
    """A whole report run: its folder, its scale, each notebook's run in order, and the time it took."""

    run_dir: Path
    scale: str
    notebooks: list[NotebookRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every notebook ran."""
        return all(nb.status == "ok" for nb in self.notebooks)
