"""``labkit`` command line: ``labkit report [--scale ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labkit`` command."""
    from labkit import report
    from labkit.core.scales import SCALES

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
    ref.add_argument("--to", default=str(report.REPO / "benchmarks" / "reference"), help="destination folder")
    args = parser.parse_args(argv)
    if args.command == "reference":
        try:
            print(report.save_reference(args.run_dir, args.to))
        except ValueError as exc:
            print(f"labkit reference: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "report":
        try:
            outcome = report.run(
                scale=args.scale,
                only=args.only.split(",") if args.only else None,
                master=args.master,
                out=args.out,
                timeout=args.timeout_per_notebook,
                compare=args.compare,
                notebook_dir=Path(args.notebooks),
            )
        except ValueError as exc:
            print(f"labkit report: {exc}", file=sys.stderr)
            return 2
        return 0 if outcome.ok else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
