"""The media/call commands (PROTOCOL.md §6): the runtime around the call machine.

The caller's consumer owns each call it starts: it holds the machine, arms its
timer and carries out its effects. Other sessions' commands for the call are
sent to the owner over the channel layer and answered back, so every transition
of a call happens in one place, in order.
"""

import asyncio
import contextlib
import logging
import time

from channels.exceptions import ChannelFull
from uuid_utils.compat import uuid7

from . import events, history, presence, signals
from . import protocol as p
from .conf import calls_settings
from .models import Call as CallRecord
from .policy import refusal
from .machine import Actor, Answered, Call, Emit, Ended, Invite, LegChanged, LegHangup, Refused
from .runtime import DEFERRED, db, seen_recently
from .selectors import live_call_owner
from .services import call_id_taken
from .subscriptions import call_keys

log = logging.getLogger(__name__)


async def send_signal(signal, sender, **kwargs):
    """Tell the site's receivers; one that fails is logged and never stops the call."""
    for receiver, result in await signal.asend_robust(sender, **kwargs):
        if isinstance(result, Exception):
            log.error("%s receiver %r failed", signal, receiver, exc_info=result)


class OwnedCall:
    """A call this consumer owns: the machine plus what the runtime needs around it."""

    __slots__ = ("machine", "invite", "leg_types", "leg_user_pks", "seq", "timer", "deadline", "held")

    def __init__(self, machine, invite, leg_types, leg_user_pks):
        self.machine, self.invite = machine, invite
        self.leg_types, self.leg_user_pks = leg_types, leg_user_pks
        self.seq, self.timer, self.deadline = 0, None, None
        # Channels subscribed to the call by `start` and `answered`: we send them its events
        # ourselves, so they need no channel-layer group (three round trips to Redis each).
        self.held = set()


