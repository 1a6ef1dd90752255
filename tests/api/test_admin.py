"""The admin: calls and registrations render read-only; the two actions reach the consumers."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from .conftest import make_call, make_registration, receive


@pytest.fixture
def admin_client(people):
    client = Client()
    admin = people("root", staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    return client, admin


@pytest.fixture
def calls(people):
    ann, ben = people("ann", "ben")
    return {
        "ended": make_call(ann, [ben], answered_by=ben, code=0),
        "ringing": make_call(ann, [ben], state="ringing"),
        "answered": make_call(ben, [ann], state="answered", answered_by=ann),
    }, ann, ben


def test_call_changelist_lists_searches_and_filters(admin_client, calls):
    client, _ = admin_client
    made, ann, ben = calls
    page = client.get("/admin/calls/call/")
    assert page.status_code == 200
    html = page.content.decode()
    assert all(call.call_id in html for call in made.values())
    assert "User hangup" in html and "Hang up selected live calls" in html
    assert "Delete selected" not in html and "Add call" not in html
    found = client.get("/admin/calls/call/", {"q": made["ringing"].call_id}).content.decode()
    assert made["ringing"].call_id in found and made["ended"].call_id not in found
    by_state = client.get("/admin/calls/call/", {"state__exact": "ended"}).content.decode()
    assert made["ended"].call_id in by_state and made["answered"].call_id not in by_state
    by_code = client.get("/admin/calls/call/", {"hangup_code": "0"}).content.decode()
    assert made["ended"].call_id in by_code and made["ringing"].call_id not in by_code
    assert client.get("/admin/calls/call/", {"q": ann.username}).status_code == 200
    year = made["ended"].started_at.year
    assert client.get("/admin/calls/call/", {"started_at__year": year}).status_code == 200


def test_search_by_any_party(admin_client, people):
    client, _ = admin_client
    ann, ben, cat = people("ann", "ben", "cat")
    call = make_call(ann, [ben, cat])
    for user in (ann, ben, cat):
        html = client.get("/admin/calls/call/", {"q": user.username}).content.decode()
        assert html.count(f">{call.call_id}<") == 1  # once, however many legs match


def test_call_page_is_read_only_with_legs_and_events(admin_client, calls):
    client, _ = admin_client
    made, ann, ben = calls
    call = made["ended"]
    page = client.get(f"/admin/calls/call/{call.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    legs = html[html.index('id="legs-group"'):html.index('id="events-group"')]
    events = html[html.index('id="events-group"'):]
    assert f">{ben.username}</a>" in legs and f"<p>s-{ben.pk}</p>" in legs and "<p>Answered</p>" in legs
    assert "<p>answer</p>" in events and "<p>hangup</p>" in events and "User hangup" in events
    assert 'name="_save"' not in html and 'name="callee"' not in html  # nothing to edit
    assert client.post(f"/admin/calls/call/{call.pk}/change/", {"callee": "x"}).status_code == 403
    assert client.get("/admin/calls/call/add/").status_code == 403
    assert client.get(f"/admin/calls/call/{call.pk}/delete/").status_code == 403


def test_hang_up_action_asks_the_owner_of_each_live_call(admin_client, calls):
    client, admin = admin_client
    made, _, _ = calls
    response = client.post("/admin/calls/call/", {
        "action": "hang_up", ACTION_CHECKBOX_NAME: [c.pk for c in made.values()],
    }, follow=True)
    assert response.status_code == 200
    assert "Asked to hang up 2 live call(s). 1 had already ended." in response.content.decode()
    for key in ("ringing", "answered"):
        message = receive(made[key].owner_channel)
        assert message["cmd"] == "hangup" and message["call_id"] == made[key].call_id
        assert message["actor"] == {"user": admin.username, "session_id": "", "is_staff": True}
    assert receive(made["ended"].owner_channel, timeout=0.2) is None


def test_registration_changelist_and_page(admin_client, people):
    client, _ = admin_client
    ann, ben = people("ann", "ben")
    on, off = make_registration(ann), make_registration(ben, online=False)
    html = client.get("/admin/registrations/registration/").content.decode()
    assert on.session_id in html and off.session_id in html and "Disconnect selected sessions" in html
    online = client.get("/admin/registrations/registration/", {"online": "yes"}).content.decode()
    assert on.session_id in online and off.session_id not in online
    ended = client.get("/admin/registrations/registration/", {"online": "no"}).content.decode()
    assert off.session_id in ended and on.session_id not in ended
    found = client.get("/admin/registrations/registration/", {"q": ben.username}).content.decode()
    assert off.session_id in found and on.session_id not in found
    page = client.get(f"/admin/registrations/registration/{on.pk}/change/")
    assert page.status_code == 200 and on.session_id in page.content.decode()
    assert client.get("/admin/registrations/registration/add/").status_code == 403
    assert client.get(f"/admin/registrations/registration/{on.pk}/delete/").status_code == 403


def test_disconnect_action_stops_each_live_session(admin_client, people):
    client, _ = admin_client
    ann = people("ann")
    live, other_live, ended = make_registration(ann), make_registration(ann), make_registration(ann, online=False)
    response = client.post("/admin/registrations/registration/", {
        "action": "disconnect", ACTION_CHECKBOX_NAME: [live.pk, ended.pk],
    }, follow=True)
    assert "Asked 1 live session(s) to stop. 1 had already ended." in response.content.decode()
    assert receive(live.channel_name) == {"type": "session.stop"}
    assert receive(ended.channel_name, timeout=0.2) is None
    assert receive(other_live.channel_name, timeout=0.2) is None


def test_staff_without_admin_rights_see_no_history(people):
    client = Client()
    client.force_login(people("plainstaff", staff=True))
    assert client.get("/admin/calls/call/").status_code == 403
