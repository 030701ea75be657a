import json
import math

import numpy as np
import pytest

from labkit.core import results
from labkit.core.results import Recorder


def test_open_and_record_write_values_with_the_environment(spark, tmp_path):
    rec = Recorder.open("00_demo", tmp_path, spark, parameters={"scale": "tiny", "seed": 42})
    rec.record("join.skew_ratio", np.float64(7.5), "x", claim="skew-5x", note="tiny scale")
    rec.record("rows", np.int64(10))
    rec.record("ratio.nan", math.nan)
    rec.record("rows", 11)  # a later value of the same key replaces the earlier one
    doc = json.loads(rec.path.read_text())
    assert rec.path == tmp_path / "00_demo.json"
    assert doc["parameters"] == {"scale": "tiny", "seed": 42}
    env = doc["environment"]
    assert env["spark"].startswith("4.") and int(env["java"].split(".")[0]) >= 17
    assert env["master"] == "local[2]" and env["ansi"] == "true" and env["aqe"] == "true"
    assert env["cores"] >= 1 and env["python"].count(".") == 2
    r = doc["results"]
    assert r["join.skew_ratio"]["value"] == 7.5 and r["join.skew_ratio"]["unit"] == "x"
    assert r["join.skew_ratio"]["claim"] == "skew-5x" and r["join.skew_ratio"]["kind"] == "measured"
    assert r["rows"]["value"] == 11 and r["ratio.nan"]["value"] is None
    assert results.load(rec.path)["notebook"] == "00_demo"
    assert set(rec.results) == {"join.skew_ratio", "rows", "ratio.nan"}


def test_two_recorders_in_one_process_each_write_their_own_file(tmp_path):
    first = Recorder.open("01_first", tmp_path / "a")
    second = Recorder.open("02_second", tmp_path / "b")
    first.record("only.first", 1)  # written after the second recorder opened: still into the first file
    second.record("only.second", 2)
    assert list(results.load(first.path)["results"]) == ["only.first"]
    assert list(results.load(second.path)["results"]) == ["only.second"]


def test_bad_records_are_rejected(tmp_path):
    rec = Recorder.open("01_x", tmp_path)
    with pytest.raises(ValueError, match="kind must be one of"):
        rec.record("a", 1, kind="guessed")
    with pytest.raises(ValueError, match="non-empty"):
        rec.record("", 1)
    with pytest.raises(ValueError, match=r"spread of 'a' must be \(low, high\)"):
        rec.record("a", 1.0, spread=(1.0, math.nan))
    for bad in ("../escape", "", ".."):
        with pytest.raises(ValueError, match="plain name"):
            Recorder.open(bad, tmp_path)
    assert results.load(rec.path)["results"] == {}  # nothing half-recorded


def test_load_rejects_a_file_that_is_not_a_results_file(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a labkit results file"):
        results.load(tmp_path / "x.json")