class CallCommands:
    """start, ringing, answered, rejected and hangup, for SignalingConsumer."""

    HANDLERS = {
        ("media", "call", "start"): "on_start",
        ("media", "call", "ringing"): "on_call_command",
        ("media", "call", "answered"): "on_call_command",
        ("media", "call", "rejected"): "on_call_command",
        ("media", "call", "hangup"): "on_call_command",
    }

    def init_calls(self):
        self.owned_calls = {}  # call_id -> OwnedCall
        self.invited = {}  # call_id -> owner channel, for calls this session was invited to
        self.awaiting = {}  # ref -> (tid, cmd, call_id, timer): our commands sent to owners

    def knows_call(self, call_id):
        return call_id in self.owned_calls or call_id in self.invited

    def forget_call(self, call_id):
        self.invited.pop(call_id, None)

    def actor(self):
        return Actor(self.username, self.session_id, self.is_staff)

    # ------------------------------------------------------------ start (we become the owner)

    async def on_start(self, req, data):
        # Time-ordered (UUID version 7): a new call's id goes to the end of the history's
        # call_id index. Random ids each dirtied a page of it, written at every commit.
        call_id = data["call_id"] or str(uuid7())
        if data["call_id"] and (call_id in self.owned_calls or await db(call_id_taken)(call_id)):
            raise p.invalid_value("call_id")
        refused = calls_settings.CALL_POLICY and await db(refusal)(self.user_pk, data["callee"], data["type"])
        if refused:
            raise p.ProtocolError(100030, f"Unauthorized: {refused}")
        now = time.time()
        # One hop: the writer looks up the destinations and writes the call with its legs.
        found, written = history.writer().start_call(
            call_id, (data["callee"], data["type"], self.session_id), {
                "caller_id": self.user_pk, "caller_session_id": self.session_id,
                "callee": data["callee"], "callee_type": data["type"],
                "ring_time": data["ring_time"], "started_at": now, "meta": data["meta"],
                "offer": data["offer"], "owner_channel": self.channel_name,
                "owner_server_id": presence.SERVER_ID,
            })
        destinations = await found
        machine = Call(call_id, self.actor(), data["ring_time"], now)
        effects = machine.start([d[:4] for d in destinations], now)
        user_pks = {d[0]: d[4] for d in destinations}
        invite = {"call_id": call_id, "caller": {"user": self.username, "session_id": self.session_id}}
        if data["offer"]:
            invite["offer"] = data["offer"]
        if data["meta"]:
            invite["meta"] = data["meta"]
        owned = OwnedCall(machine, invite, leg_types={d[0]: d[5] for d in destinations},
                          leg_user_pks=user_pks)
        self.owned_calls[call_id] = owned
        if data["subscribe"]:
            self.subscriptions.add(call_keys(call_id), data["event_body"], held=True)
            owned.held.add(self.channel_name)
        if not machine.ended:
            # The destinations ring while the call is written. What they answer waits in
            # our inbox until this handler is done, so the caller hears nothing before its `ok`.
            await self.carry_out(owned, effects)
            effects = ()
        try:
            await written
        except Exception:
            await self.withdraw_call(owned, data["subscribe"])
            raise
        # From its `ok` on, the call is in the history for every process to see.
        await self.send_frame(p.ok(req.tid, {"call_id": call_id}))
        # For staff watchers (the dashboard): a call is live. Not a call event (§6),
        # so parties never see it; class core, so only staff may subscribe to it.
        await events.emit(self.channel_layer, events.event_data("core", "call", "start", call_id, {
            "caller": invite["caller"], "callee": data["callee"], "callee_type": data["type"]}))
        await send_signal(signals.call_started,
            CallRecord, call_id=call_id, caller=self.username, callee=data["callee"],
            callee_type=data["type"], destinations=[d[0] for d in destinations],
        )
        if effects:  # no destination: the call ends at once, told after its `ok`
            await self.carry_out(owned, effects)
        return DEFERRED

    async def withdraw_call(self, owned, subscribed):
        """A new call could not be written: it never was. Its destinations stop ringing."""
        machine = owned.machine
        self.owned_calls.pop(machine.call_id, None)
        if owned.timer is not None:
            owned.timer.cancel()
        if subscribed:
            await self.unsubscribe(call_keys(machine.call_id))
        for leg in machine.legs.values():
            if leg.waiting:
                with contextlib.suppress(ChannelFull):
                    await self.channel_layer.send(leg.channel, events.leg_hangup(
                        machine.call_id, 100002, p.ERRORS[100002]))

    # ------------------------------------------------------------ carrying out the machine's effects

    async def carry_out(self, owned, effects):
        """Record what the machine decided and send it: the history is written as the events
        go out (queued to the history writer, in order), and before the call's end is told."""
        machine, now = owned.machine, time.time()
        writes, sends, ended = [], [], False
        for effect in effects:
            kind = type(effect)
            if kind is Invite:
                invite = {**owned.invite, "type": owned.leg_types.get(effect.leg.session_id, "user")}
                sends.append((effect.leg.channel, {"type": "call.invite", "owner": self.channel_name,
                                                   "invite": invite}, effect.leg))
            elif kind is Emit:
                owned.seq += 1
                writes.append(("event", owned.seq, effect.type, effect.body, now))
                sends.append((None, effect, None))
            elif kind is LegHangup:
                sends.append((effect.leg.channel,
                              events.leg_hangup(machine.call_id, effect.code, effect.reason), None))
            elif kind is LegChanged:
                leg = effect.leg
                writes.append(("leg", leg.session_id, leg.state, leg.ended_at))
            elif kind is Answered:
                writes.append(("answer", effect.leg.session_id,
                               owned.leg_user_pks.get(effect.leg.session_id), effect.answer, now))
            elif kind is Ended:
                writes.append(("end", effect.code, effect.reason, now))
                ended = True
        if writes:
            written = history.writer().changes(machine.call_id, writes, awaited=ended)
            if ended:  # the record is complete before anyone hears of the end
                with contextlib.suppress(Exception):  # logged by the writer
                    await written
        layer, unreachable = self.channel_layer, []
        for channel, message, invited_leg in sends:
            if channel is None:
                await events.emit_call_event(layer, machine.call_id, message.type, message.body,
                                             owned.held)
                continue
            try:
                await layer.send(channel, message)
            except ChannelFull:
                # That consumer (or its whole process) stopped reading: only its leg fails.
                log.warning("call %s: channel %s is full", machine.call_id, channel)
                if invited_leg is not None:
                    unreachable.append(invited_leg.session_id)
        for effect in effects:
            if type(effect) is Answered:
                await send_signal(signals.call_answered,
                    CallRecord, call_id=machine.call_id, answered_by=effect.leg.user,
                    session_id=effect.leg.session_id,
                )
            elif type(effect) is Ended:
                await send_signal(signals.call_ended,
                    CallRecord, call_id=machine.call_id, code=effect.code, reason=effect.reason
                )
        if ended:
            self.owned_calls.pop(machine.call_id, None)
            if owned.timer is not None:
                owned.timer.cancel()
            return
        self.arm_call_timer(owned)
        for session_id in unreachable:  # as if it had disconnected: its leg fails
            if not machine.ended:
                await self.carry_out(owned, machine.party_gone(session_id, time.time()))

    def arm_call_timer(self, owned):
        deadline = owned.machine.get_timer()
        if deadline == owned.deadline:
            return
        if owned.timer is not None:
            owned.timer.cancel()
        owned.deadline, owned.timer = deadline, None
        if deadline is not None:
            owned.timer = asyncio.get_running_loop().call_later(
                max(0.0, deadline - time.time()), self.post_to_self,
                {"type": "call.timer", "call_id": owned.machine.call_id},
            )

    async def call_timer(self, message):
        """A deadline of one of our calls passed (ring time, retry)."""
        owned = self.owned_calls.get(message["call_id"])
        if owned is None:
            return
        owned.deadline = None
        await self.carry_out(owned, owned.machine.handle_timer(time.time()))

    # ------------------------------------------------------------ commands on a call

    async def on_call_command(self, req, data):
        call_id = data["call_id"]
        if call_id in self.owned_calls:
            code, subscription = await self.run_call_command(call_id, req.cmd, data, self.actor(),
                                                             self.channel_name)
            if code is not None:
                raise p.ProtocolError(code)
            if subscription:
                self.subscriptions.add(*subscription, held=True)
            return None
        owner = self.invited.get(call_id) or await db(live_call_owner)(call_id)
        if not owner or owner == self.channel_name:
            self.forget_call(call_id)
            raise p.ProtocolError(305002)
        ref = next(self.server_tids)  # unique among this consumer's refs too
        timer = asyncio.get_running_loop().call_later(
            calls_settings.REQUEST_TIMEOUT, self.post_to_self,
            {"type": "call.reply", "ref": ref, "code": 100005},
        )
        self.awaiting[ref] = (req.tid, req.cmd, call_id, timer)
        await self.channel_layer.send(owner, {
            "type": "call.command", "call_id": call_id, "cmd": req.cmd, "data": data,
            "actor": {"user": self.username, "session_id": self.session_id, "is_staff": self.is_staff},
            "reply_to": self.channel_name, "ref": ref,
        })
        return DEFERRED

    async def run_call_command(self, call_id, cmd, data, actor, actor_channel):
        """Feed one command to the machine of an owned call; return (error code, subscription)."""
        owned = self.owned_calls.get(call_id)
        if owned is None:
            return 305002, None
        machine, now = owned.machine, time.time()
        try:
            if cmd == "ringing":
                effects = machine.ringing(actor, data.get("answer"), now)
            elif cmd == "answered":
                effects = machine.answered(actor, data["answer"], now)
            elif cmd == "rejected":
                effects = machine.rejected(actor, now)
            else:
                effects = machine.hangup(actor, now, data.get("code"), data.get("error"))
        except Refused as refused:
            return refused.code, None
        await self.carry_out(owned, effects)
        if cmd == "answered" and data.get("subscribe", True):
            # Subscribed now, after its own `answer` event went out, before any later one.
            if actor_channel:
                owned.held.add(actor_channel)
            return None, (call_keys(call_id), data.get("event_body") or {})
        return None, None

    async def call_command(self, message):
        """Another session (or the API) sends a command for a call we own."""
        actor = Actor(**message["actor"])
        code, subscription = await self.run_call_command(
            message["call_id"], message["cmd"], message["data"], actor, message["reply_to"]
        )
        if message["reply_to"]:
            await self.channel_layer.send(message["reply_to"], {
                "type": "call.reply", "ref": message["ref"], "code": code,
                "subscription": subscription,
            })

    async def call_reply(self, message):
        """The owner's answer to one of our call commands (or our own timeout)."""
        entry = self.awaiting.pop(message["ref"], None)
        if entry is None:
            return
        tid, cmd, call_id, timer = entry
        timer.cancel()
        code = message["code"]
        if code is not None:
            if code == 305002:
                self.forget_call(call_id)
            return await self.send_frame(p.error(tid, code))
        subscription = message.get("subscription")
        if subscription:
            keys, body = subscription
            self.subscriptions.add(tuple(keys), body, held=True)  # the owner holds us already
        if cmd == "rejected":
            self.forget_call(call_id)
        await self.send_frame(p.ok(tid))

    # ------------------------------------------------------------ the destination's side

    async def call_invite(self, message):
        """The owner of a call invites this session: ask the client."""
        invite = message["invite"]
        self.invited[invite["call_id"]] = message["owner"]
        await self.send_request("media", "call", "invite", invite, kind="invite",
                                info=(invite["call_id"], message["owner"]))

    async def invite_answered(self, info, response):
        """The client answered an invite (None: no answer in time); tell the owner."""
        call_id, owner = info
        retry = None
        if response is None:
            outcome = "timeout"
        elif not response.ok:
            outcome = "refused"
            self.forget_call(call_id)
        else:
            retry = response.data.get("retry")
            valid_retry = isinstance(retry, int) and not isinstance(retry, bool) and retry >= 1
            outcome = "retry" if valid_retry else "accepted"
        await self.channel_layer.send(owner, {
            "type": "call.invite_result", "call_id": call_id, "session_id": self.session_id,
            "outcome": outcome, "retry": retry,
        })

    async def call_invite_result(self, message):
        """A destination of a call we own answered its invite."""
        owned = self.owned_calls.get(message["call_id"])
        if owned is not None:
            effects = owned.machine.invite_result(
                message["session_id"], message["outcome"], time.time(), message.get("retry")
            )
            await self.carry_out(owned, effects)

    async def call_event(self, message):
        """Someone else (staff) sent an event of a call we own: to its held subscribers too."""
        owned = self.owned_calls.get(message["message"]["event"]["obj_id"])
        if owned is not None:
            await events.send_to_each(self.channel_layer, owned.held, message["message"])

    async def call_leg_hangup(self, message):
        """Our leg of a call ended (no answer, answered elsewhere, cancelled)."""
        call_id = message["call_id"]
        self.forget_call(call_id)
        if seen_recently(self.hung_up_calls, call_id):
            return
        body = {"code": message["code"], "reason": message["reason"]}
        await self.send_event(events.event_data("media", "call", "hangup", call_id, body))

    # ------------------------------------------------------------ parties leaving

    async def call_party_gone(self, message):
        """A session of a call we own disconnected, or its process died."""
        owned = self.owned_calls.get(message["call_id"])
        if owned is not None:
            leg = owned.machine.legs.get(message["session_id"])
            if leg is not None:  # its channel is gone: nothing more is sent there
                owned.held.discard(leg.channel)
            effects = owned.machine.party_gone(
                message["session_id"], time.time(), process_died=message.get("process_died", False)
            )
            await self.carry_out(owned, effects)

    async def calls_session_gone(self, shutdown=False):
        """Our connection closed: our calls end (305009, or 100001 when the server stops),
        owners of the others are told."""
        for owned in list(self.owned_calls.values()):
            machine, now = owned.machine, time.time()
            if shutdown:
                await self.carry_out(owned, machine.shutdown(now))
                # Our own channel no longer reads: tell our client here, still connected.
                await self.deliver_event(events.event_data(
                    "media", "call", "hangup", machine.call_id, machine.outcome))
            else:
                await self.carry_out(owned, machine.party_gone(self.session_id, now))
        for call_id, owner in list(self.invited.items()):
            await self.channel_layer.send(owner, {
                "type": "call.party_gone", "call_id": call_id, "session_id": self.session_id,
            })
        self.invited.clear()
