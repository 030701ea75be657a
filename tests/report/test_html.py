"""index.html from its template: every value of a run reaches the page escaped, and the page is whole."""

import json
from html.parser import HTMLParser

from labkit.report import claims
from labkit.report.claims import load_registry
from labkit.report.html import write_index
from labkit.report.model import NotebookRun, ReportRun
from labkit.report.statements import load_statements

SCRIPT = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """Start tags with their attributes, and the text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


def _run(tmp_path) -> ReportRun:
    """A run of two notebooks, one failed with markup in its error and traceback, one with results and a plot."""
    results = {"notebook": "01_ok", "environment": {"spark": "4.3.0", "java": f"17 {SCRIPT}"}, "results": {}}
    (tmp_path / "01_ok.json").write_text(json.dumps(results))
    (tmp_path / "01_ok.speedup.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return ReportRun(tmp_path, "tiny", [
        NotebookRun("01_ok", "ok", 3.4, tmp_path / "01_ok.ipynb", html=tmp_path / "01_ok.html", results=results),
        NotebookRun("02_bad", "failed", 1.0, tmp_path / "02_bad.ipynb", error=f"ValueError: {SCRIPT} & 'q'",
                    traceback=f'Traceback\n  raise ValueError("{SCRIPT}")', redacted={"ssn": 2, "key": 1})],
        seconds=4.4)


def test_every_value_of_a_run_is_escaped_on_the_index(tmp_path):
    page = write_index(_run(tmp_path)).read_text(encoding="utf-8")
    parsed = _parse(page)
    assert [t for t, _ in parsed.tags if t == "script"] == []
    assert not [a for _, attrs in parsed.tags for a in attrs if a.startswith("on")]
    text = "".join(parsed.text)
    assert f"ValueError: {SCRIPT} & 'q'" in text and f'raise ValueError("{SCRIPT}")' in text
    assert f"17 {SCRIPT}" in text  # the environment's values too
    assert "redacted: 1 key, 2 ssn" in text


def test_the_index_has_every_claim_and_statement_a_row_each_and_the_plots_inline(tmp_path):
    run = _run(tmp_path)
    page = write_index(run).read_text(encoding="utf-8")
    parsed = _parse(page)
    rows = [a for t, a in parsed.tags if t == "tr" and a.get("class") in set(claims.VERDICT_CLASS.values())]
    assert len(rows) == len(load_registry()) + len(load_statements())
    assert {a["id"] for a in rows} == {f"claim-{c.id}" for c in load_registry()} | {
        f"claim-{s.id}" for s in load_statements()}
    assert [a["class"] for t, a in parsed.tags if t == "tr" and a.get("class") in ("ok", "failed")] == ["ok", "failed"]
    imgs = [a for t, a in parsed.tags if t == "img"]
    assert [a["alt"] for a in imgs] == ["01_ok.speedup"] and imgs[0]["src"].startswith("data:image/png;base64,")
    links = [a["href"] for t, a in parsed.tags if t == "a"]
    assert "01_ok.html" in links and "guide.html" in links and "02_bad.ipynb" in links
    assert "Scale tiny, 2 notebooks, 1 failed,\n4 s in all." in "".join(parsed.text)
    assert (tmp_path / "claims.csv").exists() and (tmp_path / "guide.html").exists()
    assert "<th>reference</th>" not in page


def _cells_per_claim_row(page: str) -> set[int]:
    """How many cells each claim or statement row has."""
    rows = page.split('<tr class="')[1:]
    return {row.split("</tr>", 1)[0].count("<td>") for row in rows
            if row.split('"', 1)[0] in set(claims.VERDICT_CLASS.values())}


def test_a_comparison_adds_the_reference_column_to_both_tables(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "ref").mkdir()
    plain = write_index(_run(tmp_path / "run")).read_text(encoding="utf-8")
    compared = write_index(_run(tmp_path / "run"), compare=str(tmp_path / "ref")).read_text(encoding="utf-8")
    assert plain.count("<th>reference</th>") == 0 and compared.count("<th>reference</th>") == 2
    assert _cells_per_claim_row(plain) == {6} and _cells_per_claim_row(compared) == {7}
