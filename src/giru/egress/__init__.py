"""SSRF-safe egress: the one way Giru opens an HTTP connection to a URL it was given.

Every URL is checked twice: at validation (`url_problem`: the host as the HTTP client will
normalize it, judged by an `AddressPolicy`) and at connect time (the resolved addresses, in a
resolver and a socket hook), so DNS names that resolve to refused addresses fail too. Redirects
are not followed unless asked for, and then every hop is checked the same way:

    async with egress_session(UPSTREAMS) as http:            # aiohttp; redirects refused
        async with http.get(url) as response: ...
    client = httpx.AsyncClient(transport=egress_transport(PUBLIC))  # httpx, checked per hop
    async with LeanClient(UPSTREAMS) as http:    # giru.egress.lean: the MCP connectors'
        async with http.request("POST", url, headers, body, connect_timeout=10) as answer:
            ...                                    # keep-alive client; a redirect raises
"""

from giru.egress.addresses import Resolve, checked_addresses
from giru.egress.guard import (
    PUBLIC,
    UPSTREAMS,
    AddressPolicy,
    EgressRefusedError,
    IPAddress,
    RedirectRefusedError,
    Target,
    egress_refusal,
    normalize_host,
    parse_target,
    url_problem,
)
from giru.egress.sessions import egress_connector, egress_session, refuse_redirect
from giru.egress.transports import egress_transport

__all__ = [
    "PUBLIC",
    "UPSTREAMS",
    "AddressPolicy",
    "EgressRefusedError",
    "IPAddress",
    "RedirectRefusedError",
    "Resolve",
    "Target",
    "checked_addresses",
    "egress_connector",
    "egress_refusal",
    "egress_session",
    "egress_transport",
    "normalize_host",
    "parse_target",
    "refuse_redirect",
    "url_problem",
]
