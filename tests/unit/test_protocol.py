"""The protocol layer, pure: every error code it owns, from a real bad input."""

import json

import pytest

from calls import protocol as p


def request(cmd, data=None, cls="core", subclass="core", tid=1):
    frame = {"class": cls, "subclass": subclass, "cmd": cmd, "tid": tid}
    if data is not None:
        frame["data"] = data
    return json.dumps(frame)


def error_of(frame):
    """The ProtocolError a frame raises, parsed and validated."""
    with pytest.raises(p.ProtocolError) as exc:
        msg = p.parse_frame(frame)
        p.validate(msg)
    return exc.value


START = dict(cls="media", subclass="call")

BAD_INPUTS = [
    # frame, code, text (start), tid
    ("not json", 100044, "Syntax error: not JSON", None),
    ("[1, 2]", 100044, "Syntax error: a frame must be a JSON object", None),
    ('"text"', 100044, "Syntax error", None),
    ('{"tid": 4}', 100044, "Syntax error: neither", 4),
    ('{"hello": 1}', 100044, "Syntax error", None),
    ('{"cmd": "ping", "class": "core"}', 100044, "Syntax error: a request needs a tid", None),
    ('{"cmd": "ping", "tid": 3}', 100044, "Syntax error: a request needs a class", 3),
    ('{"cmd": 5, "class": "core", "tid": 3}', 100044, "Syntax error", 3),
    ('{"cmd": "ping", "class": "core", "tid": 3, "data": [1]}', 100044, "Syntax error: data", 3),
    ('{"result": "maybe", "tid": 3}', 100044, "Syntax error", 3),
    ('{"ack": {"x": 1}}', 100044, "Syntax error", None),
    (request("fly"), 100042, "Unknown command 'core/core/fly'", 1),
    (request("login", {}, subclass="nobody"), 100042, "Unknown command 'core/nobody/login'", 1),
    (request("login", {}, subclass="user"), 100045, "Missing field: user", 1),
    (request("login", {"user": 7}, subclass="user"), 100046, "Invalid value: user", 1),
    (request("login", {"user": ""}, subclass="user"), 100046, "Invalid value: user", 1),
    (request("login", {"user": "a", "meta": "x"}, subclass="user"), 100046, "Invalid value: meta", 1),
    (request("login", {"user": "a", "session_id": "has space"}, subclass="user"),
     100035, "Invalid session id", 1),
    (request("login", {"user": "a", "session_id": "x" * 65}, subclass="user"),
     100035, "Invalid session id", 1),
    (request("login", {"user": "a", "session_id": 12}, subclass="user"),
     100035, "Invalid session id", 1),
    (request("get", {}, subclass="user"), 100045, "Missing field: user", 1),
    (request("cmd", {"session_id": "s", "class": "x"}, subclass="session"),
     100045, "Missing field: cmd", 1),
    (request("subscribe", {"subclass": "call"}, subclass="event"), 100045, "Missing field: class", 1),
    (request("subscribe", {"class": "x", "body": []}, subclass="event"),
     100046, "Invalid value: body", 1),
    (request("start", {}, **START), 100045, "Missing field: callee", 1),
    (request("start", {"callee": "b", "type": "fax"}, **START), 100046, "Invalid value: type", 1),
    (request("start", {"callee": "b", "ring_time": 0}, **START), 100046, "Invalid value: ring_time", 1),
    (request("start", {"callee": "b", "ring_time": 181}, **START), 100046, "Invalid value: ring_time", 1),
    (request("start", {"callee": "b", "ring_time": 2.5}, **START), 100046, "Invalid value: ring_time", 1),
    (request("start", {"callee": "b", "ring_time": True}, **START), 100046, "Invalid value: ring_time", 1),
    (request("start", {"callee": "b", "offer": "sdp"}, **START), 100046, "Invalid value: offer", 1),
    (request("start", {"callee": "b", "subscribe": "yes"}, **START), 100046, "Invalid value: subscribe", 1),
    (request("start", {"callee": "b", "call_id": "a b"}, **START), 100046, "Invalid value: call_id", 1),
    (request("answered", {"call_id": "c", "answer": 3}, **START), 100046, "Invalid value: answer", 1),
    (request("hangup", {"call_id": "c", "code": "x"}, **START), 100046, "Invalid value: code", 1),
    (request("hangup", {"call_id": "c", "reason": 5}, **START), 100046, "Invalid value: error", 1),
    (request("ringing", {}, **START, tid="t-9"), 100045, "Missing field: call_id", "t-9"),
]


@pytest.mark.parametrize("frame, code, text, tid", BAD_INPUTS)
def test_bad_input_gets_its_error(frame, code, text, tid):
    error = error_of(frame)
    assert error.code == code
    assert error.text.startswith(text)
    assert error.tid == tid
    response = p.error_from(error)
    assert response == {"result": "error", "tid": tid, "data": {"code": code, "error": error.text}}


def test_every_error_code_has_a_text():
    protocol_md_codes = {
        100001, 100002, 100005, 100009, 100011, 100030, 100031, 100032, 100033, 100034, 100035,
        100042, 100044, 100045, 100046, 100062, 305001, 305002, 305003, 305004, 305005, 305006,
        305007, 305008, 305009, 305010,
    }
    assert set(p.ERRORS) == protocol_md_codes
    assert all(p.ERRORS[code] for code in protocol_md_codes)


def test_defaults_and_aliases():
    msg = p.parse_frame(request("start", {"user": "bob", "events_body": {"k": 1}, "extra": 1}, **START))
    data = p.validate(msg)
    assert data == {
        "callee": "bob", "type": None, "offer": {}, "meta": {}, "subscribe": True,
        "event_body": {"k": 1}, "ring_time": 30, "call_id": None,
    }
    hangup = p.validate(p.parse_frame(request("hangup", {"call_id": "c", "reason": "bye"}, **START)))
    assert hangup == {"call_id": "c", "code": None, "error": "bye"}


def test_request_defaults_subclass_and_data():
    msg = p.parse_frame('{"class": "core", "cmd": "ping", "tid": 1}')
    assert (msg.cls, msg.subclass, msg.cmd, msg.data, msg.tid) == ("core", "core", "ping", {}, 1)


def test_responses_and_acks():
    assert p.parse_frame('{"result": "ok", "tid": 5}') == p.Response(True, 5, {})
    assert p.parse_frame('{"result": "error", "tid": "x", "data": {"code": 1}}') == p.Response(
        False, "x", {"code": 1})
    assert p.parse_frame('{"ack": 9}') == p.Ack(9)


def test_builders():
    assert p.ok(3) == {"result": "ok", "tid": 3}
    assert p.ok(3, []) == {"result": "ok", "tid": 3, "data": []}
    assert p.ok(3, {"a": 1}) == {"result": "ok", "tid": 3, "data": {"a": 1}}
    assert p.error(3, 305002) == {"result": "error", "tid": 3,
                                  "data": {"code": 305002, "error": "Call not found"}}
    assert json.loads(p.encode(p.request(1, "core", "core", "event", {}))) == {
        "class": "core", "subclass": "core", "cmd": "event", "data": {}, "tid": 1}
