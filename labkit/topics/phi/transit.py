"""Encryption in transit as data: what a Redshift JDBC URL asks the driver to check.

The guide's "Redshift requires SSL" URL (``labkit.experiments.phi.GUIDE_REDSHIFT_URL``) is
``jdbc:redshift://cluster:5439/db?ssl=true&sslfactory=com.amazon.redshift.ssl.NonValidatingFactory``.
The traffic is encrypted, but ``NonValidatingFactory`` is an ``SSLSocketFactory``
whose trust manager accepts every certificate (the driver's own Javadoc: it
"allows man in the middle attacks"): whoever sits on the path presents any
certificate and reads the data. That is the opposite of what encryption in
transit is for.

The rules below follow the Amazon Redshift JDBC driver's source
(``aws/amazon-redshift-jdbc-driver``: ``Driver.parseURL``, ``jdbc.SslMode.of``,
``core.SocketFactoryFactory``, ``ssl.LibPQFactory``, ``ssl.MakeSSL``):

* properties follow ``?`` (or, without one, the first ``;``), split on ``&`` or ``;``, URL-decoded; names are
  case-insensitive, and the URL's properties override the connection properties;
* ``sslmode`` decides: ``verify-full`` checks the certificate chain and the host name, ``verify-ca`` the chain
  only, ``require`` encrypts without checking anything; without ``sslmode``, ``ssl=true`` means ``verify-ca``,
  and neither means ``allow`` (``prefer`` with IAM auth): plaintext is possible;
* an ``sslfactory`` other than the driver's ``LibPQFactory`` replaces the certificate check whatever ``sslmode``
  says; ``NonValidatingFactory`` turns it off.

The fix: ``?ssl=true&sslmode=verify-full`` with the cluster's endpoint name as host, trusting the Amazon Trust
Services roots (Java's default trust store has them; or ``sslrootcert=`` the bundle AWS publishes,
``amazon-trust-ca-bundle.crt``), and no ``sslfactory``. The driver's default with ``ssl=true`` alone
(``verify-ca``) checks the chain but not the host name.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

__all__ = ["SAFE_REDSHIFT_URL", "jdbc_tls", "parse_jdbc_url"]

SAFE_REDSHIFT_URL = "jdbc:redshift://cluster:5439/db?ssl=true&sslmode=verify-full"  # + the endpoint's real DNS name

_PREFIX = "jdbc:redshift:"
_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_LIBPQ = ("com.amazon.redshift.ssl.LibPQFactory", "com.amazon.redshift.ssl.jdbc4.LibPQFactory")


def parse_jdbc_url(url: str) -> dict:
    """Split a Redshift JDBC URL as the Amazon Redshift JDBC driver does: host(s), port(s), database, properties.

    Parameters
    ----------
    url : str
        ``jdbc:redshift://host[:port][,host2[:port]]/database[?name=value[&...]]`` (``;`` also separates), or
        ``jdbc:redshift:iam://...``.

    Returns
    -------
    dict
        ``iam`` (bool), ``hosts`` (list of (host, port) pairs; port 5439 when none is given), ``database`` and
        ``properties`` (names lower-cased, values URL-decoded; a name without ``=`` has the value ``""``).

    Raises
    ------
    ValueError
        For a URL that is not ``jdbc:redshift:``, has no ``/database`` or has a bad port. The message does not
        repeat the URL (it may hold a password).
    """
    if not isinstance(url, str) or not url.startswith(_PREFIX):
        raise ValueError("not a Redshift JDBC URL: it must start with 'jdbc:redshift:'")
    cut = url.find("?")
    cut = url.find(";") if cut == -1 else cut
    server, args = (url, "") if cut == -1 else (url[:cut], url[cut + 1:])
    server = server[len(_PREFIX):]
    iam = server.startswith("iam:")
    server = server[4:] if iam else server
    if not server.startswith("//") or "/" not in server[2:]:
        raise ValueError("a Redshift JDBC URL needs //host[:port]/database")
    address, database = server[2:].split("/", 1)
    return {"iam": iam, "hosts": [_host_port(a, iam) for a in address.split(",")], "database": unquote(database),
            "properties": _properties(args)}


def _host_port(address: str, iam: bool) -> tuple[str, int | str]:
    """(host, port) of one address; 5439 without a port; for IAM a non-numeric 'port' is the region."""
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:
        return address, 5439
    if port.isdigit() and 1 <= int(port) <= 65535:
        return host, int(port)
    if iam and port:
        return host, port  # jdbc:redshift:iam://cluster-id:region/db
    raise ValueError("a Redshift JDBC URL has a port that is not a number from 1 to 65535")


def _properties(args: str) -> dict[str, str]:
    """The URL's ``name=value`` pairs, split on ``&`` and ``;``, names lower-cased, values URL-decoded."""
    props = {}
    for token in args.replace(";", "&").split("&"):
        if token:
            name, _, value = token.partition("=")
            props[name.lower()] = unquote(value)
    return props


