"""One SparkSession per test process (local[2], few shuffle partitions).

The marks and the per-worker set-up for ``make test``'s parallel run are in the repository's root conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

# The shared session's JVM collects with Serial, not G1: a short-lived, CPU-bound JVM on 2 cores spends less on it
# (no concurrent marking threads). Measured, idle machine, busy CPU seconds: test_skew.py + test_pipeline.py 141-150
# -> 123; test_dq.py + test_adv_csv.py 130-139 -> 121-129. The notebooks' kernels and child JVMs keep Java's default
# (G1), which notebook 05 checks; test_exp_memory.py checks that this session reports the collector it was given.
TEST_SESSION_GC = "-XX:+UseSerialGC"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The shared session; built on first use, stopped at the end of the run."""
    from labkit.core.session import spark_session

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = spark_session(
        "local[2]",
        app_name="labkit-tests",
        **{"spark.sql.shuffle.partitions": "4", "spark.sql.warehouse.dir": str(warehouse),
           "spark.driver.memory": "2g", "spark.driver.defaultJavaOptions": TEST_SESSION_GC},
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
        for i in range(0, len(items), 1000):  # listed first, deleted after (1,000 a call): paging would skip entries
            batch = [{"Key": item["Key"], "VersionId": item["VersionId"]} for item in items[i:i + 1000]]
            out = s3_server.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
            assert not out.get("Errors"), out["Errors"][:3]
        s3_server.delete_bucket(Bucket=name)
    return s3_server


@pytest.fixture
def small_pages():
    """``with small_pages(client, "ListObjectsV2", 3) as pages:``: every such call asks for at most 3 keys a page.

    S3 (and moto) return at most 1,000 keys a page, so code that reads one page only loses the rest: with pages of
    3, a handful of objects crosses the same boundary a thousand would. ``pages`` counts the calls made.
    """
    import contextlib

    @contextlib.contextmanager
    def shrink(client, operation: str, size: int):
        calls: list[int] = []

        def limit(params, **_):
            params["MaxKeys"] = size

        def count(**_):
            calls.append(1)

        events = client.meta.events
        events.register(f"before-parameter-build.s3.{operation}", limit, unique_id=f"small-pages-{operation}")
        events.register(f"after-call.s3.{operation}", count, unique_id=f"small-pages-count-{operation}")
        try:
            yield calls
        finally:
            events.unregister(f"before-parameter-build.s3.{operation}", unique_id=f"small-pages-{operation}")
            events.unregister(f"after-call.s3.{operation}", unique_id=f"small-pages-count-{operation}")

    return shrink


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path; a skip when it is missing, a failure where ``.ci/run`` installed it (LABKIT_REQUIRE_BROWSER)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        if os.environ.get("LABKIT_REQUIRE_BROWSER"):
            pytest.fail("LABKIT_REQUIRE_BROWSER is set but no chromium is on PATH")
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the browser check is skipped")
    return browser
