"""``labkit`` command line: ``labkit report [--scale ...]``, ``labkit reference``, ``labkit answers``, ``labkit drill``,
``labkit cluster up|down|status``, ``labkit jvm-archive``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from labkit import report
from labkit.core.scales import SCALES
from labkit.report.reference import write_reference_answers
from labkit.tools import cluster, jvm_archive

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labkit`` command."""
    parser = argparse.ArgumentParser(prog="labkit", description="Spark interview lab")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="run the notebooks through papermill and build the HTML report")
    rep.add_argument("--scale", default="small", choices=list(SCALES), help="data scale (default: small)")
    rep.add_argument("--only", default=None, help="comma-separated notebook names or prefixes, e.g. 00,02_data_skew")
    rep.add_argument("--master", default=None, help="Spark master URL passed to every notebook (default: local[*])")
    rep.add_argument("--out", default="reports", help="folder that receives <timestamp>/ and latest (default: reports)")
    rep.add_argument("--timeout-per-notebook", type=int, default=3600, help="seconds per notebook (default: 3600)")
    rep.add_argument("--compare", default=None, help="a reference run folder to compare with")
    rep.add_argument("--notebooks", default=str(report.NOTEBOOKS), help="folder of NN_topic.ipynb notebooks")
    ref = sub.add_parser("reference", help="keep a report run as benchmarks/reference and refresh the README table")
    ref.add_argument("run_dir", help="a report run folder, e.g. reports/latest")
    ref.add_argument("--to", default=str(report.REPO / "benchmarks" / "reference"),
                     help="destination: benchmarks/reference (default), a folder an earlier `labkit reference` "
                          "wrote (it holds manifest.json; only the files listed there are replaced), or a new or "
                          "empty folder; any other folder is refused")
    ans = sub.add_parser("answers", help="write answers.html (the interview answers with a run's numbers) for a "
                                         "results folder without executed notebooks, e.g. the reference")
    ans.add_argument("--results", default=str(report.REPO / "benchmarks" / "reference"),
                     help="a folder with run.json and the notebooks' results JSON (default: benchmarks/reference)")
    dr = sub.add_parser("drill", help="interview questions one at a time, the answer hidden until Enter; numbers to "
                                      "predict before the measurement; missed cards come back sooner")
    dr.add_argument("--topic", default=None, help="a notebook's two digits, e.g. 02 (default: every topic)")
    dr.add_argument("--count", type=int, default=10, help="cards at most (default: 10)")
    dr.add_argument("--results", default=None, help="a report run or the reference whose numbers are shown "
                                                    "(default: reports/latest, else benchmarks/reference)")
    dr.add_argument("--state", default=None, help="the schedule file (default: ~/.cache/labkit/drill.json)")
    dr.add_argument("--kind", default=None, choices=["question", "predict"], help="only questions, or only "
                                                                                   "predictions (default: both)")
    dr.add_argument("--seed", type=int, default=None, help="the order of cards never seen (default: random)")
    rep.add_argument("--spark-ui", default=None,
                     help="for an sc:// master: the Connect server's UI, where measure reads task metrics "
                          "(sets LABKIT_SPARK_UI; default: what `labkit cluster up --connect` recorded)")
    _cluster_parser(sub)
    cds = sub.add_parser("jvm-archive", help="build the driver JVM's class-data-sharing archive when missing "
                                             "(about 1.5 minutes once; 13-17 CPU-seconds less for every session after)")
    cds.add_argument("--rebuild", action="store_true", help="build it again even when it exists")
    args = parser.parse_args(argv)
    if args.command == "report" and args.spark_ui:
        os.environ["LABKIT_SPARK_UI"] = args.spark_ui
    commands = {"cluster": _cluster, "jvm-archive": lambda a: _jvm_archive(a.rebuild), "answers": _answers,
                "reference": _reference, "report": _report, "drill": _drill}
    return commands[args.command](args)


def _answers(args) -> int:
    try:
        print(write_reference_answers(args.results))
    except (ValueError, OSError) as exc:  # CatalogueError is a ValueError: it names the notebook and cell
        print(f"labkit answers: {exc}", file=sys.stderr)
        return 2
    return 0


