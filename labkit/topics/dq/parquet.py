"""Parquet files diagnosed from their footers, with pyarrow: readable, a schema variant, corrupt or empty.

Corrupt files can be moved to a quarantine folder, never deleted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

__all__ = ["diagnose_parquet"]

def _move_corrupt(table: pd.DataFrame, root: Path, target: Path) -> None:
    """Move :func:`diagnose_parquet`'s corrupt files from ``root`` to ``target`` (same relative paths); note where."""
    target.mkdir(parents=True, exist_ok=True)
    for i, r in table[table["status"] == "corrupt"].iterrows():
        dest = target / Path(r["file"]).relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(r["file"], dest)
        table.loc[i, "moved_to"] = str(dest)


def diagnose_parquet(path: str, quarantine: bool = False, quarantine_dir: str | None = None,
                     relative: bool = False) -> pd.DataFrame:
    """Classify every Parquet file under a local folder from its footer, with pyarrow.

    Classes: ``readable``; ``schema variant`` (a column added, removed, or of
    another type than the most common schema: int -> bigint, int -> string);
    ``corrupt`` (bad magic bytes, truncated footer); ``empty`` (0 bytes, or no rows).

    Parameters
    ----------
    path : str
        A local folder (``file:`` paths too).
    quarantine : bool
        Move the corrupt files to ``quarantine_dir`` (never delete them).
    quarantine_dir : str, optional
        ``<path>_quarantine`` by default.
    relative : bool
        Give ``file`` relative to ``path`` (its name, for a flat folder) instead of the full path.

    Returns
    -------
    pandas.DataFrame
        One row per file: ``file``, ``status``, ``rows``, ``detail`` (the schema difference or the error),
        ``moved_to``.
    """
    import pyarrow.parquet as pq

    root = Path(path.removeprefix("file:"))
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {path}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(("_", ".")))
    rows, schemas = [], {}
    for f in files:
        if f.stat().st_size == 0:
            rows.append({"file": str(f), "status": "empty", "rows": 0, "detail": "0 bytes"})
            continue
        try:
            meta = pq.read_metadata(f)
            schemas[str(f)] = {fld.name: str(fld.type) for fld in meta.schema.to_arrow_schema()}
            rows.append({"file": str(f), "status": "readable" if meta.num_rows else "empty", "rows": meta.num_rows,
                         "detail": "" if meta.num_rows else "no rows"})
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a bad file: that is the finding
            rows.append({"file": str(f), "status": "corrupt", "rows": 0,
                         "detail": f"{type(exc).__name__}: {exc}"[:200]})
    table = pd.DataFrame(rows, columns=["file", "status", "rows", "detail"])
    if schemas:
        common = pd.Series([tuple(sorted(s.items())) for s in schemas.values()]).mode()[0]
        base = dict(common)
        for i, r in table.iterrows():
            s = schemas.get(r["file"])
            if s is not None and s != base:
                diff = ([f"+{c} {t}" for c, t in s.items() if c not in base]
                        + [f"-{c}" for c in base if c not in s]
                        + [f"{c}: {base[c]} -> {t}" for c, t in s.items() if c in base and base[c] != t])
                table.loc[i, ["status", "detail"]] = ["schema variant", ", ".join(diff)]
    table["moved_to"] = ""
    if quarantine:
        _move_corrupt(table, root, Path(quarantine_dir or f"{root}_quarantine"))
    if relative:
        table["file"] = [Path(f).relative_to(root).as_posix() for f in table["file"]]
    return table

