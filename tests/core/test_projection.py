import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.core.projection import (
    balance,
    bounds_ms,
    floor_ms,
    limiting_stages,
    project_job,
    project_makespan,
    projected_speedup,
)

durations = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200)
cores = st.integers(min_value=1, max_value=128)


@given(durations, cores)
def test_makespan_is_at_least_the_longest_task(tasks, n):
    assert project_makespan(tasks, n) >= max(tasks)


@given(durations, cores)
def test_makespan_is_at_least_the_work_spread_over_the_cores(tasks, n):
    assert project_makespan(tasks, n) >= sum(tasks) / n * (1 - 1e-9)


@given(durations, cores)
def test_makespan_is_at_most_the_spread_work_plus_the_longest_task(tasks, n):
    assert project_makespan(tasks, n) <= sum(tasks) / n + max(tasks) + 1e-6


@given(durations)
def test_one_core_runs_everything_in_series_and_enough_cores_run_all_at_once(tasks):
    assert project_makespan(tasks, 1) == pytest.approx(sum(tasks))
    assert project_makespan(tasks, len(tasks)) == max(tasks)


def test_one_hot_task_bounds_the_stage_however_many_cores():
    tasks = [800] + [10] * 20  # 80% of the work in one task
    assert project_makespan(tasks, 64) == 800
    assert project_makespan(tasks, 2) == 800  # the other core does the 200 ms of the rest meanwhile


def test_list_scheduling_follows_the_launch_order():
    assert project_makespan([1, 1, 4], 2) == 5  # the 4 ms task starts last, on the first free core
    assert project_makespan([4, 1, 1], 2) == 4


def test_project_job_sums_stages_and_speedup_compares_two_jobs():
    before = {1: [10, 10], 2: [100, 10, 10, 10]}
    after = {1: [10, 10], 2: [40, 40, 25, 25]}
    assert project_job(before, 4) == 10 + 100
    assert project_job(after, 4) == 10 + 40
    assert projected_speedup(before, after, [4]) == {4: pytest.approx(110 / 50)}


@pytest.mark.parametrize("n", [0, -2, 1.5, True])
def test_bad_core_counts_are_rejected(n):
    with pytest.raises(ValueError, match="cores must be an integer"):
        project_makespan([1, 2], n)


def test_negative_durations_are_rejected():
    with pytest.raises(ValueError, match=">= 0"):
        project_makespan([1, -2], 2)


def test_limits_floor_and_balance_name_the_coarse_stages():
    stages = {3: [10.0] * 4, 5: [1.0] * 256}
    assert limiting_stages(stages, 64) == ["stage 3 (4 tasks)"]
    assert limiting_stages(stages, 2) == []
    assert floor_ms({0: [9, 1, 1, 1]}, 2) == 9.0  # the indivisible task
    assert floor_ms({0: [2, 2, 2, 2]}, 2) == 4.0  # the balanced time
    assert balance([2, 2, 2, 2], 2, 8.0) == 0.5 and balance([2, 2], 2, 0.0) != balance([2, 2], 2, 0.0)  # nan


jobs = st.dictionaries(st.integers(0, 20), durations, min_size=1, max_size=6)


@given(jobs, cores)
def test_every_projection_lies_between_the_bounds_and_infinite_cores_reach_the_critical_path(stages, n):
    """Sparklens' bounds from the same tasks: the list-scheduling projection never beats them, nor exceeds one core."""
    b = bounds_ms(stages, n)
    projected, eps = project_job(stages, n), 1e-6 * (1 + b["one_core"])
    assert max(b["critical_path"], b["perfect"]) - eps <= projected <= b["one_core"] + eps
    assert abs(project_job(stages, max(len(t) for t in stages.values())) - b["critical_path"]) <= eps  # a core each
    assert abs(project_job(stages, 1) - b["one_core"]) <= eps and floor_ms(stages, n) <= projected + eps


def test_bounds_add_the_driver_time_and_refuse_bad_input():
    assert bounds_ms({0: [3, 1], 1: [2]}, 2, driver_ms=5) == {"critical_path": 10.0, "perfect": 8.0, "one_core": 11.0}
    with pytest.raises(ValueError, match="cores"):
        bounds_ms({0: [1]}, 0)
    with pytest.raises(ValueError, match="driver_ms"):
        bounds_ms({0: [1]}, 1, driver_ms=-1)
