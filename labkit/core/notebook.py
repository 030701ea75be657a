"""One way to start a notebook: ``lab = labkit.notebook.start("NN_topic", parameters)``.

Everything a notebook used to repeat lives on the returned :class:`Lab`: the
session, the scale's sizes, the output folder, the recorder, ``savefig``, the
cached facts and dimensions, and the no-op sink. Every parameter given is
recorded, so none can drift from what the results file says.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.core import cache, datagen, results, runtime
from labkit.core.args import plain_name
from labkit.core.measure import noop
from labkit.core.scales import Scale, scale_params
from labkit.core.session import spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["REQUIRED", "Lab", "start"]

REQUIRED = ("scale", "seed", "spark_master", "output_dir")
_NAME = re.compile(r"\d\d_[a-z0-9_]+")


@dataclass
class Lab:
    """What a running notebook needs, built once by :func:`start`."""

    name: str
    spark: SparkSession
    size: Scale
    out: Path
    parameters: dict[str, Any]
    recorder: results.Recorder | None = field(default=None, repr=False)  # this lab's own results file
    _figures: list[Path] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def seed(self) -> int:
        """The notebook's seed."""
        return int(self.parameters["seed"])

    @property
    def cores(self) -> int:
        """Cores the session runs tasks on (``defaultParallelism``; on Spark Connect the executors' cores)."""
        return runtime.parallelism(self.spark)

    @property
    def master(self) -> str:
        """Where the session runs: ``local[2]``, ``spark://...`` or ``sc://host:port (server on ...)``."""
        return runtime.master(self.spark)

    def close(self) -> None:
        """Stop the Spark session: the last cell of every notebook.

        Stopping it before the kernel exits lets the executors finish cleanly:
        a session left to the JVM's shutdown hooks ends a ``local-cluster`` or
        ``spark://`` run with "Lost executor ... exited with code 143" errors.
        The JVM this kernel started then exits too (see
        :func:`labkit.core.runtime.end_local_jvm`), so its temp folders are
        removed even when the kernel is killed afterwards. On Spark Connect
        this ends the client's session, not the server. Safe to call twice; to
        go on working, run the notebook's first cells again.
        """
        if self._closed:
            return
        where = self.master
        atexit.unregister(self._stop_at_exit)
        _stop(self.spark)
        self._closed = True
        if self.recorder is not None:
            print(f"{self.name}: {len(self.recorder.results)} number(s) in {self.recorder.path}; "
                  f"the Spark session on {where} is stopped")

    def _stop_at_exit(self) -> None:
        """At interpreter exit, stop the session of a lab that was never closed (a notebook that ended early)."""
        if not self._closed:
            _stop(self.spark)

    def record(self, key: str, value: Any, unit: str | None = None, claim: str | None = None, *,
               kind: str = "measured", note: str | None = None, spread: tuple[float, float] | None = None,
               censored: bool = False) -> dict[str, Any]:
        """Record one number in this lab's results file (see :meth:`labkit.core.results.Recorder.record`).

        Raises
        ------
        RuntimeError
            For a lab built without a recorder (:func:`start` gives it one).
        """
        if self.recorder is None:
            raise RuntimeError(f"{self.name}: this Lab has no results file; start it with labkit.notebook.start")
        return self.recorder.record(key, value, unit, claim, kind=kind, note=note, spread=spread, censored=censored)

    def record_speedup(self, key: str, row, claim: str | None = None, *, note: str | None = None,
                       column: str = "speedup") -> dict[str, Any]:
        """Record a ratio from a :func:`labkit.core.bench.compare` row with its spread (``<column>_lo``/``_hi``).

        Parameters
        ----------
        key : str
        row : pandas.Series
            One row of a compare (or sweep summary) table.
        claim, note : str, optional
        column : str
            The ratio column; ``speedup`` by default.
        """
        missing = [c for c in (column, f"{column}_lo", f"{column}_hi") if c not in row.index]
        if missing:
            raise ValueError(f"record_speedup: the row has no {missing}; it has {list(row.index)}")
        return self.record(key, float(row[column]), "x", claim, note=note,
                           spread=(float(row[f"{column}_lo"]), float(row[f"{column}_hi"])))

    def record_statement(self, sid: str, holds: Any, note: str | None = None) -> dict[str, Any]:
        """Record the outcome of a check of one of the guide's statements (``benchmarks/statements.yaml``).

        Parameters
        ----------
        sid : str
            The statement's id; the value goes under ``statement.<sid>``, where the report looks for it.
        holds : bool
            True when the guide's statement survives the check, False when the check refutes it: computed
            from a plan, a count or an exception in the notebook, never typed in.
        note : str, optional
            What the check showed, in one line.

        Raises
        ------
        TypeError
            When ``holds`` is not a boolean (a count or a string is not a check's outcome).
        """
        if type(holds).__name__ not in ("bool", "bool_"):  # Python's or numpy's
            raise TypeError(f"record_statement({sid!r}): holds must be True or False, got {type(holds).__name__}")
        return self.record(f"statement.{sid}", bool(holds), claim=sid, note=note)

    def record_table(self, prefix: str, frame, columns: Mapping[str, tuple[str, str]],
                     note: str | None = None) -> list[str]:
        """Record chosen columns of every row of a table: key ``<prefix>.<row>.<column>``.

        Parameters
        ----------
        prefix : str
        frame : pandas.DataFrame
            Indexed by the row names (variants, formats...); a name becomes
            part of the key with spaces as ``_`` and brackets dropped.
        columns : mapping of column to (unit, kind)
            For example ``{"speedup": ("x", "measured"), "projected_speedup_64": ("x", "projected")}``.
            A column ``c`` with ``c_lo`` and ``c_hi`` beside it (``speedup_lo``/``speedup_hi`` from
            :func:`labkit.core.bench.compare`) is recorded with that spread.
        note : str, optional

        Returns
        -------
        list of str
            The keys recorded.
        """
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"record_table: no column(s) {missing}; the table has {list(frame.columns)}")
        keys = []
        for name, row in frame.iterrows():
            slug = re.sub(r"[()\[\],]", "", str(name)).replace(" ", "_")
            for col, (unit, kind) in columns.items():
                keys.append(f"{prefix}.{slug}.{col}")
                has = f"{col}_lo" in frame.columns and f"{col}_hi" in frame.columns
                self.record(keys[-1], row[col], unit, kind=kind, note=note,
                            spread=(row[f"{col}_lo"], row[f"{col}_hi"]) if has else None)
        return keys

    def savefig(self, fig, tag: str) -> Path:
        """Save a figure as ``<out>/<name>.<tag>.png`` (the report embeds it) and return the path."""
        if not re.fullmatch(r"[a-z0-9_]+", tag):
            raise ValueError(f"savefig: tag must be lower-case letters, digits and _, got {tag!r}")
        path = self.out / f"{self.name}.{tag}.png"
        fig.savefig(path, dpi=90)
        self._figures.append(path)
        return path

    def facts(self, skew: datagen.HotKeys | datagen.Zipf | None = None, partitions: int | None = None,
              **overrides: Any) -> DataFrame:
        """The cached transactions at this scale and seed (uniform keys unless ``skew`` says otherwise)."""
        params = dict(rows=self.size.rows, customers=self.size.customers, skew=skew, seed=self.seed)
        if partitions:
            params["partitions"] = partitions
        params.update(overrides)
        return cache.cached(self.spark, "transactions", params, datagen.transactions)

    def dims(self) -> DataFrame:
        """The cached customer dimension at this scale and seed (one row per customer id)."""
        return cache.cached(self.spark, "customers", dict(n=self.size.customers, seed=self.seed), datagen.customers)

    def scratch(self, what: str, fresh: bool = False) -> str:
        """A scratch folder for this notebook's files, under the dataset cache (git-ignored).

        ``fresh=True`` empties it first: for state that must not carry over from an earlier run of the notebook
        (a warehouse whose load ledger would otherwise still hold the last run's objects).
        """
        path = f"{cache.cache_dir()}/{self.name}-{self.size.name}-{self.seed}/{plain_name('what', what)}"
        if fresh:
            shutil.rmtree(path, ignore_errors=True)
        return path

    @staticmethod
    def noop(df: DataFrame) -> Callable[[], None]:
        """A callable that runs ``df`` into the no-op sink (see :func:`labkit.core.measure.noop`)."""
        return noop(df)


