"""Outbound HTTP for `SendHttpRequest`, guarded against server-side request forgery.

A workflow author controls the URL, so by default the request may only reach public
addresses. The guard runs after DNS resolution and the connection goes to the very address
that was checked (the URL is rewritten to the IP; the Host header and TLS SNI keep the name),
so a DNS answer that changes between check and connect cannot slip through. Redirects are
followed here, one hop at a time, and every hop is checked again.

Every failure is an `HttpRequestError` whose `code` is one of: `invalid_url`,
`invalid_request`, `invalid_allowed_hosts`, `blocked_address`, `connection_error`, `timeout`,
`too_many_redirects`, `response_too_large`, `protocol_error`, `request_failed`.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "HttpRequestError",
    "is_blocked_address",
    "parse_allowed_hosts",
    "send_request",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = frozenset({"http", "https"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Credentials meant for one origin must not leak to the next one.
_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
# Derived from the URL and the body on every hop; caller-supplied values would contradict them.
_DERIVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})

# IANA special-purpose IPv4 ranges that are not globally reachable, plus multicast and the
# reserved 240/4 block (which includes the limited broadcast address).
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", includes the unspecified address
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, includes the cloud metadata address
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255
    )
)
# Only global unicast (2000::/3) is reachable; that excludes loopback, unspecified,
# unique-local, link-local, site-local, multicast, NAT64 and every reserved block at once.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, benchmarking, ...)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: embeds an arbitrary IPv4 address
        "3fff::/20",  # documentation
    )
)


class HttpRequestError(Exception):
    """A request that could not be made or completed; `code` says why."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __repr__(self) -> str:
        return f"HttpRequestError({self.message!r}, {self.code!r})"


def parse_allowed_hosts(value: str) -> tuple[str, ...]:
    """Split the comma-separated `WEFT_HTTP_ALLOWED_HOSTS` value into entries."""
    return tuple(entry.strip() for entry in (value or "").split(",") if entry.strip())


def is_blocked_address(address: IPAddress) -> bool:
    """True when the address is not public unicast; IPv4-mapped IPv6 is judged as IPv4."""
    address = _unmapped(address)
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in net for net in _BLOCKED_V4)
    if address not in _GLOBAL_UNICAST_V6:
        return True
    return any(address in net for net in _BLOCKED_V6)


def send_request(
    *,
    url: str,
    method: str = "GET",
    headers: dict | None = None,
    body: Any = None,
    timeout: float = 30.0,
    allowed_hosts: Sequence[str] = (),
    max_redirects: int = 5,
    max_response_bytes: int = 1_048_576,
) -> dict:
    """Send one request, following redirects, and return `{"status", "headers", "body"}`."""
    try:
        return _send(
            url=url,
            method=method,
            headers=headers,
            body=body,
            timeout=timeout,
            policy=_Policy.build(allowed_hosts),
            max_redirects=max_redirects,
            max_response_bytes=max_response_bytes,
        )
    except HttpRequestError:
        raise
    except httpx.TimeoutException as exc:
        raise HttpRequestError(f"request timed out: {exc}", "timeout") from exc
    except httpx.InvalidURL as exc:
        raise HttpRequestError(f"invalid URL: {exc}", "invalid_url") from exc
    except (httpx.ProtocolError, httpx.DecodingError) as exc:
        raise HttpRequestError(f"malformed HTTP exchange: {exc}", "protocol_error") from exc
    except (httpx.TransportError, OSError) as exc:
        raise HttpRequestError(f"connection failed: {exc}", "connection_error") from exc
    except Exception as exc:
        # The caller turns this into an activity outcome; it must never see a foreign type.
        raise HttpRequestError(f"request failed: {exc}", "request_failed") from exc


@dataclass(frozen=True)
class _Policy:
    names: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def build(cls, entries: Iterable[str]) -> _Policy:
        if isinstance(entries, str):
            entries = parse_allowed_hosts(entries)
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = str(raw).strip()
            if not entry:
                continue
            candidate = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
            try:
                networks.append(ipaddress.ip_network(candidate, strict=False))
            except ValueError:
                if "/" in entry or ":" in candidate:
                    raise HttpRequestError(
                        f"allowed host entry {entry!r} is neither a hostname nor an IP/CIDR",
                        "invalid_allowed_hosts",
                    ) from None
                names.add(_normalise_name(entry))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return _normalise_name(host) in self.names

    def allows_address(self, address: IPAddress) -> bool:
        candidates = {address, _unmapped(address)}
        return any(
            a in net for a in candidates for net in self.networks if a.version == net.version
        )


@dataclass(frozen=True)
class _Target:
    """Where one hop goes: the URL as written, and the checked addresses to connect to."""

    url: httpx.URL
    addresses: tuple[IPAddress, ...]


def _send(
    *,
    url: str,
    method: str,
    headers: dict | None,
    body: Any,
    timeout: float,
    policy: _Policy,
    max_redirects: int,
    max_response_bytes: int,
) -> dict:
    method = _validate_method(method)
    request_headers = _prepare_headers(headers)
    content = _encode_body(body, request_headers)
    current = _parse_url(url)
    redirects = 0
    while True:
        target = _resolve_and_check(current, policy)
        with _exchange(target, method, request_headers, content, timeout) as response:
            location = response.headers.get("location")
            if response.status_code not in _REDIRECT_STATUSES or not location:
                return _read_result(response, max_response_bytes)
        if redirects >= max_redirects:
            raise HttpRequestError(
                f"more than {max_redirects} redirects, last to {location!r}", "too_many_redirects"
            )
        redirects += 1
        next_url = _parse_url(location, base=current)
        if _switches_to_get(response.status_code, method):
            method = "GET"
            content = None
            request_headers = {k: v for k, v in request_headers.items() if k not in _BODY_HEADERS}
        if _origin(next_url) != _origin(current):
            request_headers = {
                k: v for k, v in request_headers.items() if k not in _ORIGIN_BOUND_HEADERS
            }
        current = next_url


