"""A call to an OAuth upstream that needs a connection the caller lacks, answered by the kind of
client asking (never a hang):

- a 2026-07-28 client: an `input_required` result whose input request is a URL-mode
  elicitation to Giru's connect page; its retry (with Giru's `requestState`) is the call again;
- a legacy client that declared URL-mode elicitation: the `-32042` URL elicitation required
  error (2025-11-25), after which the client retries the call;
- any other client: a tool error whose text carries the connect URL (or, for a resource or a
  prompt, a JSON-RPC error saying the same).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Final

from giru.access.clients import ClientPrincipal
from giru.credentials.connections import Caller
from giru.errors import ConnectionRequiredError
from giru.mcp import jsonrpc
from giru.mcp.jsonrpc import Message
from giru.proxy.endpoints import Principal

__all__ = [
    "CONNECT_STATE",
    "URL_ELICITATION_REQUIRED",
    "PresentedPrincipals",
    "caller_of",
    "connection_answer",
    "with_presented",
    "without_connect_state",
]

URL_ELICITATION_REQUIRED: Final = -32042
CONNECT_STATE: Final = "giru-connect"
"""The requestState of Giru's own `input_required` (sealed for the caller like any other)."""


def caller_of(principal: object) -> Caller | None:
    """The person a call is for (None: an API-key client or anonymous)."""
    if isinstance(principal, ClientPrincipal) and principal.person is not None:
        person = principal.person
        return Caller(person.subject, person.label, principal.presented)
    return None


def with_presented(current: Principal, arrived: Principal | None) -> Principal:
    """`current` (a session owner's principal as it is now) with the access token the request
    `arrived` with, when both are the same person's: a token-exchange upstream exchanges it."""
    if (
        isinstance(arrived, ClientPrincipal)
        and arrived.presented is not None
        and isinstance(current, ClientPrincipal)
        and current.name == arrived.name
    ):
        return dataclasses.replace(current, presented=arrived.presented)
    return current


class PresentedPrincipals:
    """`with_presented`, remembered: a person's session answers call after call with the same
    owner principal and the same token, and making the principal again costs more than the
    call's admission. An entry holds while both are the very objects it was made from (a reload
    or a new token makes new ones); at most `size` entries, all dropped when full."""

    __slots__ = ("_made", "_size")

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._made: dict[tuple[int, int], tuple[Principal, object, Principal]] = {}

    def __call__(self, current: Principal, arrived: Principal | None) -> Principal:
        presented = getattr(arrived, "presented", None)
        if presented is None:  # an API key, or no token to carry: `current` as it is
            return current
        key = (id(current), id(presented))
        kept = self._made.get(key)
        if kept is not None and kept[0] is current and kept[1] is presented:
            return kept[2]
        made = with_presented(current, arrived)
        if len(self._made) >= self._size:
            self._made.clear()
        self._made[key] = (current, presented, made)
        return made


def without_connect_state(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """`params` of a retry after Giru's own `input_required`, as the upstream should see them."""
    if params is None or params.get("requestState") != CONNECT_STATE:
        return params
    return {k: v for k, v in params.items() if k not in ("requestState", "inputResponses")}


def connection_answer(
    message: Message,
    exc: ConnectionRequiredError,
    *,
    modern: bool,
    capabilities: dict[str, Any] | None,
) -> dict[str, Any]:
    """The answer to `message` when `exc` says a connection is needed."""
    data = {"reason": exc.code, "server": exc.server, **exc.data}
    if not exc.connect_url:
        return jsonrpc.error_response(message.id, jsonrpc.INTERNAL_ERROR, exc.message, data)
    elicitation = {
        "mode": "url",
        "elicitationId": _elicitation_id(exc.connect_url),
        "url": exc.connect_url,
        "message": exc.message,
    }
    if modern:
        result = {
            "resultType": "input_required",
            "inputRequests": {
                "connect": {"method": "elicitation/create", "params": elicitation},
            },
            "requestState": CONNECT_STATE,
        }
        return jsonrpc.result_response(message.id, result)
    asked = (capabilities or {}).get("elicitation")
    if isinstance(asked, dict) and "url" in asked:
        return jsonrpc.error_response(
            message.id,
            URL_ELICITATION_REQUIRED,
            exc.message,
            {"elicitations": [elicitation]},
        )
    if message.method == "tools/call":
        content = [{"type": "text", "text": exc.message}]
        return jsonrpc.result_response(message.id, {"content": content, "isError": True})
    return jsonrpc.error_response(message.id, jsonrpc.INTERNAL_ERROR, exc.message, data)


def _elicitation_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]
