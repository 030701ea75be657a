"""The data-quality errors: a rule text that does not parse, and data that failed a quality threshold."""

from __future__ import annotations

from typing import Any

__all__ = ["DQDLSyntaxError", "DataQualityError"]


class DataQualityError(ValueError):
    """Data failed a quality threshold; ``report`` holds the details."""

    def __init__(self, message: str, report: Any = None):
        super().__init__(message)
        self.report = report


class DQDLSyntaxError(ValueError):
    """A rule text that does not parse; the message points at the position."""
