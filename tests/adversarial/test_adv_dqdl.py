"""Data-quality rules fail cleanly: wrong operators, type names that are not types, and data with no rows."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from labkit.topics import dq
from labkit.topics.dq import dqdl, rules


def test_completeness_between_is_a_syntax_error_naming_the_allowed_operators():
    with pytest.raises(dq.DQDLSyntaxError, match=r"Completeness: operator 'between' is not allowed; .*>= <"):
        dq.parse_dqdl('Rules = [ Completeness "x" between 0.5 and 1.0 ]')
    with pytest.raises(dq.DQDLSyntaxError, match="'between'"):
        rules.completeness("x", "between", (0.5, 1.0))


def test_an_operator_typo_is_a_syntax_error_not_a_key_error():
    with pytest.raises(dq.DQDLSyntaxError, match=r"ColumnValues: operator '=>' is not allowed; .*between in matches"):
        rules.column_values("amount", "=>", 0)
    with pytest.raises(dq.DQDLSyntaxError, match="RowCount: operator '=<'"):
        rules.row_count("=<", 3)
    with pytest.raises(dq.DQDLSyntaxError):
        dq.parse_dqdl('Rules = [ ColumnValues "amount" => 0 ]')


@settings(max_examples=30, deadline=None)
@given(op=st.text(alphabet="<>=!~ a-z", min_size=1, max_size=3))
def test_any_operator_outside_the_table_is_a_syntax_error(op):
    for kind, build in (("Completeness", lambda: rules.completeness("x", op, 0.5)),
                        ("ColumnValues", lambda: rules.column_values("x", op, 1)),
                        ("RowCount", lambda: rules.row_count(op, 1))):
        if op in dqdl._RULE_OPS[kind]:
            assert build().op == op
        else:
            with pytest.raises(dq.DQDLSyntaxError, match=kind):
                build()


def test_values_of_the_wrong_shape_are_syntax_errors():
    with pytest.raises(dq.DQDLSyntaxError, match="low <= high"):
        rules.column_values("qty", "between", (10, 1))
    with pytest.raises(dq.DQDLSyntaxError, match="non-empty list"):
        rules.column_values("qty", "in", [])
    with pytest.raises(dq.DQDLSyntaxError, match="a number"):
        rules.completeness("x", ">=", "most")


def test_column_data_type_refuses_sql_pasted_into_the_type_name(spark):
    for text in ('Rules = [ ColumnDataType "x" = "INT) IS NULL OR (true" ]',
                 'Rules = [ ColumnDataType "x" = "INT AS x) --" ]'):
        with pytest.raises(dq.DQDLSyntaxError, match="not a type name"):
            dq.parse_dqdl(text)
    with pytest.raises(dq.DQDLSyntaxError):
        rules.castable("x", "INT) IS NULL OR (true")
    df = spark.createDataFrame([("12",), ("twelve",)], "x string")  # the rule still catches what it should
    assert dq.check(df, [rules.castable("x", "int")]).table.loc[0, "failing"] == 1


ACCEPTED = ["BOOLEAN", "TINYINT", "BYTE", "SMALLINT", "SHORT", "INT", "INTEGER", "BIGINT", "LONG", "FLOAT", "REAL",
            "DOUBLE", "DATE", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "STRING", "BINARY", "DECIMAL",
            "DECIMAL(10,2)", "dec(5)", "NUMERIC(38, 0)", "VARCHAR(10)", "CHAR(3)"]


def test_every_accepted_type_name_is_one_spark_parses(spark):
    names = [rules.castable("x", name).value for name in ACCEPTED]
    row = spark.createDataFrame([("1",)], "x string").select(
        *[F.col("x").try_cast(n).alias(f"t{i}") for i, n in enumerate(names)])
    assert len(row.schema.fields) == len(ACCEPTED)  # Spark parsed every one of them as a type


def test_rules_on_no_rows_fail_as_deequ_fails_them_except_row_count(spark):
    empty = spark.createDataFrame([], "id int, amount double")
    rule_list = [rules.is_complete("id"), rules.completeness("id", ">=", 0.9),
                 rules.column_values("amount", ">=", 0), rules.is_unique("id"), rules.row_count("=", 0),
                 rules.row_count(">", 0)]
    table = dq.check(empty, rule_list).table.set_index("kind", append=True)
    assert table["status"].tolist() == ["fail", "fail", "fail", "fail", "pass", "fail"]
    assert all(math.isnan(m) for m in table["metric"].tolist()[:4]) and table["metric"].tolist()[4] == 0.0
    assert table["detail"].tolist()[:4] == ["no rows"] * 4
    valid, bad = dq.split_valid(empty, rule_list[:1])
    assert valid.count() == bad.count() == 0  # row-level: nothing to split, nothing raised
