"""The statements registry, the premise verdict, and coverage counted by part."""

import re

import pytest
import yaml

from labkit.core.paths import REPO
from labkit.report import claims, statements
from labkit.report.guide import GUIDE, SECTIONS, coverage, locate_claims, structure_notes, units
from labkit.report.model import NOTEBOOKS
from labkit.report.statements import Statement, evaluate_statements, judge_statement, load_statements

GOOD = {"id": "dq-x", "section": "2. CSV", "quote": "the words", "kind": "wrong", "notebook": "06_data_quality",
        "key": "statement.dq-x", "evidence": "notebook 06", "finding": "what is true"}


def _write(tmp_path, entries):
    path = tmp_path / "statements.yaml"
    path.write_text(yaml.safe_dump({"statements": entries}), encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "meh"}, "kind must be one of"),
    ({"key": "statement.other"}, "key must be 'statement.dq-x'"),
    ({"id": "DQ X"}, "lowercase words joined by dashes"),
    ({"notebook": "dq"}, "not a NN_topic name"),
    ({"notebook": None, "key": None}, "https source"),
    ({"finding": " "}, "finding is empty"),
    ({"tolerance": 0.2}, "unknown field"),
])
def test_a_bad_statement_is_refused_by_name(tmp_path, change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_statements(_write(tmp_path, [{**GOOD, **change}]))


def test_a_duplicate_or_incomplete_statement_is_refused(tmp_path):
    with pytest.raises(ValueError, match="duplicate statement id 'dq-x'"):
        load_statements(_write(tmp_path, [GOOD, GOOD]))
    with pytest.raises(ValueError, match=r"missing field\(s\) \['evidence'\]"):
        load_statements(_write(tmp_path, [{k: v for k, v in GOOD.items() if k != "evidence"}]))


@pytest.mark.parametrize("kind", sorted(statements.KIND_VERDICT))
def test_a_refuting_check_gives_its_kinds_verdict_and_a_passing_one_holds(kind):
    s = Statement(**{**GOOD, "kind": kind})
    assert judge_statement(s, False) == (statements.KIND_VERDICT[kind], "what is true")
    assert judge_statement(s, True)[0] == claims.HOLDS
    assert judge_statement(s, None)[0] == claims.NOT_MEASURED
    assert judge_statement(s, 0)[0] == claims.NOT_MEASURED  # a number is not a check's outcome
    assert statements.KIND_VERDICT[kind] in claims.VERDICTS and claims.VERDICT_CLASS[statements.KIND_VERDICT[kind]]


def test_the_statements_table_says_why_a_statement_has_no_verdict():
    said = [Statement(**{**GOOD, "id": f"dq-{n}", "key": f"statement.dq-{n}", "notebook": nb})
            for n, nb in (("a", "06_data_quality"), ("b", "06_data_quality"), ("c", "06_failed"), ("d", "13_planned"))]
    said.append(Statement(**{**GOOD, "id": "doc-x", "notebook": None, "key": None, "source": "https://example.org"}))
    runs = {"06_data_quality": {"results": {"statement.dq-a": {"value": False, "note": "plan shows X"}}},
            "06_failed": None}
    table = evaluate_statements(said, runs, {"06_data_quality", "06_failed"}).set_index("id")
    assert table.loc["dq-a", "verdict"] == claims.WRONG and table.loc["dq-a", "note"] == "plan shows X"
    assert table.loc["dq-b", "ours"] == "06_data_quality recorded no statement.dq-b"
    assert table.loc["dq-c", "ours"] == "notebook 06_failed failed in this run"
    assert table.loc["dq-d", "ours"] == "notebook 13_planned is planned"
    assert table.loc["doc-x", "verdict"] == claims.WRONG and "https://example.org" in table.loc["doc-x", "detail"]
    assert list(table["verdict"].map(claims.VERDICT_CLASS)) == ["fails", "na", "na", "na", "fails"]


def test_the_78pct_saving_holds_as_arithmetic_but_has_a_wrong_premise():
    (c,) = [c for c in claims.load_registry() if c.id == "dx-78pct"]
    runs = {c.notebook: {"results": {c.key: {"value": 1 - 0.02 / 0.09}}}}
    row = claims.evaluate([c], runs, {c.notebook}).iloc[0]
    assert row["verdict"] == claims.PREMISE
    assert "data moving into AWS is free" in row["detail"] and "the arithmetic alone: holds" in row["detail"]
    plain = claims.Claim(**{**c.__dict__, "premise": ""})
    assert claims.evaluate([plain], runs, {c.notebook}).iloc[0]["verdict"] == claims.HOLDS


def test_every_statement_is_found_in_the_guide_and_checked_where_it_says():
    text = GUIDE.read_text(encoding="utf-8")
    said = load_statements()
    import pandas as pd

    table = pd.DataFrame([{"id": s.id, "claim": s.quote} for s in said])
    assert not sorted(set(table["id"]) - set(locate_claims(text, table))), "quotes not found verbatim in guide.md"
    present = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    for s in said:
        if s.documented:
            continue
        assert s.notebook in present, f"{s.id}: notebook {s.notebook} does not exist"
        source = (NOTEBOOKS / f"{s.notebook}.ipynb").read_text(encoding="utf-8")
        assert s.id in source, f"{s.id}: notebook {s.notebook} never records statement.{s.id}"
    ids = [s.id for s in said] + [c.id for c in claims.load_registry()]
    assert len(ids) == len(set(ids)), "a statement and a claim share an id (guide.html links by id)"


def test_coverage_counts_parts_so_a_question_is_not_covered_by_one_of_its_answers():
    text = GUIDE.read_text(encoding="utf-8")
    mapping = yaml.safe_load(SECTIONS.read_text(encoding="utf-8"))
    every = units(text, mapping)
    assert len(every) == sum(line.startswith("#### ") for line in text.splitlines()) + 10  # 10 questions, no parts
    assert all(u["mapped"] for u in every), [u for u in every if not u["mapped"]]
    present = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    import pandas as pd

    cov = coverage(text, mapping, present, pd.DataFrame({"verdict": [claims.HOLDS]}))
    assert cov["parts"] == len(every) and cov["parts_covered"] < cov["parts"]
    for gap in ("c) Redshift Table Design", "c) Hot/Cold Data Architecture", "d) Query Optimization with Athena",
                "e) Intelligent Caching Layer", "Phase 1: Assessment", "Phase 3: Zero-Downtime"):
        assert any(gap in u for u in cov["uncovered"]), gap
    # the old count: a question counted as covered when any of its parts was
    old = sum(1 for u in {x["section"] for x in every}
              if any(set(x["notebooks"]) & present for x in every if x["section"] == u))
    assert cov["parts_covered"] / cov["parts"] < old / len({x["section"] for x in every})


def test_a_question_with_parts_mapped_as_one_list_is_refused():
    text = "### 1. Q\n#### a) one\nx\n#### b) two\ny\n"
    with pytest.raises(ValueError, match="has 2 '####' parts; map each part"):
        units(text, {"1. Q": ["01_a"]})
    assert [u["mapped"] for u in units(text, {"1. Q": {"a) one": ["01_a"]}})] == [True, False]


def test_the_guides_structure_notes_name_the_missing_section_and_questions():
    notes = structure_notes(GUIDE.read_text(encoding="utf-8"))
    assert 'The table of contents lists "Project Architecture", a section the guide does not have.' in notes
    assert "Core Technical Questions: questions 1, 2, 4, 7, 8, 9, 10, 13; 3, 5, 6, 11, 12 are missing." in notes


def test_the_readme_counts_match_the_registries():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    counts = {int(n) for n in re.findall(r"\((\d+) claims\)", readme)}
    assert counts == {len(claims.load_registry())}, counts


def test_every_statement_is_marked_inside_the_section_it_names():
    # a quote that also occurs earlier in the guide would be marked there, on words the statement is not about
    import pandas as pd

    from labkit.report.guide import _sections

    text = GUIDE.read_text(encoding="utf-8")
    said = load_statements()
    found = locate_claims(text, pd.DataFrame([{"id": s.id, "claim": s.quote} for s in said]))
    sections = _sections(text)
    wrong = {}
    for s in said:
        start = found[s.id][0]
        heading = next((h for h, a, b in sections if a <= start < b), "(before the first question)")
        if not heading.startswith(s.section.strip()):
            wrong[s.id] = heading
    assert not wrong, wrong


def test_the_readmes_reference_table_is_what_todays_rule_says_of_the_reference_run():
    from labkit.report import reference

    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = reference._START + text.split(reference._START, 1)[1].split(reference._END, 1)[0] + reference._END
    assert block == reference.readme_section(reference.DEFAULT)  # rerun labkit's readme_section after a rule change
    assert "| $0.02/GB vs $0.09/GB over internet = 78% savings | 78% | 78% | measured | wrong premise" in block
