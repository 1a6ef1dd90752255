"""The call machine, pure: inputs and a fake clock in, effects out. No server, no sleeps."""

import pytest

from calls.machine import (
    Actor, Answered, Call, Emit, Ended, Invite, LegChanged, LegHangup, Refused,
)

ALICE = Actor("alice", "a1")
BOB1, BOB2 = Actor("bob", "b1"), Actor("bob", "b2")
CAROL = Actor("carol", "c1")
STAFF = Actor("root", "s1", is_staff=True)


def new_call(*sessions, ring_time=30, now=100.0):
    call = Call("call-1", ALICE, ring_time, now)
    destinations = [(s.session_id, s.user, f"chan-{s.session_id}", "api") for s in sessions]
    return call, call.start(destinations, now)


def kinds(effects):
    return [type(e).__name__ for e in effects]


def emitted(effects):
    return [(e.type, e.body) for e in effects if isinstance(e, Emit)]


def leg_hangups(effects):
    return {e.leg.session_id: e.code for e in effects if isinstance(e, LegHangup)}


def ended(effects):
    return next((e.code for e in effects if isinstance(e, Ended)), None)


def test_start_invites_every_destination_but_the_caller_itself():
    call, effects = new_call(BOB1, BOB2, ALICE)
    assert [e.leg.session_id for e in effects if isinstance(e, Invite)] == ["b1", "b2"]
    assert call.get_timer() == 130.0


def test_no_destination_ends_at_once():
    call, effects = new_call()
    assert emitted(effects) == [("hangup", {"code": 305004, "reason": "No destination"})]
    assert ended(effects) == 305004 and call.ended


def test_basic_call_ringing_answer_hangup():
    call, _ = new_call(BOB1)
    assert call.invite_result("b1", "accepted", 101)[0].leg.state == "accepted"
    effects = call.ringing(BOB1, None, 102)
    assert emitted(effects) == [("ringing", {})]
    effects = call.answered(BOB1, {"sdp": "x"}, 103)
    assert kinds(effects) == ["LegChanged", "Answered", "Emit"]
    assert emitted(effects) == [("answer", {"answer": {"sdp": "x"}})]
    assert call.get_timer() is None
    effects = call.hangup(ALICE, 110)
    assert emitted(effects) == [("hangup", {"code": 0, "reason": "User hangup"})]
    assert ended(effects) == 0 and leg_hangups(effects) == {}
    assert call.legs["b1"].state == "answered" and call.legs["b1"].ended_at == 110


def test_early_answer_in_ringing():
    call, _ = new_call(BOB1)
    assert emitted(call.ringing(BOB1, {"sdp": "early"}, 101)) == [("ringing", {"answer": {"sdp": "early"}})]


def test_first_answer_wins_others_get_answered_elsewhere():
    call, _ = new_call(BOB1, BOB2, CAROL)
    effects = call.answered(BOB2, {}, 101)
    assert leg_hangups(effects) == {"b1": 305008, "c1": 305008}
    assert call.legs["b1"].state == "cancelled"
    for late in (BOB1, CAROL, BOB2):
        with pytest.raises(Refused) as refused:
            call.answered(late, {}, 102)
        assert refused.value.code == 305006
    with pytest.raises(Refused) as refused:
        call.ringing(BOB2, None, 102)
    assert refused.value.code == 305006


def test_rejected_rules():
    call, _ = new_call(BOB1, BOB2)
    effects = call.rejected(BOB1, 101)
    assert call.legs["b1"].state == "rejected" and ended(effects) is None
    assert call.rejected(BOB1, 102) == []  # already dropped: still ok
    call.answered(BOB2, {}, 103)
    with pytest.raises(Refused) as refused:
        call.rejected(BOB2, 104)
    assert refused.value.code == 305006
    with pytest.raises(Refused) as refused:
        call.rejected(CAROL, 104)
    assert refused.value.code == 100030


def test_every_destination_rejects_or_refuses():
    call, _ = new_call(BOB1, BOB2)
    call.rejected(BOB1, 101)
    effects = call.invite_result("b2", "refused", 102)
    assert call.legs["b2"].state == "declined"
    assert emitted(effects) == [("hangup", {"code": 305003, "reason": "Call rejected"})]
    assert ended(effects) == 305003


def test_unanswered_invite_counts_as_no_answer():
    call, _ = new_call(BOB1, BOB2)
    call.rejected(BOB1, 101)
    effects = call.invite_result("b2", "timeout", 105)
    assert leg_hangups(effects) == {"b2": 305005}
    assert call.legs["b2"].state == "timeout"
    assert ended(effects) == 305005


def test_ring_time_passes_per_destination():
    call, _ = new_call(BOB1, ring_time=10)
    assert call.handle_timer(109.9) == []
    effects = call.handle_timer(110.0)
    assert leg_hangups(effects) == {"b1": 305005}
    assert emitted(effects) == [("hangup", {"code": 305005, "reason": "No answer"})]
    assert call.legs["b1"].state == "timeout"


