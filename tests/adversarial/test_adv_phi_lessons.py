"""Issue #24, notebook 07: the pandas-UDF pseudonym for Spark < 4.3, the guide's Redshift URL, and the checks
behind the notebook's corrections; against Python's ``hmac``, Spark's own function catalogue, the Redshift JDBC
driver's rules (``aws/amazon-redshift-jdbc-driver``) and pyarrow reading Parquet with no key."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark import cloudpickle
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from labkit.core.paths import REPO
from labkit.core.plans import plan_text
from labkit.experiments import phi as phi_exp
from labkit.topics import phi
from labkit.topics.phi import masking

KEY = "a-test-key-that-is-32-bytes-long"
HAND = ["Zoë", "", None, "x" * 100_000, "日本語の名前", "DNA 🧬 emoji", "a\u0301 (combining accent)", "line\nbreak",
        "  padded  ", "O'Brien-Smith", "\t", None]


def _want(value: str | None) -> str | None:
    """Python's own HMAC-SHA256 hex under the pseudonym key: the reference the lab does not implement."""
    secret = phi.derive_key("pseudonym", KEY)
    return None if value is None else hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _both(spark, values):
    """One Spark job: the built-in and the pandas-UDF pseudonym of each value, in input order."""
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    rows = df.select("i", phi.pseudonym(F.col("v"), KEY).alias("builtin"),
                     phi.pseudonym_pandas(F.col("v"), KEY).alias("pandas")).orderBy("i").collect()
    return [r["builtin"] for r in rows], [r["pandas"] for r in rows]


def test_pandas_udf_pseudonym_is_byte_identical_to_the_builtin_and_to_pythons_hmac_on_hand_written_values(spark):
    builtin, pandas = _both(spark, HAND)
    assert pandas == [_want(v) for v in HAND]
    assert builtin == pandas
    assert [p is None for p in pandas] == [v is None for v in HAND]  # nulls stay null, "" is hashed
    assert pandas[1] == hmac.new(phi.derive_key("pseudonym", KEY), b"", hashlib.sha256).hexdigest()


@settings(max_examples=10, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)),
                min_size=1, max_size=25))
def test_pandas_udf_pseudonym_matches_pythons_hmac_on_generated_text(spark, values):
    builtin, pandas = _both(spark, values)
    assert pandas == [_want(v) for v in values]
    assert builtin == pandas


def test_non_strings_are_cast_by_spark_before_hashing_so_both_paths_hash_the_same_text(spark):
    df = spark.createDataFrame([(7, True, date(2024, 2, 29))], "n int, b boolean, d date")
    for column, text in (("n", "7"), ("b", "true"), ("d", "2024-02-29")):
        got = df.select(phi.pseudonym(F.col(column), KEY).alias("x"), phi.pseudonym_pandas(F.col(column), KEY)
                        .alias("y")).first()
        assert got["x"] == got["y"] == _want(text)


def test_the_three_implementations_give_the_same_pseudonyms(spark):
    df = spark.createDataFrame([(v,) for v in HAND], "v string")
    ways = phi_exp.pseudonym_implementations(df, "v", KEY)
    assert list(ways) == ["built-in hmac", "pandas UDF", "Python UDF"]
    for frame in ways.values():
        assertDataFrameEqual(frame, ways["built-in hmac"])


def test_the_key_is_in_no_plan_and_no_error_of_the_pandas_udf_pseudonym(spark):
    secret = phi.derive_key("pseudonym", KEY)
    df = spark.createDataFrame([("Alice",)], "name string")
    shown = df.select(phi.pseudonym_pandas(F.col("name"), KEY))
    texts = [plan_text(shown, final=False)]
    with pytest.raises(AnalysisException) as err:  # an analysis error that prints the plan around the UDF
        df.select(phi.pseudonym_pandas(F.col("no_such_column"), KEY)).collect()
    texts.append(str(err.value))
    for text in texts:
        assert KEY not in text and secret.hex() not in text and secret.hex().upper() not in text
    assert "hmac_sha256_hex" in texts[0]  # the plan names the function, not its closure


def test_the_pandas_udf_ships_the_derived_key_inside_its_pickled_closure():
    """Honest about the fallback: the key is not in any plan text, but it travels, pickled, with every task."""
    secret = phi.derive_key("pseudonym", KEY)
    shipped = cloudpickle.dumps(masking._hmac_hex_udf(secret).func)
    assert secret in shipped
    assert KEY.encode() not in shipped  # the master key never does


def test_hmac_exists_from_spark_4_3_0_as_the_function_catalogue_says(spark):
    assert phi.hmac_since(spark) == phi.HMAC_SINCE == "4.3.0"
    assert phi.builtin_hmac_available(spark.version)
    for version, has in (("3.5.4-amzn-0", False), ("3.5.6", False), ("4.0.1", False), ("4.2.0", False),
                         ("4.3.0-SNAPSHOT", True), ("4.3.0", True), ("4.10.0", True), ("5.0", True)):
        assert phi.builtin_hmac_available(version) is has, version
    with pytest.raises(ValueError):
        phi.builtin_hmac_available("latest")


# ---------------------------------------------------------------- the guide's Redshift JDBC URL


def test_the_guides_redshift_url_is_quoted_exactly_from_the_guide():
    guide = (REPO / "benchmarks" / "guide.md").read_text(encoding="utf-8")
    assert f"'url': '{phi_exp.GUIDE_REDSHIFT_URL}'" in guide


