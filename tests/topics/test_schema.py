"""Schema drift between a source and a target: cleaned column names, and the values a target type would lose."""

import pytest
from pyspark.testing import assertDataFrameEqual

from labkit.topics.schema import cast_kind, check_datatype_matching, clean_column_names, to_target_types


def test_check_datatype_matching_counts_what_would_not_survive(spark):
    df = spark.createDataFrame(
        [(1, 2**40, "12.345", "2024-02-30", None), (2, 5, "1.5", "2024-03-01", None)],
        "a int, big bigint, amount string, day string, empty string").selectExpr(
        "a", "big", "CAST(amount AS decimal(10,3)) AS amount", "day", "empty", "current_timestamp() AS ts")
    report = check_datatype_matching(df, {"a": "bigint", "big": "int", "amount": "decimal(10,2)", "day": "date",
                                          "empty": "int", "ts": "timestamp_ntz"})
    assert report.loc["a", "kind"] == "widening" and report.loc["a", "ok"]
    assert report.loc["big", "kind"] == "narrowing number" and report.loc["big", "values_lost"] == 1
    assert report.loc["amount", "values_lost"] == 1  # 12.345 loses its third decimal; 1.5 survives
    assert report.loc["day", "values_lost"] == 1 and report.loc["day", "kind"] == "string to date/time"
    assert report.loc["empty", "ok"]  # an entirely null column: nothing is lost (the guide's version breaks)
    assert report.loc["ts", "kind"] == "time zone" and report.loc["ts", "values_lost"] == 2
    with pytest.raises(ValueError, match="not found"):
        check_datatype_matching(df, {"nope": "int"})


def test_check_datatype_matching_with_no_target_types_is_an_empty_report(spark):
    report = check_datatype_matching(spark.createDataFrame([(1,)], "a int"), {})
    assert report.empty and list(report.columns) == ["source", "target", "kind", "values_lost", "ok"]


def test_to_target_types_keeps_exactly_the_rows_whose_every_value_survives_cast(spark):
    df = spark.createDataFrame([(1, "1.50", "x"), (2**40, "2.00", "y"), (3, "1.505", "z"), (None, None, "w")],
                               "n bigint, amount string, tag string").selectExpr(
        "n", "CAST(amount AS decimal(10,3)) AS amount", "tag")
    typed = to_target_types(df, {"n": "int", "amount": "decimal(10,2)"})
    assert typed.dtypes == [("n", "int"), ("amount", "decimal(10,2)"), ("tag", "string")]
    expected = spark.createDataFrame([(1, "1.50", "x"), (None, None, "w")], "n int, amount string, tag string")
    assertDataFrameEqual(typed, expected.selectExpr("n", "CAST(amount AS decimal(10,2)) AS amount", "tag"))
    lost = check_datatype_matching(df, {"n": "int", "amount": "decimal(10,2)"})["values_lost"]
    assert typed.count() == df.count() - lost.sum()  # the rows left out are those the report counts (one value each)


def test_to_target_types_refuses_a_column_the_frame_lacks(spark):
    with pytest.raises(ValueError, match=r"target column \['nope'\] not found"):
        to_target_types(spark.createDataFrame([(1,)], "a int"), {"nope": "int"})


@pytest.mark.parametrize("source,target,kind", [
    ("int", "int", "same"), ("int", "bigint", "widening"), ("bigint", "smallint", "narrowing number"),
    ("decimal(10,4)", "decimal(10,2)", "decimal precision/scale"), ("string", "timestamp", "string to date/time"),
    ("string", "double", "string to number"), ("string", "boolean", "string to other"),
    ("timestamp_ntz", "timestamp", "time zone"), ("date", "boolean", "other")])
def test_cast_kind_names_each_kind_of_change(source, target, kind):
    assert cast_kind(source, target) == kind


def test_clean_column_names_gives_one_spelling_and_refuses_a_clash(spark):
    df = spark.createDataFrame([(1, 2, 3)], "` Order ID ` int, `E-Mail` int, `__` int")
    assert clean_column_names(df).columns == ["order_id", "e_mail", "col"]
    with pytest.raises(ValueError, match=r"clash: \['order_id'\]"):
        clean_column_names(spark.createDataFrame([(1, 2)], "`Order ID` int, `order_id` int"))
