"""PHI policies: nothing raw gets through, the attack works on the guide's hashes and not on keyed ones."""

import hashlib
import hmac
from datetime import date

import pytest
from pyspark.sql import functions as F

from labkit.core.datagen import PATIENT_IDENTIFIERS, faker_lists, patients
from labkit.topics import phi

KEY = "a-test-key-that-is-32-bytes-long"
SPEC = {**PATIENT_IDENTIFIERS, "age": "age", "gender": "keep", "diagnosis_code": "keep", "amount": "keep",
        "state": "keep"}


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("LABKIT_PHI_KEY", KEY)


@pytest.fixture(scope="module")
def people(spark):
    return patients(spark, 300, seed=3, as_of="2025-06-30").cache()  # every check below holds on 300 as on 1500


@pytest.fixture(scope="module")
def edge(spark):
    """Hand-made: a null SSN, an SSN without dashes, a name in the note, a restricted ZIP, age 95, a leap day."""
    rows = [("E1", "Zelda", "Quist", None, "zq@example.com", "555 123 9876", "03601", date(1930, 2, 28), 95,
             "Zelda Quist phoned 555-123-9876 on 02/29/2024 about her SSN 123-45-6789"),
            ("E2", "Ann", "Li", "123456789", "ann.li@example.org", "(212) 555-0100", "10025", date(2000, 2, 29), 25,
             "Follow-up for ann li; no other identifiers")]
    return spark.createDataFrame(rows, "patient_id string, first_name string, last_name string, ssn string, "
                                       "email string, phone string, zip string, dob date, age int, note string")


EDGE_SPEC = {"patient_id": "record_id", "first_name": "name", "last_name": "name", "ssn": "ssn", "email": "email",
             "phone": "phone", "zip": "zip", "dob": "birth_date", "age": "age", "note": "free_text"}


def test_column_policies_mask_the_edge_cases(edge):
    out = edge.select(phi.mask_ssn(F.col("ssn")).alias("ssn"), phi.mask_email(F.col("email")).alias("email"),
                      phi.mask_phone(F.col("phone")).alias("phone")).collect()
    assert [tuple(r) for r in out] == [(None, "z***@example.com", "***-***-9876"),
                                       ("XXX-XX-6789", "a***@example.org", "***-***-0100")]


def test_every_policy_leaves_no_raw_identifier(people, edge):
    for frame, cols in ((people, ["ssn", "email", "phone", "first_name"]), (edge, ["ssn", "email", "phone"])):
        masked = frame.select(phi.mask_ssn(F.col("ssn")), phi.mask_email(F.col("email")),
                              phi.mask_phone(F.col("phone")), phi.pseudonym(F.col("first_name")))
        phi.assert_no_phi(masked, frame, cols)


def test_safe_harbor_removes_all_identifiers_on_generated_and_hand_made_data(people, edge):
    for frame, spec in ((people, SPEC), (edge, EDGE_SPEC)):
        out, link = phi.deidentify_safe_harbor(frame, spec, as_of="2025-06-30")
        report = phi.assert_no_phi(out, frame, [c for c, k in spec.items() if k not in ("age", "keep")])
        assert (report["leaked"] == 0).all() and report["values"].sum() > 0
        rows = frame.count()
        assert link.count() == rows and out.agg(F.count_distinct("study_id")).first()[0] == rows
    rows = out.collect()  # the hand-made data's release, from the last round of the loop
    got = {r["zip"]: (r["dob"], r["age"]) for r in rows}
    assert got == {"000": ("90+", "90+"), "100": ("2000", "25")}  # restricted ZIP3, age 95 top-coded, leap day
    notes = [r["note"] for r in rows]
    assert all("zelda" not in n.lower() and "ann li" not in n.lower() and "6789" not in n for n in notes)


def test_study_ids_are_random_not_derived_from_the_identifiers(people):
    a, _ = phi.deidentify_safe_harbor(people.limit(50), SPEC, as_of="2025-06-30")
    b, _ = phi.deidentify_safe_harbor(people.limit(50), SPEC, as_of="2025-06-30")
    assert not set(r[0] for r in a.select("study_id").collect()) & set(r[0] for r in b.select("study_id").collect())


