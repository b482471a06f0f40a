"""How a call that needs a missing connection is answered, by kind of client."""

from __future__ import annotations

from typing import Any

import pytest

from giru.errors import ConnectionRequiredError
from giru.mcp.jsonrpc import Message
from giru.proxy.connections import (
    CONNECT_STATE,
    URL_ELICITATION_REQUIRED,
    connection_answer,
    without_connect_state,
)

URL = "https://giru.example/oauth/connect?state=gc1.abc"


def _call(method: str = "tools/call") -> Message:
    params = {"name": "files__whoami"}
    raw = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    return Message(kind="request", raw=raw, method=method, id=7, params=params)


def _missing(url: str = URL) -> ConnectionRequiredError:
    return ConnectionRequiredError("files", "connect it", connect_url=url, status="not_connected")


def test_a_modern_client_gets_input_required_with_a_url_elicitation() -> None:
    answer = connection_answer(_call(), _missing(), modern=True, capabilities=None)
    result = answer["result"]
    assert result["resultType"] == "input_required"
    assert result["requestState"] == CONNECT_STATE
    asked = result["inputRequests"]["connect"]
    assert asked["method"] == "elicitation/create"
    assert asked["params"]["mode"] == "url"
    assert asked["params"]["url"] == URL


def test_a_legacy_client_with_url_elicitation_gets_the_32042_error() -> None:
    answer = connection_answer(
        _call(), _missing(), modern=False, capabilities={"elicitation": {"url": {}}}
    )
    assert answer["error"]["code"] == URL_ELICITATION_REQUIRED
    (elicitation,) = answer["error"]["data"]["elicitations"]
    assert elicitation["url"] == URL
    assert elicitation["elicitationId"]


@pytest.mark.parametrize(
    "capabilities", [None, {}, {"elicitation": {}}, {"elicitation": {"form": {}}}]
)
def test_a_legacy_client_without_url_elicitation_gets_a_tool_error_with_the_url(
    capabilities: dict[str, Any] | None,
) -> None:
    answer = connection_answer(_call(), _missing(), modern=False, capabilities=capabilities)
    assert answer["result"]["isError"] is True
    assert "connect it" in answer["result"]["content"][0]["text"]


def test_a_resource_read_gets_a_json_rpc_error_naming_the_url() -> None:
    answer = connection_answer(_call("resources/read"), _missing(), modern=False, capabilities={})
    assert answer["error"]["data"]["connectUrl"] == URL
    assert answer["error"]["data"]["reason"] == "connection_required"


def test_without_a_connect_url_every_client_gets_an_error() -> None:
    for modern in (True, False):
        answer = connection_answer(_call(), _missing(""), modern=modern, capabilities=None)
        assert answer["error"]["data"]["status"] == "not_connected"


def test_the_retry_reaches_the_upstream_without_giru_s_state_and_answers() -> None:
    params = {"name": "t", "requestState": CONNECT_STATE, "inputResponses": {"connect": {}}}
    assert without_connect_state(params) == {"name": "t"}
    upstream_state = {"name": "t", "requestState": "theirs", "inputResponses": {}}
    assert without_connect_state(upstream_state) == upstream_state
    assert without_connect_state(None) is None
