"""Redaction of the text the report copies from a run: the PHI key in every form we can compute, and identifiers.

Notebook errors (exception name, message, traceback), the executed notebooks and the kernels' logs go into
``reports/<run>/``; before they do, this module replaces

* the secret key (``LABKIT_PHI_KEY``, or a key the runner made for the run) and its derived forms: the key's
  first 32 and 16 characters (the AES key sizes the PHI topic slices it to), each raw, as hex (either case,
  which is how Spark prints a binary literal) and as base64 (standard and URL-safe, padded or not);
* text shaped like an identifier: SSNs, US phone numbers, e-mail addresses, dates (``2025-06-30``,
  ``06/30/2025``), record numbers (a 1-3 letter prefix and 7 or more digits: ``MRN01234567``, ``P0000042``),
  IPv4 addresses (except loopback and ``0.0.0.0``) and device serials (``SN-1A2B3C``).

Each replacement is a marker naming its kind, ``[redacted ssn]``, so an error still reads; the counts per kind
are returned by :func:`redact_counted`, for a report to say that something was removed without saying what.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from labkit.topics import phi

__all__ = ["KEY_ENV", "PATTERNS", "key_forms", "redact", "redact_counted", "redact_file", "redact_notebook",
           "strip_ansi"]

KEY_ENV = "LABKIT_PHI_KEY"
_MIN_FORM = 8  # a shorter piece of a key would redact ordinary words; a key that short is refused elsewhere

PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "ssn": re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"),
    "phone": re.compile(r"(?:\+?1[ .-]?)?(?:\(\d{3}\)\s?|(?<!\d)\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)"),
    "date": re.compile(r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})(?!\d)"),
    "record": re.compile(r"\b[A-Z]{1,3}-?\d{7,}\b"),
    "ip": re.compile(r"(?<![\d.])(?!127\.0\.0\.1(?![\d.]))(?!0\.0\.0\.0(?![\d.]))(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"),
    "device": re.compile(r"\bSN-[0-9A-F]{6,}\b"),
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (IPython colours its tracebacks).

    Examples
    --------
    >>> strip_ansi("\\x1b[0;31mValueError\\x1b[0m: x")
    'ValueError: x'
    """
    return _ANSI.sub("", text)


def _env_keys() -> list[str]:
    """The key in ``LABKIT_PHI_KEY``, if any."""
    key = os.environ.get(KEY_ENV, "")
    return [key] if key else []


def key_forms(key: str | bytes) -> list[str]:
    """Every form of a key this module redacts, longest first.

    Parameters
    ----------
    key : str or bytes
        The secret (a ``str`` is taken as its UTF-8 bytes for the encoded forms).

    Returns
    -------
    list of str
        The key, its 32- and 16-character prefixes and the per-purpose keys ``phi.derive_key`` derives from it
        (pseudonym, date shift, AES token, key id), each raw, hex (lower and upper case) and base64 (standard
        and URL-safe, with and without padding); forms shorter than 8 characters are left out.

    Examples
    --------
    >>> "6b65792d6f662d7468652d74657374" in key_forms("key-of-the-test")
    True
    """
    raw = key.encode() if isinstance(key, str) else bytes(key)
    forms: set[str] = set()
    for piece in {raw, raw[:32], raw[:16], *_derived(raw)}:
        if len(piece) < _MIN_FORM // 2:
            continue
        b64 = base64.b64encode(piece).decode()
        url = base64.urlsafe_b64encode(piece).decode()
        forms |= {piece.hex(), piece.hex().upper(), b64, b64.rstrip("="), url, url.rstrip("=")}
        try:
            forms.add(piece.decode())
        except UnicodeDecodeError:  # a prefix that cuts a multi-byte character has no text form
            pass
    return sorted((f for f in forms if len(f) >= _MIN_FORM), key=lambda f: (-len(f), f))


def _derived(raw: bytes) -> list[bytes]:
    """The per-purpose keys ``labkit.topics.phi`` derives from ``raw`` (HKDF), or none for a key it would refuse."""
    try:
        return [phi.derive_key(purpose, raw) for purpose in phi.PURPOSES]
    except (ValueError, phi.PHIKeyError):  # too short to be a PHI key: nothing is derived from it
        return []


def _key_regex(keys: Iterable[str | bytes]) -> re.Pattern[str] | None:
    """One alternation of every form of every key (longest first), or None without a key."""
    forms = sorted({f for k in keys if k for f in key_forms(k)}, key=lambda f: (-len(f), f))
    return re.compile("|".join(re.escape(f) for f in forms)) if forms else None


