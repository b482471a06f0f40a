"""The load-time SSRF guard on upstream URLs."""

from __future__ import annotations

import pytest

from giru.manifests.urls import upstream_url_problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000/mcp",  # loopback: local development
        "http://localhost:8000/sse",
        "http://[::1]:3000/mcp",
        "http://10.0.0.7/mcp",  # private ranges: in-cluster upstreams
        "http://192.168.1.20:9000/mcp",
        "https://mcp.example.com/v1/mcp?tenant=a",
        "https://cafe.be/mcp",  # hex-looking letters are a name, not a number
        "https://b\u00fccher.example/mcp",  # an internationalized name is still a name
        "http://my_service:8080/mcp",  # container names may hold underscores
    ],
)
def test_allowed_upstream_urls(url: str) -> None:
    assert upstream_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme must be http or https"),
        ("gopher://x/", "scheme must be http or https"),
        ("http:///mcp", "a host is required"),
        ("http://x:99999/", "not a valid URL (port 99999 is out of range 0-65535)"),
        ("http://x/#frag", "a fragment is not allowed"),
        (
            "http://169.254.169.254/latest/meta-data",
            "address 169.254.169.254 is link-local (cloud metadata lives there)",
        ),
        ("http://[fe80::1]/", "address fe80::1 is link-local (cloud metadata lives there)"),
        (
            "http://[fd00:ec2::254]/",
            "address fd00:ec2::254 is a cloud metadata address",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "address 169.254.169.254 is link-local (cloud metadata lives there)",
        ),
        ("http://0.0.0.0:80/", "address 0.0.0.0 is unspecified"),
        ("http://[::]/", "address :: is unspecified"),
        ("http://224.0.0.1/", "address 224.0.0.1 is multicast"),
        (
            "http://metadata.google.internal/",
            "host metadata.google.internal is a cloud metadata endpoint",
        ),
        (
            "http://2852039166/",
            "host 2852039166 is an ambiguous numeric address (resolvers read it as"
            " 169.254.169.254); write a dotted quad",
        ),
        (
            "http://0xa9.0xfe.0xa9.0xfe/",
            "host 0xa9.0xfe.0xa9.0xfe is an ambiguous numeric address (resolvers read it as"
            " 169.254.169.254); write a dotted quad",
        ),
        ("http://user:pw@example.com/", "credentials in the URL are not allowed; use spec.headers"),
        (
            "http://\uff10.\uff10.\uff10.\uff10:80/x",  # fullwidth digits
            "host '\uff10.\uff10.\uff10.\uff10' is written with non-ASCII characters that"
            " normalize to the numeric host 0.0.0.0; write the address in ASCII",
        ),
        (
            "http://metadata\u3002google\u3002internal/",  # ideographic full stops
            "host metadata.google.internal is a cloud metadata endpoint",
        ),
    ],
)
def test_refused_upstream_urls(url: str, reason: str) -> None:
    assert upstream_url_problem(url) == reason
