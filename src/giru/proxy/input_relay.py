"""A modern upstream's `input_required` answered by a legacy-era client: its input requests
become real requests on the client's session, and the answers go back on the retry."""

from __future__ import annotations

from typing import Any

from giru.upstream.base import MessageSink

__all__ = ["ask_legacy_client", "needs_input"]


def needs_input(response: dict[str, Any]) -> bool:
    result = response.get("result")
    return isinstance(result, dict) and result.get("resultType") == "input_required"


async def ask_legacy_client(
    relay: MessageSink, result: dict[str, Any], params: dict[str, Any] | None
) -> dict[str, Any]:
    """A modern upstream's `input_required` becomes real requests on a legacy client's session;
    the answers go back upstream on the retry, with the upstream's `requestState` untouched."""
    answers: dict[str, Any] = {}
    requests = result.get("inputRequests")
    for key, asked in (requests if isinstance(requests, dict) else {}).items():
        if not isinstance(asked, dict):
            continue
        answer = await relay(
            {
                "jsonrpc": "2.0",
                "id": key,
                "method": asked.get("method"),
                "params": asked.get("params"),
            }
        )
        if answer is not None and isinstance(answer.get("result"), dict):
            answers[key] = answer["result"]
    retry = {k: v for k, v in (params or {}).items() if k not in ("inputResponses", "requestState")}
    retry["inputResponses"] = answers
    if "requestState" in result:
        retry["requestState"] = result["requestState"]
    return retry
