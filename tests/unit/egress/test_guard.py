"""The egress guard: host normalization as the HTTP clients do it, and the address policy."""

from __future__ import annotations

import ipaddress
import re
import socket

import httpx
import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st

from giru.egress import PUBLIC, UPSTREAMS, AddressPolicy, normalize_host, parse_target, url_problem

LOCAL_ONLY = AddressPolicy(allow_loopback=True, allow_private=False)


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("b\u00fccher.example", "xn--bcher-kva.example"),
        ("\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54", "localhost"),  # fullwidth
        ("metadata\u3002google\u3002internal", "metadata.google.internal"),  # ideographic dots
        ("a\uff0eb\uff61c", "a.b.c"),  # fullwidth and halfwidth ideographic full stops
        ("my_service", "my_service"),
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
    ],
)
def test_hosts_are_normalized_the_way_the_http_client_does(written: str, normalized: str) -> None:
    assert normalize_host(written) == normalized


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("\uff10.\uff10.\uff10.\uff10", "normalize to the numeric host 0.0.0.0"),  # fullwidth
        ("\u2460\u2465\u2468.254.169.254", "normalize to the numeric host 169.254.169.254"),  # ①⑥⑨
        ("127\u30020\u30020\u30021", "normalize to the numeric host 127.0.0.1"),  # 。 as dot
        ("\U0001d7ce.\U0001d7ce.\U0001d7ce.\U0001d7ce", "normalize to the numeric host 0.0.0.0"),
        ("\uff10\uff58\uff41\uff19\uff46\uff45\uff41\uff19\uff46\uff45", "numeric host 0xa9fea9fe"),
        ("0x7f.1", "ambiguous numeric address (resolvers read it as 127.0.0.1)"),
        ("0177.0.0.1", "ambiguous numeric address (resolvers read it as 127.0.0.1)"),
        ("2852039166", "ambiguous numeric address (resolvers read it as 169.254.169.254)"),
        ("0xa9.0xfe.0xa9.0xfe", "(resolvers read it as 169.254.169.254)"),
        ("0", "ambiguous numeric address (resolvers read it as 0.0.0.0)"),
        ("1.2.3.4.5", "ambiguous numeric address; write a dotted quad"),
        ("e\u200bvil.example", "contains invisible characters"),  # zero-width space
        ("169.254.169.254%2e", "is not a valid host name"),
        ("a..b", "is not a valid host name"),
        ("exa mple.com", "is not a valid host name"),
    ],
)
def test_hosts_that_hide_an_address_or_are_malformed_are_refused(written: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        normalize_host(written)


@pytest.mark.parametrize(
    ("url", "upstreams", "public"),
    [
        ("http://127.0.0.1:3000/mcp", None, "address 127.0.0.1 is loopback"),
        ("http://[::1]:3000/mcp", None, "address ::1 is loopback"),
        ("http://localhost:8000/", None, "host localhost is loopback"),
        ("http://api.localhost/", None, "host api.localhost is loopback"),
        ("http://10.0.0.7/mcp", None, "address 10.0.0.7 is private"),
        ("http://100.64.1.1/", None, "address 100.64.1.1 is private"),
        ("http://[fd12::1]/", None, "address fd12::1 is private"),
        ("https://mcp.example.com/v1", None, None),
        ("https://8.8.8.8/", None, None),
        ("http://0.0.0.0:80/", "address 0.0.0.0 is unspecified", "address 0.0.0.0 is unspecified"),
        ("http://0.1.2.3/", "address 0.1.2.3 is unspecified", "address 0.1.2.3 is unspecified"),
        ("http://[::]/", "address :: is unspecified", "address :: is unspecified"),
        ("http://224.0.0.1/", "address 224.0.0.1 is multicast", "address 224.0.0.1 is multicast"),
        ("http://[ff02::1]/", "address ff02::1 is multicast", "address ff02::1 is multicast"),
        ("http://240.0.0.1/", "address 240.0.0.1 is reserved", "address 240.0.0.1 is reserved"),
        (
            "http://100.100.100.200/",
            "address 100.100.100.200 is a cloud metadata address",
            "address 100.100.100.200 is a cloud metadata address",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "address 169.254.169.254 is link-local (cloud metadata lives there)",
            "address 169.254.169.254 is link-local (cloud metadata lives there)",
        ),
        (
            "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
            "address 64:ff9b::a9fe:a9fe embeds 169.254.169.254, which is link-local (cloud"
            " metadata lives there)",
            "address 64:ff9b::a9fe:a9fe embeds 169.254.169.254, which is link-local (cloud"
            " metadata lives there)",
        ),
        (
            "http://[2002:7f00:1::1]/",  # 6to4 of a loopback address
            None,
            "address 2002:7f00:1::1 embeds 127.0.0.1, which is loopback",
        ),
        (
            "http://[fe80::1%25eth0]/",
            "host 'fe80::1%25eth0' has a zone identifier; it is not allowed",
            "host 'fe80::1%25eth0' has a zone identifier; it is not allowed",
        ),
        ("ftp://example.com/", "scheme must be http or https", "scheme must be http or https"),
        ("http:///x", "a host is required", "a host is required"),
        (
            "http://u:p@example.com/",
            "credentials in the URL are not allowed",
            "credentials in the URL are not allowed",
        ),
    ],
)
def test_url_problem_under_each_policy(url: str, upstreams: str | None, public: str | None) -> None:
    assert url_problem(url, UPSTREAMS) == upstreams
    assert url_problem(url, PUBLIC) == public


def test_a_policy_without_private_ranges_still_allows_loopback() -> None:
    assert LOCAL_ONLY.refusal("127.0.0.1") is None
    assert LOCAL_ONLY.refusal("192.168.1.1") == "address 192.168.1.1 is private"


def test_the_target_carries_the_default_port_and_the_literal_address() -> None:
    target = parse_target("HTTPS://[::FFFF:127.0.0.1]/mcp")
    assert target.origin == ("https", "::ffff:7f00:1", 443)
    assert target.address == ipaddress.ip_address("::ffff:7f00:1")
    assert parse_target("http://Example.com:8080/").origin == ("http", "example.com", 8080)
    assert parse_target("http://example.com/").address is None


# -- properties --------------------------------------------------------------------------------

_HOST_CHARS = st.sampled_from(
    [
        *"0123456789abcfx.-",
        "\uff10",  # fullwidth 0
        "\uff11",
        "\uff19",
        "\uff58",  # fullwidth x
        "\u2460",  # circled 1
        "\u2469",  # circled 10
        "\u3002",  # ideographic full stop
        "\uff0e",  # fullwidth full stop
        "\uff61",  # halfwidth ideographic full stop
        "\U0001d7ce",  # mathematical bold 0
        "\u0661",  # arabic-indic 1
        "\u00df",  # sharp s
        "\u212a",  # Kelvin sign
        "\u200b",  # zero-width space
    ]
)


@given(st.text(_HOST_CHARS, min_size=1, max_size=16))
def test_the_guard_judges_the_host_aiohttp_connects_to(host: str) -> None:
    """Whatever yarl (aiohttp's URL parser) makes of a host, the guard either refused the URL
    or saw the same host; and when yarl sees an IP literal, the guard judged that address."""
    url = f"http://{host}:8080/mcp"
    try:
        target = parse_target(url)
    except ValueError:
        return
    try:
        seen = yarl.URL(url).raw_host
    except ValueError:
        return
    assert seen is not None
    assert seen.removesuffix(".") == target.host
    try:
        address = ipaddress.ip_address(seen)
    except ValueError:
        return
    assert target.address == address


@given(st.text(_HOST_CHARS, min_size=1, max_size=16))
def test_the_guard_judges_the_host_httpx_connects_to(host: str) -> None:
    url = f"http://{host}:8080/mcp"
    try:
        target = parse_target(url)
        seen = httpx.URL(url).raw_host.decode("ascii")
    except (ValueError, httpx.InvalidURL):
        return
    assert seen.removesuffix(".") == target.host


_NUMERIC_LABEL = st.one_of(
    st.integers(0, 2**32 - 1).map(str),
    st.integers(0, 2**32 - 1).map(hex),
    st.integers(0, 2**32 - 1).map(lambda n: "0" + format(n, "o")),
)


@given(st.lists(_NUMERIC_LABEL, min_size=1, max_size=4).map(".".join))
def test_numeric_hosts_are_refused_unless_they_are_the_dotted_quad_inet_aton_reads(
    host: str,
) -> None:
    try:
        packed = socket.inet_aton(host)
    except OSError:
        packed = None
    if packed is None or socket.inet_ntoa(packed) != host:
        with pytest.raises(ValueError, match="ambiguous numeric address") as caught:
            normalize_host(host)
        if packed is not None:
            assert f"resolvers read it as {socket.inet_ntoa(packed)}" in str(caught.value)
        return
    normalized = normalize_host(host)
    assert normalized == socket.inet_ntoa(packed) == host


@given(st.ip_addresses(v=4))
def test_an_ipv4_mapped_address_is_judged_as_the_ipv4_address(
    address: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    for policy in (UPSTREAMS, PUBLIC):
        assert policy.refusal(mapped) == policy.refusal(address)


@given(st.ip_addresses())
def test_the_public_policy_allows_only_global_addresses(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if PUBLIC.refusal(address) is None:
        assert address.is_global


@given(st.ip_addresses(v=4))
def test_an_address_refused_as_ipv4_is_refused_inside_nat64_too(
    address: ipaddress.IPv4Address,
) -> None:
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    if UPSTREAMS.refusal(address) is not None:
        assert UPSTREAMS.refusal(nat64) is not None