def _drill(args) -> int:
    from labkit.report.drill import STATE, drill

    latest = report.REPO / "reports" / "latest"
    results = args.results or (latest if (latest / "run.json").exists() else report.REPO / "benchmarks" / "reference")
    try:
        drill(results, args.state or STATE, topic=args.topic, count=args.count, seed=args.seed, kind=args.kind)
    except (ValueError, OSError) as exc:
        print(f"labkit drill: {exc}", file=sys.stderr)
        return 2
    return 0


def _reference(args) -> int:
    try:
        print(report.save_reference(args.run_dir, args.to))
    except ValueError as exc:
        print(f"labkit reference: {exc}", file=sys.stderr)
        return 2
    return 0


def _report(args) -> int:
    if _cluster_auth_missing(args.master):
        return 2
    try:
        result = report.run(scale=args.scale, only=args.only.split(",") if args.only else None, master=args.master,
                            out=args.out, timeout=args.timeout_per_notebook, compare=args.compare,
                            notebook_dir=Path(args.notebooks))
    except ValueError as exc:
        print(f"labkit report: {exc}", file=sys.stderr)
        return 2
    return 0 if result.ok else 1


def _jvm_archive(rebuild: bool) -> int:
    """``labkit jvm-archive``: a failed build is reported and leaves sessions as they were (exit status 1)."""
    try:
        path = jvm_archive.ensure(rebuild=rebuild)
    except jvm_archive.ArchiveError as exc:
        print(f"labkit jvm-archive: {exc}; sessions start without it", file=sys.stderr)
        return 1
    print(f"labkit jvm-archive: {path or 'off (LABKIT_JVM_ARCHIVE=0, or no Java or pyspark)'}")
    return 0


def _cluster_parser(sub) -> None:
    """``labkit cluster up|down|status``."""
    cl = sub.add_parser("cluster", help="a Spark standalone cluster (and Spark Connect server) on 127.0.0.1")
    verbs = cl.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="start a master and workers (and --connect: a Spark Connect server)")
    up.add_argument("--workers", type=int, default=2, help="worker processes (default: 2; 0 with --connect)")
    up.add_argument("--cores", type=int, default=1, help="cores per worker (default: 1)")
    up.add_argument("--memory", default="2g", help="memory per worker for executors (default: 2g)")
    up.add_argument("--port", type=int, default=7077, help="master port (default: 7077)")
    up.add_argument("--ui-port", type=int, default=8080, help="master web UI port (default: 8080)")
    up.add_argument("--connect", action="store_true", help="also start Spark Connect's server on the cluster")
    up.add_argument("--connect-port", type=int, default=15002, help="Spark Connect gRPC port (default: 15002)")
    up.add_argument("--connect-ui-port", type=int, default=4040, help="the Connect server's UI (default: 4040)")
    up.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for the Connect server (repeatable)")
    verbs.add_parser("down", help="stop exactly the processes `up` started")
    verbs.add_parser("status", help="what runs, with the URLs and UI links")


def _cluster(args) -> int:
    """Run a ``labkit cluster`` verb."""
    try:
        if args.verb == "up":
            bad = [c for c in args.conf if "=" not in c]
            if bad:
                raise cluster.ClusterError(f"cluster up: --conf needs KEY=VALUE, got {bad}")
            state = cluster.up(args.workers, args.cores, args.memory, args.port, args.ui_port, args.connect,
                               args.connect_port, args.connect_ui_port, dict(c.split("=", 1) for c in args.conf))
            print(cluster.describe(state))
        elif args.verb == "down":
            cluster.down()
        else:
            state = cluster.status()
            print(cluster.describe(state) if state else f"no cluster recorded in {cluster.cluster_home()}")
            return 0 if state is None or all(p["alive"] for p in state["processes"]) else 1
    except (cluster.ClusterError, ValueError) as exc:  # ValueError: a port outside 1..65535, named by its option
        print(f"labkit {exc}", file=sys.stderr)
        return 2
    return 0


def _cluster_auth_missing(master: str | None) -> bool:
    """For ``--master`` naming the lab's own cluster: check, before any notebook runs, that its secret is readable.

    The notebooks' ``spark_session(master)`` reads it again themselves; this only turns a missing or unreadable
    auth file into one clear message instead of one failed notebook each. True (and the message printed) when it is.
    """
    if not master:
        return False
    try:
        cluster.client_auth(master)
    except cluster.ClusterError as exc:
        print(f"labkit report: --master {master.split('/;')[0]}: {exc}", file=sys.stderr)  # no ;token=
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
