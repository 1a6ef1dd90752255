"""Browser tests: headless Debian Chromium driven by Playwright, and an aiortc peer.

They run inside a private network namespace that `scripts/browser-tests` makes
(one veth address, 10.77.0.1, and a default route), so that WebRTC gathers real
host candidates and no test traffic leaves the namespace. Daphne binds 10.77.0.1.
Anywhere else every test here is skipped, with the reason.
"""

import os
import socket
from pathlib import Path

import pytest
from django.db import connections

from ..conftest import PASSWORD
from ..servers import ROOT, DaphneServer, database_url

NETNS_ADDRESS = "10.77.0.1"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


def _skip_reason():
    """Why the browser tests cannot run here, or None."""
    if os.environ.get("CALLS_BROWSER_SKIP"):
        return os.environ["CALLS_BROWSER_SKIP"]
    try:
        with socket.socket() as s:
            s.bind((NETNS_ADDRESS, 0))
    except OSError:
        return (f"not in a network namespace with {NETNS_ADDRESS} "
                "(run them with scripts/browser-tests, as root)")
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (scripts/setup installs Debian's chromium as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -r requirements.txt)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def netns_server(users):
    """A daphne bound to the namespace's address, on the test database."""
    allowed = f"{NETNS_ADDRESS},127.0.0.1,localhost"
    daphne = DaphneServer(
        database_url(connections["default"].settings_dict),
        host=NETNS_ADDRESS, env={"ALLOWED_HOSTS": allowed},
    )
    yield daphne
    daphne.stop()


def chromium_args(origin):
    return [
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # A fake camera and microphone, allowed without a prompt.
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        # Real host candidates instead of mDNS names (no multicast here).
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        # getUserMedia needs a secure context; http://10.77.0.1 is not one by itself.
        f"--unsafely-treat-insecure-origin-as-secure={origin}",
    ]


@pytest.fixture
async def browser(netns_server):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_args(netns_server.http),
        )
        yield chromium
        await chromium.close()


class Pages:
    """Signed-in pages of the test: `await pages.open("alice", "/?ring_time=3")`."""

    def __init__(self, browser, server, name):
        self.browser, self.server, self.name = browser, server, name
        self.contexts = {}
        self.pages = []

    async def context(self, user):
        """One browser context (cookie jar) per user, signed in through the login form."""
        if user not in self.contexts:
            context = await self.browser.new_context(
                base_url=self.server.http, viewport={"width": 1100, "height": 800})
            page = await context.new_page()
            await page.goto("/accounts/login/")
            await page.fill("#id_username", user)
            await page.fill("#id_password", PASSWORD)
            await page.click("#sign-in")
            await page.wait_for_url(f"{self.server.http}/")
            await page.close()
            self.contexts[user] = context
        return self.contexts[user]

    async def open(self, user, path="/"):
        page = await (await self.context(user)).new_page()
        page.on("console", lambda msg: print(f"[{user} console] {msg.type}: {msg.text}"))
        page.on("pageerror", lambda err: print(f"[{user} page error] {err}"))
        await page.goto(path)
        self.pages.append((user, page))
        return page

    async def screenshot(self, page, label):
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"{self.name}-{label}.png"), full_page=True)

    async def close(self):
        for context in self.contexts.values():
            await context.close()


@pytest.fixture
async def pages(browser, netns_server, request):
    opened = Pages(browser, netns_server, request.node.name)
    yield opened
    await opened.close()