def redact_counted(text: str, keys: Sequence[str | bytes] | None = None,
                   identifiers: bool = True) -> tuple[str, dict[str, int]]:
    """Redact ``text`` and count what was replaced, by kind.

    Parameters
    ----------
    text : str
    keys : sequence of str or bytes, optional
        The secrets to remove; by default the one in ``LABKIT_PHI_KEY`` (none when it is unset).
    identifiers : bool
        Also replace text shaped like an identifier (:data:`PATTERNS`); the key is always replaced.

    Returns
    -------
    (str, dict)
        The text with each finding replaced by ``[redacted <kind>]``, and ``{kind: count}`` of the kinds found.

    Examples
    --------
    >>> redact_counted("no such patient 123-45-6789 (mail j.doe@example.com)", keys=[])
    ('no such patient [redacted ssn] (mail [redacted email])', {'email': 1, 'ssn': 1})
    """
    counts: dict[str, int] = {}
    key_re = _key_regex(_env_keys() if keys is None else keys)
    kinds = [("key", key_re)] if key_re else []
    kinds += list(PATTERNS.items()) if identifiers else []
    for kind, pattern in kinds:
        text, n = pattern.subn(f"[redacted {kind}]", text)
        if n:
            counts[kind] = counts.get(kind, 0) + n
    return text, counts


def redact(text: str | None, keys: Sequence[str | bytes] | None = None, identifiers: bool = True) -> str | None:
    """``text`` with the key (every form of it) and identifier-shaped values replaced; None stays None.

    See :func:`redact_counted` for the parameters.

    Examples
    --------
    >>> redact("KeyError: 'MRN01234567' at 10.2.3.4, retried on 127.0.0.1", keys=[])
    "KeyError: '[redacted record]' at [redacted ip], retried on 127.0.0.1"
    """
    return None if text is None else redact_counted(text, keys, identifiers)[0]


def _add(total: dict[str, int], counts: dict[str, int]) -> None:
    """Add counts into a running total."""
    for kind, n in counts.items():
        total[kind] = total.get(kind, 0) + n


def _redact_output(out: dict, keys: Sequence[str | bytes] | None, total: dict[str, int]) -> None:
    """Redact one cell output in place: an error fully; any other output of the key only."""
    if out.get("output_type") == "error":
        for field in ("ename", "evalue"):
            out[field], counts = redact_counted(str(out.get(field, "")), keys)
            _add(total, counts)
        lines = []
        for line in out.get("traceback", []):
            line, counts = redact_counted(strip_ansi(line), keys)
            lines.append(line)
            _add(total, counts)
        out["traceback"] = lines
        return
    if "text" in out:
        out["text"], counts = redact_counted(_joined(out["text"]), keys, identifiers=False)
        _add(total, counts)
    for mime, value in (out.get("data") or {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            text = value if isinstance(value, str) else _joined(value) if isinstance(value, list) else json.dumps(value)
            text, counts = redact_counted(text, keys, identifiers=False)
            if counts:
                out["data"][mime] = text if mime.startswith("text/") else json.loads(text)
                _add(total, counts)


def _joined(value: str | list[str]) -> str:
    """A notebook's multi-line string field (a string or a list of lines) as one string."""
    return value if isinstance(value, str) else "".join(value)


def redact_notebook(path: str | Path, keys: Sequence[str | bytes] | None = None) -> dict[str, int]:
    """Redact an executed notebook in place and say what was removed.

    Error outputs (name, message, traceback; colour codes dropped) lose the key and every identifier-shaped
    value; every other output and every cell's source lose the key (a table of masked data keeps its dates).

    Parameters
    ----------
    path : path
        An ``.ipynb`` file.
    keys : sequence of str or bytes, optional
        As for :func:`redact_counted`.

    Returns
    -------
    dict
        ``{kind: count}`` over the whole notebook (empty when nothing was found; the file is then left as it was).
    """
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    total: dict[str, int] = {}
    for cell in nb.get("cells", []):
        cell["source"], counts = redact_counted(_joined(cell.get("source", "")), keys, identifiers=False)
        _add(total, counts)
        for out in cell.get("outputs", []):
            _redact_output(out, keys, total)
    if total:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return total


def redact_file(path: str | Path, keys: Sequence[str | bytes] | None = None) -> dict[str, int]:
    """Redact a text file (a kernel's log) in place: the key and identifier-shaped values; returns the counts.

    Bytes that are not UTF-8 are kept as they were (``surrogateescape``), so nothing else in the file changes.
    """
    path = Path(path)
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    text, counts = redact_counted(strip_ansi(text), keys)
    if counts:
        path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return counts
