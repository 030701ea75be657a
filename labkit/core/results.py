"""Record a notebook's numbers, with the environment they were measured in.

A notebook's :class:`~labkit.core.notebook.Lab` opens one :class:`Recorder`
(:meth:`Recorder.open`, after its parameters cell) and then records each number
with ``lab.record``. Each recorder writes its own ``<output_dir>/<notebook>.json``,
so two labs in one process never write into each other's file:

.. code-block:: json

    {"notebook": "00_start_here", "parameters": {...}, "environment": {...},
     "results": {"skew_ratio": {"value": 7.2, "unit": "x", "kind": "measured", ...}}}
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.core import runtime

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["KINDS", "Recorder", "environment", "load"]

KINDS = ("measured", "projected", "guide", "arithmetic")


def environment(spark: SparkSession | None = None) -> dict[str, Any]:
    """Versions, machine and Spark flags that a number depends on.

    Parameters
    ----------
    spark : SparkSession, optional
        Adds Spark, Java, master, parallelism, ANSI and AQE flags when given.

    Returns
    -------
    dict
    """
    try:
        labkit_version = version("labkit")
    except PackageNotFoundError:  # running from a source tree that was not installed
        labkit_version = "unknown (not installed)"
    env: dict[str, Any] = {
        "labkit": labkit_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if spark is not None:
        conf = spark.conf
        env.update(
            spark=spark.version,
            java=_java_version(spark),
            master=runtime.master(spark),
            spark_connect=runtime.is_connect(spark),
            default_parallelism=runtime.parallelism(spark),
            shuffle_partitions=conf.get("spark.sql.shuffle.partitions"),
            ansi=conf.get("spark.sql.ansi.enabled"),
            aqe=conf.get("spark.sql.adaptive.enabled"),
            aqe_skew_join=conf.get("spark.sql.adaptive.skewJoin.enabled"),
            driver_memory=conf.get("spark.driver.memory", "1g"),
        )
    return env


def _java_version(spark: SparkSession) -> str:
    """The driver JVM's Java version (on Connect, the server's, from its REST API)."""
    if runtime.is_connect(spark):
        return runtime.get_json(f"{runtime.api_base(spark)}/environment")["runtime"]["javaVersion"].split()[0]
    return spark.sparkContext._jvm.System.getProperty("java.version")


def _memory_gb() -> float | None:
    """Total physical memory in GiB, where the OS tells."""
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _clean(value: Any) -> Any:
    """JSON-safe plain Python values (numpy scalars, NaN as null)."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _write(path: Path, doc: Mapping[str, Any]) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)


class Recorder:
    """One notebook run's results file: the parameters and environment, then every number recorded.

    Made by :meth:`open`; :meth:`record` adds a number and rewrites the file atomically.
    """

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self._doc = doc

    def __repr__(self) -> str:
        return f"Recorder({str(self.path)!r}, {len(self._doc['results'])} result(s))"

    @classmethod
    def open(cls, notebook: str, output_dir: str | os.PathLike, spark: SparkSession | None = None,
             parameters: Mapping[str, Any] | None = None) -> Recorder:
        """Begin a results file for a notebook run.

        Parameters
        ----------
        notebook : str
            Notebook name without extension, e.g. ``"00_start_here"``.
        output_dir : path
            Folder for ``<notebook>.json``; created if missing.
        spark : SparkSession, optional
            Used to record the Spark environment.
        parameters : mapping, optional
            The notebook's parameters (scale, seed, master, ...).

        Returns
        -------
        Recorder
            Writing to ``<output_dir>/<notebook>.json``. An earlier file of the same notebook is replaced.

        Raises
        ------
        ValueError
            For a notebook name that is not a plain file name.
        """
        if not notebook or "/" in notebook or notebook in (".", ".."):
            raise ValueError(f"notebook must be a plain name like '00_start_here', got {notebook!r}")
        path = Path(output_dir) / f"{notebook}.json"
        doc = {"notebook": notebook, "parameters": _clean(dict(parameters or {})),
               "environment": environment(spark), "results": {}}
        _write(path, doc)
        return cls(path, doc)

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        """The entries recorded so far, by key (a copy)."""
        return {k: dict(v) for k, v in self._doc["results"].items()}

    def record(self, key: str, value: Any, unit: str | None = None, claim: str | None = None, *,
               kind: str = "measured", note: str | None = None, spread: tuple[float, float] | None = None,
               censored: bool = False) -> dict[str, Any]:
        """Record one number in this results file.

        Parameters
        ----------
        key : str
            A stable name, e.g. ``"join.skew_ratio"``; the claims registry refers to it.
        value : number, str, bool, list or dict
        unit : str, optional
            ``"x"`` for a ratio, ``"s"``, ``"bytes"``, ``"%"``, ``"$"``...
        claim : str, optional
            The guide's claim this number checks (its registry id or quoted text).
        kind : {"measured", "projected", "guide", "arithmetic"}
            ``projected`` for numbers computed from measurements for a machine we
            do not have (see :mod:`labkit.core.projection`); ``guide`` for the guide's own number.
        note : str, optional
            Scale, caveat or method, shown next to the number.
        spread : (low, high), optional
            The range of the per-round values behind a measured ratio
            (``speedup_lo``/``speedup_hi`` of :func:`labkit.core.bench.compare`); the
            verdict rule calls a ratio whose spread includes 1.0 "no measurable effect".
        censored : bool
            The true value is at least ``value``: a sweep that never crossed its bound.

        Returns
        -------
        dict
            The stored entry.

        Raises
        ------
        ValueError
            For an empty key, an unknown kind or a spread that is not two numbers.
        """
        if not key:
            raise ValueError("results.record: key must be a non-empty string")
        if kind not in KINDS:
            raise ValueError(f"results.record: kind must be one of {KINDS}, got {kind!r}")
        if spread is not None:
            spread = [float(v) for v in spread]
            if len(spread) != 2 or any(math.isnan(v) for v in spread):
                raise ValueError(f"results.record: spread of {key!r} must be (low, high) numbers, got {spread!r}")
        entry = {"value": _clean(value), "unit": unit, "kind": kind, "claim": claim, "note": note,
                 **({"spread": sorted(spread)} if spread is not None else {}),
                 **({"censored": True} if censored else {}),
                 "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._doc["results"][key] = entry
        _write(self.path, self._doc)
        return entry


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results file written by a :class:`Recorder`."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if "results" not in doc or "environment" not in doc:
        raise ValueError(f"{path} is not a labkit results file (no 'results'/'environment')")
    return doc


if __name__ == "__main__":  # pragma: no cover
    json.dump(environment(), sys.stdout, indent=2)
