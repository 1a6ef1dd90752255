"""The call machine, pure ("sans-IO").

A Call takes inputs (start, invite results, ringing, answered, rejected, hangup,
party gone, timer) with the current time and returns effects for the runtime to
carry out: send an invite, emit a call event, send a leg hangup, persist a leg,
the answer or the end. It performs no I/O and reads no clock: like aioquic's
``get_timer()`` / ``handle_timer(now)``, the runtime asks for the next deadline
and calls back when it passes.
"""

from dataclasses import dataclass, field

from .protocol import ERRORS

NO_ANSWER, CALL_REJECTED, NO_DESTINATION = 305005, 305003, 305004
ALREADY_ANSWERED, CALL_NOT_FOUND, UNAUTHORIZED = 305006, 305002, 100030
ORIGINATOR_CANCEL, ANSWERED_ELSEWHERE = 305007, 305008
CALLER_STOPPED, CALLEE_STOPPED = 305009, 305010
PROCESS_FAILED, NORMAL_TERMINATION = 100009, 100001

# Leg states (DATA.md). A leg is live while it may still answer or is the answer.
INVITED, ACCEPTED, RINGING, ANSWERED = "invited", "accepted", "ringing", "answered"
REJECTED, DECLINED, TIMEOUT, CANCELLED, FAILED = (
    "rejected", "declined", "timeout", "cancelled", "failed"
)
WAITING_STATES = frozenset({INVITED, ACCEPTED, RINGING})
# Dropped legs that count as rejections when the last destination drops out.
REJECTION_STATES = frozenset({REJECTED, DECLINED, FAILED})


class Refused(Exception):
    """A command the call refuses; the runtime answers it with this error code."""

    def __init__(self, code):
        self.code = code
        super().__init__(code)


@dataclass(slots=True)
class Actor:
    """Who sends a command: user name, session id, staff flag."""

    user: str
    session_id: str
    is_staff: bool = False


@dataclass(slots=True)
class Leg:
    """One invited destination session."""

    session_id: str
    user: str
    channel: str
    protocol: str = "api"
    state: str = INVITED
    invited_at: float = 0.0
    ring_deadline: float = 0.0
    retry_at: float | None = None
    ended_at: float | None = None

    @property
    def waiting(self):
        return self.state in WAITING_STATES


# ---------------------------------------------------------------- effects


@dataclass(slots=True)
class Invite:
    leg: Leg
    again: bool = False


@dataclass(slots=True)
class Emit:
    """A call-level event for the call's subscribers, kept in the history."""

    type: str
    body: dict


@dataclass(slots=True)
class LegHangup:
    """A hangup for one invited session only, never for subscribers."""

    leg: Leg
    code: int
    reason: str


@dataclass(slots=True)
class LegChanged:
    leg: Leg


@dataclass(slots=True)
class Answered:
    leg: Leg
    answer: dict


@dataclass(slots=True)
class Ended:
    code: int
    reason: str


# ---------------------------------------------------------------- the machine


