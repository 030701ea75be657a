"""Run the Examples sections of labkit's docstrings, with ``spark`` injected.

One test per docstring that has examples: the functions and classes (and their methods) each labkit module defines,
found by doctest's own finder, which skips constants and what a module imports from elsewhere. A docstring whose
``Examples`` section runs nothing fails :func:`test_an_examples_section_runs_an_example`.
"""

import dataclasses
import doctest
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys

import pytest

import labkit

WITH_EXAMPLES = {"labkit.core.datagen.facts", "labkit.core.projection", "labkit.core.session", "labkit.core.args",
                 "labkit.topics.aqe", "labkit.topics.skew"}
MODULES = sorted(m.name for m in pkgutil.walk_packages(labkit.__path__, "labkit.")  # a __main__ is a script
                 if not m.ispkg and not m.name.endswith(("_java", ".__main__")))
_FINDER = doctest.DocTestFinder(exclude_empty=False)
_SECTION = re.compile(r"^\s*Examples\n\s*-{8,}\s*$", re.M)


def _docstrings() -> tuple[list[tuple[str, doctest.DocTest]], dict[str, str]]:
    """(module, test) for every docstring of a module, function, class or method labkit defines, in module order;
    and the modules that do not import, with their error."""
    found, broken = [], {}
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # reported by test_every_module_imports, not as a collection error of this file
            broken[name] = f"{type(exc).__name__}: {exc}"
            continue
        found += [(name, test) for test in _FINDER.find(module, name)]
    return found, broken


_ALL, _BROKEN = _docstrings()


def _runs(test: doctest.DocTest) -> list[doctest.Example]:
    """The examples of a docstring that run (not marked ``+SKIP``)."""
    return [e for e in test.examples if not e.options.get(doctest.SKIP)]


DOCTESTS = [test for _, test in _ALL if _runs(test)]


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples_run(request, test):
    if any("spark" in example.source for example in _runs(test)):
        test.globs["spark"] = request.getfixturevalue("spark")
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS, verbose=False)
    result = runner.run(test, out=report.append)
    assert result.attempted == len(_runs(test)) > 0 and result.failed == 0, "".join(report)


def test_every_module_imports():
    assert not _BROKEN, _BROKEN


def test_an_examples_section_runs_an_example():
    empty = [t.name for _, t in _ALL if t.docstring and _SECTION.search(t.docstring) and not _runs(t)]
    assert not empty, f"an Examples section that runs no example (none, or all +SKIP): {empty}"


def test_the_modules_that_teach_by_example_keep_their_examples():
    def inside(name: str, names) -> bool:  # the module itself, or a module of that package
        return any(n == name or n.startswith(f"{name}.") for n in names)

    gone = sorted(m for m in WITH_EXAMPLES if not inside(m, MODULES))
    assert not gone, f"modules renamed or gone: {gone}"
    have = {name for name, test in _ALL if _runs(test)}
    bare = sorted(m for m in WITH_EXAMPLES if not inside(m, have))
    assert not bare, f"no runnable example left in {bare}"


def _defined_here(module, obj) -> bool:
    """A function or class that ``module`` defines itself (not a constant, not something it re-exports)."""
    return (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == module.__name__


def _own_docstring(obj) -> str | None:
    """The docstring written for ``obj``: not one a class inherits, nor the signature dataclass() fills in."""
    if not inspect.isclass(obj):
        return obj.__doc__
    doc = obj.__dict__.get("__doc__")
    if doc and dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
        return None
    return doc


def test_the_public_api_is_explicit_and_documented():
    undocumented = []
    for name in MODULES:
        module = importlib.import_module(name)
        assert module.__doc__, f"{name} has no module docstring"
        assert hasattr(module, "__all__"), f"{name} has no __all__"
        for attr in module.__all__:
            obj = getattr(module, attr)  # an AttributeError names a stale __all__ entry
            if _defined_here(module, obj) and not _own_docstring(obj):
                undocumented.append(f"{name}.{attr}")
    assert not undocumented, f"public functions and classes without a docstring: {undocumented}"
    for attr in labkit.__all__:
        assert hasattr(labkit, attr)


def test_importing_labkit_starts_no_spark():
    code = ("import labkit, labkit.report, labkit.report.plots, labkit.report.cli; "
            "from pyspark.sql import SparkSession; "
            "assert SparkSession.getActiveSession() is None; "
            "from pyspark import SparkContext; assert SparkContext._active_spark_context is None; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
