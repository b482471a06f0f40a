from __future__ import annotations

import asyncio
from typing import Any

import pytest

from giru.approvals import LocalApprovals
from giru.mcp import jsonrpc
from giru.proxy.consent import ClientChannel, Consent, elicits_form

_FORM: dict[str, Any] = {"elicitation": {}}


def _answer(result: dict[str, Any]) -> Any:
    async def relay(request: dict[str, Any]) -> dict[str, Any]:
        assert request["method"] == "elicitation/create"
        assert request["params"]["message"] == "Allow delete with path='/tmp/x'? yes/no"
        return jsonrpc.result_response(request["id"], result)

    return relay


def _consent(board: LocalApprovals | None = None) -> Consent:
    return Consent(board or LocalApprovals(), node="n", elicitation_timeout_s=0.05)


@pytest.mark.parametrize(
    ("capabilities", "form"),
    [
        ({}, False),
        ({"elicitation": {}}, True),
        ({"elicitation": {"form": {}}}, True),
        ({"elicitation": {"form": {}, "url": {}}}, True),
        ({"elicitation": {"url": {}}}, False),
        ({"elicitation": True}, False),
    ],
)
def test_form_elicitation_is_used_only_when_declared(
    capabilities: dict[str, Any], form: bool
) -> None:
    assert elicits_form(capabilities) is form


@pytest.mark.parametrize(
    ("result", "status", "reason"),
    [
        ({"action": "accept", "content": {"allow": True}}, "approved", None),
        ({"action": "accept", "content": {"allow": False}}, "denied", "the user answered no"),
        ({"action": "decline"}, "denied", "the user declined"),
        ({"action": "cancel"}, "denied", "the user cancelled"),
        ({"action": "accept"}, "denied", "the user answered no"),
    ],
)
async def test_the_callers_answer_decides(
    result: dict[str, Any], status: str, reason: str | None
) -> None:
    channel = ClientChannel(_answer(result), _FORM)
    verdict = await _consent().confirm("ci", "files", "delete", {"path": "/tmp/x"}, [], channel)
    assert (verdict.status, verdict.reason, verdict.via) == (status, reason, "elicitation")
    assert verdict.by == "ci"


async def test_no_answer_from_the_caller_expires_the_approval() -> None:
    async def silent(request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    channel = ClientChannel(silent, _FORM)
    verdict = await _consent().confirm("ci", "files", "delete", {}, [], channel)
    assert verdict.status == "expired"


async def test_a_client_without_elicitation_waits_in_the_admin_queue() -> None:
    board = LocalApprovals()
    consent = _consent(board)
    async with asyncio.TaskGroup() as tasks:
        confirming = tasks.create_task(
            consent.confirm("ci", "files", "delete", {}, ["core.approval_tags"], None)
        )
        while not await board.tickets():  # noqa: ASYNC110 - the board has no event to wait on
            await asyncio.sleep(0)
        ticket = (await board.tickets())[0]
        await board.decide(ticket.id, "approved", "admin", None)
    verdict = confirming.result()
    assert (verdict.status, verdict.by, verdict.via) == ("approved", "admin", "queue")
    assert verdict.ticket == ticket.id


async def test_a_client_that_refuses_the_request_falls_back_to_the_queue() -> None:
    async def refuses(request: dict[str, Any]) -> dict[str, Any]:
        return jsonrpc.error_response(request["id"], jsonrpc.METHOD_NOT_FOUND, "no")

    board = LocalApprovals()
    consent = Consent(board, node="n", queue_timeout_s=0.01)
    verdict = await consent.confirm("ci", "f", "t", {}, [], ClientChannel(refuses, _FORM))
    assert (verdict.status, verdict.via) == ("expired", "queue")
