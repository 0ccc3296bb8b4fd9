"""The test authorization server on a real loopback socket (uvicorn in a thread)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

from .oauth_server import FakeAuthServer


class ServedAuthServer:
    """Runs a :class:`FakeAuthServer` on ``http://127.0.0.1:<free port>`` until stopped."""

    def __init__(self, **state: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.state = FakeAuthServer(issuer=self.base, resource=f"{self.base}/mcp", **state)
        config = uvicorn.Config(
            self.state.app(), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    def __enter__(self) -> ServedAuthServer:
        self._thread.start()
        started = threading.Event()

        def wait() -> None:
            while not self._server.started and self._thread.is_alive():
                started.wait(0.01)

        wait()
        assert self._server.started, "the test authorization server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
