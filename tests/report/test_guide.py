"""guide.html: every name from the section map, the guide and the registry reaches the page escaped."""

import re
from html.parser import HTMLParser

import pandas as pd
import pytest
import yaml

from labkit.core.paths import REPO
from labkit.report import claims
from labkit.report.guide import GUIDE, SECTIONS, units, write_guide
from labkit.report.html import load_runs
from labkit.report.marked import Mark, MarkedMarkdown
from labkit.report.model import NOTEBOOKS
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


def _reference_table(present: set[str]) -> pd.DataFrame:
    """Every claim and statement, judged on the committed reference run."""
    runs = load_runs(REPO / "benchmarks" / "reference")
    return pd.concat([part.dropna(axis=1, how="all") for part in (
        claims.evaluate(claims.load_registry(), runs, present), evaluate_statements(load_statements(), runs, present))],
        ignore_index=True)


def test_the_real_guide_keeps_every_mark_and_one_note_per_part(tmp_path):
    present = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    table = _reference_table(present)
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


@pytest.mark.parametrize("name", ["guide.html.j2", "index.html.j2"])
def test_the_templates_ship_with_the_package(name):
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = data["tool"]["setuptools"]["package-data"]["labkit"]
    assert any(g in (f"report/templates/{name}", "report/templates/*.j2") for g in globs), globs


def _unmarked(page: str) -> str:
    """The guide's body without its marks and badges (the coverage note at the top is left out)."""
    page = re.sub(r'<a class="badge"[^>]*>.*?</a>|<mark[^>]*>|</mark>', "", page)
    return page[page.index("<h2>"):]


def test_marking_the_real_guide_changes_nothing_but_the_marks(tmp_path):
    present = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    table = _reference_table(present)
    (tmp_path / "marked").mkdir()
    (tmp_path / "plain").mkdir()
    marked = write_guide(tmp_path / "marked", table, present, {}).read_text(encoding="utf-8")
    plain = write_guide(tmp_path / "plain", table.iloc[0:0], present, {}).read_text(encoding="utf-8")
    assert "<mark" in marked and "<mark" not in plain
    assert _unmarked(marked) == _unmarked(plain)  # placeholders left the markdown's structure as it was
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", marked), "a control character reached the page"
    assert "LabkitMark" not in marked


def test_a_claim_across_a_list_marker_bold_text_and_a_line_break_is_marked_well_nested(tmp_path):
    text = "### 1. First\n- **Salting** made the join\n  5x faster on hot keys, we measured.\n- another item\n"
    guide, sections = _guide(tmp_path, text, {"1. First": ["01_ready"]})
    table = _table([{"id": "c-bold", "claim": "- **Salting** made the join 5x faster on hot keys"}])
    page = write_guide(tmp_path, table, {"01_ready"}, {}, guide=guide, sections=sections).read_text()
    body = page[page.index("<h4>"):]
    assert body.count('class="badge"') == 1 and body.count("<li>") == 2  # the list is still a list of two
    assert re.search(r"<li><strong><mark [^>]+>Salting</mark></strong><mark [^>]+> made the join</mark><br>\n"
                     r'<mark [^>]+>5x faster on hot keys<a class="badge" [^>]+>\[holds: 1.5x\]</a></mark>, we', body)
    stack = []  # every tag closes in the order it opened
    for closing, tag in re.findall(r"<(/?)(mark|strong|li|ul|a)\b", body):
        if closing:
            assert stack and stack.pop() == tag, body
        else:
            stack.append(tag)
    assert not stack


def test_a_mark_runs_on_from_one_rendered_piece_into_the_next():
    doc = "one two three\n\nfour five six\n"
    md = MarkedMarkdown(doc, [Mark(doc.index("two"), doc.index(" five"), '<mark class="x">', "[b]")])
    first = md.render(0, doc.index("four"))
    assert first == '<p>one <mark class="x">two three</mark></p>\n' and md.placed == set()
    second = md.render(doc.index("four"), len(doc))
    assert second == '<p><mark class="x">four[b]</mark> five six</p>\n' and md.placed == {0}
    with pytest.raises(ValueError, match="overlap"):
        MarkedMarkdown(doc, [Mark(0, 5, "<mark>"), Mark(3, 8, "<mark>")])
    doc = "See [the docs](http://x.org/a-long-path) here."  # an end in a link's address: lost, the address kept
    md = MarkedMarkdown(doc, [Mark(0, doc.index("-long"), "<mark>", "[b]")])
    assert 'href="http://x.org/a-long-path"' in md.render(0, len(doc)) and md.placed == set()


def test_raw_html_in_the_markdown_is_text_and_a_script_link_is_not_a_link():
    doc = '<div onclick="x()">hi</div>\n\n[click](javascript:alert(1)) <b>bold</b>\n'
    html = MarkedMarkdown(doc, []).render(0, len(doc))
    assert [t for t, _ in _tags(html)] == ["p", "p"]
    assert "&lt;div onclick=&quot;x()&quot;&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
