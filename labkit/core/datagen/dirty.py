"""Files with known defects (the data-quality notebook): dirty CSV with the label of every line, damaged Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from labkit.core.args import positive_int

__all__ = ["DEFECTS", "ORDERS_HEADER", "ORDERS_SCHEMA", "DirtyCSV", "damaged_parquet", "dirty_csv"]

ORDERS_SCHEMA = ("order_id int, customer_id int, email string, amount decimal(10,2), quantity int, "
                 "order_date date, note string")
ORDERS_HEADER = "order_id,customer_id,email,amount,quantity,order_date,note"
DEFECTS = ("extra column", "missing column", "not a number", "impossible date", "unbalanced quote",
           "repeated header", "invalid UTF-8")


@dataclass(frozen=True)
class DirtyCSV:
    """A folder of CSV files with known defects, and the label of every line."""

    root: str
    files: tuple[str, ...]
    schema: str  # DDL of the clean table
    header: str
    labels: pd.DataFrame  # file, raw (the line as text, undecodable bytes replaced), label ("good" or a defect)


def _good_fields(rng, i: int, quoted: bool = True) -> list[str]:
    """The 7 fields of a valid order; with ``quoted``, about 1 in 20 notes is quoted and holds a comma."""
    comma = quoted and rng.random() < 0.05
    note = f'"left at door, ring {rng.randint(1, 9)}"' if comma else f"ok-{rng.randint(0, 999)}"
    return [str(i), str(rng.randint(1, 500)), f"user{i}@example.com", f"{rng.randint(100, 99999) / 100:.2f}",
            str(rng.randint(1, 9)), f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", note]


def _good_line(rng, i: int) -> str:
    """One valid order line."""
    return ",".join(_good_fields(rng, i))


def _defect_line(rng, i: int, kind: str) -> str:
    """One line with a known defect (built from fields whose note holds no comma)."""
    good = _good_fields(rng, i, quoted=False)
    if kind == "extra column":
        return ",".join([*good[:7], "surplus"])
    if kind == "missing column":
        return ",".join(good[:5])
    if kind == "not a number":
        return ",".join([*good[:3], "twelve", *good[4:7]])
    if kind == "impossible date":
        return ",".join([*good[:5], "2024-02-30", good[6]])
    if kind == "unbalanced quote":
        return ",".join([*good[:6], '"never closed'])
    raise ValueError(f"unknown defect {kind!r}")


def dirty_csv(root: str, lines: int = 1000, defect_rate: float = 0.05, seed: int = 42) -> DirtyCSV:
    """Write CSV files with every defect the data-quality notebook handles, and their ground truth.

    ``orders.csv`` holds ``lines`` data lines, ``defect_rate`` of them broken
    (extra and missing columns, a non-numeric number, an impossible date, an
    unbalanced quote, a repeated header line as left by concatenated files), and
    quoted notes with embedded commas (valid). ``windows.csv`` has a UTF-8 BOM and
    CRLF line endings; ``latin1.csv`` has a line in Latin-1 (invalid UTF-8);
    ``multiline.csv`` has valid records whose quoted note spans two lines (a
    one-line reader splits them); ``empty.csv`` is empty and ``header_only.csv``
    holds only the header.

    Returns
    -------
    DirtyCSV
        ``labels`` has one row per physical line after each file's header.
    """
    import random

    positive_int("lines", lines, 1)
    if not 0 <= defect_rate < 1:
        raise ValueError(f"defect_rate must be in [0, 1), got {defect_rate!r}")
    rng = random.Random(seed)
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    labels, order = [], 0
    body = []
    for _ in range(lines):
        order += 1
        if rng.random() < defect_rate:
            kind = rng.choice(DEFECTS[:5] + ("repeated header",))
            text = ORDERS_HEADER if kind == "repeated header" else _defect_line(rng, order, kind)
            body.append(text)
            labels.append(("orders.csv", text, kind))
        else:
            body.append(_good_line(rng, order))
            labels.append(("orders.csv", body[-1], "good"))
    (folder / "orders.csv").write_text("\n".join([ORDERS_HEADER, *body]) + "\n", encoding="utf-8")
    win = [_good_line(rng, order + k) for k in range(1, 6)]
    order += 5
    (folder / "windows.csv").write_bytes(("\ufeff" + "\r\n".join([ORDERS_HEADER, *win]) + "\r\n").encode("utf-8"))
    labels += [("windows.csv", text, "good") for text in win]
    good = _good_line(rng, order + 1)
    latin = f"{order + 2},7,cafe@example.com,12.50,1,2024-03-03,Café crème"
    order += 2
    (folder / "latin1.csv").write_bytes(f"{ORDERS_HEADER}\n{good}\n".encode() + (latin + "\n").encode("latin-1"))
    labels += [("latin1.csv", good, "good"), ("latin1.csv", latin.replace("é", "\ufffd").replace("è", "\ufffd"),
                                               "invalid UTF-8")]
    first = f'{order + 1},8,multi@example.com,10.00,1,2024-04-04,"first line'
    (folder / "multiline.csv").write_text(f'{ORDERS_HEADER}\n{first}\nsecond line"\n', encoding="utf-8")
    labels += [("multiline.csv", first, "quoted newline"), ("multiline.csv", 'second line"', "quoted newline")]
    (folder / "empty.csv").write_bytes(b"")
    (folder / "header_only.csv").write_text(ORDERS_HEADER + "\n", encoding="utf-8")
    files = tuple(sorted(str(p) for p in folder.glob("*.csv")))
    return DirtyCSV(str(folder), files, ORDERS_SCHEMA, ORDERS_HEADER,
                    pd.DataFrame(labels, columns=["file", "raw", "label"]))


def damaged_parquet(root: str) -> dict[str, str]:
    """Write a folder of Parquet files with each kind of damage the data-quality notebook diagnoses.

    Two readable files; schema variants (an added column, int -> bigint, int -> string); a file with bad magic
    bytes; a truncated file; a 0-byte file; a file with no rows.

    Returns
    -------
    dict
        File name to what is wrong with it ("" for a good file).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file():
            old.unlink()
    base = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "amount": [1.5, 2.5, 3.5]})
    pq.write_table(base, folder / "part-0.parquet")
    pq.write_table(base, folder / "part-1.parquet")
    pq.write_table(base.append_column("channel", pa.array(["web", "shop", "web"])), folder / "part-2-added.parquet")
    pq.write_table(pa.table({"id": pa.array([4], pa.int64()), "amount": [4.5]}), folder / "part-3-bigint.parquet")
    pq.write_table(pa.table({"id": ["5"], "amount": [5.5]}), folder / "part-4-string.parquet")
    (folder / "part-5-magic.parquet").write_bytes(b"PAR0 this is not a parquet file")
    good = (folder / "part-0.parquet").read_bytes()
    (folder / "part-6-truncated.parquet").write_bytes(good[: len(good) // 2])
    (folder / "part-7-zero.parquet").write_bytes(b"")
    pq.write_table(base.slice(0, 0), folder / "part-8-norows.parquet")
    return {"part-0.parquet": "", "part-1.parquet": "", "part-2-added.parquet": "added column",
            "part-3-bigint.parquet": "int -> bigint", "part-4-string.parquet": "int -> string",
            "part-5-magic.parquet": "bad magic", "part-6-truncated.parquet": "truncated",
            "part-7-zero.parquet": "0 bytes", "part-8-norows.parquet": "no rows"}
