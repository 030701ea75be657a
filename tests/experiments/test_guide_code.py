"""The guide's code reproduced (``labkit.experiments.guide_code``): its real check_datatype_matching, run on
hand-written inputs, with truth from Python's own types.

Python's ``decimal`` and ``datetime`` and the int range say which values survive a target type; neither the
guide's function nor the lab's check is the reference. Also: the reproduction is the guide's text line for line,
S3 has no atomic folder rename (botocore's model), and pyspark's default API mode is classic.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from decimal import Decimal

import pytest

from labkit.experiments import guide_code
from labkit.experiments.guide_code import DATATYPE_CASES
from labkit.report.guide import GUIDE
from labkit.topics import schema

INT_RANGE = range(-(2**31), 2**31)


def _survives(value, source: str, target: str) -> bool:
    """Python's answer: does a value of ``source`` keep its meaning in ``target``?"""
    if target == "int":
        number = Decimal(str(value))
        return number == number.to_integral_value() and int(number) in INT_RANGE
    if target == "decimal(10,2)":
        return Decimal(value) == Decimal(value).quantize(Decimal("0.01"))
    if target == "timestamp":  # an instant: an offset is converted, kept; no offset is read in the session zone
        return True
    if target == "timestamp_ntz":  # a wall clock, no zone: read back as UTC, it must be the same instant
        aware = datetime.fromisoformat(value)
        return aware.utcoffset() is not None and aware.utcoffset().total_seconds() == 0
    raise AssertionError(f"no reference for {source} -> {target}")


def _lost(case: str) -> int:
    _, source, target, values = DATATYPE_CASES[case]
    return sum(not _survives(v, source, target) for v in values)


@pytest.fixture(scope="module")
def cases(spark):
    df = guide_code.datatype_cases(spark)
    guide = guide_code.run_guide_datatype_cases(spark, df)
    lab = schema.check_datatype_matching(df, {c: t for c, _, t, _ in DATATYPE_CASES.values()})
    return {"df": df, "guide": guide, "lab": lab}


def test_the_reproduction_is_the_guides_code_line_for_line():
    text = GUIDE.read_text()
    start = text.index("def check_datatype_matching(redshift_df, df, log):")
    guide_lines = [line.strip() for line in text[start:text.index("```", start)].splitlines()[1:] if line.strip()]
    ours = {line.strip() for line in inspect.getsource(guide_code.guide_check_datatype_matching).splitlines()}
    ours.add(f'"""{guide_code.guide_check_datatype_matching.__doc__.splitlines()[0]}"""')  # the lab adds notes
    assert len(guide_lines) == 16 and [line for line in guide_lines if line not in ours] == []


def test_the_cases_hold_the_hand_written_values(spark, cases):
    got = cases["df"].collect()
    assert [str(v) for v in got[0]][:2] == ["1", "1"] and got[1]["big"] == 2**40
    assert str(got[0]["amount"]) == "1.2345" and got[0]["frac"] == 1.5
    assert dict(cases["df"].dtypes)["amount"] == "decimal(10,4)"


def test_the_guides_check_rejects_a_string_column_of_clean_numerals(cases):
    assert _lost("clean numerals in a string column") == 0  # "1" and "2" are ints
    assert cases["guide"].loc["clean numerals in a string column", "guide"] == "raises"


def test_the_guides_check_raises_a_bare_exception_not_a_typed_one(spark):
    df = spark.createDataFrame([("1",)], "n string")
    with pytest.raises(Exception) as caught:  # noqa: B017,PT011 - what is asserted is that it is bare
        guide_code.guide_check_datatype_matching(spark.createDataFrame([], "n int"), df, log=None)
    assert type(caught.value) is Exception


@pytest.mark.parametrize("case", ["bigint values over the int range", "doubles with a fraction into int",
                                  "doubles over the int range into int", "decimal(10,4) into decimal(10,2)",
                                  "offset timestamps into timestamp_ntz"])
def test_the_guides_check_passes_values_that_do_not_survive(cases, case):
    assert _lost(case) == 1
    assert cases["guide"].loc[case, "guide"] == "passes"


def test_the_guides_check_never_looks_at_timestamp_targets(spark, cases):
    assert cases["guide"].loc["offset timestamps into timestamp", "guide"] == "passes"
    # the value without an offset is a different instant under another session zone; no cast fails
    assert guide_code.zone_dependent_values(spark, cases["df"], "ts_local") == 1


def test_the_guides_check_passes_an_all_null_string_column(spark):
    df = spark.createDataFrame([(None,)], "n string")
    assert guide_code.guide_check_datatype_matching(spark.createDataFrame([], "n int"), df, log=None) is None


@pytest.mark.parametrize("case", list(DATATYPE_CASES))
def test_the_labs_check_counts_what_python_says_is_lost(cases, case):
    column = DATATYPE_CASES[case][0]
    assert cases["lab"].loc[column, "values_lost"] == _lost(case)


def test_s3_has_no_atomic_rename_of_a_folder():
    facts = guide_code.s3_rename_facts()
    assert facts["copy_and_delete"] and not facts["atomic_prefix_rename"]
    assert facts["rename_object"] and facts["rename_express_only"] and facts["rename_one_key"]


def test_pyspark_defaults_to_the_classic_api_mode(monkeypatch):
    monkeypatch.setenv("SPARK_CONNECT_MODE", "1")  # a switch, not the default: ignored, and restored
    assert guide_code.default_api_mode() == "classic"
    import os

    assert os.environ["SPARK_CONNECT_MODE"] == "1"


def test_the_default_api_mode_follows_pyspark_s_own_definition(monkeypatch):
    from pyspark import util

    monkeypatch.delenv("SPARK_CONNECT_MODE", raising=False)
    assert guide_code.default_api_mode() == util.default_api_mode()


def test_datatype_facts_are_the_guides_verdicts_the_values_lost_and_the_two_facts(spark):
    verdicts, raised, zone_dependent = guide_code.datatype_facts(spark)
    assert list(verdicts.index) == list(guide_code.DATATYPE_CASES)
    assert verdicts.loc["clean numerals in a string column", "guide"] == "raises" and raised is Exception
    assert (verdicts.loc[list(guide_code.GUIDE_MISSES), "guide"] == "passes").all()
    assert (verdicts.loc[list(guide_code.GUIDE_MISSES), "values_lost"] == 1).all()
    assert verdicts.loc["clean numerals in a string column", "values_lost"] == 0 and zone_dependent == 1
    assert guide_code.datatype_facts(spark, raise_column="big")[1] is None  # a bigint column: the guide passes it


def test_migration_source_is_what_plant_defects_needs_and_the_guides_checks_pass_on(spark):
    from labkit.experiments import reconcile as reconcile_exp

    src = guide_code.migration_source(spark, 6000)  # amounts repeat every 5,000 ids
    assert src.count() == 6000 and [f.dataType.simpleString() for f in src.schema] == [
        "int", "decimal(12,4)", "timestamp"]
    rows = src.orderBy("id").limit(2).collect()
    assert str(rows[0]["amount"]) == "3.7071" and (rows[1]["updated_at"] - rows[0]["updated_at"]).seconds == 60
    target, planted = reconcile_exp.plant_defects(src, "id", seed=42)
    assert reconcile_exp.guide_parity_checks(src, target)["match"].all() and len(planted) == 5
    with pytest.raises(ValueError, match="two rows with the same amount"):
        reconcile_exp.plant_defects(guide_code.migration_source(spark, 5000), "id")  # no amount repeats yet
