"""A cache of generated datasets: build once, keep as Parquet, read back afterwards.

The folder name carries a hash of the generator's parameters, so changing any
parameter builds a new dataset, and a half-written folder is never read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from labkit.core.files import exists
from labkit.core.paths import cache_dir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["DATA_VERSION", "cache_dir", "cached"]

DATA_VERSION = 1  # bump when a generator's output changes, so stale caches are not reused


def _params_key(name: str, params: Mapping[str, Any]) -> str:
    """A stable short hash of a dataset's name and parameters."""

    def enc(v):
        if is_dataclass(v) and not isinstance(v, type):  # HotKeys, Zipf, ...
            return {type(v).__name__: asdict(v)}
        return repr(v) if not isinstance(v, (int, float, str, bool, type(None), list, dict)) else v

    blob = json.dumps({"name": name, "v": DATA_VERSION, "params": {k: enc(v) for k, v in params.items()}},
                      sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached(spark: SparkSession, name: str, params: Mapping[str, Any], builder: Callable[..., Any],
           root: str | None = None) -> DataFrame:
    """Build a dataset once, keep it as Parquet, and read it back afterwards.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    name : str
        Dataset name, part of the folder name.
    params : mapping
        Keyword arguments for ``builder``; their hash names the folder.
    builder : callable
        ``builder(spark, **params)`` returns the DataFrame to cache.
    root : str, optional
        Cache root (a local path or ``s3a://...``); :func:`cache_dir` by default.

    Returns
    -------
    pyspark.sql.DataFrame
        The cached data, read from Parquet.

    Notes
    -----
    A folder without Spark's ``_SUCCESS`` marker (an interrupted write) is
    rewritten, never read.
    """
    path = f"{(root or cache_dir()).rstrip('/')}/{name}-{_params_key(name, params)}"
    if not exists(spark, f"{path}/_SUCCESS"):  # local, s3a or hdfs
        builder(spark, **params).write.mode("overwrite").parquet(path)
    return spark.read.parquet(path)
