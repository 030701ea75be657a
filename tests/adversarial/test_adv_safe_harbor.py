"""Safe Harbor against inputs no generator of ours writes: numeric ZIPs, unlisted ages, record numbers in notes,
impossible dates. Each either comes out right or stops with an error that names the column, never the value."""

from datetime import date

import pytest
from pyspark.sql import functions as F

from labkit.topics import phi

AS_OF = "2025-06-30"


def _released(df, spec, **kw):
    out, _ = phi.deidentify_safe_harbor(df, spec, as_of=AS_OF, **kw)
    return out


def test_an_integer_zip_keeps_its_leading_zero_so_a_restricted_prefix_becomes_000(spark):
    df = spark.createDataFrame([("a", 3601), ("b", 2134), ("c", 10025), ("d", None)], "pid string, zip int")
    zips = sorted((r["zip"] is None, r["zip"]) for r in _released(df, {"pid": "keep", "zip": "zip"}).collect())
    assert zips == [(False, "000"), (False, "021"), (False, "100"), (True, None)]


def test_text_zips_are_padded_and_zip_plus_four_is_cut(spark):
    df = spark.createDataFrame([("3601",), ("02134-1234",), ("100251234",), (" 00501 ",)], "zip string")
    out = sorted(r["zip"] for r in _released(df, {"zip": "zip"}).collect())
    assert out == ["000", "005", "021", "100"]


def test_a_numeric_zip_that_cannot_be_read_safely_is_refused_by_name(spark):
    df = spark.createDataFrame([(36011234,), (2134,)], "zip bigint")
    with pytest.raises(ValueError, match=r"column 'zip' \(zip\): 1 row\(s\) are not whole numbers from 0 to 9") as e:
        _released(df, {"zip": "zip"})
    assert "36011234" not in str(e.value)
    doubles = spark.createDataFrame([(3601.5,)], "zip double")
    with pytest.raises(ValueError, match="column 'zip'"):
        _released(doubles, {"zip": "zip"})
    text = spark.createDataFrame([("ABCDE",), ("03601",)], "zip string")
    with pytest.raises(ValueError, match=r"1 row\(s\) are not 5-digit ZIPs"):
        _released(text, {"zip": "zip"})


def test_the_restricted_list_has_a_vintage_and_can_be_replaced(spark):
    assert "2000 Census" in phi.RESTRICTED_ZIP3_VINTAGE and len(phi.RESTRICTED_ZIP3) == 17
    df = spark.createDataFrame([("03601",), ("10025",)], "zip string")
    out = sorted(r["zip"] for r in _released(df, {"zip": "zip"}, restricted_zip3=["100"]).collect())
    assert out == ["000", "036"]
    with pytest.raises(ValueError, match="restricted_zip3 must hold 3-digit strings"):
        _released(df, {"zip": "zip"}, restricted_zip3=["36"])


def test_an_unlisted_age_column_with_ages_over_89_stops_the_release(spark):
    df = spark.createDataFrame([("x", 95), ("y", 97), ("z", 41)], "dx string, age int")
    with pytest.raises(ValueError, match=r"'age'"):
        _released(df, {"dx": "keep"})
    # a column whose name does not say "age", and whose ages over 89 lie past the rows the scan reads
    hidden = spark.createDataFrame([("x", 41)] * 5 + [("y", 95)], "dx string, years int")
    with pytest.raises(ValueError, match=r"column 'years' is not in the spec but holds whole numbers 0..125 with 1 "):
        _released(hidden, {"dx": "keep"}, scan_rows=1)
    assert _released(hidden, {"dx": "keep", "years": "age"}).where("years = '90+'").count() == 1


def test_the_scan_flags_ages_over_89_by_content(spark):
    df = spark.createDataFrame([(95,), (41,)], "yrs int")
    table = phi.scan_for_phi(df)
    assert table.loc["yrs", "phi"] and table.loc["yrs", "by_content"] == "age over 89"


def test_scan_rows_below_one_is_refused(spark):
    df = spark.createDataFrame([("x",)], "dx string")
    with pytest.raises(ValueError, match="scan_rows must be an integer >= 1, got 0"):
        _released(df, {}, scan_rows=0)
    with pytest.raises(ValueError, match="rows must be an integer >= 1"):
        phi.scan_for_phi(df, rows=0)


