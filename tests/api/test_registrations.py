"""GET /api/registrations/: own sessions only (staff: all), filters online, user, protocol."""

from datetime import timedelta

from django.utils import timezone

from .conftest import make_registration


def sessions(client, **params):
    response = client.get("/api/registrations/", params)
    assert response.status_code == 200, response.content
    return [row["session_id"] for row in response.json()["results"]]


def test_fields(people, client_for):
    ann = people("ann")
    reg = make_registration(ann, online=False, protocol="sip")
    body = client_for(ann).get("/api/registrations/").json()
    assert body["count"] == 1 and body["next"] is None
    row = body["results"][0]
    iso = lambda dt: dt.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert row == {
        "user": ann.username, "session_id": reg.session_id, "protocol": "sip", "remote": "127.0.0.1",
        "user_agent": "test", "meta": {"k": 1}, "connected_at": iso(reg.connected_at),
        "last_seen_at": iso(reg.last_seen_at), "disconnected_at": iso(reg.disconnected_at),
        "online": False,
    }


def test_a_user_sees_only_their_own_and_staff_see_all(people, client_for):
    ann, ben = people("ann", "ben")
    boss = people("boss", staff=True)
    mine, theirs = make_registration(ann), make_registration(ben)
    assert sessions(client_for(ann)) == [mine.session_id]
    assert sessions(client_for(ben)) == [theirs.session_id]
    every = sessions(client_for(boss))
    assert {mine.session_id, theirs.session_id} <= set(every)
    # a user cannot widen the view with a filter
    assert sessions(client_for(ann), user=ben.username) == []


def test_filters(people, client_for):
    ann, ben = people("ann", "ben")
    boss = people("boss", staff=True)
    now = timezone.now()
    on = make_registration(ann, connected_at=now - timedelta(minutes=2))
    off = make_registration(ann, online=False, connected_at=now - timedelta(minutes=3))
    sip = make_registration(ann, protocol="sip", connected_at=now - timedelta(minutes=1))
    other = make_registration(ben)
    client = client_for(ann)
    assert sessions(client) == [sip.session_id, on.session_id, off.session_id]  # newest first
    assert sessions(client, online="true") == [sip.session_id, on.session_id]
    assert sessions(client, online="false") == [off.session_id]
    assert sessions(client, protocol="sip") == [sip.session_id]
    assert sessions(client, ordering="connected_at") == [off.session_id, on.session_id, sip.session_id]
    staff = client_for(boss)
    assert sessions(staff, user=ben.username) == [other.session_id]
    assert sessions(staff, user=ann.username, online="true", protocol="api") == [on.session_id]
    assert client.get("/api/registrations/", {"protocol": "xmpp"}).status_code == 400
    assert client.get("/api/registrations/", {"online": "maybe"}).status_code == 400
