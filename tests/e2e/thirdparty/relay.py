"""The test's end of ``relay_browser.py``: login URLs arrive here and a real browser opens them."""

from __future__ import annotations

from types import TracebackType

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskGroup
from anyio.streams.stapled import MultiListener

from .browser import BrowserUser, Visit


class BrowserRelay:
    """Listens on 127.0.0.1 for the URLs the proxy opens; the user completes each one.

    With ``user`` None the URLs are only recorded, as on a machine where nobody is
    at the browser.
    """

    def __init__(self, user: BrowserUser | None) -> None:
        self.user = user
        self.urls: list[str] = []
        self.visits: list[Visit] = []
        self.address = ""
        self._handlers: TaskGroup | None = None
        self._listening = anyio.CancelScope()

    async def __aenter__(self) -> BrowserRelay:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
        self.address = f"127.0.0.1:{port}"
        self._handlers = anyio.create_task_group()
        await self._handlers.__aenter__()
        self._listening = anyio.CancelScope()
        self._handlers.start_soon(self._serve, listener)
        return self

    async def _serve(self, listener: MultiListener[SocketStream]) -> None:
        assert self._handlers is not None
        with self._listening:
            async with listener:
                await listener.serve(self._handle, task_group=self._handlers)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        # Stop listening, but let a browser that is still closing finish its visit.
        assert self._handlers is not None
        self._listening.cancel()
        return await self._handlers.__aexit__(exc_type, exc, tb)

    async def _handle(self, stream: SocketStream) -> None:
        async with stream:
            data = b""
            while not data.endswith(b"\n"):
                data += await stream.receive()
            url = data.decode().strip()
            self.urls.append(url)
            await stream.send(b"k")
        if self.user is not None:
            self.visits.append(await self.user.complete(url))
