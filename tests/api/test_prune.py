"""manage.py prune_history: old ended calls (with legs and events) and ended sessions go."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from calls.models import Call, CallEvent, CallLeg
from registrations.models import Registration

from .conftest import make_call, make_registration


@pytest.fixture
def history(people):
    ann, ben, cat = people("ann", "ben", "cat")
    now = timezone.now()
    return {
        "old call": make_call(ann, [ben, cat], answered_by=ben, started_at=now - timedelta(days=100)),
        "recent call": make_call(ann, [ben], started_at=now - timedelta(days=10)),
        "old live call": make_call(ann, [ben], state="answered", answered_by=ben,
                                   started_at=now - timedelta(days=100)),
        "old session": make_registration(ann, online=False, connected_at=now - timedelta(days=120)),
        "old live session": make_registration(ann, connected_at=now - timedelta(days=120)),
        "recent session": make_registration(ann, online=False, connected_at=now - timedelta(days=10)),
    }


def run(*args):
    out = StringIO()
    call_command("prune_history", *args, stdout=out)
    return out.getvalue()


def exists(row):
    return type(row).objects.filter(pk=row.pk).exists()


def test_dry_run_counts_and_keeps_everything(history):
    out = run("--dry-run")
    assert out.startswith("Would delete 1 calls (2 legs, 2 events) and 1 registrations")
    assert all(exists(row) for row in history.values())


def test_default_keeps_90_days(history):
    old = history["old call"]
    out = run()
    assert out.startswith("Deleted 1 calls (2 legs, 2 events) and 1 registrations that ended before")
    assert not exists(old) and not exists(history["old session"])
    assert not CallLeg.objects.filter(call_id=old.pk).exists()
    assert not CallEvent.objects.filter(call_id=old.pk).exists()
    kept = ("recent call", "old live call", "old live session", "recent session")
    assert all(exists(history[k]) for k in kept)


def test_days_option(history):
    out = run("--days", "5")
    assert out.startswith("Deleted 2 calls (3 legs, 3 events) and 2 registrations")
    assert exists(history["old live call"]) and exists(history["old live session"])
    assert Call.objects.filter(pk=history["old live call"].pk, legs__isnull=False).exists()
    assert Registration.objects.filter(pk=history["old live session"].pk).exists()


def test_negative_days_is_an_error(history):
    with pytest.raises(CommandError):
        run("--days", "-1")


def test_batches(people):
    from calls.services import prune_calls

    ann, ben = people("ann", "ben")
    old = timezone.now() - timedelta(days=200)
    made = [make_call(ann, [ben], started_at=old) for _ in range(7)]
    assert prune_calls(old + timedelta(days=1), batch_size=3) == {"calls": 7, "legs": 7, "events": 7}
    assert not Call.objects.filter(pk__in=[c.pk for c in made]).exists()
