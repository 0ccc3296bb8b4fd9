from __future__ import annotations

import pytest

from .conftest import Upstream, proxied_session

pytestmark = pytest.mark.anyio


async def test_tools_resources_and_prompts_work_through_the_proxy(upstream: Upstream) -> None:
    async with proxied_session(upstream.url) as session:
        tools = await session.list_tools()
        assert {"echo", "slow", "blob", "sample"} <= {t.name for t in tools.tools}
        result = await session.call_tool("echo", {"text": "héllo"})
        assert result.content[0].text == "héllo"  # type: ignore[union-attr]
        resource = await session.read_resource("memo://greeting")
        assert resource.contents[0].text == "hello from the resource"  # type: ignore[union-attr]
        prompt = await session.get_prompt("greet", {"name": "Ada"})
        assert "Ada" in prompt.messages[0].content.text  # type: ignore[union-attr]
