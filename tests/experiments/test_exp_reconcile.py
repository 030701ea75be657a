"""Migration parity experiments: the guide's three checks pass on planted defects; the plain diff finds them too."""

from decimal import Decimal

import pytest

from labkit.experiments import reconcile as reconcile_exp
from labkit.topics import reconcile


@pytest.fixture(scope="module")
def source(spark):
    rows = [(i, Decimal(f"{(i * 37) % 100 + 10}.{(i * 7) % 10}{(i * 3) % 4}{i % 10}"),
             f"2024-06-{1 + i % 28:02d} {i % 24:02d}:00:00") for i in range(1, 400)]
    return spark.createDataFrame(rows, "id int, amount decimal(12,4), ts string").selectExpr(
        "id", "amount", "CAST(ts AS timestamp) AS updated_at").cache()


def test_the_guides_checks_pass_on_a_target_with_every_defect(source):
    target, planted = reconcile_exp.plant_defects(source, "id")
    assert set(planted) == set(reconcile_exp.DEFECT_KINDS)
    checks = reconcile_exp.guide_parity_checks(source, target)
    assert list(checks.index) == ["row_count_check", "checksum_validation", "latest_timestamp"]
    assert checks["match"].all(), checks  # count, DECIMAL(18,2) sum and max timestamp all agree


def test_transfer_times_follow_from_the_guides_bandwidth():
    assert round(reconcile_exp.transfer_time(50, 1)["days"], 1) == 4.6
    assert round(reconcile_exp.transfer_time(50, 10)["hours"]) == 11
    assert reconcile_exp.transfer_time(50, 1, decimal_units=False)["days"] > 5  # in TiB it is 5.1 days


def test_the_full_comparison_baseline_finds_the_same_keys(source):
    target, planted = reconcile_exp.plant_defects(source, "id")
    plain = set(reconcile_exp.full_comparison(source, target, "id")["id"])
    assert set().union(*planted.values()) - set(planted["duplicated row"]) <= plain


def test_each_defect_alone_passes_the_guides_checks_and_only_its_rows_change(source):
    per = reconcile_exp.guide_parity_checks_per_defect(source, "id")
    assert list(per.index) == list(reconcile_exp.DEFECTS) and not per["caught"].any()
    target, planted = reconcile_exp.plant_defects(source, "id", only="time zone shift")
    assert list(planted) == ["time zone shift"]
    got = reconcile.reconcile(source, target, "id")
    assert got["missing"].empty and got["duplicated"].empty and list(got["changed"]["id"]) == planted["time zone shift"]
    with pytest.raises(ValueError, match="unknown defect"):
        reconcile_exp.plant_defects(source, "id", only="lost table")
