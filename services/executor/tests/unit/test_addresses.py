"""The address policy of the SSRF guard."""

from __future__ import annotations

import ipaddress

import pytest

from flowmatic_executor.domain.addresses import refusal_reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.1.1", "not publicly routable"),
        ("::ffff:10.0.0.1", "private (embedded in ::ffff:a00:1)"),
        ("2002:7f00:1::", "loopback (embedded in 2002:7f00:1::)"),
    ],
)
def test_everything_else_is_refused_with_a_reason(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason
