"""Sealed requestStates: a worker's name rides along for Envoy, and cannot be swapped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from giru.mcp.jsonrpc import JsonRpcError
from giru.proxy.mrtr import ParkedCalls, Run


async def _run() -> Run:
    async def never() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    return Run(task=asyncio.get_running_loop().create_task(never()))


async def test_a_workers_state_names_it_and_resumes_there() -> None:
    parked = ParkedCalls(worker="w1")
    run = await _run()
    state = parked.park(run, "alice")
    assert state.startswith("giru1.w1~")
    assert parked.resume(state, "alice") is run
    parked.close()


async def test_a_state_with_another_workers_name_is_refused() -> None:
    parked = ParkedCalls(worker="w1")
    run = await _run()
    state = parked.park(run, "alice")
    with pytest.raises(JsonRpcError, match="Invalid requestState"):
        parked.resume(state.replace("giru1.w1~", "giru1.w2~"), "alice")
    with pytest.raises(JsonRpcError, match="Invalid requestState"):
        parked.resume(state, "mallory")
    parked.close()
    run.task.cancel()


async def test_without_a_worker_name_the_state_has_no_route() -> None:
    parked = ParkedCalls()
    run = await _run()
    state = parked.park(run, "alice")
    assert "~" not in state
    assert parked.resume(state, "alice") is run
    with pytest.raises(JsonRpcError, match="expired or already used"):
        parked.resume(state, "alice")
    run.task.cancel()


@pytest.mark.parametrize(
    "other",
    [
        '["client:bob","/mcp","tools/call","py__ask"]',
        '["client:alice","/mcp/solo","tools/call","py__ask"]',
        '["client:alice","/mcp","prompts/get","py__ask"]',
        '["client:alice","/mcp","tools/call","py__other"]',
    ],
)
async def test_a_parked_call_resumes_only_for_the_binding_it_was_parked_under(other: str) -> None:
    parked = ParkedCalls()
    run = await _run()
    state = parked.park(run, '["client:alice","/mcp","tools/call","py__ask"]')
    with pytest.raises(JsonRpcError, match="Invalid requestState"):
        parked.resume(state, other)
    assert parked.resume(state, '["client:alice","/mcp","tools/call","py__ask"]') is run
    run.task.cancel()
