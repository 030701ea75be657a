"""Machine-independent numbers of the committed reference run, checked against this test session's tiny run.

As in recommenders: a separate check reads the values the notebooks recorded and asserts them with a tolerance.
Only numbers that do not depend on the machine or (beyond the tolerance) on the scale are compared: fractions of
bytes pruned, the key share the generator was asked for, a compression ratio, a task count.
"""

import json

import pytest

from labkit.report import REPO

REFERENCE = REPO / "benchmarks" / "reference"
# notebook, key, absolute tolerance (abs) or relative tolerance (rel)
CHECKS = [
    ("00_start_here", "keys.hot_share", {"abs": 0.02}),
    ("01_partitioning_and_file_formats", "pruning.one_of_five.bytes_reduction", {"abs": 0.01}),
    ("01_partitioning_and_file_formats", "pruning.two_of_five.bytes_reduction", {"abs": 0.01}),
    ("01_partitioning_and_file_formats", "pruning.two_of_five.athena_cost_savings", {"abs": 0.01}),
    ("01_partitioning_and_file_formats", "formats.parquet_vs_csv.size_ratio", {"rel": 0.2}),
    ("04_adaptive_query_execution", "aqe.coalesce.reduce_tasks", {"abs": 0}),
]


@pytest.mark.parametrize("notebook, key, tolerance", CHECKS, ids=[f"{n[:2]}:{k}" for n, k, _ in CHECKS])
def test_a_fresh_run_reproduces_the_reference_value(tiny_report, notebook, key, tolerance):
    reference = json.loads((REFERENCE / f"{notebook}.json").read_text())["results"][key]["value"]
    run = next(nb for nb in tiny_report.notebooks if nb.name == notebook)
    assert run.results, f"{notebook} recorded nothing in this run"
    fresh = run.results["results"][key]["value"]
    assert fresh == pytest.approx(reference, **tolerance), f"{key}: {fresh} now, {reference} in the reference"
