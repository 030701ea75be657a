"""The accounted CSV read on files as real exporters write them, none of which our generators write.

References the lab does not implement: Python's ``csv`` module (field counts, field values, the header),
DuckDB (decimal and bigint conversion) and ``hypothesis`` (generated lines with the hard cases, written by
``csv.writer``).

Spark's CSV default escape is ``\\`` (quote ``"``); ``csv.reader`` matches it with ``escapechar="\\\\"`` and
``doublequote=False`` for the lines here. RFC 4180 files (``csv.writer``'s default) double their quotes: read
them with ``escape='"'``.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.testing import assertDataFrameEqual

from labkit.topics import dq

CARS = "year int, make string, model string, description string, price double"
CARS_HEADER = "year,make,model,description,price"

FILES = {  # file name -> its bytes: one case each, all read in one call
    "trailing_empty.csv": f'{CARS_HEADER}\n1997,Ford,E350,"Go get one now",\n2015,Chevy,,,\n',
    "quoted_header.csv": '"year","make","model","description","price"\n2001,Saab,9-3,"fast, red",3000.5\n',
    "case_header.csv": "Year,Make,Model,Description,PRICE\n2002,Audi,A4,,12.5\n",
    "crlf.csv": f"{CARS_HEADER}\r\n2003,Fiat,Uno,small,1\r\n2004,Seat,Ibiza,,2\r\n",
    "no_final_newline.csv": f"{CARS_HEADER}\n2005,Opel,Astra,last line,3",
    "unescaped_quote.csv": f'{CARS_HEADER}\n2006,Acme,Pipe,5" wide,4\n2007,Acme,Pipe,5" wide 6" long,5\n',
    "blank_lines.csv": f"\n{CARS_HEADER}\n\n2008,Kia,Rio,,6\n   \n",
    "headerless.csv": "2009,Tata,Nano,,7\n",
    "header_only.csv": f"{CARS_HEADER}\n",
    "empty.csv": "",
}
HEADERS = {"trailing_empty.csv", "quoted_header.csv", "case_header.csv", "crlf.csv", "no_final_newline.csv",
           "unescaped_quote.csv", "blank_lines.csv", "header_only.csv"}


def _reference_rows(text: str, has_header: bool) -> list[tuple]:
    """The data rows Python's csv module reads, typed like the cars schema (empty -> None)."""
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), escapechar="\\", doublequote=False) if r
            and any(f.strip() for f in r)]
    rows = rows[1:] if has_header else rows
    return [(int(r[0]), *[v or None for v in r[1:4]], float(r[4]) if r[4] else None) for r in rows]