def test_record_and_account_numbers_in_free_text_are_redacted(spark):
    note = ("Seen MRN12345678 today; old chart MRN-1234567, billed to Acct #123456789, plan HP0123456789, "
            "ref P0000042, card 4111 1111 1111 1111, dx E11.9")
    df = spark.createDataFrame([("P0000042", "MRN12345678", note)], "pid string, mrn string, note string")
    spec = {"pid": "record_id", "mrn": "record_id", "note": "free_text"}
    text = _released(df, spec).first()["note"]
    for secret in ("12345678", "1234567", "123456789", "0123456789", "0000042", "1111"):
        assert secret not in text
    assert "E11.9" in text  # a diagnosis code is not a record number
    phi.assert_no_phi(_released(df, spec), df, ["pid", "mrn"])


def test_the_rows_own_street_and_names_are_redacted_whatever_the_spacing(spark):
    street = "1200 North Old Mill Creek Road Apartment 4B Springfield Illinois"
    note = f"Pt JOHN  smith moved to {street.replace(' ', '  ')}; son Frank Franklin visits"
    df = spark.createDataFrame([("John", "Smith", street, note)], "f string, l string, street string, note string")
    spec = {"f": "name", "l": "name", "street": "street", "note": "free_text"}
    text = _released(df, spec).first()["note"]
    assert text == "Pt [NAME]  [NAME] moved to [STREET]; son Frank Franklin visits"  # a relative is not known
    phi.assert_no_phi(_released(df, spec), df, ["f", "l", "street"])


def test_phones_ssns_dates_and_old_ages_in_text_are_redacted(spark):
    note = "Called 555.123.4567 and +1 (555) 123 4567; SSN 123456789; born March 5, 1950; 97 y/o; seen 2024-02-29"
    df = spark.createDataFrame([(note,)], "note string")
    text = df.select(phi.redact_text(F.col("note")).alias("n")).first()["n"]
    assert text == "Called [PHONE] and [PHONE]; SSN [SSN]; born [DATE]; [AGE]; seen [DATE]"


def test_an_impossible_birth_date_stops_the_release_without_quoting_it(spark):
    df = spark.createDataFrame([("1950-02-30",), ("1960-01-01",), ("1930-06-01",)], "dob string")
    with pytest.raises(ValueError) as e:
        _released(df, {"dob": "birth_date"})
    assert str(e.value) == "column 'dob' (birth_date): 1 row(s) are not valid ISO dates"
    with pytest.raises(ValueError, match="column 'dob'") as e:
        phi.k_ladder(df.withColumn("zip", F.lit("10025")).withColumn("g", F.lit("F")), "zip", "dob", "g", AS_OF)
    assert "1950-02-30" not in str(e.value)
    good = df.where("dob != '1950-02-30'")
    assert sorted(r["dob"] for r in _released(good, {"dob": "birth_date"}).collect()) == ["1960", "90+"]


def test_a_bad_age_or_as_of_is_refused_without_quoting_it(spark):
    df = spark.createDataFrame([("ninety-five",), ("41",)], "age string")
    with pytest.raises(ValueError, match=r"column 'age' \(age\): 1 row\(s\) are not whole numbers") as e:
        _released(df, {"age": "age"})
    assert "ninety" not in str(e.value)
    with pytest.raises(ValueError, match="as_of must be an ISO date"):
        phi.deidentify_safe_harbor(df, {"age": "keep"}, as_of="2025-02-30")


def test_k_ladder_reads_integer_zips_as_five_characters(spark):
    rows = [(3601, date(1950, 1, 1), "F"), (3699, date(1950, 6, 1), "F")]
    df = spark.createDataFrame(rows, "zip int, dob date, g string")
    ladder = phi.k_ladder(df, "zip", "dob", "g", AS_OF, target=2)
    assert ladder["k"].tolist() == [1, 2]  # both read as 036xx -> 000, born 1950 -> one class


def test_what_safe_harbor_needs_and_the_code_cannot_enforce_is_named():
    text = " ".join(" ".join(row) for row in phi.NOT_ENFORCED).lower()
    for needed in ("county", "precinct", "relatives", "employers", "household", "actual knowledge"):
        assert needed in text
    assert "geo" in phi.KINDS