def test_the_guides_redshift_url_encrypts_but_accepts_any_certificate():
    tls = phi.jdbc_tls(phi_exp.GUIDE_REDSHIFT_URL, {"sslmode": "require"})  # the guide's dict, beside the URL
    assert tls["encrypted"] and tls["sslfactory"].endswith(".NonValidatingFactory")
    assert not tls["verifies_certificate"] and not tls["verifies_hostname"]
    assert any("certificate validation is off" in p for p in tls["problems"])
    safe = phi.jdbc_tls(phi.SAFE_REDSHIFT_URL)
    assert safe["verifies_certificate"] and safe["verifies_hostname"] and safe["problems"] == []


@pytest.mark.parametrize(("url", "props", "mode", "chain", "host"), [
    ("jdbc:redshift://h:5439/db", None, "allow", False, False),                      # no ssl: plaintext possible
    ("jdbc:redshift://h:5439/db?ssl=true", None, "verify-ca", True, False),          # the driver's ssl default
    ("jdbc:redshift://h:5439/db?ssl", None, "verify-ca", True, False),               # a bare name means ""
    ("jdbc:redshift://h:5439/db?SSL=TRUE", None, "verify-ca", True, False),          # names and booleans: any case
    ("jdbc:redshift://h:5439/db?ssl=false", None, "allow", False, False),
    ("jdbc:redshift://h:5439/db?ssl=true&sslmode=require", None, "require", False, False),
    ("jdbc:redshift://h:5439/db;ssl=true;sslmode=verify-full", None, "verify-full", True, True),
    ("jdbc:redshift://h:5439/db?sslmode=verify-full", {"sslmode": "disable"}, "verify-full", True, True),  # URL wins
    ("jdbc:redshift://h:5439/db", {"sslmode": "verify-full"}, "verify-full", True, True),
    ("jdbc:redshift://h:5439/db?sslmode=verify-full&sslfactory=com.amazon.redshift.ssl.NonValidatingFactory",
     None, "verify-full", False, False),  # a host-name check on an unchecked certificate proves nothing
    ("jdbc:redshift://h/db?sslmode=verify-ca&sslfactory=com.amazon.redshift.ssl.LibPQFactory", None, "verify-ca",
     True, False),  # naming the driver's own factory changes nothing
    ("jdbc:redshift:iam://h:5439/db", None, "prefer", False, False),
])
def test_sslmode_and_sslfactory_decide_what_the_driver_checks(url, props, mode, chain, host):
    tls = phi.jdbc_tls(url, props)
    assert (tls["sslmode"], tls["verifies_certificate"], tls["verifies_hostname"]) == (mode, chain, host)
    assert tls["encrypted"] is (mode in ("require", "verify-ca", "verify-full"))
    assert (tls["problems"] == []) is (chain and host)


def test_url_forms_split_the_way_the_redshift_driver_splits_them():
    one = phi.parse_jdbc_url("jdbc:redshift://a.example.com,b.example.com:5440/my%20db;UID=me;sslRootCert=%2Ftmp%2F"
                             "ca.crt&x")
    assert one == {"iam": False, "hosts": [("a.example.com", 5439), ("b.example.com", 5440)], "database": "my db",
                   "properties": {"uid": "me", "sslrootcert": "/tmp/ca.crt", "x": ""}}
    iam = phi.parse_jdbc_url("jdbc:redshift:iam://my-cluster:us-east-1/dev?AutoCreate=true")
    assert iam["iam"] and iam["hosts"] == [("my-cluster", "us-east-1")] and iam["properties"] == {"autocreate": "true"}
    q = phi.parse_jdbc_url("jdbc:redshift://h:5439/db?a=1;b=2&c=3")  # '?' first, then both separators
    assert q["properties"] == {"a": "1", "b": "2", "c": "3"}


@pytest.mark.parametrize("url", ["jdbc:postgresql://h:5432/db?password=hunter2", "jdbc:redshift://h:5439?pwd=hunter2",
                                 "jdbc:redshift://h:99999/db?pwd=hunter2", "jdbc:redshift://h:port/db?pwd=hunter2"])
def test_a_bad_url_is_refused_without_repeating_it(url):
    with pytest.raises(ValueError) as err:
        phi.parse_jdbc_url(url)
    assert "hunter2" not in str(err.value)


def test_an_unknown_sslmode_is_refused():
    with pytest.raises(ValueError, match="sslmode must be one of"):
        phi.jdbc_tls("jdbc:redshift://h:5439/db?sslmode=strict")


# ---------------------------------------------------------------- the checks behind the other corrections


def test_spark_conf_set_of_spark_ssl_enabled_never_reaches_the_running_context_and_is_undone(spark):
    seen = phi_exp.runtime_ssl_setting(spark)
    assert seen["error"] is None and seen["session_value"] == "true"  # accepted, silently ...
    assert seen["context_value"] is None  # ... and the SparkContext, whose sockets are open, never sees it
    assert spark.conf.get("spark.ssl.enabled", None) is None


def test_the_guides_encryption_option_writes_parquet_anyone_can_read(spark, tmp_path):
    df = spark.createDataFrame([("123-45-6789",), ("987-65-4321",)], "ssn string")
    path = phi_exp.write_with_guide_encryption(df, str(tmp_path / "phi"))
    assert phi_exp.readable_without_keys(path, "ssn") == ["123-45-6789", "987-65-4321"]
    with pytest.raises(ValueError, match="no .parquet files"):
        phi_exp.readable_without_keys(str(tmp_path), "ssn")
