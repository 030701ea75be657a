"""``labkit drill`` driven by scripted input in a subprocess, and its Leitner schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import pytest

from labkit.report.answers import catalogue
from labkit.report.drill import Schedule, cards
from labkit.report.html import load_runs
from labkit.report.reference import DEFAULT


def _drill(tmp_path, *args, stdin=""):
    return subprocess.run([sys.executable, "-m", "labkit.report.cli", "drill", "--results", str(DEFAULT),
                           "--state", str(tmp_path / "drill.json"), "--seed", "0", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_a_question_shows_its_answer_only_after_enter_and_the_marks_are_saved(tmp_path):
    questions = [q for q in catalogue() if q.notebook.startswith("02")][:2]
    assert len(questions) == 2
    out = _drill(tmp_path, "--topic", "02", "--kind", "question", "--count", "2", stdin="my answer\ny\n\nn\n")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "2 of 2 cards due" in text and "shown 2: known 1, missed 1" in text
    for q in questions:
        asked = text.index(q.question[:40])
        prompt = text.index("press Enter", asked)
        assert text.index(q.answer.split()[0], prompt) > prompt  # the answer comes after the prompt, not with it
    state = json.loads((tmp_path / "drill.json").read_text())["cards"]
    today = date.today()
    assert sorted((v["box"], v["due"]) for v in state.values()) == [
        (0, today.isoformat()), (1, (today + timedelta(days=1)).isoformat())]
    again = _drill(tmp_path, "--topic", "02", "--kind", "question", stdin="\ny\n")
    assert "1 of 2 cards due" in again.stdout  # only the missed one comes back today


def test_a_prediction_is_answered_with_the_measurement_and_the_verdict_and_kept(tmp_path):
    out = _drill(tmp_path, "--topic", "02", "--kind", "predict", "--count", "1", stdin="not a number\n5\n")
    assert out.returncode == 0, out.stderr
    assert "Please enter a number" in out.stdout and "measured here:" in out.stdout and "verdict:" in out.stdout
    (kept,) = json.loads((tmp_path / "drill.json").read_text())["predictions"]
    measured = {c.claim.id: c.measured for c in cards(load_runs(DEFAULT), topic="02") if c.kind == "predict"}
    assert kept["guess"] == 5.0 and kept["measured"] == measured[kept["claim"]]


def test_end_of_input_stops_cleanly_and_bad_arguments_name_themselves(tmp_path):
    out = _drill(tmp_path, "--kind", "question", "--count", "3", stdin="")
    assert out.returncode == 0 and "stopped; what you marked is saved" in out.stdout
    bad = _drill(tmp_path, "--topic", "77")
    assert bad.returncode == 2 and "no cards for topic '77'" in bad.stderr
    (tmp_path / "drill.json").write_text("[1, 2]")
    broken = _drill(tmp_path)
    assert broken.returncode == 2 and "is not a drill state file" in broken.stderr


def test_the_schedule_moves_known_cards_up_a_box_and_sends_missed_ones_back(tmp_path):
    day = date(2026, 1, 1)
    s = Schedule(tmp_path / "s.json", today=day)
    assert s.due("a") == day  # never seen: due now
    s.mark("a", True)
    s.mark("a", True)
    s.mark("a", True)
    assert s.state["cards"]["a"] == {"box": 3, "due": (day + timedelta(days=4)).isoformat()}
    s.mark("a", False)
    assert s.state["cards"]["a"] == {"box": 0, "due": day.isoformat()}
    s.save()
    assert Schedule(tmp_path / "s.json", today=day).state["cards"]["a"]["box"] == 0
    with pytest.raises(ValueError, match="count must be at least 1"):
        from labkit.report.drill import drill

        drill(DEFAULT, tmp_path / "s.json", count=0)
