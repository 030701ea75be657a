"""PHI de-identification that survives an attack: column policies, HIPAA Safe Harbor, detection, checks.

The guide hashes names with an unsalted ``sha2``. Anyone with a list of common
names hashes the list and looks the hashes up: :func:`dictionary_attack` does
exactly that. A keyed pseudonym (HMAC-SHA256 with a secret key, Spark 4's
built-in ``hmac``, added in Spark 4.3.0 by SPARK-53154; :func:`pseudonym_pandas` gives the same bytes on
Spark 3.5, which AWS Glue 5 and EMR 7 run) resists it: without the key the list cannot be hashed.

Every policy is a plain function of Columns or DataFrames. Keys come from a
parameter or the ``LABKIT_PHI_KEY`` environment variable, never from the code.

Modules: ``_spec`` (the 18 identifiers, kinds, patterns, errors), ``keys``, ``masking`` (column policies),
``safe_harbor``, ``leaks`` (scan, leak check, k-anonymity, dictionary attack), ``policy`` (access, retention),
``transit`` (what a Redshift JDBC URL checks). The guide's own code and settings, and the notebook's checks of
what they do and timings, are :mod:`labkit.experiments.phi`.
"""

from labkit.topics.phi._spec import (
    KINDS,
    NOT_ENFORCED,
    RESTRICTED_ZIP3,
    RESTRICTED_ZIP3_VINTAGE,
    SAFE_HARBOR_18,
    PHIKeyError,
    PHILeakError,
)
from labkit.topics.phi.keys import (
    MIN_KEY_BYTES,
    PURPOSES,
    derive_key,
    key_id,
    parquet_kms_available,
    phi_key,
    require_key_id,
    run_key,
    secret_column,
)
from labkit.topics.phi.leaks import (
    assert_no_phi,
    dictionary_attack,
    id_enumeration_attack,
    leak_check_error,
    scan_for_phi,
)
from labkit.topics.phi.masking import (
    HMAC_SINCE,
    builtin_hmac_available,
    generalize_date,
    hmac_since,
    interval_changes,
    mask_email,
    mask_phone,
    mask_ssn,
    pseudonym,
    pseudonym_pandas,
    pseudonym_udf,
    require_dates,
    shift_dates,
    token_decrypt,
    token_encrypt,
    token_round_trip,
)
from labkit.topics.phi.policy import validate_access_policy, validate_retention
from labkit.topics.phi.safe_harbor import deidentify_safe_harbor, k_anonymity, k_ladder, redact_text
from labkit.topics.phi.transit import SAFE_REDSHIFT_URL, jdbc_tls, parse_jdbc_url

__all__ = [
    "HMAC_SINCE",
    "KINDS",
    "MIN_KEY_BYTES",
    "NOT_ENFORCED",
    "PHIKeyError",
    "PHILeakError",
    "PURPOSES",
    "RESTRICTED_ZIP3",
    "RESTRICTED_ZIP3_VINTAGE",
    "SAFE_HARBOR_18",
    "SAFE_REDSHIFT_URL",
    "assert_no_phi",
    "builtin_hmac_available",
    "deidentify_safe_harbor",
    "derive_key",
    "dictionary_attack",
    "generalize_date",
    "hmac_since",
    "id_enumeration_attack",
    "interval_changes",
    "jdbc_tls",
    "k_anonymity",
    "k_ladder",
    "key_id",
    "leak_check_error",
    "mask_email",
    "mask_phone",
    "mask_ssn",
    "parquet_kms_available",
    "parse_jdbc_url",
    "phi_key",
    "pseudonym",
    "pseudonym_pandas",
    "pseudonym_udf",
    "redact_text",
    "require_dates",
    "require_key_id",
    "run_key",
    "scan_for_phi",
    "secret_column",
    "shift_dates",
    "token_decrypt",
    "token_encrypt",
    "token_round_trip",
    "validate_access_policy",
    "validate_retention",
]
