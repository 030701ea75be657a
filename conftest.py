"""Root conftest: what applies to the notebooks (nbval) and the tests alike.

``make test`` runs the suite on parallel workers (pytest-xdist, ``-n JOBS``): each worker is one process with its
own SparkSession, its own dataset cache (no two processes write one cached dataset), and with it its own cluster home
and warehouse. The scheduler below hands out whole files: a notebook's cells stay on one worker, in order, in one
kernel; so do the tests of one file, and the files of one family (``_FAMILIES``: one outside resource or one
warm-up). The longest files go first, so no long file starts last. The tests that read the notebooks' results
(``tiny_report``) are marked ``notebook_results``; make test runs them in a second pytest call, after the notebooks.

Durations
---------
``tests/durations.json`` holds each test's measured seconds (set-up, call and tear-down), written by
``make durations`` (``pytest --write-durations tests/durations.json``, the whole suite on the usual workers). It
decides two things, so neither is a hand-kept list: the order files are handed out (longest total first), and the
``slow`` mark: a test measured at more than ``SLOW_SECONDS`` is ``slow``, so ``pytest -m "not slow"`` is the fast
loop. A test not in the file yet (a new one) counts as fast until the file is written again.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from labkit.core.paths import REPO as _REPO  # importing labkit starts no JVM

# Files run on one worker when their tests share one outside resource (the standalone cluster's ports and processes),
# or one costly warm-up of the worker's JVM. Measured in one session on an idle machine: the first pipeline run took
# 26.5 s against 6.6-8.5 s for the next four (its CSV read through dq.read_csv_accounted 19.9 s against 2-3 s), the
# first leak check 25 s against 7.5 s; a family on one worker pays that once, not once per worker.
_FAMILIES = {"cluster": ("test_cluster.py", "test_adv_cluster.py"),
             "csv": ("test_adv_pipeline.py", "test_pipeline.py", "test_ops.py", "test_adv_csv.py", "test_dq.py",
                     "test_exp_dq.py", "test_adv_dq_lessons.py"),
             "phi": ("test_phi.py", "test_adv_phi_leaks.py", "test_adv_phi_lessons.py", "test_exp_phi.py",
                     "test_adv_phi_keys.py", "test_adv_safe_harbor.py")}
_SHARED = {name: family for family, names in _FAMILIES.items() for name in names}

# Every JVM a test starts (the session, notebook kernels' sessions, child JVMs, cluster daemons) is short-lived and
# CPU-bound on 2 cores: C2's optimising compiler spends more CPU compiling than its code saves before the JVM ends.
# Measured on tests/topics/test_skew.py alone, idle 2-core machine: 172 -> 103 busy CPU seconds, 99 -> 77 s wall.
# The tests only; the report's measurements run on the JVM's default compilers. LABKIT_TEST_FULL_JIT=1 opts out.
# C1 alone gets the 48 MB code cache of a non-tiered JVM, which a session JVM fills within a minute ("CodeCache is
# full. Compiler has been disabled": the rest runs interpreted); 240 MB is the tiered default.
_TEST_JIT = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
if os.environ.get("LABKIT_TEST_FULL_JIT") != "1" and _TEST_JIT not in os.environ.get("JDK_JAVA_OPTIONS", ""):
    os.environ["JDK_JAVA_OPTIONS"] = f"{os.environ.get('JDK_JAVA_OPTIONS', '')} {_TEST_JIT}".strip()

DURATIONS = _REPO / "tests" / "durations.json"
SLOW_SECONDS = 0.7  # measured under make test's parallel run; 1.0 let the C1 run's fast loop reach 2 min 2 s


def _durations() -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except FileNotFoundError:
        return {}


_MEASURED = _durations()


def pytest_addoption(parser):
    parser.addoption("--write-durations", metavar="PATH", default=None,
                     help="write each test's measured seconds (set-up + call + tear-down) to PATH as JSON")


def pytest_configure(config):
    """Give each xdist worker its own dataset cache (and with it its own cluster home and warehouse)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        base = os.environ.get("LABKIT_CACHE_DIR", str(_REPO / "datasets" / "cache"))
        if "://" not in base:
            os.environ["LABKIT_CACHE_DIR"] = f"{base.rstrip('/')}/workers/{worker}"
    path = config.getoption("--write-durations")
    if path and not worker:
        config.pluginmanager.register(_DurationWriter(Path(path)), "labkit-durations")


class _DurationWriter:
    """Sums each test's phases as their reports arrive (on the controller under xdist); writes them at the end."""

    def __init__(self, path: Path):
        self.path, self.seconds = path, defaultdict(float)

    def pytest_runtest_logreport(self, report):
        self.seconds[report.nodeid] += report.duration

    def pytest_sessionfinish(self, session):
        old = _durations() if self.path.resolve() == DURATIONS.resolve() else {}
        new = {**old, **{k: round(v, 2) for k, v in self.seconds.items()}}
        self.path.write_text(json.dumps(dict(sorted(new.items())), indent=0) + "\n")


def pytest_itemcollected(item):
    """Marks, set as each item is collected.

    Notebook cells (nbval), the tests that reuse their results, and every test measured at more than
    ``SLOW_SECONDS`` are ``slow``; the tests that reuse the notebooks' results are also ``notebook_results``.
    """
    uses_results = "tiny_report" in getattr(item, "fixturenames", ())
    if item.path.suffix == ".ipynb" or uses_results or _MEASURED.get(item.nodeid, 0.0) > SLOW_SECONDS:
        item.add_marker(pytest.mark.slow)
    if uses_results:
        item.add_marker(pytest.mark.notebook_results)


def _scope(nodeid: str) -> str:
    """The unit the scheduler hands out: a file, or the shared resource its tests use."""
    path = nodeid.split("::", 1)[0]
    return _SHARED.get(Path(path).name, path)


# Notebook 07 runs once per session: tests/adversarial/test_adv_report.py runs it through the report runner (with a
# known key, then scans every file of that run), which fails if any cell fails as nbval would, and hands its results
# on to reports/scratch for the tests that read the notebooks' results. When that file is collected, nbval's cells of
# notebook 07 are deselected; run on its own, the notebook is still an nbval item.
_RUN_ELSEWHERE = {"07_phi_masking.ipynb": "test_adv_report.py"}


def pytest_collection_modifyitems(config, items):
    """Notebook 07 once (see ``_RUN_ELSEWHERE``); on an xdist worker, files with the longest measured total first."""
    names = {item.path.name for item in items}
    gone = [item for item in items if _RUN_ELSEWHERE.get(item.path.name) in names]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = [item for item in items if item not in gone]
    if os.environ.get("PYTEST_XDIST_WORKER"):
        total = defaultdict(float)
        for item in items:
            total[_scope(item.nodeid)] += _MEASURED.get(item.nodeid, 0.0)
        items.sort(key=lambda item: -total[_scope(item.nodeid)])


def pytest_xdist_make_scheduler(config, log):
    """Whole files to a worker (a family of files as one, ``_FAMILIES``), in the order collected (module docstring)."""
    from xdist.scheduler import LoadScopeScheduling

    class _Files(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    config.option.loadscopereorder = False
    return _Files(config, log)
