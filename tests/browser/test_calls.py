"""The demo page in two (or three) signed-in browsers: real calls over real ICE."""

import asyncio

import pytest
from playwright.async_api import expect

from calls.client import SignalingClient

from ..conftest import PASSWORD

pytestmark = pytest.mark.browser

STATE = "#call-state"


async def wait_online(page, other):
    """The page is connected and lists `other` as online."""
    await expect(page.locator("#connection")).to_have_attribute("data-status", "online")
    await expect(page.locator(f'#online-users li[data-user="{other}"]')).to_be_visible(timeout=8000)


async def peer_state(page):
    return await page.evaluate("window.phone.call && window.phone.call.pc && window.phone.call.pc.connectionState")


async def assert_video_plays(page):
    """The remote <video> shows frames: a size, and its clock moves on."""
    video = page.locator("#remote-video")
    await page.wait_for_function("document.getElementById('remote-video').videoWidth > 0",
                                 timeout=10000)
    before = await video.evaluate("v => v.currentTime")
    await asyncio.sleep(1.0)
    after = await video.evaluate("v => v.currentTime")
    assert after > before + 0.3, (before, after)


async def test_call_accept_media_hangup(pages):
    alice = await pages.open("alice")
    bob = await pages.open("bob")
    await wait_online(alice, "bob")
    await wait_online(bob, "alice")

    await alice.click('#online-users li[data-user="bob"] button.call-video')
    await expect(bob.locator("#incoming")).to_be_visible()
    await expect(bob.locator("#incoming-caller")).to_have_text("alice")
    await expect(alice.locator(STATE)).to_have_attribute("data-state", "ringing")
    await bob.click("#accept")

    for page in (alice, bob):
        await expect(page.locator(STATE)).to_have_attribute("data-state", "connected", timeout=15000)
        assert await peer_state(page) == "connected"
        await assert_video_plays(page)
    await pages.screenshot(alice, "alice-connected")
    await pages.screenshot(bob, "bob-connected")

    await alice.click("#hangup")
    for page in (alice, bob):
        await expect(page.locator(STATE)).to_have_attribute("data-state", "ended")
        await expect(page.locator("#call-reason")).to_have_text("User hangup (code 0)")
    # The call shows in both users' recent calls (from GET /api/calls/).
    for page in (alice, bob):
        await expect(page.locator("#recent-calls tbody tr").first).to_contain_text("User hangup")
    await pages.screenshot(alice, "alice-ended")
    await pages.screenshot(bob, "bob-ended")


async def test_callee_rejects(pages):
    carol = await pages.open("carol")
    dave = await pages.open("dave")
    await wait_online(carol, "dave")

    await carol.click('#online-users li[data-user="dave"] button.call-audio')
    await expect(dave.locator("#incoming")).to_be_visible()
    await dave.click("#reject")

    await expect(carol.locator(STATE)).to_have_attribute("data-state", "ended")
    await expect(carol.locator("#call-reason")).to_have_text("Call rejected (code 305003)")
    await expect(dave.locator(STATE)).to_have_attribute("data-state", "ended")
    await expect(dave.locator("#call-reason")).to_contain_text("Call rejected")
    await expect(dave.locator("#incoming")).to_be_hidden()
    await pages.screenshot(carol, "caller-ended")
    await pages.screenshot(dave, "callee-ended")


async def test_no_answer(pages):
    erin = await pages.open("erin", "/?ring_time=3")
    frank = await pages.open("frank")
    await wait_online(erin, "frank")
    await expect(erin.locator("#ring-time")).to_have_value("3")

    await erin.click('#online-users li[data-user="frank"] button.call-video')
    await expect(frank.locator("#incoming")).to_be_visible()
    await expect(erin.locator(STATE)).to_have_attribute("data-state", "ringing")

    for page in (erin, frank):
        await expect(page.locator(STATE)).to_have_attribute("data-state", "ended", timeout=8000)
        await expect(page.locator("#call-reason")).to_have_text("No answer (code 305005)")
    await expect(frank.locator("#incoming")).to_be_hidden()
    await pages.screenshot(erin, "caller-ended")
    await pages.screenshot(frank, "callee-ended")


async def test_answered_on_another_tab(pages):
    alice = await pages.open("alice")
    bob_tab1 = await pages.open("bob")
    bob_tab2 = await pages.open("bob")
    await wait_online(alice, "bob")
    await expect(alice.locator('#online-users li[data-user="bob"]')).to_be_visible()
    for tab in (bob_tab1, bob_tab2):
        await expect(tab.locator("#connection")).to_have_attribute("data-status", "online")

    await alice.click('#online-users li[data-user="bob"] button.call-video')
    await expect(bob_tab1.locator("#incoming")).to_be_visible()
    await expect(bob_tab2.locator("#incoming")).to_be_visible()
    await bob_tab2.click("#accept")

    await expect(bob_tab1.locator(STATE)).to_have_attribute("data-state", "ended")
    await expect(bob_tab1.locator("#call-reason")).to_have_text("Answered elsewhere (code 305008)")
    await expect(bob_tab1.locator("#incoming")).to_be_hidden()
    for page in (alice, bob_tab2):
        await expect(page.locator(STATE)).to_have_attribute("data-state", "connected", timeout=15000)
    await pages.screenshot(bob_tab1, "bob-other-tab")
    await pages.screenshot(bob_tab2, "bob-answering-tab")

    await bob_tab2.click("#hangup")
    for page in (alice, bob_tab2):
        await expect(page.locator(STATE)).to_have_attribute("data-state", "ended")
        await expect(page.locator("#call-reason")).to_have_text("User hangup (code 0)")


async def test_page_reconnects_after_a_drop_and_stays_stopped(pages, netns_server):
    carol = await pages.open("carol")
    status = carol.locator("#connection")
    await expect(status).to_have_attribute("data-status", "online")
    first = await carol.evaluate("window.phone.client.sessionId")

    # The server drops the connection (a frame over 64 KiB: close 1009) ...
    await carol.evaluate("window.phone.client._ws.send('x'.repeat(70000))")
    # ... and the page connects and logs in again by itself, as a new session.
    await expect(carol).to_have_url(f"{netns_server.http}/")
    await carol.wait_for_function(
        f"window.phone.client.status === 'online' && window.phone.client.sessionId !== '{first}'"
        " && window.phone.client.sessionId", timeout=10000)
    second = await carol.evaluate("window.phone.client.sessionId")

    async with SignalingClient.connect(netns_server.url) as dave, \
            SignalingClient.connect(netns_server.url) as staff:
        await dave.login("dave", password=PASSWORD)
        await staff.login("staff", password=PASSWORD)
        online = await dave.request("core", "user", "list")
        assert second in online["carol"]
        call_id = (await dave.call("start", callee="carol"))["call_id"]
        await expect(carol.locator("#incoming")).to_be_visible()
        await carol.click("#reject")
        assert (await dave.next_event("hangup"))["obj_id"] == call_id

        # A session stopped on purpose (core/session/stop) does not come back.
        await staff.request("core", "session", "stop", {"session_id": second})
        await expect(status).to_have_attribute("data-status", "closed")
        await expect(carol.locator("#call-state")).to_contain_text("User stop")
        await asyncio.sleep(2)
        await expect(status).to_have_attribute("data-status", "closed")
        assert "carol" not in await dave.request("core", "user", "list")
    await pages.screenshot(carol, "stopped")
