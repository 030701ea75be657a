"""guide.html: every name from the section map, the guide and the registry reaches the page escaped."""

from html.parser import HTMLParser

import pandas as pd
import pytest
import yaml

from labkit.report import claims
from labkit.report.guide import GUIDE, SECTIONS, units, write_guide
from labkit.report.html import load_runs
from labkit.report.runner import NOTEBOOKS, REPO
from labkit.report.statements import evaluate_statements, load_statements

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


class _Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def _table(rows: list[dict]) -> pd.DataFrame:
    base = {"guide": "80%", "ours": "1.5x", "detail": "", "verdict": claims.HOLDS}
    return pd.DataFrame([{**base, **r} for r in rows])


def _guide(tmp_path, text: str, mapping: dict) -> tuple:
    guide, sections = tmp_path / "guide.md", tmp_path / "sections.yaml"
    guide.write_text(text, encoding="utf-8")
    sections.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return guide, sections


def test_notebook_names_from_the_section_map_are_escaped_not_run(tmp_path):
    guide, sections = _guide(tmp_path, "### 1. First\nSome text.\n\n### 2. Second\nMore text.\n",
                             {"1. First": [SCRIPT, "01_ready"], "2. Second": [IMG]})
    present = {SCRIPT, "01_ready"}
    htmls = {SCRIPT: f"{SCRIPT}.html", "01_ready": "01_ready.html"}
    table = _table([{"id": "c", "claim": "nowhere in this guide"}])
    page = write_guide(tmp_path, table, present, htmls, guide=guide, sections=sections).read_text()
    tags = _tags(page)
    assert [t for t, _ in tags if t in ("script", "img")] == []
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # the link's text and its href
    assert 'href="&lt;script&gt;alert(1)&lt;/script&gt;.html"' in page
    assert "planned: &lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page  # a planned name, escaped too
    assert '<a href="01_ready.html">01_ready</a>' in page


def test_guide_text_and_claim_quotes_with_markup_are_escaped(tmp_path):
    text = f"### 1. First\nThe trick {SCRIPT} runs 80% faster with salting.\n"
    guide, sections = _guide(tmp_path, text, {"1. First": ["01_ready"]})
    table = _table([{"id": "c-found", "claim": "runs 80% faster with salting", "ours": IMG},
                    {"id": "c-lost", "claim": f"never in the guide {SCRIPT}", "verdict": claims.NOT_MEASURED}])
    page = write_guide(tmp_path, table, {"01_ready"}, {}, guide=guide, sections=sections).read_text()
    assert [t for t, _ in _tags(page) if t in ("script", "img")] == []
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # in the guide's text and the lost claim
    marks = [a for t, a in _tags(page) if t == "mark"]
    assert len(marks) == 1 and marks[0]["class"] == "holds" and IMG in marks[0]["title"]  # the title, unescaped
    assert "1 of 1 parts covered" in page and "1 of 2 claims and statements with a verdict; 1 marked" in page


def test_the_real_guide_keeps_every_mark_and_one_note_per_part(tmp_path):
    present = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    runs = load_runs(REPO / "benchmarks" / "reference")
    table = pd.concat([part.dropna(axis=1, how="all") for part in (
        claims.evaluate(claims.load_registry(), runs, present), evaluate_statements(load_statements(), runs, present))],
        ignore_index=True)
    page = write_guide(tmp_path, table, present, {n: f"{n}.html" for n in present}).read_text(encoding="utf-8")
    text = GUIDE.read_text(encoding="utf-8")
    tags = _tags(page)
    assert sum(a.get("class") == "badge" for _, a in tags) == len(table)  # every claim and statement, marked
    notes = [a for t, a in tags if t == "div" and a.get("class", "").startswith("nbs")]
    every = units(text, yaml.safe_load(SECTIONS.read_text(encoding="utf-8")))
    assert len(notes) == len(every)  # one note per part: each #### answer, or a question without parts
    assert page.count("</h5>") >= sum(bool(u["part"]) for u in every)
    assert sum(a.get("class") == "nbs missing" for _, a in tags) == len(
        [u for u in every if not set(u["notebooks"]) & present])
    assert [t for t, _ in tags if t == "script"] == []
    mapped = {n for u in every for n in u["notebooks"]}
    assert all(f'<a href="{n}.html">{n}</a>' in page for n in mapped & present)
    assert "Project Architecture" in page and "are missing." in page


@pytest.mark.parametrize("name", ["guide.html.j2"])
def test_the_templates_ship_with_the_package(name):
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = data["tool"]["setuptools"]["package-data"]["labkit"]
    assert any(g in (f"report/templates/{name}", "report/templates/*.j2") for g in globs), globs