def test_retry_reinvites_until_ring_time():
    call, _ = new_call(BOB1, ring_time=10)
    assert call.invite_result("b1", "retry", 101, retry=3) == []
    assert call.get_timer() == 104
    effects = call.handle_timer(104)
    assert [type(e) for e in effects] == [Invite] and effects[0].again
    assert call.get_timer() == 110
    call.invite_result("b1", "retry", 108, retry=5)  # past the ring time: no re-invite
    assert call.get_timer() == 110
    assert ended(call.handle_timer(110)) == 305005


def test_caller_cancels_before_answer():
    call, _ = new_call(BOB1, BOB2)
    call.invite_result("b1", "accepted", 101)
    effects = call.hangup(ALICE, 102)
    assert leg_hangups(effects) == {"b1": 305007, "b2": 305007}
    assert emitted(effects) == [("hangup", {"code": 0, "reason": "User hangup"})]


def test_hangup_passes_code_and_reason_through_and_checks_parties():
    call, _ = new_call(BOB1)
    with pytest.raises(Refused) as refused:
        call.hangup(CAROL, 101)
    assert refused.value.code == 100030
    effects = call.hangup(BOB1, 101, code=486, reason="Busy here")
    assert emitted(effects) == [("hangup", {"code": 486, "reason": "Busy here"})]
    with pytest.raises(Refused) as refused:
        call.hangup(ALICE, 102)
    assert refused.value.code == 305002


def test_any_session_of_a_party_and_staff_may_hang_up():
    call, _ = new_call(BOB1)
    assert ended(call.hangup(Actor("alice", "other-device"), 101)) == 0
    call, _ = new_call(BOB1)
    assert ended(call.hangup(STAFF, 101)) == 0


def test_not_invited_session_may_not_ring_or_answer():
    call, _ = new_call(BOB1)
    for command in (lambda: call.ringing(CAROL, None, 101), lambda: call.answered(BOB2, {}, 101)):
        with pytest.raises(Refused) as refused:
            command()
        assert refused.value.code == 100030


def test_dropped_leg_may_not_answer():
    call, _ = new_call(BOB1, BOB2)
    call.rejected(BOB1, 101)
    with pytest.raises(Refused) as refused:
        call.answered(BOB1, {}, 102)
    assert refused.value.code == 305002


def test_caller_disconnects():
    call, _ = new_call(BOB1)
    effects = call.party_gone("a1", 101)
    assert ended(effects) == 305009 and leg_hangups(effects) == {"b1": 305007}
    call, _ = new_call(BOB1)
    call.answered(BOB1, {}, 101)
    effects = call.party_gone("a1", 102)
    assert emitted(effects) == [("hangup", {"code": 305009, "reason": "Caller stopped"})]


def test_answering_callee_disconnects():
    call, _ = new_call(BOB1, BOB2)
    call.answered(BOB1, {}, 101)
    assert call.party_gone("b2", 102) == []  # a cancelled leg leaving changes nothing
    effects = call.party_gone("b1", 103)
    assert emitted(effects) == [("hangup", {"code": 305010, "reason": "Callee stopped"})]


def test_invited_session_disconnecting_counts_as_rejection():
    call, _ = new_call(BOB1, BOB2)
    effects = call.party_gone("b1", 101)
    assert call.legs["b1"].state == "failed" and ended(effects) is None
    effects = call.rejected(BOB2, 102)
    assert ended(effects) == 305003


def test_timeout_and_failure_mix_is_no_answer():
    call, _ = new_call(BOB1, BOB2, ring_time=5)
    call.party_gone("b1", 101)
    assert ended(call.handle_timer(105)) == 305005


def test_process_of_owner_died_and_shutdown():
    call, _ = new_call(BOB1)
    assert ended(call.party_gone("a1", 101, process_died=True)) == 100009
    call, _ = new_call(BOB1)
    call.answered(BOB1, {}, 101)
    effects = call.shutdown(102)
    assert emitted(effects) == [("hangup", {"code": 100001, "reason": "Normal termination"})]
    assert call.shutdown(103) == []


def test_call_ends_exactly_once():
    call, _ = new_call(BOB1)
    call.hangup(ALICE, 101)
    assert call.party_gone("a1", 102) == [] and call.handle_timer(200) == []
    assert call.invite_result("b1", "accepted", 102) == []
    with pytest.raises(Refused) as refused:
        call.ringing(BOB1, None, 102)
    assert refused.value.code == 305002


def test_late_invite_answers_are_ignored():
    call, _ = new_call(BOB1, BOB2)
    call.answered(BOB1, {}, 101)
    assert call.invite_result("b2", "accepted", 102) == []
    assert call.invite_result("b1", "refused", 102) == []
    assert call.legs["b1"].state == "answered"


def test_effects_carry_leg_changes_for_the_history():
    call, _ = new_call(BOB1)
    effects = call.answered(BOB1, {"sdp": 1}, 101)
    assert any(isinstance(e, LegChanged) and e.leg.state == "answered" for e in effects)
    assert any(isinstance(e, Answered) and e.answer == {"sdp": 1} for e in effects)