def _truthy(value: str | None) -> bool:
    """The driver's reading of ``ssl``: present and empty, or ``true`` (any case)."""
    return value is not None and (value == "" or value.lower() == "true")


def _mode(props: Mapping[str, str]) -> str:
    """The effective ``sslmode`` (``jdbc.SslMode.of``)."""
    mode = props.get("sslmode", props.get("authmech"))
    if mode is None:
        if _truthy(props.get("ssl")):
            return "verify-ca"
        return "prefer" if (props.get("iam") or "").lower() == "true" else "allow"
    if mode.lower() not in _MODES:
        raise ValueError(f"sslmode must be one of {', '.join(_MODES)}")
    return mode.lower()


def jdbc_tls(url: str, properties: Mapping[str, str] | None = None) -> dict:
    """What a Redshift JDBC connection with this URL checks: encryption, the certificate, the host name.

    Parameters
    ----------
    url : str
        The JDBC URL (:func:`parse_jdbc_url`).
    properties : mapping, optional
        Connection properties passed beside the URL (the guide's ``{'sslmode': 'require'}``); the URL's own
        properties override them, as in the driver.

    Returns
    -------
    dict
        ``sslmode`` (effective), ``sslfactory`` (None for the driver's own), ``encrypted`` (encryption is
        required: no plaintext fallback), ``verifies_certificate``, ``verifies_hostname`` (a host-name check
        without a checked chain proves nothing, so it counts only with one), and ``problems`` (text).
    """
    props = {k.lower(): str(v) for k, v in (properties or {}).items()}
    parsed = parse_jdbc_url(url)
    props.update(parsed["properties"])
    props.setdefault("iam", "true" if parsed["iam"] else "false")
    mode = _mode(props)
    factory = props.get("sslfactory") or None
    factory = None if factory in _LIBPQ else factory
    encrypted = mode in ("require", "verify-ca", "verify-full")
    chain = mode in ("verify-ca", "verify-full") if factory is None else False
    problems = []
    if not encrypted:
        problems.append(f"sslmode {mode}: the connection may fall back to plaintext")
    if factory is not None and factory.endswith("NonValidatingFactory"):
        problems.append("sslfactory NonValidatingFactory accepts any server certificate: a man in the middle "
                        "reads the traffic (certificate validation is off)")
    elif factory is not None:
        problems.append("a custom sslfactory decides the certificate check; it cannot be judged from the URL")
    elif encrypted and not chain:
        problems.append("sslmode require encrypts but checks no certificate: use verify-full")
    if chain and mode != "verify-full":
        problems.append("sslmode verify-ca checks the certificate chain but not the host name: use verify-full")
    return {"sslmode": mode, "sslfactory": factory, "encrypted": encrypted, "verifies_certificate": chain,
            "verifies_hostname": chain and mode == "verify-full", "problems": problems}
