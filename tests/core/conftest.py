"""Fixtures of the core tests."""

from __future__ import annotations

import dataclasses

import pytest

from labkit.core.measure import Measurement

# every field a Measurement must be given, each at a neutral value: a test names only the fields it is about
_NEUTRAL = {f.name: None if f.name in ("heaviest_stage", "shuffle_stage") else 0
            for f in dataclasses.fields(Measurement)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


@pytest.fixture
def make_measurement():
    """A factory of :class:`Measurement` built with keywords: ``make_measurement(label="a", wall_s=2.0)``."""

    def make(**fields) -> Measurement:
        unknown = set(fields) - {f.name for f in dataclasses.fields(Measurement)}
        if unknown:
            raise TypeError(f"make_measurement: Measurement has no field(s) {sorted(unknown)}")
        return Measurement(**{**_NEUTRAL, "label": "run", "wall_s": 0.0, **fields})

    return make
