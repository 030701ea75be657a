"""One SparkSession per test process (local[2], few shuffle partitions).

``make test`` runs the suite on parallel workers (pytest-xdist, ``--dist loadgroup``): each worker is one process
with its own session, its own dataset cache (no two processes write one cached dataset) and its own cluster home.
A notebook's cells stay on one worker, and so do tests that share one outside resource (an ``xdist_group`` mark).
The tests that read the notebooks' results (``tiny_report``) run after them, in make test's second pytest call.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Give each xdist worker its own dataset cache (and with it its own cluster home and warehouse)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        base = os.environ.get("LABKIT_CACHE_DIR", str(_REPO / "datasets" / "cache"))
        if "://" not in base:
            os.environ["LABKIT_CACHE_DIR"] = f"{base.rstrip('/')}/workers/{worker}"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The shared session; built on first use, stopped at the end of the run."""
    from labkit.core.session import spark_session

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = spark_session(
        "local[2]",
        app_name="labkit-tests",
        **{"spark.sql.shuffle.partitions": "4", "spark.sql.warehouse.dir": str(warehouse),
           "spark.driver.memory": "2g"},
    )
    yield session
    session.stop()


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """A private dataset cache folder for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(root))
    return root


# Results written after this moment count as this run's. make test sets it once for both of its pytest calls.
_STARTED = float(os.environ.get("LABKIT_TEST_STARTED") or time.time())


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory):
    """A report built from every notebook run at tiny scale in this test session.

    nbval runs the notebooks first (``testpaths`` lists ``notebooks`` before
    ``tests``) and each writes its results to ``reports/scratch``; those are
    reused. A notebook without fresh results (a test run on its own) is run
    here through ``labkit report``.
    """
    from labkit import report

    scratch = report.REPO / "reports" / "scratch"
    run_dir = tmp_path_factory.mktemp("tiny-report")
    outcome = report.ReportRun(run_dir, "tiny")
    stale = []
    for path in report.discover():
        doc = scratch / f"{path.stem}.json"
        if doc.exists() and doc.stat().st_mtime >= _STARTED:
            for f in [doc, *scratch.glob(f"{path.stem}.*.png")]:
                shutil.copy(f, run_dir / f.name)
            outcome.notebooks.append(report.NotebookRun(path.stem, "ok", 0.0, path,
                                                        results=json.loads(doc.read_text())))
        else:
            stale.append(path.stem)
    if stale:
        fresh = report.run(scale="tiny", only=stale, out=tmp_path_factory.mktemp("reports"), timeout=900)
        for nb in fresh.notebooks:
            for f in fresh.run_dir.glob(f"{nb.name}*"):
                shutil.copy(f, run_dir / f.name)
        outcome.notebooks += fresh.notebooks
    outcome.notebooks.sort(key=lambda nb: nb.name)
    report.write_index(outcome)
    return outcome


def pytest_collection_modifyitems(config, items):
    """Marks: notebook cells (nbval) and the tests that reuse their results are ``slow``; the latter are also
    ``notebook_results`` (make test runs them after the notebooks); every item gets the ``xdist_group`` of its file
    unless it has one (so a notebook's cells run in order in one kernel)."""
    for item in items:
        uses_results = "tiny_report" in getattr(item, "fixturenames", ())
        if item.path.suffix == ".ipynb" or uses_results:
            item.add_marker(pytest.mark.slow)
        if uses_results:
            item.add_marker(pytest.mark.notebook_results)
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(_SHARED.get(item.path.name, item.path.name)))


# Files whose tests share one outside resource run on one worker: the standalone cluster's ports and processes.
_SHARED = {"test_cluster.py": "cluster", "test_adv_cluster.py": "cluster"}


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 for the whole run (over HTTP, the real wire protocol); stopped at the end."""
    from labkit.aws import s3

    client = s3.client()
    assert s3.server_url().startswith("http://127.0.0.1:")
    yield client
    s3.stop_server()


@pytest.fixture
def s3c(s3_server):
    """The S3 client, with the server emptied (every bucket, version and delete marker) before the test."""
    for bucket in s3_server.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        items = [item for page in s3_server.get_paginator("list_object_versions").paginate(Bucket=name)
                 for item in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for item in items:  # listed first, deleted after: deleting while paging would skip entries
            s3_server.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
        s3_server.delete_bucket(Bucket=name)
    return s3_server
