"""How wrong the projection is, measured: a job's ``local[1]`` tasks projected onto N cores against ``local[N]``.

:mod:`labkit.core.projection` assumes every task takes as long on N cores as
it did here. :func:`validate` measures that assumption: the same job runs on
``local[1]`` and on ``local[N]``, each in a child Python with its own JVM
(:func:`labkit.tools.child.run_child`: a JVM's master cannot change), and the
projection of the first is compared with the measurement of the second.

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


def _child_job(args: dict[str, Any]) -> dict[str, Any]:
    """Run in a child process: measure the validation job on one master; return the median run."""
    spark = spark_session(args["master"])
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
    return {"wall_ms": m.wall_s * 1000, "stage_tasks_ms": {str(k): v for k, v in m.stage_tasks_ms.items()},
            "stage_wall_ms": {str(k): v for k, v in m.stage_wall_ms.items()}}


def _measured(master: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The child's median run on ``master``; a RuntimeError with its last lines when it fails or times out."""
    run = run_child(__name__, [json.dumps({"master": master, **args})], timeout_s=timeout,
                    env={"PYTHONWARNINGS": "ignore"}, scratch_prefix="labkit-projection-")
    if run.timed_out:
        raise RuntimeError(f"projection.validate: the {master} child did not finish in {timeout:.0f} s (killed); "
                           f"its output ended:\n{run.tail()}")
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    if run.returncode != 0 or not lines:
        raise RuntimeError(f"projection.validate: the {master} child failed (exit {run.returncode}):\n{run.tail()}")
    return json.loads(lines[-1])


def validate(rows: int, customers: int, seed: int = 42, cores: int = 2, partitions: int | None = None,
             repeats: int = 3, timeout: float = 600.0) -> dict[str, Any]:
    """Check the projection against a measurement: measure a job on ``local[1]``, project it onto ``cores``,
    and compare with the same job measured on ``local[cores]``.

    Each master runs in its own child Python process (a JVM's master cannot change), one after the other.

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
        Seconds per child; it is killed, with its JVM, after that.

    Returns
    -------
    dict
        ``projected_ms`` (local[1] tasks on ``cores``), ``measured_ms`` (local[cores], sum of stage times),
        ``error`` (projected / measured - 1), ``one_core_ms``, ``limited_by`` (stages under 2N tasks).

    Raises
    ------
    RuntimeError
        When a child fails or times out: its last lines of output are in the message.
    """
    partitions = partitions or 4 * cores
    args = dict(rows=rows, customers=customers, seed=seed, partitions=partitions, repeats=repeats)
    one_core = _measured("local[1]", args, timeout)
    many = _measured(f"local[{cores}]", args, timeout)
    one = {int(k): v for k, v in one_core["stage_tasks_ms"].items()}
    measured = float(sum(many["stage_wall_ms"].values()))
    projected = project_job(one, cores)
    return {"projected_ms": projected, "measured_ms": measured, "error": projected / measured - 1,
            "one_core_ms": float(sum(one_core["stage_wall_ms"].values())), "cores": cores,
            "partitions": partitions, "limited_by": limiting_stages(one, cores),
            "measured_wall_ms": many["wall_ms"]}


if __name__ == "__main__":  # pragma: no cover - the child of validate()
    print(json.dumps(_child_job(json.loads(sys.argv[1]))))
