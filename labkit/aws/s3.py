"""How to reach S3: a boto3 client for moto's server on 127.0.0.1, or for any endpoint you name.

:func:`client` starts moto's ``ThreadedMotoServer`` on a free loopback port (once per process, stopped at
exit) and talks to it over HTTP, the S3 wire protocol; with ``LABKIT_S3_ENDPOINT`` set (and the usual
``AWS_*`` variables) it talks to that endpoint instead. The techniques (``labkit.topics.s3``) and the
scenarios take the client this returns, so the same code runs against real S3.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

__all__ = ["client", "server_url", "stop_server"]

_LOCK = threading.Lock()
_SERVER: dict[str, Any] = {}


def _start_server() -> str:
    """Start moto's S3 server on 127.0.0.1 at a free port, once per process; return its URL."""
    with _LOCK:
        if "url" not in _SERVER:
            from moto.server import ThreadedMotoServer  # moto is slow to import: only when a server is wanted

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on the terminal
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            _SERVER.update(server=server, url=f"http://{host}:{port}")
            atexit.register(stop_server)
        return _SERVER["url"]


def server_url() -> str | None:
    """The URL of the moto server this process started, or None.

    Returns
    -------
    str or None
        ``http://127.0.0.1:<port>`` while a server started by :func:`client` runs.
    """
    return _SERVER.get("url")


def stop_server() -> None:
    """Stop the moto server this process started (nothing happens if none runs).

    Returns
    -------
    None
    """
    with _LOCK:
        server = _SERVER.pop("server", None)
        _SERVER.pop("url", None)
    if server is not None:
        server.stop()


def client(endpoint: str | None = None):
    """A boto3 S3 client: moto's server on 127.0.0.1 by default, or ``endpoint`` / ``LABKIT_S3_ENDPOINT``.

    Parameters
    ----------
    endpoint : str, optional
        An S3 endpoint URL. When neither it nor ``LABKIT_S3_ENDPOINT`` is set, a
        moto server is started on a free loopback port (once per process, stopped
        at exit) with dummy credentials, in us-east-1.

    Returns
    -------
    botocore.client.S3
    """
    import boto3
    from botocore.config import Config

    endpoint = endpoint or os.environ.get("LABKIT_S3_ENDPOINT")
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"})
    if endpoint:  # real S3 or a compatible store: credentials and region come from the usual AWS variables
        return boto3.client("s3", endpoint_url=endpoint, config=config)
    return boto3.client("s3", endpoint_url=_start_server(), region_name="us-east-1", aws_access_key_id="labkit",
                        aws_secret_access_key="labkit", config=config)
