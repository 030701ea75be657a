"""Run the Examples sections of labkit's docstrings, with ``spark`` injected."""

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import labkit

WITH_EXAMPLES = {"labkit.core.datagen", "labkit.core.projection", "labkit.core.session", "labkit.core.args",
                 "labkit.topics.aqe", "labkit.topics.skew"}
MODULES = sorted(m.name for m in pkgutil.walk_packages(labkit.__path__, "labkit.")
                 if not m.ispkg and not m.name.endswith("_java"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(spark, name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"spark": spark}, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    if name in WITH_EXAMPLES:
        assert result.attempted > 0, f"{name} should have runnable examples"


def test_the_public_api_is_explicit_and_documented():
    for name in MODULES:
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} has no __all__"
        for attr in module.__all__:
            obj = getattr(module, attr)
            assert getattr(obj, "__doc__", None), f"{name}.{attr} has no docstring"
    for attr in labkit.__all__:
        assert hasattr(labkit, attr)


def test_importing_labkit_starts_no_spark():
    code = ("import labkit, labkit.report, labkit.report.plots, labkit.report.cli; "
            "from pyspark.sql import SparkSession; "
            "assert SparkSession.getActiveSession() is None; "
            "from pyspark import SparkContext; assert SparkContext._active_spark_context is None; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
