"""Waiting for something to become true: one polling loop for the whole lab."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.1) -> T:
    """Call ``predicate`` until it returns a truthy value or ``timeout`` seconds have passed.

    It is called at least once, and once more after the deadline is reached only
    if the last call came before it; between calls it sleeps ``interval`` seconds.
    Exceptions it raises propagate.

    Parameters
    ----------
    predicate : callable
        Takes no argument; its result is tested for truth.
    timeout : float
        Seconds to wait in all (0: one call).
    interval : float
        Seconds between calls.

    Returns
    -------
    object
        The first truthy result, or the last (falsy) result when the time ran out.

    Examples
    --------
    >>> calls = iter([0, 0, 3])
    >>> wait_until(lambda: next(calls), timeout=5, interval=0)
    3
    >>> wait_until(lambda: [], timeout=0)
    []
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
