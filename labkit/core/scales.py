"""The lab's data scales: how many rows each one means (see DESIGN.md, Scales)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCALES", "Scale", "scale_params"]


@dataclass(frozen=True)
class Scale:
    """Sizes a notebook uses at one scale."""

    name: str
    rows: int  # fact rows
    customers: int  # distinct customer keys
    products: int  # distinct products
    repeats: int  # measured rounds per variant after one warm-up (1: a smoke run, without warm-up; small: 2, a quick
    # look; medium and large: 3, the reference)


SCALES = {
    "tiny": Scale("tiny", rows=10_000, customers=500, products=200, repeats=1),
    "small": Scale("small", rows=1_000_000, customers=20_000, products=2_000, repeats=2),
    "medium": Scale("medium", rows=10_000_000, customers=200_000, products=20_000, repeats=3),
    "large": Scale("large", rows=100_000_000, customers=2_000_000, products=200_000, repeats=3),
}


def scale_params(scale: str) -> Scale:
    """The sizes for a scale name.

    Parameters
    ----------
    scale : {"tiny", "small", "medium", "large"}

    Returns
    -------
    Scale

    Raises
    ------
    ValueError
        For an unknown scale name (the message lists the known ones).
    """
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}") from None
