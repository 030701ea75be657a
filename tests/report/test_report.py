import base64
import json

import pytest

from labkit import report
from labkit.report.claims import load_registry
from labkit.report.cli import main

NOTEBOOKS = report.REPO / "tests" / "notebooks"


FIRST = ["01_ok", "02_broken", "03_after_broken"]
FAILURES = ["04_timeout", "05_kernel_dies", "06_sysexit1", "07_after_failures"]


def test_discover_filters_by_name_or_prefix_and_rejects_unknown_names():
    assert [p.stem for p in report.discover(NOTEBOOKS)] == FIRST + FAILURES
    assert [p.stem for p in report.discover(NOTEBOOKS, ["02", "01_ok"])] == ["01_ok", "02_broken"]
    with pytest.raises(ValueError, match="matches no notebook"):
        report.discover(NOTEBOOKS, ["99_missing"])


def test_a_failing_notebook_is_marked_failed_and_the_others_still_run(tmp_path):
    outcome = report.run(scale="tiny", out=tmp_path, notebook_dir=NOTEBOOKS, timeout=120, only=["01", "02", "03"])
    status = {nb.name: nb.status for nb in outcome.notebooks}
    assert status == {"01_ok": "ok", "02_broken": "failed", "03_after_broken": "ok"}
    assert not outcome.ok
    broken = next(nb for nb in outcome.notebooks if nb.name == "02_broken")
    assert "ValueError" in broken.error and "broken on purpose" in broken.error
    run_dir = outcome.run_dir
    assert (tmp_path / "latest").resolve() == run_dir.resolve()
    for name in FIRST:
        assert (run_dir / f"{name}.ipynb").exists() and (run_dir / f"{name}.html").exists()
    for name in ("01_ok", "03_after_broken"):  # each wrote its own results: the one after the failure ran
        assert json.loads((run_dir / f"{name}.json").read_text())["results"]["scale"]["value"] == "tiny"
    page = (run_dir / "index.html").read_text()
    assert "broken on purpose" in page and 'class="failed"' in page and page.count('class="ok"') == 2


