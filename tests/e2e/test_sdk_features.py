from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
import pytest

from .conftest import MODES, Upstream, proxied_session

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=["stateful-sse", "resumable"])
def stateful(request: pytest.FixtureRequest) -> Iterator[Upstream]:
    server = Upstream(MODES[request.param])
    yield server
    server.stop()


async def _sampling(
    _ctx: Any, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    prompt = params.messages[0].content.text  # type: ignore[union-attr]
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"model says {prompt}"),
        model="m",
    )


async def _elicitation(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"answer": f"yes to {params.message}"})


async def _roots(_ctx: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///home/ada/project")])


async def test_server_requests_are_answered_by_the_client_callbacks(stateful: Upstream) -> None:
    callbacks = {
        "sampling_callback": _sampling,
        "elicitation_callback": _elicitation,
        "list_roots_callback": _roots,
    }
    async with proxied_session(stateful.url, **callbacks) as session:
        sampled = await session.call_tool("sample", {"prompt": "hi"})
        asked = await session.call_tool("ask", {"question": "ok?"})
        rooted = await session.call_tool("roots", {})
    assert sampled.content[0].text == "model says hi"  # type: ignore[union-attr]
    assert asked.content[0].text == "accept:yes to ok?"  # type: ignore[union-attr]
    assert rooted.content[0].text == "file:///home/ada/project"  # type: ignore[union-attr]


async def test_progress_and_log_notifications_reach_the_client(stateful: Upstream) -> None:
    logs: list[Any] = []
    progress: list[float] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
        progress.append(value)

    async with proxied_session(stateful.url, logging_callback=on_log) as session:
        result = await session.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
    assert result.content[0].text == "progressed"  # type: ignore[union-attr]
    assert progress == [1, 2, 3]
    assert logs == ["log 1", "log 2", "log 3"]


async def test_a_cancelled_slow_call_leaves_the_session_usable(stateful: Upstream) -> None:
    async with proxied_session(stateful.url) as session:
        with anyio.move_on_after(0.5):
            await session.call_tool("slow", {"seconds": 30})
        result = await session.call_tool("echo", {"text": "still here"})
    assert result.content[0].text == "still here"  # type: ignore[union-attr]


async def test_a_slow_call_does_not_delay_echo_calls_sent_after_it(stateful: Upstream) -> None:
    slow_done = anyio.Event()
    async with proxied_session(stateful.url) as session:

        async def slow_call() -> None:
            await session.call_tool("slow", {"seconds": 10})
            slow_done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call)
            echoes = [await_echo(session, i) for i in range(50)]
            results: list[str] = []
            async with anyio.create_task_group() as echo_group:
                for echo in echoes:
                    echo_group.start_soon(echo, results)
            assert sorted(results, key=int) == [str(i) for i in range(50)]
            assert not slow_done.is_set()
            tg.cancel_scope.cancel()


def await_echo(session: Any, i: int) -> Any:
    async def run(results: list[str]) -> None:
        result = await session.call_tool("echo", {"text": str(i)})
        results.append(result.content[0].text)

    return run


async def test_a_thousand_concurrent_calls_are_all_answered() -> None:
    server = Upstream(MODES["stateful-sse"])
    results: dict[int, str] = {}
    async with proxied_session(server.url) as session:

        async def call(i: int) -> None:
            result = await session.call_tool("echo", {"text": f"n{i}"})
            results[i] = result.content[0].text  # type: ignore[union-attr]

        async with anyio.create_task_group() as tg:
            for i in range(1000):
                tg.start_soon(call, i)
    server.stop()
    assert results == {i: f"n{i}" for i in range(1000)}


async def test_an_upstream_restart_mid_session_goes_unnoticed() -> None:
    server = Upstream(MODES["stateful-sse"])
    try:
        async with proxied_session(server.url) as session:
            first = await session.call_tool("echo", {"text": "before"})
            server.restart()
            second = await session.call_tool("echo", {"text": "after"})
            tools = await session.list_tools()
    finally:
        server.stop()
    assert first.content[0].text == "before"  # type: ignore[union-attr]
    assert second.content[0].text == "after"  # type: ignore[union-attr]
    assert "echo" in {t.name for t in tools.tools}


async def test_a_response_stream_closed_mid_call_is_resumed_with_last_event_id() -> None:
    server = Upstream(MODES["resumable"])
    try:
        async with proxied_session(server.url) as session:
            result = await session.call_tool("interrupted", {})
    finally:
        server.stop()
    assert result.content[0].text == "answered after resumption"  # type: ignore[union-attr]
