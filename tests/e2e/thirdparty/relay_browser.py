"""What the proxy launches as ``BROWSER``: hands the login URL to the test over a socket.

The test listens on ``E2E_BROWSER_RELAY`` (``host:port``) and drives a real
Chromium to that URL. Exit status 1 when nobody listens, like a browser that
could not start, so the proxy falls back to printing the URL.
"""

from __future__ import annotations

import os
import socket
import sys


def main(url: str) -> int:
    host, _, port = os.environ.get("E2E_BROWSER_RELAY", "").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(url.encode() + b"\n")
            conn.recv(1)  # wait until the test has taken it
    except (OSError, ValueError):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
