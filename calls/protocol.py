"""The wire protocol, pure: frames in, validated messages or protocol errors out.

No Django, no Channels. See PROTOCOL.md for the contract this implements.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

# Every error code of the protocol, with its text.
ERRORS = {
    100001: "Normal termination",
    100002: "Internal error",
    100005: "Timeout",
    100009: "Process failed",
    100011: "User stop",
    100030: "Unauthorized",
    100031: "Not authenticated",
    100032: "Already authenticated",
    100033: "User not found",
    100034: "Duplicated session id",
    100035: "Invalid session id",
    100042: "Unknown command",
    100044: "Syntax error",
    100045: "Missing field",
    100046: "Invalid value",
    100062: "Session not found",
    305001: "Call error",
    305002: "Call not found",
    305003: "Call rejected",
    305004: "No destination",
    305005: "No answer",
    305006: "Already answered",
    305007: "Originator cancel",
    305008: "Answered elsewhere",
    305009: "Caller stopped",
    305010: "Callee stopped",
}

# Codes of frames that count as "bad" for the bad-frames-in-a-row limit.
BAD_FRAME_CODES = frozenset({100042, 100044, 100045, 100046})

ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class ProtocolError(Exception):
    """A request that gets an error response: code, full text and the request's tid."""

    def __init__(self, code, text=None, tid=None):
        self.code = code
        self.text = text or ERRORS[code]
        self.tid = tid
        super().__init__(f"{code} {self.text}")


def syntax_error(detail, tid=None):
    return ProtocolError(100044, f"Syntax error: {detail}", tid)


def missing_field(name, tid=None):
    return ProtocolError(100045, f"Missing field: {name}", tid)


def invalid_value(name, tid=None):
    return ProtocolError(100046, f"Invalid value: {name}", tid)


def unknown_command(name, tid=None):
    return ProtocolError(100042, f"Unknown command '{name}'", tid)


# ---------------------------------------------------------------- messages


@dataclass(slots=True)
class Request:
    cls: str
    subclass: str
    cmd: str
    data: dict
    tid: Any

    @property
    def key(self):
        return (self.cls, self.subclass, self.cmd)

    @property
    def name(self):
        return f"{self.cls}/{self.subclass}/{self.cmd}"


@dataclass(slots=True)
class Response:
    ok: bool
    tid: Any
    data: dict


@dataclass(slots=True)
class Ack:
    tid: Any