def _validate_method(method: str) -> str:
    if not isinstance(method, str) or not method or not set(method) <= _TOKEN_CHARS:
        raise HttpRequestError(f"invalid HTTP method {method!r}", "invalid_request")
    return method.upper()


def _prepare_headers(headers: dict | None) -> dict[str, str]:
    prepared: dict[str, str] = {}
    for name, value in (headers or {}).items():
        key = str(name).strip().lower()
        if not key or not set(key) <= _TOKEN_CHARS:
            raise HttpRequestError(f"invalid header name {name!r}", "invalid_request")
        text = "" if value is None else str(value)
        if "\r" in text or "\n" in text:
            raise HttpRequestError(f"header {name!r} contains a line break", "invalid_request")
        if key not in _DERIVED_HEADERS:
            prepared[key] = text
    return prepared


def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        headers.setdefault("content-type", "text/plain; charset=utf-8")
        return body.encode("utf-8")
    try:
        encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise HttpRequestError(f"body is not JSON-serialisable: {exc}", "invalid_request") from exc
    headers.setdefault("content-type", "application/json")
    return encoded.encode("utf-8")


def _parse_url(value: str, base: httpx.URL | None = None) -> httpx.URL:
    if not isinstance(value, str) or not value.strip():
        raise HttpRequestError("URL is empty", "invalid_url")
    try:
        url = base.join(value.strip()) if base is not None else httpx.URL(value.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise HttpRequestError(f"invalid URL {value!r}: {exc}", "invalid_url") from exc
    if url.scheme not in _SCHEMES:
        raise HttpRequestError(
            f"URL scheme must be http or https, got {url.scheme or 'none'!r}", "invalid_url"
        )
    if not url.host:
        raise HttpRequestError(f"URL {value!r} has no host", "invalid_url")
    return url


def _resolve_and_check(url: httpx.URL, policy: _Policy) -> _Target:
    host = url.host
    literal = _ip_literal(host)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
        allowed_by_name = False
    else:
        addresses = _resolve(url)
        allowed_by_name = policy.allows_name(url.host) or policy.allows_name(
            url.raw_host.decode("ascii")
        )
    if not allowed_by_name:
        for address in addresses:
            if is_blocked_address(address) and not policy.allows_address(address):
                shown = host if literal is not None else f"{host} ({address})"
                raise HttpRequestError(
                    f"refusing to connect to non-public address {shown}", "blocked_address"
                )
    return _Target(url, addresses)


def _resolve(url: httpx.URL) -> tuple[IPAddress, ...]:
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise HttpRequestError(
            f"could not resolve host {host!r}: {exc}", "connection_error"
        ) from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # Scope ids ("fe80::1%eth0") are not part of the address being judged.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HttpRequestError(f"host {host!r} has no IP address", "connection_error")
    return tuple(addresses)


@contextmanager
def _exchange(
    target: _Target,
    method: str,
    headers: dict[str, str],
    content: bytes | None,
    timeout: float,
) -> Iterator[httpx.Response]:
    """Send the request to the first checked address that accepts a connection."""
    url = target.url
    literal = _ip_literal(url.host) is not None
    hop_headers = {**headers, "host": url.netloc.decode("ascii")}
    # TLS must verify the certificate against the name, not the IP we connect to.
    extensions = {} if literal or url.scheme != "https" else {"sni_hostname": url.host}
    last_error: httpx.ConnectError | None = None
    for address in target.addresses:
        # A fresh client per hop: no pooled socket or cookie carries over to another host.
        with httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,  # an environment proxy would connect on our behalf, unchecked
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            request = client.build_request(
                method,
                url.copy_with(host=str(address)),
                headers=hop_headers,
                content=content,
                extensions=extensions,
            )
            try:
                response = client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last_error = exc
                continue
            try:
                yield response
            finally:
                response.close()
            return
    raise HttpRequestError(
        f"could not connect to {url.host}: {last_error}", "connection_error"
    ) from last_error


def _read_result(response: httpx.Response, max_bytes: int) -> dict:
    try:
        declared = int(response.headers.get("content-length", ""))
    except ValueError:
        declared = None
    if declared is not None and declared > max_bytes:
        raise HttpRequestError(
            f"response of {declared} bytes exceeds the {max_bytes}-byte limit",
            "response_too_large",
        )
    chunks: list[bytes] = []
    size = 0
    # Count decoded bytes so a small compressed body cannot expand past the limit.
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise HttpRequestError(
                f"response exceeds the {max_bytes}-byte limit", "response_too_large"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    return {
        "status": response.status_code,
        "headers": {name.lower(): value for name, value in response.headers.items()},
        "body": _decode_body(raw, response),
    }


def _decode_body(raw: bytes, response: httpx.Response) -> Any:
    try:
        text = raw.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    if _is_json(response.headers.get("content-type", "")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _switches_to_get(status: int, method: str) -> bool:
    if status == 303:
        return method != "HEAD"
    # What browsers (and RFC 9110's allowance) do with a POST answered by 301/302.
    return status in (301, 302) and method == "POST"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _normalise_name(host: str) -> str:
    return host.strip().rstrip(".").lower()
