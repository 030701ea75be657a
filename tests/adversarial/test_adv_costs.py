"""Cost inputs no generator of ours writes: reads beyond the data, objects below S3's 128 KB thresholds, restore
tiers that do not exist, and the guide's own lifecycle JSON sent to moto's server; break-evens derived by hand."""

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.experiments import costs as costs_exp
from labkit.topics import costs, s3

# us-east-1 list prices, typed in here on purpose: the test's own copy of the pricing page, not labkit's table
STORAGE = {"STANDARD": 0.023, "STANDARD_IA": 0.0125, "ONEZONE_IA": 0.01, "GLACIER_IR": 0.004}
RETRIEVAL = {"STANDARD": 0.0, "STANDARD_IA": 0.01, "ONEZONE_IA": 0.01, "GLACIER_IR": 0.03}
GET = {"STANDARD": 0.0004, "STANDARD_IA": 0.001, "ONEZONE_IA": 0.001, "GLACIER_IR": 0.01}


@settings(max_examples=30, deadline=None)
@given(cheap=st.sampled_from(["STANDARD_IA", "ONEZONE_IA", "GLACIER_IR"]),
       object_mb=st.sampled_from([None, 0.5, 8.0, 128.0, 1024.0]))
def test_every_break_even_matches_the_crossing_of_two_hand_priced_lines(cheap, object_mb):
    def per_gb_read(c):
        return RETRIEVAL[c] + (GET[c] / 1000 * 1024 / object_mb if object_mb else 0.0)

    by_hand = (STORAGE["STANDARD"] - STORAGE[cheap]) / (per_gb_read(cheap) - per_gb_read("STANDARD"))
    assert costs.break_even_reads(cheap, "STANDARD", stored_gb=1.0, object_mb=object_mb) == pytest.approx(by_hand)


def test_reading_more_than_the_data_is_billed_again_for_every_reread_gb():
    t = costs.monthly_read_costs(100, 500, object_mb=None, options=["STANDARD_IA"])
    assert t.loc["STANDARD_IA", "retrieval"] == pytest.approx(500 * 0.01)  # five reads of each GB, five charges


def test_objects_under_128_kb_pay_no_monitoring_fee_and_stay_at_the_frequent_access_price():
    small = costs.monthly_read_costs(10, 0, object_mb=0.1, options=["INTELLIGENT_TIERING"]).loc["INTELLIGENT_TIERING"]
    assert small["monitoring"] == 0.0 and small["storage"] == pytest.approx(10 * 0.023)  # never tiered down
    at_128kb = costs.monthly_read_costs(10, 0, object_mb=0.125, options=["INTELLIGENT_TIERING"])
    assert at_128kb.loc["INTELLIGENT_TIERING", "storage"] == pytest.approx(10 * 0.004)  # 128 KB is monitored


def test_small_objects_in_standard_ia_are_billed_as_128_kb_each():
    t = costs.monthly_read_costs(1, 0, object_mb=1 / 32, options=["STANDARD_IA"])  # 32 KB objects
    assert t.loc["STANDARD_IA", "storage"] == pytest.approx(4 * 0.0125)  # each billed as 128 KB: 4x the bytes


@settings(max_examples=30, deadline=None)
@given(read_fraction=st.floats(0.0, 3.0), object_mb=st.floats(0.01, 4096.0))
def test_intelligent_tiering_never_costs_more_than_standard_beyond_its_monitoring_fee(read_fraction, object_mb):
    t = costs.monthly_read_costs(100, 100 * read_fraction, object_mb=object_mb,
                                 options=["STANDARD", "INTELLIGENT_TIERING"])
    it = t.loc["INTELLIGENT_TIERING"]
    assert it["retrieval"] == 0.0
    assert it["total"] - it["monitoring"] <= t.loc["STANDARD", "total"] + 1e-9
    shares = costs.intelligent_tiering_split(min(read_fraction, 1.0))
    assert sum(shares.values()) == pytest.approx(1.0) and min(shares.values()) >= 0.0


def test_a_restore_tier_that_does_not_exist_is_refused_by_name():
    with pytest.raises(ValueError, match="no restore tier 'Expedited' for 'DEEP_ARCHIVE'.*DEEP_ARCHIVE/Bulk"):
        costs.monthly_read_costs(1000, 1, options=["DEEP_ARCHIVE/Expedited"])
    with pytest.raises(ValueError, match="unknown storage option 'TAPE'"):
        costs.monthly_read_costs(1000, 1, options=["TAPE"])


@pytest.mark.parametrize("bad", [dict(stored_gb=0, read=1), dict(stored_gb=1, read=-1)])
def test_empty_data_or_negative_reads_are_refused(bad):
    with pytest.raises(ValueError, match="stored_gb must be > 0"):
        costs.monthly_read_costs(bad["stored_gb"], bad["read"])


def test_the_guides_q3_lifecycle_json_is_refused_before_any_request_and_the_bucket_keeps_no_rule(s3c):
    s3c.create_bucket(Bucket="adv-costs")
    with pytest.raises(ValueError, match='"Id"'):
        s3.apply_lifecycle(s3c, "adv-costs", costs_exp.GUIDE_Q3_LIFECYCLE)
    with pytest.raises(ClientError) as err:  # nothing was put on the bucket
        s3c.get_bucket_lifecycle_configuration(Bucket="adv-costs")
    assert err.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
