"""The OpenAPI schema and the docs page; schemathesis checks every endpoint against the schema,
in-process (WSGI), as a staff user and as a plain user."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .conftest import make_call, make_registration

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# NUL is refused in every Django text field (a 400); no real value holds one.
schema.config.generation.update(allow_x00=False)
IDENTITY = {}  # the token of the user the current test runs as


@schema.auth(refresh_interval=None)
class TokenOfTheTestUser:
    """Declared auth, so schemathesis also checks that no token or a bad one is refused."""

    def get(self, case, context):
        return IDENTITY.get("token")

    def set(self, case, token, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Token {token}"}


@pytest.fixture
def wsgi_keeps_the_test_transaction():
    """The WSGI handler closes "old" connections around each request, which would close the
    test's open transaction; Django's test client makes the same disconnect."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["staff", "plain"])
def identity(request, people, wsgi_keeps_the_test_transaction):
    """A staff or a plain user, with some history of theirs in the database."""
    ann, ben = people("ann", "ben")
    boss = people("boss", staff=True)
    cat, dan = people("cat", "dan")
    calls = {
        "ended": make_call(ann, [ben], answered_by=ben),
        "live": make_call(ann, [ben], state="ringing"),
        "not ann's": make_call(cat, [dan], state="answered", answered_by=dan),
    }
    make_registration(ann), make_registration(ann, online=False)
    user = boss if request.param == "staff" else ann
    IDENTITY["token"] = Token.objects.create(user=user).key
    yield user, calls
    IDENTITY.clear()


@schema.parametrize()
@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_api_matches_its_schema(case, identity):
    # Wrong credentials are a 400 from DRF's token view (as before this API): schema-valid
    # but refused, which is right there.
    excluded = [positive_data_acceptance] if case.path == "/api/auth/token/" else []
    case.call_and_validate(excluded_checks=excluded)


def test_real_rows_match_the_schema(identity):
    """Responses about rows that exist (random call ids find none): detail, 202, 409, 404."""
    user, calls = identity
    headers = {"Authorization": f"Token {IDENTITY['token']}"}
    detail, hangup = schema["/api/calls/{call_id}/"]["GET"], schema["/api/calls/{call_id}/hangup/"]["POST"]
    for call in calls.values():
        expected = 200 if user.is_staff or call.caller == user else 404
        response = detail.Case(path_parameters={"call_id": call.call_id}).call_and_validate(headers=headers)
        assert response.status_code == expected
    ended = hangup.Case(path_parameters={"call_id": calls["ended"].call_id}, body={},
                        media_type="application/json")
    assert ended.call_and_validate(headers=headers).status_code == 409
    live = hangup.Case(path_parameters={"call_id": calls["live"].call_id},
                       body={"code": 486, "reason": "Busy"}, media_type="application/json")
    assert live.call_and_validate(headers=headers).status_code == 202
    listing = schema["/api/calls/"]["GET"].Case(query={"user": calls["ended"].caller.username})
    assert listing.call_and_validate(headers=headers).json()["count"] == 2


def test_schema_and_docs_pages(client):
    got = client.get("/api/schema/?format=json")
    assert got.status_code == 200
    doc = got.json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/auth/token/", "/api/calls/", "/api/calls/live/", "/api/calls/{call_id}/",
        "/api/calls/{call_id}/hangup/", "/api/registrations/", "/api/stats/",
    }
    hangup = doc["paths"]["/api/calls/{call_id}/hangup/"]["post"]
    assert {"202", "400", "403", "404", "409"} <= set(hangup["responses"])
    filters = {p["name"] for p in doc["paths"]["/api/calls/"]["get"]["parameters"]}
    assert filters == {"state", "user", "caller", "callee", "hangup_code", "started_after",
                       "started_before", "ordering", "page"}
    stats = doc["components"]["schemas"]["Stats"]["properties"]
    assert set(stats) == {"since", "live_calls", "online_users", "online_sessions", "calls", "answered",
                          "answer_rate", "avg_duration", "by_hangup_code"}
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content and b"/api/schema/" in docs.content


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "CallDetail" in (tmp_path / "schema.yaml").read_text()
