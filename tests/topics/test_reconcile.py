"""Migration parity: the guide's three checks pass on planted defects; reconcile finds every one."""

from decimal import Decimal

import pytest

from labkit.topics import reconcile


@pytest.fixture(scope="module")
def source(spark):
    rows = [(i, Decimal(f"{(i * 37) % 100 + 10}.{(i * 7) % 10}{(i * 3) % 4}{i % 10}"),
             f"2024-06-{1 + i % 28:02d} {i % 24:02d}:00:00") for i in range(1, 400)]
    return spark.createDataFrame(rows, "id int, amount decimal(12,4), ts string").selectExpr(
        "id", "amount", "CAST(ts AS timestamp) AS updated_at").cache()


def test_the_guides_checks_pass_on_a_target_with_every_defect(source):
    target, planted = reconcile.plant_defects(source, "id")
    assert set(planted) == set(reconcile.DEFECT_KINDS)
    checks = reconcile.guide_checks(source, target)
    assert checks["match"].all(), checks  # count, DECIMAL(18,2) sum and max timestamp all agree


def test_reconcile_finds_every_planted_defect(source):
    target, planted = reconcile.plant_defects(source, "id")
    got = reconcile.reconcile(source, target, "id", buckets=16)
    assert not got["equal"] and 0 < got["buckets_differing"] <= 16
    assert list(got["missing"]["id"]) == planted["dropped row"]
    assert list(got["duplicated"]["id"]) == planted["duplicated row"] and got["extra"].empty
    assert got["duplicated"][["source_rows", "target_rows"]].values.tolist() == [[1, 2]]
    assert got["lost_duplicates"].empty  # no key lost rows: the dropped row's key is missing altogether
    changed = {int(r.id): list(r.columns) for r in got["changed"].itertuples()}
    for k in planted["swapped amounts"] + planted["truncated decimal"]:
        assert changed[k] == ["amount"]
    assert changed[planted["time zone shift"][0]] == ["updated_at"]
    assert len(changed) == 4


def test_reconcile_says_equal_for_the_same_rows_in_another_order(source):
    got = reconcile.reconcile(source, source.orderBy("amount").repartition(3), "id")
    assert got["equal"] and got["buckets_differing"] == 0
    with pytest.raises(ValueError, match="different columns"):
        reconcile.reconcile(source, source.drop("amount"), "id")


def test_transfer_times_follow_from_the_guides_bandwidth():
    assert round(reconcile.transfer_time(50, 1)["days"], 1) == 4.6
    assert round(reconcile.transfer_time(50, 10)["hours"]) == 11
    assert reconcile.transfer_time(50, 1, decimal_units=False)["days"] > 5  # in TiB it is 5.1 days


def test_the_full_comparison_baseline_finds_the_same_keys(source):
    target, planted = reconcile.plant_defects(source, "id")
    plain = set(reconcile.full_comparison(source, target, "id")["id"])
    assert set().union(*planted.values()) - set(planted["duplicated row"]) <= plain


def test_each_defect_alone_passes_the_guides_checks_and_only_its_rows_change(source):
    per = reconcile.guide_checks_per_defect(source, "id")
    assert list(per.index) == list(reconcile.DEFECTS) and not per["caught"].any()
    target, planted = reconcile.plant_defects(source, "id", only="time zone shift")
    assert list(planted) == ["time zone shift"]
    got = reconcile.reconcile(source, target, "id")
    assert got["missing"].empty and got["duplicated"].empty and list(got["changed"]["id"]) == planted["time zone shift"]
    with pytest.raises(ValueError, match="unknown defect"):
        reconcile.plant_defects(source, "id", only="lost table")
