import pytest

from labkit.core.args import join_type, positive_int, require_columns


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", True, None])
def test_positive_int_names_the_argument_and_the_value(bad):
    with pytest.raises(ValueError, match=rf"salts must be an integer >= 1, got {bad!r}".replace("(", r"\(")):
        positive_int("salts", bad)
    assert positive_int("rows", 0, minimum=0) == 0


@pytest.mark.parametrize("how, kind", [("left", "left_outer"), ("LeftOuter", "left_outer"), ("full", "full_outer"),
                                       ("outer", "full_outer"), ("semi", "left_semi"), ("anti", "left_anti"),
                                       ("inner", "inner"), ("right_outer", "right_outer")])
def test_join_types_have_one_canonical_name(how, kind):
    assert join_type(how) == kind


def test_unknown_join_types_and_missing_columns_are_clear_errors(spark):
    with pytest.raises(ValueError, match="unknown join type 'sideways'"):
        join_type("sideways")
    df = spark.createDataFrame([(1, 2)], "a int, b int")
    assert require_columns(df, "a") == ["a"]
    with pytest.raises(ValueError, match=r"key \['c'\] not found; the DataFrame's columns are \['a', 'b'\]"):
        require_columns(df, ["a", "c"], "key")
    with pytest.raises(ValueError, match="must be a column name"):
        require_columns(df, [], "key")