@dataclass
class Call:
    call_id: str
    caller: Actor
    ring_time: int
    started_at: float
    legs: dict = field(default_factory=dict)  # session_id -> Leg
    state: str = "ringing"  # ringing -> answered -> ended
    answered_by: Leg | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: dict | None = None  # the hangup body, once ended

    @property
    def ended(self):
        return self.state == "ended"

    def parties(self):
        return {self.caller.user} | {leg.user for leg in self.legs.values()}

    # -- inputs ------------------------------------------------------------

    def start(self, destinations, now):
        """Invite every destination: a list of (session_id, user, channel, protocol)."""
        for session_id, user, channel, protocol in destinations:
            if session_id == self.caller.session_id or session_id in self.legs:
                continue
            self.legs[session_id] = Leg(
                session_id, user, channel, protocol,
                invited_at=now, ring_deadline=now + self.ring_time,
            )
        if not self.legs:
            return self._end(now, NO_DESTINATION)
        return [Invite(leg) for leg in self.legs.values()]

    def invite_result(self, session_id, outcome, now, retry=None):
        """The destination's answer to its invite: accepted, refused, retry or timeout."""
        leg = self.legs.get(session_id)
        if self.ended or leg is None or not leg.waiting or self.state == "answered":
            return []
        if outcome == "accepted":
            if leg.state != INVITED:
                return []
            leg.state = ACCEPTED
            return [LegChanged(leg)]
        if outcome == "retry":
            leg.retry_at = now + retry if now + retry < leg.ring_deadline else None
            return []
        if outcome == "refused":
            return self._drop(leg, DECLINED, now)
        return self._drop(leg, TIMEOUT, now, notify=NO_ANSWER)

    def ringing(self, actor, answer, now):
        leg = self._own_leg(actor)
        leg.retry_at = None
        effects = []
        if leg.state != RINGING:
            leg.state = RINGING
            effects.append(LegChanged(leg))
        effects.append(Emit("ringing", {} if answer is None else {"answer": answer}))
        return effects

    def answered(self, actor, answer, now):
        leg = self._own_leg(actor)
        leg.state, leg.retry_at = ANSWERED, None
        self.state, self.answered_by, self.answered_at = "answered", leg, now
        effects = [LegChanged(leg), Answered(leg, answer), Emit("answer", {"answer": answer})]
        for other in self.legs.values():
            if other is not leg and other.waiting:
                effects += self._drop(other, CANCELLED, now, notify=ANSWERED_ELSEWHERE, check=False)
        return effects

    def rejected(self, actor, now):
        leg = self.legs.get(actor.session_id)
        if self.ended:
            raise Refused(CALL_NOT_FOUND)
        if leg is None:
            raise Refused(UNAUTHORIZED)
        if leg.state == ANSWERED:
            raise Refused(ALREADY_ANSWERED)
        if not leg.waiting:
            return []  # already dropped out
        return self._drop(leg, REJECTED, now)

    def hangup(self, actor, now, code=None, reason=None):
        if self.ended:
            raise Refused(CALL_NOT_FOUND)
        if not actor.is_staff and actor.user not in self.parties():
            raise Refused(UNAUTHORIZED)
        if code is None:
            code = 0
        if reason is None:
            reason = "User hangup" if code == 0 else ERRORS.get(code, "User hangup")
        return self._end(now, code, reason)

    def party_gone(self, session_id, now, process_died=False):
        """A session of the call disconnected (or was stopped, or its process died)."""
        if self.ended:
            return []
        if session_id == self.caller.session_id:
            return self._end(now, PROCESS_FAILED if process_died else CALLER_STOPPED)
        leg = self.legs.get(session_id)
        if leg is None:
            return []
        if leg.state == ANSWERED:
            return self._end(now, CALLEE_STOPPED)
        if leg.waiting:
            return self._drop(leg, FAILED, now)
        return []

    def shutdown(self, now):
        return [] if self.ended else self._end(now, NORMAL_TERMINATION)

    def get_timer(self):
        """The next instant the call needs `handle_timer`, or None."""
        if self.state != "ringing":
            return None
        times = [
            leg.retry_at if leg.retry_at is not None else leg.ring_deadline
            for leg in self.legs.values()
            if leg.waiting
        ]
        return min(times, default=None)

    def handle_timer(self, now):
        if self.state != "ringing":
            return []
        effects = []
        for leg in list(self.legs.values()):
            if not leg.waiting:
                continue
            if now >= leg.ring_deadline:
                effects += self._drop(leg, TIMEOUT, now, notify=NO_ANSWER, check=False)
            elif leg.retry_at is not None and now >= leg.retry_at:
                leg.retry_at = None
                effects.append(Invite(leg, again=True))
        return effects + self._end_if_no_one_left(now)

    # -- helpers -----------------------------------------------------------

    def _own_leg(self, actor):
        """The actor's leg, still able to ring or answer; else the refusal it calls for."""
        if self.ended:
            raise Refused(CALL_NOT_FOUND)
        leg = self.legs.get(actor.session_id)
        if leg is None:
            raise Refused(UNAUTHORIZED)
        if self.state == "answered":
            raise Refused(ALREADY_ANSWERED)
        if not leg.waiting:
            raise Refused(CALL_NOT_FOUND)  # its own leg has ended
        return leg

    def _drop(self, leg, state, now, notify=None, check=True):
        leg.state, leg.ended_at, leg.retry_at = state, now, None
        effects = [LegChanged(leg)]
        if notify is not None:
            effects.append(LegHangup(leg, notify, ERRORS[notify]))
        if check:
            effects += self._end_if_no_one_left(now)
        return effects

    def _end_if_no_one_left(self, now):
        if self.state != "ringing" or any(leg.waiting for leg in self.legs.values()):
            return []
        if all(leg.state in REJECTION_STATES for leg in self.legs.values()):
            return self._end(now, CALL_REJECTED)
        return self._end(now, NO_ANSWER)

    def _end(self, now, code, reason=None):
        reason = ERRORS[code] if reason is None else reason
        effects = []
        for leg in self.legs.values():
            if leg.waiting:
                effects += self._drop(leg, CANCELLED, now, notify=ORIGINATOR_CANCEL, check=False)
            elif leg.state == ANSWERED:
                leg.ended_at = now
                effects.append(LegChanged(leg))
        self.state, self.ended_at = "ended", now
        self.outcome = {"code": code, "reason": reason}
        return effects + [Emit("hangup", dict(self.outcome)), Ended(code, reason)]
