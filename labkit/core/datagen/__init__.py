"""Deterministic data generators built from Spark expressions.

Every column is a pure function of the row id and the seed (``xxhash64``), so
the same parameters give the same rows on a laptop or a cluster, whatever the
number of partitions. Nothing is generated on the driver.

Two ways to skew the customer key of :func:`transactions`:

* ``HotKeys(share=0.8, keys=5)`` - the guide's picture: 80% of the rows belong
  to the top 5 customers (16% each), the rest spread uniformly over the others.
* ``Zipf(exponent=1.1)`` - a power law: customer ``k`` gets rows in proportion
  to ``k ** -exponent``. It is drawn by inverting the continuous power-law CDF
  (a close, fast approximation of the discrete Zipf law). ``exponent=0`` is
  uniform; above 1 the head dominates.

The generators live in submodules, by what they make: :mod:`~labkit.core.datagen.facts`
(transactions, employees, customers, products, key spread),
:mod:`~labkit.core.datagen.patients` (the PHI notebook) and
:mod:`~labkit.core.datagen.dirty` (files with known defects).
"""

from __future__ import annotations

from labkit.core.datagen.dirty import DEFECTS, ORDERS_HEADER, ORDERS_SCHEMA, DirtyCSV, damaged_parquet, dirty_csv
from labkit.core.datagen.facts import (
    HotKeys,
    KeyDistribution,
    Zipf,
    customers,
    employees,
    key_distribution,
    products,
    transactions,
)
from labkit.core.datagen.patients import DIAGNOSES, PATIENT_IDENTIFIERS, faker_lists, patients

__all__ = [
    "DEFECTS",
    "DIAGNOSES",
    "DirtyCSV",
    "HotKeys",
    "KeyDistribution",
    "ORDERS_HEADER",
    "ORDERS_SCHEMA",
    "PATIENT_IDENTIFIERS",
    "Zipf",
    "customers",
    "damaged_parquet",
    "dirty_csv",
    "employees",
    "faker_lists",
    "key_distribution",
    "patients",
    "products",
    "transactions",
]
