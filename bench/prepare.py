"""Database work of the benchmark, run in its own process on bench.settings.

    python -m bench.prepare setup --pairs N --idle-users K   # migrate, create users
    python -m bench.prepare count                            # what the history holds

The database is the one DATABASE_URL names (fresh, made by the runner).
Prints one JSON object on stdout.
"""

import argparse
import json
import os
import sys

PASSWORD = "bench-pass-1"


def caller_name(i):
    return f"bcaller{i}"


def callee_name(i):
    return f"bcallee{i}"


def idle_name(i):
    return f"bidle{i}"


def setup(pairs, idle_users):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()
    password = make_password(PASSWORD)  # MD5 (bench.settings): one hash for all
    names = [caller_name(i) for i in range(pairs)] + [callee_name(i) for i in range(pairs)]
    names += [idle_name(i) for i in range(idle_users)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create(
        [User(username=n, password=password) for n in names if n not in existing], batch_size=500
    )
    return {"users": User.objects.count()}


def count():
    from django.db.models import Count

    from calls.models import Call, CallEvent, CallLeg

    by_state = dict(Call.objects.values_list("state").annotate(n=Count("id")))
    return {
        "calls": Call.objects.count(),
        "calls_by_state": by_state,
        "calls_ended_normally": Call.objects.filter(state="ended", hangup_code=0).count(),
        "calls_answered": Call.objects.exclude(answered_at=None).count(),
        "legs": CallLeg.objects.count(),
        "events": CallEvent.objects.count(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.prepare")
    parser.add_argument("action", choices=["setup", "count"])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--idle-users", type=int, default=100)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    result = setup(args.pairs, args.idle_users) if args.action == "setup" else count()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
