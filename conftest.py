"""Root conftest: what applies to the notebooks (nbval) and the tests alike.

``make test`` runs the suite on parallel workers (pytest-xdist, ``-n JOBS``): each worker is one process with its
own SparkSession, its own dataset cache (no two processes write one cached dataset), and with it its own cluster home
and warehouse. The scheduler below hands out whole files: a notebook's cells stay on one worker, in order, in one
kernel; so do the tests of one file, and the files that share one outside resource. The longest files go first, so
no long file starts last. The tests that read the notebooks' results (``tiny_report``) are marked
``notebook_results``; make test runs them in a second pytest call, after the notebooks.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labkit.core.paths import REPO as _REPO  # importing labkit starts no JVM

# Files whose tests share one outside resource run on one worker: the standalone cluster's ports and processes.
_SHARED = {"test_cluster.py": "cluster", "test_adv_cluster.py": "cluster"}

# The longest files, longest first (measured with --durations=0): handed out before the rest.
_LONGEST = ["test_cluster.py", "test_adv_cluster.py", "test_adv_report.py", "07_phi_masking.ipynb",
            "test_adv_pipeline.py", "11_ingestion_pipeline_and_incidents.ipynb", "00_start_here.ipynb",
            "04_adaptive_query_execution.ipynb", "02_data_skew_and_salting.ipynb", "05_memory_and_oom.ipynb",
            "test_phi.py", "test_pipeline.py", "test_ops.py", "test_exp_memory.py", "10_tuning_checklist.ipynb",
            "01_partitioning_and_file_formats.ipynb", "09_window_top_per_group.ipynb", "06_data_quality.ipynb",
            "test_partitioning.py", "test_exp_partitioning.py", "test_skew.py", "test_adv_phi_leaks.py",
            "03_broadcast_joins.ipynb", "08_s3_versioning_and_costs.ipynb"]


def pytest_configure(config):
    """Give each xdist worker its own dataset cache (and with it its own cluster home and warehouse)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        base = os.environ.get("LABKIT_CACHE_DIR", str(_REPO / "datasets" / "cache"))
        if "://" not in base:
            os.environ["LABKIT_CACHE_DIR"] = f"{base.rstrip('/')}/workers/{worker}"


def pytest_itemcollected(item):
    """Marks, set as each item is collected .

    Notebook cells (nbval) and the tests that reuse their results are ``slow``; the latter are also
    ``notebook_results``.
    """
    uses_results = "tiny_report" in getattr(item, "fixturenames", ())
    if item.path.suffix == ".ipynb" or uses_results:
        item.add_marker(pytest.mark.slow)
    if uses_results:
        item.add_marker(pytest.mark.notebook_results)


def pytest_collection_modifyitems(config, items):
    """On an xdist worker: the longest files first (a stable sort: each file's own order is kept)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {name: i for i, name in enumerate(_LONGEST)}
        items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """Whole files to a worker (the cluster's two files as one), in the order collected: see the module docstring."""
    from xdist.scheduler import LoadScopeScheduling

    class _Files(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return _SHARED.get(Path(path).name, path)

    config.option.loadscopereorder = False
    return _Files(config, log)
