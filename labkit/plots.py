"""Matplotlib figures the notebooks share. Each returns the Figure, so a notebook can save it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["projection_bars", "task_histogram"]


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
