import json

import pytest

from labkit import report
from labkit.report.claims import load_registry
from labkit.report.cli import main

NOTEBOOKS = report.REPO / "tests" / "notebooks"


def test_discover_filters_by_name_or_prefix_and_rejects_unknown_names():
    assert [p.stem for p in report.discover(NOTEBOOKS)] == ["01_ok", "02_broken", "03_after_broken"]
    assert [p.stem for p in report.discover(NOTEBOOKS, ["02", "01_ok"])] == ["01_ok", "02_broken"]
    with pytest.raises(ValueError, match="matches no notebook"):
        report.discover(NOTEBOOKS, ["99_missing"])


def test_a_failing_notebook_is_marked_failed_and_the_others_still_run(tmp_path):
    outcome = report.run(scale="tiny", out=tmp_path, notebook_dir=NOTEBOOKS, timeout=120)
    status = {nb.name: nb.status for nb in outcome.notebooks}
    assert status == {"01_ok": "ok", "02_broken": "failed", "03_after_broken": "ok"}
    assert not outcome.ok
    broken = next(nb for nb in outcome.notebooks if nb.name == "02_broken")
    assert "ValueError" in broken.error and "broken on purpose" in broken.error
    run_dir = outcome.run_dir
    assert (tmp_path / "latest").resolve() == run_dir.resolve()
    for name in ("01_ok", "02_broken", "03_after_broken"):
        assert (run_dir / f"{name}.ipynb").exists() and (run_dir / f"{name}.html").exists()
    assert json.loads((run_dir / "01_ok.json").read_text())["results"]["scale"]["value"] == "tiny"
    page = (run_dir / "index.html").read_text()
    assert "broken on purpose" in page and 'class="failed"' in page and page.count('class="ok"') == 2


def test_cli_exits_non_zero_when_a_notebook_fails_and_rejects_bad_arguments(tmp_path, capsys):
    common = ["--scale", "tiny", "--out", str(tmp_path), "--notebooks", str(NOTEBOOKS)]
    assert main(["report", *common, "--only", "01_ok"]) == 0
    assert main(["report", *common, "--only", "02"]) == 1
    assert main(["report", *common, "--only", "99_nothing"]) == 2
    assert "matches no notebook" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "--scale", "huge"])


def test_save_reference_keeps_results_and_regenerates_the_readme_table(tmp_path):
    outcome = report.run(scale="tiny", out=tmp_path / "runs", notebook_dir=NOTEBOOKS, only=["01_ok"], timeout=120)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- reference-results:start -->\nOLD-TABLE\n<!-- reference-results:end -->\n\nafter\n")
    dest = report.save_reference(outcome.run_dir, tmp_path / "ref", readme=readme)
    assert (dest / "01_ok.json").exists() and (dest / "claims.csv").exists() and (dest / "run.json").exists()
    text = readme.read_text()
    assert "OLD-TABLE" not in text and text.endswith("after\n")
    assert text.count("| not measured yet |") == len(load_registry())
    with pytest.raises(ValueError, match="not a report run"):
        report.save_reference(tmp_path, tmp_path / "ref2", readme=readme)
    again = report.run(scale="tiny", out=tmp_path / "runs", notebook_dir=NOTEBOOKS, only=["01_ok"], timeout=120,
                       compare=str(dest))
    assert "reference" in (again.run_dir / "claims.csv").read_text().splitlines()[0]
    assert "<th>reference</th>" in (again.run_dir / "index.html").read_text()
