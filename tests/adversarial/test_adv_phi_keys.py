"""The PHI key: long enough, one per purpose, named by an id, and never printed by a plan, the Spark UI or an error.

References the lab does not implement: RFC 5869's own test vector and the ``cryptography``
package's HKDF, Python's ``hmac``, and Spark's REST API read directly.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import re
from datetime import date

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from labkit.core import runtime
from labkit.core.measure import measure, noop
from labkit.core.plans import plan_text
from labkit.topics import phi
from labkit.topics.phi import keys

MASTER = "adv-" + hashlib.sha256(b"test_adv_phi_keys master").hexdigest()[:44]  # 48 bytes, unique to this file
ROWS = [("P-7731", "Zelda", "Quist", "123-45-6789", "zelda.quist@example.com", date(1931, 2, 28), "2024-02-29"),
        ("P-0042", "Annabeth", "Okonkwo-Li", "987-65-4321", "ann.li@example.org", date(2000, 2, 29), "2023-12-31")]
SCHEMA = ("patient_id string, first_name string, last_name string, ssn string, email string, dob date, "
          "admitted string")
RAW = [str(v) for row in ROWS for v in row]  # every raw identifier of the input, dates as Spark prints them


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch):
    monkeypatch.delenv("LABKIT_PHI_KEY", raising=False)


@pytest.fixture(scope="module")
def patients(spark):
    return spark.createDataFrame(ROWS, SCHEMA)


def _forms(secret: bytes) -> list[str]:
    """The ways a key could be printed: raw, hex (both cases), base64."""
    return [secret.decode("latin-1"), secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode()]


SECRETS = [f for s in [MASTER.encode(), *(phi.derive_key(p, MASTER) for p in phi.PURPOSES)] for f in _forms(s)]


def _leaks(text: str) -> list[str]:
    """Which forbidden strings (key forms, raw identifiers) a text contains, named by kind and index only."""
    found = [f"key form {i}" for i, s in enumerate(SECRETS) if s in text]
    return found + [f"raw value {i}" for i, v in enumerate(RAW) if v in text]


def _masked(patients):
    out = phi.shift_dates(patients, "patient_id", ["dob", "admitted"], MASTER)
    return out.select(phi.pseudonym(F.col("patient_id"), MASTER).alias("pid"),
                      phi.pseudonym(F.col("first_name"), MASTER).alias("first"),
                      phi.token_encrypt(F.col("ssn"), MASTER, aad="ssn").alias("ssn_gcm"),
                      phi.token_encrypt(F.col("email"), MASTER, "ECB").alias("email_ecb"),
                      F.year("dob").alias("dob_year"), "admitted")


def _explain_all(df) -> str:
    """What ``explain`` prints in every mode, the query execution's string and the executed plan."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        for mode in ("extended", "codegen", "formatted"):  # every logical plan; the generated code; the UI's mode
            df.explain(mode)
    return "\n".join([buffer.getvalue(), df._jdf.queryExecution().toString(), plan_text(df, final=False)])


def _errors(df) -> list[str]:
    """The messages of queries over the masked columns that fail: at analysis and at run time."""
    failing = [lambda: df.select("no_such_column").collect(),  # the analysis error prints the plan
               lambda: df.select(F.col("first").cast("int")).collect()]  # the ANSI cast error quotes the pseudonym
    messages = []
    for run in failing:
        with pytest.raises(Exception) as err:  # noqa: PT011 - any failure; its text is what is checked
            run()
        messages.append(str(err.value))
    return messages


def test_the_key_is_in_no_plan_no_measured_plan_no_ui_record_and_no_error_message(spark, patients):
    masked = _masked(patients)
    rows = masked.collect()
    assert len(rows) == 2 and all(r["pid"] and r["first"] and r["ssn_gcm"] and r["email_ecb"] for r in rows)
    assert not _leaks(_explain_all(masked))
    m = measure(spark, noop(masked), "phi keys")
    assert m.plan is not None and "Project" in m.plan.text and not _leaks(m.plan.text)
    base = runtime.api_base(spark)  # everything the Spark UI's REST API holds for this application
    ui = json.dumps([runtime.get_json(base + "/sql?details=true&planDescription=true&length=100000"),
                     runtime.get_json(base + "/jobs"), runtime.get_json(base + "/stages")])
    assert "hmac" in ui and not _leaks(ui)
    messages = _errors(masked)
    assert all(messages) and not [(i, _leaks(t)) for i, t in enumerate(messages) if _leaks(t)]
    columns = [phi.pseudonym(F.col("x"), MASTER), phi.token_encrypt(F.col("x"), MASTER),
               phi.token_decrypt(F.col("x"), MASTER, "ECB"), phi.generalize_date(F.col("x"))]
    assert not _leaks(" ".join(str(c) for c in columns))  # a Column's repr