def test_bad_specs_and_unlisted_phi_columns_are_refused(people):
    with pytest.raises(ValueError, match=r"spec names column\(s\) \['fax'\]"):
        phi.deidentify_safe_harbor(people, {**SPEC, "fax": "fax"})
    with pytest.raises(ValueError, match="unknown identifier kind"):
        phi.deidentify_safe_harbor(people, {**SPEC, "ssn": "secret"})
    partial = {k: v for k, v in SPEC.items() if k != "email"}
    with pytest.raises(ValueError, match=r"\['email'\] are not in the spec but look like PHI"):
        phi.deidentify_safe_harbor(people, partial)


def test_the_built_in_hmac_matches_pythons_hmac_and_needs_a_key(spark, monkeypatch):
    df = spark.createDataFrame([("Alice",), ("Bob",)], "name string")
    got = [r[0] for r in df.select(phi.pseudonym(F.col("name"))).collect()]
    secret = phi.derive_key("pseudonym", KEY)  # the HMAC key is the master key's "pseudonym" derivation
    want = [hmac.new(secret, n.encode(), hashlib.sha256).hexdigest() for n in ("Alice", "Bob")]
    assert got == want
    other = [r[0] for r in df.select(phi.pseudonym(F.col("name"), key="another key, at least 32 bytes long")).collect()]
    assert not set(got) & set(other)
    monkeypatch.delenv("LABKIT_PHI_KEY")
    with pytest.raises(phi.PHIKeyError, match="LABKIT_PHI_KEY"):
        phi.pseudonym(F.col("name"))
    with pytest.raises(phi.PHIKeyError):
        phi.pseudonym(F.col("name"), key="")


def test_the_dictionary_attack_reverses_unsalted_hashes_and_not_keyed_ones(people):
    names = faker_lists()["first"]
    guide = phi.dictionary_attack(people.select(F.sha2(F.col("first_name"), 256).alias("h")), "h", names)
    keyed = phi.dictionary_attack(people.select(phi.pseudonym(F.col("first_name")).alias("h")), "h", names)
    assert guide["fraction"] > 0.5 and keyed["recovered"] == 0


def test_dates_shift_by_one_secret_offset_per_patient(people):
    shifted = phi.shift_dates(people, "patient_id", ["admission_date", "discharge_date"])
    both = people.alias("a").join(shifted.alias("b"), "patient_id")
    stays = both.select((F.datediff("a.discharge_date", "a.admission_date") ==
                         F.datediff("b.discharge_date", "b.admission_date")).alias("same"),
                        F.datediff("b.admission_date", "a.admission_date").alias("shift"))
    assert stays.filter("not same").count() == 0
    assert stays.agg(F.countDistinct("shift")).first()[0] > 50  # offsets differ between patients


def test_aes_tokens_round_trip_gcm_is_randomised_and_ecb_is_not(spark):
    df = spark.createDataFrame([("x",), ("x",)], "v string")
    gcm = df.select(phi.token_encrypt(F.col("v")).alias("t"))
    assert gcm.distinct().count() == 2
    assert [r[0] for r in gcm.select(phi.token_decrypt(F.col("t"))).collect()] == ["x", "x"]
    assert df.select(phi.token_encrypt(F.col("v"), mode="ECB")).distinct().count() == 1
    with pytest.raises(phi.PHIKeyError, match="at least 32 bytes"):
        phi.token_encrypt(F.col("v"), key="short")


def test_scan_finds_the_generators_identifiers(people):
    table = phi.scan_for_phi(people, truth=PATIENT_IDENTIFIERS)
    assert table.attrs["recall"] == 1.0 and table.attrs["precision"] >= 0.9
    assert not table.loc["diagnosis_code", "phi"] and not table.loc["amount", "phi"]


