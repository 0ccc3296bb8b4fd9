from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, stdio_client
from mcp.shared.exceptions import MCPError

from .conftest import LEGACY_SSE, MODES, Upstream, proxied_session, proxy_params

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def legacy() -> Iterator[Upstream]:
    server = Upstream(LEGACY_SSE)
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["stateful-sse", "stateless-json"])
def modern(request: pytest.FixtureRequest) -> Iterator[Upstream]:
    server = Upstream(MODES[request.param])
    yield server
    server.stop()


def _events(log_path: Path, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == name]


@asynccontextmanager
async def _sdk_client(url: str, *extra: str) -> AsyncIterator[Client]:
    """The SDK's high-level client in its default ``auto`` mode (discover, else initialize)."""
    with Path(os.devnull).open("w") as errlog:  # noqa: ASYNC230 - opening /dev/null does not block
        async with Client(stdio_client(proxy_params(url, *extra), errlog=errlog)) as client:
            yield client


async def _sampling(
    _ctx: Any, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    prompt = params.messages[0].content.text  # type: ignore[union-attr]
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"model says {prompt}"),
        model="m",
    )


async def test_auto_reaches_a_legacy_sse_server_and_logs_the_choice_once(
    legacy: Upstream, tmp_path: Path
) -> None:
    log_path = tmp_path / "proxy.log"
    async with proxied_session(
        legacy.url, log_path=log_path, sampling_callback=_sampling
    ) as session:
        tools = await session.list_tools()
        echoed = await session.call_tool("echo", {"text": "héllo"})
        sampled = await session.call_tool("sample", {"prompt": "hi"})
        resource = await session.read_resource("memo://greeting")
        prompt = await session.get_prompt("greet", {"name": "Ada"})
    assert {"echo", "sample"} <= {t.name for t in tools.tools}
    assert echoed.content[0].text == "héllo"  # type: ignore[union-attr]
    assert sampled.content[0].text == "model says hi"  # type: ignore[union-attr]
    assert resource.contents[0].text == "hello from the resource"  # type: ignore[union-attr]
    assert "Ada" in prompt.messages[0].content.text  # type: ignore[union-attr]
    selected = _events(log_path, "upstream.transport_selected")
    assert [event["transport"] for event in selected] == ["sse"]


async def test_transport_sse_reaches_a_legacy_server_with_progress_and_concurrent_calls(
    legacy: Upstream,
) -> None:
    progress: list[float] = []

    async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
        progress.append(value)

    async with proxied_session(legacy.url, "--transport", "sse") as session:
        result = await session.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
        blob = await session.call_tool("blob", {"size": 100_000})
    assert result.content[0].text == "progressed"  # type: ignore[union-attr]
    assert progress == [1, 2, 3]
    assert len(blob.content[0].text) == 100_000  # type: ignore[union-attr]


async def test_a_2026_07_28_client_is_served_statelessly_through_auto(
    modern: Upstream, tmp_path: Path
) -> None:
    log_path = tmp_path / "proxy.log"
    async with proxied_session(modern.url, discover=True, log_path=log_path) as session:
        tools = await session.list_tools()
        echoed = await session.call_tool("echo", {"text": "héllo"})
        resource = await session.read_resource("memo://greeting")
        prompt = await session.get_prompt("greet", {"name": "Ada"})
        assert session.protocol_version == "2026-07-28"
    assert "echo" in {t.name for t in tools.tools}
    assert echoed.content[0].text == "héllo"  # type: ignore[union-attr]
    assert resource.contents[0].text == "hello from the resource"  # type: ignore[union-attr]
    assert "Ada" in prompt.messages[0].content.text  # type: ignore[union-attr]
    assert not _events(log_path, "upstream.session_started")


async def test_the_sdk_clients_default_probe_stays_modern_on_a_modern_server(
    modern: Upstream,
) -> None:
    async with _sdk_client(modern.url) as client:
        result = await client.call_tool("echo", {"text": "probe"})
        assert client.protocol_version == "2026-07-28"
    assert result.content[0].text == "probe"  # type: ignore[union-attr]


async def test_the_sdk_clients_default_probe_falls_back_to_initialize_on_a_legacy_sse_server(
    legacy: Upstream,
) -> None:
    async with _sdk_client(legacy.url) as client:
        result = await client.call_tool("echo", {"text": "fell back"})
        assert client.protocol_version != "2026-07-28"
    assert result.content[0].text == "fell back"  # type: ignore[union-attr]


async def test_a_call_pending_when_the_sse_server_goes_away_fails_and_the_next_call_works(
    legacy: Upstream,
) -> None:
    started = anyio.Event()
    outcome: list[BaseException] = []

    async def on_progress(_value: float, _total: float | None, _message: str | None) -> None:
        started.set()

    async with proxied_session(legacy.url) as session:

        async def pending_call() -> None:
            try:
                await session.call_tool("hang", {}, progress_callback=on_progress)
            except MCPError as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(pending_call)
            with anyio.fail_after(10):
                await started.wait()
            legacy.restart()
        with anyio.fail_after(20):
            result = await session.call_tool("echo", {"text": "after the restart"})
    assert isinstance(outcome[0], MCPError)
    assert outcome[0].error.code == -32000
    assert "legacy SSE stream was lost" in outcome[0].error.message
    assert result.content[0].text == "after the restart"  # type: ignore[union-attr]


async def test_x_mcp_header_parameters_are_mirrored_into_mcp_param_headers(
    modern: Upstream,
) -> None:
    async with proxied_session(modern.url, discover=True) as session:
        tools = await session.list_tools()
        result = await session.call_tool("regional", {"region": "eu-wëst", "query": "q"})
    assert "regional" in {t.name for t in tools.tools}
    assert result.content[0].text == "eu-wëst:q"  # type: ignore[union-attr]
