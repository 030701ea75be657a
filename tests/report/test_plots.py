import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from labkit.report import plots  # noqa: E402


def test_lines_draws_one_line_per_group_with_the_values_given():
    frame = pd.DataFrame({"x": [1, 2, 1, 2], "y": [1.0, 2.0, 3.0, 5.0], "v": ["a", "a", "b", "b"]})
    fig = plots.lines(frame, "x", "y", "v", hline=1.0)
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label() in ("a", "b")]
    assert [list(ln.get_ydata()) for ln in lines] == [[1.0, 2.0], [3.0, 5.0]]


def test_bars_has_one_panel_per_group_and_names_missing_columns():
    frame = pd.DataFrame({"mb": [3.0, 1.0], "s": [2.0, 0.5]}, index=["csv", "parquet"])
    fig = plots.bars(frame, panels={"size": ["mb"], "time": ["s"]})
    assert len(fig.axes) == 2 and [p.get_height() for p in fig.axes[0].patches] == [3.0, 1.0]
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        plots.bars(frame, panels={"x": ["nope"]})
    with pytest.raises(ValueError, match="empty"):
        plots.bars(frame.iloc[0:0])


def test_histograms_and_task_histogram_count_every_value():
    fig = plots.histograms({"before": [1, 2, 3, 4], "after": [10]}, "KB")
    assert sum(p.get_height() for p in fig.axes[0].patches) == 4
    assert sum(p.get_height() for p in fig.axes[1].patches) == 1
    with pytest.raises(ValueError, match="at least one"):
        plots.histograms({}, "KB")
    fig = plots.task_histogram({"join": [5, 5, 100]}, bins=3)
    assert sum(p.get_height() for p in fig.axes[0].patches) == 3
    assert "max=100 ms" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_projection_bars_marks_the_measured_time():
    fig = plots.projection_bars({2: 100.0, 8: 40.0}, measured_ms=110.0)
    assert [p.get_height() for p in fig.axes[0].patches] == [100.0, 40.0]
    assert any(ln.get_ydata()[0] == 110.0 for ln in fig.axes[0].get_lines())