@pytest.fixture(scope="module")
def cars(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("cars")
    for name, text in FILES.items():
        (root / name).write_bytes(text.encode())
    with pytest.warns(UserWarning) as caught:
        acc = dq.read_csv_accounted(spark, str(root), CARS, source_column="src", run_id="cars")
    good = acc.good.toPandas()
    good["name"] = good["src"].str.rsplit("/", n=1).str[-1]
    bad = acc.quarantined.toPandas()
    return acc, good, bad, [str(w.message) for w in caught]


def test_every_line_of_every_file_is_good_and_agrees_with_python_csv(spark, cars):
    acc, good, bad, _ = cars
    assert bad.empty, bad["reason"].tolist()
    for name, text in FILES.items():
        mine = good[good["name"] == name][["year", "make", "model", "description", "price"]]
        expected = _reference_rows(text, name in HEADERS)
        mine = mine.astype(object).where(mine.notna(), None).values.tolist()
        assert sorted(map(tuple, mine)) == sorted(expected), name


def test_trailing_empty_field_is_a_field_not_a_missing_column(cars):
    _, good, _, _ = cars
    rows = good[good["name"] == "trailing_empty.csv"].sort_values("year")
    assert rows["year"].tolist() == [1997, 2015]
    assert rows["description"].tolist()[0] == "Go get one now" and rows["price"].isna().all()


def test_quoted_and_other_case_headers_are_headers_and_counted(cars):
    acc, _, _, notes = cars
    r = acc.report
    assert r["header_lines"] == len(HEADERS) and r["header_name_mismatch"] == 1  # case_header.csv
    assert r["data_lines"] == 11 == r["good"] and r["quarantined"] == 0  # 11 rows in all, not 11 + headers
    assert r["files"] == len(FILES) and r["empty_files"] == 1 and r["blank_lines"] == 3
    assert any("case_header.csv" in n and "differ" in n for n in notes)


def test_a_file_without_a_header_keeps_its_first_line_as_data_and_says_so(cars):
    acc, good, _, notes = cars
    assert acc.report["headerless_files"] == 1
    assert good[good["name"] == "headerless.csv"]["year"].tolist() == [2009]  # Spark's header=true drops it
    assert any("headerless.csv" in n and "no header" in n for n in notes)


def test_source_column_holds_the_file_uri_like_the_quarantine(spark, cars, tmp_path):
    _, good, _, _ = cars
    assert good["src"].str.startswith("file:").all() and set(good["name"]) == {
        n for n in FILES if n not in ("header_only.csv", "empty.csv")}
    (tmp_path / "a.csv").write_text("x,y\n1,2\n1,oops\n")
    acc = dq.read_csv_accounted(spark, str(tmp_path), "x int, y int", source_column="from_file")
    assert acc.good.columns == ["x", "y", "from_file"]
    assert acc.good.first()["from_file"] == acc.quarantined.first()["file"]
    with pytest.raises(ValueError, match="source_column"):
        dq.read_csv_accounted(spark, str(tmp_path), "x int, y int", source_column="X")


FIELD_LINES = ['a,b,c', 'a,b,', ',,', '"a,b",c,', 'a,"",', '5" pipe,b,c', 'a,"x\\"y",c', ' "q",r,s',
               'a,b', 'a', 'a,b,c,d', 'a,b,c,,', '"never closed,b,c']


def test_field_counts_come_from_the_tokeniser_as_python_csv_counts_them(spark, tmp_path):
    (tmp_path / "f.csv").write_text("x,y,z\n" + "\n".join(FIELD_LINES) + "\n")
    acc = dq.read_csv_accounted(spark, str(tmp_path), "x string, y string, z string")
    bad = {r["raw"]: r["reason"] for r in acc.quarantined.collect()}
    counts = {line: len(next(csv.reader([line], escapechar="\\", doublequote=False))) for line in FIELD_LINES}
    assert {line for line, n in counts.items() if n == 3 and '"never' not in line} == set(FIELD_LINES) - set(bad)
    assert bad['"never closed,b,c'] == "unbalanced quote"  # csv reads it as one field; Spark never closes it
    assert {line for line in bad if "missing" in bad[line]} == {"a,b", "a"}
    assert {line for line in bad if "extra" in bad[line]} == {"a,b,c,d", "a,b,c,,"}


def test_decimal_that_overflows_bigint_but_fits_decimal_20_0_agrees_with_duckdb(spark, tmp_path):
    import duckdb

    path = tmp_path / "big.csv"
    path.write_text("big,n\n99999999999999999999,1\n1,99999999999999999999\n-12345678901234567890,-5\n")
    acc = dq.read_csv_accounted(spark, str(path), "big decimal(20,0), n bigint")
    con = duckdb.connect()  # a table first: DuckDB pushes a cast on read_csv into its reader, which then raises
    con.execute(f"create table t as select * from read_csv('{path}', header=true, all_varchar=true)")
    ref = con.sql("select try_cast(big as decimal(20,0)) as big, try_cast(n as bigint) as n from t").fetchall()
    good = [r for r in ref if None not in r]
    assertDataFrameEqual(acc.good, spark.createDataFrame(good, "big decimal(20,0), n bigint"))
    assert [tuple(r) for r in acc.good.orderBy("n").collect()][0] == (Decimal("-12345678901234567890"), -5)
    assert acc.quarantined.select("line", "reason").collect() == [(3, "n: not a valid bigint")]


def test_comment_lines_are_counted_with_comment_and_quarantined_without(spark, tmp_path):
    (tmp_path / "c.csv").write_text("# exported by tool 1.2\nx,y\n1,2\n#,3\n")
    with_comment = dq.read_csv_accounted(spark, str(tmp_path), "x string, y int", comment="#")
    assert with_comment.report["comment_lines"] == 2 and with_comment.report["header_lines"] == 1
    assert with_comment.report["good"] == 1 and with_comment.report["headerless_files"] == 0
    with pytest.warns(UserWarning, match="no header"):
        plain = dq.read_csv_accounted(spark, str(tmp_path), "x string, y int")
    r = plain.report  # nothing dropped: the comment is data, the real header a repeated header
    assert r["comment_lines"] == 0 and r["data_lines"] == 4 and r["good"] == 2 and r["quarantined"] == 2
    assert r["reason: repeated header"] == 1 and r["reason: missing columns (fewer than 2)"] == 1


def test_failfast_names_the_file_line_and_reasons_never_the_raw_line(spark, tmp_path):
    (tmp_path / "phi.csv").write_text("id,amount\n1,2.0\n2,jane.doe@example.com\n")
    with pytest.raises(dq.DataQualityError) as err:
        dq.read_csv_accounted(spark, str(tmp_path), "id int, amount double", mode="FAILFAST")
    text = str(err.value)
    assert "phi.csv line 3: amount: not a valid double" in text and "jane" not in text


def test_header_only_empty_and_no_files_are_valid_and_read_zero_lines(spark, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "head.csv").write_text(CARS_HEADER + "\r\n")
    acc = dq.read_csv_accounted(spark, str(tmp_path), CARS, source_column="src")
    r = acc.report
    assert (r["files"], r["empty_files"], r["header_lines"], r["data_lines"], r["good"]) == (2, 1, 1, 0, 0)
    assert acc.good.count() == 0 and acc.good.columns[-1] == "src"
    (tmp_path / "none").mkdir()
    assert dq.read_csv_accounted(spark, str(tmp_path / "none"), CARS).report["files"] == 0


def test_run_id_with_a_path_is_refused_before_anything_is_written(spark, tmp_path):
    (tmp_path / "in.csv").write_text("x\n1\n")
    quarantine = tmp_path / "q"
    for bad in ("x/../../victim", "../victim", "/abs", ""):
        with pytest.raises(ValueError, match="run_id"):
            dq.read_csv_accounted(spark, str(tmp_path / "in.csv"), "x int", quarantine_dir=str(quarantine),
                                  run_id=bad)
    assert not quarantine.exists() and not (tmp_path / "victim").exists()


def test_cached_inputs_are_released_and_the_result_still_reads(spark, tmp_path):
    (tmp_path / "in.csv").write_text("x,y\n1,2\n3,oops\n")
    persistent = spark.sparkContext._jsc.getPersistentRDDs
    before = persistent().size()
    acc = dq.read_csv_accounted(spark, str(tmp_path), "x int, y int", quarantine_dir=str(tmp_path / "q"),
                                run_id="r1")
    assert persistent().size() == before
    assert acc.good.count() == 1 and acc.quarantined.count() == 1  # lazy: read again from the files
    with pytest.raises(dq.DataQualityError):
        dq.read_csv_accounted(spark, str(tmp_path / "in.csv"), "x int, y int", mode="FAILFAST")
    assert persistent().size() == before
    assert spark.read.json(str(tmp_path / "q" / "run_id=r1")).select("line").first()["line"] == 3


# ----------------------------------------------------------------- generated lines (hypothesis)

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00\x01\x02\ufeff\ufffd"),
                max_size=12)
_ROW = st.tuples(_TEXT, st.one_of(st.none(), st.integers(-2**31, 2**31 - 1), st.sampled_from(["x1", "1.5", "b"])),
                 _TEXT)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, min_size=1, max_size=40))
def test_lines_written_by_csv_writer_are_good_exactly_when_valid(spark, tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("hyp")
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180: quotes doubled, CRLF
    writer.writerow(["a", "b", "c"])
    for a, b, c in rows:
        writer.writerow([a, "" if b is None else b, c])
    (folder / "h.csv").write_bytes(buf.getvalue().encode())
    acc = dq.read_csv_accounted(spark, str(folder), "a string, b int, c string", escape='"', run_id="hyp")
    valid = [(a or None, b, c or None) for a, b, c in rows if b is None or isinstance(b, int)]
    r = acc.report
    assert r["data_lines"] == len(rows) == r["good"] + r["quarantined"]
    assert r["good"] == len(valid) and r["header_lines"] == 1
    got = [(x["a"] or None, x["b"], x["c"] or None) for x in acc.good.collect()]  # csv.writer's "" reads as null
    assert sorted(map(repr, got)) == sorted(map(repr, valid))
