"""How wrong the projection is, measured: a job's ``local[1]`` tasks projected onto N cores against ``local[N]``.

:mod:`labkit.core.projection` assumes every task takes as long on N cores as
it did here. :func:`validate` measures that assumption: the same job runs on
``local[1]`` and on ``local[N]`` in a child Python with its own JVM
(:func:`labkit.tools.child.run_child`: the notebook's master cannot change), and the
projection of the first is compared with the measurement of the second. The
child runs the two masters one after the other, each in a SparkContext of its own
(a running context's master cannot change, but a stopped one can be followed by a new one
on another master): one JVM start instead of two, and each master warms up before it is measured.

Run as ``python -m labkit.experiments.projection '<json args>'`` it is that child.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from labkit.core import datagen
from labkit.core.bench import compare, median_run
from labkit.core.measure import noop
from labkit.core.projection import limiting_stages, project_job
from labkit.core.session import spark_conf, spark_session
from labkit.tools.child import run_child

__all__ = ["validate"]


def _measure_on(master: str, args: dict[str, Any]) -> dict[str, Any]:
    """Measure the validation job in a new session on ``master``, stop the session; return the median run."""
    spark = spark_session(master)
    facts = datagen.transactions(spark, args["rows"], customers=args["customers"], seed=args["seed"],
                                 skew=datagen.HotKeys(0.5, 5), partitions=args["partitions"]).cache()
    dims = datagen.customers(spark, args["customers"], seed=args["seed"]).repartition(args["partitions"]).cache()
    facts.count(), dims.count()
    job = noop(facts.join(dims, "customer_id").groupBy("segment").count())
    with spark_conf(spark, {"spark.sql.shuffle.partitions": args["partitions"],
                            "spark.sql.adaptive.enabled": False, "spark.sql.autoBroadcastJoinThreshold": -1}):
        table = compare({"job": job}, repeats=args["repeats"], warmup=1, spark=spark, progress=False)
    m = median_run(table.attrs["runs"], "job")
    spark.stop()
    return {"master": master, "wall_ms": m.wall_s * 1000,
            "stage_tasks_ms": {str(k): v for k, v in m.stage_tasks_ms.items()},
            "stage_wall_ms": {str(k): v for k, v in m.stage_wall_ms.items()}}


def _child_job(args: dict[str, Any]) -> None:
    """Run in a child process: measure the validation job on each master in turn, one JSON line per master."""
    for master in args["masters"]:
        print(json.dumps(_measure_on(master, args)), flush=True)


def _reports(stdout: str) -> dict[str, dict[str, Any]]:
    """The child's report lines (JSON objects naming their ``master``) by master; its log lines are skipped."""
    found = {}
    for line in stdout.splitlines():
        try:
            out = json.loads(line) if line.startswith("{") else None
        except ValueError:  # a log line that happens to start with a brace
            out = None
        if isinstance(out, dict) and "master" in out:
            found[out["master"]] = out
    return found


def _measured(masters: list[str], args: dict[str, Any], timeout: float) -> dict[str, dict[str, Any]]:
    """Each master's median run, from one child; a RuntimeError naming the first master it has no run of (the last
    one when it has them all) when the child fails or times out, with the child's last lines."""
    run = run_child(__name__, [json.dumps({"masters": masters, **args})], timeout_s=timeout,
                    env={"PYTHONWARNINGS": "ignore"}, scratch_prefix="labkit-projection-")
    found = _reports(run.stdout)
    missing = next((m for m in masters if m not in found), masters[-1])
    if run.timed_out:
        raise RuntimeError(f"projection.validate: the {missing} child did not finish in {timeout:.0f} s (killed); "
                           f"its output ended:\n{run.tail()}")
    if run.returncode != 0 or len(found) < len(masters):
        raise RuntimeError(f"projection.validate: the {missing} child failed (exit {run.returncode}):\n{run.tail()}")
    return found


def validate(rows: int, customers: int, seed: int = 42, cores: int = 2, partitions: int | None = None,
             repeats: int = 3, timeout: float = 1200.0) -> dict[str, Any]:
    """Check the projection against a measurement: measure a job on ``local[1]``, project it onto ``cores``,
    and compare with the same job measured on ``local[cores]``.

    Both masters run in one child Python process with its own JVM, one after the other, each in a SparkContext
    of its own (started after the previous one stopped).

    Parameters
    ----------
    rows, customers, seed : int
        The transactions (50% of rows on 5 hot customers) and the customer dimension.
    cores : int
        The cores projected onto and measured (at most this machine's).
    partitions : int, optional
        Input splits and shuffle partitions; ``4 * cores`` by default, so every stage has at least 2N tasks.
    repeats : int
        Measured runs per master (the median run is used).
    timeout : float
        Seconds for the child, which runs both masters; it is killed, with its JVM, after that.

    Returns
    -------
    dict
        ``projected_ms`` (local[1] tasks on ``cores``), ``measured_ms`` (local[cores], sum of stage times),
        ``error`` (projected / measured - 1), ``one_core_ms``, ``limited_by`` (stages under 2N tasks).

    Raises
    ------
    RuntimeError
        When the child fails or times out: the message names the master it has no run of, and holds its last
        lines of output.
    """
    partitions = partitions or 4 * cores
    args = dict(rows=rows, customers=customers, seed=seed, partitions=partitions, repeats=repeats)
    runs = _measured(["local[1]", f"local[{cores}]"], args, timeout)
    one_core, many = runs["local[1]"], runs[f"local[{cores}]"]
    one = {int(k): v for k, v in one_core["stage_tasks_ms"].items()}
    measured = float(sum(many["stage_wall_ms"].values()))
    projected = project_job(one, cores)
    return {"projected_ms": projected, "measured_ms": measured, "error": projected / measured - 1,
            "one_core_ms": float(sum(one_core["stage_wall_ms"].values())), "cores": cores,
            "partitions": partitions, "limited_by": limiting_stages(one, cores),
            "measured_wall_ms": many["wall_ms"]}


if __name__ == "__main__":  # pragma: no cover - the child of validate()
    _child_job(json.loads(sys.argv[1]))
