"""Migration parity: reconcile names every planted defect, and says equal for the same rows in another order."""

from decimal import Decimal

import pytest

from labkit.experiments.reconcile import plant_defects
from labkit.topics import reconcile


@pytest.fixture(scope="module")
def source(spark):
    rows = [(i, Decimal(f"{(i * 37) % 100 + 10}.{(i * 7) % 10}{(i * 3) % 4}{i % 10}"),
             f"2024-06-{1 + i % 28:02d} {i % 24:02d}:00:00") for i in range(1, 400)]
    return spark.createDataFrame(rows, "id int, amount decimal(12,4), ts string").selectExpr(
        "id", "amount", "CAST(ts AS timestamp) AS updated_at").cache()


def test_reconcile_finds_every_planted_defect(source):
    target, planted = plant_defects(source, "id")
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
