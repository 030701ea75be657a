"""Notebook 07's PHI experiments: the guide's masking, identifier list, policies and URL, and the timed pseudonyms."""

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit.core.datagen import faker_lists, patients
from labkit.experiments import phi as phi_exp
from labkit.topics import phi

KEY = "a-test-key-that-is-32-bytes-long"


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("LABKIT_PHI_KEY", KEY)


@pytest.fixture(scope="module")
def people(spark):
    return patients(spark, 300, seed=3, as_of="2025-06-30").cache()  # the checks hold on 300 as on 1500


def test_the_guides_name_masking_is_unsalted_sha2_and_the_dictionary_attack_reverses_it(people):
    names = faker_lists()["first"]
    masked = people.select(phi_exp.guide_mask_name(F.col("first_name")).alias("h"))
    assertDataFrameEqual(masked, people.select(F.sha2(F.col("first_name"), 256).alias("h")))
    assert phi.dictionary_attack(masked, "h", names)["fraction"] > 0.5
    assert phi.dictionary_attack(masked, "h", names, hash_fn=phi_exp.guide_mask_name)["fraction"] > 0.5


def test_dropping_the_guides_22_column_names_leaves_identifiers_in_the_note(people):
    assert phi.leak_check_error(people.drop(*phi_exp.GUIDE_IDENTIFIERS), people, ["first_name"]) is not None


def test_the_guides_identifier_list_maps_to_the_official_18():
    assert len(phi.SAFE_HARBOR_18) == 18 and len(phi_exp.GUIDE_IDENTIFIERS) == 22
    letters = {letter for letter, _, _ in phi.SAFE_HARBOR_18}
    assert {v for v in phi_exp.GUIDE_IDENTIFIERS.values() if v} <= letters
    assert phi_exp.GUIDE_IDENTIFIERS["state"] is None  # a state is not a Safe Harbor identifier


def test_pseudonym_throughput_times_each_way_and_adds_rows_per_second(people):
    ways = phi_exp.pseudonym_implementations(people.limit(200), "email", KEY)
    speed = phi_exp.pseudonym_throughput(ways, 200, repeats=1)
    assert set(speed.index) == set(ways) and (speed["rows_per_s"] > 0).all()
    assert speed["rows_per_s"].to_dict() == pytest.approx((200 / speed["median_s"]).to_dict())
    with pytest.raises(ValueError, match="rows"):
        phi_exp.pseudonym_throughput(ways, -1)


def test_jdbc_tls_table_puts_the_guides_url_beside_the_safe_one():
    table = phi_exp.jdbc_tls_table()
    assert list(table["url"]) == [phi_exp.GUIDE_REDSHIFT_URL, phi.SAFE_REDSHIFT_URL] and "problems" not in table
    assert list(table["verifies_certificate"]) == [False, True] and list(table["verifies_hostname"]) == [False, True]
    assert list(table["encrypted"]) == [True, True]
    mine = phi_exp.jdbc_tls_table([("jdbc:redshift://h:5439/db", None)])
    assert len(mine) == 1 and not mine.loc[0, "encrypted"]


def test_the_guides_policies_are_fresh_copies_and_fail_the_retention_check():
    policy, retention = phi_exp.guide_policies()
    assert retention["Rules"][0]["Id"] == "phi-retention-policy" and len(policy["Statement"]) == 2
    assert any("spells its id 'Id'" in p for p in phi.validate_retention(retention))
    assert phi.validate_access_policy(policy) == []  # every statement has a condition, no wildcard
    retention["Rules"][0]["ID"] = retention["Rules"][0].pop("Id")
    assert phi_exp.guide_policies()[1]["Rules"][0]["Id"] == "phi-retention-policy"  # changing a copy changes nothing
