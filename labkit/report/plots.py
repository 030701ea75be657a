"""Matplotlib figures the notebooks share. Each returns the Figure, so a notebook can save it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["bars", "histograms", "lines", "projection_bars", "rows_as_lines", "stacked", "task_histogram"]


def task_histogram(durations_ms: Mapping[str, Sequence[float]] | Sequence[float], title: str = "Task durations",
                   bins: int = 30):
    """Histogram of task durations, one layer per variant.

    Parameters
    ----------
    durations_ms : sequence, or mapping of label to sequence
        Task durations in ms (for example ``Measurement.heaviest_stage_tasks_ms``).
    title : str
    bins : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    series = durations_ms if isinstance(durations_ms, Mapping) else {"tasks": durations_ms}
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, values in series.items():
        values = list(values)
        if values:
            ax.hist(values, bins=bins, alpha=0.6, label=f"{label} (n={len(values)}, max={max(values):.0f} ms)")
    ax.set_xlabel("task duration (ms)")
    ax.set_ylabel("tasks")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def projection_bars(projected_ms: Mapping[int, float], measured_ms: float | None = None,
                    title: str = "Stage time projected onto N cores"):
    """Bar chart of projected stage time per core count, with the measured time marked.

    Parameters
    ----------
    projected_ms : mapping of cores to ms
    measured_ms : float, optional
        The time measured here, drawn as a dashed line labelled "measured".
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    cores = list(projected_ms)
    ax.bar([str(c) for c in cores], [projected_ms[c] for c in cores], color="#4c72b0", label="projected")
    if measured_ms is not None:
        ax.axhline(measured_ms, color="#c44e52", linestyle="--", label="measured here")
    ax.set_xlabel("cores")
    ax.set_ylabel("ms")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def lines(frame, x: str, y: str, by: str, title: str = "", xlabel: str | None = None, ylabel: str | None = None,
          logx: bool = False, hline: float | None = None, hline_label: str = "", vline: float | None = None,
          vline_label: str = "", logbase: int = 2):
    """One line per group of a tidy table (for example speedup against skew, one line per technique).

    Parameters
    ----------
    frame : pandas.DataFrame
    x, y, by : str
        Columns for the x axis, the y axis, and the line grouping.
    title, xlabel, ylabel : str
    logx : bool
        Logarithmic x axis (core counts, sizes).
    logbase : int
        Its base: 2 for core counts, 10 for fractions and sizes.
    hline : float, optional
        A horizontal reference line (for example speedup 1 = no gain).
    hline_label : str
    vline : float, optional
        A vertical reference line (for example a configured threshold).
    vline_label : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    for name, part in frame.groupby(by, sort=False):
        part = part.sort_values(x)
        ax.plot(part[x], part[y], marker="o", label=str(name))
    if hline is not None:
        ax.axhline(hline, color="grey", linestyle=":", label=hline_label or None)
    if vline is not None:
        ax.axvline(vline, color="#c44e52", linestyle="--", label=vline_label or None)
    if logx:
        ax.set_xscale("log", base=logbase)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def bars(frame, title: str = "", ylabel: str = "", panels: Mapping[str, Sequence[str]] | None = None,
         stacked: bool = False):
    """Bar charts of a table: one panel per group of columns, one bar group per row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows are the things compared (formats, variants); columns the measures.
    title, ylabel : str
        Used when there is one panel.
    panels : mapping of panel title to column names, optional
        For example ``{"Size on disk (MB)": ["MB on disk"], "Median read (s)": ["full scan s", "2 columns s"]}``;
        one panel with every numeric column by default.
    stacked : bool
        Stack the columns of a panel (parts of a whole, e.g. the memory model).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if frame.empty:
        raise ValueError("bars: the table is empty")
    panels = panels or {title: list(frame.select_dtypes("number").columns)}
    missing = [c for cols in panels.values() for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"bars: no column(s) {missing}; the table has {list(frame.columns)}")
    long_labels = max(len(str(i)) for i in frame.index) > 12
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels) + 2 * long_labels, 3.5 + long_labels),
                             squeeze=False)
    for ax, (name, cols) in zip(axes[0], panels.items(), strict=True):
        frame[list(cols)].plot.bar(ax=ax, rot=20 if long_labels else 0, legend=len(cols) > 1, stacked=stacked)
        if long_labels:
            plt.setp(ax.get_xticklabels(), ha="right")
        ax.set_title(name)
        ax.set_ylabel(ylabel if len(panels) == 1 else "")
    fig.tight_layout()
    return fig


def histograms(series: Mapping[str, Sequence[float]], xlabel: str, bins: int = 30):
    """One histogram panel per labelled series, side by side (e.g. file sizes before and after compaction).

    Parameters
    ----------
    series : mapping of panel title to values
    xlabel : str
    bins : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not series:
        raise ValueError("histograms: give at least one series")
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.2), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items(), strict=True):
        ax.hist(list(values), bins=bins, color="#4c72b0")
        ax.set_title(name)
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def rows_as_lines(frame, columns: Mapping[float, str] | Sequence[str], title: str = "", xlabel: str = "",
                  ylabel: str = "", logx: bool = False, hline: float | None = None, hline_label: str = ""):
    """One line per row of a wide table, across the given columns (for example projected speedup per core count).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per line (its index names the line).
    columns : mapping of x value to column, or sequence of columns
        A sequence uses the positions 1, 2, ... as x values.
    title, xlabel, ylabel, logx, hline, hline_label
        As in :func:`lines`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd

    cols = columns if isinstance(columns, Mapping) else {i + 1: c for i, c in enumerate(columns)}
    missing = [c for c in cols.values() if c not in frame.columns]
    if missing:
        raise ValueError(f"rows_as_lines: no column(s) {missing}; the table has {list(frame.columns)}")
    tidy = pd.DataFrame([{"line": str(name), "x": x, "y": row[c]} for name, row in frame.iterrows()
                         for x, c in cols.items()])
    return lines(tidy, "x", "y", "line", title=title, xlabel=xlabel, ylabel=ylabel, logx=logx, hline=hline,
                 hline_label=hline_label)


def stacked(frame, title: str = "", xlabel: str = "", ylabel: str = "", line: Sequence[float] | None = None,
            line_label: str = ""):
    """A stacked area chart of a table's columns over its index (for example monthly cost by storage class).

    Parameters
    ----------
    frame : pandas.DataFrame
        Index on the x axis; one band per column.
    title, xlabel, ylabel : str
    line : sequence of float, optional
        A reference drawn on top (for example the all-STANDARD bill).
    line_label : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if frame.empty:
        raise ValueError("stacked: the table is empty")
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.stackplot(frame.index, *[frame[c] for c in frame.columns], labels=[str(c) for c in frame.columns], alpha=0.8)
    if line is not None:
        ax.plot(frame.index, list(line), color="black", linestyle="--", label=line_label or None)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
