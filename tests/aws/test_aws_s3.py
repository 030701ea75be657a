"""labkit.aws.s3: the S3 client, moto's server on 127.0.0.1 or a named endpoint."""

import subprocess
import sys

import pytest

from labkit.aws import s3


def test_a_named_endpoint_is_used_as_given_and_starts_no_server(monkeypatch):
    monkeypatch.delenv("LABKIT_S3_ENDPOINT", raising=False)
    before = s3.server_url()
    c = s3.client("http://127.0.0.1:9")
    assert c.meta.endpoint_url == "http://127.0.0.1:9"
    assert s3.server_url() == before


def test_the_endpoint_variable_is_used_when_no_endpoint_is_passed(monkeypatch):
    monkeypatch.setenv("LABKIT_S3_ENDPOINT", "http://127.0.0.1:7")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert s3.client().meta.endpoint_url == "http://127.0.0.1:7"


@pytest.mark.slow  # a second process starts its own moto server
def test_the_server_on_loopback_answers_and_stops_leaving_nothing_listening(s3_server):
    url = s3.server_url()
    assert url.startswith("http://127.0.0.1:")
    assert s3_server.meta.endpoint_url == url
    assert s3.client().meta.endpoint_url == url  # once per process: a second client reuses the server
    code = ("from labkit.aws import s3\n"
            "c = s3.client(); c.create_bucket(Bucket='labkit-stop'); url = s3.server_url()\n"
            "s3.stop_server(); s3.stop_server()\n"  # a second stop is a no-op
            "import urllib.request, urllib.error\n"
            "try:\n    urllib.request.urlopen(url, timeout=2); print('still listening')\n"
            "except (urllib.error.URLError, ConnectionError):\n    print('stopped', s3.server_url())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "stopped None"
