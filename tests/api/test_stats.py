"""GET /api/stats/: live calls, online users and sessions, and counts over a window."""

from datetime import datetime, time, timedelta, timezone as dt_timezone

from django.utils import timezone

from calls import selectors
from calls.models import Call

from .conftest import make_call, make_registration


def start_of_today():
    return datetime.combine(timezone.now().astimezone(dt_timezone.utc).date(), time.min, tzinfo=dt_timezone.utc)


def test_selector_counts_over_a_window(people):
    ann, ben, cat = people("ann", "ben", "cat")
    since = timezone.now() - timedelta(hours=3)
    made = [
        make_call(ann, [ben], started_at=since - timedelta(hours=1), answered_by=ben),  # before
        make_call(ann, [ben], started_at=since, answered_by=ben, talk=30),
        make_call(ann, [ben, cat], started_at=since + timedelta(minutes=1), answered_by=cat, talk=90),
        make_call(ann, [ben], started_at=since + timedelta(minutes=2), code=305005, reason="No answer"),
        make_call(ben, [ann], state="answered", answered_by=ann),  # live, answered: no duration yet
        make_call(cat, [ann], state="ringing"),
    ]
    stats = selectors.call_stats(Call.objects.filter(pk__in=[c.pk for c in made]), since)
    assert stats == {
        "since": since, "live_calls": 2, "calls": 5, "answered": 3, "answer_rate": 0.6,
        "avg_duration": 60.0, "by_hangup_code": {"0": 2, "305005": 1},
    }


def test_empty_window_has_null_rates(people):
    stats = selectors.call_stats(Call.objects.none(), timezone.now())
    assert stats["calls"] == 0 and stats["answer_rate"] is None and stats["avg_duration"] is None


def test_a_user_counts_their_own_calls(people, client_for):
    ann, ben, cat = people("ann", "ben", "cat")
    today = start_of_today()
    make_call(ann, [ben], started_at=today - timedelta(seconds=1), answered_by=ben)  # yesterday
    make_call(ann, [ben], started_at=today, answered_by=ben, talk=10)
    make_call(cat, [ben], started_at=today)  # not ann's
    make_call(ben, [ann], state="ringing", started_at=today)
    body = client_for(ann).get("/api/stats/").json()
    assert body["since"] == today.isoformat().replace("+00:00", "Z")
    assert {k: body[k] for k in ("live_calls", "calls", "answered", "answer_rate", "avg_duration",
                                 "by_hangup_code")} == {
        "live_calls": 1, "calls": 2, "answered": 1, "answer_rate": 0.5,
        "avg_duration": 10.0, "by_hangup_code": {"0": 1},
    }
    week = client_for(ann).get("/api/stats/", {"since": (today - timedelta(days=7)).isoformat()}).json()
    assert week["calls"] == 3 and week["answered"] == 2 and week["by_hangup_code"] == {"0": 2}
    assert week["answer_rate"] == 2 / 3


def test_online_counts_and_staff_totals_grow(people, client_for):
    boss = people("boss", staff=True)
    ann, ben = people("ann", "ben")
    client = client_for(boss)
    before = client.get("/api/stats/").json()
    make_registration(ann), make_registration(ann), make_registration(ben)
    make_registration(ben, online=False)
    make_call(ann, [ben], state="ringing", started_at=timezone.now())
    after = client.get("/api/stats/").json()
    assert after["online_users"] - before["online_users"] == 2
    assert after["online_sessions"] - before["online_sessions"] == 3
    assert after["live_calls"] - before["live_calls"] == 1
    assert after["calls"] - before["calls"] == 1
    # everyone sees the same presence counts (as core/user/list shows them)
    assert client_for(ann).get("/api/stats/").json()["online_sessions"] == after["online_sessions"]


def test_bad_since_is_400(people, client_for):
    assert client_for(people("ann")).get("/api/stats/", {"since": "soon"}).status_code == 400