def test_k_anonymity_counts_the_smallest_group(spark):
    df = spark.createDataFrame([("021", 1950, "F")] * 5 + [("100", 1960, "M")] * 2, "z string, y int, g string")
    k, low = phi.k_anonymity(df, ["z", "y", "g"])
    assert k == 2 and low.iloc[0]["count"] == 2


def test_access_policy_and_retention_rules_are_checked_as_data():
    good = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                                                    "Resource": "arn:aws:s3:::phi/*", "Condition": {}}]}
    assert phi.validate_access_policy(good) == []
    with pytest.raises(ValueError, match="has no Resource"):
        phi.validate_access_policy({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]})
    guide = {"Rules": [{"Id": "phi-retention-policy", "Status": "Enabled", "Filter": {"Prefix": "phi/"},
                        "Transitions": [{"Days": 90, "StorageClass": "GLACIER_IR"},
                                        {"Days": 2190, "StorageClass": "DEEP_ARCHIVE"}],
                        "Expiration": {"Days": 2555}, "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]}
    problems = phi.validate_retention(guide)
    assert any("spells its id 'Id'" in p for p in problems)
    short = {"Rules": [{"ID": "r", "Status": "Enabled", "Expiration": {"Days": 365}}]}
    assert any("under 6 years" in p for p in phi.validate_retention(short))


def test_a_first_name_inside_a_last_name_does_not_leave_a_fragment(spark):
    df = spark.createDataFrame([("Frank", "Franklin", "Pt Frank Franklin seen today")], "f string, l string, n string")
    out = df.select(phi.redact_text(F.col("n"), [F.col("f"), F.col("l")]).alias("n"))
    assert out.first()["n"] == "Pt [NAME] [NAME] seen today"
    phi.assert_no_phi(out, df, ["f", "l"])


def test_leak_check_error_is_none_for_clean_output_and_the_message_for_a_leak(people):
    assert phi.leak_check_error(people.select(phi.mask_ssn(F.col("ssn"))), people, ["ssn"]) is None
    message = phi.leak_check_error(people.select("note"), people, ["first_name", "last_name"])
    assert message.startswith("the leak check failed") and "first_name" in message
    row = people.select("first_name", "last_name").first()
    assert row["first_name"] not in message and row["last_name"] not in message  # counts, never a value


def test_the_id_format_enumeration_relinks_sha2_study_ids(spark, people):
    study = phi.id_enumeration_attack(people, "patient_id", "P{:07d}")
    assert study["hashes"] == people.select("patient_id").distinct().count() and study["fraction"] == 1.0
    few = spark.createDataFrame([("P0000003",), ("P0000900",), ("X1",)], "patient_id string")
    assert phi.id_enumeration_attack(few, "patient_id", most=100)["recovered"] == 1  # only P0000003 is enumerated
    assert phi.id_enumeration_attack(few, "patient_id", per_row=1)["recovered"] == 0  # 3 guesses: P0..P2
    with pytest.raises(ValueError, match="most"):
        phi.id_enumeration_attack(few, "patient_id", most=0)


def test_token_round_trip_and_interval_changes_on_generated_patients(spark, people):
    trip = phi.token_round_trip(people.limit(20), "ssn", KEY)
    assert trip == {"rows": 20, "not back": 0, "opened elsewhere": 0}
    assert phi.interval_changes(people, "patient_id", "admission_date", "discharge_date", KEY) == 0
    with pytest.raises(ValueError, match="other_aad"):
        phi.token_round_trip(people, "ssn", KEY, other_aad="ssn")
    # rows joined back by id: two stays of one id (4 and 9 days) pair each with the other's shifted interval
    two = spark.createDataFrame([("a", date(2024, 1, 1), date(2024, 1, 5)), ("a", date(2024, 2, 1), date(2024, 2, 10))],
                                "patient_id string, s date, e date")
    assert phi.interval_changes(two, "patient_id", "s", "e", KEY) == 2
    assert phi.interval_changes(two.limit(1), "patient_id", "s", "e", KEY) == 0
