"""The question catalogue and ``answers.html``: one entry per guide question a notebook answers, each pointing at
cells that exist, its numbers read from a run, its answer hidden until clicked (checked in headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from labkit.report import answers
from labkit.report.answers import CatalogueError, Question, catalogue, guide_questions, numbers_to_quote
from labkit.report.model import NOTEBOOKS
from labkit.report.reference import DEFAULT, write_reference_answers

PRESENT = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}


@pytest.fixture(scope="module")
def entries() -> list[Question]:
    return catalogue()


def test_every_guide_question_a_notebook_answers_has_exactly_one_entry(entries):
    homes: dict[str, list[str]] = {}
    for q in entries:
        for key in q.guide:
            homes.setdefault(key, []).append(q.id)
    missing = [k for k in guide_questions(PRESENT) if k not in homes]
    assert not missing, f"guide questions a notebook answers but no catalogue entry names: {missing}"
    assert {k: v for k, v in homes.items() if len(v) > 1} == {}  # one home each


def test_every_entry_has_an_answer_and_its_cells_exist_in_its_notebook(entries):
    assert len(entries) >= len(guide_questions(PRESENT))
    for q in entries:
        cells = {c.get("id"): c for c in json.loads((NOTEBOOKS / f"{q.notebook}.ipynb").read_text())["cells"]}
        assert cells[q.cell]["cell_type"] == "markdown" and "question" in cells[q.cell]["metadata"]["tags"]
        assert cells[q.proof]["cell_type"] == "code", q.id
        assert len(q.answer.split()) >= 40, f"{q.id}: a 30-second answer, not a line"
        assert not re.search(r"<[a-z]", q.answer), f"{q.id}: raw HTML in an answer"


def _notebook(tmp_path: Path, cells: list[dict]) -> Path:
    folder = tmp_path / "nbs"
    folder.mkdir(exist_ok=True)
    for i, c in enumerate(cells):
        c.setdefault("id", f"c{i}")
        c.setdefault("metadata", {})
        c.setdefault("source", "")
    (folder / "50_x.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                   "nbformat_minor": 5}))
    return folder


def _question(**meta) -> dict:
    return {"cell_type": "markdown", "source": "## 1. Interview question: Why?",
            "metadata": {"tags": ["question"], "labkit": {"question": {"id": "why", "proof": "code", **meta}}}}


ANSWER = {"cell_type": "markdown", "metadata": {"tags": ["answer"]},
          "source": "<details><summary>The 30-second answer</summary>\n\nBecause.\n\n</details>"}
FOLLOW = {"cell_type": "markdown", "metadata": {"tags": ["followup"]},
          "source": "<details><summary><b>Follow-up:</b> And then?</summary>\n\nThen this.\n</details>"}
CODE = {"cell_type": "code", "id": "code", "source": "1 + 1", "outputs": [], "execution_count": None}


def test_a_well_formed_block_is_read_with_its_followups(tmp_path):
    folder = _notebook(tmp_path, [_question(guide=["What is PHI Data"], claims=["phi-18-identifiers"]), ANSWER,
                                  FOLLOW, CODE])
    (q,) = catalogue(folder)
    assert (q.question, q.answer, q.followups) == ("Why?", "Because.", (("And then?", "Then this."),))
    assert (q.notebook, q.cell, q.proof, q.guide) == ("50_x", "c0", "code", ("What is PHI Data",))


@pytest.mark.parametrize(("cells", "words"), [
    ([_question(), CODE], "no cell tagged 'answer'"),
    ([_question(proof="nope"), ANSWER, CODE], "proof 'nope' is not the id of a code cell"),
    ([_question(guide=["Not a question of the guide"]), ANSWER, CODE], "are not questions of"),
    ([_question(claims=["no-such-claim"]), ANSWER, CODE], "no claim or statement"),
    ([_question(), ANSWER, _question(), ANSWER, CODE], "used by another question"),
    ([_question(quote="a.key"), ANSWER, CODE], "must be a list of strings"),
    ([_question(colour="red"), ANSWER, CODE], "unknown labkit.question fields"),
    ([_question(), {**ANSWER, "source": "The answer, not in <details>"}, CODE], "one <details>"),
])
def test_a_broken_block_is_refused_naming_the_notebook_and_the_cell(tmp_path, cells, words):
    with pytest.raises(CatalogueError, match=re.escape(words)) as err:
        catalogue(_notebook(tmp_path, [dict(c) for c in cells]))
    assert "50_x" in str(err.value)


def test_numbers_to_quote_come_from_the_results_with_their_setting_or_say_why_not():
    q = Question("q", "02_x", "c", "Q?", "A.", (), (), (), ("a", "b", "c"), (), "p")
    results = {"results": {"a": {"value": 4.2, "unit": "x", "kind": "measured", "note": "median of 3"},
                           "b": {"value": None, "unit": "x", "note": "run with reproduce='all'"}}}
    got = numbers_to_quote(q, results, "scale tiny, 2 cores")
    assert got == [{"key": "a", "text": "4.20x (measured, scale tiny, 2 cores)", "note": "median of 3"},
                   {"key": "b", "text": "run with reproduce='all'", "note": ""},
                   {"key": "c", "text": "not in this run", "note": ""}]


def test_every_quoted_key_is_recorded_by_its_notebook_in_the_tiny_run(tiny_report, entries):
    recorded = {nb.name: set((nb.results or {}).get("results", {})) for nb in tiny_report.notebooks}
    missing = {q.id: sorted(set(q.quote) - recorded[q.notebook]) for q in entries}
    assert {k: v for k, v in missing.items() if v} == {}


class _Answers(HTMLParser):
    def __init__(self):
        super().__init__()
        self.details, self.links, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "details":
            self.details.append(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def _parse(path: Path) -> _Answers:
    page = _Answers()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _resolves(base: Path, href: str) -> bool:
    target, _, anchor = href.partition("#")
    path = (base / target) if target else None
    if path is not None and not path.exists():
        return False
    if not anchor:
        return True
    if path is not None and path.suffix == ".ipynb":  # a cell of the notebook in the repository
        return anchor.removeprefix("cell-id=") in {c.get("id") for c in json.loads(path.read_text())["cells"]}
    text = path.read_text(encoding="utf-8") if path is not None else ""
    return f'id="{anchor}"' in text


def test_the_tiny_reports_answers_hide_every_answer_and_every_link_resolves(tiny_report, entries):
    page_path = tiny_report.run_dir / "answers.html"
    page = _parse(page_path)
    assert sum(d.get("class") == "answer" for d in page.details) == len(entries)
    assert not any("open" in d for d in page.details)  # hidden on load
    for href in page.links:
        base = page_path.parent
        assert _resolves(base, href) or f'id="{href[1:]}"' in page_path.read_text(), href
    assert any(h.startswith("index.html#claim-") for h in page.links)
    doc = json.loads((tiny_report.run_dir / "answers.json").read_text())
    assert [e["id"] for e in doc] == [q.id for q in entries] and all("numbers" in e for e in doc)


def test_the_committed_reference_answers_are_current_and_link_to_the_notebooks(tmp_path, entries):
    for name in ("run.json", *(p.name for p in DEFAULT.glob("[0-9][0-9]_*.json"))):
        shutil.copy(DEFAULT / name, tmp_path / name)
    fresh = write_reference_answers(tmp_path)
    assert (DEFAULT / "answers.json").read_text() == (tmp_path / "answers.json").read_text().replace(
        os.path.relpath(NOTEBOOKS, tmp_path), os.path.relpath(NOTEBOOKS, DEFAULT)), "run `labkit answers`"
    page = _parse(DEFAULT / "answers.html")
    proofs = [h for h in page.links if ".ipynb" in h]
    assert len(proofs) == len(entries) and all(_resolves(DEFAULT, h) for h in proofs)
    assert fresh.name == "answers.html"


def test_answers_render_in_headless_chromium_hidden_until_a_click(tiny_report, tmp_path, chromium):
    page = (tiny_report.run_dir / "answers.html").read_text(encoding="utf-8")
    probe = """<script>window.addEventListener("load", () => {
      const all = [...document.querySelectorAll("details.answer")];
      const seen = el => el.checkVisibility() && el.getClientRects().length > 0;
      const hidden = all.filter(d => !d.open && !seen(d.querySelector("p"))).length;
      all[0].querySelector("summary").click();
      const shown = all[0].open && seen(all[0].querySelector("p"));
      const bad = [...document.querySelectorAll('a[href^="#"]')].filter(a => !document.getElementById(
        a.getAttribute("href").slice(1))).length;
      document.body.setAttribute("data-probe", JSON.stringify({all: all.length, hidden, shown, bad,
        others_closed: all.slice(1).every(d => !d.open)}));
    });</script>"""
    (tmp_path / "answers.html").write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
                          (tmp_path / "answers.html").as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-probe="([^"]*)"', out.stdout)
    assert found, out.stderr[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    n = len(catalogue())
    assert probe == {"all": n, "hidden": n, "shown": True, "bad": 0, "others_closed": True}


def test_the_answers_page_escapes_what_it_did_not_render(tmp_path):
    q = Question("x", "02_x", "c", "<script>alert(1)</script>?", "An *answer* with <b>tags</b>.",
                 (("<i>f</i>?", "a"),), (), ("c1",), (), ("<s>",), "p")
    table = pd.DataFrame({"id": ["c1"], "verdict": ["<b>holds</b>"]})
    page = answers.write_answers(tmp_path, {}, table, {}, "scale <tiny>", [q]).read_text()
    assert "<script>alert" not in page and "<b>tags</b>" not in page and "<em>answer</em>" in page
    assert "&lt;b&gt;holds&lt;/b&gt;" in page and "<i>f</i>" not in page and "scale &lt;tiny&gt;" in page
