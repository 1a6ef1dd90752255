"""A non-browser WebRTC peer: aiortc, signaling through calls.client.SignalingClient,
calls the demo page in Chromium; media flows both ways over real ICE in the namespace."""

import asyncio

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from playwright.async_api import expect

from calls.client import SignalingClient

from ..conftest import PASSWORD
from .conftest import NETNS_ADDRESS
from .test_calls import assert_video_plays, wait_online

pytestmark = pytest.mark.browser


@pytest.fixture
def namespace_host_candidates(monkeypatch):
    """aiortc gathers its host candidate on the namespace's address only, no STUN."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4, use_ipv6: [NETNS_ADDRESS])


async def test_aiortc_peer_calls_the_browser(pages, netns_server, namespace_host_candidates):
    bob = await pages.open("bob")
    await expect(bob.locator("#connection")).to_have_attribute("data-status", "online")

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    received = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track):
        if track.kind == "video" and not received.done():
            received.set_result(track)

    pc.addTrack(AudioStreamTrack())
    pc.addTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers every candidate here
    offer = {"sdp": pc.localDescription.sdp, "sdp_type": "webrtc", "trickle_ice": False}
    try:
        async with SignalingClient.connect(netns_server.url) as alice:
            await alice.login("alice", password=PASSWORD)
            await wait_online(bob, "alice")
            call_id = (await alice.call("start", callee="bob", offer=offer))["call_id"]
            await expect(bob.locator("#incoming")).to_be_visible()
            await expect(bob.locator("#incoming-kind")).to_have_text(" (video)")
            await bob.click("#accept")

            answer = (await alice.next_event("answer"))["body"]["answer"]
            assert answer["sdp_type"] == "webrtc"
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

            # Chromium's fake camera reaches aiortc ...
            track = await asyncio.wait_for(received, 10)
            frame = await asyncio.wait_for(track.recv(), 10)
            assert frame.width > 0 and frame.height > 0
            # ... and aiortc's frames reach Chromium's <video>.
            await expect(bob.locator("#call-state")).to_have_attribute(
                "data-state", "connected", timeout=15000)
            assert pc.connectionState == "connected"
            await assert_video_plays(bob)
            await pages.screenshot(bob, "browser-connected")

            await alice.call("hangup", call_id=call_id, code=0, error="Bye from aiortc")
            await expect(bob.locator("#call-reason")).to_have_text("Bye from aiortc (code 0)")
            await pages.screenshot(bob, "browser-ended")
    finally:
        await pc.close()
