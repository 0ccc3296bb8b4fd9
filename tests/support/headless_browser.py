"""A stand-in for a person's browser, launched by the proxy through ``BROWSER``.

It opens the authorization URL, follows the authorization server's redirect
(the test server approves automatically) to the proxy's loopback callback, and
records each URL it was asked to open in the file named by ``BROWSER_LOG``
(when set), so tests can tell whether a browser was needed at all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx


def main(url: str) -> int:
    log = os.environ.get("BROWSER_LOG")
    if log:
        with Path(log).open("a", encoding="utf-8") as fh:
            fh.write(url + "\n")
    if os.environ.get("BROWSER_REFUSE"):
        return 1
    with httpx.Client(follow_redirects=True, timeout=30, trust_env=False) as client:
        page = client.get(url)
    return 0 if page.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
