"""The guide's code as it is written, run as it is written, and the facts its corrections rest on.

:func:`guide_check_datatype_matching` is the guide's ``check_datatype_matching`` (its answer to "How would you
detect malformed data", *c) Already Implemented in My Code*), copied line for line; the only changes needed to run
it are listed in :data:`GUIDE_DTYPE_CHANGES`. It compares the *classes* of the source and target types: a
non-numeric source column (string, boolean, binary, date, timestamp) whose target is numeric fails as soon as it
holds one non-null value, and every other pair passes. :data:`DATATYPE_CASES` are hand-written inputs that show
what that misses and what it rejects wrongly; :func:`run_guide_datatype_cases` runs the guide's function on each.

:func:`zone_dependent_values` counts the timestamp strings whose instant depends on the session time zone;
:func:`s3_rename_facts` reads, from botocore's S3 service model, why a folder "rename" on S3 is not atomic;
:func:`default_api_mode` is pyspark's own default for ``spark.api.mode``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.core.args import require_columns
from labkit.core.session import spark_conf
from labkit.topics import schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["DATATYPE_CASES", "GUIDE_DTYPE_CHANGES", "GUIDE_MISSES", "datatype_cases", "datatype_facts",
           "default_api_mode", "guide_check_datatype_matching", "migration_source", "run_guide_datatype_cases",
           "s3_rename_facts", "target_frame", "zone_dependent_values"]

GUIDE_DTYPE_CHANGES = (
    "the imports it uses (pyspark.sql.types' type classes, pyspark.sql.functions.count) are added inside the "
    "function: the guide's snippet has none",
    "the docstring keeps the guide's line and adds the lab's notes below it; nothing else changed: the "
    "signature (redshift_df, df, log), the type tuples, the loop, the count and the bare "
    "`raise Exception(...)` are the guide's, line for line",
)

_Cases = Mapping[str, tuple[str, str, str, tuple[Any, Any]]]  # case -> (column, source, target, two values)

# case -> (column, source DDL type, target type, the two hand-written values)
DATATYPE_CASES: dict[str, tuple[str, str, str, tuple[Any, Any]]] = {
    "clean numerals in a string column": ("num_text", "string", "int", ("1", "2")),
    "bigint values over the int range": ("big", "bigint", "int", (1, 2**40)),
    "doubles with a fraction into int": ("frac", "double", "int", (1.5, 2.0)),
    "doubles over the int range into int": ("huge", "double", "int", (3e10, 1.0)),
    "decimal(10,4) into decimal(10,2)": ("amount", "decimal(10,4)", "decimal(10,2)", ("1.2345", "2.5000")),
    "offset timestamps into timestamp": ("ts_local", "string", "timestamp",
                                         ("2024-03-10T01:30:00+05:00", "2024-03-10 01:30:00")),
    "offset timestamps into timestamp_ntz": ("ts_ntz", "string", "timestamp_ntz",
                                             ("2024-03-10T01:30:00+05:00", "2024-03-10T01:30:00Z")),
}

# the cases whose values a cast loses and that the guide's function passes (narrowing, a fraction, a scale)
GUIDE_MISSES = ("bigint values over the int range", "doubles with a fraction into int",
                "doubles over the int range into int", "decimal(10,4) into decimal(10,2)")


def guide_check_datatype_matching(redshift_df, df, log):
    """Prevents type mismatches between source and target

    The guide's function, verbatim but for the imports (:data:`GUIDE_DTYPE_CHANGES`). ``redshift_df`` is any frame
    with the target table's schema (only its schema is read); ``log`` is never used. Returns None, or raises a
    bare ``Exception`` for the first column whose source type is non-numeric and whose target is numeric, when
    that column holds a non-null value.
    """
    from pyspark.sql.functions import count
    from pyspark.sql.types import (
        BinaryType,
        BooleanType,
        ByteType,
        DateType,
        DecimalType,
        DoubleType,
        FloatType,
        IntegerType,
        LongType,
        ShortType,
        StringType,
        TimestampType,
    )

    redshift_cols = {field.name: field.dataType for field in redshift_df.schema.fields}

    non_numeric_types = (StringType, BooleanType, BinaryType, DateType, TimestampType)
    numeric_types = (ByteType, ShortType, IntegerType, LongType, FloatType, DoubleType, DecimalType)

    for field in df.schema.fields:
        if field.name in redshift_cols:
            src_type = type(field.dataType)
            tgt_type = type(redshift_cols[field.name])

            # Check if source is non-numeric but target is numeric
            if issubclass(src_type, non_numeric_types) and issubclass(tgt_type, numeric_types):
                non_null_count = df.select(count(field.name)).collect()[0][0]
                if non_null_count != 0:
                    raise Exception(
                        f"Datatype mismatch for column '{field.name}': "
                        f"source={src_type.__name__}, target={tgt_type.__name__}"
                    )


def datatype_cases(spark: SparkSession, cases: _Cases = DATATYPE_CASES) -> DataFrame:
    """One two-row frame holding every case's source column, typed as the case says.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cases : mapping
        ``case -> (column, source type, target type, (value, value))``; :data:`DATATYPE_CASES` by default.

    Returns
    -------
    pyspark.sql.DataFrame
        Columns in case order; decimals are built from their text (no float rounding on the way in).
    """
    text_schema = ", ".join(f"`{c}` string" for c, *_ in cases.values())
    rows = [tuple(None if v[i] is None else str(v[i]) for *_, v in cases.values()) for i in range(2)]
    raw = spark.createDataFrame(rows, text_schema)
    return raw.selectExpr(*[f"CAST(`{c}` AS {source}) AS `{c}`" for c, source, *_ in cases.values()])


def target_frame(spark: SparkSession, cases: _Cases = DATATYPE_CASES) -> DataFrame:
    """An empty frame with the warehouse's types: the guide's ``redshift_df`` (only its schema is read)."""
    return spark.createDataFrame([], ", ".join(f"`{c}` {target}" for c, _, target, _ in cases.values()))


def run_guide_datatype_cases(spark: SparkSession, df: DataFrame | None = None,
                             cases: _Cases = DATATYPE_CASES) -> pd.DataFrame:
    """Run :func:`guide_check_datatype_matching` on each case's column alone, and say what it did.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    df : pyspark.sql.DataFrame, optional
        :func:`datatype_cases` (built when not given).
    cases : mapping
        :data:`DATATYPE_CASES` by default.

    Returns
    -------
    pandas.DataFrame
        Indexed by case: ``column``, ``source``, ``target``, ``guide`` (``"passes"`` or ``"raises"``),
        ``error_type`` (the exception's class name, empty when it passed). The message is not kept: it would
        be the guide's text, and the column name is already in the row.
    """
    df = datatype_cases(spark, cases) if df is None else df
    target = target_frame(spark, cases)
    rows = []
    for case, (column, source, to, _) in cases.items():
        try:
            guide_check_datatype_matching(target.select(f"`{column}`"), df.select(f"`{column}`"), log=None)
            outcome, error = "passes", ""
        except Exception as err:  # noqa: BLE001 - the guide raises a bare Exception; recorded, not swallowed
            outcome, error = "raises", type(err).__name__
        rows.append({"case": case, "column": column, "source": source, "target": to, "guide": outcome,
                     "error_type": error})
    return pd.DataFrame(rows).set_index("case")


def zone_dependent_values(spark: SparkSession, df: DataFrame, column: str,
                          zones: tuple[str, str] = ("UTC", "Asia/Kolkata")) -> int:
    """How many non-null values of a string column become a different instant under two session time zones.

    A timestamp string without an offset is cast to ``timestamp`` in ``spark.sql.session.timeZone``: the same
    file loaded by two jobs configured differently gives two different instants, and no cast fails. A string
    with an offset gives the same instant under both.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    df : pyspark.sql.DataFrame
    column : str
    zones : (str, str)
        Two session time zones to compare.

    Returns
    -------
    int
    """
    require_columns(df, [column])
    epochs = []
    for zone in zones:
        with spark_conf(spark, {"spark.sql.session.timeZone": zone}):
            epochs.append([r[0] for r in df.selectExpr(f"unix_micros(try_cast(`{column}` AS timestamp))").collect()])
    return sum(1 for a, b in zip(*epochs, strict=True) if a is not None and a != b)


def datatype_facts(spark: SparkSession, cases: _Cases = DATATYPE_CASES,
                   raise_column: str = "num_text",
                   zone_column: str = "ts_local") -> tuple[pd.DataFrame, type | None, int]:
    """The guide's function and the lab's check on every case, and the two facts the corrections rest on.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cases : mapping
        :data:`DATATYPE_CASES` by default.
    raise_column : str
        A case column the guide's function refuses (clean numerals in a string column by default).
    zone_column : str
        A case column of timestamp strings, some without an offset.

    Returns
    -------
    verdicts : pandas.DataFrame
        :func:`run_guide_datatype_cases` joined with ``values_lost`` from
        :func:`labkit.topics.schema.check_datatype_matching` (the values each case's cast would not keep).
    raised : type or None
        The class of what the guide's function raises on ``raise_column`` (None when it passes).
    zone_dependent : int
        :func:`zone_dependent_values` of ``zone_column``.
    """
    df = datatype_cases(spark, cases)
    lost = schema.check_datatype_matching(df, {c: t for c, _, t, _ in cases.values()})[["values_lost"]]
    verdicts = run_guide_datatype_cases(spark, df, cases).join(lost, on="column")
    raised = None
    try:
        guide_check_datatype_matching(target_frame(spark, cases), df.select(f"`{raise_column}`"), log=None)
    except Exception as err:  # noqa: BLE001 - the guide raises a bare Exception: caught to show its type
        raised = type(err)
    return verdicts, raised, zone_dependent_values(spark, df, zone_column)


def migration_source(spark: SparkSession, rows: int) -> DataFrame:
    """A migrated table's source side, with what ``experiments.reconcile.plant_defects`` needs to hide its defects.

    ``amount`` is ``decimal(12,4)``: its values repeat every 5,000 ids (from 5,001 rows on, a row can be
    dropped and another with the same amount duplicated, count and sum unchanged), and many have a third
    decimal under 5 (truncated to two decimals, the guide's ``SUM(CAST(amount AS DECIMAL(18,2)))`` rounds the
    source the same way). ``updated_at`` is one minute apart per row, so one row's timestamp can be shifted
    without moving ``MAX(updated_at)``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    rows : int
        Ids ``1..rows``.

    Returns
    -------
    pyspark.sql.DataFrame
        ``id`` (int), ``amount`` (decimal(12,4)), ``updated_at`` (timestamp), cached.
    """
    return spark.range(1, rows + 1).selectExpr(
        "CAST(id AS INT) AS id",
        "CAST((id * 37 % 5000) / 10.0 + (id * 7 % 10) / 1000.0 + (id % 4) / 10000.0 AS decimal(12,4)) AS amount",
        "timestamp_seconds(1717200000 + id * 60) AS updated_at").cache()


def s3_rename_facts() -> dict[str, Any]:
    """What botocore's S3 service model says about renaming: the basis of "a folder swap on S3 is not atomic".

    Returns
    -------
    dict
        ``rename_object`` (the operation exists), ``rename_express_only`` (its documentation limits it to
        S3 Express One Zone directory buckets), ``rename_one_key`` (its input names one object: no prefix),
        ``copy_and_delete`` (CopyObject and DeleteObject exist: a rename elsewhere is a copy plus a delete),
        ``atomic_prefix_rename`` (an atomic rename of a folder on a general purpose bucket: never true here).
    """
    import botocore.session

    model = botocore.session.get_session().get_service_model("s3")
    ops = set(model.operation_names)
    rename = "RenameObject" in ops
    doc = model.operation_model("RenameObject").documentation if rename else ""
    members = set(model.operation_model("RenameObject").input_shape.members) if rename else set()
    express_only = "only supported for objects stored in the S3 Express One Zone" in doc
    one_key = {"Key", "RenameSource"} <= members and not any("Prefix" in m for m in members)
    return {"rename_object": rename, "rename_express_only": express_only, "rename_one_key": one_key,
            "copy_and_delete": {"CopyObject", "DeleteObject"} <= ops,
            "atomic_prefix_rename": rename and not express_only and not one_key}


def default_api_mode() -> str:
    """pyspark's own default for ``spark.api.mode`` (``pyspark.util.default_api_mode``), with no environment switch.

    ``SparkSession.builder`` uses it when neither ``spark.api.mode`` nor ``SPARK_API_MODE`` is set. It is
    ``classic`` for the ``pyspark`` package and ``connect`` only for the ``pyspark-connect`` distribution (or
    when ``SPARK_CONNECT_MODE=1``, which is ignored here: it is a switch, not the default). A session reached
    through ``.remote("sc://...")`` is a Connect session whatever this says.
    """
    from pyspark import util

    saved = os.environ.pop("SPARK_CONNECT_MODE", None)
    try:
        return util.default_api_mode()
    finally:
        if saved is not None:
            os.environ["SPARK_CONNECT_MODE"] = saved
