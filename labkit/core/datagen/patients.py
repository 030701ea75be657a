"""Synthetic patients with every kind of identifier HIPAA names (the PHI notebook), deterministically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.core.args import positive_int
from labkit.core.datagen._columns import choice, digits, pick, uniform

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["DIAGNOSES", "PATIENT_IDENTIFIERS", "faker_lists", "patients"]

# every identifier column of :func:`patients`, with its HIPAA Safe Harbor kind: the generator's ground truth
PATIENT_IDENTIFIERS = {
    "patient_id": "record_id", "first_name": "name", "last_name": "name", "ssn": "ssn", "email": "email",
    "phone": "phone", "street": "street", "city": "city", "zip": "zip", "dob": "birth_date",
    "admission_date": "date", "discharge_date": "date", "mrn": "record_id", "health_plan_id": "record_id",
    "ip_address": "ip", "device_serial": "device", "note": "free_text",
}
DIAGNOSES = ("E11.9", "I10", "J45.909", "M54.5", "F32.9", "K21.9", "N39.0", "J06.9", "E78.5", "I25.10")
_EMAIL_DOMAINS = ("example.com", "mail.example.org", "patients.example.net")


def faker_lists() -> dict[str, tuple[str, ...]]:
    """Faker's en_US name and place lists (the data Faker draws from), as tuples."""
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.person.en_US import Provider as Person

    cities = tuple(f"{p}{s}" for p in ("", "North ", "East ", "Lake ", "Port ") for s in
                   ("Springfield", "Riverside", "Fairview", "Madison", "Georgetown", "Clinton", "Salem", "Franklin"))
    return {"first": tuple(Person.first_names), "last": tuple(Person.last_names),
            "suffix": tuple(Address.street_suffixes), "street": tuple(Person.last_names)[:200],
            "state": tuple(s for s in Address.states_abbr if len(s) == 2)[:50], "city": cities}


def patients(spark: SparkSession, n: int, seed: int = 42, as_of: str = "2025-06-30") -> DataFrame:
    """Generate synthetic patients with every kind of identifier HIPAA names, deterministically.

    Names, streets and states come from Faker's en_US lists, drawn by a hash of
    the row id and the seed (so the same ``n`` and ``seed`` give the same rows on
    any cluster, with nothing built on the driver). About 3% of patients are over
    89, and about 2% live in a ZIP whose 3-digit prefix HIPAA restricts.

    Parameters
    ----------
    spark : SparkSession
    n : int
        Patients (>= 0).
    seed : int
    as_of : str
        The date ages are computed at.

    Returns
    -------
    pyspark.sql.DataFrame
        ``patient_id, first_name, last_name, ssn, email, phone, street, city,
        state, zip, dob, admission_date, discharge_date, mrn, health_plan_id,
        ip_address, device_serial, age, gender, diagnosis_code, amount, note``.
        :data:`PATIENT_IDENTIFIERS` names the identifier columns and their kinds.
    """
    from pyspark.sql import functions as F

    positive_int("n", n, 0)
    lists = faker_lists()
    first, last = choice(uniform(seed, "first"), lists["first"]), choice(uniform(seed, "last"), lists["last"])
    old = uniform(seed, "old") < 0.03
    age_days = F.when(old, F.lit(90 * 365) + pick(uniform(seed, "old-age"), 12 * 365, 0)).otherwise(
        pick(uniform(seed, "age"), 88 * 365, 365))
    dob = F.date_sub(F.lit(as_of).cast("date"), age_days.cast("int"))
    admission = F.date_sub(F.lit(as_of).cast("date"), pick(uniform(seed, "admit"), 3 * 365, 0).cast("int"))
    zip3 = tuple(f"{p:03d}" for p in range(101, 990, 23))  # 39 populated 3-digit prefixes
    zip_code = F.when(uniform(seed, "restricted") < 0.02, F.concat(F.lit("036"), digits(seed, "zip-tail", 2))
                      ).otherwise(F.concat(choice(uniform(seed, "zip3"), zip3), digits(seed, "zip-tail", 2)))
    phone = F.concat(F.lit("("), pick(uniform(seed, "area"), 800, 200).cast("string"), F.lit(") "),
                     pick(uniform(seed, "exch"), 800, 200).cast("string"), F.lit("-"), digits(seed, "line", 4))
    frame = spark.range(1, n + 1).select(
        F.concat(F.lit("P"), F.lpad(F.col("id").cast("string"), 7, "0")).alias("patient_id"),
        first.alias("first_name"), last.alias("last_name"),
        F.concat_ws("-", pick(uniform(seed, "ssn1"), 664, 100).cast("string"), digits(seed, "ssn2", 2),
                    digits(seed, "ssn3", 4)).alias("ssn"),
        F.lower(F.concat(first, F.lit("."), last, F.col("id").cast("string"), F.lit("@"),
                         choice(uniform(seed, "domain"), _EMAIL_DOMAINS))).alias("email"),
        phone.alias("phone"),
        F.concat_ws(" ", pick(uniform(seed, "house"), 9899, 100).cast("string"),
                    choice(uniform(seed, "street"), lists["street"]),
                    choice(uniform(seed, "suffix"), lists["suffix"])).alias("street"),
        choice(uniform(seed, "city"), lists["city"]).alias("city"),
        choice(uniform(seed, "state"), lists["state"]).alias("state"),
        zip_code.alias("zip"), dob.alias("dob"), admission.alias("admission_date"),
        F.date_add(admission, pick(uniform(seed, "stay"), 14, 1).cast("int")).alias("discharge_date"),
        F.concat(F.lit("MRN"), digits(seed, "mrn", 8)).alias("mrn"),
        F.concat(F.lit("HP"), digits(seed, "plan", 10)).alias("health_plan_id"),
        F.concat_ws(".", *[pick(uniform(seed, f"ip{i}"), 254, 1).cast("string") for i in range(4)]).alias(
            "ip_address"),
        F.concat(F.lit("SN-"), F.upper(F.hex(pick(uniform(seed, "serial"), 2**40, 2**36)))).alias("device_serial"),
        F.floor(F.months_between(F.lit(as_of).cast("date"), dob) / 12).cast("int").alias("age"),
        choice(uniform(seed, "gender"), ("F", "M")).alias("gender"),
        choice(uniform(seed, "dx"), DIAGNOSES).alias("diagnosis_code"),
        F.round(F.lit(50.0) + F.pow(uniform(seed, "bill"), 2) * 20_000, 2).cast("decimal(12,2)").alias("amount"),
    )
    note = F.concat(F.lit("Pt "), F.col("first_name"), F.lit(" "), F.col("last_name"), F.lit(" seen "),
                    F.date_format("admission_date", "MM/dd/yyyy"), F.lit(" for "), F.col("diagnosis_code"),
                    F.lit("; call back at "), F.col("phone"), F.lit("."))
    return frame.withColumn("note", note)


