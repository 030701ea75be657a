import json
import math

import numpy as np
import pytest

from labkit import results


def test_record_before_start_is_an_error(monkeypatch):
    monkeypatch.setattr(results, "_current", {})
    with pytest.raises(RuntimeError, match="results.start"):
        results.record("x", 1)


def test_start_and_record_write_values_with_the_environment(spark, tmp_path):
    path = results.start("00_demo", tmp_path, spark, parameters={"scale": "tiny", "seed": 42})
    results.record("join.skew_ratio", np.float64(7.5), "x", claim="skew-5x", note="tiny scale")
    results.record("rows", np.int64(10))
    results.record("ratio.nan", math.nan)
    results.record("rows", 11)  # a later value of the same key replaces the earlier one
    doc = json.loads(path.read_text())
    assert path == tmp_path / "00_demo.json"
    assert doc["parameters"] == {"scale": "tiny", "seed": 42}
    env = doc["environment"]
    assert env["spark"].startswith("4.") and int(env["java"].split(".")[0]) >= 17
    assert env["master"] == "local[2]" and env["ansi"] == "true" and env["aqe"] == "true"
    assert env["cores"] >= 1 and env["python"].count(".") == 2
    r = doc["results"]
    assert r["join.skew_ratio"]["value"] == 7.5 and r["join.skew_ratio"]["unit"] == "x"
    assert r["join.skew_ratio"]["claim"] == "skew-5x" and r["join.skew_ratio"]["kind"] == "measured"
    assert r["rows"]["value"] == 11 and r["ratio.nan"]["value"] is None
    assert results.load(path)["notebook"] == "00_demo"


def test_bad_records_are_rejected(tmp_path):
    results.start("01_x", tmp_path)
    with pytest.raises(ValueError, match="kind must be one of"):
        results.record("a", 1, kind="guessed")
    with pytest.raises(ValueError, match="non-empty"):
        results.record("", 1)
    with pytest.raises(ValueError, match="plain name"):
        results.start("../escape", tmp_path)


def test_load_rejects_a_file_that_is_not_a_results_file(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a labkit results file"):
        results.load(tmp_path / "x.json")
