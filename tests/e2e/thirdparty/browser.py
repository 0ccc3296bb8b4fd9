"""A person at Debian's Chromium, driven by Playwright: signs in, approves, reads the result.

Every page it acts on is photographed into the test's artifact directory (the
conftest keeps them only when the test fails). Requests to anything but
127.0.0.1 are aborted, so the pages' web fonts never leave the machine.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Page, Route, async_playwright

from .peers import require_chromium

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MAX_PAGES = 12


@dataclass
class Visit:
    """What one trip through the browser saw."""

    url: str
    pages: list[str] = field(default_factory=list)  # the kinds of page acted on, in order
    final_url: str = ""
    final_text: str = ""


class BrowserUser:
    """Completes OAuth front-channel pages of oidc-provider as user ``login``."""

    def __init__(self, artifacts: Path, login: str = "ada") -> None:
        self.artifacts = artifacts
        self.login = login
        self.visits: list[Visit] = []
        self._shots = 0

    async def complete(self, url: str, *, user_code: str | None = None) -> Visit:
        """Open ``url`` in a fresh profile and click through until nothing is left to do."""
        visit = Visit(url)
        self.visits.append(visit)
        executable = require_chromium()
        with tempfile.TemporaryDirectory(prefix="e2e-chromium-") as profile:
            async with async_playwright() as pw:
                context = await pw.chromium.launch_persistent_context(
                    profile, executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
                )
                try:
                    await context.route("**/*", _loopback_only)
                    page = await context.new_page()
                    await page.goto(url)
                    await self._click_through(page, visit, user_code)
                    visit.final_url = page.url
                    visit.final_text = await page.inner_text("body")
                    await self._shoot(page, "final")
                finally:
                    await context.close()
        return visit

    async def _click_through(self, page: Page, visit: Visit, user_code: str | None) -> None:
        for _ in range(MAX_PAGES):
            kind = await _page_kind(page)
            if kind is None:
                return
            visit.pages.append(kind)
            await self._shoot(page, kind)
            async with page.expect_navigation():
                await self._act(page, kind, user_code)
        raise AssertionError(f"still clicking after {MAX_PAGES} pages: {visit.pages}")

    async def _act(self, page: Page, kind: str, user_code: str | None) -> None:
        if kind == "login":
            await page.fill("input[name=login]", self.login)
            await page.fill("input[name=password]", "any password")
            await page.click("button[type=submit]")
        elif kind == "consent":
            await page.click("button[type=submit]")
        elif kind == "device-code":
            if user_code is not None:
                await page.fill("input[name=user_code]", user_code)
            await page.press("input[name=user_code]", "Enter")
        else:  # device-confirm
            await page.click("button[autofocus]")

    async def _shoot(self, page: Page, label: str) -> None:
        self._shots += 1
        self.artifacts.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=self.artifacts / f"{self._shots:02d}-{label}.png")


async def _page_kind(page: Page) -> str | None:
    """Name the oidc-provider page on screen, or None when there is nothing to do."""
    checks = {
        "login": "input[name=login]",
        "consent": "input[name=prompt][value=consent]",
        "device-code": "input[name=user_code][type=text]",
        "device-confirm": "input[name=confirm][value=yes]",
    }
    for kind, selector in checks.items():
        if await page.locator(selector).count():
            return kind
    return None


async def _loopback_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        await route.continue_()
    else:
        await route.abort()
