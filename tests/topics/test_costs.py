"""The lifecycle rules' checks and the cost model, against hand-computed values."""

import pytest

from labkit.aws.lifecycle import lifecycle_policy, storage_class_at, validate_lifecycle
from labkit.topics import costs


@pytest.mark.parametrize("kwargs, match", [
    (dict(transitions=[(10, "STANDARD_IA")]), "before 30 days"),
    (dict(transitions=[(60, "GLACIER"), (30, "GLACIER_IR")]), "days must increase"),
    (dict(transitions=[(30, "GLACIER_IR"), (90, "STANDARD_IA")]), "cannot move from GLACIER_IR to STANDARD_IA"),
    (dict(transitions=[(30, "STANDARD")]), "cannot transition objects to STANDARD"),
    (dict(transitions=[(30, "TAPE")]), "unknown S3 storage class 'TAPE'"),
    (dict(transitions=[(400, "GLACIER")], expiration_days=300), "expire at day 300"),
    (dict(noncurrent_transitions=[(10, "ONEZONE_IA")]), "noncurrent versions to ONEZONE_IA before 30 days"),
])
def test_lifecycle_rules_s3_rejects_or_that_cost_money_for_nothing_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lifecycle_policy(**kwargs)


def test_a_rule_without_action_or_status_is_refused_and_minimum_durations_warn():
    with pytest.raises(ValueError, match="has no action"):
        validate_lifecycle({"Rules": [{"ID": "x", "Status": "Enabled"}]})
    with pytest.raises(ValueError, match="Status must be"):
        validate_lifecycle({"Rules": [{"ID": "x", "Expiration": {"Days": 3}}]})
    warns = validate_lifecycle(lifecycle_policy(transitions=[(30, "STANDARD_IA"), (45, "GLACIER")]))
    assert warns == ["rule 'labkit-tiering': objects leave STANDARD_IA after 15 days, before its 30-day minimum: "
                     "the rest is billed anyway"]


def test_storage_class_at_follows_the_waterfall_and_expires():
    rule = lifecycle_policy(transitions=[(30, "STANDARD_IA"), (90, "GLACIER")], expiration_days=400)["Rules"][0]
    assert [storage_class_at(rule, d) for d in (0, 29, 30, 89, 90, 399, 400)] == [
        "STANDARD", "STANDARD", "STANDARD_IA", "STANDARD_IA", "GLACIER", "GLACIER", None]


def test_discounts_recompute_the_guides_percentages():
    assert costs.discount("STANDARD_IA") == pytest.approx(1 - 0.0125 / 0.023)  # 45.7%, the guide says 54%
    assert costs.discount("GLACIER_IR") == pytest.approx(1 - 0.004 / 0.023)  # 82.6%, the guide says 68%
    assert costs.discount("DEEP_ARCHIVE") == pytest.approx(1 - 0.00099 / 0.023)  # 95.7%


def test_the_guides_tiering_example_is_59_percent_by_its_own_prices():
    tiered = costs.schedule_cost(1000, [(12, "STANDARD"), (12, "STANDARD_IA"), (36, "GLACIER_IR")])
    standard = costs.schedule_cost(1000, [(60, "STANDARD")])
    assert tiered == pytest.approx(12 * 23 + 12 * 12.5 + 36 * 4) and standard == pytest.approx(1380)
    assert 1 - tiered / standard == pytest.approx(1 - 570 / 1380)


def test_keeping_every_daily_version_costs_what_the_guide_computes_after_a_year():
    keep = costs.simulate_costs(10, None, 13, every="day", overwrite=True)
    assert keep.attrs["run_rate"][364] == pytest.approx(3650 * 0.023)  # day 365: 365 versions of 10 GB
    assert list(keep.columns) == ["STANDARD", "total"]
    assert keep.loc[1, "total"] == pytest.approx(sum(10 * d * 0.023 / 30 for d in range(1, 31)))


def test_noncurrent_rules_bill_glacier_and_the_early_deletion_charge():
    policy = lifecycle_policy(noncurrent_transitions=[(30, "GLACIER")], noncurrent_expiration_days=90)
    out = costs.simulate_costs(10, policy, 6, every="day", overwrite=True)
    steady = out.loc[6]
    # steady state: the current file + 30 noncurrent days in STANDARD, 60 days in GLACIER, then deleted
    assert steady["STANDARD"] == pytest.approx(31 * 10 * 0.023)
    assert steady["GLACIER"] == pytest.approx(60 * 10 * 0.0036)
    assert steady["early deletion"] == pytest.approx(30 * 10 * 0.0036 * 30 / 30)  # 30 days short, one a day
    assert steady["total"] == pytest.approx(steady[["STANDARD", "GLACIER", "early deletion"]].sum())


def test_object_sizes_add_minimum_sizes_overheads_and_transition_requests():
    policy = lifecycle_policy(transitions=[(30, "GLACIER_IR")])
    bytes_only = costs.simulate_costs([1.0], policy, 3)
    tiny_objects = costs.simulate_costs([1.0], policy, 3, object_mb=0.01)  # 10 KB objects, billed as 128 KB
    assert tiny_objects.loc[2, "GLACIER_IR"] == pytest.approx(bytes_only.loc[2, "GLACIER_IR"] * 128 / 10.24, rel=1e-3)
    assert tiny_objects["transitions"].sum() == pytest.approx(1024 / 0.01 / 1000 * 0.02)
    with pytest.raises(ValueError, match="every must be"):
        costs.simulate_costs(1, None, 2, every="week")