@given(size=st.integers(0, 64), multibyte=st.booleans())
@settings(max_examples=30, deadline=None)
def test_a_master_key_is_accepted_only_from_32_bytes_and_the_error_never_shows_it(size, multibyte):
    key = ("é" * (size // 2) + "~" * (size % 2)) if multibyte else "~" * size  # "é" is 2 bytes in UTF-8
    assert len(key.encode()) == size
    if size >= 32:
        assert len(phi.derive_key("pseudonym", key)) == 32
        return
    with pytest.raises(phi.PHIKeyError) as err:
        phi.derive_key("pseudonym", key)
    text = str(err.value)
    assert ("at least 32 bytes" in text and "RFC 2104" in text) if size else "needs a secret key" in text
    assert not key or key not in text


def test_every_keyed_policy_refuses_a_one_byte_key_before_building_anything(patients, monkeypatch):
    calls = [lambda: phi.pseudonym(F.col("first_name"), "k"), lambda: phi.pseudonym_udf("k"),
             lambda: phi.shift_dates(patients, "patient_id", ["dob"], "k"),
             lambda: phi.token_encrypt(F.col("ssn"), "k"), lambda: phi.token_decrypt(F.col("ssn"), "k"),
             lambda: phi.token_decrypt(F.col("ssn"), "k" * 16, "ECB"),  # a valid AES-128 length is not enough
             lambda: phi.key_id("k")]
    for call in calls:
        with pytest.raises(phi.PHIKeyError, match="at least 32 bytes"):
            call()
    monkeypatch.setenv("LABKIT_PHI_KEY", "short-env-key")
    with pytest.raises(phi.PHIKeyError, match=r"\(LABKIT_PHI_KEY\) is 13 bytes"):
        phi.pseudonym(F.col("first_name"))
    with pytest.raises(phi.PHIKeyError, match="at least 32 bytes"):
        phi.run_key()


def test_run_key_without_the_variable_is_random_and_passes_the_length_rule():
    with pytest.warns(UserWarning, match="random key for this run only"):
        one, two = phi.run_key(), phi.run_key()
    assert one != two and len(one.encode()) >= 32 and phi.phi_key(one) == one


def test_hkdf_matches_rfc_5869_and_the_cryptography_package():
    # RFC 5869 appendix A.1, test case 1
    okm = keys._hkdf(bytes([0x0B] * 22), bytes(range(0xF0, 0xFA)), 42, salt=bytes(range(0x0D)))
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    for purpose in phi.PURPOSES:
        ref = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"labkit/phi/v1/" + purpose.encode())
        assert phi.derive_key(purpose, MASTER) == ref.derive(MASTER.encode())


def test_each_purpose_gets_its_own_key_and_none_is_the_master(spark):
    derived = {p: phi.derive_key(p, MASTER) for p in phi.PURPOSES}
    assert len(set(derived.values())) == len(derived) and MASTER.encode()[:32] not in derived.values()
    df = spark.createDataFrame([("Alice",)], "v string")
    got = df.select(phi.pseudonym(F.col("v"), MASTER)).first()[0]
    assert got == hmac.new(derived["pseudonym"], b"Alice", hashlib.sha256).hexdigest()
    assert got != hmac.new(MASTER.encode(), b"Alice", hashlib.sha256).hexdigest()  # not the master key itself
    token = df.select(phi.token_encrypt(F.col("v"), MASTER, "ECB").alias("t"))
    with_master = F.try_aes_decrypt(F.unbase64("t"), F.lit(MASTER.encode()[:32]), F.lit("ECB"))
    row = token.select(with_master.alias("m"), phi.token_decrypt(F.col("t"), MASTER, "ECB").alias("d")).first()
    assert row["m"] is None and row["d"] == "Alice"


def test_date_shift_offsets_are_the_hmac_of_the_id_under_the_date_shift_key(spark):
    rows = [(f"id-{i}", date(2024, 1, 1)) for i in range(20)]
    df = spark.createDataFrame(rows, "id string, d date")
    got = {r["id"]: r["d"] for r in phi.shift_dates(df, "id", ["d"], MASTER, max_days=30).collect()}
    secret = phi.derive_key("date-shift", MASTER)
    for pid, day in rows:
        offset = int(hmac.new(secret, pid.encode(), hashlib.sha256).hexdigest()[:8], 16) % 61 - 30
        assert (got[pid] - day).days == offset


def test_key_id_is_short_stable_not_the_key_and_a_rotated_key_is_refused():
    kid = phi.key_id(MASTER)
    assert re.fullmatch("[0-9a-f]{8}", kid) and kid == phi.key_id(MASTER) and kid not in "".join(SECRETS[:4])
    rotated = MASTER[:-1] + ("x" if MASTER[-1] != "x" else "y")
    assert phi.key_id(rotated) != kid
    phi.require_key_id(kid, MASTER)
    with pytest.raises(phi.PHIKeyError, match=f"release was made with key id {kid}") as err:
        phi.require_key_id(kid, rotated)
    assert MASTER not in str(err.value) and rotated not in str(err.value)


def test_gcm_tokens_carry_their_column_as_associated_data(spark):
    df = spark.createDataFrame([("123-45-6789",)], "ssn string")
    tokens = df.select(phi.token_encrypt(F.col("ssn"), MASTER, aad="ssn").alias("t"))
    row = tokens.select(phi.token_decrypt(F.col("t"), MASTER, aad="ssn").alias("right"),
                        phi.token_decrypt(F.col("t"), MASTER, aad="email").alias("other_column"),
                        phi.token_decrypt(F.col("t"), MASTER).alias("no_aad")).first()
    assert row["right"] == "123-45-6789" and row["other_column"] is None and row["no_aad"] is None
    for mode in ("ECB", "CBC"):
        with pytest.raises(ValueError, match="needs mode='GCM'"):
            phi.token_encrypt(F.col("ssn"), MASTER, mode, aad="ssn")


def test_ecb_tokens_leak_shared_16_byte_prefixes_and_length_and_gcm_tokens_do_not(spark):
    values = ["patient-notes-ab/0001", "patient-notes-ab/0002", "x"]  # the first two share 16 bytes
    df = spark.createDataFrame([(v,) for v in values], "v string")
    out = df.select(phi.token_encrypt(F.col("v"), MASTER, "ECB").alias("ecb"),
                    phi.token_encrypt(F.col("v"), MASTER, "GCM").alias("gcm")).collect()
    ecb = [base64.b64decode(r["ecb"]) for r in out]
    gcm = [base64.b64decode(r["gcm"]) for r in out]
    assert ecb[0][:16] == ecb[1][:16] and ecb[0] != ecb[1]  # equal first block: equal first 16 bytes of plaintext
    assert len(ecb[0]) == 32 and len(ecb[2]) == 16  # the length, rounded up to the block
    assert gcm[0][:16] != gcm[1][:16]


def test_a_malformed_date_stops_shift_dates_naming_the_column_and_count_not_the_value(spark):
    df = spark.createDataFrame([("a", "1950-02-30"), ("b", "02/30/1950"), ("c", "2001-03-04"), ("d", None)],
                               "id string, born string")
    with pytest.raises(ValueError, match=r"column 'born' has 2 value\(s\) that are not dates") as err:
        phi.shift_dates(df, "id", ["born"], MASTER)
    assert "1950" not in str(err.value) and "02/30" not in str(err.value)
    with pytest.raises(Exception, match="born holds a value that is not a date") as err:  # noqa: PT011
        df.select(phi.generalize_date(F.col("born"), "born")).collect()
    assert "1950" not in str(err.value)
    good = df.where("id in ('c', 'd')")
    assert [r[0] for r in good.select(phi.generalize_date(F.col("born"))).orderBy("id").collect()] == [2001, None]
    with pytest.raises(ValueError, match=r"'n' \(bigint\) are not dates"):
        phi.require_dates(spark.range(1).withColumnRenamed("id", "n"), ["n"])


def test_shift_dates_keeps_timestamps_and_refuses_a_null_id_beside_a_date(spark):
    df = spark.sql("SELECT 'a' AS id, TIMESTAMP'2024-03-01 13:45:00' AS t, DATE'2024-03-05' AS d")
    out = phi.shift_dates(df, "id", ["t", "d"], MASTER)
    assert dict(out.dtypes)["t"] == "timestamp"
    row = out.select(F.hour("t"), F.minute("t"), F.datediff("d", F.to_date("t")),
                     F.datediff(F.to_date("t"), F.lit("2024-03-01").cast("date"))).first()
    assert tuple(row)[:3] == (13, 45, 4) and row[3] != 0  # a whole-day shift: the time of day and the gap survive
    orphan = spark.createDataFrame([(None, date(2024, 3, 5))], "id string, d date")
    with pytest.raises(ValueError, match=r"1 row\(s\) have a null 'id' and a date"):
        phi.shift_dates(orphan, "id", ["d"], MASTER)
