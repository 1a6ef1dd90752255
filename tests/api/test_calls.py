"""GET /api/calls/, /api/calls/live/ and /api/calls/{call_id}/: fields, filters, visibility."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone

from calls import selectors
from calls.models import Call

from .conftest import ids, make_call


@pytest.fixture
def party(people):
    """ann calls ben and cat; ben answers. dan is no party."""
    ann, ben, cat, dan = people("ann", "ben", "cat", "dan")
    call = make_call(ann, [ben, cat], answered_by=ben, code=0)
    return call, ann, ben, cat, dan


def test_detail_has_every_field(party, client_for):
    call, ann, ben, cat, _ = party
    body = client_for(ann).get(f"/api/calls/{call.call_id}/").json()
    started = call.started_at
    iso = lambda dt: dt.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")  # noqa: E731
    assert body == {
        "call_id": call.call_id,
        "caller": {"user": ann.username, "session_id": call.caller_session_id},
        "callee": ben.username,
        "callee_type": "user",
        "state": "ended",
        "started_at": iso(started),
        "answered_at": iso(started + timedelta(seconds=5)),
        "ended_at": iso(started + timedelta(seconds=65)),
        "duration": 60.0,
        "ring_duration": 5.0,
        "answered_by": {"user": ben.username, "session_id": call.answered_session_id},
        "hangup_code": 0,
        "hangup_reason": "User hangup",
        "meta": {},
        "has_offer": True,
        "has_answer": True,
        "legs": [
            {"user": ben.username, "session_id": f"s-{ben.pk}", "protocol": "api", "state": "answered",
             "invited_at": iso(started), "ended_at": iso(started + timedelta(seconds=65))},
            {"user": cat.username, "session_id": f"s-{cat.pk}", "protocol": "api", "state": "cancelled",
             "invited_at": iso(started), "ended_at": iso(started + timedelta(seconds=65))},
        ],
        "events": [
            {"type": "answer", "body": {"answer": {"kept": False}},
             "at": iso(started + timedelta(seconds=5))},
            {"type": "hangup", "body": {"code": 0, "reason": "User hangup"},
             "at": iso(started + timedelta(seconds=65))},
        ],
    }


def test_live_ringing_call_has_nulls_until_they_happen(people, client_for):
    ann, ben = people("ann", "ben")
    call = make_call(ann, [ben], state="ringing", meta={"x": [1]}, callee_type=None)
    body = client_for(ann).get(f"/api/calls/{call.call_id}/").json()
    assert body["state"] == "ringing" and body["callee_type"] is None
    assert body["answered_at"] is None and body["ended_at"] is None and body["answered_by"] is None
    assert body["hangup_code"] is None and body["hangup_reason"] is None
    assert body["duration"] == 0.0 and body["ring_duration"] >= 3600
    assert body["meta"] == {"x": [1]} and body["events"] == []
    assert body["legs"][0]["state"] == "invited" and body["legs"][0]["ended_at"] is None


def test_list_items_have_no_legs_or_events_and_are_newest_first(people, client_for):
    ann, ben = people("ann", "ben")
    now = timezone.now()
    old = make_call(ann, [ben], started_at=now - timedelta(hours=2))
    new = make_call(ann, [ben], started_at=now - timedelta(hours=1))
    body = client_for(ann).get("/api/calls/").json()
    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    assert [r["call_id"] for r in body["results"]] == [new.call_id, old.call_id]
    assert "legs" not in body["results"][0] and "events" not in body["results"][0]
    assert body["results"][0]["caller"] == {"user": ann.username, "session_id": new.caller_session_id}


@pytest.mark.parametrize("who, sees", [("ann", True), ("ben", True), ("cat", True), ("dan", False)])
def test_a_party_sees_the_call_and_no_one_else(party, client_for, who, sees):
    call, *users = party
    user = dict(zip(["ann", "ben", "cat", "dan"], users))[who]
    client = client_for(user)
    assert (call.call_id in ids(client.get("/api/calls/"))) is sees
    assert client.get(f"/api/calls/{call.call_id}/").status_code == (200 if sees else 404)


def test_the_answerer_alone_is_a_party(people, client_for):
    ann, ben = people("ann", "ben")
    call = make_call(ann, [], answered_by=ben)  # no leg of ben's kept: the answerer still counts
    assert client_for(ben).get(f"/api/calls/{call.call_id}/").status_code == 200


def test_staff_see_every_call(party, people, client_for):
    call = party[0]
    staff = people("boss", staff=True)
    client = client_for(staff)
    assert client.get(f"/api/calls/{call.call_id}/").status_code == 200
    assert call.call_id in ids(client.get("/api/calls/", {"caller": call.caller.username}))


def test_a_party_is_listed_once_however_many_legs(people, client_for):
    ann, ben = people("ann", "ben")
    call = make_call(ann, [ben])
    call.legs.create(user=ben, session_id="second-device", invited_at=call.started_at)
    assert ids(client_for(ben).get("/api/calls/")) == [call.call_id]
    assert ids(client_for(ben).get("/api/calls/", {"user": ben.username})) == [call.call_id]


@pytest.mark.parametrize("path", ["/api/calls/", "/api/calls/live/", "/api/calls/{}/",
                                  "/api/registrations/", "/api/stats/"])
def test_anonymous_is_refused(party, client_for, path):
    response = client_for(None).get(path.format(party[0].call_id))
    assert response.status_code in (401, 403)


def test_unknown_call_is_404(people, client_for):
    staff = people("boss", staff=True)
    assert client_for(staff).get("/api/calls/no-such-call/").status_code == 404


def test_call_ids_with_dots_and_colons(people, client_for):
    ann, ben = people("ann", "ben")
    call = make_call(ann, [ben])
    Call.objects.filter(pk=call.pk).update(call_id="a.b:c-1")
    assert client_for(ann).get("/api/calls/a.b:c-1/").json()["call_id"] == "a.b:c-1"


# ------------------------------------------------------------ filters


@pytest.fixture
def calls(people):
    """Five calls among fresh users, one per hour, newest last; and a staff user."""
    ann, ben, cat, dan = people("ann", "ben", "cat", "dan")
    base = timezone.now() - timedelta(hours=10)
    at = lambda h: base + timedelta(hours=h)  # noqa: E731
    made = {
        "ann>ben answered": make_call(ann, [ben], answered_by=ben, started_at=at(0)),
        "ann>cat no answer": make_call(ann, [cat], code=305005, reason="No answer", started_at=at(1)),
        "ben>cat rejected": make_call(ben, [cat], code=305003, reason="Call rejected", started_at=at(2)),
        "cat>dan ringing": make_call(cat, [dan], state="ringing", started_at=at(3)),
        "dan>ann answered live": make_call(dan, [ann], state="answered", answered_by=ann, started_at=at(4)),
    }
    return made, dict(ann=ann, ben=ben, cat=cat, dan=dan, staff=people("boss", staff=True)), at


def listed(client, path="/api/calls/", **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return ids(response)


def names(made, *keys):
    return [made[k].call_id for k in keys]


def test_filter_state(calls, client_for):
    made, u, _ = calls
    client = client_for(u["ann"])
    assert listed(client, state="ended") == names(made, "ann>cat no answer", "ann>ben answered")
    assert listed(client, state="answered") == names(made, "dan>ann answered live")
    assert listed(client_for(u["cat"]), state="ringing") == names(made, "cat>dan ringing")
    assert client.get("/api/calls/", {"state": "bogus"}).status_code == 400


def test_filter_user_is_either_party(calls, client_for):
    made, u, _ = calls
    staff = client_for(u["staff"])
    assert listed(staff, user=u["cat"].username) == names(
        made, "cat>dan ringing", "ben>cat rejected", "ann>cat no answer")
    # caller, invited leg, and answerer each count
    assert listed(staff, user=u["ann"].username) == names(
        made, "dan>ann answered live", "ann>cat no answer", "ann>ben answered")
    assert listed(staff, user="nobody-at-all") == []
    # a plain user only narrows what they may see
    assert listed(client_for(u["ann"]), user=u["cat"].username) == names(made, "ann>cat no answer")


def test_filter_caller_and_callee(calls, client_for):
    made, u, _ = calls
    staff = client_for(u["staff"])
    assert listed(staff, caller=u["ann"].username) == names(made, "ann>cat no answer", "ann>ben answered")
    assert listed(staff, callee=u["cat"].username) == names(made, "ben>cat rejected", "ann>cat no answer")
    assert listed(staff, caller=u["ann"].username, callee=u["ben"].username) == names(made, "ann>ben answered")


def test_filter_hangup_code(calls, client_for):
    made, u, _ = calls
    client = client_for(u["cat"])
    assert listed(client, hangup_code=305003) == names(made, "ben>cat rejected")
    assert listed(client, hangup_code=0) == []
    assert client.get("/api/calls/", {"hangup_code": "x"}).status_code == 400
    assert client.get("/api/calls/", {"hangup_code": 2**40}).status_code == 400
    assert client.get("/api/calls/", {"hangup_code": "0.0"}).status_code == 400
    assert client.get("/api/calls/", {"hangup_code": " 305003"}).status_code == 400
    assert listed(client, hangup_code="+305003") == names(made, "ben>cat rejected")


def test_filter_started_after_and_before(calls, client_for):
    made, u, at = calls
    client = client_for(u["ann"])
    assert listed(client, started_after=at(1).isoformat()) == names(
        made, "dan>ann answered live", "ann>cat no answer")
    assert listed(client, started_before=at(1).isoformat()) == names(made, "ann>ben answered")
    assert listed(client, started_after=at(0).isoformat(), started_before=at(4).isoformat()) == names(
        made, "ann>cat no answer", "ann>ben answered")
    assert client.get("/api/calls/", {"started_after": "yesterday"}).status_code == 400


def test_ordering(calls, client_for):
    made, u, _ = calls
    client = client_for(u["ann"])
    oldest_first = names(made, "ann>ben answered", "ann>cat no answer", "dan>ann answered live")
    assert listed(client, ordering="started_at") == oldest_first
    assert listed(client, ordering="-started_at") == oldest_first[::-1]
    assert listed(client, state="ended", ordering="-hangup_code") == names(
        made, "ann>cat no answer", "ann>ben answered")


def test_pagination(people, client_for):
    ann, ben = people("ann", "ben")
    base = timezone.now() - timedelta(days=1)
    made = [make_call(ann, [ben], started_at=base + timedelta(minutes=i), events=False) for i in range(53)]
    client = client_for(ann)
    first = client.get("/api/calls/").json()
    assert first["count"] == 53 and len(first["results"]) == 50 and first["previous"] is None
    assert first["next"].endswith("/api/calls/?page=2")
    second = client.get(first["next"]).json()
    assert [r["call_id"] for r in second["results"]] == [c.call_id for c in made[2::-1]]
    assert second["next"] is None and second["previous"]
    assert client.get("/api/calls/", {"page": 9}).status_code == 404


# ------------------------------------------------------------ live


def test_live_lists_calls_not_ended(calls, client_for):
    made, u, _ = calls
    staff = client_for(u["staff"])
    live = listed(staff, "/api/calls/live/")
    assert set(names(made, "dan>ann answered live", "cat>dan ringing")) <= set(live)
    assert not set(names(made, "ann>ben answered", "ann>cat no answer", "ben>cat rejected")) & set(live)
    body = staff.get("/api/calls/live/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert all(row["state"] != "ended" for row in body["results"])


def test_live_is_filtered_by_visibility_and_filters(calls, client_for):
    made, u, _ = calls
    assert listed(client_for(u["ann"]), "/api/calls/live/") == names(made, "dan>ann answered live")
    assert listed(client_for(u["ben"]), "/api/calls/live/") == []
    assert listed(client_for(u["dan"]), "/api/calls/live/", state="ringing") == names(made, "cat>dan ringing")
    assert listed(client_for(u["staff"]), "/api/calls/live/", caller=u["cat"].username) == names(
        made, "cat>dan ringing")


def test_selectors_live_calls_and_calls_with_party(calls):
    made, u, _ = calls
    assert list(selectors.live_calls(u["ann"])) == [made["dan>ann answered live"]]
    party = selectors.calls_with_party(Call.objects.all(), u["ben"].username)
    assert set(party) == {made["ann>ben answered"], made["ben>cat rejected"]}


def test_started_filters_take_time_zones(calls, client_for):
    made, u, at = calls
    plus_two = at(1).astimezone(dt_timezone(timedelta(hours=2))).isoformat()
    assert listed(client_for(u["ann"]), started_before=plus_two) == names(made, "ann>ben answered")
    naive_utc = at(1).astimezone(dt_timezone.utc).replace(tzinfo=None).isoformat()
    assert listed(client_for(u["ann"]), started_before=naive_utc) == names(made, "ann>ben answered")
    assert isinstance(at(0), datetime)


def test_the_api_does_not_lean_on_the_sites_rest_framework_setting(people, client_for, settings):
    """A host site with no REST_FRAMEWORK setting (DRF's defaults: AllowAny, no pagination)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    settings.REST_FRAMEWORK = {}
    ann, ben = people("ann", "ben")
    call = make_call(ann, [ben])
    assert APIClient().get("/api/calls/").status_code in (401, 403)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=ann).key}")
    body = client.get("/api/calls/", {"state": "ended", "ordering": "started_at"}).json()
    assert body["count"] == 1 and body["results"][0]["call_id"] == call.call_id
    assert client.get("/api/calls/", {"state": "bogus"}).status_code == 400
    assert client.get("/api/stats/").status_code == 200
    assert client.get("/api/registrations/").json()["count"] == 0