def test_the_cost_model_refuses_a_date_based_rule_by_name_instead_of_a_key_error():
    dated = {"Rules": [{"ID": "by-date", "Status": "Enabled", "Filter": {"Prefix": "data/"},
                        "Transitions": [{"Date": "2030-01-01T00:00:00Z", "StorageClass": "GLACIER"}]}]}
    assert validate_lifecycle(dated) is not None  # valid S3
    with pytest.raises(ValueError, match="'by-date' goes by Date"):
        costs.simulate_costs(100.0, dated, months=3)


def test_reads_are_billed_per_gb_in_standard_ia_and_glacier_ir_and_not_in_standard():
    t = costs.monthly_read_costs(1000, 100, object_mb=None, options=["STANDARD", "STANDARD_IA", "GLACIER_IR"])
    assert t.loc["STANDARD", "total"] == pytest.approx(1000 * 0.023)
    assert t.loc["STANDARD_IA", "total"] == pytest.approx(1000 * 0.0125 + 100 * 0.01)
    assert t.loc["GLACIER_IR", "total"] == pytest.approx(1000 * 0.004 + 100 * 0.03)
    with_requests = costs.monthly_read_costs(1000, 100, object_mb=128, options=["STANDARD_IA"])
    assert with_requests.loc["STANDARD_IA", "requests"] == pytest.approx(100 * 1024 / 128 / 1000 * 0.001)


def test_glacier_restores_bill_their_tier_the_requests_and_the_restored_copy():
    t = costs.monthly_read_costs(1000, 100, object_mb=100, restore_days=3,
                                 options=["GLACIER/Expedited", "GLACIER/Bulk", "DEEP_ARCHIVE/Bulk"])
    objects_read, copy = 100 * 1024 / 100, 100 * 0.023 * 3 / 30
    glacier_storage = 1000 * 0.0036 + 1000 * 1024 / 100 * (32 * 1024 * 0.0036 + 8 * 1024 * 0.023) / 2**30
    assert t.loc["GLACIER/Expedited", "total"] == pytest.approx(
        glacier_storage + 100 * 0.03 + objects_read / 1000 * (10.0 + 0.0004) + copy)
    assert t.loc["GLACIER/Bulk", "retrieval"] == 0.0 and t.loc["GLACIER/Bulk", "hours to first byte"] == 12
    assert t.loc["DEEP_ARCHIVE/Bulk", "retrieval"] == pytest.approx(100 * 0.0025)
    assert t.loc["DEEP_ARCHIVE/Bulk", "hours to first byte"] == 48
    with pytest.raises(ValueError, match="no restore tier 'Expedited' for 'DEEP_ARCHIVE'"):
        costs.monthly_read_costs(1000, 1, options=["DEEP_ARCHIVE/Expedited"])


def test_standard_ia_stops_paying_off_at_the_break_even_derived_by_hand():
    # storage saved per GB-month over the extra paid per GB read: (0.023 - 0.0125) / 0.01 GB read per GB stored
    by_hand = (0.023 - 0.0125) / 0.01
    assert costs.break_even_reads(stored_gb=1000) == pytest.approx(1000 * by_hand)
    per_gb_read_128mb = 0.01 + (0.001 - 0.0004) / 1000 * 1024 / 128  # with the GET requests of 128 MB objects
    assert costs.break_even_reads(stored_gb=1000, object_mb=128) == pytest.approx(1000 * 0.0105 / per_gb_read_128mb)
    opts = ["STANDARD", "STANDARD_IA"]
    below, above = (costs.monthly_read_costs(1000, r, None, opts)["total"] for r in (1000 * by_hand - 1,
                                                                                    1000 * by_hand + 1))
    assert below["STANDARD_IA"] < below["STANDARD"] and above["STANDARD_IA"] > above["STANDARD"]
    assert costs.break_even_reads("GLACIER_IR", "STANDARD_IA") == pytest.approx((0.0125 - 0.004) / (0.03 - 0.01))


def test_intelligent_tiering_has_no_retrieval_fee_and_a_monitoring_fee_per_object():
    t = costs.monthly_read_costs(1000, 100, object_mb=128, options=["INTELLIGENT_TIERING"]).loc["INTELLIGENT_TIERING"]
    frequent, unread = 0.1, 0.9  # 10% of the objects read at random each month
    assert t["storage"] == pytest.approx(1000 * (frequent * 0.023 + (unread - unread ** 3) * 0.0125
                                                 + unread ** 3 * 0.004))
    assert t["retrieval"] == 0.0 and t["monitoring"] == pytest.approx(1000 * 1024 / 128 / 1000 * 0.0025)
    with pytest.raises(ValueError, match="monitoring fee per object"):
        costs.monthly_read_costs(1000, 1, object_mb=None, options=["INTELLIGENT_TIERING"])
