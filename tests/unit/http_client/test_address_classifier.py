"""The address classifier agrees with the standard library's view of special addresses."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.activities.http_client import is_blocked_address, parse_allowed_hosts

CGNAT = ipaddress.ip_network("100.64.0.0/10")
# Not globally routable per IANA, though ipaddress (3.11) does not flag all of these.
EXTRA_BLOCKED_V4 = [ipaddress.ip_network(n) for n in ("192.0.0.0/24", "192.88.99.0/24")]


def flagged_by_stdlib(address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    flagged = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    if isinstance(address, ipaddress.IPv6Address):
        return flagged or address.is_site_local
    return flagged or address in CGNAT


@given(st.ip_addresses(v=4) | st.ip_addresses(v=6))
def test_every_address_the_stdlib_flags_as_special_is_blocked(address):
    if flagged_by_stdlib(address):
        assert is_blocked_address(address)


@given(st.ip_addresses(v=4))
def test_blocked_ipv4_addresses_are_exactly_the_non_global_ones(address):
    expected = (
        not address.is_global
        or address.is_multicast
        or any(address in net for net in EXTRA_BLOCKED_V4)
    )
    assert is_blocked_address(address) == expected


@given(st.ip_addresses(v=6))
def test_blocked_ipv6_addresses_are_special_or_outside_global_unicast(address):
    if address.ipv4_mapped is not None:
        return
    outside_global_unicast = address not in ipaddress.ip_network("2000::/3")
    documentation_or_6to4 = any(
        address in ipaddress.ip_network(net) for net in ("2002::/16", "3fff::/20")
    )
    expected = flagged_by_stdlib(address) or outside_global_unicast or documentation_or_6to4
    assert is_blocked_address(address) == expected


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_form_is_classified_like_the_ipv4_address(address):
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert is_blocked_address(mapped) == is_blocked_address(address)


@pytest.mark.parametrize(
    "network",
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "224.0.0.0/4",
        "0.0.0.0/8",
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ],
)
@given(data=st.data())
def test_every_address_in_a_named_blocked_range_is_blocked(network, data):
    address = data.draw(st.ip_addresses(network=network))
    assert is_blocked_address(address)


@pytest.mark.parametrize(
    "text", ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.4.4"]
)
def test_public_addresses_are_not_blocked(text):
    assert not is_blocked_address(ipaddress.ip_address(text))


def test_allowed_hosts_setting_is_split_on_commas_and_trimmed():
    value = " localhost, ,api.internal ,10.0.0.0/8,[::1],"
    assert parse_allowed_hosts(value) == ("localhost", "api.internal", "10.0.0.0/8", "[::1]")
    assert parse_allowed_hosts("") == ()
