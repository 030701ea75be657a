import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
import yaml

from labkit import report
from labkit.report import claims
from labkit.report.claims import Claim, evaluate, load_registry, verdict


def _claim(**kw):
    base = dict(id="c", section="s", quote="q", stated=5.0, unit="x", notebook="01_a", key="k", compare="at_least",
                tolerance=0.2, partly_from=1.0, cluster=False, how="h")
    return Claim(**{**base, **kw})


@pytest.mark.parametrize("measured, expected", [
    (5.0, "holds"), (9.0, "holds"), (4.0, "holds"), (3.99, "partly holds"), (1.01, "partly holds"),
    (1.0, "does not hold at this scale"), (0.5, "does not hold at this scale"), (None, "not measured yet"),
    (float("nan"), "not measured yet")])
def test_at_least_verdicts(measured, expected):
    assert verdict(_claim(), measured) == expected


@pytest.mark.parametrize("measured, expected", [
    (0.8, "holds"), (0.77, "holds"), (0.6, "partly holds"), (0.9, "partly holds"),
    (0.0, "does not hold at this scale")])
def test_about_verdicts_for_a_fraction(measured, expected):
    c = _claim(stated=0.8, unit="fraction", compare="about", tolerance=0.05, partly_from=0.0)
    assert verdict(c, measured) == expected


@pytest.mark.parametrize("measured, expected", [(2.8, "holds"), (4.0, "holds"), (5.4, "holds"), (6.0, "partly holds"),
                                                (2.0, "partly holds"), (0.9, "does not hold at this scale")])
def test_about_verdicts_for_a_range(measured, expected):
    assert verdict(_claim(stated=(3.0, 5.0), compare="about", tolerance=0.1), measured) == expected


def test_a_range_at_least_needs_its_low_end():
    c = _claim(stated=(10.0, 100.0))
    assert verdict(c, 8.5) == "holds" and verdict(c, 150) == "holds" and verdict(c, 7.0) == "partly holds"


def test_the_registry_is_valid_and_covers_the_guide():
    registry = load_registry()
    assert len(registry) >= 30
    ids = {c.id for c in registry}
    for must in ("part-athena-80pct-scanned", "part-2tb-of-5tb-70pct", "fmt-csv-parquet-6x-read", "skew-salting-5-10x",
                 "bcast-10-100x", "kryo-10x", "dq-two-pass-2x", "dq-sampling-misses-1-in-1m", "s3-tiering-79pct",
                 "s3-versioning-83-95", "part-athena-25-10", "hive-45min-5min", "ctc-row-number-vs-groupby"):
        assert must in ids, must


def _write(tmp_path, entries):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": entries}))
    return path


def test_registry_errors_name_the_entry_and_the_field(tmp_path):
    good = yaml.safe_load(claims.REGISTRY.read_text())["claims"][0]
    with pytest.raises(ValueError, match=r"entry 1 .* missing field\(s\) \['how'\]"):
        load_registry(_write(tmp_path, [{k: v for k, v in good.items() if k != "how"}]))
    with pytest.raises(ValueError, match="duplicate claim id"):
        load_registry(_write(tmp_path, [good, good]))
    with pytest.raises(ValueError, match=r"\[low, high\]"):
        load_registry(_write(tmp_path, [{**good, "stated": [5, 3]}]))
    with pytest.raises(ValueError, match="compare must be one of"):
        load_registry(_write(tmp_path, [{**good, "compare": "roughly"}]))
    with pytest.raises(ValueError, match="NN_topic"):
        load_registry(_write(tmp_path, [{**good, "notebook": "partitioning"}]))


def test_evaluate_never_drops_a_claim():
    cs = [_claim(id="a", notebook="00_x", key="k1"), _claim(id="b", notebook="00_x", key="missing"),
          _claim(id="c", notebook="07_planned"), _claim(id="d", notebook="05_failed"),
          _claim(id="e", notebook="00_x", key="absent", cluster=True)]
    runs = {"00_x": {"parameters": {"scale": "tiny"}, "results": {"k1": {"value": 6.0, "kind": "measured"}}},
            "05_failed": None}
    table = evaluate(cs, runs, present={"00_x", "05_failed"})
    assert list(table["id"]) == ["a", "b", "c", "d", "e"]
    assert list(table["verdict"]) == ["holds", "not measured yet", "not measured yet", "not measured yet",
                                      "not measurable here"]
    assert "planned" in table.loc[2, "ours"] and "failed" in table.loc[3, "ours"]
    ref = {"00_x": {"results": {"k1": {"value": 3.0}}}}
    assert evaluate(cs[:1], runs, {"00_x"}, reference=ref).loc[0, "vs_reference"] == 2.0


# ------------------------------------------------------------------- the real notebooks, run once at tiny scale

def test_every_notebook_runs_at_tiny_scale(tiny_report):
    failed = {nb.name: nb.error for nb in tiny_report.notebooks if nb.status != "ok"}
    assert not failed
    assert {nb.name for nb in tiny_report.notebooks} == {p.stem for p in report.discover()}


def test_every_claim_names_a_key_its_notebook_records(tiny_report):
    recorded = {nb.name: set((nb.results or {}).get("results", {})) for nb in tiny_report.notebooks}
    for c in load_registry():
        if c.notebook in recorded:
            assert c.key in recorded[c.notebook], f"{c.id}: {c.notebook} does not record {c.key}"


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.imgs, self.links = 0, [], []
        self._claims = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.imgs.append(attrs.get("src", ""))
        if tag in ("link", "script") and (attrs.get("href") or attrs.get("src")):
            self.links.append(attrs.get("href") or attrs.get("src"))
        if tag == "tr" and attrs.get("class") in ("holds", "partly", "fails", "na"):
            self.rows += 1


def test_the_report_from_the_tiny_run_is_complete_and_self_contained(tiny_report):
    index = tiny_report.run_dir / "index.html"
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    assert page.rows == len(load_registry())
    assert page.imgs and all(src.startswith("data:image/png;base64,") for src in page.imgs)
    assert not page.links  # no external CSS or scripts: readable offline
    csv = (tiny_report.run_dir / "claims.csv").read_text()
    assert csv.count("\n") == len(load_registry()) + 1
    assert "4.3" in index.read_text() and "java" in index.read_text()


def test_the_report_renders_in_headless_chromium(tiny_report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        if os.environ.get("LABKIT_REQUIRE_BROWSER"):  # .ci/run installs it: there, a missing browser is a failure
            pytest.fail("LABKIT_REQUIRE_BROWSER is set but no chromium is on PATH")
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the screenshot check is skipped")
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
                    (tiny_report.run_dir / "index.html").as_uri()], capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 10_000
