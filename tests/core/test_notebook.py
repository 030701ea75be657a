import json

import matplotlib
import pytest

from labkit.core import notebook

matplotlib.use("Agg")


def _params(tmp_path, **extra):
    return dict(scale="tiny", seed=7, spark_master="local[2]", output_dir=str(tmp_path), **extra)


def test_start_records_every_parameter_and_the_environment(spark, tmp_path, cache_root):
    lab = notebook.start("99_probe", _params(tmp_path, check_rows=123, lake_root=""))
    doc = json.loads((tmp_path / "99_probe.json").read_text())
    assert doc["parameters"] == _params(tmp_path, check_rows=123, lake_root="")
    assert doc["environment"]["master"] == spark.sparkContext.master
    assert lab.spark is spark and lab.size.name == "tiny" and lab.seed == 7
    lab.record("x", 1.5, "x", note="n")
    assert json.loads((tmp_path / "99_probe.json").read_text())["results"]["x"]["value"] == 1.5


def test_start_rejects_a_bad_name_missing_parameters_and_an_unknown_scale(tmp_path):
    with pytest.raises(ValueError, match="must look like"):
        notebook.start("probe", _params(tmp_path))
    with pytest.raises(ValueError, match=r"lack \['seed'\]"):
        notebook.start("99_probe", {k: v for k, v in _params(tmp_path).items() if k != "seed"})
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        notebook.start("99_probe", {**_params(tmp_path), "scale": "huge"})


def test_savefig_names_the_file_after_the_notebook_and_the_tag(spark, tmp_path, cache_root):
    import matplotlib.pyplot as plt

    lab = notebook.start("99_probe", _params(tmp_path))
    fig, _ = plt.subplots()
    assert lab.savefig(fig, "speedup_vs_skew") == tmp_path / "99_probe.speedup_vs_skew.png"
    assert (tmp_path / "99_probe.speedup_vs_skew.png").stat().st_size > 0
    with pytest.raises(ValueError, match="tag must be"):
        lab.savefig(fig, "Bad Tag")


def test_facts_and_dims_come_from_the_cache_at_the_notebooks_scale(spark, tmp_path, cache_root):
    lab = notebook.start("99_probe", _params(tmp_path))
    facts = lab.facts()
    assert facts.count() == lab.size.rows and lab.dims().count() == lab.size.customers
    assert any(cache_root.iterdir())  # written to the (test's private) cache


def test_record_speedup_keeps_the_spread_and_names_a_missing_column(tmp_path):
    import pandas as pd

    lab = notebook.Lab.__new__(notebook.Lab)  # record_speedup only needs record
    got = {}
    lab.record = lambda key, value, unit=None, claim=None, **kw: got.update(key=key, value=value, unit=unit, **kw)
    lab.record_speedup("k", pd.Series({"speedup": 2.0, "speedup_lo": 1.5, "speedup_hi": 2.5}), "c", note="n")
    assert got == {"key": "k", "value": 2.0, "unit": "x", "note": "n", "spread": (1.5, 2.5)}
    with pytest.raises(ValueError, match="speedup_lo"):
        lab.record_speedup("k", pd.Series({"speedup": 2.0}))


def test_two_labs_in_one_process_each_write_their_own_file(spark, tmp_path, cache_root):
    first = notebook.start("98_first", _params(tmp_path / "a"))
    second = notebook.start("99_second", _params(tmp_path / "b"))
    first.record("only.first", 1.0)  # after the second lab started: still the first lab's file
    second.record("only.second", 2.0)
    assert list(json.loads((tmp_path / "a" / "98_first.json").read_text())["results"]) == ["only.first"]
    assert list(json.loads((tmp_path / "b" / "99_second.json").read_text())["results"]) == ["only.second"]


def test_each_lab_registers_one_exit_hook_and_close_removes_it(spark, tmp_path, cache_root, monkeypatch):
    hooks = []
    monkeypatch.setattr(notebook.atexit, "register", hooks.append)
    monkeypatch.setattr(notebook.atexit, "unregister", hooks.remove)
    stopped = []
    monkeypatch.setattr(notebook, "_stop", stopped.append)
    lab = notebook.start("99_probe", _params(tmp_path))
    other = notebook.start("98_other", _params(tmp_path))
    assert hooks == [lab._stop_at_exit, other._stop_at_exit]
    lab.close()
    lab.close()  # twice: nothing more
    assert hooks == [other._stop_at_exit] and stopped == [spark]
    hooks[0]()  # the exit hook of a lab never closed stops its session
    assert stopped == [spark, spark]


def test_a_lab_without_a_recorder_says_so():
    lab = notebook.Lab("99_probe", None, None, None, {})
    with pytest.raises(RuntimeError, match="99_probe: this Lab has no results file"):
        lab.record("x", 1)


def test_record_statement_stores_a_computed_boolean_under_its_key_and_refuses_anything_else():
    import numpy as np

    lab = notebook.Lab.__new__(notebook.Lab)
    got = []
    lab.record = lambda key, value, unit=None, claim=None, **kw: got.append((key, value, claim, kw.get("note")))
    lab.record_statement("dq-x", np.bool_(False), "plan shows it")
    lab.record_statement("dq-y", True)
    assert got == [("statement.dq-x", False, "dq-x", "plan shows it"), ("statement.dq-y", True, "dq-y", None)]
    assert type(got[0][1]) is bool  # stored as JSON's false, not numpy's
    for bad in (0, 1, "False", None):
        with pytest.raises(TypeError, match="holds must be True or False"):
            lab.record_statement("dq-x", bad)


_KILLED = """
import os, signal, sys
from labkit.core import notebook
lab = notebook.start("99_probe", dict(scale="tiny", seed=1, spark_master="local[1]", output_dir=sys.argv[1]))
assert lab.spark.range(1000).selectExpr("id % 7 AS k").groupBy("k").count().count() == 7
lab.close() if sys.argv[2] == "close" else lab.spark.stop()
os.killpg(0, signal.SIGKILL)  # what nbval and a kernel restart do to a kernel's process group
"""


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["stop", "close"])
def test_lab_close_ends_the_jvm_so_a_killed_kernel_leaves_no_temp_folders(tmp_path, ending):
    import os
    import subprocess
    import sys

    jtmp = tmp_path / "java-tmp"
    jtmp.mkdir()
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={jtmp}", "SPARK_LOCAL_DIRS": str(jtmp)}
    out = subprocess.run([sys.executable, "-c", _KILLED, str(tmp_path), ending], env=env, capture_output=True,
                         text=True, timeout=180, start_new_session=True)
    assert out.returncode == -9, out.stderr[-2000:]
    left = sorted(p.name.split("-")[0] for p in jtmp.iterdir())
    if ending == "stop":  # the control: spark.stop() alone leaves the JVM to be killed with its folders
        assert "spark" in left and "artifacts" in left, left
    else:  # lab.close() ends the JVM first; its shutdown hooks remove them
        assert left == [], left
