"""Delete old history: ended calls (with legs and events) and ended sessions."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from calls.services import prune_calls
from registrations.services import prune_registrations


class Command(BaseCommand):
    help = "Delete calls that ended, and registrations whose session ended, more than N days ago."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90, help="keep this many days (default 90)")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, days, dry_run, **options):
        if days < 0:
            raise CommandError("--days must be 0 or more")
        before = timezone.now() - timedelta(days=days)
        calls = prune_calls(before, dry_run=dry_run)
        registrations = prune_registrations(before, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {calls['calls']} calls ({calls['legs']} legs, {calls['events']} events) "
            f"and {registrations} registrations that ended before {before.isoformat()}."
        )
