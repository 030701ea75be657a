"""The README's Python example runs as written and does what its comments say."""

import re

from labkit.report import REPO


def test_readme_example_runs_and_shows_a_skewed_sort_merge_join(spark):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python example"
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)  # spark_session() reuses the test session
    m = ns["m"]
    assert ns["spark"] is spark
    assert m.plan.joins == ["SortMergeJoin"]
    assert m.shuffle_stage is not None and m.tasks > 0
