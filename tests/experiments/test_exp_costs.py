"""Notebook 08's cost experiments: the guide's policies and cost figures, recomputed with the cost model."""

import pytest

from labkit.aws.lifecycle import lifecycle_policy, validate_lifecycle
from labkit.experiments import costs as costs_exp
from labkit.topics import costs


def test_guide_examples_set_each_of_the_guides_figures_against_ours():
    examples = costs_exp.guide_examples()
    assert list(examples.columns) == ["claim", "guide", "ours", "unit", "how"]
    assert examples.loc["costs.tiering.savings", "ours"] == pytest.approx(1 - 570 / 1380)  # not its 79%
    assert examples.loc["costs.standard_ia.discount", "ours"] == pytest.approx(costs.discount("STANDARD_IA"))
    assert examples.loc["costs.versioning.monthly_cost_after_1y", "ours"] == pytest.approx(3650 * 0.023)
    assert examples.loc["costs.direct_connect.savings", "ours"] == pytest.approx(1 - 0.02 / 0.09)
    assert 0.7 < examples.loc["costs.versioning.lifecycle_savings", "ours"] < 0.9
    assert examples["claim"].is_unique and examples.index.is_unique


def test_the_guides_policies_build_the_rules_the_guide_describes():
    tiering = lifecycle_policy(**costs_exp.GUIDE_TIERING_POLICY)["Rules"][0]
    assert [(t["Days"], t["StorageClass"]) for t in tiering["Transitions"]] == [
        (30, "STANDARD_IA"), (730, "GLACIER_IR"), (1095, "DEEP_ARCHIVE")]
    version = lifecycle_policy(**costs_exp.GUIDE_VERSION_POLICY)["Rules"][0]
    assert version["NoncurrentVersionTransitions"] == [{"NoncurrentDays": 30, "StorageClass": "GLACIER"}]
    assert version["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}


def test_the_guides_lifecycle_json_spells_ID_as_Id_which_botocores_model_and_boto3_refuse(s3c):
    import botocore.exceptions
    import botocore.session

    rule_shape = (botocore.session.get_session().get_service_model("s3")
                  .operation_model("PutBucketLifecycleConfiguration").input_shape
                  .members["LifecycleConfiguration"].members["Rules"].member)
    assert "ID" in rule_shape.members and "Id" not in rule_shape.members
    s3c.create_bucket(Bucket="lifecycle-check")
    for guide in (costs_exp.GUIDE_Q3_LIFECYCLE, costs_exp.GUIDE_Q10_LIFECYCLE):
        with pytest.raises(ValueError, match='Unknown parameter in Rules\\[0\\]: "Id", must be one of: Expiration, ID'):
            validate_lifecycle(guide)
        with pytest.raises(botocore.exceptions.ParamValidationError, match='"Id"'):
            s3c.put_bucket_lifecycle_configuration(Bucket="lifecycle-check", LifecycleConfiguration=guide)
        fixed = {"Rules": [{("ID" if k == "Id" else k): v for k, v in guide["Rules"][0].items()}]}
        assert isinstance(validate_lifecycle(fixed), list)  # with ID, the same rule passes


def test_tiering_against_standard_is_the_two_simulations_and_their_savings():
    tiered, standard, cumulative, savings = costs_exp.tiering_against_standard(1000, 5)
    assert len(tiered) == len(standard) == 60
    assert standard["total"].sum() == pytest.approx(1000 * 0.023 * 60)  # all STANDARD: 1 TB for 60 months
    assert list(cumulative.columns) == ["the guide's policy", "all STANDARD"]
    assert cumulative["all STANDARD"].iloc[-1] == pytest.approx(standard["total"].sum())
    assert savings == pytest.approx(1 - tiered["total"].sum() / standard["total"].sum())
    assert 0.6 < savings < 0.8  # not the guide's 79%: about 72%
    none = costs_exp.tiering_against_standard(1000, 1, policy=lifecycle_policy(transitions=[(400, "GLACIER")]))[3]
    assert none == pytest.approx(0.0)  # a policy that never moves anything inside the horizon saves nothing


def test_versioning_costs_sets_the_guides_rule_against_keeping_every_version():
    kept, ruled, totals = costs_exp.versioning_costs(10, 13)
    assert kept.attrs["run_rate"][364] == pytest.approx(3650 * 0.023)  # the guide's $83.95 a month at day 365
    assert list(totals.columns) == ["every version kept", "Glacier at 30 days, deleted at 90"]
    assert (totals["every version kept"] == kept["total"]).all()
    assert ruled.loc[6, "GLACIER"] == pytest.approx(60 * 10 * 0.0036)  # steady state: 60 days of versions in Glacier
    assert totals.iloc[-1, 1] < totals.iloc[-1, 0]


def test_read_volume_bills_prices_four_volumes_and_the_standard_ia_break_even():
    volumes, bills, table, break_even = costs_exp.read_volume_bills(1000, 128)
    assert volumes == {"none": 0.0, "10% a month": 100.0, "all of it, once": 1000.0, "twice": 2000.0}
    assert list(table.columns) == list(volumes) and set(bills) == set(volumes)
    ia = costs.monthly_read_costs(1000, 100, 128, options=["STANDARD_IA"]).loc["STANDARD_IA", "total"]
    assert table.loc["STANDARD_IA", "10% a month"] == pytest.approx(ia)
    assert table.loc["STANDARD", "none"] == pytest.approx(1000 * 0.023)
    assert break_even == pytest.approx(costs.break_even_reads(stored_gb=1000, object_mb=128))
    assert table.loc["STANDARD_IA", "none"] < table.loc["STANDARD", "none"]
    assert table.loc["STANDARD_IA", "twice"] > table.loc["STANDARD", "twice"]
    with pytest.raises(ValueError, match="monitoring fee per object"):
        costs_exp.read_volume_bills(1000, None)  # Intelligent-Tiering's fee is per object: a size is needed


def test_guide_lifecycles_are_q3_then_q10():
    assert costs_exp.GUIDE_LIFECYCLES == (costs_exp.GUIDE_Q3_LIFECYCLE, costs_exp.GUIDE_Q10_LIFECYCLE)
    assert [r["Rules"][0]["Id"] for r in costs_exp.GUIDE_LIFECYCLES] == ["Hot-Warm-Cold-Archive", "delete-old-versions"]
