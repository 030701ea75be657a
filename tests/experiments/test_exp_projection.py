"""labkit.experiments.projection.validate: the projection's error, measured on two masters in one child JVM."""

from __future__ import annotations

import json

import pytest

from labkit.experiments import projection as projection_exp
from labkit.tools import child
from labkit.tools.child import ChildRun


def _fake_child(monkeypatch, answer):
    """run_child replaced: the child answers ``answer``; each call's module, masters and timeout are recorded."""
    asked = []

    def fake(module, args, **kw):
        asked.append((module, json.loads(args[0])["masters"], kw["timeout_s"]))
        return answer

    monkeypatch.setattr(projection_exp, "run_child", fake)
    return asked


def _line(master, stage_tasks_ms, stage_wall_ms, wall_ms=1.0):
    """One master's report line, as the child prints it."""
    return json.dumps({"master": master, "wall_ms": wall_ms, "stage_tasks_ms": stage_tasks_ms,
                       "stage_wall_ms": stage_wall_ms})


def _ran(*lines, returncode=0, timed_out=False):
    return ChildRun(None if timed_out else returncode, "some log line\n{not json\n" + "\n".join(lines) + "\n", "",
                    timed_out, 1.0, 1)


def test_validate_projects_one_core_tasks_and_compares_with_the_measured_run(monkeypatch):
    asked = _fake_child(monkeypatch, _ran(
        _line("local[1]", {"0": [4, 4, 4], "1": [10, 2, 2, 2, 2, 2, 2, 2]}, {"0": 12, "1": 24}),
        _line("local[2]", {"0": [5, 5, 5, 5], "1": [11, 3, 3, 3, 3, 3, 3, 3]}, {"0": 10, "1": 15}, wall_ms=30)))
    out = projection_exp.validate(100, 10, cores=2, timeout=7)
    # one child, one JVM: local[1] measured first, then local[2]; the timeout passed on
    assert [a[1] for a in asked] == [["local[1]", "local[2]"]] and {a[2] for a in asked} == {7}
    assert asked[0][0] == "labkit.experiments.projection"
    assert out["projected_ms"] == 8 + 12  # stage 0: 4, then 4 on one core; stage 1: 10, then 2
    assert out["measured_ms"] == 25 and out["error"] == pytest.approx(20 / 25 - 1)
    assert out["one_core_ms"] == 36 and out["measured_wall_ms"] == 30 and out["partitions"] == 8
    assert out["limited_by"] == ["stage 0 (3 tasks)"]  # under 2N tasks


def test_a_failed_child_names_its_master_and_its_last_lines(monkeypatch):
    _fake_child(monkeypatch, ChildRun(1, "", "Traceback ...\nBoom: no JVM", False, 1.0, 1))
    with pytest.raises(RuntimeError, match=r"the local\[1\] child failed \(exit 1\):\nTraceback ...\nBoom: no JVM"):
        projection_exp.validate(100, 10)


def test_a_child_that_fails_after_its_first_master_names_the_second(monkeypatch):
    _fake_child(monkeypatch, ChildRun(1, _line("local[1]", {"0": [1, 1]}, {"0": 2}), "Boom", False, 1.0, 1))
    with pytest.raises(RuntimeError, match=r"the local\[2\] child failed \(exit 1\):\nBoom"):
        projection_exp.validate(100, 10)


def test_a_child_that_times_out_is_named_with_its_timeout(monkeypatch):
    _fake_child(monkeypatch, _ran(_line("local[1]", {"0": [1, 1]}, {"0": 2}), "started", timed_out=True))
    with pytest.raises(RuntimeError, match=r"the local\[2\] child did not finish in 9 s \(killed\)"):
        projection_exp.validate(100, 10, timeout=9)


@pytest.mark.slow
def test_validate_measures_a_projected_and_a_measured_time_and_the_error_between():
    out = projection_exp.validate(20_000, 200, cores=2, repeats=1, timeout=600)  # both masters, one child
    assert out["projected_ms"] > 0 and out["measured_ms"] > 0 and out["one_core_ms"] > 0
    assert out["error"] == pytest.approx(out["projected_ms"] / out["measured_ms"] - 1)
    assert out["partitions"] == 8 and out["limited_by"] == []
    assert out["error"] > -0.9 and out["error"] < 9  # the same job, within an order of magnitude


def test_run_child_is_the_runner_it_uses():
    assert projection_exp.run_child is child.run_child
