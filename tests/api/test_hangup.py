"""POST /api/calls/{call_id}/hangup/: who may, what the owner is sent, 409 and 404."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .conftest import make_call, receive


@pytest.fixture
def live(people):
    ann, ben, cat = people("ann", "ben", "cat")
    boss = people("boss", staff=True)
    call = make_call(ann, [ben], state="answered", answered_by=ben)
    return call, dict(ann=ann, ben=ben, cat=cat, boss=boss)


@pytest.mark.parametrize("who", ["ann", "ben", "boss"])
def test_a_party_or_staff_hangs_up_through_the_owner(live, client_for, who):
    call, u = live
    response = client_for(u[who]).post(f"/api/calls/{call.call_id}/hangup/", format="json")
    assert response.status_code == 202
    assert response.json() == {"call_id": call.call_id, "detail": "Hangup requested."}
    assert receive(call.owner_channel) == {
        "type": "call.command", "call_id": call.call_id, "cmd": "hangup",
        "data": {"code": None, "error": None},
        "actor": {"user": u[who].username, "session_id": "", "is_staff": who == "boss"},
        "reply_to": None, "ref": None,
    }


def test_code_and_reason_from_the_body(live, client_for):
    call, u = live
    response = client_for(u["ann"]).post(f"/api/calls/{call.call_id}/hangup/",
                                         {"code": 486, "reason": "Busy here"}, format="json")
    assert response.status_code == 202
    assert receive(call.owner_channel)["data"] == {"code": 486, "error": "Busy here"}


def test_another_user_gets_404_and_nothing_is_sent(live, client_for):
    call, u = live
    assert client_for(u["cat"]).post(f"/api/calls/{call.call_id}/hangup/").status_code == 404
    assert client_for(u["boss"]).post("/api/calls/nope/hangup/").status_code == 404
    assert receive(call.owner_channel, timeout=0.2) is None


def test_an_ended_call_is_409(people, client_for):
    ann, ben = people("ann", "ben")
    call = make_call(ann, [ben])
    response = client_for(ann).post(f"/api/calls/{call.call_id}/hangup/")
    assert response.status_code == 409
    assert response.json() == {"detail": "The call already ended."}
    assert receive(call.owner_channel, timeout=0.2) is None


def test_invalid_body_is_400(live, client_for):
    call, u = live
    client = client_for(u["ann"])
    for body in ({"code": "x"}, {"code": 2**40}, {"reason": "r" * 300}, {"code": True}):
        assert client.post(f"/api/calls/{call.call_id}/hangup/", body, format="json").status_code == 400, body
    assert receive(call.owner_channel, timeout=0.2) is None


def test_anonymous_is_refused(live):
    call, _ = live
    assert APIClient().post(f"/api/calls/{call.call_id}/hangup/").status_code in (401, 403)


def test_session_login_needs_the_csrf_token(live):
    call, u = live
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(u["ann"])
    assert client.post(f"/api/calls/{call.call_id}/hangup/").status_code == 403
    assert receive(call.owner_channel, timeout=0.2) is None


def test_token_auth_and_the_token_endpoint(live):
    call, u = live
    u["ann"].set_password("pw-123456")
    u["ann"].save()
    client = APIClient()
    got = client.post("/api/auth/token/", {"username": u["ann"].username, "password": "pw-123456"},
                      format="json")
    assert got.status_code == 200 and got.json() == {"token": Token.objects.get(user=u["ann"]).key}
    assert client.post("/api/auth/token/", {"username": u["ann"].username, "password": "bad"},
                       format="json").status_code == 400
    client.credentials(HTTP_AUTHORIZATION=f"Token {got.json()['token']}")
    assert client.post(f"/api/calls/{call.call_id}/hangup/").status_code == 202
    assert receive(call.owner_channel)["actor"]["user"] == u["ann"].username
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/calls/").status_code in (401, 403)


def test_an_owner_that_takes_no_commands_is_503(live, client_for, monkeypatch):
    from channels.exceptions import ChannelFull

    from calls import services

    def full(*args, **kwargs):
        raise ChannelFull()

    call, u = live
    monkeypatch.setattr(services, "request_hangup", full)
    response = client_for(u["ann"]).post(f"/api/calls/{call.call_id}/hangup/")
    assert response.status_code == 503 and "not taking commands" in response.json()["detail"]
