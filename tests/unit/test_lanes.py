from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from mcp_oauth2_proxy.transport.lanes import LANE_CONNECTIONS, LanedTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Body(httpx.AsyncByteStream):
    """A response body that arrives like one from the network (not read in advance)."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"ok"


def laned(lanes: int, made: list[httpx.Limits]) -> LanedTransport:
    def factory(limits: httpx.Limits, _tls: bool) -> httpx.AsyncBaseTransport:
        made.append(limits)
        return httpx.MockTransport(lambda _request: httpx.Response(200, stream=Body()))

    return LanedTransport(lanes, factory)


async def test_ordinary_traffic_stays_in_the_first_lane() -> None:
    made: list[httpx.Limits] = []
    async with httpx.AsyncClient(transport=laned(3, made)) as client:
        for _ in range(5):
            assert (await client.get("http://upstream.test/")).text == "ok"
    assert len(made) == 1
    assert made[0].max_connections == LANE_CONNECTIONS


async def test_open_responses_spill_into_later_lanes_and_free_them_when_closed() -> None:
    made: list[httpx.Limits] = []
    transport = laned(3, made)
    async with httpx.AsyncClient(transport=transport) as client:
        streams = [
            await client.send(client.build_request("GET", "http://upstream.test/"), stream=True)
            for _ in range(LANE_CONNECTIONS + 1)
        ]
        assert transport.busy() == [LANE_CONNECTIONS, 1, 0]
        for response in streams:
            await response.aclose()
        assert transport.busy() == [0, 0, 0]
    assert len(made) == 2


async def test_when_every_lane_is_full_requests_go_to_the_least_busy_one() -> None:
    transport = laned(2, [])
    async with httpx.AsyncClient(transport=transport) as client:
        streams = [
            await client.send(client.build_request("GET", "http://upstream.test/"), stream=True)
            for _ in range(2 * LANE_CONNECTIONS + 3)
        ]
        assert sum(transport.busy()) == 2 * LANE_CONNECTIONS + 3
        assert max(transport.busy()) - min(transport.busy()) <= 1
        async with anyio.create_task_group() as tg:
            for response in streams:
                tg.start_soon(response.aclose)
        assert transport.busy() == [0, 0]


async def test_a_failed_request_frees_its_slot() -> None:
    def factory(_limits: httpx.Limits, _tls: bool) -> httpx.AsyncBaseTransport:
        def fail(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        return httpx.MockTransport(fail)

    transport = LanedTransport(1, factory)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://upstream.test/")
    assert transport.busy() == [0]


async def test_plain_http_and_https_requests_use_lanes_of_their_own() -> None:
    schemes: list[bool] = []

    def factory(_limits: httpx.Limits, tls: bool) -> httpx.AsyncBaseTransport:
        schemes.append(tls)
        return httpx.MockTransport(lambda _request: httpx.Response(200, stream=Body()))

    async with httpx.AsyncClient(transport=LanedTransport(2, factory)) as client:
        await client.get("http://127.0.0.1:9/")
        await client.get("http://127.0.0.1:9/")
        assert schemes == [False]
        await client.get("https://upstream.test/")
    assert schemes == [False, True]
