"""Find Java 17+ for Spark, or say exactly how to get it.

Standard library only, so the Makefile can run it as a script before the
virtual environment exists: ``python3 labkit/_java.py`` prints the version,
or one clear message and exit status 1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

MIN_JAVA = 17
JAVA_FIX = (
    "Install Java 17 (Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`), "
    "or use the conda environment (`conda env create -f environment.yml`, which ships openjdk 17)."
)


class JavaNotFoundError(RuntimeError):
    """Java is missing or older than Spark 4 needs."""


def _java_major(version_text: str) -> int | None:
    """Parse the major version out of ``java -version`` output."""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def check_java(java: str | None = None) -> int:
    """Return the major version of the Java that Spark will start.

    Parameters
    ----------
    java : str, optional
        Path of the ``java`` executable. By default ``$JAVA_HOME/bin/java`` if
        ``JAVA_HOME`` is set, else ``java`` on ``PATH`` (as Spark looks).

    Returns
    -------
    int
        The Java major version (17, 21, ...).

    Raises
    ------
    JavaNotFoundError
        When Java is missing, does not run, or is older than 17. The message names the fix.
    """
    if java is None:
        home = os.environ.get("JAVA_HOME")
        java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        where = f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java" if os.environ.get("JAVA_HOME") else (
            "no `java` on PATH")
        raise JavaNotFoundError(f"Java was not found ({where}); Spark 4 needs Java {MIN_JAVA} or newer. {JAVA_FIX}")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False, timeout=60)
    except OSError as exc:
        raise JavaNotFoundError(f"{java} does not run ({exc}); Spark 4 needs Java {MIN_JAVA}. {JAVA_FIX}") from None
    text = (out.stderr or "") + (out.stdout or "")
    major = _java_major(text)
    if major is None or major < MIN_JAVA:
        first = text.strip().splitlines()[0] if text.strip() else "no version printed"
        raise JavaNotFoundError(f"{java} is too old or unknown ({first}); Spark 4 needs Java {MIN_JAVA} or newer. "
                                f"{JAVA_FIX}")
    return major


def main() -> int:
    """Print the Java version, or the fix, and return the exit status."""
    try:
        major = check_java()
    except JavaNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"java {major}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