def start(name: str, parameters: Mapping[str, Any]) -> Lab:
    """Start a notebook: session, scale, output folder and results file, with every parameter recorded.

    Parameters
    ----------
    name : str
        The notebook's name without extension, e.g. ``"02_data_skew_and_salting"``.
    parameters : mapping
        Every value of the notebook's parameters cell. It must hold ``scale``,
        ``seed``, ``spark_master`` and ``output_dir``.

    Returns
    -------
    Lab

    Raises
    ------
    ValueError
        For a name that is not ``NN_topic``, a missing required parameter, or
        an unknown scale.
    """
    if not _NAME.fullmatch(name or ""):
        raise ValueError(f"notebook name must look like '02_data_skew_and_salting', got {name!r}")
    missing = [k for k in REQUIRED if k not in parameters]
    if missing:
        raise ValueError(f"start({name!r}): parameters lack {missing}; every notebook has {list(REQUIRED)}")
    params = dict(parameters)
    size = scale_params(params["scale"])
    out = Path(os.fspath(params["output_dir"]))
    out.mkdir(parents=True, exist_ok=True)
    spark = spark_session(params["spark_master"], app_name=name)
    lab = Lab(name, spark, size, out, params, recorder=results.Recorder.open(name, out, spark, parameters=params))
    atexit.register(lab._stop_at_exit)  # a notebook that ends early still stops its session; close() removes it
    return lab


def _stop(spark: SparkSession) -> None:
    """Stop a session if it still runs, then its local JVM; never raises (it also runs at interpreter exit)."""
    try:
        if runtime.is_connect(spark) or getattr(spark.sparkContext, "_jsc", None) is not None:
            spark.stop()  # a stopped classic session's JVM may be gone: stopping it again would call into nothing
        runtime.end_local_jvm()  # its shutdown hooks clear its temp folders even if the kernel is killed next
    except Exception as exc:  # noqa: BLE001 - at exit there is nobody left to raise to
        print(f"labkit: stopping the Spark session failed: {type(exc).__name__}: {exc}")
