"""The staff's live dashboard, with calls made by Python protocol clients."""

import asyncio
import time

import pytest
from playwright.async_api import expect

from calls.client import SignalingClient

from ..conftest import PASSWORD

pytestmark = pytest.mark.browser


async def hangup_of(client, call_id):
    """The `hangup` event of this call (skipping other calls' events)."""
    while True:
        event = await client.next_event("hangup", timeout=5)
        if event["obj_id"] == call_id:
            return event


async def open_dashboard(pages):
    page = await pages.open("staff", "/dashboard/")
    await expect(page.locator("#dashboard")).to_have_attribute("data-ready", "true")
    return page


async def test_dashboard_follows_calls_and_hangs_up(pages, netns_server):
    page = await open_dashboard(pages)
    rows = page.locator("#live-calls tbody tr")
    async with SignalingClient.connect(netns_server.url) as alice, \
            SignalingClient.connect(netns_server.url) as bob:
        await alice.login("alice", password=PASSWORD)
        await bob.login("bob", password=PASSWORD)
        await expect(page.locator('#online-users li[data-user="bob"]')).to_be_visible()

        # A call appears within a second of its start, changes on answer, goes on hangup.
        call_id = (await alice.call("start", callee="bob"))["call_id"]
        started = time.monotonic()
        row = page.locator(f'#live-calls tr[data-call-id="{call_id}"]')
        await expect(row).to_be_visible(timeout=1000)
        print(f"call on the dashboard after {time.monotonic() - started:.3f} s")
        await expect(row).to_have_attribute("data-state", "ringing")
        await expect(row).to_contain_text("alice")
        await bob.next_invite()
        await bob.call("answered", call_id=call_id, answer={})
        await expect(row).to_have_attribute("data-state", "answered", timeout=1000)
        await pages.screenshot(page, "answered")
        await alice.call("hangup", call_id=call_id)
        await expect(row).to_have_count(0, timeout=1000)
        await expect(page.locator("#stat-calls")).not_to_have_text("–")
        await hangup_of(alice, call_id)

        # The staff hangs up a second live call with its button: both parties hear of it.
        second = (await alice.call("start", callee="bob"))["call_id"]
        await bob.next_invite()
        await bob.call("answered", call_id=second, answer={})
        row = page.locator(f'#live-calls tr[data-call-id="{second}"]')
        await expect(row).to_have_attribute("data-state", "answered", timeout=1000)
        await row.locator("button.hangup").click()
        for client in (alice, bob):
            event = await hangup_of(client, second)
            assert event["body"]["code"] == 0
            assert event["body"]["reason"] == "Hung up by staff"
        await expect(rows).to_have_count(0, timeout=1000)
        await pages.screenshot(page, "after-staff-hangup")


async def test_dashboard_lists_calls_that_started_before_it(pages, netns_server):
    async with SignalingClient.connect(netns_server.url) as carol, \
            SignalingClient.connect(netns_server.url) as dave:
        await carol.login("carol", password=PASSWORD)
        await dave.login("dave", password=PASSWORD)
        call_id = (await carol.call("start", callee="dave"))["call_id"]
        await dave.next_invite()
        page = await open_dashboard(pages)
        row = page.locator(f'#live-calls tr[data-call-id="{call_id}"]')
        await expect(row).to_be_visible()
        await expect(page.locator("#stat-live-calls")).not_to_have_text("–")
        await carol.call("hangup", call_id=call_id)
        await expect(row).to_have_count(0, timeout=1000)


async def test_a_live_list_fetched_before_a_call_started_does_not_drop_it(pages, netns_server):
    # The dashboard's first list of live calls is fetched at once and answered late:
    # meanwhile a call starts and is answered, which the list cannot know of.
    fetched, release, fulfilled, held = asyncio.Event(), asyncio.Event(), asyncio.Event(), []

    async def hold_first_list(route):
        if held:
            return await route.continue_()
        held.append(route)
        stale = await route.fetch()  # the list as it is now: no call
        fetched.set()
        await release.wait()
        await route.fulfill(response=stale)
        fulfilled.set()

    await (await pages.context("staff")).route("**/api/calls/live/*", hold_first_list)
    page = await open_dashboard(pages)
    await asyncio.wait_for(fetched.wait(), 10)  # the list is made before the call starts
    async with SignalingClient.connect(netns_server.url) as frank, \
            SignalingClient.connect(netns_server.url) as erin:
        await frank.login("frank", password=PASSWORD)
        await erin.login("erin", password=PASSWORD)
        call_id = (await frank.call("start", callee="erin"))["call_id"]
        row = page.locator(f'#live-calls tr[data-call-id="{call_id}"]')
        await expect(row).to_be_visible()
        await erin.next_invite()
        await erin.call("answered", call_id=call_id, answer={})
        await expect(row).to_have_attribute("data-state", "answered")
        release.set()
        await fulfilled.wait()
        await page.evaluate("new Promise((resolve) => setTimeout(resolve, 200))")  # the list is applied
        shown = await page.evaluate("(id) => window.dashboard.liveCalls.get(id)?.state", call_id)
        assert shown == "answered"
        await frank.call("hangup", call_id=call_id)
        await expect(row).to_have_count(0, timeout=1000)


async def test_dashboard_is_for_staff_only(pages, netns_server):
    page = await pages.open("erin", "/")
    response = await page.goto("/dashboard/")
    assert response.status == 403
    anonymous = await (await pages.browser.new_context(base_url=netns_server.http)).new_page()
    await anonymous.goto("/dashboard/")
    assert "/accounts/login/" in anonymous.url
    await anonymous.context.close()
    await asyncio.sleep(0)
