"""HTTPS goes to the checked IP but still presents, and verifies, the hostname."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from runtime.activities.http_client import HttpRequestError, send_request


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A TLS listener on 127.0.0.1 with a self-signed certificate; records the SNI it sees."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    seen: list[str | None] = []
    context.sni_callback = lambda _sslobj, name, _ctx: seen.append(name)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            # The client rejects the self-signed certificate mid-handshake.
            with conn, contextlib.suppress(ssl.SSLError, OSError):
                context.wrap_socket(conn, server_side=True).close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        listener.close()


def test_https_sends_the_hostname_as_sni_and_refuses_an_untrusted_certificate(tls_server):
    port, seen = tls_server
    seen.clear()
    with pytest.raises(HttpRequestError) as caught:
        send_request(url=f"https://localhost:{port}/", allowed_hosts=("localhost",), timeout=5)
    assert caught.value.code == "connection_error"
    assert seen == ["localhost"]


def test_https_to_an_ip_literal_sends_no_sni(tls_server):
    port, seen = tls_server
    seen.clear()
    with pytest.raises(HttpRequestError) as caught:
        send_request(url=f"https://127.0.0.1:{port}/", allowed_hosts=("127.0.0.1",), timeout=5)
    assert caught.value.code == "connection_error"
    assert seen == [None]