def _is_tid(value):
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def parse_frame(text):
    """Turn one text frame into a Request, Response or Ack, or raise ProtocolError(100044)."""
    try:
        obj = orjson.loads(text)
    except (ValueError, TypeError) as exc:
        raise syntax_error(f"not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise syntax_error("a frame must be a JSON object")
    raw_tid = obj.get("tid")
    tid = raw_tid if _is_tid(raw_tid) else None
    if "cmd" in obj:
        return _parse_request(obj, tid)
    if "result" in obj:
        if obj["result"] not in ("ok", "error") or tid is None:
            raise syntax_error("a response needs result 'ok' or 'error' and a tid", tid)
        data = obj.get("data")
        return Response(obj["result"] == "ok", tid, data if isinstance(data, dict) else {})
    if "ack" in obj:
        if not _is_tid(obj["ack"]):
            raise syntax_error("an ack needs the tid it acknowledges", tid)
        return Ack(obj["ack"])
    raise syntax_error("neither a request, a response nor an ack", tid)


def _parse_request(obj, tid):
    if tid is None:
        raise syntax_error("a request needs a tid (integer or string)")
    cls, cmd = obj.get("class"), obj["cmd"]
    subclass = obj.get("subclass", "core")
    data = obj.get("data", {})
    if not isinstance(cls, str) or not cls:
        raise syntax_error("a request needs a class (string)", tid)
    if not isinstance(cmd, str) or not cmd or not isinstance(subclass, str) or not subclass:
        raise syntax_error("cmd and subclass must be strings", tid)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise syntax_error("data must be an object", tid)
    return Request(cls, subclass, cmd, data, tid)


# ---------------------------------------------------------------- command schemas


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a command's data: its type, default and extra check."""

    name: str
    kind: Any = str  # a type, a tuple of types, or None for anything
    required: bool = False
    default: Any = None
    aliases: tuple = ()
    check: Callable[[Any], bool] | None = None
    error_code: int = 100046  # the code when the value is wrong


def _nonempty(value):
    return value != ""


def _event_key(value):
    return value != "" and len(value) <= 255


def _valid_id(value):
    return ID_PATTERN.fullmatch(value) is not None


def Text(name, required=False, default=None, **kw):
    return Field(name, str, required, default, check=kw.pop("check", _nonempty), **kw)


def Obj(name, required=False, **kw):
    return Field(name, dict, required, default=dict, **kw)


def Flag(name, default):
    return Field(name, bool, default=default)


def EventKey(name, required=False):
    return Field(name, str, required, default="*", check=_event_key)


SESSION_ID = Field("session_id", str, check=_valid_id, error_code=100035)
EVENT_KEYS = (EventKey("class", True), EventKey("subclass"), EventKey("type"), EventKey("obj_id"))
CALL_TYPES = ("user", "session", "sip", "verto")


def _ring_time(value):
    return 1 <= value <= 180


COMMANDS = {
    ("core", "core", "ping"): (),
    ("core", "core", "event"): (),
    ("core", "user", "login"): (
        Text("user", True),
        Field("password", str),
        Text("token"),
        SESSION_ID,
        Obj("meta"),
    ),
    ("core", "user", "list"): (),
    ("core", "user", "get"): (Text("user", True),),
    ("core", "user", "send_event"): (Text("user", True), EventKey("type"), Obj("body")),
    ("core", "session", "stop"): (Text("session_id", True),),
    ("core", "session", "send_event"): (Text("session_id", True), EventKey("type"), Obj("body")),
    ("core", "session", "cmd"): (
        Text("session_id", True),
        Text("class", True),
        Text("subclass", default="core"),
        Text("cmd", True),
        Obj("data"),
    ),
    ("core", "event", "subscribe"): EVENT_KEYS + (Obj("body"),),
    ("core", "event", "unsubscribe"): EVENT_KEYS,
    ("core", "event", "get_subscriptions"): (),
    ("core", "event", "send"): EVENT_KEYS + (Obj("body"),),
    ("media", "call", "start"): (
        Text("callee", True, aliases=("user",)),
        Field("type", str, check=lambda v: v in CALL_TYPES),
        Obj("offer"),
        Obj("meta"),
        Flag("subscribe", True),
        Obj("event_body", aliases=("events_body",)),
        Field("ring_time", int, default=30, check=_ring_time),
        Field("call_id", str, check=_valid_id),
    ),
    ("media", "call", "ringing"): (Text("call_id", True), Field("answer", dict)),
    ("media", "call", "answered"): (
        Text("call_id", True),
        Obj("answer"),
        Flag("subscribe", True),
        Obj("event_body", aliases=("events_body",)),
    ),
    ("media", "call", "rejected"): (Text("call_id", True),),
    ("media", "call", "hangup"): (
        Text("call_id", True),
        Field("code", int),
        Field("error", str, aliases=("reason",)),
    ),
}


def _type_ok(value, kind):
    if kind is None:
        return True
    if isinstance(value, bool) and kind is not bool:
        return False  # JSON true is not an integer here
    return isinstance(value, kind)


def validate(request):
    """Check a request's data against its command's schema; return the cleaned data.

    Raises ProtocolError 100042 (unknown command), 100045, 100046 or 100035.
    Unknown extra fields are dropped.
    """
    schema = COMMANDS.get(request.key)
    if schema is None:
        raise unknown_command(request.name, request.tid)
    data, clean = request.data, {}
    for f in schema:
        value = data.get(f.name)
        if value is None:
            for alias in f.aliases:
                value = data.get(alias)
                if value is not None:
                    break
            else:
                if f.required:
                    raise missing_field(f.name, request.tid)
                clean[f.name] = f.default() if callable(f.default) else f.default
                continue
        if not _type_ok(value, f.kind) or (f.check is not None and not f.check(value)):
            if f.error_code == 100046:
                raise invalid_value(f.name, request.tid)
            raise ProtocolError(f.error_code, tid=request.tid)
        clean[f.name] = value
    return clean


# ---------------------------------------------------------------- building frames


def encode(obj):
    """A frame's UTF-8 text. orjson: a tenth of the json module's time on a frame with an SDP."""
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


def ok(tid, data=None):
    if data is None or data == {}:
        return {"result": "ok", "tid": tid}
    return {"result": "ok", "tid": tid, "data": data}


def error(tid, code, text=None):
    return {"result": "error", "tid": tid, "data": {"code": code, "error": text or ERRORS[code]}}


def error_from(exc):
    return error(exc.tid, exc.code, exc.text)


def request(tid, cls, subclass, cmd, data):
    return {"class": cls, "subclass": subclass, "cmd": cmd, "data": data, "tid": tid}


def ack(tid):
    return {"ack": tid}


def hangup_body(code, reason=None):
    return {"code": code, "reason": reason if reason is not None else ERRORS.get(code, "")}


@dataclass(slots=True)
class Event:
    cls: str
    subclass: str
    type: str
    obj_id: str
    body: dict = field(default_factory=dict)

    @property
    def keys(self):
        return (self.cls, self.subclass, self.type, self.obj_id)

    def as_data(self, body=None):
        return {
            "class": self.cls,
            "subclass": self.subclass,
            "type": self.type,
            "obj_id": self.obj_id,
            "body": self.body if body is None else body,
        }
