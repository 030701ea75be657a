"""The notebooks' shape: a parsable parameters cell, every parameter recorded through labkit.notebook.start,
no logic that belongs in labkit, and outputs stripped."""

import ast
import json

import pytest

from labkit.core.paths import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _code(path):
    return ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code"]


def _parameter_names(path):
    cell = next(c for c in _cells(path) if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return [node.target.id for node in tree.body if isinstance(node, ast.AnnAssign)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_first_code_cell_after_the_parameters_starts_the_lab_with_every_parameter(path):
    names = _parameter_names(path)
    code = _code(path)
    start = code[1]
    call = next(n for n in ast.walk(ast.parse(start)) if isinstance(n, ast.Call)
                and ast.unparse(n.func) in ("labkit.notebook.start", "notebook.start"))
    assert ast.literal_eval(call.args[0]) == path.stem  # the notebook's name, written once
    given = {k.arg for k in call.args[1].keywords} if isinstance(call.args[1], ast.Call) else set()
    assert given == set(names), f"{path.stem}: parameters not passed to start: {set(names) - given}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_hold_no_jdf_no_sparkcontext_no_matplotlib_and_at_most_120_lines_of_code(path):
    text = "\n".join(_code(path)[:-1])  # the closing lab.close() is not counted
    assert "_jdf" not in text and "import matplotlib" not in text and "from matplotlib" not in text
    assert "sparkContext" not in text, f"{path.stem}: no sparkContext on Spark Connect; use lab.master, lab.cores"
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) <= 120, f"{path.stem}: {len(lines)} lines of code"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_ends_by_stopping_its_session_through_lab_close(path):
    last = [ln for ln in _code(path)[-1].splitlines() if ln.strip() and not ln.startswith("#")]
    assert last == ["lab.close()"], f"{path.stem}: the last code cell must be lab.close(), got {last}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs_and_with_the_python3_kernel(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert not any(c.get("outputs") or c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code")
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_parses_every_parameter_with_its_type_and_help(path, caplog):
    import papermill
    from click.testing import CliRunner
    from papermill.cli import papermill as papermill_cli

    # papermill's own command, in this process (a subprocess per notebook cost 8-12 s each under make test)
    with caplog.at_level("WARNING"):
        out = CliRunner().invoke(papermill_cli, ["--help-notebook", str(path)])
    assert out.exit_code == 0, out.output
    assert "Unable to parse" not in out.output + caplog.text
    names = _parameter_names(path)
    assert [line.split(":")[0].strip() for line in out.output.splitlines() if line[:2] == "  " and line[2:3] != " "
            and ":" in line] == names, out.output
    inferred = papermill.inspect_notebook(str(path))
    assert list(inferred) == names
    for name, p in inferred.items():
        assert p["inferred_type_name"] != "None" and p["help"], f"{path.stem}: {name} lacks a type or a help comment"
