"""The driver JVM's class-data-sharing archive: where it is, and the Java options that use it.

Every driver JVM the lab starts loads the same ~20,000 classes of the
``pyspark`` jars, parsing and verifying each, and compiles the same start-up
code. A dynamic CDS archive (JDK 13+, ``-XX:ArchiveClassesAtExit``) holds those
classes already parsed and verified: measured on this 2-core machine (session
start and one ``groupBy``, two runs each), the driver JVM's CPU fell from
31.5-35.6 to 18.7 CPU-seconds and the wall time from 27-38 to 15-16 seconds.
``labkit jvm-archive`` (:mod:`labkit.tools.jvm_archive`, run by ``make test``
and ``make report``) builds it once per Java and ``pyspark``; this module only
finds it.

The archive's file name holds a digest of what it depends on (the ``java``
binary and its ``libjvm``, the ``pyspark`` version and its jars' names and
sizes), so a changed Java or ``pyspark`` looks for another file and a stale
archive is never asked for. The JVM checks again: an archive from another
build, or for another class path, is ignored without a message (``-Xshare``
stays ``auto``), so a session always starts, with or without it.
``LABKIT_JVM_ARCHIVE=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["ARCHIVE_ENV", "archive_dir", "archive_key", "archive_path", "java_options", "pyspark_jars"]

ARCHIVE_ENV = "LABKIT_JVM_ARCHIVE"  # 0 turns the archive off; a folder puts it there
_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"  # no "Skipping ...: not linked" lines in every kernel's log


def _java() -> Path | None:
    """The ``java`` Spark starts (``$JAVA_HOME/bin/java``, else the first on ``PATH``), resolved; None if absent."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def pyspark_jars() -> Path | None:
    """The installed ``pyspark``'s ``jars`` folder (without importing pyspark), or None."""
    from importlib.util import find_spec

    spec = find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        return None
    jars = Path(next(iter(spec.submodule_search_locations))) / "jars"
    return jars if jars.is_dir() else None


def archive_key() -> str | None:
    """A digest of the Java binary, its ``libjvm`` and the ``pyspark`` jars; None when Java or pyspark is missing.

    Returns
    -------
    str or None
        16 hex digits; it changes when any jar is added, removed or changes size, or Java changes.
    """
    java, jars = _java(), pyspark_jars()
    if java is None or jars is None:
        return None
    digest = hashlib.sha256()
    libjvm = sorted(java.parent.parent.glob("lib/server/libjvm.*"))
    for f in [java, *libjvm]:
        st = f.stat()
        digest.update(f"{f}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    for jar in sorted(jars.glob("*.jar")):
        digest.update(f"{jar.name}|{jar.stat().st_size}\n".encode())
    digest.update(str(jars).encode())
    return digest.hexdigest()[:16]


def archive_dir() -> Path:
    """Where archives are kept: ``$LABKIT_JVM_ARCHIVE`` when it names a folder, else ``<sys.prefix>/share/labkit``.

    The default lives in the virtual environment, next to the jars it was built from, so it goes when the
    environment goes; when that is not writable, ``~/.cache/labkit/jvm``.
    """
    env = os.environ.get(ARCHIVE_ENV, "")
    if env not in ("", "0", "1"):
        return Path(env)
    prefix = Path(sys.prefix) / "share" / "labkit"
    if os.access(prefix if prefix.exists() else Path(sys.prefix), os.W_OK):
        return prefix
    return Path.home() / ".cache" / "labkit" / "jvm"


def archive_path() -> Path | None:
    """This machine's archive file (present or not), or None when there is no Java or pyspark to key it by."""
    key = archive_key()
    return archive_dir() / f"spark-driver-{key}.jsa" if key else None


def java_options() -> str:
    """The driver options that load the archive: empty when it is turned off or not built.

    Returns
    -------
    str
        ``-XX:SharedArchiveFile=<path> -Xlog:cds=off -Xlog:cds+dynamic=off``, or ``""``.
    """
    if os.environ.get(ARCHIVE_ENV) == "0":
        return ""
    path = archive_path()
    return f"-XX:SharedArchiveFile={shlex.quote(str(path))} {_QUIET}" if path is not None and path.is_file() else ""
