"""One SparkSession for the whole test run (local[2], few shuffle partitions)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The shared session; built on first use, stopped at the end of the run."""
    from labkit.session import spark_session

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


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory):
    """Every notebook of the lab run once at tiny scale through `labkit report` (papermill)."""
    from labkit import report

    return report.run(scale="tiny", out=tmp_path_factory.mktemp("reports"), timeout=900)