def test_a_timeout_a_dead_kernel_and_sys_exit_are_each_reported_and_the_next_notebook_runs(tmp_path):
    import psutil

    outcome = report.run(scale="tiny", out=tmp_path, notebook_dir=NOTEBOOKS, timeout=20, only=FAILURES)
    runs = {nb.name: nb for nb in outcome.notebooks}
    assert list(runs) == FAILURES
    assert [nb.status for nb in runs.values()] == ["failed", "failed", "failed", "ok"]
    assert runs["04_timeout"].error.startswith("CellTimeoutError: A cell timed out while it was being executed, "
                                               "after 20 seconds.")
    assert runs["05_kernel_dies"].error.startswith("DeadKernelError: Kernel died")
    assert runs["06_sysexit1"].error.startswith("SystemExit: 1")
    for nb in list(runs.values())[:3]:  # each message names the kernel's log, which the run kept
        assert nb.error.endswith(f"(kernel log: {nb.name}.kernel.log)") and (outcome.run_dir / f"{nb.name}.kernel.log"
                                                                              ).exists()
    assert runs["04_timeout"].seconds >= 20
    assert runs["07_after_failures"].results["results"]["scale"]["value"] == "tiny"
    pid = int((outcome.run_dir / "04_timeout.pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, "the kernel runs on"
    doc = json.loads((outcome.run_dir / "run.json").read_text())["notebooks"]
    assert {name: (d["status"], d["error"]) for name, d in doc.items()} == {
        name: (nb.status, nb.error) for name, nb in runs.items()}
    page = (outcome.run_dir / "index.html").read_text()
    assert page.count('class="failed"') == 3 and page.count('class="ok"') == 1
    assert all(text in page for text in ("CellTimeoutError", "DeadKernelError: Kernel died", "SystemExit: 1"))


def test_cli_exits_non_zero_when_a_notebook_fails_and_rejects_bad_arguments(tmp_path, capsys):
    common = ["--scale", "tiny", "--out", str(tmp_path), "--notebooks", str(NOTEBOOKS)]
    assert main(["report", *common, "--only", "01_ok"]) == 0
    assert main(["report", *common, "--only", "02"]) == 1
    assert main(["report", *common, "--only", "99_nothing"]) == 2
    assert "matches no notebook" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--scale", "huge"])
    assert exit_.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err


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


KEY = "report-test-key-0123456789abcdefghijklmnop"  # 42 characters


def _leaky_notebook(folder, body: str):
    """A notebook (with a parameters cell) whose one code cell is ``body``."""
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    params = nbformat.v4.new_code_cell('scale: str = "tiny"\noutput_dir: str = "."')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, str(folder / "01_leaky.ipynb"))
    return folder


_LEAK = """import base64, os
key = os.environ["LABKIT_PHI_KEY"]
open(os.environ["LEAK_FILE"], "w").write(key)  # for the test: the key the kernel was given
print("the key:", key, "hex:", key.encode().hex())
ssn, email, phone = "-".join(["123", "45", "6789"]), "@".join(["jane.doe", "example.com"]), "(555) 123-" + "4567"
raise ValueError(f"patient {ssn} <{email}> at {phone} key {key} b64 {base64.b64encode(key.encode()).decode()}")
"""  # the identifiers are built, so that the notebook's source does not hold them: its outputs would


def _files_text(run_dir) -> dict[str, str]:
    return {str(p.relative_to(run_dir)): p.read_bytes().decode("utf-8", "replace")
            for p in run_dir.rglob("*") if p.is_file()}


def test_a_notebook_error_is_kept_in_run_json_and_the_html_with_the_key_and_identifiers_redacted(tmp_path,
                                                                                               monkeypatch):
    monkeypatch.setenv("LABKIT_PHI_KEY", KEY)
    monkeypatch.setenv("LEAK_FILE", str(tmp_path / "seen_key"))
    notebooks = _leaky_notebook(tmp_path / "nbs", _LEAK)
    outcome = report.run(scale="tiny", out=tmp_path / "runs", notebook_dir=notebooks, timeout=120)
    assert (tmp_path / "seen_key").read_text() == KEY
    doc = json.loads((outcome.run_dir / "run.json").read_text())["notebooks"]["01_leaky"]
    assert doc["status"] == "failed"
    assert doc["error"].startswith("ValueError: patient [redacted ssn] <[redacted email]> at [redacted phone] "
                                   "key [redacted key] b64 [redacted key]")
    assert "ValueError" in doc["traceback"] and "\x1b[" not in doc["traceback"]
    assert "[redacted ssn]" in doc["traceback"] and doc["redacted"]["key"] >= 4
    page = (outcome.run_dir / "index.html").read_text()
    assert "<summary>traceback</summary>" in page and "[redacted key]" in page
    forms = [KEY, KEY.encode().hex(), base64.b64encode(KEY.encode()).decode()]
    for name, text in _files_text(outcome.run_dir).items():
        for secret in [*forms, "123-45-6789", "jane.doe@example.com", "123-4567"]:
            assert secret not in text, (name, "a secret or identifier survived")


def test_without_a_key_set_the_run_gives_its_kernels_one_and_redacts_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_PHI_KEY", raising=False)
    monkeypatch.setenv("LEAK_FILE", str(tmp_path / "seen_key"))
    notebooks = _leaky_notebook(tmp_path / "nbs", _LEAK)
    outcome = report.run(scale="tiny", out=tmp_path / "runs", notebook_dir=notebooks, timeout=120)
    key = (tmp_path / "seen_key").read_text()
    assert len(key) >= 32
    assert all(key not in text and key.encode().hex() not in text for text in _files_text(outcome.run_dir).values())


def _fake_run(folder):
    """The smallest folder save_reference accepts: claims.csv, one results file, run.json."""
    folder.mkdir(parents=True)
    (folder / "claims.csv").write_text("id,claim\n")
    (folder / "01_ok.json").write_text(json.dumps({"notebook": "01_ok", "results": {}, "environment": {},
                                                   "parameters": {"scale": "tiny"}}))
    (folder / "run.json").write_text(json.dumps({"seconds": 1.0, "date": "2026-01-01", "notebooks": {
        "01_ok": {"status": "failed", "error": "ValueError: ssn 123-45-6789"}}}))
    return folder


def test_reference_refuses_a_folder_it_did_not_write_and_deletes_nothing_there(tmp_path, capsys):
    run_dir, readme = _fake_run(tmp_path / "run"), tmp_path / "README.md"
    readme.write_text("# x\n")
    foreign = tmp_path / "my-results"
    foreign.mkdir()
    for name, text in {"01_ok.json": "mine", "claims.csv": "mine", "plot.png": "mine", "notes.html": "mine"}.items():
        (foreign / name).write_text(text)
    with pytest.raises(ValueError, match="refusing"):
        report.save_reference(run_dir, foreign, readme=readme)
    assert main(["reference", str(run_dir), "--to", str(foreign)]) == 2
    assert "refusing" in capsys.readouterr().err
    assert {p.name: p.read_text() for p in foreign.iterdir()} == {
        "01_ok.json": "mine", "claims.csv": "mine", "plot.png": "mine", "notes.html": "mine"}


def test_reference_replaces_only_the_files_its_manifest_lists(tmp_path):
    run_dir, readme = _fake_run(tmp_path / "run"), tmp_path / "README.md"
    readme.write_text("# x\n")
    dest = report.save_reference(run_dir, tmp_path / "ref", readme=readme)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest == {"written_by": "labkit reference",
                        "files": ["01_ok.json", "answers.html", "answers.json", "claims.csv", "run.json"]}
    assert "123-45-6789" not in (dest / "run.json").read_text()  # an old run's error is redacted on the way
    (dest / "notes.csv").write_text("mine")  # a file the user added beside the reference
    (dest / "02_other.json").write_text("mine")
    (run_dir / "claims.csv").write_text("id,claim\nnew,row\n")
    report.save_reference(run_dir, dest, readme=readme)
    assert (dest / "claims.csv").read_text() == "id,claim\nnew,row\n"
    assert (dest / "notes.csv").read_text() == "mine" and (dest / "02_other.json").read_text() == "mine"


def test_reference_refuses_a_manifest_that_points_outside_or_a_file_it_does_not_list(tmp_path):
    run_dir, readme = _fake_run(tmp_path / "run"), tmp_path / "README.md"
    readme.write_text("# x\n")
    outside = tmp_path / "outside.json"
    outside.write_text("keep")
    dest = tmp_path / "ref"
    dest.mkdir()
    (dest / "manifest.json").write_text(json.dumps({"written_by": "labkit reference", "files": ["../outside.json"]}))
    with pytest.raises(ValueError, match="plain name"):
        report.save_reference(run_dir, dest, readme=readme)
    assert outside.read_text() == "keep"
    (dest / "manifest.json").write_text(json.dumps({"written_by": "labkit reference", "files": ["run.json"]}))
    (dest / "claims.csv").write_text("mine")
    with pytest.raises(ValueError, match="did not write .*claims.csv"):
        report.save_reference(run_dir, dest, readme=readme)
    assert (dest / "claims.csv").read_text() == "mine" and not (dest / "01_ok.json").exists()
    (dest / "manifest.json").write_text('{"files": ["claims.csv"]}')  # not ours: no writer
    with pytest.raises(ValueError, match="was not written by labkit reference"):
        report.save_reference(run_dir, dest, readme=readme)
    assert (dest / "claims.csv").read_text() == "mine"
