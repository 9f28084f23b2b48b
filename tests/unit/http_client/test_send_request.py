"""`send_request` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from runtime.activities.http_client import HttpRequestError, send_request

LOOPBACK_ONLY = ("127.0.0.1",)


def error_code(**kwargs) -> str:
    with pytest.raises(HttpRequestError) as caught:
        send_request(**kwargs)
    assert isinstance(caught.value.code, str)
    return caught.value.code


# --- the address guard ---------------------------------------------------------------------


def test_loopback_is_refused_by_default(server, connections):
    assert error_code(url=server.url("/json")) == "blocked_address"
    assert connections.attempts == []


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.0/8", " 127.0.0.0/8 "])
def test_loopback_is_reachable_when_its_ip_or_cidr_is_allowed(server, entry):
    result = send_request(url=server.url("/json"), allowed_hosts=(entry,))
    assert result["status"] == 200
    assert result["body"] == {"hello": "world", "n": [1, 2]}


def test_cloud_metadata_address_is_refused_without_connecting(connections):
    code = error_code(url="http://169.254.169.254/latest/meta-data/", allowed_hosts=LOOPBACK_ONLY)
    assert code == "blocked_address"
    assert connections.attempts == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://10.255.255.254:8080/admin",
        "http://192.168.1.1/",
        "https://192.168.0.10/",
        "http://172.16.5.4/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fe80::1]/",
        "http://[ff02::1]/",
        "http://[::]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_private_and_special_addresses_are_refused_before_any_connection(url, connections):
    assert error_code(url=url) == "blocked_address"
    assert connections.attempts == []


@pytest.mark.parametrize(
    "url", ["http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]:8080/"]
)
def test_ipv6_loopback_and_ipv4_mapped_loopback_are_refused(url, connections):
    assert error_code(url=url) == "blocked_address"
    assert connections.attempts == []


@pytest.mark.parametrize("host", ["127.1", "2130706433"])
def test_unusual_ipv4_notations_are_refused_after_resolution(server, host, connections):
    assert error_code(url=server.url("/json", host=host)) == "blocked_address"
    assert connections.attempts == []


def test_hostname_resolving_to_loopback_is_refused(server, connections):
    assert error_code(url=server.url("/json", host="localhost")) == "blocked_address"
    assert connections.attempts == []


def test_ip_allowance_does_not_open_other_private_ranges(connections):
    code = error_code(url="http://10.0.0.1/", allowed_hosts=("127.0.0.0/8", "localhost"))
    assert code == "blocked_address"
    assert connections.attempts == []


def test_hostname_allowed_by_name_is_reached_with_its_own_host_header(server):
    result = send_request(url=server.url("/echo", host="LocalHost"), allowed_hosts=("localhost",))
    assert result["status"] == 200
    assert result["body"]["headers"]["host"] == f"localhost:{server.port}"


def test_invalid_allowed_hosts_entry_is_reported(server):
    code = error_code(url=server.url("/json"), allowed_hosts=("10.0.0.0/33",))
    assert code == "invalid_allowed_hosts"


# --- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/redirect", "/redirect-relative"])
def test_redirect_to_an_allowed_address_is_followed(server, path, connections):
    result = send_request(url=server.url(path), allowed_hosts=LOOPBACK_ONLY)
    assert result["status"] == 200
    assert result["body"]["hello"] == "world"
    assert connections.attempts == ["127.0.0.1", "127.0.0.1"]


@pytest.mark.parametrize("path", ["/redirect-metadata", "/redirect-private"])
def test_redirect_to_a_blocked_address_is_refused_before_connecting(server, path, connections):
    assert error_code(url=server.url(path), allowed_hosts=LOOPBACK_ONLY) == "blocked_address"
    assert connections.attempts == ["127.0.0.1"]


def test_redirect_to_loopback_literal_is_refused_when_only_the_name_is_allowed(server, connections):
    # Allowing "localhost" by name covers that name only, not the address it points to.
    code = error_code(
        url=server.url("/redirect-loopback", host="localhost"), allowed_hosts=("localhost",)
    )
    assert code == "blocked_address"
    assert len(connections.attempts) >= 1
    # The same redirect is fine once the literal is allowed too.
    result = send_request(
        url=server.url("/redirect-loopback", host="localhost"),
        allowed_hosts=("localhost", "127.0.0.1"),
    )
    assert result["status"] == 200


def test_redirect_to_another_origin_drops_credentials(server):
    result = send_request(
        url=server.url("/redirect-to-localhost"),
        method="POST",
        headers={"Authorization": "Bearer secret", "X-Trace": "abc"},
        body={"keep": True},
        allowed_hosts=("127.0.0.1", "localhost"),
    )
    echoed = result["body"]
    assert echoed["method"] == "POST"
    assert echoed["body"] == '{"keep":true}'
    assert "authorization" not in echoed["headers"]
    assert echoed["headers"]["x-trace"] == "abc"


def test_see_other_redirect_turns_a_post_into_a_get_without_body(server):
    result = send_request(
        url=server.url("/see-other"), method="POST", body={"a": 1}, allowed_hosts=LOOPBACK_ONLY
    )
    assert result["body"]["method"] == "GET"
    assert result["body"]["body"] == ""
    assert "content-type" not in result["body"]["headers"]


def test_temporary_redirect_keeps_method_and_body(server):
    result = send_request(
        url=server.url("/temporary"), method="PUT", body="hi", allowed_hosts=LOOPBACK_ONLY
    )
    assert result["body"]["method"] == "PUT"
    assert result["body"]["body"] == "hi"


def test_redirect_loop_stops_with_too_many_redirects(server, connections):
    code = error_code(url=server.url("/loop"), allowed_hosts=LOOPBACK_ONLY, max_redirects=3)
    assert code == "too_many_redirects"
    assert len(connections.attempts) == 4


def test_redirects_are_not_followed_when_the_limit_is_zero(server):
    code = error_code(url=server.url("/redirect"), allowed_hosts=LOOPBACK_ONLY, max_redirects=0)
    assert code == "too_many_redirects"


def test_redirect_to_a_non_http_scheme_is_an_invalid_url(server):
    assert error_code(url=server.url("/redirect-ftp"), allowed_hosts=LOOPBACK_ONLY) == (
        "invalid_url"
    )


# --- bodies and responses ------------------------------------------------------------------


def test_json_body_is_sent_and_json_response_is_parsed(server):
    result = send_request(
        url=server.url("/echo"),
        method="post",
        body={"order": 7, "items": ["a", "b"], "note": "\u00e9"},
        allowed_hosts=LOOPBACK_ONLY,
    )
    echoed = result["body"]
    assert echoed["method"] == "POST"
    assert echoed["headers"]["content-type"] == "application/json"
    assert echoed["body"] == '{"order":7,"items":["a","b"],"note":"\u00e9"}'


def test_list_body_is_sent_as_json(server):
    result = send_request(
        url=server.url("/echo"), method="PUT", body=[1, 2], allowed_hosts=LOOPBACK_ONLY
    )
    assert result["body"]["body"] == "[1,2]"


def test_string_body_is_sent_as_text_and_explicit_content_type_wins(server):
    plain = send_request(
        url=server.url("/echo"), method="POST", body="hello", allowed_hosts=LOOPBACK_ONLY
    )
    assert plain["body"]["body"] == "hello"
    assert plain["body"]["headers"]["content-type"].startswith("text/plain")
    custom = send_request(
        url=server.url("/echo"),
        method="POST",
        body="<a/>",
        headers={"Content-Type": "application/xml"},
        allowed_hosts=LOOPBACK_ONLY,
    )
    assert custom["body"]["headers"]["content-type"] == "application/xml"


def test_text_response_is_returned_as_text_with_lowercased_headers(server):
    result = send_request(url=server.url("/text"), allowed_hosts=LOOPBACK_ONLY)
    assert result["body"] == "plain text \u00e9"
    assert result["headers"]["x-test-header"] == "Present"
    assert all(name == name.lower() for name in result["headers"])


def test_json_suffix_media_type_is_parsed_and_status_is_kept(server):
    result = send_request(url=server.url("/problem"), allowed_hosts=LOOPBACK_ONLY)
    assert result["status"] == 422
    assert result["body"] == {"title": "nope"}


def test_malformed_json_response_falls_back_to_text(server):
    result = send_request(url=server.url("/bad-json"), allowed_hosts=LOOPBACK_ONLY)
    assert result["body"] == "not json{"


def test_unserialisable_body_is_an_invalid_request(server, connections):
    code = error_code(url=server.url("/echo"), body={"when": object()}, allowed_hosts=LOOPBACK_ONLY)
    assert code == "invalid_request"
    assert connections.attempts == []


@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_response_over_the_size_limit_is_refused(server, path):
    code = error_code(url=server.url(path), allowed_hosts=LOOPBACK_ONLY, max_response_bytes=1000)
    assert code == "response_too_large"


def test_response_within_the_size_limit_is_returned(server):
    result = send_request(
        url=server.url("/big-unsized"),
        allowed_hosts=LOOPBACK_ONLY,
        max_response_bytes=3 * 1024 * 1024,
    )
    assert len(result["body"]) == 2 * 1024 * 1024


# --- failures ------------------------------------------------------------------------------


def test_slow_response_times_out(server):
    code = error_code(url=server.url("/slow?seconds=1.5"), allowed_hosts=LOOPBACK_ONLY, timeout=0.2)
    assert code == "timeout"


def test_closed_port_is_a_connection_error(connections):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = error_code(url=f"http://127.0.0.1:{port}/", allowed_hosts=LOOPBACK_ONLY)
    assert code == "connection_error"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/file",
        "gopher://127.0.0.1:70/",
        "127.0.0.1/json",
        "http://",
        "",
        "http://[::1/",
    ],
)
def test_unsupported_or_malformed_urls_are_invalid(url, connections):
    assert error_code(url=url, allowed_hosts=LOOPBACK_ONLY) == "invalid_url"
    assert connections.attempts == []


@pytest.mark.parametrize(
    ("method", "headers"),
    [("GE T", None), ("", None), ("GET", {"Bad Name": "x"}), ("GET", {"X-A": "a\r\nInjected: 1"})],
)
def test_malformed_method_or_headers_are_invalid_requests(server, method, headers):
    code = error_code(
        url=server.url("/json"), method=method, headers=headers, allowed_hosts=LOOPBACK_ONLY
    )
    assert code == "invalid_request"
